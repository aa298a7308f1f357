"""How many members the deployed cluster has, and whether ``nodeCount`` may change it: judged before any resource.

Owns: the number of members this stack last deployed (its own ``nodes`` output, one entry per member,
among the outputs ``deployed.py`` read back from the stack's state) and the refusal of any other
``nodeCount`` on a deployed stack (:func:`check`). ``nodeCount`` alone decides the member list in
both modes (migrate: the adopted primary plus ``nodeCount - 1`` new nodes; ``subnetIds`` must match
it, ``settings.py``).

Why refused: every node's preparation and the cutover take the whole member list (``cluster_ips``)
as input, so a changed count re-runs every node's setup and the cutover, and CE stops on every
node; a smaller count also drops members that nothing evicts from MongoDB's replica set and
RabbitMQ's cluster. Growing by joining new members, with no survivor stopping, is not implemented
yet, and no setting overrides the refusal.

Must not touch: resources; the settings' own rules (``settings.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from components.settings import Problem, SettingsError, key

#: the setting this judges
SETTING = "nodeCount"
#: the stack output that lists the cluster's members (``CloudExchangeCluster.outputs``)
OUTPUT = "nodes"
#: where the README explains what is refused and what to do instead
SIZE_DOCS = "README 'Growing or shrinking the cluster'"


def deployed_count(outputs: Mapping[str, Any]) -> int | None:
    """The number of members among this stack's last outputs (``deployed.outputs``); None when it has exported no
    member list (a first deployment)."""
    members = outputs.get(OUTPUT)
    return len(members) if isinstance(members, list) and members else None


def check(deployed: int | None, wanted: int) -> None:
    """Refuse (SettingsError naming nodeCount) any count other than the deployed one; nothing else."""
    if deployed is None or deployed == wanted:
        return
    if wanted > deployed:
        what = (f"growing the cluster from {deployed} to {wanted} members changes its member list, which every node's "
                "setup and the cutover take as input: a plain run would re-run them all, and CE would stop on every "
                "node (a full cutover). Growing without an outage (new members join, no survivor stops)")
    else:
        what = (f"shrinking the cluster from {deployed} to {wanted} members would remove {deployed - wanted} of them "
                "without evicting them from MongoDB's replica set and RabbitMQ's cluster, and the changed member list "
                "would re-run every node's setup and the cutover: CE would stop on every node. Shrinking")
    raise SettingsError([Problem(setting=SETTING, message=(
        f"is {wanted} and this stack runs {deployed} nodes: {what} is not implemented yet in this version of "
        f"cloud-exchange-ha; see {SIZE_DOCS}. Nothing was changed: set {key(SETTING)} back to {deployed} "
        "(and subnetIds back to the subnets it was deployed with) to keep managing the cluster as it is"))])
