"""The bricks phase (6.x) command by command: which device, blkid/mkfs/mount argv and time limits,
the fstab line, glusterd's enable/start and its bounded wait, each failure's one line, and that a
second run changes nothing. Expected values are written here from docs/ce-facts.md §1.9 B.1/§2.2
(ports 24007, 24009-24029; /dev/sdf or /dev/xvdf; ``systemctl enable --now glusterd``), not read
from the module's constants (issue 12: these tests kill the mutants test_ce6_units.py let survive).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from scripts.cenode import lines
from scripts.cenode.phases import bricks
from scripts.cenode.system import CommandResult, CommandTimeout, Ctx, PhaseError

from .conftest import FakeRunner
from .test_ce6_units import Disk, attach, glusterd, mounted, six

MakeCtx = Callable[..., tuple[Ctx, FakeRunner]]
VOLUME = "vol-0abc1234def567890"
UUID = "4f0c7a3e-1111-2222-3333-444455556666"
BY_ID = "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0abc1234def567890"
MARK = "# cloud-exchange-ha: the next line is managed by cloud-exchange-ha\n"
DOWN = "Connection failed. Please check if gluster daemon is operational."
VOL_TEXT = (
    "volume management\n"
    "    type mgmt/glusterd\n"
    "    option working-directory /var/lib/glusterd\n"
    "    option transport-type socket\n"
    "    option transport.socket.listen-port 24007\n"
    "    option base-port 24009\n"
    "    option max-port 24029\n"
    "end-volume\n"
)


def timed(runner: FakeRunner) -> list[tuple[list[str], Any]]:
    """Every command with the time limit it was given (the fake runner keeps only argv)."""
    seen: list[tuple[list[str], Any]] = []
    fake = runner.run

    def run(argv: Any, **kwargs: Any) -> CommandResult:
        seen.append(([str(a) for a in argv], kwargs.get("timeout", "none given")))
        return fake(argv, **kwargs)

    runner.run = run  # type: ignore[method-assign]
    return seen


def paths(tmp_path: Path) -> tuple[str, str, str]:
    """The brick file system's mount point, the brick folder and the data folder, under tmp."""
    base = tmp_path / "opt"
    return str(base / "gluster"), str(base / "gluster" / "bricks" / "1" / "brick"), str(base / "data")


def brick_ctx(make_ctx: MakeCtx, tmp_path: Path, **over: object) -> tuple[Ctx, FakeRunner, list[str]]:
    ctx, runner = six(make_ctx, tmp_path, "bricks", **over)
    reported: list[str] = []
    ctx.report = reported.append
    return ctx, runner, reported


def log_text(ctx: Ctx) -> str:
    return Path(ctx.log.path).read_text()


def mode(path: str) -> int:
    return os.stat(path).st_mode & 0o777


# ----------------------------------------------------------------------------- pure helpers


def test_blkid_export_is_parsed_at_the_first_equals_sign() -> None:
    text = "DEVNAME=/dev/nvme1n1\n  LABEL=a=b  \nno equals sign here\nTYPE=xfs\nUUID=\n"
    assert bricks.parse_blkid(text) == {"DEVNAME": "/dev/nvme1n1", "LABEL": "a=b", "TYPE": "xfs", "UUID": ""}


def test_device_candidates_by_nvme_serial_then_sdf_then_xvdf() -> None:
    facts = lines.CE6.gluster
    assert facts is not None
    assert bricks.device_candidates(VOLUME, facts) == [BY_ID, "/dev/sdf", "/dev/xvdf"]
    nvme = dataclasses.replace(facts, brick_device="/dev/nvme1n1")
    assert bricks.device_candidates("vol-1", nvme) == ["/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol1", "/dev/nvme1n1"]


def test_fstab_line_mounts_by_uuid_with_nofail_and_a_device_timeout() -> None:
    assert bricks.fstab_line(UUID, "/opt/shared/gluster", "xfs") == (
        f"UUID={UUID} /opt/shared/gluster xfs defaults,nofail,x-systemd.device-timeout=30 0 2"
    )


