"""Small shared helpers of the lab: running commands, hashing inputs, cache locks, process identity.

Owns nothing that lives on after a call returns; every other module uses these.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

log = logging.getLogger("cehalab")

CACHE_ROOT = Path(os.environ.get("CE_HA_LAB_CACHE", "/var/cache/cloud-exchange-ha-lab"))

HERE = Path(__file__).resolve().parent


class LabError(RuntimeError):
    """Something the lab needs failed; the message says what and how."""


def run(
    argv: Sequence[str | os.PathLike[str]],
    *,
    check: bool = True,
    env: Mapping[str, str] | None = None,
    input: bytes | None = None,
    timeout: float | None = 600,
    cwd: str | os.PathLike[str] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``argv`` (no shell), capture output, raise LabError with stderr when ``check`` and rc != 0."""
    args = [os.fspath(a) for a in argv]
    full_env = None
    if env is not None:
        full_env = dict(os.environ)
        full_env.update(env)
    log.debug("run: %s", " ".join(args))
    proc = subprocess.run(
        args,
        input=input,
        capture_output=True,
        env=full_env,
        timeout=timeout,
        cwd=cwd,
        check=False,
    )
    if check and proc.returncode != 0:
        raise LabError(
            f"command failed (rc={proc.returncode}): {' '.join(args)}\n"
            f"stdout: {proc.stdout.decode(errors='replace')[-2000:]}\n"
            f"stderr: {proc.stderr.decode(errors='replace')[-4000:]}"
        )
    return proc


def digest(*parts: object) -> str:
    """A short stable hash of JSON-able parts (and of files given as Path: their bytes)."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, Path):
            h.update(part.name.encode())
            h.update(part.read_bytes())
        else:
            h.update(json.dumps(part, sort_keys=True, default=str).encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Exclusive advisory lock so two runs never build the same cache entry at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def proc_starttime(pid: int) -> int | None:
    """Start time (clock ticks since boot) of ``pid``, or None if it is gone; guards against PID reuse."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm may contain spaces/parens: split after the last ')'
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):  # a zombie has finished; only its parent's reaping is missing
        return None
    return int(fields[19])


def proc_children(pid: int) -> list[int]:
    """Direct children of ``pid`` (all its threads)."""
    kids: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            kids += [int(x) for x in (task / "children").read_text().split()]
        except OSError:
            continue
    return kids


def is_mountpoint(path: Path) -> bool:
    target = os.path.realpath(path)
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            mnt = line.split()[4].encode().decode("unicode_escape")
            if mnt == target:
                return True
    return False


def umount(path: Path) -> None:
    """Unmount ``path`` (and anything stacked on it); lazy as the last resort."""
    for _ in range(5):
        if not is_mountpoint(path):
            return
        proc = run(["umount", path], check=False)
        if proc.returncode != 0:
            time.sleep(0.2)
    if is_mountpoint(path):
        run(["umount", "-l", path], check=False)
    if is_mountpoint(path):
        raise LabError(f"cannot unmount {path}")


def mounts_under(path: Path) -> list[Path]:
    """Mount points at or below ``path`` (deepest first)."""
    base = os.path.realpath(path)
    found = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            mnt = line.split()[4].encode().decode("unicode_escape")
            if mnt == base or mnt.startswith(base + "/"):
                found.append(Path(mnt))
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def rmtree(path: Path) -> None:
    """Remove a tree of root-owned files without ever crossing into a mount still below it."""
    if not (path.exists() or path.is_symlink()):
        return
    for mnt in mounts_under(path):
        umount(mnt)
    run(["rm", "-rf", "--one-file-system", path], check=False)


def which(name: str) -> str | None:
    return shutil.which(name) or next(
        (str(p) for d in ("/usr/sbin", "/sbin") if (p := Path(d) / name).exists()), None
    )
