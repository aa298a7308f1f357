"""The 5.x stand-in knows what happens when a dead node is replaced (docs/ce-lifecycle.md §5.1, §5.2, §7).

A node that died without ``./stop`` stays a member: its replacement (same IP, fresh checkout, setup
as secondary) fails ``./start`` at ``--join`` with "The node is already connected with the
cluster.", exit 1, and never reaches the RabbitMQ join; the survivors elect a new Mongo primary when
the dead one held it; membership changes only through start, stop and eviction (the Mongo reconfig
as root against the primary, RabbitMQ's delete_member/forget_cluster_node); the shared
``HA_PRIMARY_NODE_IP`` decides ``--initiate`` or ``--join``. Loopback only: 127.0.0.61-63:27017.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from tests.fakes.standin_cluster import QUEUES, die, kill, rabbit_cli, rabbit_state, replace, started_cluster
from tests.fakes.test_standin_ce import bare_repo, hello, pins_dir, read_env, run_script
from tests.netutil import port_free

__all__ = ["bare_repo", "pins_dir"]  # session fixtures shared with test_standin_ce

IPS = ("127.0.0.61", "127.0.0.62", "127.0.0.63")
HOSTS = [f"{ip}:27017" for ip in IPS]


@pytest.fixture
def cluster(bare_repo: str, pins_dir: str, tmp_path: Path) -> Iterator[tuple[list[Path], Path, dict[str, str]]]:
    """Three set-up and started stand-in nodes (127.0.0.61 the CE primary); fake mongods stopped at the end."""
    if not all(port_free(ip) for ip in IPS):
        pytest.skip("127.0.0.61-63:27017 busy")
    with started_cluster(bare_repo, pins_dir, tmp_path, IPS) as started:
        yield started


def test_start_forms_and_joins_rabbitmq_after_the_replica_set(cluster: tuple[list[Path], Path, dict[str, str]]) -> None:
    nodes, nfs, env = cluster
    names = [f"rabbit@{ip}" for ip in IPS]
    state = rabbit_state(nfs)
    assert state["cluster"] == names
    assert state["queues"] == {queue: names for queue in QUEUES}
    status = rabbit_cli(nodes[0], env, "rabbitmqctl", "cluster_status", "--formatter", "json")
    assert json.loads(status.stdout) == {"disk_nodes": names, "running_nodes": names}

    # a stop that left the replica set leaves RabbitMQ too (delete_member x3, reset)
    assert run_script(nodes[2], "stop", env).returncode == 0
    state = rabbit_state(nfs)
    assert state["cluster"] == names[:2]
    assert state["queues"] == {queue: names[:2] for queue in QUEUES}


def test_a_replacement_cannot_join_while_the_dead_member_is_listed(
    bare_repo: str, cluster: tuple[list[Path], Path, dict[str, str]]
) -> None:
    nodes, nfs, env = cluster
    joined_before = rabbit_state(nfs)["joined"]
    assert isinstance(joined_before, dict)
    die(nodes[2])
    replace(bare_repo, nodes[2], nfs, IPS[2], env)

    again = run_script(nodes[2], "start", env)
    assert again.returncode == 1
    assert "The node is already connected with the cluster." in again.stdout
    assert "RabbitMQ" not in again.stdout
    state = rabbit_state(nfs)
    assert state["joined"] == joined_before  # the RabbitMQ join never ran
    assert hello(IPS[0])["hosts"] == HOSTS  # nothing changed the set by itself
    assert not (nodes[2] / "data" / "standin" / "stops.log").exists()


def test_survivors_elect_a_primary_and_eviction_lets_the_replacement_join(
    bare_repo: str, cluster: tuple[list[Path], Path, dict[str, str]]
) -> None:
    nodes, nfs, env = cluster
    die(nodes[0])  # the CE primary and Mongo primary dies
    second = hello(IPS[1])
    assert second["primary"] == HOSTS[1] and second["isWritablePrimary"] is True
    assert read_env(nfs / "config" / ".env")["HA_PRIMARY_NODE_IP"] == IPS[0]  # the flag does not move by itself

    # forget_cluster_node refuses a running node, accepts the dead one after its queue members are gone
    refused = rabbit_cli(nodes[1], env, "rabbitmqctl", "forget_cluster_node", f"rabbit@{IPS[2]}")
    assert refused.returncode == 1 and "running" in refused.stderr
    for queue in QUEUES:
        assert rabbit_cli(nodes[1], env, "rabbitmq-queues", "delete_member", queue, f"rabbit@{IPS[0]}").returncode == 0
    assert rabbit_cli(nodes[1], env, "rabbitmqctl", "forget_cluster_node", f"rabbit@{IPS[0]}").returncode == 0
    twice = rabbit_cli(nodes[1], env, "rabbitmq-queues", "delete_member", QUEUES[0], f"rabbit@{IPS[0]}")
    assert twice.returncode == 1 and "not_a_member" in twice.stderr
    quorum = json.loads(rabbit_cli(nodes[1], env, "rabbitmq-queues", "quorum_status", QUEUES[1], "--formatter", "json").stdout)
    assert [member["Node Name"] for member in quorum] == [f"rabbit@{IPS[1]}", f"rabbit@{IPS[2]}"]

    # Mongo: rs.remove as root against the primary (docs/ce-lifecycle.md §5.2 step 1), flag moved (step 3)
    uri = f"mongodb://root:Maint%231pass@{IPS[1]}:27017/?directConnection=true&authSource=admin"
    client: MongoClient[dict[str, Any]]
    with MongoClient(uri, serverSelectionTimeoutMS=5000) as client:
        config = client.admin.command("replSetGetConfig")["config"]
        config["members"] = [m for m in config["members"] if m["host"] != HOSTS[0]]
        config["version"] += 1
        client.admin.command("replSetReconfig", config)
    shared_env = nfs / "config" / ".env"
    shared_env.write_text(shared_env.read_text().replace(f'HA_PRIMARY_NODE_IP="{IPS[0]}"', f'HA_PRIMARY_NODE_IP="{IPS[1]}"')
                          .replace(f"HA_PRIMARY_NODE_IP={IPS[0]}", f"HA_PRIMARY_NODE_IP={IPS[1]}"))  # fmt: skip
    assert read_env(shared_env)["HA_PRIMARY_NODE_IP"] == IPS[1]

    # the replacement of the old primary: the flag names a survivor, so its ./start joins
    replace(bare_repo, nodes[0], nfs, IPS[0], env)
    assert read_env(nodes[0] / ".env")["HA_PRIMARY_NODE_IP"] == IPS[1]  # the secondary's setup copies the shared value
    joined = run_script(nodes[0], "start", env)
    assert joined.returncode == 0, joined.stdout
    assert "Replica set" not in joined.stdout  # no --initiate
    assert f"RabbitMQ: rabbit@{IPS[0]} joined" in joined.stdout
    assert hello(IPS[2])["hosts"] == [HOSTS[1], HOSTS[2], HOSTS[0]]
    state = rabbit_state(nfs)
    assert sorted(state["cluster"]) == sorted(f"rabbit@{ip}" for ip in IPS)  # type: ignore[arg-type]


def test_no_primary_without_a_majority(cluster: tuple[list[Path], Path, dict[str, str]]) -> None:
    nodes, _nfs, _env = cluster
    kill(nodes[0] / "data" / "standin" / "fake_mongod.pid")
    kill(nodes[1] / "data" / "standin" / "fake_mongod.pid")
    alone = hello(IPS[2])
    assert alone["isWritablePrimary"] is False and "primary" not in alone
