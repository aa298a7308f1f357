"""cenode.staged: an upgrade fetched while CE serves is checked out only by setup, after CE's stop, in CE's order.

Real git on a clone of the stand-in repository; CE's setup changing the modes of tracked files is
reproduced with chmod (docs/ce-lifecycle.md §1.5: a plain checkout refuses then).
"""

from __future__ import annotations

import datetime
import os
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from scripts.cenode import setup_due, setup_marker, staged, upgrade_copies
from scripts.cenode.phases import backup
from scripts.cenode.system import Ctx, PhaseError

from .conftest import FakeRunner, real_ctx


def git(repo: Path | str, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


def set_up_at(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], standin_repo: str, tmp_path: Path, running: str, wanted: str,
              role: str = "primary", shared_version: str = "") -> tuple[Ctx, Path]:
    """A node where CE's HA setup completed at ``running``, with ``wanted`` fetched (staged), setup's mode changes made."""
    ce_dir = tmp_path / "ce"
    subprocess.run(["git", "clone", "-q", standin_repo, str(ce_dir)], check=True)
    git(ce_dir, "-c", "advice.detachedHead=false", "checkout", "-q", running)
    (ce_dir / "setup").chmod(0o700)  # what CE's setup does to tracked files (docs/ce-lifecycle.md §1.5)
    (ce_dir / ".env").write_text(f"INSTALL_VERSION={running.lstrip('v')}\nHA_CURRENT_NODE=127.0.0.29\n")
    ctx, _ = make_ctx("setup", ce_dir=str(ce_dir), ce_version=wanted, role=role, node_ip="127.0.0.29")
    real_ctx(ctx)
    if shared_version:
        (Path(ctx.cfg.shared_dir) / "config").mkdir(parents=True)
        (Path(ctx.cfg.shared_dir) / "config" / ".env").write_text(f"INSTALL_VERSION={shared_version}\nHA_PRIMARY_NODE_IP=127.0.0.21\n")
    setup_marker.record(ctx.env.state_dir, "digest-of-the-last-setup", role, git(ce_dir, "rev-parse", "HEAD"))
    return ctx, ce_dir


def test_a_staged_tag_makes_setup_due_and_setup_checks_it_out_despite_the_mode_changes(
    make_ctx: Callable[..., tuple[Ctx, FakeRunner]], standin_repo: str, tmp_path: Path
) -> None:
    ctx, ce_dir = set_up_at(make_ctx, standin_repo, tmp_path, "5.1.1", "v5.1.2")
    before = git(ce_dir, "rev-parse", "HEAD")
    assert setup_due.pending(ctx) == ("CE v5.1.2 is fetched and waits for its checkout (an upgrade: setup checks it out after CE "
                                      "stopped here)")
    assert staged.check_out(ctx) == f"checked out v5.1.2 (was {before[:12]})"
    assert git(ce_dir, "rev-parse", "HEAD") == git(standin_repo, "rev-parse", "v5.1.2^{commit}")
    assert os.stat(ce_dir / "setup").st_mode & 0o777 == 0o700  # the mode change survived: core.fileMode=false
    assert (ce_dir / ".env").read_text() == "INSTALL_VERSION=5.1.1\nHA_CURRENT_NODE=127.0.0.29\n"  # untracked: kept
    assert staged.pending(ctx) == "" and staged.check_out(ctx) == ""  # a second run changes nothing


def test_nothing_is_staged_before_ce_is_set_up_here(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], standin_repo: str,
                                                    tmp_path: Path) -> None:
    ctx, ce_dir = set_up_at(make_ctx, standin_repo, tmp_path, "5.1.1", "v5.1.2")
    head = git(ce_dir, "rev-parse", "HEAD")
    (ce_dir / ".env").write_text("INSTALL_VERSION=5.1.1\n")  # a standalone again (restore-standalone): the marker is stale
    assert not staged.set_up_here(ctx) and staged.pending(ctx) == "" and staged.check_out(ctx) == ""
    (ce_dir / ".env").write_text("INSTALL_VERSION=5.1.1\nHA_CURRENT_NODE=127.0.0.29\n")
    os.remove(os.path.join(ctx.env.state_dir, setup_marker.MARKER))  # CE's files say HA, but our setup never completed
    assert not staged.set_up_here(ctx) and staged.pending(ctx) == "" and staged.check_out(ctx) == ""
    assert git(ce_dir, "rev-parse", "HEAD") == head


def test_a_secondary_sets_up_the_new_version_only_after_ces_primary_did(
    make_ctx: Callable[..., tuple[Ctx, FakeRunner]], standin_repo: str, tmp_path: Path
) -> None:
    ctx, ce_dir = set_up_at(make_ctx, standin_repo, tmp_path, "5.1.1", "v5.1.2", role="secondary", shared_version="5.1.1")
    head = git(ce_dir, "rev-parse", "HEAD")
    with pytest.raises(PhaseError) as refused:
        staged.check_out(ctx)
    assert refused.value.what.startswith(f"CE's primary has set up 5.1.1 (INSTALL_VERSION in {ctx.cfg.shared_dir}/config/.env), "
                                         "not v5.1.2: a secondary inherits the image tags")
    assert "HA_PRIMARY_NODE_IP" in refused.value.fix
    assert git(ce_dir, "rev-parse", "HEAD") == head
    (Path(ctx.cfg.shared_dir) / "config" / ".env").write_text("INSTALL_VERSION=5.1.2\nHA_PRIMARY_NODE_IP=127.0.0.21\n")
    assert staged.check_out(ctx).startswith("checked out v5.1.2")


