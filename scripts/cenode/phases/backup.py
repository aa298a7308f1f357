"""Phase ``backup``: a tarball of the standalone's ``ta_cloud_exchange`` folder (migrate primary), or of a stopped member.

Owns: ``<shared_dir>/backups/<node>-ta_cloud_exchange-<UTC stamp>.tar.gz`` (5.x; on 6.x, whose shared
folder only exists after the cutover, ``/var/backups/cloud-exchange-ha/``) plus ``.sha256``
(``sha256sum -c`` format) and ``.tree`` (the folder's fingerprint). The secret file named by
``.env`` LOCATION is included when it lives outside the folder (CE-as-VM: ``/etc/.env.keys``).

Once CE's HA setup has completed on the node (its setup marker), the standalone is gone: a re-run (the step
follows the cutover's inputs, e.g. an upgrade) writes nothing, so the newest tarball, which
``restore-standalone`` takes by default, stays the standalone's.

Idempotency (the choice): the fingerprint is a sha256 over every entry's path, type, mode,
owner, size, mtime and link target (a stat walk, no content read). When a complete backup of
this node with the same fingerprint exists, nothing is written ("unchanged"). Any change in the
folder (including a running MongoDB touching its files) makes the next run write a new backup.
An existing backup is never overwritten or removed (new names, ``link`` = no clobber).

``--stopped-member`` (every node in turn, after the drain, before an upgrade's window): the drain's copy of a
stopped member (``cenode.upgrade_copies``), the same idempotency. Kept until you delete it.

Must not touch: the CE folder (read only), other backups.
"""

from __future__ import annotations

import datetime
import os

from .. import ceenv, staged, upgrade_copies
from ..backups import LOCAL_BACKUPS, backup_dir, backup_name, backup_prefix, backups_folder, write_tarball
from ..system import Ctx, PhaseError, PhaseResult, setting


def run(ctx: Ctx, now: datetime.datetime | None = None, stopped_member: bool = False) -> PhaseResult:
    if stopped_member:
        return upgrade_copies.drain_copy(ctx, now or _now())
    cfg = ctx.cfg
    if not cfg.adopted:
        return PhaseResult("unchanged", "not the migrate primary: nothing to back up")
    if staged.set_up_here(ctx):  # the step re-runs with the cutover's inputs (an upgrade): the standalone is gone by now
        return PhaseResult("unchanged", "CE's HA setup completed here: the standalone's tarball is taken before the first "
                                        "cutover only (a cluster's folder is no standalone to go back to; kept tarballs stay)")
    ce_dir = os.path.normpath(cfg.ce_dir)
    if not os.path.isdir(ce_dir):
        raise PhaseError(f"{ce_dir} does not exist", f"set {setting('ceDir')} to the standalone's ta_cloud_exchange folder")
    backups = backups_folder(ctx)
    if backup_dir(cfg) != LOCAL_BACKUPS and not os.path.isdir(cfg.shared_dir):
        raise PhaseError(f"shared folder {cfg.shared_dir} is missing", "run the mount phase first")
    paths = [ce_dir]
    secret_file = ceenv.CeFiles(ce_dir).secret_path(ceenv.CeFiles(ce_dir).env())
    if os.path.exists(secret_file) and not secret_file.startswith(ce_dir + os.sep):
        paths.append(secret_file)
    return write_tarball(ctx, paths, backups, backup_prefix(cfg), backup_name(cfg.node_name, now or _now(), ce_dir),
                         "CE is running; the AMI is the consistent backup")


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)
