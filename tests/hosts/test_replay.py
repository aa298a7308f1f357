"""The program's own remote steps, replayed over SSH on booted hosts: migrate and greenfield end verified.

Each flow boots its own three hosts (tests/hosts/replay_support.py), runs __main__.py under mocks
whose instances resolve to those hosts, and executes every remote.Command / CopyToRemote for
real, in the order the program declared, with the provider's re-run rule.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import re
import shutil
import time
from collections.abc import Iterator
from typing import Any

import pytest

from offline import harness
from tests.hosts import rerun_probe
from tests.hosts.lab import Host
from tests.hosts.replay import Replay, StepResult
from tests.hosts.replay_support import CE_DIR, JWT, MAINTENANCE, Flow, start_flow, verify_report

Replayed = tuple[Flow, harness.Run, Replay]


def replayed(mode: str, version: str = "v5.1.2") -> Iterator[Replayed]:
    """Boot a flow's own hosts, run the program, replay its steps once; tear the hosts down after."""
    flow = start_flow(mode, version=version)
    try:
        result = flow.run_program()
        yield flow, result, flow.replay(result)
    finally:
        flow.lab.teardown()


@pytest.fixture(scope="module")
def migrate_flow() -> Iterator[Replayed]:
    yield from replayed("migrate")


@pytest.fixture(scope="module")
def greenfield_flow() -> Iterator[Replayed]:
    yield from replayed("greenfield")


@pytest.fixture(scope="module")
def greenfield6_flow() -> Iterator[Replayed]:
    yield from replayed("greenfield", "v6.1.0")


@pytest.fixture(scope="module")
def migrate6_flow() -> Iterator[Replayed]:
    yield from replayed("migrate", "v6.1.0")


def assert_verified(flow: Flow, replay: Replay) -> dict[str, Any]:
    report = verify_report(replay)
    ips = [h.ip for h in flow.hosts]
    assert report["healthy"] is True, report
    assert report["primary_ip"] == ips[0]
    states = sorted(m["state"] for m in report["members"])
    assert states == ["PRIMARY", "SECONDARY", "SECONDARY"], report["members"]
    return report


def test_migrate_ends_with_a_verified_cluster(migrate_flow: Replayed) -> None:
    flow, _, replay = migrate_flow
    assert_verified(flow, replay)
    assert all(r.ran for r in replay.results)


def test_migrate_backed_up_the_standalone_before_cutover(migrate_flow: Replayed) -> None:
    flow, _, replay = migrate_flow
    by_name = {r.name: r for r in replay.results}
    assert by_name["ce-1-steps-backup"].ended <= by_name["ce-1-steps-cutover-stop"].started
    rc, out, _ = flow.hosts[0].run(f"sudo ls {flow.lab.config.shared_mount}/backups/")
    assert rc == 0 and ".tar.gz" in out and ".sha256" in out


def test_migrate_kept_the_standalones_secrets(migrate_flow: Replayed) -> None:
    flow, _, _ = migrate_flow
    rc, out, err = flow.hosts[0].run("sudo /opt/cloud-exchange-ha/ce-node inspect --check")
    assert rc == 0, err


def test_cutover_ran_one_step_at_a_time_after_all_preparation(migrate_flow: Replayed) -> None:
    flow, _, replay = migrate_flow
    ran = [r for r in replay.results if r.ran]
    tail = sorted((r for r in ran if "-cutover-" in r.name or "-join-" in r.name or r.name.endswith("-verify")), key=lambda r: r.started)
    prep_end = max(r.ended for r in ran if r not in tail)
    assert tail[0].name == "ce-1-steps-cutover-stop" and tail[0].started >= prep_end
    for earlier, later in zip(tail, tail[1:], strict=False):
        assert earlier.ended <= later.started, (earlier.name, later.name)
    # the window is the primary's stop, setup and start; each secondary then sets up and joins while CE serves
    assert [r.name for r in tail] == ["ce-1-steps-cutover-stop", "ce-1-steps-cutover-setup", "ce-1-steps-cutover-start",
                                      "ce-2-steps-join-setup", "ce-2-steps-join-start",
                                      "ce-3-steps-join-setup", "ce-3-steps-join-start", "ce-1-steps-verify"]
    # CE was down on the primary once: one ./stop, never again while the secondaries joined
    assert len(rerun_probe.standin_ce(flow.hosts[0], CE_DIR).stops) == 1


def test_preparation_overlapped_across_nodes(migrate_flow: Replayed) -> None:
    _, _, replay = migrate_flow
    prepares = {r.node: r for r in replay.results if r.name.endswith("-steps-prepare")}
    a, b = prepares["ce-2"], prepares["ce-3"]
    assert a.started < b.ended and b.started < a.ended, "secondaries prepared one after the other"


def test_no_secret_in_any_output_or_node_log(migrate_flow: Replayed) -> None:
    flow, _, replay = migrate_flow
    for result in replay.results:
        assert MAINTENANCE not in result.stdout and JWT not in result.stdout, result.name
    for host in flow.hosts:
        rc, out, _ = host.run(f"sudo grep -rlF -e {MAINTENANCE} -e {JWT} /var/log/cloud-exchange-ha || true")
        assert out.strip() == "", f"secret in {out} on {host.name}"


