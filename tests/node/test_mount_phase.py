"""The mount phase (5.x) step by step: which engine units get the drop-in, the mount command's time
limits and attempts inside timeouts.mount (300 s, 15 s apart), the probe's file and its failures, CE's
shared folders with their modes and owners, and each line the phase writes (failure, warning, log,
progress, summary) word for word. Expected values are written here from docs/ce-facts.md §2.1
(create_required_files: uid 1001, modes 744/755) and the phase's contract, not read from the module
(issue 12: these kill the mutants tests/node/test_mount.py lets survive).
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from scripts.cenode.phases import mount
from scripts.cenode.system import CommandResult, CommandTimeout, Ctx, PhaseError

from .conftest import FakeRunner
from .test_bricks import timed
from .test_mount import MARK, OPTS, SOURCE, mounted, needs_root

MakeCtx = Callable[..., tuple[Ctx, FakeRunner]]
#: what ensure_layout creates in an empty share, in order (docs/ce-facts.md §2.1, plus our backups/)
CREATED = ["config", "config/ssl_certs", "config/ca_certs", "repos", "plugins", "custom_plugins", "backups", "config/ca_certs/.keep"]


def logged(ctx: Ctx) -> str:
    return Path(ctx.log.path).read_text()


def progress_of(ctx: Ctx) -> list[str]:
    seen: list[str] = []
    ctx.report = seen.append
    return seen


# ----------------------------------------------------------------------------- is_mountpoint, dropin_text


def test_is_mountpoint_names_type_and_source(make_ctx: MakeCtx, tmp_path: Path) -> None:
    ctx, _ = make_ctx("mount")
    assert mount.is_mountpoint(ctx, "/mnt/ce-ha") == (False, "")  # no mountinfo at all
    Path(ctx.env.host_path("/proc/self/mountinfo")).write_text(f"90 22 0:50 / /mnt/ce-ha rw - nfs4 {SOURCE} rw,vers=4.1\n")
    assert mount.is_mountpoint(ctx, "/mnt/ce-ha/") == (True, f"nfs4 from {SOURCE}")
    assert mount.is_mountpoint(ctx, "/mnt/other") == (False, "")


def test_dropin_text_is_exactly_one_unit_dependency() -> None:
    assert mount.dropin_text("/mnt/ce-ha") == (
        "# written by cloud-exchange-ha: start containers only with the shared folder mounted\n[Unit]\nRequiresMountsFor=/mnt/ce-ha\n"
    )


# ----------------------------------------------------------------------------- engine units and drop-ins


@pytest.mark.parametrize(
    ("tools", "units"),
    [
        ((), ["docker.service"]),  # nothing found: CE's default engine
        (("docker",), ["docker.service"]),
        (("dockerd",), ["docker.service"]),
        (("podman",), ["podman-restart.service"]),
        (("docker", "podman"), ["docker.service", "podman-restart.service"]),
        (("dockerd", "podman"), ["docker.service", "podman-restart.service"]),
    ],
)
def test_engine_units(make_ctx: MakeCtx, tools: tuple[str, ...], units: list[str]) -> None:
    ctx, _ = make_ctx("mount", tools=tools)
    assert mount.engine_units(ctx) == units


def test_dropins_for_both_engines_then_one_daemon_reload_then_nothing(make_ctx: MakeCtx) -> None:
    ctx, runner = make_ctx("mount", tools=["docker", "podman", "systemctl"])
    seen = timed(runner)
    assert mount.ensure_dropins(ctx, "/mnt/ce-ha") is True
    root = ctx.env.root
    for unit in ("docker.service", "podman-restart.service"):
        path = f"{root}/etc/systemd/system/{unit}.d/cloud-exchange-ha-shared.conf"
        assert Path(path).read_text().endswith("[Unit]\nRequiresMountsFor=/mnt/ce-ha\n")
        assert os.stat(path).st_mode & 0o777 == 0o644
        assert f"drop-in {path}: RequiresMountsFor=/mnt/ce-ha" in logged(ctx)
    assert seen == [(["/usr/bin/systemctl", "daemon-reload"], 120)]
    assert mount.ensure_dropins(ctx, "/mnt/ce-ha") is False
    assert len(seen) == 1  # in place: no reload


def test_a_changed_dropin_is_rewritten(make_ctx: MakeCtx) -> None:
    ctx, runner = make_ctx("mount", tools=["docker", "systemctl"])
    path = Path(ctx.env.host_path("/etc/systemd/system/docker.service.d/cloud-exchange-ha-shared.conf"))
    path.parent.mkdir(parents=True)
    path.write_text("[Unit]\nRequiresMountsFor=/mnt/old\n")
    assert mount.ensure_dropins(ctx, "/mnt/ce-ha") is True
    assert path.read_text().endswith("RequiresMountsFor=/mnt/ce-ha\n") and runner.calls == [["/usr/bin/systemctl", "daemon-reload"]]


def test_without_systemctl_the_dropin_is_written_and_the_warning_says_so(make_ctx: MakeCtx) -> None:
    ctx, runner = make_ctx("mount", tools=["docker"])
    assert mount.ensure_dropins(ctx, "/mnt/ce-ha") is True
    assert ctx.log.warnings == ["no systemctl: drop-in written, not loaded"] and runner.calls == []


# ----------------------------------------------------------------------------- refuse_non_empty


def test_a_missing_folder_is_fine_to_mount_on(tmp_path: Path) -> None:
    mount.refuse_non_empty(str(tmp_path / "absent"))  # no error
    assert not (tmp_path / "absent").exists()


def test_a_file_where_the_folder_should_be_is_refused(tmp_path: Path) -> None:
    (tmp_path / "mnt").write_text("x")
    with pytest.raises(PhaseError) as failed:
        mount.refuse_non_empty(str(tmp_path / "mnt"))
    assert failed.value.line("mount") == (
        f"ERROR mount: shared folder {tmp_path}/mnt exists and is not a folder - fix: move it away or set cloud-exchange-ha:sharedDir"
    )


@pytest.mark.parametrize(
    ("names", "shown"),
    [
        (["a", "b", "c", "d", "e"], "5 entries: a, b, c, d, e"),  # five: all named
        (["g", "f", "e", "d", "c", "b", "a"], "7 entries: a, b, c, d, e and 2 more"),
        (["f", "e", "d", "c", "b", "a"], "6 entries: a, b, c, d, e and 1 more"),
    ],
)
def test_a_non_empty_folder_is_refused_naming_five_entries(tmp_path: Path, names: list[str], shown: str) -> None:
    shared = tmp_path / "mnt"
    shared.mkdir()
    for name in names:
        (shared / name).write_text("")
    with pytest.raises(PhaseError) as failed:
        mount.refuse_non_empty(str(shared))
    assert failed.value.line("mount") == (
        f"ERROR mount: shared folder {shared} is not mounted and not empty ({shown}): mounting the share over it would hide them"
        " - fix: move its contents away (or mount the share there yourself), or set cloud-exchange-ha:sharedDir to an empty folder"
    )


# ----------------------------------------------------------------------------- do_mount: attempts, time limits, lines

#: timeouts.mount is 300 s, attempts 15 s apart while 15 s are left: 20 attempts at t = 0, 15, ..., 285;
#: each may take what is left, at least 30 s, at most 180 s
LIMITS = [180] * 9 + [165, 150, 135, 120, 105, 90, 75, 60, 45, 30, 30]
LEFT = [300 - 15 * n for n in range(20)]


def test_mount_is_tried_20_times_in_300_s_with_shrinking_limits(make_ctx: MakeCtx, tmp_path: Path) -> None:
    shared = tmp_path / "mnt"
    ctx, runner = make_ctx("mount")
    runner.on("mount", rc=32, err="mount.nfs4: Connection timed out")
    seen = timed(runner)
    lines = progress_of(ctx)
    with pytest.raises(PhaseError) as failed:
        mount.do_mount(ctx, SOURCE, str(shared), OPTS)
    assert seen == [(["mount", "-t", "nfs4", "-o", OPTS, SOURCE, str(shared)], limit) for limit in LIMITS]
    assert lines == [f"progress mount: mounting {SOURCE} at {shared}, attempt {n + 1} (until {LEFT[n]} s more)" for n in range(20)]
    assert failed.value.line("mount") == (
        f"ERROR mount: mount {SOURCE} at {shared} failed after 20 attempts: mount.nfs4: Connection timed out"
        " - fix: check the EFS mount target in the node's subnet, its security group (TCP 2049 from the nodes) and DNS"
    )
    assert "mount: attempt 1 failed, retrying in 15 s" in logged(ctx)
    assert shared.is_dir()  # made to mount on


def test_a_silent_failure_names_the_exit_code(make_ctx: MakeCtx, tmp_path: Path) -> None:
    ctx, runner = make_ctx("mount", timeouts={"mount": 20})
    runner.on("mount", rc=32)
    with pytest.raises(PhaseError) as failed:
        mount.do_mount(ctx, SOURCE, str(tmp_path / "mnt"), OPTS)
    assert failed.value.what == f"mount {SOURCE} at {tmp_path}/mnt failed after 2 attempts: mount exited 32"  # budget 5 s: one retry


@pytest.mark.parametrize(("seconds", "attempts"), [(15, 1), (16, 2)])
def test_a_retry_starts_only_while_15_s_of_timeouts_mount_are_left(make_ctx: MakeCtx, tmp_path: Path, seconds: int, attempts: int) -> None:
    ctx, runner = make_ctx("mount", timeouts={"mount": seconds})
    runner.on("mount", rc=32, err="mount.nfs4: Connection timed out")
    with pytest.raises(PhaseError) as failed:
        mount.do_mount(ctx, SOURCE, str(tmp_path / "mnt"), OPTS)
    assert f"failed after {attempts} attempts" in failed.value.what and len(runner.calls) == attempts


def test_every_attempt_hanging_ends_with_the_last_limit(make_ctx: MakeCtx, tmp_path: Path) -> None:
    ctx, runner = make_ctx("mount")

    def hang(argv: list[str]) -> None:
        raise CommandTimeout(argv, 30)

    runner.on("mount", action=hang)
    with pytest.raises(PhaseError) as failed:
        mount.do_mount(ctx, SOURCE, str(tmp_path / "mnt"), OPTS)
    assert failed.value.what == f"mount {SOURCE} at {tmp_path}/mnt failed after 20 attempts: mount did not return within 30 s"


def test_a_mount_that_works_second_time_stops_there(make_ctx: MakeCtx, tmp_path: Path) -> None:
    ctx, runner = make_ctx("mount")

    def resolved_second_time(argv: list[str]) -> CommandResult:  # a new EFS DNS name resolves after a while
        return CommandResult(argv, 32 if len(runner.calls) == 1 else 0, "", "mount.nfs4: Failed to resolve server")

    runner.on("mount", action=resolved_second_time)
    mount.do_mount(ctx, SOURCE, str(tmp_path / "mnt"), OPTS)
    assert len(runner.calls) == 2


# ----------------------------------------------------------------------------- probe


def test_probe_writes_a_32_hex_token_to_a_file_named_for_the_node(make_ctx: MakeCtx, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx, _ = make_ctx("mount")
    shared = tmp_path / "share"
    shared.mkdir()
    seen: list[tuple[str, str, int, int]] = []
    real_stat = os.stat

    def chown(path: str, uid: int, gid: int) -> None:
        seen.append((path, Path(path).read_text(), uid, gid))

    monkeypatch.setattr(mount.os, "chown", chown)
    monkeypatch.setattr(mount.os, "stat", lambda path: os.stat_result((0, 0, 0, 0, 1001) + tuple(real_stat(path))[5:]))
    for node, name in (("ce-2", ".cloud-exchange-ha-probe-ce-2"), ("", ".cloud-exchange-ha-probe-node")):
        mount.probe(ctx, str(shared), node)
        path, token, uid, gid = seen[-1]
        assert path == str(shared / name) and (uid, gid) == (1001, 1001)
        assert len(token) == 32 and int(token, 16) >= 0
    assert seen[0][1] != seen[1][1] and list(shared.iterdir()) == []


def test_probe_that_reads_back_something_else_fails(make_ctx: MakeCtx, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx, _ = make_ctx("mount")
    shared = tmp_path / "share"
    shared.mkdir()
    real_open = open

    def reading_other(path: str, mode: str = "r", **kwargs: Any) -> Any:
        return real_open(path, mode, **kwargs) if "w" in mode else io.StringIO("stale")

    monkeypatch.setattr(mount, "open", reading_other, raising=False)
    with pytest.raises(PhaseError) as failed:
        mount.probe(ctx, str(shared), "ce-1")
    assert failed.value.line("mount") == (
        f"ERROR mount: probe file {shared}/.cloud-exchange-ha-probe-ce-1 read back differently - fix: check the NFS server and mount options"
    )


def test_probe_in_a_folder_it_cannot_write_fails_naming_it(make_ctx: MakeCtx, tmp_path: Path) -> None:
    ctx, _ = make_ctx("mount")
    with pytest.raises(PhaseError) as failed:
        mount.probe(ctx, str(tmp_path / "absent"), "ce-1")
    assert failed.value.line("mount") == (
        f"ERROR mount: cannot write to {tmp_path}/absent: No such file or directory - fix: mount the shared folder read-write (EFS access policy)"
    )


def test_probe_chown_error_without_text_is_named_by_its_type(make_ctx: MakeCtx, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx, _ = make_ctx("mount")
    shared = tmp_path / "share"
    shared.mkdir()

    def refused(path: str, uid: int, gid: int) -> None:
        raise PermissionError()

    monkeypatch.setattr(mount.os, "chown", refused)
    with pytest.raises(PhaseError) as failed:
        mount.probe(ctx, str(shared), "ce-1")
    assert failed.value.line("mount") == (
        f"ERROR mount: root cannot chown to uid 1001 in {shared} (PermissionError): root squash? CE chowns its files to that uid"
        " - fix: allow root access on the EFS file system (no root squash: ClientRootAccess in its policy),"
        " or set cloud-exchange-ha:sharedDir to a share where root may chown"
    )
    assert list(shared.iterdir()) == []


# ----------------------------------------------------------------------------- ensure_layout


@needs_root
def test_layout_in_an_empty_share(tmp_path: Path) -> None:
    shared = tmp_path / "share"
    shared.mkdir()
    assert mount.ensure_layout(str(shared)) == CREATED
    for rel, mode, uid in [
        ("config", 0o744, 0),
        ("config/ssl_certs", 0o755, 1001),
        ("config/ca_certs", 0o755, 1001),
        ("repos", 0o755, 1001),
        ("plugins", 0o755, 1001),
        ("custom_plugins", 0o755, 1001),
        ("backups", 0o700, 0),
        ("config/ca_certs/.keep", 0o664, 1001),
    ]:
        st = (shared / rel).stat()
        assert (st.st_mode & 0o777, st.st_uid, st.st_gid) == (mode, uid, uid), rel
    assert (shared / "config/ca_certs/.keep").read_text() == ""
    assert mount.ensure_layout(str(shared)) == []


@needs_root
def test_layout_leaves_a_non_empty_ca_certs_without_keep(tmp_path: Path) -> None:
    shared = tmp_path / "share"
    (shared / "config" / "ca_certs").mkdir(parents=True)
    (shared / "config" / "ca_certs" / "corp.pem").write_text("pem")
    assert mount.ensure_layout(str(shared)) == ["config/ssl_certs", "repos", "plugins", "custom_plugins", "backups"]
    assert not (shared / "config" / "ca_certs" / ".keep").exists()


@pytest.mark.parametrize("kind", ["file", "dangling link"])
def test_layout_refuses_something_else_where_a_folder_goes(tmp_path: Path, kind: str) -> None:
    shared = tmp_path / "share"
    shared.mkdir()
    if kind == "file":
        (shared / "config").write_text("x")
    else:
        (shared / "config").symlink_to(tmp_path / "nowhere")
    with pytest.raises(PhaseError) as failed:
        mount.ensure_layout(str(shared))
    assert failed.value.line("mount") == f"ERROR mount: {shared}/config exists and is not a folder - fix: move it away; CE needs a folder there"


# ----------------------------------------------------------------------------- run: the phase's lines


def test_run_refuses_a_relative_shared_dir_word_for_word(make_ctx: MakeCtx) -> None:
    ctx, _ = make_ctx("mount", shared_dir="mnt/ce-ha", shared_source=SOURCE)
    with pytest.raises(PhaseError) as failed:
        mount.run(ctx)
    assert failed.value.line("mount") == (
        "ERROR mount: shared folder 'mnt/ce-ha' must be an absolute path without spaces - fix: set cloud-exchange-ha:sharedDir"
    )


def test_run_without_source_and_not_mounted_word_for_word(make_ctx: MakeCtx, tmp_path: Path) -> None:
    ctx, _ = make_ctx("mount", shared_dir=str(tmp_path / "mnt") + "/")
    with pytest.raises(PhaseError) as failed:
        mount.run(ctx)
    shared = tmp_path / "mnt"
    assert failed.value.line("mount") == (
        f"ERROR mount: shared folder {shared} is not mounted and node.json has no shared_source (EFS DNS name) to mount there"
        f" - fix: mount the shared file system at {shared} or set cloud-exchange-ha:sharedDir to where it is mounted"
    )


@needs_root
def test_run_mounted_without_source_warns_and_writes_no_fstab(make_ctx: MakeCtx, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    ctx, runner = make_ctx("mount", shared_dir=str(shared), tools=["docker", "systemctl"])
    mounted(ctx, shared)
    lines = progress_of(ctx)
    result = mount.run(ctx)
    assert ctx.log.warnings == [f"{shared} is mounted (ext4 from /dev/root) but no shared_source is known: fstab not written"]
    assert f"{shared} already mounted (ext4 from /dev/root): not remounting" in logged(ctx)
    assert not Path(ctx.env.host_path("/etc/fstab")).exists()
    assert lines == [f"progress mount: probing {shared} (write, read, ownership)"]
    assert result.line("mount") == (f"mount: changed {shared}: docker waits for mount, shared folder token, created " + " ".join(CREATED))
    assert runner.calls == [["/usr/bin/systemctl", "daemon-reload"]]


@needs_root
def test_run_mounts_writes_fstab_without_a_backup_of_nothing_then_is_unchanged(
    make_ctx: MakeCtx, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "shared"
    ctx, runner = make_ctx("mount", shared_dir=str(shared), shared_source=SOURCE, tools=["docker", "systemctl"])
    wanted = f"{SOURCE} {shared} nfs4 {OPTS},_netdev,nofail 0 0"
    chowned: list[str] = []
    real_chown = os.chown

    def recording(path: str, uid: int, gid: int) -> None:
        chowned.append(os.path.basename(path))
        real_chown(path, uid, gid)

    monkeypatch.setattr(mount.os, "chown", recording)
    result = mount.run(ctx)
    assert chowned[0] == ".cloud-exchange-ha-probe-ce-1"  # named for node.json's node_name
    assert runner.calls == [["mount", "-t", "nfs4", "-o", OPTS, SOURCE, str(shared)], ["/usr/bin/systemctl", "daemon-reload"]]
    fstab = Path(ctx.env.host_path("/etc/fstab"))
    assert fstab.read_text() == MARK + wanted + "\n" and fstab.stat().st_mode & 0o777 == 0o644
    assert not Path(ctx.env.host_path("/etc/fstab.cloud-exchange-ha.bak")).exists()  # there was no fstab to keep
    assert f"fstab: {wanted} (old copy in {ctx.env.root}/etc/fstab.cloud-exchange-ha.bak)" in logged(ctx)
    assert result.line("mount") == (
        f"mount: changed {shared}: fstab, mounted, docker waits for mount, shared folder token, created " + " ".join(CREATED)
    )
    again, again_runner = make_ctx("mount", shared_dir=str(shared), shared_source=SOURCE, tools=["docker", "systemctl"])
    mounted(again, shared)
    second = mount.run(again)
    assert second.line("mount") == f"mount: unchanged {shared} mounted, fstab and drop-in in place, probe ok, token there"
    assert again_runner.calls == [] and again.log.warnings == []