# ----------------------------------------------------------------------------- the whole phase


def test_an_empty_volume_gets_xfs_fstab_mount_ports_glusterd_then_a_second_run_changes_nothing(
    make_ctx: MakeCtx, tmp_path: Path
) -> None:
    mountpoint, brick, data = paths(tmp_path)
    ctx, runner, reported = brick_ctx(make_ctx, tmp_path, brick_volume_id=VOLUME)
    attach(ctx)
    Disk(runner)
    glusterd(runner)
    fstab = ctx.env.host_path("/etc/fstab")
    Path(fstab).write_text("UUID=abc / ext4 defaults 0 1\n")
    calls = timed(runner)

    result = bricks.run(ctx)

    assert calls == [
        (["blkid", "-p", "-o", "export", BY_ID], 60),
        (["mkfs.xfs", "-q", "-L", "ce-bricks", BY_ID], 300),
        (["blkid", "-p", "-o", "export", BY_ID], 60),
        (["/usr/bin/systemctl", "daemon-reload"], 120),
        (["mount", "-t", "xfs", f"UUID={UUID}", mountpoint], 120),
        (["/usr/bin/systemctl", "cat", "glusterd.service"], 60),
        (["/usr/bin/systemctl", "is-enabled", "glusterd.service"], 60),
        (["/usr/bin/systemctl", "is-active", "glusterd.service"], 60),
        (["/usr/bin/systemctl", "enable", "--now", "glusterd.service"], 120),
        (["gluster", "--mode=script", "peer", "status"], 120),
        (["glusterfs", "--version"], 60),
    ]
    assert (result.status, result.summary) == (
        "changed",
        f"xfs file system on {BY_ID}; fstab; mounted {VOLUME} at {mountpoint}; glusterd.vol ports; "
        f"glusterd enabled and started; created {brick}; created {data}; glusterfs 11.1",
    )
    line = f"UUID={UUID} {mountpoint} xfs defaults,nofail,x-systemd.device-timeout=30 0 2"
    assert Path(fstab).read_text() == f"UUID=abc / ext4 defaults 0 1\n{MARK}{line}\n"
    assert Path(fstab + ".cloud-exchange-ha.bak").read_text() == "UUID=abc / ext4 defaults 0 1\n"
    assert mode(fstab) == 0o644
    vol = ctx.env.host_path("/etc/glusterfs/glusterd.vol")
    assert Path(vol).read_text() == VOL_TEXT and mode(vol) == 0o644
    assert os.path.isdir(brick) and os.path.isdir(data)
    assert reported == [
        "progress bricks: the brick file system (1/3)",
        "progress bricks: glusterd's ports and glusterd running (2/3)",
        "progress bricks: the brick and data folders (3/3)",
    ]
    logged = log_text(ctx)
    assert f"fstab: {line}\n" in logged
    assert f"{vol}: transport.socket.listen-port 24007, base-port 24009, max-port 24029\n" in logged
    assert ctx.log.warnings == []  # the fresh, empty mount point is no reason to warn

    again, runner2, _ = brick_ctx(make_ctx, tmp_path, brick_volume_id=VOLUME)
    Disk(runner2, fs="xfs")
    glusterd(runner2, enabled=True, active=True)
    mounted(again, mountpoint, f"UUID={UUID}")
    calls2 = timed(runner2)
    Path(fstab + ".cloud-exchange-ha.bak").unlink()

    result = bricks.run(again)

    assert (result.status, result.summary) == ("unchanged", f"{brick} ready, glusterd running on 24007; glusterfs 11.1")
    assert [argv for argv, _ in calls2] == [
        ["blkid", "-p", "-o", "export", BY_ID],
        ["/usr/bin/systemctl", "cat", "glusterd.service"],
        ["/usr/bin/systemctl", "is-enabled", "glusterd.service"],
        ["/usr/bin/systemctl", "is-active", "glusterd.service"],
        ["gluster", "--mode=script", "peer", "status"],
        ["glusterfs", "--version"],
    ]
    assert Path(fstab).read_text() == f"UUID=abc / ext4 defaults 0 1\n{MARK}{line}\n"
    assert not os.path.exists(fstab + ".cloud-exchange-ha.bak")
    assert Path(vol).read_text() == VOL_TEXT


