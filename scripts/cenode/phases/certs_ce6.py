"""Phase ``certs`` for CE 6.x (migrate primary): the standalone's data into CE's HA folder.

Owns what CE's own enable-ha does before its setup (docs/ce-facts.md §7.2): ``<ce_dir>/data/custom_plugins``,
``data/plugins`` and ``data/repos`` -> ``/opt/shared/data/`` and ``data/ca_certs``,
``data/ssl_certs`` (UI certificate, the Mongo/RabbitMQ CA set) -> ``/opt/shared/data/config/``,
copied recursively keeping mode and owner, so setup reuses the standalone's certificates and CA
instead of generating new ones. Copied before the GlusterFS mount exists; CE's mount keeps the
folder's content (docs/ce-facts.md §2.2: moved aside and back).

Idempotent: an identical destination file is left alone; one that differs is never overwritten
(reported instead). Nodes other than the migrate primary have no standalone data: nothing to do.
Must not touch: the originals (copied, never moved), anything else in the shared folder.
"""

from __future__ import annotations

import filecmp
import os
import shutil
import stat

from .. import gluster
from ..system import Ctx, PhaseResult

#: (folder under <ce_dir>/data, destination under the data folder ("" = the data folder, "config" = its config))
COPIES = (("custom_plugins", ""), ("plugins", ""), ("repos", ""), ("ca_certs", "config"), ("ssl_certs", "config"))


def copy_entry(src: str, dst: str) -> str:
    """One file or symlink: copied | same | differs (never overwritten)."""
    if os.path.islink(src):
        if os.path.lexists(dst):
            return "same" if os.path.islink(dst) and os.readlink(dst) == os.readlink(src) else "differs"
        os.symlink(os.readlink(src), dst)
        st = os.lstat(src)
        os.lchown(dst, st.st_uid, st.st_gid)
        return "copied"
    if os.path.lexists(dst):
        return "same" if os.path.isfile(dst) and not os.path.islink(dst) and filecmp.cmp(src, dst, shallow=False) else "differs"
    tmp = f"{dst}.partial-{os.getpid()}"
    try:
        shutil.copy2(src, tmp)
        st = os.stat(src)
        os.chown(tmp, st.st_uid, st.st_gid)
        os.chmod(tmp, stat.S_IMODE(st.st_mode))
        os.replace(tmp, dst)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return "copied"


def make_dir_like(src: str, dst: str) -> bool:
    if os.path.isdir(dst):
        return False
    os.makedirs(dst)
    st = os.stat(src)
    os.chown(dst, st.st_uid, st.st_gid)
    os.chmod(dst, stat.S_IMODE(st.st_mode))
    return True


def copy_tree(src_root: str, dst_root: str, counts: dict[str, int], notes: list[str]) -> None:
    for folder, dirs, files in os.walk(src_root):
        rel = os.path.relpath(folder, src_root)
        target = os.path.normpath(os.path.join(dst_root, rel))
        if os.path.lexists(target) and not os.path.isdir(target):
            notes.append(f"{target} exists and is not a folder: {folder} not copied")
            dirs[:] = []
            continue
        if make_dir_like(folder, target):
            counts["folders"] = counts.get("folders", 0) + 1
        for name in sorted(files + [d for d in dirs if os.path.islink(os.path.join(folder, d))]):
            src = os.path.join(folder, name)
            if not (os.path.isfile(src) or os.path.islink(src)):
                continue
            outcome = copy_entry(src, os.path.join(target, name))
            counts[outcome] = counts.get(outcome, 0) + 1
            if outcome == "differs":
                notes.append(f"{os.path.join(target, name)} differs from {src}: kept")
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(folder, d))]


def run(ctx: Ctx) -> PhaseResult:
    cfg = ctx.cfg
    facts = gluster.layout(ctx)
    if not cfg.adopted:
        return PhaseResult("unchanged", "no standalone data on this node (only the migrate primary copies its plugins and certificates)")
    counts: dict[str, int] = {}
    notes: list[str] = []
    copied_from = []
    for folder, under in COPIES:
        src = os.path.join(cfg.ce_dir, "data", folder)
        if not os.path.isdir(src):
            continue
        dst = os.path.join(facts.mount_dir, under, folder) if under else os.path.join(facts.mount_dir, folder)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        copy_tree(src, dst, counts, notes)
        copied_from.append(folder)
    for note in notes:
        ctx.log.warn(note)
    for key, value in sorted(counts.items()):
        ctx.log.info(f"{key}: {value}")
    if not copied_from:
        return PhaseResult("unchanged", f"nothing to copy: no {', '.join(f for f, _ in COPIES)} in {cfg.ce_dir}/data")
    summary = f"{', '.join(copied_from)} -> {facts.mount_dir}: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    if notes:
        summary += f"; {len(notes)} kept as they were (see log)"
    changed = counts.get("copied", 0) + counts.get("folders", 0)
    return PhaseResult("changed" if changed else "unchanged", summary)
