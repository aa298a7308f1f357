"""CE's RabbitMQ as the health check judges it: every node of the cluster a running member of CE's RabbitMQ cluster.

Owns: asking RabbitMQ in this node's ``rabbitmq-stats`` container (``docker``/``podman exec``, read-only, each
command bounded) for ``rabbitmqctl cluster_status`` and turning the answer into problems and notes for the health
report (``cenode.health``): a node of ``cluster_ips`` whose ``rabbit@<ip>`` is not among the running nodes is a
problem (a secondary's ``./start`` joins RabbitMQ after the replica set, docs/ce-lifecycle.md §7 step 6; after a
replacement the new node must be back in it, docs/ce-lifecycle.md §5.2). So verify, which runs this on CE's
primary with ``--wait``, waits for a joining node's RabbitMQ as well as for its MongoDB member.

Where the container engine lists none of CE's containers on this node (no engine, or CE runs outside its view),
RabbitMQ is not judged and a note says so: the MongoDB checks already report a node where CE does not run. Where it
lists CE's containers but not RabbitMQ's, that is a problem.

Must not touch: anything it looks at (no command that changes RabbitMQ). Standard library only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from . import rabbitmq
from .ce_runtime import ce_containers
from .nodeconfig import NodeConfig
from .system import CommandResult, Runner, never_raising

if TYPE_CHECKING:
    from typing_extensions import TypeAlias  # typing.TypeAlias is 3.10+; only the type checker imports this

#: one command's bound (seconds): a check's commands stay well inside verify's wait
COMMAND_TIMEOUT_S = 20

#: runs one command (argv) and returns its result
Run: TypeAlias = "Callable[[Sequence[str]], CommandResult]"


def check(cfg: NodeConfig, runner: Runner, run: Run | None = None) -> tuple[list[str], list[str]]:
    """(problems, notes) for CE's RabbitMQ cluster as this node's RabbitMQ sees it (``run``: how commands run, default
    ``never_raising(runner, COMMAND_TIMEOUT_S)``)."""
    engine = "docker" if runner.which("docker") else "podman" if runner.which("podman") else ""
    if not engine:
        return [], ["RabbitMQ not checked: no docker or podman on this node"]
    run = run or never_raising(runner, COMMAND_TIMEOUT_S)
    listed = run([engine, "ps", "--format", "{{.Names}}"])
    if not listed.ok:
        return [], [f"RabbitMQ not checked: {engine} ps failed ({listed.tail(1) or f'exit {listed.rc}'})"]
    ours = ce_containers(listed.out.split(), cfg.ce_dir)
    if not ours:
        return [], [f"RabbitMQ not checked: {engine} lists none of CE's containers on this node"]
    name = rabbitmq.container(ours)
    if not name:
        return [f"RabbitMQ: CE's {rabbitmq.SERVICE} container does not run on {cfg.node_ip} (these do: {', '.join(ours)})"], []
    status, error = rabbitmq.read_json(run([engine, "exec", name, *rabbitmq.CLUSTER_STATUS]))
    if error:
        return [f"RabbitMQ: cluster_status on {cfg.node_ip} failed ({error})"], []
    _, running = rabbitmq.cluster_nodes(status)
    problems = [f"RabbitMQ: {rabbitmq.node_name(ip)} is not a running member of CE's RabbitMQ cluster"
                for ip in cfg.cluster_ips if rabbitmq.node_name(ip) not in running]
    if problems:
        return problems, []
    return [], [f"RabbitMQ: every node ({len(cfg.cluster_ips)}) a running member of CE's RabbitMQ cluster"]
