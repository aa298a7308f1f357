"""The node's mount table and ``/etc/fstab`` as text: escaping, parsing ``/proc/self/mountinfo``,
rewriting this program's own fstab line of a mount point.

Owns: the pure text rules both mounting phases (5.x ``mount``, 6.x ``bricks``) and the GlusterFS
mount check share: fstab's octal escapes (``\\040`` for a space), which mount is at a path (the
last one wins), and "exactly one fstab line for this mount point, equal to the wanted one". The
program marks each line it writes with ``FSTAB_MARK``, a comment line right above it (a comment on
the line itself is not part of fstab's format); it only ever rewrites or removes its own marked
lines. Every other line stays byte for byte as it was; another line for the same mount point is
refused (``ForeignFstabLine``) unless it already says exactly what the program would write.

Must not touch: any file; callers read and write ``/etc/fstab`` and ``/proc/self/mountinfo``.
"""

from __future__ import annotations

import os
import re


def fstab_escape(path: str) -> str:
    return path.replace("\\", "\\134").replace(" ", "\\040").replace("\t", "\\011").replace("\n", "\\012")


def fstab_unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


#: the comment line right above every fstab line this program wrote: its mark
FSTAB_MARK = "# cloud-exchange-ha: the next line is managed by cloud-exchange-ha"


class ForeignFstabLine(ValueError):
    """An fstab line for the mount point that this program did not write (no ``FSTAB_MARK`` above it)."""

    def __init__(self, line: str, mountpoint: str) -> None:
        super().__init__(f"/etc/fstab already mounts {mountpoint} with a line cloud-exchange-ha did not write: {line.strip()!r}")
        self.line = line
        self.mountpoint = mountpoint


def _mountpoint_of(line: str) -> str | None:
    """The mount point of an active fstab line (None for comments, blank or short lines)."""
    fields = line.split()
    if len(fields) < 2 or fields[0].startswith("#"):
        return None
    return os.path.normpath(fstab_unescape(fields[1]))


def rewrite_fstab(text: str, wanted_line: str, mountpoint: str) -> tuple[str, bool]:
    """Exactly one of our marked lines mounts ``mountpoint``, equal to ``wanted_line``.

    Our lines for ``mountpoint`` (each with its mark) are replaced by one marked ``wanted_line`` at
    the end; every other line keeps its bytes. An unmarked line for ``mountpoint`` is someone else's:
    equal to ``wanted_line`` (same fields) it is left as the one line (ours are dropped as
    duplicates), different it raises ``ForeignFstabLine`` and nothing changes.
    """
    mountpoint = os.path.normpath(mountpoint)
    raw = text.splitlines(keepends=True)
    ours: set[int] = set()  # indexes of our lines for the mount point and of their marks
    foreign: list[str] = []
    for index, line in enumerate(raw):
        if _mountpoint_of(line) != mountpoint:
            continue
        if index > 0 and raw[index - 1].strip() == FSTAB_MARK:
            ours.update((index - 1, index))
        else:
            foreign.append(line)
    for line in foreign:
        if line.split() != wanted_line.split():
            raise ForeignFstabLine(line, mountpoint)
    marked = [raw[i] for i in sorted(ours) if raw[i].strip() != FSTAB_MARK]
    if foreign and not ours:
        return text, False  # someone else's line says what we would write: left alone
    if not foreign and len(marked) == 1 and marked[0].split() == wanted_line.split():
        return text, False
    kept = [line for index, line in enumerate(raw) if index not in ours]
    if not foreign:
        if kept and not kept[-1].endswith("\n"):
            kept[-1] += "\n"  # the last line gets its line end, its bytes before it stay
        kept += [FSTAB_MARK + "\n", wanted_line + "\n"]
    return "".join(kept), True


def remove_marked(text: str, mountpoint: str) -> tuple[str, bool]:
    """``text`` without our marked lines for ``mountpoint`` (each with its mark); every other line keeps its bytes."""
    mountpoint = os.path.normpath(mountpoint)
    raw = text.splitlines(keepends=True)
    ours = {i for index, line in enumerate(raw) if _mountpoint_of(line) == mountpoint and index > 0
            and raw[index - 1].strip() == FSTAB_MARK for i in (index - 1, index)}
    if not ours:
        return text, False
    return "".join(line for index, line in enumerate(raw) if index not in ours), True


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
