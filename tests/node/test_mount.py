"""mount: the fstab line, mountinfo parsing (cenode.mounts), the docker drop-in, the probe and CE's shared folders."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from scripts.cenode import __main__ as cli
from scripts.cenode import mounts
from scripts.cenode.phases import mount
from scripts.cenode.system import CommandTimeout, Ctx, PhaseError

from .conftest import FakeRunner

SOURCE = "fs-0123.efs.eu-west-1.amazonaws.com:/"
OPTS = "nfsvers=4.1,rsize=1048576,wsize=1048576,hard,timeo=600,retrans=2,noresvport"
WANTED = f"{SOURCE} /mnt/ce-ha nfs4 {OPTS},_netdev,nofail 0 0"
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="chown to uid 1001 needs root")
#: CE's shared layout as docs/ce-facts.md §2.1 states it (create_required_files), not read from mount.SHARED_LAYOUT:
#: folder -> (mode, owner uid); config's owner is not CE's, backups/ is ours (the backup phase's tarballs, closed to others)
SHARED_LAYOUT = [
    ("config", 0o744, 0),
    ("config/ssl_certs", 0o755, 1001),
    ("config/ca_certs", 0o755, 1001),
    ("repos", 0o755, 1001),
    ("plugins", 0o755, 1001),
    ("custom_plugins", 0o755, 1001),
    ("backups", 0o700, 0),
]


def test_fstab_line_adds_netdev_and_nofail_once() -> None:
    assert mount.fstab_line(SOURCE, "/mnt/ce-ha", "nfs4", OPTS) == WANTED
    assert mount.fstab_line(SOURCE, "/mnt/ce-ha", "nfs4", "nofail,_netdev") == f"{SOURCE} /mnt/ce-ha nfs4 nofail,_netdev 0 0"


def test_fstab_escapes_spaces() -> None:
    line = mount.fstab_line("srv:/a b", "/mnt/x y", "nfs4", "rw")
    assert line.split()[:2] == ["srv:/a\\040b", "/mnt/x\\040y"]
    assert mounts.fstab_unescape("/mnt/x\\040y") == "/mnt/x y"


BASE = "# /etc/fstab\nUUID=abc / ext4 defaults 0 1\n"
MARK = "# cloud-exchange-ha: the next line is managed by cloud-exchange-ha\n"
OURS = MARK + WANTED + "\n"
#: other people's lines, with their odd spacing, tabs and comments, that must keep every byte
FOREIGN = (
    "# /etc/fstab: static file system information.\n"
    "UUID=abc\t/\text4\terrors=remount-ro 0       1\n"
    "\n"
    "tmpfs /tmp tmpfs defaults,size=1g 0 0   # the admin's comment\n"
    "srv:/home   /home  nfs4  rw,hard  0 0\n"
    "#old:/ /mnt/ce-ha nfs4 defaults 0 0\n"
)


@pytest.mark.parametrize(
    ("before", "after", "changed"),
    [
        (BASE, BASE + OURS, True),  # absent: appended with its mark
        (BASE + OURS, BASE + OURS, False),  # exactly there: untouched
        (BASE + MARK + WANTED.replace(" 0 0", "   0   0") + "\n", BASE + MARK + WANTED.replace(" 0 0", "   0   0") + "\n", False),  # spacing
        (BASE + MARK + "old:/ /mnt/ce-ha nfs4 defaults 0 0\n", BASE + OURS, True),  # ours, different: rewritten
        (BASE + OURS + OURS, BASE + OURS, True),  # our duplicates: one left
        (BASE + MARK + "old:/ /mnt/ce-ha/ nfs4 defaults 0 0\n", BASE + OURS, True),  # ours, trailing slash
        (FOREIGN, FOREIGN + OURS, True),  # a commented-out line is not a line
        (FOREIGN.rstrip("\n"), FOREIGN + OURS, True),  # no line end at the end: only one is added
        ("", OURS, True),
        # someone else's line that says exactly what we would write: left as the one line
        (BASE + WANTED + "\n", BASE + WANTED + "\n", False),
        (BASE + WANTED + "\n" + OURS, BASE + WANTED + "\n", True),  # ours would duplicate it: ours goes
        # our line for another folder (sharedDir changed) is not this mount point's: kept
        (BASE + MARK + "old:/ /mnt/other nfs4 defaults 0 0\n", BASE + MARK + "old:/ /mnt/other nfs4 defaults 0 0\n" + OURS, True),
    ],
)
def test_rewrite_fstab(before: str, after: str, changed: bool) -> None:
    assert mounts.rewrite_fstab(before, WANTED, "/mnt/ce-ha") == (after, changed)


def test_rewrite_fstab_keeps_every_foreign_byte_when_it_replaces_its_own_line() -> None:
    before = FOREIGN + MARK + "old:/ /mnt/ce-ha nfs4 defaults 0 0\n" + "srv:/data /data nfs4 rw 0 0\n"
    after, changed = mounts.rewrite_fstab(before, WANTED, "/mnt/ce-ha")
    assert changed and after == FOREIGN + "srv:/data /data nfs4 rw 0 0\n" + OURS
    assert after.startswith(FOREIGN)  # byte-identical, tabs and trailing comment included


@pytest.mark.parametrize(
    "line",
    [
        "old:/ /mnt/ce-ha nfs4 defaults 0 0",  # someone else's mount of the folder
        "old:/ /mnt/ce-ha/ nfs4 defaults 0 0",  # the same folder, spelled with a slash
        "UUID=123 /mnt/ce-ha ext4 defaults 0 2",
        WANTED.replace(",_netdev,nofail", ""),  # almost ours, but not marked and not equal
    ],
)
def test_rewrite_fstab_refuses_another_line_for_the_mount_point(line: str) -> None:
    for before in (FOREIGN + line + "\n", FOREIGN + line + "\n" + OURS, FOREIGN + OURS + line + "\n"):
        with pytest.raises(mounts.ForeignFstabLine) as refused:
            mounts.rewrite_fstab(before, WANTED, "/mnt/ce-ha")
        assert refused.value.line.strip() == line and "/mnt/ce-ha" in str(refused.value)


MOUNTINFO = """22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/root rw
90 22 0:50 / /mnt/ce-ha rw,relatime shared:40 - nfs4 fs-0123.efs.eu-west-1.amazonaws.com:/ rw,vers=4.1
91 22 8:1 /srv/nfs /mnt/with\\040space rw,relatime - ext4 /dev/root rw
"""


def test_parse_mountinfo_sees_bind_mounts_and_escapes() -> None:
    table = mounts.parse_mountinfo(MOUNTINFO)
    assert table["/mnt/ce-ha"] == ("nfs4", SOURCE)
    assert table["/mnt/with space"] == ("ext4", "/dev/root")  # a bind mount: os.path.ismount misses these


def test_dropin_orders_docker_after_the_mount() -> None:
    assert "[Unit]\nRequiresMountsFor=/mnt/ce-ha\n" in mount.dropin_text("/mnt/ce-ha")


def mounted(ctx: Ctx, shared: Path) -> None:
    Path(ctx.env.host_path("/proc/self/mountinfo")).write_text(f"22 1 8:1 / / rw - ext4 /dev/root rw\n95 22 8:1 /x {shared} rw - ext4 /dev/root rw\n")


@needs_root
def test_already_mounted_folder_is_not_remounted_but_made_durable(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "config").mkdir(mode=0o700)  # exists already: must not be changed
    ctx, runner = make_ctx("mount", shared_dir=str(shared), shared_source=SOURCE, tools=["docker", "systemctl"])
    mounted(ctx, shared)
    fstab = Path(ctx.env.host_path("/etc/fstab"))
    fstab.write_text(BASE)
    result = mount.run(ctx)
    assert result.status == "changed"
    assert not runner.ran("mount")
    assert fstab.read_text() == BASE + MARK + f"{SOURCE} {shared} nfs4 {OPTS},_netdev,nofail 0 0\n"
    assert Path(ctx.env.host_path("/etc/fstab.cloud-exchange-ha.bak")).read_text() == BASE
    dropin = Path(ctx.env.host_path("/etc/systemd/system/docker.service.d/cloud-exchange-ha-shared.conf"))  # systemd reads *.conf
    assert f"RequiresMountsFor={shared}" in dropin.read_text()
    assert runner.ran("/usr/bin/systemctl", "daemon-reload")
    assert (shared / "config").stat().st_mode & 0o777 == 0o700
    for rel, mode, uid in SHARED_LAYOUT:
        st = (shared / rel).stat()
        assert st.st_uid == uid, rel
        if rel != "config":
            assert st.st_mode & 0o777 == mode, rel
    assert (shared / "config" / "ca_certs" / ".keep").exists()
    assert not [p for p in shared.iterdir() if p.name.startswith(".cloud-exchange-ha-probe")]

    again, again_runner = make_ctx("mount", shared_dir=str(shared), shared_source=SOURCE, tools=["docker", "systemctl"])
    mounted(again, shared)
    second = mount.run(again)
    assert second.status == "unchanged"
    assert again_runner.calls == []


@needs_root
def test_unmounted_folder_is_mounted_with_retries(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], tmp_path: Path) -> None:
    shared = tmp_path / "mnt"
    ctx, runner = make_ctx("mount", shared_dir=str(shared), shared_source=SOURCE, tools=["docker"])
    attempts: list[list[str]] = []

    def fake_mount(argv: list[str]) -> None:
        attempts.append(argv)
        if len(attempts) == 2:
            runner.rules = [r for r in runner.rules if r.prefix != ("mount",)]

    runner.on("mount", rc=32, err="mount.nfs4: Failed to resolve server fs-0123.efs", action=fake_mount)
    result = mount.run(ctx)
    assert "mounted" in result.summary
    assert runner.calls.count(["mount", "-t", "nfs4", "-o", OPTS, SOURCE, str(shared)]) == 3
    assert "no systemctl" in " ".join(ctx.log.warnings)


def test_mount_failure_names_what_to_check(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], tmp_path: Path) -> None:
    ctx, runner = make_ctx("mount", shared_dir=str(tmp_path / "mnt"), shared_source=SOURCE)
    runner.on("mount", rc=32, err="mount.nfs4: Connection timed out")
    with pytest.raises(PhaseError) as failed:
        mount.run(ctx)
    assert "Connection timed out" in failed.value.what and "2049" in failed.value.fix
    assert 5 <= len([c for c in runner.calls if c[0] == "mount"]) <= 25  # bounded by timeouts.mount


def test_a_mount_that_hangs_is_a_failed_attempt_not_a_crash(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], tmp_path: Path) -> None:
    """Found on the lab hosts: mount.nfs4 retries an unresolvable name for minutes; the runner's
    timeout must end in the phase's own message (with the fix), not an internal error."""
    ctx, runner = make_ctx("mount", shared_dir=str(tmp_path / "mnt"), shared_source=SOURCE, timeouts={"mount": 1})

    def hang(argv: list[str]) -> None:
        raise CommandTimeout(argv, 30)

    runner.on("mount", action=hang)
    with pytest.raises(PhaseError) as failed:
        mount.run(ctx)
    assert "did not return within 30 s" in failed.value.what and "2049" in failed.value.fix


