"""What the replay tests of several flows check: a verified cluster, every step re-run with CE kept running.

Owns: ``replayed`` (boot a flow's own hosts, run the program, replay its steps once, tear down),
``assert_verified``, ``rerun_with`` (a replay with changed settings from a copy of the state),
``assert_everything_reran_and_ce_kept_running``, ``rotate_ssh_key``, ``upgrade`` (a within-line upgrade
replayed and checked), ``fail_and_roll_back`` (an upgrade that fails on a secondary, undone by README's way back),
``lab_requests`` (what the lab's http server served) with the check that nothing was
downloaded inside the window, and ``restore_the_standalone`` (the way back of a migrate). Used by
tests/hosts/test_replay_*.py: one module per booted lab, so that pytest tears each lab down before the next
module boots its own (one lab up at a time).
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

from offline import harness
from tests.hosts import rerun_probe
from tests.hosts.lab import Host
from tests.hosts.replay import Replay, StepFailed, StepResult
from tests.hosts.replay_support import CE_DIR, Flow, node_report, start_flow, verify_report, window_steps

Replayed = tuple[Flow, harness.Run, Replay]


def replayed(mode: str, version: str = "v5.1.2") -> Iterator[Replayed]:
    """Boot a flow's own hosts, run the program, replay its steps once; tear the hosts down after."""
    flow = start_flow(mode, version=version)
    try:
        result = flow.run_program()
        yield flow, result, flow.replay(result)
    finally:
        flow.lab.teardown()


def assert_verified(flow: Flow, replay: Replay) -> dict[str, Any]:
    report = verify_report(replay)
    ips = [h.ip for h in flow.hosts]
    assert report["healthy"] is True, report
    assert report["primary_ip"] == ips[0]
    states = sorted(m["state"] for m in report["members"])
    assert states == ["PRIMARY", "SECONDARY", "SECONDARY"], report["members"]
    return report


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


def upgrade(flow: Flow, replay: Replay, deployed: str, wanted: str) -> tuple[Flow, Replay]:
    """``pulumi config set ceVersion <wanted>`` then ``pulumi up`` on a cluster that runs ``deployed`` (its last outputs say
    so): the program replayed from the fixture's state; checked here for both release lines (docs/ce-lifecycle.md §2):

    * before anything stops, every node fetched the new tag and CE kept running the old checkout (no checkout in the
      preparation); each secondary stopped (drain) and kept a copy of its stopped member before CE's primary stopped;
      the window holds only the primary's stop, setup and start; each secondary set up and started after the primary's start; every node stopped once;
    * every node ends on ``wanted`` (its checkout, its .env, the shared .env) and verify is healthy; a second replay
      runs nothing.
    """
    before = {h.name: rerun_probe.standin_ce(h, CE_DIR) for h in flow.hosts}
    upgraded = dataclasses.replace(flow, version=wanted, deployed_version=deployed)
    again = upgraded.replay(upgraded.run_program(), state_file=replay.state_file)
    by_name = {r.name: r for r in again.results}
    window = [r.name for r in window_steps(again.results)]
    assert window == [f"ce-1-steps-cutover-{s}" for s in ("stop", "setup", "start")], window
    assert verdict(by_name["ce-1-steps-cutover-stop"], "stop").startswith("stop: changed stopped:")
    down, up = by_name["ce-1-steps-cutover-stop"].started, by_name["ce-1-steps-cutover-start"].ended
    for node in ("ce-1", "ce-2", "ce-3"):  # fetched while CE served, before anything stopped
        fetched = by_name[f"{node}-steps-fetch-ce"]
        assert fetched.ran and "staged: CE keeps running" in verdict(fetched, "fetch-ce"), verdict(fetched, "fetch-ce")
        assert fetched.ended <= by_name["ce-1-steps-drain-stop"].started
    # CE's primary kept a copy of its stopped CE and the whole shared folder before its checkout (upgrade_copies)
    # (the newest: a failed attempt before this one kept its own; the names sort by their UTC stamp)
    window_copy = flow.hosts[0].check(f"sudo sh -c 'ls /var/backups/cloud-exchange-ha/ce-1-window-upgrade-to-{wanted}-*.tar'").split()[-1]
    assert window_copy_kept(flow.hosts[0], window_copy)
    held = verdict(by_name["ce-1-steps-drain-backup"], "backup")
    assert held.startswith("backup: unchanged CE runs here"), held
    for node in ("ce-2", "ce-3"):  # each stopped member's copy: consistent MongoDB files, before the window
        copied = by_name[f"{node}-steps-drain-backup"]
        assert verdict(copied, "backup").startswith(f"backup: changed /var/backups/cloud-exchange-ha/{node}-upgrade-to-{wanted}-")
        assert copied.ended <= down
    for node in ("ce-2", "ce-3"):
        drained = by_name[f"{node}-steps-drain-stop"]
        assert verdict(drained, "stop").startswith("stop: changed stopped:"), verdict(drained, "stop")
        assert drained.ended <= down  # the secondaries stop first; CE's primary serves meanwhile
        assert by_name[f"{node}-steps-join-setup"].started >= up  # set up on the new version after the primary's start
        assert verdict(by_name[f"{node}-steps-join-start"], "start").startswith("start: changed started:")
    for host in flow.hosts:
        now = rerun_probe.standin_ce(host, CE_DIR)
        assert len(now.stops) == len(before[host.name].stops) + 1, (host.name, now.stops)
        tag = host.check(f"sudo git -C {CE_DIR} describe --tags --exact-match").strip()
        assert tag.lstrip("v") == wanted.lstrip("v"), (host.name, tag)
        # the local .env (5.x; 6.x HA reduces it to the node's own keys, docs/ce-facts.md §1.8) and the shared one
        shared = f"{CE_DIR}/.env {'/opt/shared/data' if wanted.startswith('v6.') else flow.lab.config.shared_mount}/config/.env"
        found = host.check(f"sudo grep -h '^INSTALL_VERSION' {shared} || true").split()
        assert found and {v.split("=", 1)[1].strip("'\"").lstrip("v") for v in found} == {wanted.lstrip("v")}, (host.name, found)
    assert_verified(flow, again)
    unchanged = upgraded.replay(upgraded.run_program(), state_file=again.state_file)
    assert [r.name for r in unchanged.results if r.ran] == []
    return upgraded, again


