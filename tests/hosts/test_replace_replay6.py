"""A replaced 6.x node, replayed over SSH on booted hosts: GlusterFS repaired from a survivor, no survivor stopped.

The 6.x twin of test_replace_replay (same helpers, its own lab: a 6.x greenfield cluster on the
GlusterFS stand-in). On top of the 5.x checks: the survivor's ``evict`` swaps the dead node's brick
for the new node's (remove-brick, peer detach, probe, add-brick, heal) so that the volume ends with
one brick per node and every pool member Connected; the new node, which cannot read CE's primary
flag before its own setup mounts the volume, joins as a secondary because a replica set runs on the
others (it never runs the primary's setup, which would make a second volume); (b) also leaves the
old node's brick folder on the new host (its retained brick volume, attached again: the lab has no
EBS, so the folder stands for it), which the bricks phase moves aside and keeps.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest

from tests.hosts.lab import Host
from tests.hosts.replay_support import install_docker_shim, node_report, start_flow, verify_report
from tests.hosts.test_replace_replay import (
    FLAG,
    RABBIT_WHOLE,
    Cluster,
    before_the_primary_dies,
    ce_runtime,
    rabbit_cluster,
    replaced,
    shared_flag,
    summary_line,
)

#: a 6.x node's own steps before its setup: ``bricks`` where 5.x mounts the NFS folder
PREPARATION = ["booted", "bundle", "install", "config", "secrets", "wait", "preflight", "prepare", "bricks", "fetch-ce", "certs"]
BRICK = "/opt/shared/gluster/bricks/1/brick"
VOLUME = "CloudExchange"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    flow = start_flow("greenfield", version="v6.1.0")
    try:
        first = flow.replay(flow.run_program())
        assert verify_report(first)["healthy"] is True
        yield Cluster(flow, first.state_file)
    finally:
        flow.lab.teardown()


def gluster_state(cluster: Cluster) -> dict[str, object]:
    """The stand-in's pool and volume metadata (kept in the volume's folder, as every glusterd keeps its copy)."""
    state: dict[str, object] = json.loads(cluster.host("ce-2").check(f"sudo cat {cluster.flow.lab.config.shared_mount}/.standin-gluster/state.json"))
    return state


def assert_one_brick_per_node(cluster: Cluster) -> None:
    """The volume lists each node's brick once, replica 3, and each node's glusterd is the pool member at its address."""
    state = gluster_state(cluster)
    volume = state["volumes"][VOLUME]  # type: ignore[index]
    ips = [h.ip for h in cluster.flow.hosts]
    assert sorted(volume["bricks"]) == sorted(f"{ip}:{BRICK}" for ip in ips) and volume["replica"] == 3, volume
    pool = state["pool"]  # type: ignore[assignment]
    for host in cluster.flow.hosts:
        uuid = host.check("sudo sed -n 's/^UUID=//p' /var/lib/glusterd/glusterd.info").strip()
        assert [u for u, info in pool.items() if host.ip in info["hostnames"]] == [uuid], (host.name, pool)  # type: ignore[attr-defined]
    heal = cluster.host("ce-2").check(f"sudo gluster volume heal {VOLUME} info")
    assert heal.count("Number of entries: 0") == 3, heal


def test_a_replaced_6x_host_gets_its_brick_back_and_no_survivor_is_stopped(cluster: Cluster) -> None:
    survivors = [cluster.host("ce-1"), cluster.host("ce-2")]
    ip3 = cluster.host("ce-3").ip
    install_docker_shim(survivors[0])
    before = ce_runtime(survivors)
    assert all(pid for _, pid in before.values()), before
    assert_one_brick_per_node(cluster)

    def old_brick_left(host: Host) -> None:
        """The old node's brick folder on the new VM (its retained EBS volume, attached again)."""
        host.check(f"sudo mkdir -p {BRICK}/.glusterfs {BRICK}/config && echo old | sudo tee {BRICK}/config/marker >/dev/null")

    again, ran = replaced(cluster, "ce-3", evicted_on="ce-1", preparation=PREPARATION, on_new_host=old_brick_left)
    new = cluster.host("ce-3")

    bricks = summary_line(ran["ce-3-steps-bricks"].stdout, "bricks")
    assert f"moved the brick folder a previous node left ({BRICK}) aside to {BRICK}.predecessor-" in bricks, bricks
    kept = new.check(f"sudo sh -c 'cat {BRICK}.predecessor-*/config/marker'").strip()
    assert kept == "old"  # moved aside, never deleted
    evicted = summary_line(ran["ce-1-steps-evict-ce-3"].stdout, "evict")
    assert evicted.startswith(f"evict: changed evicted {ip3}: removed {ip3}:27017 from the replica set"), evicted
    assert evicted.endswith(f"forgot rabbit@{ip3}; GlusterFS: dead brick out (replica 2), old peer detached, new peer probed, "
                            "new brick in (replica 3), full heal started, heal: nothing pending"), evicted
    assert f"{FLAG} moved" not in evicted  # the flag stays on ce-1
    for gated in ("cutover-stop", "cutover-start"):  # (setup's output is secret: the replay does not show it)
        line = summary_line(ran[f"ce-3-steps-{gated}"].stdout, gated.split("-")[1])
        assert "for the CE primary only, and this node is the CE secondary" in line, line
    started = summary_line(ran["ce-3-steps-join-start"].stdout, "start")
    assert started.startswith("start: changed started: SECONDARY"), started
    assert ran["ce-1-steps-evict-ce-3"].ended <= ran["ce-3-steps-join-setup"].started

    assert ce_runtime(survivors) == before  # no survivor ran ./stop; their mongod kept its pid
    assert_one_brick_per_node(cluster)
    code, report = node_report(survivors[0])
    assert code == 0 and report["healthy"] is True, report
    assert RABBIT_WHOLE in report["notes"], report
    checked = verify_report(again)  # the replay's verify on ce-1 (every node's instance id triggers it), after the join
    assert checked["healthy"] is True and RABBIT_WHOLE in checked["notes"], checked
    assert f"GlusterFS: {VOLUME} has one brick per node (3), every peer Connected, nothing to heal" in report["notes"], report
    assert sorted(m["state"] for m in report["members"]) == ["PRIMARY", "SECONDARY", "SECONDARY"]
    assert rabbit_cluster(cluster) == sorted(f"rabbit@{h.ip}" for h in cluster.flow.hosts)
    assert new.check(f"findmnt -n -o SOURCE {'/opt/shared/data'}").strip().endswith(f":/{VOLUME}")

    second = cluster.flow.replay(cluster.flow.run_program(), state_file=cluster.state_file)
    assert [r.name for r in second.results if r.ran] == []


