"""Where the migrate primary's tarballs live and how they are named: shared by ``backup`` (writes) and ``restore-standalone`` (reads).

Owns: the backup folder per release line (5.x: ``<shared_dir>/backups`` on EFS; 6.x, whose shared
folder only exists after the cutover: ``/var/backups/cloud-exchange-ha`` on the node's own disk), the
name ``<node>-<ce folder>-<UTC stamp>.tar.gz`` and the file checksum written beside each tarball.

Must not touch: any file (callers read and write).
"""

from __future__ import annotations

import datetime
import hashlib
import os

from . import lines
from .nodeconfig import NodeConfig
from .system import Ctx

SUFFIX = ".tar.gz"


def backup_name(node_name: str, when: datetime.datetime, folder: str) -> str:
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in node_name) or "node"
    return f"{safe}-{os.path.basename(folder.rstrip('/'))}-{when.strftime('%Y%m%dT%H%M%SZ')}{SUFFIX}"


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


#: 6.x has no shared folder before its cutover (CE's setup builds the GlusterFS volume there):
#: the tarball stays on the node's own disk, and the backup AMI is the off-node copy.
LOCAL_BACKUPS = "/var/backups/cloud-exchange-ha"


def backup_dir(cfg: NodeConfig) -> str:
    if lines.for_version(cfg.ce_version).backup_on_shared:
        return os.path.join(cfg.shared_dir, "backups")
    return LOCAL_BACKUPS


def backups_folder(ctx: Ctx) -> str:
    """``backup_dir`` as this node sees it (a system path moves with the node's root in tests)."""
    folder = backup_dir(ctx.cfg)
    return ctx.env.host_path(folder) if folder == LOCAL_BACKUPS else folder


def backup_prefix(cfg: NodeConfig) -> str:
    """What every tarball of this node's CE folder is named with first (``<node>-<folder>-``)."""
    return backup_name(cfg.node_name, datetime.datetime(2000, 1, 1), os.path.normpath(cfg.ce_dir)).rsplit("-", 1)[0] + "-"