def test_no_source_and_not_mounted_fails(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], tmp_path: Path) -> None:
    ctx, _ = make_ctx("mount", shared_dir=str(tmp_path / "mnt"))
    with pytest.raises(PhaseError) as failed:
        mount.run(ctx)
    assert "shared_source" in failed.value.what and "cloud-exchange-ha:sharedDir" in failed.value.fix
    assert not (tmp_path / "mnt").exists()  # nothing made where nothing is mounted


def test_a_non_empty_folder_that_is_not_the_share_is_refused_before_anything_is_written(
    make_ctx: Callable[..., tuple[Ctx, FakeRunner]], tmp_path: Path
) -> None:
    shared = tmp_path / "mnt"
    shared.mkdir()
    (shared / "notes.txt").write_text("someone's file\n")
    (shared / ".hidden").mkdir()
    ctx, runner = make_ctx("mount", shared_dir=str(shared), shared_source=SOURCE, tools=["docker", "systemctl"])
    fstab = Path(ctx.env.host_path("/etc/fstab"))
    fstab.write_text(FOREIGN)
    with pytest.raises(PhaseError) as failed:
        mount.run(ctx)
    line = failed.value.line("mount")
    assert f"shared folder {shared} is not mounted and not empty (2 entries: .hidden, notes.txt)" in line
    assert "cloud-exchange-ha:sharedDir" in failed.value.fix and "move its contents away" in failed.value.fix
    assert runner.calls == [] and fstab.read_text() == FOREIGN  # no mount, no fstab line, no drop-in
    assert not Path(ctx.env.host_path("/etc/systemd/system")).exists()
    assert sorted(p.name for p in shared.iterdir()) == [".hidden", "notes.txt"]


