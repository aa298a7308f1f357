"""Booting and stopping one lab host with systemd-nspawn (the recipe of docs/test-hosts.md).

Owns, per host, ``<lab dir>/hosts/<name>/{upper,work,root,docker}``: an overlay of the golden
image mounted at ``root`` (the host's own changes land in ``upper``), the per-host identity
files written into it (hostname, authorized key, apt source, pip.conf), and the
``systemd-nspawn -b`` process in the host's network namespace. Also owns the tmpfs on
/run/systemd/nspawn that nspawn needs on this kind of machine (mounted only if absent).
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import time
from pathlib import Path

from ._util import LabError, is_mountpoint, proc_children, proc_starttime, run, umount

NSPAWN_RUN = Path("/run/systemd/nspawn")


@dataclasses.dataclass
class HostFiles:
    """Text of the per-host files written into the overlay before boot."""

    hostname: str
    authorized_key: str
    apt_source: str
    pip_conf: str
    hosts_lines: str = ""


def ensure_nspawn_tmpfs() -> bool:
    """Mount a tmpfs on /run/systemd/nspawn unless one is there; True if this call mounted it."""
    if is_mountpoint(NSPAWN_RUN):
        return False
    NSPAWN_RUN.mkdir(parents=True, exist_ok=True)
    run(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", NSPAWN_RUN])
    return True


def release_nspawn_tmpfs() -> bool:
    """Unmount it if no container still uses it (nspawn keeps propagate/<machine> while running)."""
    propagate = NSPAWN_RUN / "propagate"
    if propagate.is_dir() and any(propagate.iterdir()):
        return False
    umount(NSPAWN_RUN)
    return True


def _user_ids(root: Path, user: str) -> tuple[int, int]:
    for line in (root / "etc/passwd").read_text().splitlines():
        parts = line.split(":")
        if parts[0] == user:
            return int(parts[2]), int(parts[3])
    raise LabError(f"user {user} not in image")


def _write(root: Path, rel: str, text: str, mode: int = 0o644, owner: tuple[int, int] = (0, 0)) -> None:
    path = root / rel.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink():
        path.unlink()
    path.write_text(text)
    os.chmod(path, mode)
    os.chown(path, *owner)


def prepare_root(lower: Path, host_dir: Path, files: HostFiles, user: str, shared_mount: str) -> Path:
    """Mount the overlay for one host and write its identity into it; returns the root dir."""
    for sub in ("upper", "work", "root", "docker"):
        (host_dir / sub).mkdir(parents=True, exist_ok=True)
    root = host_dir / "root"
    run(["mount", "-t", "overlay", "overlay", "-o",
         f"lowerdir={lower},upperdir={host_dir / 'upper'},workdir={host_dir / 'work'}", root])
    _write(root, "/etc/hostname", files.hostname + "\n")
    _write(root, "/etc/hosts", f"127.0.0.1\tlocalhost\n127.0.1.1\t{files.hostname}\n"
           f"::1\tlocalhost ip6-localhost ip6-loopback\n{files.hosts_lines}")
    uid, gid = _user_ids(root, user)
    ssh_dir = root / "home" / user / ".ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    os.chown(ssh_dir, uid, gid)
    _write(root, f"/home/{user}/.ssh/authorized_keys", files.authorized_key, 0o600, (uid, gid))
    _write(root, "/etc/apt/sources.list.d/ce-ha-lab.list", files.apt_source)
    _write(root, "/etc/pip.conf", files.pip_conf)
    (root / shared_mount.lstrip("/")).mkdir(parents=True, exist_ok=True)
    return root


def boot(
    *,
    machine: str,
    hostname: str,
    root: Path,
    netns: Path,
    binds: dict[Path, str],
    log_path: Path,
) -> subprocess.Popen[bytes]:
    """Start ``systemd-nspawn -b`` for ``root`` in network namespace ``netns``; returns the process.

    ``machine`` must be unique on the machine (nspawn keeps /run/systemd/nspawn/propagate/<machine>).
    """
    argv = [
        "systemd-nspawn",
        "--quiet",
        f"--directory={root}",
        "--boot",
        f"--machine={machine}",
        f"--hostname={hostname}",
        "--register=no",
        "--keep-unit",
        f"--network-namespace-path={netns}",
        "--capability=all",
        "--system-call-filter=add_key keyctl bpf",
        "--console=read-only",
        "--link-journal=no",
        "--resolv-conf=off",
        "--timezone=off",
    ]
    argv += [f"--bind={src}:{dst}" for src, dst in binds.items()]
    env = dict(os.environ, SYSTEMD_NSPAWN_API_VFS_WRITABLE="1")
    with open(log_path, "ab") as logf:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=logf,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )


def stop(pid: int, starttime: int | None, popen: subprocess.Popen[bytes] | None, timeout: float = 15.0) -> None:
    """Power a host off by signalling its nspawn process (SIGTERM = clean poweroff).

    If that takes longer than ``timeout``, the container's init (nspawn's child, PID 1 of the
    host's pid namespace) is SIGKILLed first - which ends every process of the host - and only
    then nspawn itself: killing nspawn alone would leave the container running as an orphan.
    PIDs are only signalled while their start time still matches the recorded one.
    """
    if starttime is None or proc_starttime(pid) != starttime:
        if popen is not None:
            popen.poll()
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    if _wait_gone(pid, starttime, popen, timeout):
        return
    for child in proc_children(pid):
        kill_orphan(child, proc_starttime(child))
    if _wait_gone(pid, starttime, popen, 5.0):
        return
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    _wait_gone(pid, starttime, popen, 10.0)


def container_init(nspawn_pid: int) -> int | None:
    """The host's PID 1 as seen from the machine (nspawn's only child once the host runs)."""
    kids = proc_children(nspawn_pid)
    return kids[0] if len(kids) == 1 else None


def kill_orphan(pid: int, starttime: int | None, timeout: float = 5.0) -> None:
    """SIGKILL a container init (ends its whole pid namespace) if it is still the recorded process."""
    if starttime is None or proc_starttime(pid) != starttime:
        return
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    _wait_gone(pid, starttime, None, timeout)


def _wait_gone(pid: int, starttime: int, popen: subprocess.Popen[bytes] | None, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if popen is not None:
            if popen.poll() is not None:
                return True
        elif proc_starttime(pid) != starttime:
            return True
        time.sleep(0.1)
    return False


def unmount_root(host_dir: Path) -> None:
    umount(host_dir / "root")
