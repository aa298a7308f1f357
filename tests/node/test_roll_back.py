"""The way back from a failed upgrade: the window copy CE's primary keeps before its checkout (cenode.upgrade_copies) and
``ce-node roll-back`` (cenode.phases.roll_back), with real git and real tar on a clone of the stand-in repository.

The upgrade between the copy and the roll-back is played by hand here (checkout, the new version's .env files, a new
setup marker, a file the new setup adds); the booted hosts replay a real failed one (tests/hosts/test_replay_greenfield.py).
"""

from __future__ import annotations

import datetime
import os
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from scripts.cenode import setup_marker, staged, upgrade_copies
from scripts.cenode.phases import backup, roll_back
from scripts.cenode.system import Ctx, PhaseError

from .conftest import FakeRunner, gluster_layout_at, real_ctx
from .test_staged import git, set_up_at

WHEN = datetime.datetime(2026, 12, 3, 14, 0, tzinfo=datetime.UTC)
COPIES = "/var/backups/cloud-exchange-ha"
NOBODY: Callable[[str], dict[str, Any] | None] = lambda _ip: None  # noqa: E731 - no mongod answers anywhere
STOPPED: Callable[[], dict[str, Any] | None] = lambda: None  # noqa: E731 - this node's mongod does not answer


@pytest.fixture
def stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    """CE runs nowhere on this node (no container, no mongod): the window, or after the drain."""
    monkeypatch.setattr(upgrade_copies, "running", lambda _ctx, _probe: [])
    monkeypatch.setattr(roll_back, "running", lambda _ctx, _probe: [])


def primary_in_the_window(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], standin_repo: str, tmp_path: Path) -> tuple[Ctx, Path, Path]:
    """CE's primary at 5.1.1 with v5.1.2 staged, its shared folder holding config, secrets, plugins and migrate backups."""
    ctx, ce_dir = set_up_at(make_ctx, standin_repo, tmp_path, "5.1.1", "v5.1.2", role="primary", shared_version="5.1.1")
    shared = Path(ctx.cfg.shared_dir)
    (shared / ".env.keys").write_text("encrypted secrets of 5.1.1\n")
    (shared / "plugins" / "custom").mkdir(parents=True)
    (shared / "plugins" / "custom" / "main.py").write_text("a user's plugin\n")
    (shared / "backups").mkdir()
    (shared / "backups" / "ce-1-ta_cloud_exchange-20261101T000000Z.tar.gz").write_bytes(b"the standalone, 5 GB")
    (ce_dir / "data" / "mongo-data").mkdir(parents=True, exist_ok=True)
    (ce_dir / "data" / "mongo-data" / "collection-0.wt").write_bytes(b"pages as of the window")
    return ctx, ce_dir, shared


def upgrade_by_hand(ctx: Ctx, ce_dir: Path, shared: Path) -> None:
    """What the window's setup and a secondary's join change, played by hand: checkout, .env files, marker, new files."""
    (shared / "config" / ".env").write_text("INSTALL_VERSION=5.1.2\nHA_PRIMARY_NODE_IP=127.0.0.21\n")  # the primary's setup
    assert staged.check_out(ctx).startswith("checked out v5.1.2")
    (ce_dir / ".env").write_text("INSTALL_VERSION=5.1.2\nHA_CURRENT_NODE=127.0.0.29\n")
    (ce_dir / "data" / "mongo-data").mkdir(parents=True, exist_ok=True)
    (ce_dir / "data" / "mongo-data" / "collection-0.wt").write_bytes(b"pages written by 5.1.2")
    (shared / "config" / "new-in-5.1.2.pem").write_text("a certificate the new setup made\n")
    setup_marker.record(ctx.env.state_dir, "digest-of-the-5.1.2-setup", "primary", git(ce_dir, "rev-parse", "HEAD"))


