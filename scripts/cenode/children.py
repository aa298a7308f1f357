"""The process groups a phase started, and ending them when the phase itself is ended from outside.

Owns: ``Children``, the register of the commands a phase runs while they run. Every command
starts in a session (so a process group) of its own: ``Runner.run`` with ``start_new_session``,
pexpect's pty fork for CE's 5.x setup. A signal to ce-node's own group therefore never reaches
them, and when coreutils ``timeout`` (the Pulumi step's outer bound, ``catalogue.Phase.outer_s``)
sends ce-node SIGTERM, apt, git or CE's setup would run on as orphans. ``on_sigterm`` is the
handler ``ce-node`` installs for that: it ends every registered group (SIGTERM, then SIGKILL to
what is left after ``GRACE_S``) and raises ``Ended``, which the CLI turns into its one ERROR line.
``Ended`` is a ``BaseException``, so no phase's ``except Exception`` holds it up; ``finally``
blocks (the node lock, the log) still run.

Must not touch: any process it did not start (it only signals the groups registered here).
Standard library only (python 3.8+).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from types import FrameType
from typing import Optional  # noqa: UP035 - python 3.8 nodes

#: seconds between SIGTERM and SIGKILL for the groups still alive (well inside the step's slack)
GRACE_S = 5.0


class Ended(BaseException):
    """ce-node was told to end (SIGTERM) and has ended its children's process groups."""

    def __init__(self, signum: int, groups: list[int]) -> None:
        super().__init__(f"ended by {signal.Signals(signum).name}")
        self.signum = signum
        self.groups = groups


def signal_group(pgid: int, signum: int) -> bool:
    """Send ``signum`` to process group ``pgid``; False when the group is gone."""
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - ce-node runs as root
        return True
    return True


def group_alive(pgid: int) -> bool:
    """Some process of the group still exists; the leader (our own child) is reaped if it died."""
    try:
        os.waitpid(pgid, os.WNOHANG)  # a dead leader stays a zombie, which still counts for kill(0)
    except ChildProcessError:
        pass
    return signal_group(pgid, 0)


class Children:
    """The process groups (leader pid = group id) of the commands running now."""

    def __init__(self) -> None:
        self._groups: set[int] = set()
        self.ending = False

    def started(self, pid: int) -> None:
        """A command started in a group of its own; one that starts while ce-node ends is killed at once."""
        if self.ending:
            signal_group(pid, signal.SIGKILL)
            return
        self._groups.add(pid)

    def finished(self, pid: Optional[int]) -> None:  # noqa: UP045 - python 3.8 nodes
        if pid is not None:
            self._groups.discard(pid)

    @property
    def groups(self) -> list[int]:
        return sorted(self._groups)

    def end_all(
        self, grace: float = GRACE_S, sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic
    ) -> list[int]:
        """SIGTERM to every group, SIGKILL to those alive after ``grace`` s; returns the groups ended."""
        self.ending = True
        groups = self.groups
        for pgid in groups:
            signal_group(pgid, signal.SIGTERM)
        deadline = clock() + grace
        while clock() < deadline and any(group_alive(pgid) for pgid in groups):
            sleep(0.1)
        for pgid in groups:
            if group_alive(pgid):
                signal_group(pgid, signal.SIGKILL)
        self._groups.clear()
        return groups


#: the one register of this ce-node process (signals are per process, so is this)
CHILDREN = Children()


def on_sigterm(children: Children) -> Callable[[int, Optional[FrameType]], None]:  # noqa: UP045 - python 3.8 nodes
    """The SIGTERM handler: end ``children``'s groups, then raise ``Ended`` in the phase."""

    def handler(signum: int, frame: Optional[FrameType]) -> None:  # noqa: UP045 - python 3.8 nodes
        if children.ending:  # coreutils timeout signals ce-node and then its group: the second one finds it ending
            return
        raise Ended(signum, children.end_all())

    return handler