def test_an_empty_folder_is_mounted(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], tmp_path: Path) -> None:
    shared = tmp_path / "mnt"
    shared.mkdir()
    ctx, runner = make_ctx("mount", shared_dir=str(shared), shared_source=SOURCE)
    runner.on("mount", rc=32, err="mount.nfs4: Connection timed out")  # stops right after the attempt
    with pytest.raises(PhaseError) as failed:
        mount.run(ctx)
    assert "Connection timed out" in failed.value.what
    assert runner.ran("mount", "-t", "nfs4")


@needs_root
def test_a_non_empty_folder_that_already_is_the_share_is_used(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "repos").mkdir()  # the share's own content
    ctx, runner = make_ctx("mount", shared_dir=str(shared), shared_source=SOURCE)
    mounted(ctx, shared)
    assert mount.run(ctx).status == "changed" and not runner.ran("mount")


def test_another_fstab_line_for_the_folder_is_refused_naming_it(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], tmp_path: Path) -> None:
    shared = tmp_path / "mnt"
    theirs = f"fs-other.efs.eu-west-1.amazonaws.com:/ {shared} nfs4 defaults 0 0"
    ctx, runner = make_ctx("mount", shared_dir=str(shared), shared_source=SOURCE)
    fstab = Path(ctx.env.host_path("/etc/fstab"))
    fstab.write_text(FOREIGN + theirs + "\n")
    with pytest.raises(PhaseError) as failed:
        mount.run(ctx)
    line = failed.value.line("mount")
    assert f"/etc/fstab already mounts {shared} with a line cloud-exchange-ha did not write: '{theirs}'" in line
    assert "remove or comment out that line in /etc/fstab" in failed.value.fix and "cloud-exchange-ha:sharedDir" in failed.value.fix
    assert fstab.read_text() == FOREIGN + theirs + "\n" and runner.calls == []
    assert not Path(ctx.env.host_path("/etc/fstab.cloud-exchange-ha.bak")).exists()