def test_without_mkfs_xfs_the_volume_gets_ext4_and_without_systemctl_no_daemon_reload(make_ctx: MakeCtx, tmp_path: Path) -> None:
    mountpoint, _, _ = paths(tmp_path)
    ctx, runner, _ = brick_ctx(make_ctx, tmp_path, brick_volume_id=VOLUME)
    attach(ctx, "/dev/sdf")
    Disk(runner)
    runner.tools.update({"gluster", "glusterd"})
    calls = timed(runner)
    result = bricks.run(ctx)
    assert calls[:4] == [
        (["blkid", "-p", "-o", "export", "/dev/sdf"], 60),
        (["mkfs.ext4", "-q", "-L", "ce-bricks", "/dev/sdf"], 300),
        (["blkid", "-p", "-o", "export", "/dev/sdf"], 60),
        (["mount", "-t", "ext4", f"UUID={UUID}", mountpoint], 120),
    ]
    assert f"ext4 file system on /dev/sdf; fstab; mounted {VOLUME} at {mountpoint};" in result.summary
    assert Path(ctx.env.host_path("/etc/fstab")).read_text() == (
        f"{MARK}UUID={UUID} {mountpoint} ext4 defaults,nofail,x-systemd.device-timeout=30 0 2\n"
    )
    assert not os.path.exists(ctx.env.host_path("/etc/fstab.cloud-exchange-ha.bak"))


def test_a_volume_with_a_file_system_and_a_protective_partition_type_is_mounted_not_formatted(make_ctx: MakeCtx, tmp_path: Path) -> None:
    mountpoint, _, _ = paths(tmp_path)
    ctx, runner, _ = brick_ctx(make_ctx, tmp_path, brick_volume_id=VOLUME)
    attach(ctx)
    glusterd(runner)
    runner.on("blkid", out=f"DEVNAME={BY_ID}\nPTTYPE=dos\nTYPE=xfs\nUUID={UUID}\n")
    bricks.run(ctx)
    assert not any(call[0].startswith("mkfs") for call in runner.calls)
    assert runner.ran("mount", "-t", "xfs", f"UUID={UUID}", mountpoint)


def test_a_full_mount_point_is_warned_about_and_still_mounted(make_ctx: MakeCtx, tmp_path: Path) -> None:
    mountpoint, _, _ = paths(tmp_path)
    ctx, runner, _ = brick_ctx(make_ctx, tmp_path, brick_volume_id=VOLUME)
    attach(ctx)
    Disk(runner, fs="xfs")
    glusterd(runner)
    os.makedirs(mountpoint)
    Path(mountpoint, "left-over").write_text("x")
    bricks.run(ctx)
    assert ctx.log.warnings == [f"{mountpoint} is not empty before mounting the brick volume: its content is hidden by the mount"]
    assert runner.ran("mount", "-t", "xfs", f"UUID={UUID}", mountpoint)


