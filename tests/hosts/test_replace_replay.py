"""A replaced node, replayed over SSH on booted hosts: a host dies, a new one joins, no survivor stops.

One greenfield 5.x cluster is replayed once for the module (``cluster``); each test then powers one
host off and removes it (CE's ``./stop`` never runs on it), boots a fresh host at the same address
and runs the program again with that node's instance id changed (what ``pulumi up --replace <urn
of ce-N-vm>`` does); the replay executes what the provider's re-run rule selects: the node's own
steps and its eviction on a survivor. The survivors' ``stops.log`` (every ``./stop`` of the
stand-in) must not change, nor their mongod's pid. The tests run in file order on the same hosts:
(b) replaces ce-3, a secondary; (c) then replaces ce-1, which holds CE's primary role. Either
also runs alone (``-k``) on a cluster of its own.

The survivor that runs ``evict`` gets a TEST-ONLY ``docker`` in front of the real one
(replay_support.DOCKER_SHIM; the stand-in CE runs no containers): ``ps`` names CE's compose
containers while the stand-in's mongod runs, and ``exec <dir>_rabbitmq-stats_1`` runs the
stand-in's RabbitMQ CLI in the checkout.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from offline.rerun import remote_steps
from tests.hosts.lab import Host
from tests.hosts.replay import Replay, StepResult
from tests.hosts.replay_support import (
    CE_DIR,
    Flow,
    install_docker_shim,
    node_report,
    replace_host,
    start_flow,
    verify_report,
)

#: a node's own steps before its setup (the cutover's and the joins' step names are the plan's to change)
PREPARATION = ["booted", "bundle", "install", "config", "secrets", "wait", "preflight", "prepare", "mount", "fetch-ce", "certs"]
FLAG = "HA_PRIMARY_NODE_IP"


@dataclass
class Cluster:
    """The module's greenfield cluster: its flow (which nodes are replaced so far) and the replay's state."""

    flow: Flow
    state_file: Path

    def host(self, name: str) -> Host:
        return self.flow.lab[name]

    def replace(self, name: str) -> Host:
        """The node's host powered off and removed, a fresh one at its address, its instance id new from now on."""
        address = self.host(name).ip
        new = replace_host(self.flow, name)  # powered off: CE's ./stop never ran there
        assert new.ip == address
        self.flow = dataclasses.replace(self.flow, replaced_nodes=self.flow.replaced_nodes | {name})
        return new


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    flow = start_flow("greenfield")
    try:
        first = flow.replay(flow.run_program())
        assert verify_report(first)["healthy"] is True
        yield Cluster(flow, first.state_file)
    finally:
        flow.lab.teardown()


#: verify's note when every node is a running member of CE's RabbitMQ cluster (cenode.broker_health)
RABBIT_WHOLE = "RabbitMQ: every node (3) a running member of CE's RabbitMQ cluster"


def replaced(
    cluster: Cluster, node: str, evicted_on: str, preparation: list[str] = PREPARATION, on_new_host: Callable[[Host], None] | None = None
) -> tuple[Replay, dict[str, StepResult]]:
    """``node``'s host replaced, the program replayed: the replay and the steps that ran, by name.

    Checked here: exactly the node's own steps ran (as the run declares them, its evictions of the
    others excepted: they are about those nodes), its eviction on ``evicted_on`` and ce-1's verify (every created
    node's instance id is one of its triggers), nothing else.
    """
    new = cluster.replace(node)
    if on_new_host is not None:  # what the new VM has before the program reaches it
        on_new_host(new)
    run = cluster.flow.run_program()
    own = [name for name in remote_steps(run) if name.startswith(f"{node}-steps-") and "-evict-" not in name]
    assert {f"{node}-steps-{step}" for step in preparation} < set(own)
    again = cluster.flow.replay(run, state_file=cluster.state_file)
    ran = {r.name: r for r in again.results if r.ran}
    assert sorted(ran) == sorted({*own, f"{evicted_on}-steps-evict-{node}", "ce-1-steps-verify"})
    return again, ran


def summary_line(output: str, phase: str) -> str:
    """The phase's one summary line among the progress lines the step's output also carries."""
    (line,) = [text for text in output.splitlines() if text.startswith(f"{phase}: ")]
    return line


