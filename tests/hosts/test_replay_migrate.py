"""Replayed on booted hosts: a 5.x migrate ends verified, keeps the standalone's secrets, runs its window
one step at a time, downloads nothing inside it, and re-runs nothing or everything (a new key) without
stopping CE. One lab for the whole module (tests/hosts/replay_checks.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.hosts import rerun_probe
from tests.hosts.replay_checks import (
    Replayed,
    assert_nothing_downloaded_inside_the_window,
    assert_verified,
    replayed,
    restore_the_standalone,
    rotate_ssh_key,
)
from tests.hosts.replay_support import CE_DIR, JWT, MAINTENANCE, acted, verify_report, window_steps


@pytest.fixture(scope="module")
def migrate_flow() -> Iterator[Replayed]:
    yield from replayed("migrate")


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
    tail = sorted(
        (r for r in ran if any(f"-{s}-" in r.name for s in ("drain", "cutover", "join")) or r.name.endswith("-verify")), key=lambda r: r.started
    )
    prep_end = max(r.ended for r in ran if r not in tail)
    assert tail[0].started >= prep_end
    for earlier, later in zip(tail, tail[1:], strict=False):
        assert earlier.ended <= later.started, (earlier.name, later.name)
    # every node in turn: the drain (nothing runs on the secondaries yet), the window (only CE's primary, ce-1, acts),
    # the joins (only the secondaries act), then verify
    assert [r.name for r in tail] == [
        *(f"ce-{i}-steps-drain-{s}" for i in (1, 2, 3) for s in ("stop", "backup")),
        *(f"ce-{i}-steps-cutover-{s}" for i in (1, 2, 3) for s in ("stop", "setup", "start")),
        *(f"ce-{i}-steps-join-{s}" for i in (1, 2, 3) for s in ("setup", "start")),
        "ce-1-steps-verify",
    ]
    gated = {r.name for r in tail if not acted(r)}
    assert gated == {
        "ce-1-steps-drain-stop",
        "ce-2-steps-cutover-stop",
        "ce-2-steps-cutover-start",
        "ce-3-steps-cutover-stop",
        "ce-3-steps-cutover-start",
        "ce-1-steps-join-start",
    }  # setup's output is secret: not seen here
    assert [r.name for r in window_steps(replay.results)] == [f"ce-1-steps-cutover-{s}" for s in ("stop", "setup", "start")]
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


def test_a_new_bundle_reruns_preparation_not_the_cutover(migrate_flow: Replayed, monkeypatch: pytest.MonkeyPatch) -> None:
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


def test_a_rotated_ssh_key_reruns_every_step_and_stops_ce_nowhere(migrate_flow: Replayed) -> None:
    flow, _, replay = migrate_flow
    rotate_ssh_key(flow, replay)


# ---- nothing is downloaded while CE is down (issue 15, part 3: the first install) ----


def test_nothing_is_downloaded_inside_the_window(migrate_flow: Replayed) -> None:
    flow, _, replay = migrate_flow
    assert_nothing_downloaded_inside_the_window(flow, replay)


def test_the_migrate_primary_goes_back_to_its_standalone(migrate_flow: Replayed) -> None:
    """Last in the module: it takes the cluster down (README "Going back to a standalone")."""
    flow, _, _ = migrate_flow
    restore_the_standalone(flow)