def test_bricks_on_the_root_disk_keep_an_existing_folder(make_ctx: MakeCtx, tmp_path: Path) -> None:
    mountpoint, brick, _ = paths(tmp_path)
    ctx, runner, _ = brick_ctx(make_ctx, tmp_path)
    glusterd(runner, enabled=True, active=True)
    Path(ctx.env.host_path("/etc/glusterfs")).mkdir(parents=True)
    Path(ctx.env.host_path("/etc/glusterfs/glusterd.vol")).write_text(VOL_TEXT)
    os.makedirs(mountpoint)
    result = bricks.run(ctx)
    assert result.summary == f"created {brick}; created {tmp_path / 'opt' / 'data'}; glusterfs 11.1; bricks on the root disk (no brick_volume_id)"
    assert not os.path.exists(ctx.env.host_path("/etc/fstab"))

    again, runner2, _ = brick_ctx(make_ctx, tmp_path)
    glusterd(runner2, enabled=True, active=True)
    result = bricks.run(again)
    assert (result.status, result.summary) == (
        "unchanged",
        f"{brick} ready, glusterd running on 24007; glusterfs 11.1; bricks on the root disk (no brick_volume_id)",
    )


# ----------------------------------------------------------------------------- finding the volume


def test_the_volume_is_waited_for_every_5_s_for_180_s_then_named(make_ctx: MakeCtx, tmp_path: Path) -> None:
    ctx, runner, reported = brick_ctx(make_ctx, tmp_path, brick_volume_id=VOLUME)
    glusterd(runner)
    start = ctx.clock()
    with pytest.raises(PhaseError) as failed:
        bricks.run(ctx)
    assert failed.value.what == f"the brick volume {VOLUME} is not attached here (none of {BY_ID}, /dev/sdf, /dev/xvdf)"
    assert failed.value.fix == "check the volume attachment of this node in the stack (pulumi up attaches it before this phase)"
    assert ctx.clock() - start == 180
    waiting = f"progress bricks: waiting for the brick volume at {BY_ID} / /dev/sdf / /dev/xvdf"
    assert reported[1:] == [waiting] * 36
    assert not runner.ran("blkid")


def test_a_volume_attached_late_is_found_under_its_xen_name(make_ctx: MakeCtx, tmp_path: Path) -> None:
    ctx, runner, _ = brick_ctx(make_ctx, tmp_path, brick_volume_id=VOLUME)
    Disk(runner, fs="xfs")
    glusterd(runner)
    sleep = ctx.sleep
    naps: list[float] = []

    def nap(seconds: float) -> None:
        naps.append(seconds)
        sleep(seconds)
        if len(naps) == 2:
            attach(ctx, "/dev/xvdf")

    ctx.sleep = nap
    bricks.run(ctx)
    assert naps[:2] == [5, 5] and runner.calls[0] == ["blkid", "-p", "-o", "export", "/dev/xvdf"]


def test_the_nvme_link_wins_over_the_device_names(make_ctx: MakeCtx, tmp_path: Path) -> None:
    ctx, runner, _ = brick_ctx(make_ctx, tmp_path, brick_volume_id=VOLUME)
    Disk(runner, fs="xfs")
    glusterd(runner)
    attach(ctx, "/dev/sdf")
    attach(ctx)
    bricks.run(ctx)
    assert runner.calls[0] == ["blkid", "-p", "-o", "export", BY_ID]


# ----------------------------------------------------------------------------- each failure's one line


def failing(make_ctx: MakeCtx, tmp_path: Path, setup: Callable[[FakeRunner], None]) -> PhaseError:
    ctx, runner, _ = brick_ctx(make_ctx, tmp_path, brick_volume_id=VOLUME)
    attach(ctx)
    glusterd(runner)
    setup(runner)
    with pytest.raises(PhaseError) as failed:
        bricks.run(ctx)
    return failed.value


def test_blkid_failing_is_not_taken_for_an_empty_disk(make_ctx: MakeCtx, tmp_path: Path) -> None:
    error = failing(make_ctx, tmp_path, lambda runner: runner.on("blkid", rc=4, err="blkid: cannot open device"))
    assert (error.what, error.fix) == (f"blkid {BY_ID} failed: blkid: cannot open device", "look at the device on the node (lsblk -f)")


