"""One change at a time per node: the node-wide lock every phase that changes the node takes.

Owns: ``<state_dir>/ce-node.lock``, an ``flock`` held for the whole phase (the kernel drops it
when the process ends, however it ends), and the holder's description in the file (pid, phase,
since when), so that a second caller (a manual ``ce-node stop`` during a ``pulumi up``, or the
other way round) waits a bounded time and then fails naming the holder.

Must not touch: anything but that file. Standard library only (python 3.8 nodes).
"""

from __future__ import annotations

import datetime
import fcntl
import json
import os
import time
from collections.abc import Callable

from .system import PhaseError

LOCK_FILE = "ce-node.lock"
#: how often a waiting caller tries again (seconds)
POLL_S = 1.0


class NodeLock:
    """The node-wide lock for ``phase``; :meth:`acquire` waits at most ``wait_s`` seconds."""

    def __init__(
        self,
        state_dir: str,
        phase: str,
        wait_s: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.path = os.path.join(state_dir, LOCK_FILE)
        self.state_dir = state_dir
        self.phase = phase
        self.wait_s = wait_s
        self.clock = clock
        self.sleep = sleep
        self._fd: int | None = None

    def acquire(self) -> None:
        """Hold the lock or raise ``PhaseError`` naming who holds it."""
        os.makedirs(self.state_dir, mode=0o700, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = self.clock() + self.wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if self.clock() >= deadline:
                    holder = describe_holder(fd)
                    os.close(fd)
                    raise PhaseError(
                        f"another ce-node phase is changing this node ({holder}); waited {int(self.wait_s)} s",
                        "let it finish, then run this step again (a manual ce-node run and pulumi up must not overlap)",
                    ) from None
                self.sleep(POLL_S)
        since = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        record = json.dumps({"pid": os.getpid(), "phase": self.phase, "since": since}) + "\n"
        os.ftruncate(fd, 0)
        os.pwrite(fd, record.encode("utf-8"), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> NodeLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def describe_holder(fd: int) -> str:
    """``pid 123, phase stop, since 2026-01-01T10:00:00Z`` from the lock file (as far as it is known)."""
    try:
        data = json.loads(os.pread(fd, 4096, 0).decode("utf-8", "replace") or "{}")
    except ValueError:
        data = {}
    if not isinstance(data, dict) or "pid" not in data:
        return "holder not recorded yet"
    return f"pid {data.get('pid')}, phase {data.get('phase', '?')}, since {data.get('since', '?')}"
