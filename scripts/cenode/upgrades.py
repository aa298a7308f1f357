"""Which CE version changes a deployed cluster may take: the ONE table of upgrade paths.

Owns: ``UPGRADE_PATHS`` (data: from which versions to which version CE's own scripts carry a cluster,
each with its evidence in docs/ce-lifecycle.md) and :func:`classify`, which judges a move from the
deployed version to the wanted one: the same version, an upgrade on a listed path, a downgrade (CE
has no downgrade path: docs/ce-lifecycle.md §1.6), or a move no path covers (a skip CE does not
support, a pre-release, a version this table does not know yet). Anything not listed is refused.

The Pulumi program asks it before declaring anything (``components/version_change.py``); it lives
with the node agent because the node-side upgrade, once it exists, must follow the same table.
Which versions the program can drive at all is ``release``'s (``DRIVER_MIN_VERSION``), which line a
version is on ``lines``'.

Must not touch: anything outside the standard library (python 3.8 nodes import it).
"""

from __future__ import annotations

from typing import NamedTuple, Optional, Tuple  # noqa: UP035 - python 3.8 nodes

from . import release

#: the verdicts of :func:`classify`
SAME, UPGRADE, DOWNGRADE, UNSUPPORTED = "same", "upgrade", "downgrade", "unsupported"


class UpgradePath(NamedTuple):
    """One upgrade CE's scripts carry a cluster through: from ``source`` (a version, or ``M.m.x`` for
    any patch release of a minor line) to the version ``target``."""

    source: str
    target: str
    evidence: str

    def __str__(self) -> str:
        return f"{self.source} -> {self.target}"


#: every upgrade this program accepts; anything else is refused with this list
UPGRADE_PATHS: Tuple[UpgradePath, ...] = (  # noqa: UP006 - python 3.8 nodes
    UpgradePath("5.1.1", "5.1.2", "docs/ce-lifecycle.md §2 (within the 5.x line; the MongoDB data migrates: docs/ce-lifecycle.md §1.6)"),
    UpgradePath("6.0.0", "6.0.1", "docs/ce-lifecycle.md §2 (within the 6.x line)"),
    UpgradePath("6.0.x", "6.1.0", "docs/ce-lifecycle.md §2 (within the 6.x line)"),
    UpgradePath("5.1.x", "6.1.0", "docs/ce-lifecycle.md §3, §4.3 (5.x is end of life on 2026-10-31; NFS to GlusterFS)"),
)


class Change(NamedTuple):
    """The verdict on moving a cluster from ``deployed`` to ``wanted`` (both spelled as CE's tags)."""

    kind: str
    deployed: str
    wanted: str
    path: Optional[UpgradePath]  # noqa: UP045 - python 3.8 nodes

    @property
    def refused(self) -> bool:
        return self.kind in (DOWNGRADE, UNSUPPORTED)


def _matches(pattern: str, version: release.Version) -> bool:
    parts = pattern.split(".")
    return len(parts) == 3 and all(part == "x" or int(part) == number for part, number in zip(parts, version))


def classify(deployed: str, wanted: str) -> Change:
    """Judge moving a cluster from the tag ``deployed`` to the tag ``wanted``; ValueError for a non-tag."""
    old, new = release.tag_name(deployed), release.tag_name(wanted)
    if old == new:
        return Change(SAME, old, new, None)
    old_version, new_version = release.parse_version(old), release.parse_version(new)
    if new_version < old_version:
        return Change(DOWNGRADE, old, new, None)
    if _is_release(old) and _is_release(new):  # a pre-release (-beta) is on no path
        for path in UPGRADE_PATHS:
            if _matches(path.source, old_version) and release.parse_version(path.target) == new_version:
                return Change(UPGRADE, old, new, path)
    return Change(UNSUPPORTED, old, new, None)


def _is_release(tag: str) -> bool:
    return tag == release.tag_name(release.format_version(release.parse_version(tag)))


def listed() -> str:
    """The allowed paths for a message: ``5.1.1 -> 5.1.2, ...``."""
    return ", ".join(str(path) for path in UPGRADE_PATHS)
