"""The policy pack's rules over a recorded offline run: the offline plan's adapter to ``policy.rules``.

Owns: turning what the recording harness saw (``offline.harness.Declared``) into the plain
``rules.Resource`` the rules judge, with the options the engine would not show a policy
(``retain_on_delete``, ``deleted_with``, which inputs are secret), and ``check_run``: every policy
over one run, with the stack's config. The engine's side of the same rules is ``policy/pack.py``;
this adapter lives here so that the pack (installed with only ``policy/requirements.txt``) never
imports the offline plan, and the plan never imports the pack's CrossGuard adapters.

Must not touch: what a rule checks (``policy/rules.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from offline import harness
from policy import rules


def from_declared(declared: harness.Declared) -> rules.Resource:
    """A resource recorded by the offline harness, with the options the engine would not show."""
    fields, values = rules.secrets_in_wire_inputs(declared.inputs)
    return rules.Resource(
        typ=declared.typ,
        name=declared.name,
        props=rules.unwrap_secrets(declared.inputs),
        protect=declared.protect,
        retain_on_delete=declared.retain_on_delete,
        deleted_with=declared.deleted_with,
        full_options=True,
        depends_on=tuple(declared.depends_on),
        secret_fields=fields,
        secret_values=values,
    )


def check_run(run: harness.Run, config: Mapping[str, Any] | None = None,
              secret_keys: Iterable[str] = rules.SECRET_CONFIG_KEYS) -> list[rules.Violation]:
    """Every policy over an offline run of the program.

    ``config`` is the stack config the run was made with (bare or ``cloud-exchange-ha:`` keys); it
    adds the configured primary id, the ceVersion's port table and the secret values. Without it,
    the primary is known from the backup AMI and every line's cluster ports are checked.
    """
    settings = {k.split(":", 1)[1] if k.startswith(f"{rules.PROJECT}:") else k: v for k, v in (config or {}).items()}
    context = rules.context_from_config(settings.get, secret_keys)
    return rules.check_resources([from_declared(d) for d in run.resources], context)