def window_copy_kept(host: Host, path: str) -> bool:
    """The setup phase's verdict on the host says it kept ``path`` (its window copy) before CE's setup ran."""
    log = host.check(f"sudo cat {rerun_probe.PHASE_LOG_DIR}/setup.log")
    return any(re.match(rf"^\d\d:\d\d:\d\d setup: changed CE setup completed as primary; kept {re.escape(path)} \(", line)
               for line in log.splitlines())


def ce_node(host: Host, command: str) -> str:
    """``sudo ce-node <command>`` on the host; its stdout (AssertionError with both streams when it fails)."""
    rc, out, err = host.run(f"sudo /opt/cloud-exchange-ha/ce-node {command}", timeout=900)
    assert rc == 0, f"{host.name}: ce-node {command} exited {rc}: {out}{err}"
    return out


def fail_and_roll_back(flow: Flow, replay: Replay, deployed: str, wanted: str) -> None:
    """README "When an upgrade fails": ``deployed`` -> ``wanted`` replayed with ce-3's ``./setup`` not executable, so its
    join fails after CE's primary already serves ``wanted``; then, as the README says: CE stopped on every node (the
    secondaries first), ``ce-node roll-back`` on each node, ``ce-node start`` on CE's primary first, then on each other
    node; ``ceVersion`` set back and ``pulumi up``. Checked: the failure stops the replay at ce-3's join with ce-1 and ce-2
    on ``wanted``; after the roll-back every node runs ``deployed`` again (checkout, .env files, the shared .env) and is
    healthy; the replay with the old ``ceVersion`` stops CE nowhere and restarts no mongod; a second one runs nothing.
    Uses the fixture's own replay state (the cluster ends on ``deployed``, as the next test expects)."""
    primary, ce2, ce3 = flow.hosts
    ce3.check(f"sudo chmod a-x {CE_DIR}/setup")  # the cause: CE's setup cannot run on ce-3
    failing = dataclasses.replace(flow, version=wanted, deployed_version=deployed)
    try:
        failing.replay(failing.run_program(), state_file=replay.state_file)
        raise AssertionError("the upgrade was expected to fail at ce-3's join")
    except StepFailed as failed:
        assert str(failed).startswith("ce-3-steps-join-setup exited "), str(failed)
    for host in (primary, ce2):  # CE's primary serves the new version; ce-2 joined it
        assert host.check(f"sudo git -C {CE_DIR} describe --tags --exact-match").strip().lstrip("v") == wanted.lstrip("v")
    (window_copy,) = primary.check("sudo sh -c 'ls /var/backups/cloud-exchange-ha/ce-1-window-upgrade-to-*.tar'").split()
    assert f"-window-upgrade-to-{wanted}-" in window_copy
    assert window_copy_kept(primary, window_copy)

    for host in reversed(flow.hosts):  # the way back: CE stopped everywhere, CE's primary last
        ce_node(host, "stop --force")
    for host in flow.hosts:
        said = ce_node(host, "roll-back")
        assert said.startswith("roll-back: changed"), said
        assert ("start CE here first" in said) is (host is primary), (host.name, said)
    again = ce_node(ce2, "roll-back")
    assert again.startswith("roll-back: unchanged restored from ce-2-upgrade-to-"), again
    ce3.check(f"sudo chmod 0755 {CE_DIR}/setup")  # the cause fixed (the drain copy kept the broken mode)
    for host in flow.hosts:  # CE's primary first: its restored shared .env names it
        assert ce_node(host, "start").startswith("start: changed started:"), host.name
    code, report = node_report(primary)
    assert code == 0 and report["healthy"] is True, report

    before = {h.name: rerun_probe.standin_ce(h, CE_DIR) for h in flow.hosts}
    back = dataclasses.replace(flow, version=deployed, deployed_version=deployed)  # the failed up left the outputs as they were
    rolled = back.replay(back.run_program(), state_file=replay.state_file)
    ran = {r.name for r in rolled.results if r.ran}
    assert "ce-1-steps-cutover-stop" in ran and "ce-2-steps-drain-stop" in ran, sorted(ran)  # their inputs changed back
    by_name = {r.name: r for r in rolled.results}
    for node in ("ce-2", "ce-3"):
        if by_name[f"{node}-steps-drain-stop"].ran:
            assert verdict(by_name[f"{node}-steps-drain-stop"], "stop").startswith("stop: unchanged"), node
    assert verdict(by_name["ce-1-steps-cutover-stop"], "stop").startswith("stop: unchanged CE left running")
    for host in flow.hosts:
        now = rerun_probe.standin_ce(host, CE_DIR)
        assert now.stops == before[host.name].stops, f"CE was stopped on {host.name}: {now.stops}"
        assert now.mongod_pid is not None and now.mongod_pid == before[host.name].mongod_pid, host.name
        tag = host.check(f"sudo git -C {CE_DIR} describe --tags --exact-match").strip()
        assert tag.lstrip("v") == deployed.lstrip("v"), (host.name, tag)
        shared = f"{CE_DIR}/.env {flow.lab.config.shared_mount}/config/.env"
        found = host.check(f"sudo grep -h '^INSTALL_VERSION' {shared} || true").split()
        assert {v.split("=", 1)[1].strip("'\"").lstrip("v") for v in found} == {deployed.lstrip("v")}, (host.name, found)
    code, report = node_report(primary)
    assert code == 0 and report["healthy"] is True, report
    assert sorted(m["state"] for m in report["members"]) == ["PRIMARY", "SECONDARY", "SECONDARY"], report["members"]
    unchanged = back.replay(back.run_program(), state_file=replay.state_file)
    assert [r.name for r in unchanged.results if r.ran] == []


