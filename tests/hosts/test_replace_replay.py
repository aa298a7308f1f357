"""A replaced node, replayed over SSH on booted hosts: host 3 dies, a new host 3 joins, no survivor stops.

A greenfield 5.x flow is replayed once; then ce-3's host is powered off and removed (CE's ``./stop``
never runs on it) and a fresh host boots at the same address. The program runs again with ce-3's
instance id changed (what ``pulumi up --replace <urn of ce-3-vm>`` does) and the replay executes what
the provider's re-run rule selects: ce-3's own steps and ``ce-1-steps-evict-ce-3`` on the survivor.
The survivors' ``stops.log`` (every ``./stop`` of the stand-in) must not change.

ce-1 gets a TEST-ONLY ``docker`` in front of the real one (replay_support.DOCKER_SHIM; the stand-in CE
runs no containers): ``ps`` names CE's compose containers while the stand-in's mongod runs, and
``exec <dir>_rabbitmq-stats_1`` runs the stand-in's RabbitMQ CLI in the checkout.
"""

from __future__ import annotations

import dataclasses
import json

from tests.hosts.replay_support import CE_DIR, install_docker_shim, node_report, replace_host, start_flow, verify_report

CE3_STEPS = ["booted", "bundle", "install", "config", "secrets", "wait", "preflight", "prepare", "mount", "fetch-ce", "certs",
             "join-setup", "join-start"]  # fmt: skip


def summary_line(output: str, phase: str) -> str:
    """The phase's one summary line among the progress lines the step's output also carries."""
    (line,) = [text for text in output.splitlines() if text.startswith(f"{phase}: ")]
    return line


def test_a_replaced_host_rejoins_and_no_survivor_is_stopped() -> None:
    flow = start_flow("greenfield")
    try:
        first = flow.replay(flow.run_program())
        assert verify_report(first)["healthy"] is True
        survivors = flow.hosts[:2]
        ip3 = flow.hosts[2].ip
        install_docker_shim(survivors[0])

        def stops() -> list[str]:
            return [host.check(f"sudo cat {CE_DIR}/data/standin/stops.log 2>/dev/null || true") for host in survivors]

        stops_before = stops()
        new3 = replace_host(flow, "ce-3")  # powered off: CE's ./stop never ran there
        assert new3.ip == ip3
        flow = dataclasses.replace(flow, replaced_nodes=frozenset({"ce-3"}))  # ce-3-vm gets a new instance id
        again = flow.replay(flow.run_program(), state_file=first.state_file)
        ran = [r for r in again.results if r.ran]
        assert sorted(r.name for r in ran) == sorted([*(f"ce-3-steps-{s}" for s in CE3_STEPS), "ce-1-steps-evict-ce-3"])
        by_name = {r.name: r for r in ran}
        evicted = by_name["ce-1-steps-evict-ce-3"]
        summary = summary_line(evicted.stdout, "evict")
        assert summary.startswith(f"evict: changed evicted {ip3}: removed {ip3}:27017 from the replica set"), evicted.stdout
        assert summary.endswith(f"forgot rabbit@{ip3}"), summary  # the flag stays on ce-1
        assert evicted.ended <= by_name["ce-3-steps-join-setup"].started
        started = summary_line(by_name["ce-3-steps-join-start"].stdout, "start")
        assert started.startswith("start: changed started: SECONDARY"), started

        assert stops() == stops_before  # no survivor ran ./stop
        code, report = node_report(survivors[0])
        assert code == 0 and report["healthy"] is True, report
        assert sorted(m["state"] for m in report["members"]) == ["PRIMARY", "SECONDARY", "SECONDARY"]
        rabbit = json.loads(survivors[0].check(f"sudo cat {flow.lab.config.shared_mount}/.standin/rabbitmq.json"))
        assert f"rabbit@{ip3}" in rabbit["cluster"]

        second = flow.replay(flow.run_program(), state_file=first.state_file)
        assert [r.name for r in second.results if r.ran] == []
    finally:
        flow.lab.teardown()