def test_mkfs_failing_and_mkfs_hanging(make_ctx: MakeCtx, tmp_path: Path) -> None:
    def busy(runner: FakeRunner) -> None:
        runner.on("blkid", rc=2)
        runner.on("mkfs.xfs", rc=1, err="mkfs.xfs: device busy")

    error = failing(make_ctx, tmp_path, busy)
    assert (error.what, error.fix) == (f"mkfs.xfs {BY_ID} failed: mkfs.xfs: device busy", "look at the device on the node (lsblk -f)")

    def hangs(argv: list[str]) -> None:
        raise CommandTimeout(argv, 300)

    def slow(runner: FakeRunner) -> None:
        runner.on("blkid", rc=2)
        runner.on("mkfs.xfs", action=hangs)

    error = failing(make_ctx, tmp_path, slow)
    assert (error.what, error.fix) == (f"mkfs.xfs {BY_ID} did not finish within 300 s", "look at the device on the node")


def test_a_file_system_without_uuid_and_a_partition_table_without_one(make_ctx: MakeCtx, tmp_path: Path) -> None:
    error = failing(make_ctx, tmp_path, lambda runner: runner.on("blkid", out=f"DEVNAME={BY_ID}\nTYPE=xfs\n"))
    assert (error.what, error.fix) == (f"{BY_ID} has a xfs file system without a UUID", "look at the device on the node (blkid)")
    error = failing(make_ctx, tmp_path, lambda runner: runner.on("blkid", out="PTUUID=abc\nPTTYPE=gpt\n"))
    assert error.what == f"{BY_ID} ({VOLUME}) has a partition table and no file system: not formatting it"
    assert error.fix == "give the node an empty volume for the bricks (or remove the partitions yourself)"


def test_mount_failing_and_a_foreign_mount(make_ctx: MakeCtx, tmp_path: Path) -> None:
    mountpoint, _, _ = paths(tmp_path)

    def refused(runner: FakeRunner) -> None:
        Disk(runner, fs="xfs")
        runner.on("mount", rc=32, err="mount: wrong fs type")

    error = failing(make_ctx, tmp_path, refused)
    assert (error.what, error.fix) == (
        f"mount {BY_ID} at {mountpoint} failed: mount: wrong fs type",
        "look at the device on the node (dmesg, lsblk -f)",
    )
    ctx, runner, _ = brick_ctx(make_ctx, tmp_path, brick_volume_id=VOLUME)
    glusterd(runner)
    Disk(runner, fs="xfs")
    mounted(ctx, mountpoint, "/dev/nvme9n1")
    with pytest.raises(PhaseError) as failed:
        bricks.run(ctx)
    assert failed.value.what == f"{mountpoint} is mounted from /dev/nvme9n1, not the brick volume {BY_ID} ({VOLUME})"
    assert failed.value.fix == f"unmount {mountpoint} on the node and run this phase again"


@pytest.mark.parametrize(("tools", "missing"), [((), "gluster"), (("gluster",), "glusterd")])
def test_glusterfs_must_be_installed(make_ctx: MakeCtx, tmp_path: Path, tools: tuple[str, ...], missing: str) -> None:
    ctx, runner, _ = brick_ctx(make_ctx, tmp_path)
    runner.tools.update(tools)
    with pytest.raises(PhaseError) as failed:
        bricks.run(ctx)
    assert (failed.value.what, failed.value.fix) == (f"{missing} is not installed", "run the prepare phase first (it installs GlusterFS)")
    assert runner.calls == []


# ----------------------------------------------------------------------------- glusterd


ENABLE_NOW = ["/usr/bin/systemctl", "enable", "--now", "glusterd.service"]
RESTART = ["/usr/bin/systemctl", "restart", "glusterd.service"]
ENABLE = ["/usr/bin/systemctl", "enable", "glusterd.service"]


