"""CE's RabbitMQ as this program reaches it: the container it runs in, its node names, its CLI's JSON answers.

Owns: CE's quorum queues and the compose service whose container runs RabbitMQ, the node name of a
node (``rabbit@<ip>``), finding that container among CE's on this node, and reading the JSON that
``rabbitmqctl ... --formatter json`` / ``rabbitmq-queues ... --formatter json`` print. Shared by
``evict`` (which changes the membership) and the health check (``cenode.broker_health``, which only reads).

Must not touch: anything (callers run the commands).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from .system import CommandResult

#: CE's quorum queues (docs/ce-lifecycle.md §1.2, §7)
QUEUES = ("cloudexchange_9", "cloudexchange_6", "cloudexchange_3")
#: the compose service whose container runs RabbitMQ (docs/ce-facts.md §6.1: ``<dir>_rabbitmq-stats_1``)
SERVICE = "rabbitmq-stats"
#: ``rabbitmqctl cluster_status``: every node RabbitMQ knows, and those that run
CLUSTER_STATUS = ("rabbitmqctl", "cluster_status", "--formatter", "json")


def node_name(ip: str) -> str:
    """CE's RabbitMQ node name (long names, docs/ce-lifecycle.md §5.2 step 2)."""
    return f"rabbit@{ip}"


def container(ce_containers: Sequence[str]) -> str:
    """The one of CE's containers (``ce_runtime.ce_containers``) that runs RabbitMQ ("" when none does)."""
    names = [name for name in ce_containers if SERVICE in name]
    return names[0] if names else ""


def read_json(result: CommandResult) -> tuple[Any, str]:
    """(the JSON the command printed last, "") or (None, why not)."""
    if not result.ok:
        return None, f"exit {result.rc}: {result.tail(1)}"
    try:
        return json.loads(result.out.strip().splitlines()[-1]), ""
    except (ValueError, IndexError):
        return None, f"no JSON: {result.tail(1)}"


def cluster_nodes(status: Any) -> tuple[set[str], set[str]]:
    """(every node ``cluster_status`` lists, those of them running)."""
    if not isinstance(status, dict):
        return set(), set()
    running = {str(n) for n in status.get("running_nodes") or []}
    return {str(n) for n in status.get("disk_nodes") or []} | running, running
