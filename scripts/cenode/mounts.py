"""The node's mount table and ``/etc/fstab`` as text: escaping, parsing ``/proc/self/mountinfo``,
rewriting the one fstab line of a mount point.

Owns: the pure text rules both mounting phases (5.x ``mount``, 6.x ``bricks``) and the GlusterFS
mount check share: fstab's octal escapes (``\\040`` for a space), which mount is at a path (the
last one wins), and "exactly one fstab line for this mount point, equal to the wanted one".

Must not touch: any file; callers read and write ``/etc/fstab`` and ``/proc/self/mountinfo``.
"""

from __future__ import annotations

import os
import re


def fstab_escape(path: str) -> str:
    return path.replace("\\", "\\134").replace(" ", "\\040").replace("\t", "\\011").replace("\n", "\\012")


def fstab_unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def rewrite_fstab(text: str, wanted_line: str, mountpoint: str) -> tuple[str, bool]:
    """Exactly one line mounts ``mountpoint``, equal to ``wanted_line``; other lines untouched."""
    mountpoint = os.path.normpath(mountpoint)
    out: list[str] = []
    matches: list[str] = []
    for line in text.splitlines():
        fields = line.split()
        if fields and not fields[0].startswith("#") and len(fields) >= 2 and os.path.normpath(fstab_unescape(fields[1])) == mountpoint:
            matches.append(line)
            continue
        out.append(line)
    if len(matches) == 1 and matches[0].split() == wanted_line.split():
        return text, False
    out.append(wanted_line)
    return "\n".join(out) + "\n", True


def parse_mountinfo(text: str) -> dict[str, tuple[str, str]]:
    """``/proc/self/mountinfo`` -> {mountpoint: (fstype, source)} (the last mount on a path wins)."""
    mounts: dict[str, tuple[str, str]] = {}
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        fields = left.split()
        if not sep or len(fields) < 5:
            continue
        rest = right.split()
        fstype = rest[0] if rest else ""
        source = rest[1] if len(rest) > 1 else ""
        mounts[fstab_unescape(fields[4])] = (fstype, fstab_unescape(source))
    return mounts
