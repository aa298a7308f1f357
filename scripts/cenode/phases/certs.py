"""Phase ``certs``: the standalone's UI certificate and custom CA certs into the shared config.

Owns: copying ``<ce_dir>/data/ssl_certs/cte_cert.crt`` + ``cte_cert_key.key`` (as a pair) to
``<shared_dir>/config/ssl_certs/`` and every file of ``<ce_dir>/data/ca_certs/`` to
``<shared_dir>/config/ca_certs/`` (docs/ce-facts.md §7.2, §8), keeping modes, owned by uid/gid 1001 as CE
does. With the UI cert in place CE's setup does not ask http/https and keeps the certificate.

Idempotent: an identical destination is left alone (owner/mode fixed if needed). A destination
that differs is never overwritten (it may be a renewed certificate); it is reported instead.
Must not touch: the originals (copied, never moved), other files in the shared folder.
"""

from __future__ import annotations

import filecmp
import os
import shutil
import stat

from ..nodeconfig import load_secrets
from ..system import Ctx, PhaseError, PhaseResult, write_atomic

CE_UID = 1001
UI_CERT_FILES = ("cte_cert.crt", "cte_cert_key.key")
#: CE's placeholder that keeps the empty folder in git: not a certificate (mount creates its own)
PLACEHOLDERS = (".keep",)


def copy_one(src: str, dst: str, uid: int = CE_UID) -> str:
    """Copy keeping the mode, owned by ``uid``; returns copied | fixed | same | differs."""
    mode = stat.S_IMODE(os.stat(src).st_mode)
    if os.path.exists(dst):
        if not filecmp.cmp(src, dst, shallow=False):
            return "differs"
        st = os.stat(dst)
        if (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (uid, uid, mode):
            return "same"
        os.chown(dst, uid, uid)
        os.chmod(dst, mode)
        return "fixed"
    tmp = f"{dst}.partial-{os.getpid()}"
    try:
        shutil.copyfile(src, tmp)
        os.chown(tmp, uid, uid)
        os.chmod(tmp, mode)
        os.replace(tmp, dst)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return "copied"


def plan(ce_dir: str, shared_dir: str) -> tuple[list[tuple[str, str]], list[str]]:
    """(src, dst) pairs to copy, and notes about what is left out."""
    pairs: list[tuple[str, str]] = []
    notes: list[str] = []
    ssl_src = os.path.join(ce_dir, "data", "ssl_certs")
    ssl_dst = os.path.join(shared_dir, "config", "ssl_certs")
    present = [name for name in UI_CERT_FILES if os.path.isfile(os.path.join(ssl_src, name))]
    if len(present) == len(UI_CERT_FILES):
        pairs += [(os.path.join(ssl_src, n), os.path.join(ssl_dst, n)) for n in UI_CERT_FILES]
    elif present:
        notes.append(f"only {present[0]} in {ssl_src}: UI certificate not copied (CE needs both files)")
    ca_src = os.path.join(ce_dir, "data", "ca_certs")
    ca_dst = os.path.join(shared_dir, "config", "ca_certs")
    if os.path.isdir(ca_src):
        for name in sorted(os.listdir(ca_src)):
            if name in PLACEHOLDERS:
                continue
            path = os.path.join(ca_src, name)
            if os.path.isfile(path) and not os.path.islink(path):
                pairs.append((path, os.path.join(ca_dst, name)))
            else:
                notes.append(f"{path} is not a regular file: skipped")
    return pairs, notes


def stage_configured_certificate(ctx: Ctx) -> list[tuple[str, str]]:
    """The UI certificate from the stack (uiCertificateFile, in secrets.json), staged root-only for copying.

    Only on the primary: the shared folder is one for all nodes. Comes first, so a standalone's
    certificate (migrate, where the setting is refused anyway) never competes with it.
    """
    wanted = load_secrets(ctx.env.config_dir)
    if not (ctx.cfg.is_primary and wanted.ui_certificate and wanted.ui_certificate_key):
        return []
    staged = os.path.join(ctx.env.state_dir, "ui-certificate")
    os.makedirs(staged, mode=0o700, exist_ok=True)
    write_atomic(os.path.join(staged, UI_CERT_FILES[0]), wanted.ui_certificate, 0o644)
    write_atomic(os.path.join(staged, UI_CERT_FILES[1]), wanted.ui_certificate_key, 0o600)
    ssl_dst = os.path.join(ctx.cfg.shared_dir, "config", "ssl_certs")
    return [(os.path.join(staged, name), os.path.join(ssl_dst, name)) for name in UI_CERT_FILES]


def run(ctx: Ctx) -> PhaseResult:
    cfg = ctx.cfg
    config_dir = os.path.join(cfg.shared_dir, "config")
    if not os.path.isdir(config_dir):
        raise PhaseError(f"{config_dir} is missing", "run the mount phase first (it creates CE's shared folders)")
    pairs, notes = plan(cfg.ce_dir, cfg.shared_dir)
    pairs = stage_configured_certificate(ctx) + pairs
    counts: dict[str, int] = {}
    for src, dst in pairs:
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        outcome = copy_one(src, dst)
        counts[outcome] = counts.get(outcome, 0) + 1
        ctx.log.info(f"{outcome}: {src} -> {dst}")
        if outcome == "differs":
            notes.append(f"{dst} differs from {src}: kept (remove it to take the standalone's)")
    for note in notes:
        ctx.log.warn(note)
    if not pairs:
        return PhaseResult("unchanged", "no UI certificate or CA certs in the CE folder (CE's setup makes a self-signed one)")
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    if notes:
        summary += "; " + "; ".join(notes)
    changed = counts.get("copied", 0) + counts.get("fixed", 0)
    return PhaseResult("changed" if changed else "unchanged", summary)