@pytest.mark.parametrize(
    ("enabled", "active", "vol_changed", "actions", "changes"),
    [
        (False, False, False, [ENABLE_NOW], ["glusterd enabled and started"]),
        (True, False, False, [ENABLE_NOW], ["glusterd enabled and started"]),
        (False, True, False, [ENABLE_NOW], ["glusterd enabled and started"]),
        (True, True, False, [], []),
        (False, False, True, [ENABLE_NOW], ["glusterd enabled and started"]),
        (True, True, True, [RESTART], ["glusterd restarted (new ports)"]),
        (False, True, True, [RESTART, ENABLE], ["glusterd restarted (new ports)"]),
    ],
)
def test_glusterd_is_enabled_started_or_restarted_as_needed(
    make_ctx: MakeCtx, tmp_path: Path, enabled: bool, active: bool, vol_changed: bool, actions: list[list[str]], changes: list[str]
) -> None:
    ctx, runner, _ = brick_ctx(make_ctx, tmp_path)
    glusterd(runner, enabled=enabled, active=active)
    calls = timed(runner)
    phase = bricks.Bricks(ctx)
    phase.ensure_glusterd(vol_changed)
    assert calls == [
        (["/usr/bin/systemctl", "cat", "glusterd.service"], 60),
        (["/usr/bin/systemctl", "is-enabled", "glusterd.service"], 60),
        (["/usr/bin/systemctl", "is-active", "glusterd.service"], 60),
        *[(argv, 120) for argv in actions],
        (["gluster", "--mode=script", "peer", "status"], 120),
    ]
    assert phase.changes == changes and phase.notes == []


@pytest.mark.parametrize(("enabled", "active", "failing_argv"), [(False, True, RESTART), (True, False, ENABLE_NOW)])
def test_glusterd_not_starting_is_one_line(
    make_ctx: MakeCtx, tmp_path: Path, enabled: bool, active: bool, failing_argv: list[str]
) -> None:
    ctx, runner, _ = brick_ctx(make_ctx, tmp_path)
    glusterd(runner, enabled=enabled, active=active)
    runner.on(*failing_argv, rc=1, err="Job for glusterd.service failed.")
    with pytest.raises(PhaseError) as failed:
        bricks.Bricks(ctx).ensure_glusterd(True)
    assert (failed.value.what, failed.value.fix) == (
        "cannot start glusterd: Job for glusterd.service failed.",
        "see `journalctl -u glusterd` on the node",
    )
    assert runner.calls[-1] == failing_argv


@pytest.mark.parametrize("systemctl", [True, False])
def test_without_a_glusterd_unit_glusterd_itself_is_run(make_ctx: MakeCtx, tmp_path: Path, systemctl: bool) -> None:
    ctx, runner, _ = brick_ctx(make_ctx, tmp_path)
    runner.tools.update({"gluster", "glusterd", *(["systemctl"] if systemctl else [])})
    runner.on("/usr/bin/systemctl", "cat", "glusterd.service", rc=1, err="No files found for glusterd.service.")
    down = {"yes": True}
    runner.on("gluster", "--mode=script", "peer", "status", action=lambda argv: CommandResult(argv, 1, DOWN, "") if down["yes"] else None)
    runner.on("glusterd", action=lambda argv: down.update(yes=False))
    calls = timed(runner)
    phase = bricks.Bricks(ctx)
    phase.ensure_glusterd(False)
    assert calls[-3:] == [
        (["gluster", "--mode=script", "peer", "status"], 120),
        (["glusterd"], 120),
        (["gluster", "--mode=script", "peer", "status"], 120),
    ]
    assert phase.changes == ["glusterd started (no systemd unit for it)"] and phase.notes == []


def test_glusterd_without_a_unit_failing_to_start_is_one_line(make_ctx: MakeCtx, tmp_path: Path) -> None:
    ctx, runner, _ = brick_ctx(make_ctx, tmp_path)
    runner.tools.update({"gluster", "glusterd"})
    runner.on("gluster", "--mode=script", "peer", "status", rc=1, out=DOWN)
    runner.on("glusterd", rc=1, err="glusterd: cannot bind 24007")
    with pytest.raises(PhaseError) as failed:
        bricks.Bricks(ctx).ensure_glusterd(False)
    assert (failed.value.what, failed.value.fix) == ("cannot start glusterd: glusterd: cannot bind 24007", "see glusterd's log on the node")


