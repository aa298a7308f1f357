"""The program's tarballs of CE's files: where they live, how they are named, written once, checked before use.

Owns: the migrate primary's backup folder per release line (5.x: ``<shared_dir>/backups`` on EFS; 6.x, whose
shared folder only exists after the cutover: ``/var/backups/cloud-exchange-ha`` on the node's own disk), the
name ``<node>-<label>-<UTC stamp>.tar.gz`` (``.tar`` when written uncompressed), and writing one
(:func:`write_tarball`: a fingerprint of the tree decides "unchanged", a complete tarball appears under its
final name only with its ``.sha256`` (``sha256sum -c`` format) and ``.tree`` beside it, nothing is ever
overwritten) and checking one against its ``.sha256`` before a restore (:func:`checked`). Shared by ``backup``,
``restore-standalone``, ``roll-back`` and the upgrade's copies (``cenode.upgrade_copies``).

Must not touch: anything but the tarballs it writes (callers choose what goes in).
"""

from __future__ import annotations

import datetime
import glob
import hashlib
import os
import stat

from . import lines
from .nodeconfig import NodeConfig
from .system import Ctx, PhaseError, PhaseResult, read_text

SUFFIX = ".tar.gz"
#: a tarball written without compression (inside a downtime window: the disk's speed, not gzip's)
PLAIN_SUFFIX = ".tar"


def backup_name(node_name: str, when: datetime.datetime, folder: str, suffix: str = SUFFIX) -> str:
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in node_name) or "node"
    return f"{safe}-{os.path.basename(folder.rstrip('/'))}-{when.strftime('%Y%m%dT%H%M%SZ')}{suffix}"


def name_prefix(node_name: str, label: str) -> str:
    """What every tarball ``backup_name(node_name, ..., label)`` starts with (``<node>-<label>-``)."""
    return backup_name(node_name, datetime.datetime(2000, 1, 1), label).rsplit("-", 1)[0] + "-"


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
    return name_prefix(cfg.node_name, os.path.basename(os.path.normpath(cfg.ce_dir)))


def complete(folder: str, prefix: str, suffixes: tuple[str, ...] = (SUFFIX,)) -> list[str]:
    """The complete tarballs (a ``.sha256`` beside each) in ``folder`` named ``<prefix>...<suffix>``, oldest first (their
    names carry a UTC stamp)."""
    found: list[str] = []
    for suffix in suffixes:
        found += glob.glob(os.path.join(glob.escape(folder), glob.escape(prefix) + "*" + suffix))
    return sorted(path for path in found if os.path.isfile(path + ".sha256"))


def checked(path: str) -> str:
    """The tarball's sha256 when it matches the one written beside it; PhaseError otherwise."""
    recorded = read_text(path + ".sha256", default="").split()
    if not os.path.isfile(path):
        raise PhaseError(f"no tarball {path}", "give --tarball one of this program's .tar.gz (or .tar) backups")
    if not recorded:
        raise PhaseError(f"{path}.sha256 is missing or empty", "give --tarball a backup whose .sha256 is beside it")
    digest = file_sha256(path)
    if digest != recorded[0]:
        raise PhaseError(f"{path} does not match its .sha256 (file {digest[:12]}, recorded {recorded[0][:12]})",
                         "the tarball is damaged: give --tarball an older backup, or launch an instance from the backup AMI")
    return digest


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


def existing_backup(backups: str, prefix: str, fingerprint: str, suffix: str = SUFFIX) -> str | None:
    """A complete backup (tarball + .sha256) of this node whose .tree equals ``fingerprint``."""
    for tree in sorted(glob.glob(os.path.join(glob.escape(backups), glob.escape(prefix) + "*" + suffix + ".tree"))):
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




def write_tarball(ctx: Ctx, paths: list[str], backups: str, prefix: str, name: str, changed_note: str) -> PhaseResult:
    """``paths`` into ``<backups>/<name>`` (+ .sha256, .tree), unless a complete one of the same tree exists (unchanged).
    A ``name`` ending in ``.tar`` is written without compression."""
    suffix = PLAIN_SUFFIX if name.endswith(PLAIN_SUFFIX) else SUFFIX
    os.makedirs(backups, mode=0o700, exist_ok=True)
    os.chmod(backups, 0o700)  # root only, also when someone made the folder before us
    ctx.progress(f"reading {', '.join(paths)}", 1, 2)
    fingerprint, entries, size = tree_fingerprint(paths)
    ctx.log.info(f"fingerprint {fingerprint} over {entries} entries, {size} bytes: {paths}")
    found = existing_backup(backups, prefix, fingerprint, suffix)
    if found:
        return PhaseResult("unchanged", f"{found} already holds this tree (fingerprint {fingerprint[:12]})")

    final = os.path.join(backups, name)
    counter = 1
    while os.path.lexists(final):
        final = os.path.join(backups, name[: -len(suffix)] + f"-{counter}{suffix}")
        counter += 1
    partial = os.path.join(backups, f".{os.path.basename(final)}.partial-{os.getpid()}")
    argv = ["tar", "--create", *(["--gzip"] if suffix == SUFFIX else []), "--file", partial, "--numeric-owner", "--sort=name", "-C", "/"]
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
