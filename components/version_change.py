"""Which CE version the stack runs now, and whether ``ceVersion`` may move from it: judged before any resource.

Owns: reading the version this stack last deployed (its own ``ceVersion`` output, read back from the
stack's state by the engine), the one line that says what a run would do with the version
(:func:`describe`, shared with the offline plan) and the refusal (:func:`check`). Which moves are
upgrades at all is the node side's one table (``scripts/cenode/upgrades.py``).

The read is synchronous on purpose: a ``pulumi.StackReference`` hands its outputs back as an
``Output``, which resolves only after the program has gone on declaring resources, so a refusal
from it would come after ``pulumi up`` had started on them. The engine's built-in
``pulumi:pulumi:readStackOutputs`` (what ``StackReference``'s synchronous ``getOutputValue`` calls in
Pulumi's Node.js SDK, and the same reader a ``StackReference`` uses) answers through
``pulumi.runtime.invoke`` before the first resource. A stack never deployed has no outputs (the
engine's backend client answers an empty map while the stack has no root resource): that is a first
deployment. Under ``pulumi.runtime.set_mocks`` the mocks' ``call`` answers the read.

Must not touch: resources; the settings' own rules (``settings.py``).
"""

from __future__ import annotations

from typing import Any

import pulumi

from components.settings import Problem, SettingsError, key
from scripts.cenode import upgrades

#: the stack output that records what the cluster runs (``CloudExchangeCluster.outputs``)
OUTPUT = "ceVersion"
#: the engine's built-in reader of a stack's outputs
READ_STACK_OUTPUTS = "pulumi:pulumi:readStackOutputs"
#: where the README explains what exists for upgrades and what does not
UPGRADE_DOCS = "README 'Upgrading CE'"


def this_stack() -> str:
    """The fully qualified name of the running stack (``org/project/stack``; a bare stack name, which means the
    running project's stack in the default organization, when the engine names no organization)."""
    organization = pulumi.get_organization()
    return f"{organization}/{pulumi.get_project()}/{pulumi.get_stack()}" if organization else pulumi.get_stack()


def deployed_version() -> str | None:
    """The ``ceVersion`` this stack last deployed; None when it has never exported one (a first deployment).

    Raises SettingsError when the stack's state cannot be read: without it an upgrade would pass unseen.
    """
    try:
        result = pulumi.runtime.invoke(READ_STACK_OUTPUTS, {"name": this_stack()})
    except Exception as error:  # noqa: BLE001 - the engine reports any failure as a plain Exception
        raise SettingsError([Problem(setting="ceVersion", message=(
            f"cannot be compared with what this stack runs: reading the stack's own outputs failed ({error}); "
            "nothing was changed: run again once the stack's state can be read"))]) from None
    answer: Any = result.value or {}
    value = (answer.get("outputs") or {}).get(OUTPUT)
    return str(value) if value else None


def describe(deployed: str | None, wanted: str) -> str:
    """One line on what a run does with the version, from the deployed one to ``wanted``."""
    if deployed is None:
        return f"CE {wanted}: a first deployment (this stack has deployed no version yet)"
    change = upgrades.classify(deployed, wanted)
    if change.kind == upgrades.SAME:
        return f"CE {wanted}: the version this stack runs (no upgrade)"
    if change.kind == upgrades.UPGRADE:
        return f"CE {change.deployed} -> {change.wanted}: an upgrade, on the allowed path {change.path}"
    if change.kind == upgrades.DOWNGRADE:
        return f"CE {change.deployed} -> {change.wanted}: a downgrade"
    return f"CE {change.deployed} -> {change.wanted}: a version change on no allowed upgrade path"


def check(deployed: str | None, wanted: str) -> None:
    """Refuse (SettingsError naming ceVersion) any move away from the deployed version; nothing else."""
    if deployed is None:
        return
    change = upgrades.classify(deployed, wanted)
    if change.kind == upgrades.SAME:
        return
    keep = f"set {key('ceVersion')} back to {change.deployed} to keep managing the cluster as it is"
    if change.kind == upgrades.UPGRADE:
        message = (f"is {change.wanted} and this stack runs {change.deployed}: an upgrade on an allowed path ({change.path}), "
                   f"but upgrading from {change.deployed} to {change.wanted} is not implemented yet in this version of "
                   f"cloud-exchange-ha (a plain run would repeat the first-install cutover at the new tag); see "
                   f"{UPGRADE_DOCS}. Nothing was changed: {keep}")
    else:
        why = ("a downgrade: CE has no downgrade path (its setup has no downgrade guard, docs/ce-lifecycle.md §1.6); to go "
               "back, restore the cluster from its backups" if change.kind == upgrades.DOWNGRADE
               else "no allowed upgrade path covers it (a skip CE does not support, or a version this program does not know)")
        message = (f"is {change.wanted} and this stack runs {change.deployed}: {why}. Allowed upgrades: {upgrades.listed()}. "
                   f"Nothing was changed: {keep}")
    raise SettingsError([Problem(setting="ceVersion", message=message)])
