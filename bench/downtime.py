"""CE downtime on one node, from what a poller saw: (time, the stand-in mongod's pid or None) samples.

Owns the arithmetic only (bench/day_two.py polls). A node counts as down from the first sample
without a pid to the next sample with one (or the last sample, when it never came back). Nothing
is counted before the node was first seen up (a node that a flow is still building is not "down").
A pid that changed between two up samples is a restart the poller slept through: the gap between
those two samples is counted, the most it can have lasted.
"""

from __future__ import annotations

from collections.abc import Sequence

Sample = tuple[float, "int | None"]  #: (monotonic seconds, the mongod's pid, None when it was not running)


def down_intervals(samples: Sequence[Sample]) -> list[tuple[float, float]]:
    """(start, end) of every interval the node was down, in time order; samples must be in time order."""
    intervals: list[tuple[float, float]] = []
    last_pid: int | None = None  # the pid of the last up sample
    last_up_at = 0.0
    down_since: float | None = None
    seen_up = False
    for at, pid in samples:
        if pid is None:
            if seen_up and down_since is None:
                down_since = at
            continue
        if down_since is not None:
            intervals.append((down_since, at))
            down_since = None
        elif seen_up and pid != last_pid:
            intervals.append((last_up_at, at))
        seen_up, last_pid, last_up_at = True, pid, at
    if down_since is not None:
        intervals.append((down_since, samples[-1][0]))
    return intervals


def seconds_down(samples: Sequence[Sample]) -> float:
    """The total of down_intervals: 0.0 when the node never went down."""
    return sum(end - start for start, end in down_intervals(samples))