def test_the_primary_copies_its_stopped_ce_and_the_whole_shared_folder_uncompressed_before_the_checkout(
    make_ctx: Callable[..., tuple[Ctx, FakeRunner]], standin_repo: str, tmp_path: Path, stopped: None
) -> None:
    ctx, ce_dir, shared = primary_in_the_window(make_ctx, standin_repo, tmp_path)
    kept = upgrade_copies.window_copy(ctx, now=WHEN)
    copy = Path(ctx.env.host_path(COPIES)) / "ce-1-window-upgrade-to-v5.1.2-20261203T140000Z.tar"
    assert kept.startswith(f"kept {copy} ("), kept
    with tarfile.open(copy, "r:") as plain:  # "r:" refuses a compressed file
        names = plain.getnames()
    relative = str(ce_dir).lstrip("/"), str(shared).lstrip("/")
    assert f"{relative[0]}/data/mongo-data/collection-0.wt" in names
    assert f"{relative[0]}/.git/HEAD" in names  # the checkout as it was: 5.1.1
    for path in ("config/.env", ".env.keys", "plugins/custom/main.py"):
        assert f"{relative[1]}/{path}" in names, path
    assert not [n for n in names if n.startswith(f"{relative[1]}/backups")]  # the standalone's tarballs are not copied again
    assert os.path.join(ctx.env.state_dir, "setup-done.json").lstrip("/") in names
    assert oct(copy.stat().st_mode & 0o777) == "0o600"
    assert upgrade_copies.window_copy(ctx, now=WHEN + datetime.timedelta(minutes=1)).startswith(f"{copy} already holds this tree")


