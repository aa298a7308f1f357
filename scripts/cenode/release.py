"""CE version tags: parsing, formatting, comparing, and the versions this program can drive.

Owns: the ``Version`` triple, reading tags like ``v5.1.2`` / ``v6.0.0-beta.1``, the HA and driver
minimums and the text CE's setup prints on success. Which release line a version belongs to and
what differs per line is in ``cenode.lines`` (``lines.for_version``).

Must not touch: anything outside the standard library. This module runs both inside the
Pulumi program (settings) and on the CE nodes (prepare, preflight), where nothing but python3 is
guaranteed.
"""

from __future__ import annotations

import re
from typing import Iterable, Tuple  # noqa: UP035 - keeps the module importable on python 3.8 nodes

Version = Tuple[int, int, int]  # noqa: UP006 - see the import

#: HA exists from CE 5.0.0 on (docs/ce-facts.md §5.2: setup compares INSTALL_VERSION < "5.0.0").
HA_MIN_VERSION: Version = (5, 0, 0)
#: 5.0.x and 5.1.0 open setup with a version menu this program does not drive (docs/ce-facts.md §C10).
DRIVER_MIN_VERSION: Version = (5, 1, 1)
#: the first tag CE's repository spells with a leading ``v`` (``5.1.1`` has none, ``v5.1.2`` has one: the tag
#: list of docs/ce-lifecycle.md's evidence note)
FIRST_V_TAG: Version = (5, 1, 2)
#: CE's setup judges success by this text alone; 5.x exits 0 even on failure (docs/ce-facts.md §1.3, §9.1).
SETUP_SUCCESS_TEXT = "Setup completed successfully"

_TAG = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(?:-beta[.\d]*)?$")


def parse_version(tag: str) -> Version:
    """``v5.1.2`` / ``5.1.2`` / ``v6.0.0-beta.1`` -> (major, minor, patch); ValueError otherwise."""
    match = _TAG.match(tag.strip())
    if not match:
        raise ValueError(f"{tag!r} is not a CE version tag like v5.1.2")
    major, minor, patch = (int(part) for part in match.groups())
    return (major, minor, patch)


def tag_name(tag: str) -> str:
    """``tag`` spelled the way CE's repository spells it; ValueError when it is not a CE version tag.

    CE's tags are not uniform: ``5.1.1`` (and older) have no leading ``v``, ``v5.1.2`` and every later
    tag have one (``v6.0.0``, ``v6.1.0``). So ``v5.1.1`` becomes ``5.1.1``, ``5.1.2`` becomes
    ``v5.1.2``, surrounding blanks go and a ``-beta...`` suffix stays: a setting that names a
    release never reaches ``git fetch`` as a string that silently misses the tag.
    """
    text = tag.strip()
    match = _TAG.match(text)
    if not match:
        raise ValueError(f"{tag!r} is not a CE version tag like v5.1.2")
    version: Version = (int(match.group(1)), int(match.group(2)), int(match.group(3)))
    prefix = "v" if version >= FIRST_V_TAG else ""
    return prefix + format_version(version) + text[match.end(3):]


def closest_tag(wanted: str, available: Iterable[str]) -> str | None:
    """The tag of ``available`` nearest to ``wanted`` (same spelling first, then the nearest version,
    newer before older on a tie); None when no tag there is a CE version tag.

    For the error a node gives when ``ceVersion`` names a tag the repository does not have.
    """
    target = parse_version(wanted)
    candidates = []
    for tag in available:
        try:
            version = parse_version(tag)
        except ValueError:
            continue
        same = version == target
        distance = tuple(abs(a - b) for a, b in zip(version, target))
        candidates.append((not same, distance, version < target, tag))
    return min(candidates)[3] if candidates else None


def format_version(version: Version) -> str:
    return ".".join(str(part) for part in version)


def satisfies(installed: Version, minimum: Version) -> bool:
    return installed >= minimum
