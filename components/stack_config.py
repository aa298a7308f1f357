"""The stack's config as the engine hands it to the program, read through Pulumi's public API.

Owns: how raw config values arrive: each value is read with ``pulumi.Config``, and the names of
every key set for the project are listed so that settings can refuse the ones it does not know.
The SDK has no public call that lists config keys, so ``set_keys`` is the one place that reads its
internals; ``tests/unit/test_stack_config.py`` fails loudly when an SDK upgrade moves them.

Must not touch: what a value means (types, defaults and rules belong to ``components/settings.py``).
"""

from __future__ import annotations

from collections.abc import Iterable

import pulumi


class SdkChanged(RuntimeError):
    """The pulumi SDK no longer offers what ``set_keys`` reads; the listing must be updated."""


def set_keys(project: str) -> set[str]:
    """Names (without the ``project:`` prefix) of every config key set for this project.

    ``pulumi up`` hands the program its config in ``PULUMI_CONFIG`` (public:
    ``pulumi.runtime.get_config_env``); the Automation API's inline programs and mocks set it in
    process with ``pulumi.runtime.set_all_config``, which only the SDK's private map can list.
    """
    try:
        from pulumi.runtime.config import CONFIG

        in_process = dict(CONFIG.get())
    except (ImportError, AttributeError, LookupError, TypeError) as error:
        raise SdkChanged(
            "pulumi.runtime.config.CONFIG (the in-process config map) is gone from this pulumi SDK; "
            "update components/stack_config.set_keys to the SDK's way of listing config keys"
        ) from error
    prefix = f"{project}:"
    listed = {*pulumi.runtime.get_config_env(), *in_process}
    return {full[len(prefix):] for full in listed if full.startswith(prefix)}


def raw_values(project: str, names: Iterable[str]) -> dict[str, str]:
    """The raw value of each named key and of every other key set for the project; unset keys are absent."""
    config = pulumi.Config(project)
    found: dict[str, str] = {}
    for name in sorted({*names, *set_keys(project)}):
        value = config.get(name)
        if value is not None:
            found[name] = value
    return found
