"""The destroy guard: after a migrate, ``pulumi destroy`` stops with one message unless ``allowDestroy`` was applied.

Owns: one ``command.local.Command`` (it runs where Pulumi runs, never on a node) whose ``delete``
script refuses while the guard is on, naming the setting and the fix. The setting's value is an
input of the guard (``environment``), so a ``pulumi up`` with ``allowDestroy: true`` updates the
guard in place (``update`` is set: a change never replaces it, which would run the old refusal),
and the engine runs the ``delete`` of the last applied value. The guard depends on every other
resource of the cluster, so a destroy deletes it first and stops there, before anything else is
gone. A node replacement leaves it alone: it takes no input from a node and is deleted with nothing.

Why: destroying a migrated cluster removes two of the three replica-set members and leaves the
adopted primary without a MongoDB majority (CE down). The README's "Going back to a standalone
before a destroy" is the way out.

Must not touch: the nodes, and the decision itself beyond the one environment variable it reads.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_command as command

from components.settings import key

SETTING = key("allowDestroy")
#: how the guard's delete script learns the setting's last applied value
ALLOW_VARIABLE = "CE_HA_ALLOW_DESTROY"

REFUSAL = (
    f"ERROR destroy guard: this stack adopted a standalone CE (mode migrate); pulumi destroy would remove two of the "
    f"three replica-set members and leave the primary without a MongoDB majority (CE down). Nothing was deleted. "
    f"- fix: go back to a standalone first (README: Going back to a standalone before a destroy), then "
    f"pulumi config set {SETTING} true, pulumi up, and pulumi destroy again"
)
STATE = f"echo \"destroy guard: {SETTING}=${{{ALLOW_VARIABLE}}}\""


def delete_script() -> str:
    """Exit 0 only when the applied setting is exactly ``true``; anything else (unset included) refuses."""
    return f"if [ \"${{{ALLOW_VARIABLE}:-}}\" = true ]; then {STATE}; exit 0; fi; echo '{REFUSAL}' >&2; exit 1"


class DestroyGuard(pulumi.ComponentResource):
    """The guard for one cluster: declared last, after (and so deleted before) everything it names."""

    def __init__(self, name: str, allow_destroy: bool, after: Sequence[pulumi.Resource],
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("cloudexchange:ha:DestroyGuard", name, None, opts)
        self.command = command.local.Command(
            f"{name}-check",
            create=STATE,
            update=STATE,
            delete=delete_script(),
            environment={ALLOW_VARIABLE: "true" if allow_destroy else "false"},
            add_previous_output_in_env=False,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(after)),
        )
        self.register_outputs({})