def assert_nothing_downloaded_inside_the_window(flow: Flow, replay: Replay) -> None:
    """The lab's http server (apt mirror, wheels, CE's git) served nothing inside the window (issue 15, part 3: the first install)."""
    to_wall = time.time() - time.monotonic()  # the replay's step times are monotonic
    window = window_steps(replay.results)
    assert [r.name for r in window] == ["ce-1-steps-cutover-stop", "ce-1-steps-cutover-setup", "ce-1-steps-cutover-start"]
    start, end = min(r.started for r in window) + to_wall, max(r.ended for r in window) + to_wall
    served = lab_requests(flow)
    assert served, "the lab's http server logged nothing: the check would prove nothing"
    # whole seconds strictly inside the window (the log has one-second resolution)
    inside = [(client, what) for when, client, what in served if math.ceil(start) <= when and when + 1 <= math.floor(end)]
    assert inside == [], f"downloaded while CE was down ({end - start:.1f} s window): {inside}"


def restore_the_standalone(flow: Flow) -> None:
    """README "Going back to a standalone": refused while CE runs; after CE stopped everywhere (the last one first), the
    migrate primary runs its standalone from the backup tarball again, the cluster's folder kept beside it; a second
    run changes nothing. Takes the flow's cluster down: last in its module."""
    primary = flow.hosts[0]
    rc, out, err = primary.run("sudo /opt/cloud-exchange-ha/ce-node restore-standalone")
    assert rc == 1 and "ERROR restore-standalone: CE still runs here" in err, out + err
    for host in reversed(flow.hosts):
        rc, out, err = host.run("sudo /opt/cloud-exchange-ha/ce-node stop --force")
        assert rc == 0, f"{host.name}: {out}{err}"
    rc, out, err = primary.run("sudo /opt/cloud-exchange-ha/ce-node restore-standalone")
    assert rc == 0, out + err
    assert out.startswith("restore-standalone: changed"), out
    assert "started: mongod answers but is not in a replica set" in out, out
    # the standalone's own files again; the cluster's folder kept beside it (its .env names the node HA_CURRENT_NODE on both
    # lines; 6.x HA reduces the local .env to the node's own keys, docs/ce-facts.md §1.8)
    env = primary.check(f"sudo cat {CE_DIR}/.env")
    assert "HA_CURRENT_NODE" not in env and "INSTALL_VERSION" in env
    aside = primary.check(f"sudo sh -c 'ls -d {CE_DIR}.cluster-*'").split()
    assert len(aside) == 1 and f"HA_CURRENT_NODE={primary.ip}" in primary.check(f"sudo cat {aside[0]}/.env").replace('"', "")
    if not flow.version.startswith("v6."):  # 5.x: the EFS folder left (6.x: the program wrote no line for /opt/shared/data)
        shared = flow.lab.config.shared_mount
        assert shared not in primary.check("cat /etc/fstab")
        assert primary.run(f"findmnt {shared}")[0] != 0
    rc, out, err = primary.run("sudo /opt/cloud-exchange-ha/ce-node restore-standalone")
    assert rc == 0 and out.startswith("restore-standalone: unchanged CE runs as the standalone restored from"), out + err
