"""Phase ``wait``: until cloud-init has finished and no package manager holds its lock (bounded).

Owns: reading ``cloud-init status --wait`` and probing the apt/dpkg and rpm/dnf locks without
taking them: ``fcntl(F_GETLK)`` asks the kernel who would block a write lock, and ``/proc/locks``
is matched against the lock files' device and inode (flock-style locks); a running apt-get is
never disturbed by our probe.

Must not touch: anything. It only waits and reads.
"""

from __future__ import annotations

import errno
import fcntl
import glob
import os
import struct
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from ..system import CommandTimeout, Ctx, PhaseError, PhaseResult, read_text, retry

if TYPE_CHECKING:
    from typing_extensions import TypeAlias  # typing.TypeAlias is 3.10+; only the type checker imports this

#: files whose POSIX/flock lock means "a package manager is running"
LOCK_FILES = (
    "/var/lib/dpkg/lock-frontend",
    "/var/lib/dpkg/lock",
    "/var/lib/apt/lists/lock",
    "/var/cache/apt/archives/lock",
    "/var/lib/rpm/.rpm.lock",
)
#: dnf/yum pid files: held while the pid in them is alive
PID_LOCK_GLOBS = ("/var/run/dnf.pid", "/run/dnf/*.pid", "/var/cache/dnf/*lock.pid", "/var/run/yum.pid")

FileId: TypeAlias = "tuple[int, int, int]"  # (major, minor, inode); a string: python 3.8 on Ubuntu 20.04


def parse_proc_locks(text: str) -> set[FileId]:
    """``/proc/locks`` lines -> the (major, minor, inode) of every locked file.

    Line format: ``1: POSIX  ADVISORY  WRITE 1234 08:01:131090 0 EOF``; blocked waiters have a
    ``->`` after the number and are skipped (they do not hold the lock).
    """
    held: set[FileId] = set()
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 6 or "->" in fields[1]:
            continue
        dev = fields[5].split(":")
        if len(dev) != 3:
            continue
        try:
            held.add((int(dev[0], 16), int(dev[1], 16), int(dev[2])))
        except ValueError:
            continue
    return held


def locked_files(candidates: dict[str, FileId], held: set[FileId]) -> list[str]:
    """Which candidate files appear in ``/proc/locks`` (same device and inode)."""
    return sorted(path for path, file_id in candidates.items() if file_id in held)


_FLOCK = "hhqqi"  # struct flock on 64-bit Linux: l_type, l_whence, l_start, l_len, l_pid


def posix_lock_holder(path: str) -> int | None:
    """The pid holding a POSIX (fcntl) lock that would block a write lock on ``path``, else None.

    F_GETLK only asks; it never takes the lock. Locks of this very process are not reported.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        query = struct.pack(_FLOCK, fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0) + bytes(4)
        answer = fcntl.fcntl(fd, fcntl.F_GETLK, query)
        l_type, _, _, _, pid = struct.unpack(_FLOCK, answer[: struct.calcsize(_FLOCK)])
    except OSError:
        return None
    finally:
        os.close(fd)
    return None if l_type == fcntl.F_UNLCK else pid


def _file_ids(paths: Iterable[str]) -> dict[str, FileId]:
    ids: dict[str, FileId] = {}
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            continue
        ids[path] = (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino)
    return ids


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == errno.EPERM
    return True


def busy_pid_files(paths: Iterable[str], alive: Callable[[int], bool] = _pid_alive) -> list[str]:
    busy = []
    for path in paths:
        text = read_text(path, default="").strip()
        if text.isdigit() and alive(int(text)):
            busy.append(path)
    return busy


def package_locks(ctx: Ctx) -> list[str]:
    """The package-manager lock files held right now (probing, never taking them)."""
    env = ctx.env
    paths = [env.host_path(p) for p in LOCK_FILES]
    busy = {path for path in paths if posix_lock_holder(path) is not None}
    held = parse_proc_locks(read_text(env.host_path("/proc/locks"), default=""))
    busy.update(locked_files(_file_ids(paths), held))
    pid_files: list[str] = []
    for pattern in PID_LOCK_GLOBS:
        pid_files.extend(glob.glob(env.host_path(pattern)))
    busy.update(busy_pid_files(pid_files))
    return sorted(busy)


def wait_cloud_init(ctx: Ctx, budget: float) -> str:
    exe = ctx.runner.which("cloud-init")
    if not exe:
        return "no cloud-init"
    try:
        result = ctx.runner.run([exe, "status", "--wait"], timeout=max(budget, 1))
    except CommandTimeout:
        raise PhaseError(
            f"cloud-init still running after {int(budget)} s",
            "look at /var/log/cloud-init-output.log on the node; raise timeouts.wait if the image is slow",
        ) from None
    if result.rc == 0:
        return "cloud-init done"
    if result.rc == 2:  # finished with recoverable errors (cloud-init >= 23.4)
        ctx.log.warn("cloud-init finished with recoverable errors (see /var/log/cloud-init.log)")
        return "cloud-init done (recoverable errors)"
    ctx.log.warn(f"cloud-init status rc={result.rc}: {result.tail()}")
    return "cloud-init reported an error (see log)"


def run(ctx: Ctx, timeout: int | None = None) -> PhaseResult:
    budget = float(timeout if timeout is not None else ctx.timeout("wait"))
    start = ctx.clock()
    ctx.progress("waiting for cloud-init to finish", 1, 2)
    cloud_init = wait_cloud_init(ctx, budget)
    ctx.progress("waiting for the package manager's locks", 2, 2)

    def waiting(held: list[str], attempt: int) -> None:
        if attempt == 1:
            ctx.progress(f"package manager lock held: {', '.join(held)}; waiting up to {int(budget - (ctx.clock() - start))} s")

    held = retry(
        lambda: package_locks(ctx),
        should_retry=bool,
        log=ctx.log,
        what="package locks",
        delay=5,
        budget=budget - (ctx.clock() - start),
        sleep=ctx.sleep,
        clock=ctx.clock,
        on_retry=waiting,
    )
    elapsed = ctx.clock() - start
    if held:
        raise PhaseError(
            f"package manager lock still held after {int(elapsed)} s: {', '.join(held)}",
            "wait for unattended-upgrades/dnf-automatic to finish or raise timeouts.wait",
        )
    return PhaseResult("ok", f"{cloud_init}, no package lock held ({elapsed:.0f}s)")
