"""cenode.broker_health: the health check's judgement of CE's RabbitMQ cluster, from scripted container-engine answers."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from scripts.cenode import broker_health
from scripts.cenode.system import CommandTimeout, Ctx

from .conftest import FakeRunner, make_node

MakeCtx = Callable[..., tuple[Ctx, FakeRunner]]
IPS = ["10.0.1.10", "10.0.2.10", "10.0.3.10"]
#: CE's containers as compose names them for the folder ta_cloud_exchange (docs/ce-facts.md §6.1)
CE_CONTAINERS = "ta_cloud_exchange_mongodb-primary_1\nta_cloud_exchange_rabbitmq-stats_1\nta_cloud_exchange_core_1\nother_app_1\n"
STATUS = ["docker", "exec", "ta_cloud_exchange_rabbitmq-stats_1", "rabbitmqctl", "cluster_status", "--formatter", "json"]


def engine(make_ctx: MakeCtx, ps: str = CE_CONTAINERS, running: list[str] | None = None, known: list[str] | None = None,
           tools: tuple[str, ...] = ("docker",)) -> FakeRunner:
    """A docker that lists ``ps`` and whose RabbitMQ reports ``known`` nodes, ``running`` of them running."""
    _, runner = make_ctx("verify", tools=tools)
    runner.on("docker", "ps", out=ps)
    running = [f"rabbit@{ip}" for ip in IPS] if running is None else running
    runner.on("docker", "exec", out="Cluster status of node rabbit@10.0.1.10 ...\n" + json.dumps(
        {"disk_nodes": known if known is not None else running, "running_nodes": running}))
    return runner


def node(tmp_path: Path):  # type: ignore[no-untyped-def]
    return make_node(tmp_path, node_ip=IPS[0], cluster_ips=IPS, ce_dir="/opt/ta_cloud_exchange")


def test_every_node_running_in_the_cluster_is_healthy_and_says_so(tmp_path: Path, make_ctx: MakeCtx) -> None:
    runner = engine(make_ctx)
    assert broker_health.check(node(tmp_path), runner) == ([], ["RabbitMQ: every node (3) a running member of CE's RabbitMQ cluster"])
    assert runner.calls == [["docker", "ps", "--format", "{{.Names}}"], STATUS]


def test_a_node_out_of_the_cluster_or_stopped_in_it_is_a_problem(tmp_path: Path, make_ctx: MakeCtx) -> None:
    joined_but_down = engine(make_ctx, running=["rabbit@10.0.1.10", "rabbit@10.0.3.10"],
                             known=["rabbit@10.0.1.10", "rabbit@10.0.2.10", "rabbit@10.0.3.10"])
    assert broker_health.check(node(tmp_path), joined_but_down) == (
        ["RabbitMQ: rabbit@10.0.2.10 is not a running member of CE's RabbitMQ cluster"], [])
    alone = engine(make_ctx, running=["rabbit@10.0.1.10"])  # a replaced node whose start has not joined RabbitMQ yet
    assert broker_health.check(node(tmp_path), alone)[0] == [
        "RabbitMQ: rabbit@10.0.2.10 is not a running member of CE's RabbitMQ cluster",
        "RabbitMQ: rabbit@10.0.3.10 is not a running member of CE's RabbitMQ cluster"]  # fmt: skip
    short_names = engine(make_ctx, running=["rabbit@ip-10-0-1-10", "rabbit@ip-10-0-2-10", "rabbit@ip-10-0-3-10"])
    assert len(broker_health.check(node(tmp_path), short_names)[0]) == 3  # CE's long names: rabbit@<ip>


def test_where_ce_runs_but_rabbitmq_does_not_or_does_not_answer_it_is_a_problem(tmp_path: Path, make_ctx: MakeCtx) -> None:
    no_rabbit = engine(make_ctx, ps="ta_cloud_exchange_mongodb-primary_1\nta_cloud_exchange_core_1\n")
    assert broker_health.check(node(tmp_path), no_rabbit) == ([
        "RabbitMQ: CE's rabbitmq-stats container does not run on 10.0.1.10 (these do: ta_cloud_exchange_core_1, "
        "ta_cloud_exchange_mongodb-primary_1)"], [])
    assert STATUS not in no_rabbit.calls
    failing = engine(make_ctx)
    failing.on("docker", "exec", rc=69, err="Error: unable to perform an operation on node 'rabbit@10.0.1.10'")
    assert broker_health.check(node(tmp_path), failing) == (
        ["RabbitMQ: cluster_status on 10.0.1.10 failed (exit 69: Error: unable to perform an operation on node 'rabbit@10.0.1.10')"], [])
    garbled = engine(make_ctx)
    garbled.on("docker", "exec", out="Cluster status of node rabbit@10.0.1.10 ...")
    assert broker_health.check(node(tmp_path), garbled)[0] == [
        "RabbitMQ: cluster_status on 10.0.1.10 failed (no JSON: Cluster status of node rabbit@10.0.1.10 ...)"]
    hung = engine(make_ctx)

    def hang(argv: list[str]) -> None:
        raise CommandTimeout(argv, broker_health.COMMAND_TIMEOUT_S)

    hung.on("docker", "exec", action=hang)
    problems, _ = broker_health.check(node(tmp_path), hung)
    assert problems == [f"RabbitMQ: cluster_status on 10.0.1.10 failed (exit 124: {' '.join(STATUS)} did not finish within 20 s)"]


def test_where_the_engine_shows_no_ce_rabbitmq_is_not_judged(tmp_path: Path, make_ctx: MakeCtx) -> None:
    nothing = engine(make_ctx, tools=())
    assert broker_health.check(node(tmp_path), nothing) == ([], ["RabbitMQ not checked: no docker or podman on this node"])
    assert nothing.calls == []
    podman = engine(make_ctx, tools=("podman",))
    podman.on("podman", "ps", out="")
    assert broker_health.check(node(tmp_path), podman) == ([], ["RabbitMQ not checked: podman lists none of CE's containers on this node"])
    daemonless = engine(make_ctx)
    daemonless.on("docker", "ps", rc=1, err="Cannot connect to the Docker daemon at unix:///var/run/docker.sock.")
    assert broker_health.check(node(tmp_path), daemonless) == (
        [], ["RabbitMQ not checked: docker ps failed (Cannot connect to the Docker daemon at unix:///var/run/docker.sock.)"])
    assert STATUS not in daemonless.calls