def test_no_window_copy_without_a_staged_upgrade_or_while_ce_runs(
    make_ctx: Callable[..., tuple[Ctx, FakeRunner]], standin_repo: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx, _, _ = primary_in_the_window(make_ctx, standin_repo, tmp_path)
    monkeypatch.setattr(upgrade_copies, "running", lambda _ctx, _probe: ["ta_cloud_exchange-core-1"])
    assert upgrade_copies.window_copy(ctx, now=WHEN) == ""
    monkeypatch.setattr(upgrade_copies, "running", lambda _ctx, _probe: [])
    assert staged.check_out(ctx)  # the checkout done: nothing staged any more
    assert upgrade_copies.window_copy(ctx, now=WHEN) == ""
    assert not Path(ctx.env.host_path(COPIES)).exists()


def test_a_copy_that_cannot_be_written_stops_the_window_before_anything_changed(
    make_ctx: Callable[..., tuple[Ctx, FakeRunner]], standin_repo: str, tmp_path: Path, stopped: None,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx, ce_dir, _ = primary_in_the_window(make_ctx, standin_repo, tmp_path)
    head = git(ce_dir, "rev-parse", "HEAD")

    def full(*_args: Any) -> None:
        raise PhaseError("tar failed: No space left on device", "look at the log; is the folder writable and large enough?")

    monkeypatch.setattr(upgrade_copies, "write_tarball", full)
    with pytest.raises(PhaseError) as failed:
        upgrade_copies.window_copy(ctx, now=WHEN)
    assert failed.value.what == "the copy of CE before the upgrade failed: tar failed: No space left on device"
    assert "nothing of CE changed here yet" in failed.value.fix and "ce-node start" in failed.value.fix
    assert git(ce_dir, "rev-parse", "HEAD") == head


def test_roll_back_on_the_window_primary_puts_its_ce_the_shared_folder_and_its_setup_marker_back(
    make_ctx: Callable[..., tuple[Ctx, FakeRunner]], standin_repo: str, tmp_path: Path, stopped: None
) -> None:
    ctx, ce_dir, shared = primary_in_the_window(make_ctx, standin_repo, tmp_path)
    old_head = git(ce_dir, "rev-parse", "HEAD")
    old_marker = setup_marker.recorded(ctx.env.state_dir)
    upgrade_copies.window_copy(ctx, now=WHEN)
    upgrade_by_hand(ctx, ce_dir, shared)

    done = roll_back.run(ctx, ask=NOBODY, probe=STOPPED, now=WHEN + datetime.timedelta(hours=1))
    assert done.status == "changed", done.summary
    assert f"{ce_dir} kept as {ce_dir}.upgrade-20261203T150000Z" in done.summary
    assert f"{shared}/config kept as {shared}/config.upgrade-20261203T150000Z" in done.summary
    assert "start CE here first" in done.summary
    assert git(ce_dir, "rev-parse", "HEAD") == old_head
    assert (ce_dir / ".env").read_text() == "INSTALL_VERSION=5.1.1\nHA_CURRENT_NODE=127.0.0.29\n"
    assert (ce_dir / "data" / "mongo-data" / "collection-0.wt").read_bytes() == b"pages as of the window"
    assert (shared / "config" / ".env").read_text() == "INSTALL_VERSION=5.1.1\nHA_PRIMARY_NODE_IP=127.0.0.21\n"
    assert not (shared / "config" / "new-in-5.1.2.pem").exists()  # the new setup's config is aside, not mixed in
    assert (shared / "config.upgrade-20261203T150000Z" / "new-in-5.1.2.pem").exists()
    assert (Path(f"{ce_dir}.upgrade-20261203T150000Z") / ".env").read_text().startswith("INSTALL_VERSION=5.1.2")
    assert setup_marker.recorded(ctx.env.state_dir) == old_marker  # a run with the old ceVersion finds setup done
    assert (shared / "plugins" / "custom" / "main.py").read_text() == "a user's plugin\n"
    assert staged.pending(ctx)  # node.json still names v5.1.2 until pulumi up runs with the old ceVersion

    again = roll_back.run(ctx, ask=NOBODY, probe=STOPPED)
    assert again.status == "unchanged" and again.summary.startswith("restored from ce-1-window-upgrade-to-v5.1.2-20261203T140000Z.tar")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("ce.upgrade-")) == ["ce.upgrade-20261203T150000Z"]


def test_roll_back_on_a_secondary_restores_its_drain_copy_but_not_the_shared_config(
    make_ctx: Callable[..., tuple[Ctx, FakeRunner]], standin_repo: str, tmp_path: Path, stopped: None
) -> None:
    ctx, ce_dir = set_up_at(make_ctx, standin_repo, tmp_path, "5.1.1", "v5.1.2", role="secondary", shared_version="5.1.1")
    shared = Path(ctx.cfg.shared_dir)
    old_head, old_marker = git(ce_dir, "rev-parse", "HEAD"), setup_marker.recorded(ctx.env.state_dir)
    drained = backup.run(ctx, now=WHEN, stopped_member=True)
    assert drained.status == "changed" and "ce-1-upgrade-to-v5.1.2-20261203T140000Z.tar.gz" in drained.summary
    upgrade_by_hand(ctx, ce_dir, shared)  # the shared config now as CE's primary restored it (here: the new one)

    done = roll_back.run(ctx, ask=lambda ip: {"setName": "cloudexchange", "isWritablePrimary": True},  # others may run
                         probe=STOPPED, now=WHEN + datetime.timedelta(hours=1))
    assert done.status == "changed" and "once CE's primary serves again" in done.summary, done.summary
    assert git(ce_dir, "rev-parse", "HEAD") == old_head and setup_marker.recorded(ctx.env.state_dir) == old_marker
    assert (shared / "config" / ".env").read_text().startswith("INSTALL_VERSION=5.1.2")  # untouched: not this copy's to restore
    assert not (shared.parent / "shared" / "config.upgrade-20261203T150000Z").exists()


def test_roll_back_refuses_while_ce_runs_a_damaged_copy_or_none(
    make_ctx: Callable[..., tuple[Ctx, FakeRunner]], standin_repo: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx, ce_dir, shared = primary_in_the_window(make_ctx, standin_repo, tmp_path)
    monkeypatch.setattr(upgrade_copies, "running", lambda _ctx, _probe: [])
    with pytest.raises(PhaseError) as none:
        roll_back.run(ctx, ask=NOBODY, probe=STOPPED)
    assert none.value.what.startswith("no copy of this node for the upgrade to v5.1.2 in ")
    upgrade_copies.window_copy(ctx, now=WHEN)
    upgrade_by_hand(ctx, ce_dir, shared)
    head = git(ce_dir, "rev-parse", "HEAD")

    monkeypatch.setattr(roll_back, "running", lambda _ctx, _probe: ["ta_cloud_exchange-core-1"])
    with pytest.raises(PhaseError) as here:
        roll_back.run(ctx, ask=NOBODY, probe=STOPPED)
    assert here.value.what == "CE still runs here: ta_cloud_exchange-core-1"
    monkeypatch.setattr(roll_back, "running", lambda _ctx, _probe: [])
    member = {"setName": "cloudexchange", "secondary": True, "me": "127.0.0.22:27017"}
    with pytest.raises(PhaseError) as elsewhere:
        roll_back.run(ctx, ask=lambda ip: member if ip == "127.0.0.22" else None, probe=STOPPED)
    assert elsewhere.value.what.startswith("CE still runs as a replica-set member on 127.0.0.22 (")
    copy = Path(ctx.env.host_path(COPIES)) / "ce-1-window-upgrade-to-v5.1.2-20261203T140000Z.tar"
    with copy.open("ab") as damaged:
        damaged.write(b"\0")
    with pytest.raises(PhaseError) as damage:
        roll_back.run(ctx, ask=NOBODY, probe=STOPPED)
    assert "does not match its .sha256" in damage.value.what
    assert git(ce_dir, "rev-parse", "HEAD") == head and not list(tmp_path.glob("ce.upgrade-*"))  # nothing moved


def test_on_6x_the_window_copy_goes_back_only_into_the_mounted_volume(
    make_ctx: Callable[..., tuple[Ctx, FakeRunner]], standin_repo: str, tmp_path: Path, stopped: None
) -> None:
    """6.x: the shared folder is the GlusterFS volume's mount; unmounted, the copy's shared part would land on the node's
    own disk under the folder, so roll-back refuses before it moves anything."""
    opt = tmp_path / "opt"
    ce_dir = tmp_path / "ce"
    subprocess.run(["git", "clone", "-q", standin_repo, str(ce_dir)], check=True)
    git(ce_dir, "-c", "advice.detachedHead=false", "checkout", "-q", "v6.0.1")
    (ce_dir / ".env").write_text("HA_CURRENT_NODE=127.0.0.29\n")
    ctx, _ = make_ctx("roll-back", ce_dir=str(ce_dir), ce_version="v6.1.0", node_ip="127.0.0.29", shared_dir=str(opt / "data"))
    real_ctx(ctx)
    ctx.env.gluster = gluster_layout_at(str(opt))
    (opt / "data" / "config").mkdir(parents=True)
    (opt / "data" / "config" / ".env").write_text("INSTALL_VERSION=6.0.1\nHA_PRIMARY_NODE_IP=127.0.0.29\n")
    setup_marker.record(ctx.env.state_dir, "digest-of-the-6.0.1-setup", "primary", git(ce_dir, "rev-parse", "HEAD"))
    assert upgrade_copies.window_copy(ctx, now=WHEN).startswith("kept ")
    head = git(ce_dir, "rev-parse", "HEAD")

    with pytest.raises(PhaseError) as unmounted:
        roll_back.run(ctx, ask=NOBODY, probe=STOPPED)
    assert unmounted.value.what == (f"{opt}/data is not the CloudExchange volume's mount here: this node's copy would put the "
                                    "shared folder on this node's own disk")
    assert git(ce_dir, "rev-parse", "HEAD") == head and not list(tmp_path.glob("ce.upgrade-*"))
    mountinfo = Path(ctx.env.host_path("/proc/self/mountinfo"))
    mountinfo.write_text(f"36 25 0:32 / {opt}/data rw,relatime - fuse.glusterfs 127.0.0.29:/CloudExchange rw\n")
    done = roll_back.run(ctx, ask=NOBODY, probe=STOPPED, now=WHEN)
    assert done.status == "changed" and "and the shared folder restored from" in done.summary, done.summary