def shared_flag(cluster: Cluster, host: Host) -> str:
    """CE's primary flag in the shared .env (``<sharedDir>/config/.env``), as the host reads it."""
    text = host.check(f"sudo cat {cluster.flow.lab.config.shared_mount}/config/.env")
    (value,) = [line.split("=", 1)[1].strip().strip("'\"") for line in text.splitlines() if line.startswith(f"{FLAG}=")]
    return value


def ce_runtime(hosts: list[Host]) -> dict[str, tuple[str, str]]:
    """Each host's stand-in ``stops.log`` and the pid of its running mongod ("" when none runs)."""
    found = {}
    for host in hosts:
        stops = host.check(f"sudo cat {CE_DIR}/data/standin/stops.log 2>/dev/null || true")
        pid = host.check(
            f"pid=$(sudo cat {CE_DIR}/data/standin/fake_mongod.pid 2>/dev/null) && "
            "sudo grep -q fake_mongod /proc/$pid/cmdline 2>/dev/null && echo $pid || true"
        ).strip()
        found[host.name] = (stops, pid)
    return found


def rabbit_cluster(cluster: Cluster) -> list[str]:
    shared = cluster.flow.lab.config.shared_mount
    return sorted(json.loads(cluster.host("ce-2").check(f"sudo cat {shared}/.standin/rabbitmq.json"))["cluster"])


def before_the_primary_dies(cluster: Cluster) -> tuple[dict[str, str], list[Host], dict[str, tuple[str, str]]]:
    """Case (c)'s starting point, checked: the cluster healthy, ce-1 holding CE's primary flag (greenfield: the first
    cutover's primary), the survivors ce-2/ce-3 given the test-only docker; (every node's address, the survivors, their
    stops.log and mongod pid)."""
    ip = {name: cluster.host(name).ip for name in ("ce-1", "ce-2", "ce-3")}
    survivors = [cluster.host("ce-2"), cluster.host("ce-3")]
    code, report = node_report(survivors[0])
    assert code == 0 and report["healthy"] is True, f"the module's cluster is not healthy before the test: {report}"
    assert shared_flag(cluster, survivors[0]) == ip["ce-1"]
    for host in survivors:
        install_docker_shim(host)
    before = ce_runtime(survivors)
    assert all(pid for _, pid in before.values()), before
    return ip, survivors, before


def test_a_replaced_host_rejoins_and_no_survivor_is_stopped(cluster: Cluster) -> None:
    survivors = [cluster.host("ce-1"), cluster.host("ce-2")]
    ip3 = cluster.host("ce-3").ip
    install_docker_shim(survivors[0])
    before = ce_runtime(survivors)
    assert all(pid for _, pid in before.values()), before

    again, ran = replaced(cluster, "ce-3", evicted_on="ce-1")
    # + its drain's stop and copy, the window's three steps, its join's setup and start, the eviction, ce-1's verify;
    # only the join acts
    assert len(ran) == len(PREPARATION) + 9
    assert ran["ce-3-steps-join-start"].ended <= ran["ce-1-steps-verify"].started
    checked = verify_report(again)  # on ce-1, which has the test-only docker: RabbitMQ judged, the new member in it
    assert checked["healthy"] is True and RABBIT_WHOLE in checked["notes"], checked
    for gated in ("cutover-stop", "cutover-start"):  # ce-1 still holds CE's primary role
        assert summary_line(ran[f"ce-3-steps-{gated}"].stdout, gated.split("-")[1]).endswith("for the CE primary only, "
                                                                                          "and this node is the CE secondary "
                                                                                          f"({FLAG}={cluster.host('ce-1').ip}: "
                                                                                          "this node is the CE secondary)")
    evicted = ran["ce-1-steps-evict-ce-3"]
    summary = summary_line(evicted.stdout, "evict")
    assert summary.startswith(f"evict: changed evicted {ip3}: removed {ip3}:27017 from the replica set"), evicted.stdout
    assert summary.endswith(f"forgot rabbit@{ip3}"), summary  # the flag stays on ce-1
    assert evicted.ended <= ran["ce-3-steps-join-setup"].started
    started = summary_line(ran["ce-3-steps-join-start"].stdout, "start")
    assert started.startswith("start: changed started: SECONDARY"), started

    assert ce_runtime(survivors) == before  # no survivor ran ./stop; their mongod kept its pid
    code, report = node_report(survivors[0])
    assert code == 0 and report["healthy"] is True, report
    assert sorted(m["state"] for m in report["members"]) == ["PRIMARY", "SECONDARY", "SECONDARY"]
    assert RABBIT_WHOLE in report["notes"], report
    assert rabbit_cluster(cluster) == sorted(f"rabbit@{h.ip}" for h in cluster.flow.hosts)

    second = cluster.flow.replay(cluster.flow.run_program(), state_file=cluster.state_file)
    assert [r.name for r in second.results if r.ran] == []