def test_an_unchanged_second_replay_runs_nothing(migrate_flow: Replayed) -> None:
    flow, _, replay = migrate_flow
    again = flow.replay(flow.run_program(), state_file=replay.state_file)
    assert [r.name for r in again.results if r.ran] == []
    assert len(again.results) == len(replay.results)


def test_a_new_bundle_reruns_preparation_not_the_cutover(
    migrate_flow: Replayed, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from components import bundle as node_bundle

    flow, _, replay = migrate_flow
    # the same scripts plus one new module: what a fix to scripts/ looks like to the program
    changed = flow.workdir / "scripts-changed"
    shutil.copytree(node_bundle.SCRIPTS, changed, dirs_exist_ok=True)
    (changed / "cenode" / "_revision.py").write_text('"""Marks a changed bundle in the replay test."""\n')
    rebuilt = node_bundle.build(changed)
    assert rebuilt.digest != node_bundle.build().digest
    monkeypatch.setattr(node_bundle, "build", lambda: rebuilt)
    again = flow.replay(flow.run_program(), state_file=replay.state_file)
    ran = {r.name for r in again.results if r.ran}
    assert "ce-2-steps-prepare" in ran and "ce-1-steps-verify" in ran
    assert not {n for n in ran if "-cutover-" in n or "-join-" in n}
    assert verify_report(again)["healthy"] is True


def test_greenfield_ends_with_a_verified_cluster(greenfield_flow: Replayed) -> None:
    flow, _, replay = greenfield_flow
    assert_verified(flow, replay)
    again = flow.replay(flow.run_program(), state_file=replay.state_file)
    assert [r.name for r in again.results if r.ran] == []


def test_greenfield_6x_ends_with_a_verified_cluster(greenfield6_flow: Replayed) -> None:
    flow, _, replay = greenfield6_flow
    assert_verified(flow, replay)
    ran = [r.name for r in sorted(replay.results, key=lambda r: r.started) if "-cutover-" in r.name or "-join-" in r.name]
    assert ran == ["ce-1-steps-cutover-stop", "ce-1-steps-cutover-setup", "ce-1-steps-cutover-start",
                   "ce-1-steps-join-brick-ce-2", "ce-2-steps-join-setup", "ce-2-steps-join-start",
                   "ce-1-steps-join-brick-ce-3", "ce-3-steps-join-setup", "ce-3-steps-join-start"]
    again = flow.replay(flow.run_program(), state_file=replay.state_file)
    assert [r.name for r in again.results if r.ran] == []


def test_migrate_6x_from_a_standalone_ends_verified(migrate6_flow: Replayed) -> None:
    flow, _, replay = migrate6_flow
    assert_verified(flow, replay)
    rc, out, _ = flow.hosts[0].run("sudo ls /var/backups/cloud-exchange-ha/")
    assert rc == 0 and ".tar.gz" in out, "the 6.x standalone is backed up on its own disk before the cutover"
    rc, _, err = flow.hosts[0].run("sudo /opt/cloud-exchange-ha/ce-node inspect --check")
    assert rc == 0, err


# ---- a changed connection re-runs every step; CE keeps running (README "Phases, the downtime window, and re-runs") ----


def rerun_with(flow: Flow, replay: Replay, tag: str, **settings: Any) -> tuple[Flow, Replay]:
    """Replay the program with changed settings, from a copy of the fixture's replay state.

    The copy keeps the fixture's own state file as it was: the other tests of the module replay
    with the unchanged settings and expect only their own change to run.
    """
    changed = dataclasses.replace(flow, overrides={**flow.overrides, **settings})
    state = flow.workdir / f"replay-state-{tag}.json"
    shutil.copyfile(replay.state_file, state)
    return changed, changed.replay(changed.run_program(), state_file=state)


def verdict(result: StepResult, phase: str) -> str:
    lines = [ln for ln in result.stdout.splitlines() if ln.startswith(f"{phase}: ")]
    return lines[-1] if lines else result.stdout[-300:]


def assert_everything_reran_and_ce_kept_running(
    flow: Flow, first: Replay, changed: Flow, again: Replay, before: dict[str, rerun_probe.StandinCe]
) -> None:
    """Every step ran again; no ./stop anywhere, every mongod the same process; the cutover said unchanged."""
    assert sorted(r.name for r in again.results if r.ran) == sorted(r.name for r in first.results)
    for host in flow.hosts:
        now = rerun_probe.standin_ce(host, CE_DIR)
        assert now.stops == before[host.name].stops, f"CE was stopped on {host.name}: {now.stops}"
        assert now.mongod_pid is not None, f"no mongod runs on {host.name}"
        assert now.mongod_pid == before[host.name].mongod_pid, f"mongod was restarted on {host.name}"
    by_name = {r.name: r for r in again.results}
    assert verdict(by_name["ce-1-steps-cutover-stop"], "stop").startswith("stop: unchanged")
    for node, host in zip(("ce-1", "ce-2", "ce-3"), flow.hosts, strict=True):
        stage = "cutover" if node == "ce-1" else "join"
        assert by_name[f"{node}-steps-{stage}-setup"].ran  # its stdout is secret: the verdict is in the node's log
        assert rerun_probe.last_verdict(host, "setup").startswith("setup: unchanged"), host.name
        assert verdict(by_name[f"{node}-steps-{stage}-start"], "start").startswith("start: unchanged"), node
    assert_verified(flow, again)
    unchanged = changed.replay(changed.run_program(), state_file=again.state_file)
    assert [r.name for r in unchanged.results if r.ran] == []


def rotate_ssh_key(flow: Flow, replay: Replay) -> None:
    """A second key authorized on every host, then ``sshPrivateKey`` changed to it and the program replayed."""
    key = rerun_probe.new_key_pair("ce-ha-rotated")
    for host in flow.hosts:
        rerun_probe.authorize(host, key)
    before = {h.name: rerun_probe.standin_ce(h, CE_DIR) for h in flow.hosts}
    assert all(b.mongod_pid is not None for b in before.values()), before
    changed, again = rerun_with(flow, replay, "rotated-key", sshPrivateKey=key.private)
    assert_everything_reran_and_ce_kept_running(flow, replay, changed, again, before)
    for host in flow.hosts:  # the replay logged in with the new key (sshd's record, not the replay's)
        assert key.fingerprint in {fp for _, fp in rerun_probe.accepted_logins(host)}, host.name


def test_a_rotated_ssh_key_reruns_every_step_and_stops_ce_nowhere(migrate_flow: Replayed) -> None:
    flow, _, replay = migrate_flow
    rotate_ssh_key(flow, replay)


def test_a_rotated_ssh_key_on_6x_reruns_every_step_and_stops_ce_nowhere(greenfield6_flow: Replayed) -> None:
    flow, _, replay = greenfield6_flow
    rotate_ssh_key(flow, replay)


def test_a_new_bastion_reruns_every_step_and_stops_ce_nowhere(greenfield_flow: Replayed) -> None:
    """``bastionHost`` set to one of the nodes: the replay jumps through it (direct-tcpip, like ProxyJump)."""
    flow, _, replay = greenfield_flow
    bastion = flow.hosts[0]

    def through_bastion(host: Host) -> int:
        return sum(1 for source, _ in rerun_probe.accepted_logins(host) if source == bastion.ip)

    logins = {h.name: through_bastion(h) for h in flow.hosts}
    before = {h.name: rerun_probe.standin_ce(h, CE_DIR) for h in flow.hosts}
    changed, again = rerun_with(flow, replay, "bastion", bastionHost=bastion.ip)
    assert_everything_reran_and_ce_kept_running(flow, replay, changed, again, before)
    for host in flow.hosts:  # sshd saw the steps' logins come from the bastion's address
        assert through_bastion(host) > logins[host.name], host.name


# ---- nothing is downloaded while CE is down (issue 15, part 3, for the first install) ----

#: python's http.server access line: ``10.213.0.12 - - [03/Dec/2026 10:32:13] "GET /apt/... HTTP/1.1" 200 -``
ACCESS = re.compile(r'^(?P<client>\S+) - - \[(?P<when>[^\]]+)\] "(?P<request>[^"]*)"')


def lab_requests(flow: Flow) -> list[tuple[float, str, str]]:
    """(wall-clock second, client, request) of everything the lab's http server (apt mirror, wheels, CE's git) served."""
    found = []
    for line in (flow.lab.lab_dir / "logs" / "http.log").read_text(errors="replace").splitlines():
        match = ACCESS.match(line)
        if match:
            when = datetime.datetime.strptime(match["when"], "%d/%b/%Y %H:%M:%S").replace(tzinfo=datetime.UTC)
            found.append((when.timestamp(), match["client"], match["request"]))
    return found


@pytest.mark.parametrize("fixture", ["migrate_flow"])
def test_nothing_is_downloaded_inside_the_window(fixture: str, request: pytest.FixtureRequest) -> None:
    flow, _, replay = request.getfixturevalue(fixture)
    to_wall = time.time() - time.monotonic()  # the replay's step times are monotonic
    window = [r for r in replay.results if r.ran and "-steps-cutover-" in r.name]
    assert [r.name for r in window] == ["ce-1-steps-cutover-stop", "ce-1-steps-cutover-setup", "ce-1-steps-cutover-start"]
    start, end = min(r.started for r in window) + to_wall, max(r.ended for r in window) + to_wall
    served = lab_requests(flow)
    assert served, "the lab's http server logged nothing: the check would prove nothing"
    # whole seconds strictly inside the window (the log has one-second resolution)
    inside = [(client, what) for when, client, what in served if math.ceil(start) <= when and when + 1 <= math.floor(end)]
    assert inside == [], f"downloaded while CE was down ({end - start:.1f} s window): {inside}"