def test_6x_has_nothing_to_mount(make_ctx: Callable[..., tuple[Ctx, FakeRunner]]) -> None:
    ctx, runner = make_ctx("mount", ce_version="v6.1.0", shared_dir="/opt/shared/data")
    # ce-node reaches the phase through the node's line: 6.x has nothing to mount
    assert cli.dispatch(ctx, argparse.Namespace(phase="mount")).status == "unchanged" and runner.calls == []


def test_relative_or_spaced_shared_dir_is_refused(make_ctx: Callable[..., tuple[Ctx, FakeRunner]]) -> None:
    ctx, _ = make_ctx("mount", shared_dir="/mnt/ce ha", shared_source=SOURCE)
    with pytest.raises(PhaseError) as failed:
        mount.run(ctx)
    assert "cloud-exchange-ha:sharedDir" in failed.value.fix


# ----------------------------------------------------------------------------- the probe's chown (root squash)


def probe_ctx(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], tmp_path: Path) -> tuple[Ctx, Path]:
    ctx, _ = make_ctx("mount")
    shared = tmp_path / "share"
    shared.mkdir()
    return ctx, shared


def test_probe_fails_when_root_may_not_chown_naming_root_squash_and_shared_dir(
    make_ctx: Callable[..., tuple[Ctx, FakeRunner]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx, shared = probe_ctx(make_ctx, tmp_path)

    def squashed(path: str, uid: int, gid: int) -> None:  # EFS with root squash: root is nobody
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(mount.os, "chown", squashed)
    with pytest.raises(PhaseError) as failed:
        mount.probe(ctx, str(shared), "ce-1")
    assert "root squash" in failed.value.what and "1001" in failed.value.what and "Operation not permitted" in failed.value.what
    assert "root squash" in failed.value.fix and "cloud-exchange-ha:sharedDir" in failed.value.fix
    assert list(shared.iterdir()) == []  # the probe file is gone


def test_probe_fails_when_the_chown_is_accepted_but_not_done(
    make_ctx: Callable[..., tuple[Ctx, FakeRunner]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx, shared = probe_ctx(make_ctx, tmp_path)
    monkeypatch.setattr(mount.os, "chown", lambda path, uid, gid: None)  # a squashing server that ignores the call
    with pytest.raises(PhaseError) as failed:
        mount.probe(ctx, str(shared), "ce-1")
    assert f"stays owned by uid {os.getuid()}" in failed.value.what and "cloud-exchange-ha:sharedDir" in failed.value.fix
    assert list(shared.iterdir()) == []


@needs_root
def test_probe_chowns_its_file_to_ces_uid_1001_where_root_may(
    make_ctx: Callable[..., tuple[Ctx, FakeRunner]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx, shared = probe_ctx(make_ctx, tmp_path)
    seen: list[tuple[int, int, int]] = []
    real_chown = os.chown

    def recording(path: str, uid: int, gid: int) -> None:
        real_chown(path, uid, gid)
        seen.append((os.stat(path).st_uid, uid, gid))

    monkeypatch.setattr(mount.os, "chown", recording)
    mount.probe(ctx, str(shared), "ce-1")
    assert seen == [(1001, 1001, 1001)]
    assert list(shared.iterdir()) == []
