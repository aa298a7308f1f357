"""The copies an upgrade keeps of a node's CE before it changes anything there, and which one ``roll-back`` restores.

Owns, in ``/var/backups/cloud-exchange-ha`` (root only, on the node's own disk, kept until you delete them):

* the drain copy (``backup --stopped-member``: each secondary after its drain stop, before the window, while CE's
  primary serves): ``<node>-upgrade-to-<tag>-<UTC stamp>.tar.gz`` of the CE folder (its MongoDB files are consistent
  once the member stopped, docs/ce-lifecycle.md §8), the shared config (and CE's secrets file where it lies outside
  the CE folder: 5.x ``<shared>/.env.keys``) and this node's setup marker;
* the window copy (the setup phase on CE's primary, inside the window: after its stop, before the checkout of the
  new tag): ``<node>-window-upgrade-to-<tag>-<UTC stamp>.tar`` of the CE folder, the whole shared folder (every node
  is stopped by then, so its content is consistent: the shared ``.env``, secrets, certificates, plugins, repos)
  except the migrate primary's ``backups`` folder, and the setup marker. It is written uncompressed: the window
  waits on it, and the disk is faster than gzip;
* :func:`for_roll_back`: this node's copies for the version an upgrade went to, the window copy first.

The setup marker goes in so that after a roll-back a run with the previous ``ceVersion`` finds setup done with the
previous inputs, and stops nothing. Both copies are taken only where an upgrade is staged and CE is stopped
(``staged.pending``); the fingerprint of the tree makes a second run ``unchanged`` (``backups.write_tarball``).

Must not touch: CE's files, the shared folder (read only).
"""

from __future__ import annotations

import datetime
import os

from . import ceenv, setup_marker, staged
from .backups import LOCAL_BACKUPS, PLAIN_SUFFIX, SUFFIX, backup_name, complete, name_prefix, write_tarball
from .ce_runtime import local_hello, running
from .system import Ctx, PhaseError, PhaseResult

#: what the window copy leaves out of the shared folder: the migrate primary's standalone tarballs (5.x, on EFS)
#: and the file system's own folder
NOT_COPIED = ("backups", "lost+found")


def drain_label(version: str) -> str:
    return f"upgrade-to-{version}"


def window_label(version: str) -> str:
    return f"window-upgrade-to-{version}"


def copies_folder(ctx: Ctx) -> str:
    return ctx.env.host_path(LOCAL_BACKUPS)


def marker_path(ctx: Ctx) -> str:
    return os.path.join(ctx.env.state_dir, setup_marker.MARKER)


def _stopped_with_upgrade(ctx: Ctx, where: str) -> PhaseResult | None:
    """Why no copy is taken here (None: an upgrade is staged and CE is stopped)."""
    if not staged.pending(ctx):
        return PhaseResult("unchanged", f"no upgrade staged here: nothing to copy {where}")
    still = running(ctx, lambda: local_hello(ctx.cfg.node_ip))
    if still:
        return PhaseResult("unchanged", f"CE runs here ({', '.join(still)}): a running member's files are no consistent copy; "
                                        "the stopped secondaries hold the copies")
    return None


def _existing(paths: list[str]) -> list[str]:
    return [p for p in paths if os.path.lexists(p)]


def drain_copy(ctx: Ctx, now: datetime.datetime) -> PhaseResult:
    """Before an upgrade's window, on a node the drain stopped: its CE folder, the shared config and its setup marker."""
    cfg = ctx.cfg
    skipped = _stopped_with_upgrade(ctx, "before the window")
    if skipped:
        return skipped
    ce_dir = os.path.normpath(cfg.ce_dir)
    shared_config = os.path.join(cfg.shared_dir, "config")
    paths = [ce_dir, shared_config, marker_path(ctx)]
    secrets = ceenv.CeFiles(ce_dir).secret_path(ceenv.CeFiles(ce_dir).env())
    if not secrets.startswith((ce_dir + os.sep, shared_config + os.sep)):
        paths.append(secrets)
    label = drain_label(cfg.ce_version)
    return write_tarball(ctx, _existing(paths), copies_folder(ctx), name_prefix(cfg.node_name, label),
                         backup_name(cfg.node_name, now, label), "files changed while being read")


def window_copy(ctx: Ctx, now: datetime.datetime | None = None) -> str:
    """Inside the window, on CE's primary, before the new tag is checked out: what was copied ("" when no upgrade is
    staged here). PhaseError when the copy cannot be written: nothing of CE has changed yet."""
    cfg = ctx.cfg
    if _stopped_with_upgrade(ctx, "in the window"):
        return ""
    ce_dir = os.path.normpath(cfg.ce_dir)
    shared = os.path.normpath(cfg.shared_dir)
    content = sorted(os.path.join(shared, name) for name in os.listdir(shared) if name not in NOT_COPIED) if os.path.isdir(shared) else []
    label = window_label(cfg.ce_version)
    try:
        made = write_tarball(ctx, _existing([ce_dir, *content, marker_path(ctx)]), copies_folder(ctx),
                             name_prefix(cfg.node_name, label),
                             backup_name(cfg.node_name, now or datetime.datetime.now(datetime.timezone.utc), label, PLAIN_SUFFIX),
                             "files changed while being read")
    except PhaseError as failed:
        raise PhaseError(f"the copy of CE before the upgrade failed: {failed.what}",
                         f"{failed.fix}; nothing of CE changed here yet: free room in {LOCAL_BACKUPS} and run pulumi up "
                         "again, or serve the old version again meanwhile: sudo /opt/cloud-exchange-ha/ce-node start") from None
    return f"kept {made.summary}" if made.status == "changed" else made.summary


def is_window_copy(path: str) -> bool:
    return path.endswith(PLAIN_SUFFIX) and "-window-upgrade-to-" in os.path.basename(path)


def for_roll_back(ctx: Ctx) -> list[str]:
    """This node's complete copies for the upgrade to node.json's ``ce_version``: its window copies, newest last, when it
    was CE's primary in the window; else its drain copies."""
    cfg, folder = ctx.cfg, copies_folder(ctx)
    window = complete(folder, name_prefix(cfg.node_name, window_label(cfg.ce_version)), (PLAIN_SUFFIX,))
    return window or complete(folder, name_prefix(cfg.node_name, drain_label(cfg.ce_version)), (SUFFIX,))