def test_the_ce_primarys_host_is_replaced_and_joins_as_a_secondary(cluster: Cluster) -> None:
    """Case (c) of issue 14, part 5: the dead node held CE's primary role; a survivor evicts it and moves the flag first."""
    ip, survivors, before = before_the_primary_dies(cluster)

    # ce-1's eviction runs on ce-2, the first other node; nothing else of ce-2 or ce-3 runs
    again, ran = replaced(cluster, "ce-1", evicted_on="ce-2")
    # + its drain's stop (nothing runs there) and copy (nothing staged), the window's three steps (role-gated: the flag
    # moved), its join's setup and start, verify, the eviction
    assert len(ran) == len(PREPARATION) + 9

    evicted = ran["ce-2-steps-evict-ce-1"]
    summary = summary_line(evicted.stdout, "evict")
    assert summary.startswith(f"evict: changed evicted {ip['ce-1']}: removed {ip['ce-1']}:27017 from the replica set"), summary
    assert f"forgot rabbit@{ip['ce-1']}" in summary, summary
    moved = re.search(rf"{FLAG} moved from {re.escape(ip['ce-1'])} to (\S+) in the shared \.env", summary)
    assert moved and moved.group(1) in (ip["ce-2"], ip["ce-3"]), summary
    new_primary = moved.group(1)

    stop = summary_line(ran["ce-1-steps-drain-stop"].stdout, "stop")
    assert stop.startswith("stop: unchanged CE is not running here"), stop  # the fresh host runs no CE yet
    assert "for the CE primary only" in summary_line(ran["ce-1-steps-cutover-start"].stdout, "start")
    setup = ran["ce-1-steps-join-setup"]  # its output is secret: the role it ran as is in its marker below
    assert evicted.ended <= setup.started  # the flag named a live survivor before the new ce-1's setup
    start = ran["ce-1-steps-join-start"]
    started = summary_line(start.stdout, "start")
    assert started.startswith("start: changed started: SECONDARY"), started  # joined; a second one-member set would be PRIMARY
    assert f"primary={new_primary}:27017" in started, started
    assert setup.ended <= start.started
    marker = json.loads(cluster.host("ce-1").check("sudo cat /var/lib/cloud-exchange-ha/setup-done.json"))
    assert marker["role"] == "secondary", marker  # what its setup ran as (./setup --location)

    assert ce_runtime(survivors) == before  # no survivor ran ./stop; their mongod kept its pid
    assert verify_report(again)["healthy"] is True
    code, report = node_report(survivors[0])  # ce-2, with the test-only docker: the new ce-1 back in RabbitMQ
    assert code == 0 and RABBIT_WHOLE in report["notes"], report
    code, report = node_report(cluster.host("ce-1"))
    assert code == 0 and report["healthy"] is True, report
    states = {m["name"].split(":")[0]: m["state"] for m in report["members"]}
    assert states == {ip["ce-1"]: "SECONDARY", new_primary: "PRIMARY",
                      **{a: "SECONDARY" for a in (ip["ce-2"], ip["ce-3"]) if a != new_primary}}, report
    assert shared_flag(cluster, cluster.host("ce-1")) == report["ce_primary"] == new_primary
    assert rabbit_cluster(cluster) == sorted(f"rabbit@{a}" for a in ip.values())

    further = cluster.flow.replay(cluster.flow.run_program(), state_file=cluster.state_file)
    assert [r.name for r in further.results if r.ran] == []