def test_the_6x_ce_primarys_host_is_replaced_and_joins_as_a_secondary(cluster: Cluster) -> None:
    """Case (c) on 6.x: the new ce-1 (node.json's primary) must not run the primary's setup (a second volume and set)."""
    ip, survivors, before = before_the_primary_dies(cluster)

    again, ran = replaced(cluster, "ce-1", evicted_on="ce-2", preparation=PREPARATION)
    evicted = summary_line(ran["ce-2-steps-evict-ce-1"].stdout, "evict")
    moved = re.search(rf"{FLAG} moved from {re.escape(ip['ce-1'])} to (\S+) in the shared \.env", evicted)
    assert moved and moved.group(1) in (ip["ce-2"], ip["ce-3"]), evicted
    assert "; GlusterFS: dead brick out (replica 2)" in evicted, evicted  # the rest of the long line is cut; the state is below
    new_primary = moved.group(1)
    for member in ("ce-2", "ce-3"):  # re-run on the new ce-1 (its identity changed): the bricks are there already
        line = summary_line(ran[f"ce-1-steps-join-brick-{member}"].stdout, "gluster-join")
        assert line.startswith(f"gluster-join: unchanged member {2 if member == 'ce-2' else 3}"), line
    gated = summary_line(ran["ce-1-steps-cutover-stop"].stdout, "stop")
    assert "for the CE primary only, and this node is the CE secondary (no HA_PRIMARY_NODE_IP readable" in gated, gated
    started = summary_line(ran["ce-1-steps-join-start"].stdout, "start")
    assert started.startswith("start: changed started: SECONDARY") and f"primary={new_primary}:27017" in started, started
    marker = json.loads(cluster.host("ce-1").check("sudo cat /var/lib/cloud-exchange-ha/setup-done.json"))
    assert marker["role"] == "secondary", marker

    assert ce_runtime(survivors) == before
    assert verify_report(again)["healthy"] is True
    assert_one_brick_per_node(cluster)
    assert shared_flag(cluster, cluster.host("ce-1")) == new_primary
    assert rabbit_cluster(cluster) == sorted(f"rabbit@{a}" for a in ip.values())

    further = cluster.flow.replay(cluster.flow.run_program(), state_file=cluster.state_file)
    assert [r.name for r in further.results if r.ran] == []

