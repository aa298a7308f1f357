"""Which CE version the stack runs now, and whether ``ceVersion`` may move from it: judged before any resource.

Owns: the version this stack last deployed (its own ``ceVersion`` output, among the outputs
``deployed.py`` read back from the stack's state), the one line that says what a run would do with the version
(:func:`describe`, shared with the offline plan) and the refusal (:func:`check`): an upgrade on an allowed path
within a release line runs (the nodes stage it and keep CE's order: ``scripts/cenode/staged.py``, the lines'
drain and window); one across lines (5.x to 6.x), a downgrade or a skip is refused before any resource. Which moves are
upgrades at all is the node side's one table (``scripts/cenode/upgrades.py``).

The stack's outputs are read once, before any resource, by ``deployed.py``; a stack never deployed has
none, which is a first deployment.

Must not touch: resources; the settings' own rules (``settings.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from components.settings import Problem, SettingsError, key
from scripts.cenode import lines, upgrades

#: the stack output that records what the cluster runs (``CloudExchangeCluster.outputs``)
OUTPUT = "ceVersion"
#: where the README explains what exists for upgrades and what does not
UPGRADE_DOCS = "README 'Upgrading CE'"


def deployed_version(outputs: Mapping[str, Any]) -> str | None:
    """The ``ceVersion`` among this stack's last outputs (``deployed.outputs``); None when it has never exported one
    (a first deployment)."""
    value = outputs.get(OUTPUT)
    return str(value) if value else None


def describe(deployed: str | None, wanted: str) -> str:
    """One line on what a run does with the version, from the deployed one to ``wanted``."""
    if deployed is None:
        return f"CE {wanted}: a first deployment (this stack has deployed no version yet)"
    change = upgrades.classify(deployed, wanted)
    if change.kind == upgrades.SAME:
        return f"CE {wanted}: the version this stack runs (no upgrade)"
    if change.kind == upgrades.UPGRADE and within_line(change):
        return (f"CE {change.deployed} -> {change.wanted}: an upgrade, on the allowed path {change.path}: every node fetches "
                f"{change.wanted} while CE serves; each node that is not CE's primary stops (drain); CE's primary stops, sets up "
                "and starts (the window); each other node sets up and joins; then verify (README 'Upgrading CE')")
    if change.kind == upgrades.UPGRADE:
        return f"CE {change.deployed} -> {change.wanted}: an upgrade, on the allowed path {change.path}"
    if change.kind == upgrades.DOWNGRADE:
        return f"CE {change.deployed} -> {change.wanted}: a downgrade"
    return f"CE {change.deployed} -> {change.wanted}: a version change on no allowed upgrade path"


def within_line(change: upgrades.Change) -> bool:
    """The move stays on one release line (5.x to 5.x, 6.x to 6.x): the same storage, the same plan."""
    return lines.for_version(change.deployed).major == lines.for_version(change.wanted).major


def check(deployed: str | None, wanted: str) -> None:
    """Refuse (SettingsError naming ceVersion) a move away from the deployed version unless it is an upgrade on an allowed
    path within the release line (the one kind of upgrade this version drives); nothing else."""
    if deployed is None:
        return
    change = upgrades.classify(deployed, wanted)
    if change.kind == upgrades.SAME or (change.kind == upgrades.UPGRADE and within_line(change)):
        return
    keep = f"set {key('ceVersion')} back to {change.deployed} to keep managing the cluster as it is"
    if change.kind == upgrades.UPGRADE:
        message = (f"is {change.wanted} and this stack runs {change.deployed}: an upgrade on an allowed path ({change.path}), "
                   f"but upgrading from {change.deployed} to {change.wanted} (from one release line to the next: EFS to "
                   f"GlusterFS) is not implemented yet in this version of cloud-exchange-ha; see "
                   f"{UPGRADE_DOCS}. Nothing was changed: {keep}")
    else:
        why = ("a downgrade: CE has no downgrade path (its setup has no downgrade guard, docs/ce-lifecycle.md §1.6); to go "
               "back, restore the cluster from its backups" if change.kind == upgrades.DOWNGRADE
               else "no allowed upgrade path covers it (a skip CE does not support, or a version this program does not know)")
        message = (f"is {change.wanted} and this stack runs {change.deployed}: {why}. Allowed upgrades: {upgrades.listed()}. "
                   f"Nothing was changed: {keep}")
    raise SettingsError([Problem(setting="ceVersion", message=message)])
