"""How a shared folder is wired into a node: ``/etc/fstab``'s path, the container engines' drop-in name, whether a path is mounted.

Owns: the pieces ``mount`` (writes them) and ``restore-standalone`` (removes them) share: the engine
units whose drop-in makes containers wait for the shared folder, and the node's mount table check.

Must not touch: any file (callers write).
"""

from __future__ import annotations

import os

from .mounts import parse_mountinfo
from .system import Ctx, read_text

FSTAB = "/etc/fstab"
DROPIN_NAME = "cloud-exchange-ha-shared.conf"


def is_mountpoint(ctx: Ctx, path: str) -> tuple[bool, str]:
    mounts = parse_mountinfo(read_text(ctx.env.host_path("/proc/self/mountinfo"), default=""))
    entry = mounts.get(os.path.normpath(path))
    return (entry is not None, f"{entry[0]} from {entry[1]}" if entry else "")


def engine_units(ctx: Ctx) -> list[str]:
    units = []
    if ctx.runner.which("docker") or ctx.runner.which("dockerd"):
        units.append("docker.service")
    if ctx.runner.which("podman"):
        units.append("podman-restart.service")
    return units or ["docker.service"]
