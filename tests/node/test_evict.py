"""Phase ``evict`` against a running 5.x stand-in cluster on loopback (127.0.0.71-73:27017).

A node dies without ``./stop`` (docs/ce-lifecycle.md §5.1); ``evict`` on a survivor removes it from
the replica set (as root on the PRIMARY) and from RabbitMQ (the stand-in's rabbitmqctl /
rabbitmq-queues stand for the ones in the rabbitmq-stats container) and moves HA_PRIMARY_NODE_IP off
it; its replacement's ``./start`` then joins, and no survivor was stopped. A second run is
``unchanged``; a live node, a set without a majority and a run off the set are refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from scripts.cenode import roles
from scripts.cenode.nodeconfig import NodeConfig
from scripts.cenode.phases import evict
from scripts.cenode.system import CommandResult, Ctx, NodeEnv, PhaseError, PhaseLog, Runner
from tests.fakes.standin_cluster import QUEUES, die, kill, rabbit_argv, rabbit_state, replace, started_cluster
from tests.fakes.test_standin_ce import PASSWORD, hello, pins_dir, read_env, run_script
from tests.netutil import port_free

__all__ = ["pins_dir"]  # the stand-in's session fixture (HA pins for its setup)

IPS = ["127.0.0.71", "127.0.0.72", "127.0.0.73"]
HOSTS = [f"{ip}:27017" for ip in IPS]
Cluster = tuple[list[Path], Path, dict[str, str]]


@pytest.fixture
def cluster(standin_repo: str, pins_dir: str, tmp_path: Path) -> Iterator[Cluster]:
    if not all(port_free(ip) for ip in IPS):
        pytest.skip("127.0.0.71-73:27017 busy")
    with started_cluster(standin_repo, pins_dir, tmp_path, IPS) as started:
        yield started


def survivor(tmp_path: Path, cluster: Cluster, index: int) -> tuple[Ctx, Callable[[list[str]], CommandResult]]:
    """The evict phase's context on node ``index`` (real runner), and the stand-in's RabbitMQ CLI there."""
    nodes, nfs, env = cluster
    base = tmp_path / f"agent{index + 1}"
    node_env = NodeEnv(root=str(base / "root"), config_dir=str(base / "etc"), log_dir=str(base / "log"),
                       state_dir=str(base / "state"), require_root=False)  # fmt: skip
    Path(node_env.config_dir).mkdir(parents=True)
    secrets = Path(node_env.config_dir) / "secrets.json"
    secrets.write_text(json.dumps({"maintenance_password": PASSWORD, "jwt_secret": "jwtSecret42"}))
    secrets.chmod(0o600)
    cfg = NodeConfig(node_name=f"ce-{index + 1}", node_ip=IPS[index], role="primary" if index == 0 else "secondary",
                     cluster_ips=IPS, ce_version="v5.1.2", ce_repo_url="file:///nonexistent", ce_dir=str(nodes[index]),
                     shared_dir=str(nfs))  # fmt: skip
    log = PhaseLog(node_env.log_dir, "evict")
    runner = Runner(log)
    ctx = Ctx(phase="evict", env=node_env, log=log, runner=runner, node=cfg)
    return ctx, lambda argv: runner.run(rabbit_argv(*argv), cwd=str(nodes[index]), env=env, timeout=30)


def stops(nodes: list[Path]) -> list[str]:
    return [(node / "data" / "standin" / "stops.log").read_text() if (node / "data" / "standin" / "stops.log").exists() else ""
            for node in nodes]  # fmt: skip


def test_a_dead_secondary_is_evicted_once_and_its_replacement_joins(standin_repo: str, tmp_path: Path, cluster: Cluster) -> None:
    nodes, nfs, env = cluster
    survivors_stops = stops(nodes[:2])
    die(nodes[2])
    ctx, rabbit = survivor(tmp_path, cluster, 0)

    result = evict.run(ctx, "127.0.0.73", rabbit=rabbit)
    assert result.status == "changed", result.summary
    assert "removed 127.0.0.73:27017 from the replica set (config version" in result.summary
    assert "deleted rabbit@127.0.0.73 from cloudexchange_9, cloudexchange_6, cloudexchange_3" in result.summary
    assert "forgot rabbit@127.0.0.73" in result.summary
    assert "HA_PRIMARY_NODE_IP" not in result.summary  # the flag names a survivor: left alone
    assert hello(IPS[0])["hosts"] == HOSTS[:2]
    state = rabbit_state(nfs)
    assert state["cluster"] == ["rabbit@127.0.0.71", "rabbit@127.0.0.72"]
    assert all(state["queues"][q] == ["rabbit@127.0.0.71", "rabbit@127.0.0.72"] for q in QUEUES)

    again = evict.run(ctx, "127.0.0.73", rabbit=rabbit)
    assert again.status == "unchanged", again.summary
    assert again.summary.startswith("nothing to evict: 127.0.0.73 is in neither the replica set nor RabbitMQ")

    replace(standin_repo, nodes[2], nfs, IPS[2], env)
    joined = run_script(nodes[2], "start", env)
    assert joined.returncode == 0, joined.stdout
    assert "RabbitMQ: rabbit@127.0.0.73 joined" in joined.stdout
    assert hello(IPS[1])["hosts"] == HOSTS
    assert stops(nodes[:2]) == survivors_stops  # no survivor was stopped

    live = evict.run  # the replacement now runs: evicting it is refused
    with pytest.raises(PhaseError) as refused:
        live(ctx, "127.0.0.73", rabbit=rabbit)
    assert "127.0.0.73 answers as a healthy replica-set member: a live node is never evicted" in refused.value.what
    rerun = evict.run(ctx, "127.0.0.73", rabbit=rabbit, if_dead=True)  # the program's step, re-run (e.g. a rotated key)
    assert rerun.status == "unchanged", rerun.summary
    assert rerun.summary.startswith("127.0.0.73 answers as a healthy replica-set member: not dead, nothing to evict")
    assert hello(IPS[1])["hosts"] == HOSTS and rabbit_state(nfs)["cluster"] == [f"rabbit@{ip}" for ip in IPS]


def test_a_dead_ce_primary_is_evicted_and_the_flag_moves_to_the_new_primary(
    standin_repo: str, tmp_path: Path, cluster: Cluster
) -> None:
    nodes, nfs, env = cluster
    die(nodes[0])
    ctx, rabbit = survivor(tmp_path, cluster, 2)
    before = roles.discover(ctx.cfg, evict.hello)
    assert (before.flag, before.mongo_primary) == ("127.0.0.71", "127.0.0.72")  # elected; the flag stays on the dead node
    with pytest.raises(PhaseError) as refused:  # anyone's start is refused until then
        roles.check(before, ctx.cfg, starting="127.0.0.73")
    assert "HA_PRIMARY_NODE_IP=127.0.0.71 names a node that is not a healthy member" in refused.value.what
    assert "ce-node evict --address 127.0.0.71" in refused.value.fix

    result = evict.run(ctx, "127.0.0.71", rabbit=rabbit)
    assert result.status == "changed", result.summary
    assert "HA_PRIMARY_NODE_IP moved from 127.0.0.71 to 127.0.0.72 in the shared .env and this node's .env" in result.summary
    assert read_env(nfs / "config" / ".env")["HA_PRIMARY_NODE_IP"] == "127.0.0.72"
    assert read_env(nodes[2] / ".env")["HA_PRIMARY_NODE_IP"] == "127.0.0.72"
    assert evict.run(ctx, "127.0.0.71", rabbit=rabbit).status == "unchanged"

    # the replacement of node 1: node.json says primary (program order), the flag says secondary
    replacement = NodeConfig(**{**ctx.cfg.__dict__, "node_name": "ce-1", "node_ip": "127.0.0.71", "role": "primary",
                                "ce_dir": str(nodes[0])})  # fmt: skip
    role, why = roles.runtime_role(replacement)
    assert (role, why) == ("secondary", "HA_PRIMARY_NODE_IP=127.0.0.72: this node is the CE secondary")
    replace(standin_repo, nodes[0], nfs, IPS[0], env)
    joined = run_script(nodes[0], "start", env)
    assert joined.returncode == 0 and "Replica set" not in joined.stdout, joined.stdout  # --join, never --initiate
    assert hello(IPS[1])["hosts"] == [HOSTS[1], HOSTS[2], HOSTS[0]]
    roles.check(roles.discover(replacement, evict.hello), replacement, starting="127.0.0.71")  # agrees now


def test_evict_refuses_without_a_majority_and_off_the_set(tmp_path: Path, cluster: Cluster) -> None:
    nodes, nfs, _env = cluster
    kill(nodes[0] / "data" / "standin" / "fake_mongod.pid")
    kill(nodes[1] / "data" / "standin" / "fake_mongod.pid")
    ctx, rabbit = survivor(tmp_path, cluster, 2)
    with pytest.raises(PhaseError) as refused:
        evict.run(ctx, "127.0.0.71", rabbit=rabbit)
    assert "only 1 of 3 replica-set members are healthy: no majority" in refused.value.what
    assert hello(IPS[2])["hosts"] == HOSTS  # nothing changed
    assert rabbit_state(nfs)["cluster"] == [f"rabbit@{ip}" for ip in IPS]

    with pytest.raises(PhaseError) as own:
        evict.run(ctx, "127.0.0.73", rabbit=rabbit)
    assert own.value.what == "evict runs on a survivor, not on the node it evicts (127.0.0.73)"
    with pytest.raises(PhaseError) as stranger:
        evict.run(ctx, "10.9.9.9", rabbit=rabbit)
    assert stranger.value.what.startswith("10.9.9.9 is not one of this cluster's nodes")


def test_nothing_to_evict_before_any_replica_set_runs(make_ctx: Callable[..., tuple[Ctx, object]]) -> None:
    ctx, _runner = make_ctx("evict")
    asked: list[str] = []

    def nobody(ip: str) -> None:
        asked.append(ip)

    def no_rabbit(argv: list[str]) -> CommandResult:
        raise AssertionError(f"RabbitMQ asked: {argv}")

    result = evict.run(ctx, "127.0.0.23", ask=nobody, rabbit=no_rabbit)
    assert result.status == "unchanged"
    assert result.summary.startswith("no replica set runs on any node (first deployment?): nothing to evict")
    assert sorted(asked) == ["127.0.0.21", "127.0.0.22", "127.0.0.23"]


def test_a_run_on_a_node_outside_the_running_set_is_refused(make_ctx: Callable[..., tuple[Ctx, object]]) -> None:
    ctx, _runner = make_ctx("evict")  # this node: 127.0.0.21, its mongod does not answer
    set_hosts = ["127.0.0.22:27017", "127.0.0.23:27017"]
    docs = {"127.0.0.22": {"setName": "s", "hosts": set_hosts, "isWritablePrimary": True},
            "127.0.0.23": {"setName": "s", "hosts": set_hosts, "secondary": True}}  # fmt: skip
    with pytest.raises(PhaseError) as refused:
        evict.run(ctx, "127.0.0.23", ask=docs.get)
    assert refused.value.what.startswith("this node (127.0.0.21) is not a healthy member")
    assert refused.value.fix == "run evict on one of 127.0.0.22, 127.0.0.23"


def test_rabbitmq_is_asked_inside_the_rabbitmq_stats_container(make_ctx: Callable[..., tuple[Ctx, object]]) -> None:
    """docker exec into CE's compose container; delete_member only where listed, forget, judged afterwards."""
    ctx, runner = make_ctx("evict", tools=("docker",))
    runner.on("docker", "ps", out="ta_cloud_exchange_mongodb-primary_1\nta_cloud_exchange_rabbitmq-stats_1\nother_rabbitmq-stats_1\n")  # type: ignore[attr-defined]
    listed = {"cluster": ["rabbit@127.0.0.21", "rabbit@127.0.0.23"], "cloudexchange_9": ["rabbit@127.0.0.23"],
              "cloudexchange_6": [], "cloudexchange_3": ["rabbit@127.0.0.21", "rabbit@127.0.0.23"]}  # fmt: skip

    def answer(argv: list[str]) -> CommandResult:
        tool = argv[3:]
        if tool[:2] == ["rabbitmqctl", "cluster_status"]:
            return CommandResult(argv, 0, json.dumps({"disk_nodes": listed["cluster"], "running_nodes": ["rabbit@127.0.0.21"]}), "")
        if tool[:2] == ["rabbitmq-queues", "quorum_status"]:
            return CommandResult(argv, 0, json.dumps([{"Node Name": n, "Raft State": "leader"} for n in listed[tool[2]]]), "")
        if tool[:2] == ["rabbitmq-queues", "delete_member"]:
            listed[tool[2]].remove(tool[3])
        if tool[:2] == ["rabbitmqctl", "forget_cluster_node"]:
            listed["cluster"].remove(tool[2])
        return CommandResult(argv, 0, "", "")

    runner.on("docker", "exec", action=answer)  # type: ignore[attr-defined]
    before = evict.forget(ctx, evict.container_rabbit(ctx), "rabbit@127.0.0.23")
    assert before == evict.RabbitView(in_cluster=True, queues=("cloudexchange_9", "cloudexchange_3"))
    changes = [c[3:] for c in runner.calls if c[:2] == ["docker", "exec"] and c[4] in ("delete_member", "forget_cluster_node")]  # type: ignore[attr-defined]
    assert changes == [["rabbitmq-queues", "delete_member", "cloudexchange_9", "rabbit@127.0.0.23"],
                       ["rabbitmq-queues", "delete_member", "cloudexchange_3", "rabbit@127.0.0.23"],
                       ["rabbitmqctl", "forget_cluster_node", "rabbit@127.0.0.23"]]  # fmt: skip
    assert all(c[2] == "ta_cloud_exchange_rabbitmq-stats_1" for c in runner.calls if c[:2] == ["docker", "exec"])  # type: ignore[attr-defined]