def test_the_checkout_waits_for_ces_stop(
    make_ctx: Callable[..., tuple[Ctx, FakeRunner]], standin_repo: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx, ce_dir = set_up_at(make_ctx, standin_repo, tmp_path, "5.1.1", "v5.1.2")
    head = git(ce_dir, "rev-parse", "HEAD")
    monkeypatch.setattr(staged, "running", lambda _ctx, _probe: ["ta_cloud_exchange-core-1"])
    with pytest.raises(PhaseError) as refused:
        staged.check_out(ctx)
    assert refused.value.what == ("CE still runs here (ta_cloud_exchange-core-1): the staged v5.1.2 is checked out only after "
                                  "CE's stop")
    assert git(ce_dir, "rev-parse", "HEAD") == head


@pytest.mark.parametrize(("installed", "wanted", "refused"), [
    ((5, 1, 1), (5, 1, 2), False), ((6, 0, 1), (6, 1, 0), False), ((6, 0, 0), (6, 0, 1), False), ((5, 1, 2), (5, 1, 2), False),
    ((5, 1, 2), (5, 1, 1), True), ((6, 1, 0), (6, 0, 1), True), ((5, 1, 0), (5, 1, 2), True), ((6, 0, 0), (6, 2, 0), True),
])  # fmt: skip
def test_where_ce_is_set_up_only_the_listed_upgrades_may_move_it(
    installed: tuple[int, int, int], wanted: tuple[int, int, int], refused: bool
) -> None:
    assert (staged.move_refused(installed, wanted) is not None) is refused


# ---- backup --stopped-member: the drain's copy of a stopped member before the window (docs/ce-lifecycle.md §8) ----


def test_a_stopped_member_with_an_upgrade_staged_keeps_a_copy_of_its_ce_and_the_shared_config(
    make_ctx: Callable[..., tuple[Ctx, FakeRunner]], standin_repo: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx, ce_dir = set_up_at(make_ctx, standin_repo, tmp_path, "5.1.1", "v5.1.2", role="secondary", shared_version="5.1.1")
    (ce_dir / "data" / "mongo-data").mkdir(parents=True, exist_ok=True)
    (ce_dir / "data" / "mongo-data" / "collection-0.wt").write_bytes(b"wiredtiger pages")
    monkeypatch.setattr(upgrade_copies, "running", lambda _ctx, _probe: [])  # the drain stopped CE here
    when = datetime.datetime(2026, 12, 3, 14, 0, tzinfo=datetime.UTC)
    made = backup.run(ctx, now=when, stopped_member=True)
    folder = Path(ctx.env.host_path("/var/backups/cloud-exchange-ha"))
    tarball = folder / "ce-1-upgrade-to-v5.1.2-20261203T140000Z.tar.gz"
    assert made.status == "changed" and made.summary.startswith(f"{tarball} ("), made.summary
    names = tarfile.open(tarball).getnames()
    assert f"{str(ce_dir).lstrip('/')}/data/mongo-data/collection-0.wt" in names
    assert f"{ctx.cfg.shared_dir.lstrip('/')}/config/.env" in names
    assert oct(folder.stat().st_mode & 0o777) == "0o700" and oct(tarball.stat().st_mode & 0o777) == "0o600"
    again = backup.run(ctx, now=when + datetime.timedelta(minutes=5), stopped_member=True)
    assert again.status == "unchanged" and str(tarball) in again.summary
    assert sorted(p.name for p in folder.iterdir()) == [tarball.name, tarball.name + ".sha256", tarball.name + ".tree"]


def test_no_copy_where_ce_runs_or_nothing_is_staged(
    make_ctx: Callable[..., tuple[Ctx, FakeRunner]], standin_repo: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx, _ = set_up_at(make_ctx, standin_repo, tmp_path, "5.1.1", "v5.1.2")
    monkeypatch.setattr(upgrade_copies, "running", lambda _ctx, _probe: ["ta_cloud_exchange-mongodb-primary-1"])
    held = backup.run(ctx, stopped_member=True)
    assert held.status == "unchanged" and held.summary.startswith("CE runs here (ta_cloud_exchange-mongodb-primary-1)")
    os.remove(os.path.join(ctx.env.state_dir, setup_marker.MARKER))
    monkeypatch.setattr(upgrade_copies, "running", lambda _ctx, _probe: [])
    assert backup.run(ctx, stopped_member=True).summary == "no upgrade staged here: nothing to copy before the window"
    assert not Path(ctx.env.host_path("/var/backups/cloud-exchange-ha")).exists()
