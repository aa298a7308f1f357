"""The program's own remote steps, replayed over SSH on booted hosts: migrate and greenfield end verified.

Each flow boots its own three hosts (tests/hosts/replay_support.py), runs __main__.py under mocks
whose instances resolve to those hosts, and executes every remote.Command / CopyToRemote for
real, in the order the program declared, with the provider's re-run rule.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from offline import harness
from tests.hosts.replay import Replay
from tests.hosts.replay_support import JWT, MAINTENANCE, Flow, start_flow, verify_report

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
    _, _, replay = migrate_flow
    ran = [r for r in replay.results if r.ran]
    cutover = sorted((r for r in ran if "-cutover-" in r.name or r.name.endswith("-verify")), key=lambda r: r.started)
    prep_end = max(r.ended for r in ran if r not in cutover)
    assert cutover[0].name == "ce-1-steps-cutover-stop" and cutover[0].started >= prep_end
    for earlier, later in zip(cutover, cutover[1:], strict=False):
        assert earlier.ended <= later.started, (earlier.name, later.name)
    assert [r.name.split("-steps-")[1] for r in cutover] == ["cutover-stop", *["cutover-setup"] * 3, *["cutover-start"] * 3, "verify"]


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
    assert not {n for n in ran if "-cutover-" in n}
    assert verify_report(again)["healthy"] is True


def test_greenfield_ends_with_a_verified_cluster(greenfield_flow: Replayed) -> None:
    flow, _, replay = greenfield_flow
    assert_verified(flow, replay)
    again = flow.replay(flow.run_program(), state_file=replay.state_file)
    assert [r.name for r in again.results if r.ran] == []


def test_greenfield_6x_ends_with_a_verified_cluster(greenfield6_flow: Replayed) -> None:
    flow, _, replay = greenfield6_flow
    assert_verified(flow, replay)
    ran = [r.name.split("-steps-")[1] for r in sorted(replay.results, key=lambda r: r.started)
           if "-cutover-" in r.name]
    assert ran == ["cutover-stop", "cutover-setup", "cutover-join-ce-2", "cutover-setup", "cutover-join-ce-3",
                   "cutover-setup", "cutover-start", "cutover-start", "cutover-start"]
    again = flow.replay(flow.run_program(), state_file=replay.state_file)
    assert [r.name for r in again.results if r.ran] == []


def test_migrate_6x_from_a_standalone_ends_verified(migrate6_flow: Replayed) -> None:
    flow, _, replay = migrate6_flow
    assert_verified(flow, replay)
    rc, out, _ = flow.hosts[0].run("sudo ls /var/backups/cloud-exchange-ha/")
    assert rc == 0 and ".tar.gz" in out, "the 6.x standalone is backed up on its own disk before the cutover"
    rc, _, err = flow.hosts[0].run("sudo /opt/cloud-exchange-ha/ce-node inspect --check")
    assert rc == 0, err
