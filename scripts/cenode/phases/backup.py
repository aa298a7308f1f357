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

``--stopped-member`` (every node in turn, after the drain, before an upgrade's window): where an upgrade is
staged and CE is stopped, ``/var/backups/cloud-exchange-ha/<node>-upgrade-to-<tag>-<UTC stamp>.tar.gz`` of
the CE folder (its MongoDB files are consistent: the member stopped) and the shared config; the same
idempotency. Kept until you delete it.

Must not touch: the CE folder (read only), other backups.
"""

from __future__ import annotations

import datetime
import glob
import hashlib
import os
import stat

from .. import ceenv, staged
from ..backups import LOCAL_BACKUPS, SUFFIX, backup_dir, backup_name, backup_prefix, backups_folder, file_sha256
from ..ce_runtime import local_hello, running
from ..system import Ctx, PhaseError, PhaseResult, setting


def tree_fingerprint(paths: list[str]) -> tuple[str, int, int]:
    """(sha256 hex, entries, bytes) over the metadata of everything under ``paths``."""
    digest = hashlib.sha256()
    entries = 0
    total = 0

    def add(path: str) -> None:
        nonlocal entries, total
        st = os.lstat(path)
        link = os.readlink(path) if stat.S_ISLNK(st.st_mode) else ""
        record = f"{path}\0{st.st_mode:o}\0{st.st_uid}\0{st.st_gid}\0{st.st_size}\0{st.st_mtime_ns}\0{link}\n"
        digest.update(record.encode("utf-8", "surrogateescape"))
        entries += 1
        if stat.S_ISREG(st.st_mode):
            total += st.st_size

    for top in sorted(paths):
        if not os.path.lexists(top):
            continue
        add(top)
        if os.path.isdir(top) and not os.path.islink(top):
            for root, dirs, files in os.walk(top):
                dirs.sort()
                for name in sorted(dirs + files):
                    add(os.path.join(root, name))
    return digest.hexdigest(), entries, total


def existing_backup(backups: str, prefix: str, fingerprint: str) -> str | None:
    """A complete backup (tarball + .sha256) of this node whose .tree equals ``fingerprint``."""
    for tree in sorted(glob.glob(os.path.join(glob.escape(backups), glob.escape(prefix) + "*" + SUFFIX + ".tree"))):
        tarball = tree[: -len(".tree")]
        try:
            with open(tree, encoding="utf-8") as handle:
                recorded = handle.read().split()[0]
        except (OSError, IndexError):
            continue
        if recorded == fingerprint and os.path.isfile(tarball) and os.path.isfile(tarball + ".sha256"):
            return tarball
    return None


def _write_new(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def run(ctx: Ctx, now: datetime.datetime | None = None, stopped_member: bool = False) -> PhaseResult:
    if stopped_member:
        return stopped_member_copy(ctx, now)
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


def stopped_member_copy(ctx: Ctx, now: datetime.datetime | None = None) -> PhaseResult:
    """Before an upgrade's window, on a node the drain stopped: its CE folder, whose MongoDB files are a consistent copy
    once the member stopped (docs/ce-lifecycle.md §8), and the shared config (``.env``, ``.env.keys``, certificates),
    on the node's own disk; nothing on a node where CE runs or no upgrade is staged."""
    cfg = ctx.cfg
    staged_now = staged.pending(ctx)
    if not staged_now:
        return PhaseResult("unchanged", "no upgrade staged here: nothing to copy before the window")
    still = running(ctx, lambda: local_hello(cfg.node_ip))
    if still:
        return PhaseResult("unchanged", f"CE runs here ({', '.join(still)}): a running member's files are no consistent copy; "
                                        "the stopped secondaries hold the copies")
    ce_dir = os.path.normpath(cfg.ce_dir)
    paths = [p for p in (ce_dir, os.path.join(cfg.shared_dir, "config")) if os.path.isdir(p)]
    label = f"upgrade-to-{cfg.ce_version}"
    prefix = backup_name(cfg.node_name, datetime.datetime(2000, 1, 1), label).rsplit("-", 1)[0] + "-"
    return write_tarball(ctx, paths, ctx.env.host_path(LOCAL_BACKUPS), prefix, backup_name(cfg.node_name, now or _now(), label),
                         "files changed while being read")


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def write_tarball(ctx: Ctx, paths: list[str], backups: str, prefix: str, name: str, changed_note: str) -> PhaseResult:
    """``paths`` into ``<backups>/<name>`` (+ .sha256, .tree), unless a complete one of the same tree exists (unchanged)."""
    os.makedirs(backups, mode=0o700, exist_ok=True)
    os.chmod(backups, 0o700)  # root only, also when someone made the folder before us
    ctx.progress(f"reading {', '.join(paths)}", 1, 2)
    fingerprint, entries, size = tree_fingerprint(paths)
    ctx.log.info(f"fingerprint {fingerprint} over {entries} entries, {size} bytes: {paths}")
    found = existing_backup(backups, prefix, fingerprint)
    if found:
        return PhaseResult("unchanged", f"{found} already holds this tree (fingerprint {fingerprint[:12]})")

    final = os.path.join(backups, name)
    counter = 1
    while os.path.lexists(final):
        final = os.path.join(backups, name[: -len(SUFFIX)] + f"-{counter}{SUFFIX}")
        counter += 1
    partial = os.path.join(backups, f".{os.path.basename(final)}.partial-{os.getpid()}")
    argv = ["tar", "--create", "--gzip", "--file", partial, "--numeric-owner", "--sort=name", "-C", "/"]
    argv += [p.lstrip("/") for p in paths]
    ctx.progress(f"writing {final} ({entries} entries, {size / 1024**2:.0f} MiB before compression)", 2, 2)
    try:
        result = ctx.runner.run(argv, timeout=ctx.timeout("backup"))
        if result.rc == 1:
            ctx.log.warn(f"tar: some files changed while being read ({changed_note})")
        elif result.rc != 0:
            raise PhaseError(f"tar failed: {result.tail()}", f"look at {ctx.log.path}; is {backups} writable and large enough?")
        os.chmod(partial, 0o600)
        digest = file_sha256(partial)
        os.link(partial, final)  # fails instead of overwriting
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    _write_new(final + ".sha256", f"{digest}  {os.path.basename(final)}\n")
    _write_new(final + ".tree", f"{fingerprint}\n")
    mib = os.path.getsize(final) / 1024**2
    return PhaseResult("changed", f"{final} ({mib:.1f} MiB, sha256 {digest[:12]})")
