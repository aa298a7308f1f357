"""Run ``__main__.py`` under Pulumi mocks and record everything it declares, with its options.

Owns: one in-process run of the real program (same entry point as ``pulumi up``) against
``AwsMocks``, capturing each resource's type, name, resolved inputs, parent and the options mocks
cannot see (protect, retain_on_delete, ignore_changes, depends_on, deleted_with,
additional_secret_outputs), plus the stack outputs or the settings error.

Must not touch: the program. It is run exactly as written; only the runtime underneath is mocked.
"""

from __future__ import annotations

import asyncio
import contextlib
import runpy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi.resource as pulumi_resource
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.config import set_all_config
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from components.settings import PROJECT
from offline.mocks import AwsMocks, AwsWorld

MAIN = Path(__file__).resolve().parent.parent / "__main__.py"


@dataclass
class Declared:
    """One resource as the program declared it."""

    typ: str
    name: str
    custom: bool
    parent: str | None
    inputs: dict[str, Any] = field(default_factory=dict)
    protect: bool = False
    retain_on_delete: bool = False
    ignore_changes: list[str] = field(default_factory=list)
    depends_on: list[str] = field(default_factory=list)
    deleted_with: str | None = None
    additional_secret_outputs: list[str] = field(default_factory=list)
    resource: Any = None


@dataclass
class Run:
    """What one run of the program declared, exported, or refused."""

    resources: list[Declared]
    outputs: dict[str, Any]
    error: str | None
    mocks: AwsMocks

    def of_type(self, typ: str) -> list[Declared]:
        return [r for r in self.resources if r.typ == typ]

    def named(self, name: str) -> Declared:
        matches = [r for r in self.resources if r.name == name]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} resources named {name!r}")
        return matches[0]


class _Recorder:
    """Wraps the SDK's register_resource to see options as declared."""

    def __init__(self) -> None:
        self.entries: list[Declared] = []
        self.names: dict[int, str] = {}

    def _name_of(self, res: Any) -> str | None:
        return None if res is None else self.names.get(id(res))

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        original = pulumi_resource.register_resource

        def recording(res: Any, ty: str, name: str, custom: bool, remote: bool, new_dependency: Any,
                      props: Any, opts: pulumi.ResourceOptions | None, *args: Any, **kwargs: Any) -> None:
            self.names[id(res)] = name
            options = opts or pulumi.ResourceOptions()
            depends = options.depends_on if isinstance(options.depends_on, list) else (
                [options.depends_on] if options.depends_on is not None else [])
            self.entries.append(Declared(
                typ=ty,
                name=name,
                custom=custom,
                parent=self._name_of(options.parent),
                protect=bool(options.protect),
                retain_on_delete=bool(options.retain_on_delete),
                ignore_changes=list(options.ignore_changes or []),
                depends_on=[n for n in (self._name_of(d) for d in depends) if n],
                deleted_with=self._name_of(options.deleted_with),
                additional_secret_outputs=list(options.additional_secret_outputs or []),
                resource=res,
            ))
            return original(res, ty, name, custom, remote, new_dependency, props, opts, *args, **kwargs)

        pulumi_resource.register_resource = recording  # type: ignore[assignment]
        try:
            yield
        finally:
            pulumi_resource.register_resource = original


def full_config(config: Mapping[str, Any]) -> dict[str, str]:
    """Bare or namespaced keys -> the engine's form (``project:key`` -> string)."""
    import json

    result: dict[str, str] = {}
    for key, value in config.items():
        full = key if ":" in key else f"{PROJECT}:{key}"
        result[full] = value if isinstance(value, str) else json.dumps(value)
    return result


def run(
    config: Mapping[str, Any],
    *,
    stack: str = "dev",
    world: AwsWorld | None = None,
    secret_keys: list[str] | None = None,
    mocks: AwsMocks | None = None,
) -> Run:
    """Run the program once with this config; never raises for a settings error (see Run.error)."""
    mocks = mocks or AwsMocks(world)
    pulumi_settings.reset_options()  # also forgets the previous run's root stack
    pulumi_mocks.set_mocks(mocks, project=PROJECT, stack=stack, preview=False)
    config_full = full_config(config)
    set_all_config(config_full, [k if ":" in k else f"{PROJECT}:{k}" for k in (secret_keys or [])])
    recorder = _Recorder()
    error: str | None = None

    def program() -> None:
        runpy.run_path(str(MAIN), run_name="__main__")

    with recorder.active():
        try:
            _sync_await(run_pulumi_func(program))
        except pulumi.RunError as failure:
            error = str(failure)
    inputs_by_key = {(typ, name): inputs for typ, name, inputs in mocks.declared}
    for entry in recorder.entries:
        entry.inputs = inputs_by_key.get((entry.typ, entry.name), {})
    outputs: dict[str, Any] = {}
    root = pulumi_settings.get_root_resource()
    if error is None and root is not None:
        outputs = _resolve(getattr(root, "outputs", {}))
    return Run(resources=recorder.entries, outputs=outputs, error=error, mocks=mocks)


def _resolve(value: Any) -> Any:
    """Plain values of stack outputs (mocks resolve them immediately)."""
    if isinstance(value, pulumi.Output):
        async def get() -> Any:
            return await value.future(with_unknowns=True)
        return _resolve(_sync_await(get()))
    if isinstance(value, dict):
        return {k: _resolve(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v) for v in value]
    if asyncio.isfuture(value):
        return _resolve(_sync_await(value))
    return value


SECRET_SIG = "4dabf18193072939515e22adb298388d"  # noqa: S105 - Pulumi's secret marker, not a secret


def plain_leaks(run_result: Run, secrets: list[str]) -> list[str]:
    """Every place a secret value appears in a resource input outside a Pulumi secret."""
    leaks: list[str] = []

    def walk(value: Any, where: str) -> None:
        if isinstance(value, dict):
            if value.get(SECRET_SIG) == "1b47061264138c4ac30d75fd1eb44270":
                return  # wrapped as a secret: stays encrypted in state and masked in logs
            for k, v in value.items():
                walk(v, f"{where}.{k}")
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, f"{where}[{i}]")
        elif isinstance(value, str):
            for secret in secrets:
                if secret and secret in value:
                    leaks.append(where)

    for resource in run_result.resources:
        walk(resource.inputs, f"{resource.name}")
    return leaks
