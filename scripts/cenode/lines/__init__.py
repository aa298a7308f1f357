"""CE release lines: the ONE place that maps a version tag to its line (``for_version``).

Owns: the table of known lines (``LINES``) and choosing one for a tag or version. Each line is one
module (``ce5``, ``ce6``) holding its facts and plan; ``base`` holds their shape. A new line is one
new module plus its entry in ``LINES``; nothing else in the program asks which line it is on.

Must not touch: anything outside the standard library; the node agent, the Pulumi program, the
policy pack and the docs all import this package.
"""

from __future__ import annotations

from typing import Dict  # noqa: UP035 - python 3.8 nodes

from ..catalogue import Implementation
from ..release import Version, parse_version
from .base import (
    DRAIN_PREFIX,
    JOIN_PREFIX,
    NFS_PORT,
    SSH_PORT,
    WINDOW_PREFIX,
    GlusterFacts,
    NotNeeded,
    PhaseTarget,
    Plan,
    PortRange,
    ReleaseLine,
    SharedWitness,
    Stage,
    Step,
)
from .ce5 import CE5
from .ce6 import CE6, CE6_GLUSTER

LINES: Dict[int, ReleaseLine] = {line.major: line for line in (CE5, CE6)}  # noqa: UP006 - python 3.8 nodes


def line_for(version: Version) -> ReleaseLine:
    """The release line of a version; KeyError for a major this program does not know."""
    return LINES[version[0]]


def for_version(tag: str) -> ReleaseLine:
    """The release line of a tag like ``v5.1.2``; ValueError for a bad tag, KeyError for an unknown major."""
    return line_for(parse_version(tag))


__all__ = [
    "CE5", "CE6", "CE6_GLUSTER", "DRAIN_PREFIX", "JOIN_PREFIX", "LINES", "NFS_PORT", "SSH_PORT", "WINDOW_PREFIX", "GlusterFacts", "Implementation",
    "NotNeeded", "PhaseTarget", "Plan", "PortRange", "ReleaseLine", "SharedWitness", "Stage", "Step", "for_version", "line_for",
]
