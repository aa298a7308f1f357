"""wait: lock detection without taking locks, cloud-init handling, the bound."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from scripts.cenode.phases import wait
from scripts.cenode.system import Ctx, PhaseError

from .conftest import FakeRunner

PROC_LOCKS = """1: POSIX  ADVISORY  WRITE 1234 08:01:131090 0 EOF
1: -> POSIX  ADVISORY  WRITE 999 08:01:555 0 EOF
2: FLOCK  ADVISORY  WRITE 222 00:1a:77 0 EOF
3: OFDLCK ADVISORY  READ  -1 fd:00:42 0 EOF
garbage line
"""


def test_parse_proc_locks_skips_waiters_and_garbage() -> None:
    assert wait.parse_proc_locks(PROC_LOCKS) == {(8, 1, 131090), (0, 26, 77), (253, 0, 42)}


def test_locked_files_needs_device_and_inode() -> None:
    held = {(8, 1, 131090)}
    files = {"/var/lib/dpkg/lock-frontend": (8, 1, 131090), "/var/lib/dpkg/lock": (8, 1, 131091), "other-dev": (8, 2, 131090)}
    assert wait.locked_files(files, held) == ["/var/lib/dpkg/lock-frontend"]


def _hold_lock(path: Path) -> subprocess.Popen[str]:
    code = "import fcntl, sys, time; f = open(sys.argv[1], 'w'); fcntl.lockf(f, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(60)"
    proc = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def test_posix_lock_holder_sees_another_process_lock_without_taking_it(tmp_path: Path) -> None:
    lock = tmp_path / "lock-frontend"
    lock.write_text("")
    assert wait.posix_lock_holder(str(lock)) is None
    proc = _hold_lock(lock)
    try:
        assert wait.posix_lock_holder(str(lock)) == proc.pid
        # probing did not take the lock: a third process still cannot get it
        probe = subprocess.run(
            [sys.executable, "-c", "import fcntl,sys; f=open(sys.argv[1],'w'); fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)", str(lock)],
            capture_output=True,
        )
        assert probe.returncode != 0
    finally:
        proc.kill()
        proc.wait()
    assert wait.posix_lock_holder(str(lock)) is None
    assert wait.posix_lock_holder(str(tmp_path / "missing")) is None


def test_busy_pid_files(tmp_path: Path) -> None:
    alive = tmp_path / "dnf.pid"
    alive.write_text(str(os.getpid()))
    dead = tmp_path / "yum.pid"
    dead.write_text("999999999")
    junk = tmp_path / "junk.pid"
    junk.write_text("not a pid")
    assert wait.busy_pid_files([str(alive), str(dead), str(junk)], alive=lambda pid: pid == os.getpid()) == [str(alive)]


def _dpkg_lock(ctx: Ctx) -> Path:
    path = Path(ctx.env.host_path("/var/lib/dpkg/lock-frontend"))
    path.parent.mkdir(parents=True)
    path.write_text("")
    return path


def test_run_without_cloud_init_or_locks_is_ok(make_ctx: Callable[..., tuple[Ctx, FakeRunner]]) -> None:
    ctx, runner = make_ctx("wait")
    _dpkg_lock(ctx)
    result = wait.run(ctx)
    assert result.status == "ok" and "no cloud-init" in result.summary
    assert runner.calls == []


def test_run_waits_for_cloud_init(make_ctx: Callable[..., tuple[Ctx, FakeRunner]]) -> None:
    ctx, runner = make_ctx("wait", tools=["cloud-init"])
    runner.on("/usr/bin/cloud-init", "status", "--wait", rc=2, out="status: degraded done")
    assert "recoverable" in wait.run(ctx).summary
    assert runner.ran("/usr/bin/cloud-init", "status", "--wait")
    assert ctx.log.warnings


def test_run_times_out_on_a_held_lock(make_ctx: Callable[..., tuple[Ctx, FakeRunner]]) -> None:
    ctx, _ = make_ctx("wait")
    lock = _dpkg_lock(ctx)
    proc = _hold_lock(lock)
    try:
        with pytest.raises(PhaseError) as failed:
            wait.run(ctx, timeout=30)  # the fake clock advances 5 s per sleep
    finally:
        proc.kill()
        proc.wait()
    assert "lock-frontend" in failed.value.what and "timeouts.wait" in failed.value.fix


def test_run_sees_a_flock_in_proc_locks(make_ctx: Callable[..., tuple[Ctx, FakeRunner]]) -> None:
    ctx, _ = make_ctx("wait")
    lock = _dpkg_lock(ctx)
    st = lock.stat()
    device = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}"
    Path(ctx.env.host_path("/proc/locks")).write_text(f"1: FLOCK  ADVISORY  WRITE 42 {device}:{st.st_ino} 0 EOF\n")
    assert wait.package_locks(ctx) == [str(lock)]
    with open(lock) as handle:  # a real flock is not an fcntl lock: only /proc/locks shows it
        fcntl.flock(handle, fcntl.LOCK_SH)
        assert wait.posix_lock_holder(str(lock)) is None