def test_rabbitmq_that_still_lists_the_node_fails_the_eviction(make_ctx: Callable[..., tuple[Ctx, object]]) -> None:
    ctx, _runner = make_ctx("evict")
    status = json.dumps({"disk_nodes": ["rabbit@127.0.0.23"], "running_nodes": ["rabbit@127.0.0.23"]})

    def running_node(argv: list[str]) -> CommandResult:  # forget_cluster_node refuses a running node
        if argv[1] == "cluster_status":
            return CommandResult(argv, 0, status, "")
        if argv[1] == "quorum_status":
            return CommandResult(argv, 0, "[]", "")
        return CommandResult(argv, 1, "", "Error: {:error, {:failed_to_remove_node, ..., {:active, ~c\"Mnesia is running\"}}}")

    with pytest.raises(PhaseError) as refused:
        evict.forget(ctx, running_node, "rabbit@127.0.0.23")
    assert refused.value.what == "RabbitMQ still lists rabbit@127.0.0.23 in the cluster"


def test_no_rabbitmq_container_means_this_is_no_survivor(make_ctx: Callable[..., tuple[Ctx, object]]) -> None:
    ctx, runner = make_ctx("evict", tools=("docker",))
    runner.on("docker", "ps", out="ta_cloud_exchange_mongodb-primary_1\n")  # type: ignore[attr-defined]
    with pytest.raises(PhaseError) as refused:
        evict.container_rabbit(ctx)
    assert refused.value.what == "RabbitMQ's rabbitmq-stats container does not run on 127.0.0.21"


def test_the_flag_keeps_its_quoting_and_only_its_own_line_changes(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text('HA_IP_LIST="127.0.0.21,127.0.0.22"\nHA_PRIMARY_NODE_IP="127.0.0.21"\nUI_PORT=443\n')
    env.chmod(0o640)
    assert evict.set_key(str(env), "HA_PRIMARY_NODE_IP", "127.0.0.22") is True
    assert env.read_text() == 'HA_IP_LIST="127.0.0.21,127.0.0.22"\nHA_PRIMARY_NODE_IP="127.0.0.22"\nUI_PORT=443\n'
    assert env.stat().st_mode & 0o777 == 0o640
    assert evict.set_key(str(env), "NO_SUCH_KEY", "x") is False
    assert evict.set_key(str(tmp_path / "missing.env"), "HA_PRIMARY_NODE_IP", "x") is False