def test_glusterd_without_a_unit_and_new_ports_is_left_running_with_a_note(make_ctx: MakeCtx, tmp_path: Path) -> None:
    ctx, runner, _ = brick_ctx(make_ctx, tmp_path)
    runner.tools.update({"gluster", "glusterd"})
    phase = bricks.Bricks(ctx)
    phase.ensure_glusterd(True)
    assert not runner.ran("glusterd") and phase.changes == []
    assert phase.notes == ["restart glusterd to apply the ports"]
    assert ctx.log.warnings == ["glusterd runs without a systemd unit: restart it by hand to use the new ports"]
    quiet, runner2, _ = brick_ctx(make_ctx, tmp_path)
    runner2.tools.update({"gluster", "glusterd"})
    unchanged = bricks.Bricks(quiet)
    unchanged.ensure_glusterd(False)
    assert unchanged.notes == [] and unchanged.changes == []


def test_glusterd_is_asked_every_2_s_until_it_answers(make_ctx: MakeCtx, tmp_path: Path) -> None:
    ctx, runner, _ = brick_ctx(make_ctx, tmp_path)
    answers = iter([CommandResult([], 1, DOWN, ""), CommandResult([], 1, DOWN, "")])
    runner.on("gluster", "--mode=script", "peer", "status", action=lambda argv: next(answers, None))
    start = ctx.clock()
    bricks.Bricks(ctx).wait_for_glusterd()
    assert ctx.clock() - start == 4
    assert runner.calls == [["gluster", "--mode=script", "peer", "status"]] * 3
    logged = log_text(ctx)
    assert "glusterd: attempt 1 failed, retrying in 2 s" in logged and "glusterd: attempt 2 failed, retrying in 2 s" in logged


def test_glusterd_not_answering_for_120_s_is_one_line(make_ctx: MakeCtx, tmp_path: Path) -> None:
    ctx, runner, _ = brick_ctx(make_ctx, tmp_path)
    runner.on("gluster", "--mode=script", "peer", "status", rc=1, out=DOWN)
    start = ctx.clock()
    with pytest.raises(PhaseError) as failed:
        bricks.Bricks(ctx).wait_for_glusterd()
    assert (failed.value.what, failed.value.fix) == (f"glusterd does not answer: {DOWN}", "see `journalctl -u glusterd` on the node")
    assert ctx.clock() - start == 120 and len(runner.calls) == 61


# ----------------------------------------------------------------------------- ports, version


def test_glusterd_vol_gets_the_management_block_once(make_ctx: MakeCtx, tmp_path: Path) -> None:
    ctx, runner, _ = brick_ctx(make_ctx, tmp_path)
    phase = bricks.Bricks(ctx)
    assert phase.ensure_vol() is True and phase.changes == ["glusterd.vol ports"]
    vol = ctx.env.host_path("/etc/glusterfs/glusterd.vol")
    assert Path(vol).read_text() == VOL_TEXT and mode(vol) == 0o644
    again = bricks.Bricks(ctx)
    assert again.ensure_vol() is False and again.changes == []


@pytest.mark.parametrize(("rc", "out"), [(1, "glusterfs 11.1\n"), (0, ""), (0, "\n  \n")])
def test_an_unknown_glusterfs_version_is_said_so(make_ctx: MakeCtx, tmp_path: Path, rc: int, out: str) -> None:
    ctx, runner, _ = brick_ctx(make_ctx, tmp_path)
    runner.on("glusterfs", "--version", rc=rc, out=out)
    calls = timed(runner)
    assert bricks.Bricks(ctx).version() == "glusterfs (version unknown)"
    assert calls == [(["glusterfs", "--version"], 60)]
