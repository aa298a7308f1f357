"""Phase ``mount`` (5.x): the shared folder (EFS over NFS 4.1) at ``shared_dir``, for good.

Owns: the one ``/etc/fstab`` line for ``shared_dir`` (``_netdev,nofail``, marked as ours and
rewritten if it differs; another line for that folder is refused, ``mounts.rewrite_fstab``),
refusing to mount over a folder that is not empty (its files would be hidden by the share), mounting
it when it is not a mountpoint yet (bounded retries: a new EFS mount target's
DNS name takes a while to resolve), a systemd drop-in so the container engine starts only after
the mount (``RequiresMountsFor=``), a write/read/chown probe (root must be able to chown, CE
chowns to uid 1001), this node's token in the shared folder (``cenode.shared_tokens``: the
primary's stop checks every node left one in the folder it sees), and the sub-folders CE expects in
the shared folder (created when missing, never changed when present).

Must not touch: the contents of the shared folder beyond creating missing folders and its probe
file; an existing mount (test hosts bind-mount the folder; it is not remounted); fstab lines it
did not write; the files of a non-empty folder that is not mounted.
"""

from __future__ import annotations

import os
import secrets
import shutil

from .. import shared_tokens
from ..engine_mounts import DROPIN_NAME, FSTAB, engine_units, is_mountpoint
from ..mounts import ForeignFstabLine, fstab_escape, rewrite_fstab
from ..system import CommandTimeout, Ctx, PhaseError, PhaseResult, read_text, retry, setting, write_atomic

CE_UID = 1001

#: CE's shared layout (docs/ce-facts.md §2.1, create_required_files): path -> (mode, owned by uid 1001)
SHARED_LAYOUT = (
    ("config", 0o744, False),
    ("config/ssl_certs", 0o755, True),
    ("config/ca_certs", 0o755, True),
    ("repos", 0o755, True),
    ("plugins", 0o755, True),
    ("custom_plugins", 0o755, True),
    ("backups", 0o700, False),  # ours: tarballs of the standalone (backup phase)
)


# ----------------------------------------------------------------------------- pure helpers


def fstab_line(source: str, mountpoint: str, fstype: str, options: str) -> str:
    opts = [o for o in options.split(",") if o]
    for extra in ("_netdev", "nofail"):
        if extra not in opts:
            opts.append(extra)
    return f"{fstab_escape(source)} {fstab_escape(mountpoint)} {fstype} {','.join(opts)} 0 0"


def dropin_text(shared_dir: str) -> str:
    return f"# written by cloud-exchange-ha: start containers only with the shared folder mounted\n[Unit]\nRequiresMountsFor={shared_dir}\n"


# ----------------------------------------------------------------------------- steps


def ensure_fstab(ctx: Ctx, line: str, shared_dir: str) -> bool:
    path = ctx.env.host_path(FSTAB)
    text = read_text(path, default="")
    try:
        new, changed = rewrite_fstab(text, line, shared_dir)
    except ForeignFstabLine as foreign:
        raise PhaseError(
            f"{foreign}; not changing it",
            f"remove or comment out that line in {FSTAB} (the mount phase writes its own), or set {setting('sharedDir')} to another folder",
        ) from None
    if changed:
        backup = path + ".cloud-exchange-ha.bak"
        if os.path.exists(path):
            shutil.copy2(path, backup)
        write_atomic(path, new, 0o644)
        ctx.log.info(f"fstab: {line} (old copy in {backup})")
    return changed


def ensure_dropins(ctx: Ctx, shared_dir: str) -> bool:
    changed = False
    text = dropin_text(shared_dir)
    for unit in engine_units(ctx):
        path = ctx.env.host_path(f"/etc/systemd/system/{unit}.d/{DROPIN_NAME}")
        if read_text(path, default="") != text:
            write_atomic(path, text, 0o644)
            ctx.log.info(f"drop-in {path}: RequiresMountsFor={shared_dir}")
            changed = True
    if changed:
        systemctl = ctx.runner.which("systemctl")
        if systemctl:
            ctx.runner.run([systemctl, "daemon-reload"], timeout=120)
        else:
            ctx.log.warn("no systemctl: drop-in written, not loaded")
    return changed


def refuse_non_empty(shared_dir: str) -> None:
    """A folder that is not the share yet must be empty: mounting over it hides its files from CE and from people."""
    try:
        entries = sorted(os.listdir(shared_dir))
    except FileNotFoundError:
        return
    except NotADirectoryError:
        raise PhaseError(f"shared folder {shared_dir} exists and is not a folder", f"move it away or set {setting('sharedDir')}") from None
    if entries:
        shown = ", ".join(entries[:5]) + (f" and {len(entries) - 5} more" if len(entries) > 5 else "")
        raise PhaseError(
            f"shared folder {shared_dir} is not mounted and not empty ({len(entries)} entries: {shown}): "
            "mounting the share over it would hide them",
            f"move its contents away (or mount the share there yourself), or set {setting('sharedDir')} to an empty folder",
        )


def do_mount(ctx: Ctx, source: str, shared_dir: str, options: str) -> None:
    os.makedirs(shared_dir, exist_ok=True)
    deadline = ctx.clock() + ctx.timeout("mount")
    attempts = [0]

    def attempt() -> str:
        """"" once mounted, else why not."""
        attempts[0] += 1
        limit = min(max(deadline - ctx.clock(), 30), 180)
        ctx.progress(f"mounting {source} at {shared_dir}, attempt {attempts[0]} (until {int(deadline - ctx.clock())} s more)")
        try:
            result = ctx.runner.run(["mount", "-t", "nfs4", "-o", options, source, shared_dir], timeout=limit)
        except CommandTimeout:  # an unreachable or unresolvable server makes mount.nfs4 retry for minutes
            return f"mount did not return within {int(limit)} s"
        return "" if result.ok else result.tail() or f"mount exited {result.rc}"

    # the next attempt starts only while 15 s are left of timeouts.mount
    why = retry(
        attempt, should_retry=bool, log=ctx.log, what="mount", delay=15, budget=ctx.timeout("mount") - 15, sleep=ctx.sleep, clock=ctx.clock
    )
    if why:
        raise PhaseError(
            f"mount {source} at {shared_dir} failed after {attempts[0]} attempts: {why}",
            "check the EFS mount target in the node's subnet, its security group (TCP 2049 from the nodes) and DNS",
        )


def probe(ctx: Ctx, shared_dir: str, node_name: str) -> None:
    """Write, read back, chown and remove a file: the folder is shared-writable and root may chown."""
    token = secrets.token_hex(16)
    path = os.path.join(shared_dir, f".cloud-exchange-ha-probe-{node_name or 'node'}")
    try:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(token)
            handle.flush()
            os.fsync(handle.fileno())
        with open(path, encoding="utf-8") as handle:
            if handle.read() != token:
                raise PhaseError(f"probe file {path} read back differently", "check the NFS server and mount options")
    except OSError as exc:
        raise PhaseError(f"cannot write to {shared_dir}: {exc.strerror}", "mount the shared folder read-write (EFS access policy)") from None
    try:
        os.chown(path, CE_UID, CE_UID)
        owner = os.stat(path).st_uid  # a squashing server may accept the call and keep its own owner
        why = "" if owner == CE_UID else f"the probe file stays owned by uid {owner}"
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
    finally:
        if os.path.exists(path):
            os.unlink(path)
    if why:
        raise PhaseError(
            f"root cannot chown to uid {CE_UID} in {shared_dir} ({why}): root squash? CE chowns its files to that uid",
            f"allow root access on the EFS file system (no root squash: ClientRootAccess in its policy), or set {setting('sharedDir')} "
            "to a share where root may chown",
        )


def ensure_layout(shared_dir: str) -> list[str]:
    created = []
    for rel, mode, ce_owned in SHARED_LAYOUT:
        path = os.path.join(shared_dir, rel)
        if os.path.isdir(path):
            continue
        if os.path.lexists(path):
            raise PhaseError(f"{path} exists and is not a folder", "move it away; CE needs a folder there")
        os.mkdir(path, mode)
        os.chmod(path, mode)
        if ce_owned:
            os.chown(path, CE_UID, CE_UID)
        created.append(rel)
    keep = os.path.join(shared_dir, "config", "ca_certs", ".keep")
    if not os.listdir(os.path.dirname(keep)):
        with open(keep, "w", encoding="utf-8"):
            pass
        os.chmod(keep, 0o664)
        os.chown(keep, CE_UID, CE_UID)
        created.append("config/ca_certs/.keep")
    return created


def run(ctx: Ctx) -> PhaseResult:
    cfg = ctx.cfg
    shared_dir = os.path.normpath(cfg.shared_dir)
    if not os.path.isabs(shared_dir) or any(ch.isspace() for ch in shared_dir):
        raise PhaseError(f"shared folder {cfg.shared_dir!r} must be an absolute path without spaces", f"set {setting('sharedDir')}")
    changes: list[str] = []
    mounted, what = is_mountpoint(ctx, shared_dir)
    if cfg.shared_source and not mounted:
        refuse_non_empty(shared_dir)  # before anything is written
    if cfg.shared_source:
        if ensure_fstab(ctx, fstab_line(cfg.shared_source, shared_dir, "nfs4", cfg.nfs_options), shared_dir):
            changes.append("fstab")
    elif not mounted:
        raise PhaseError(
            f"shared folder {shared_dir} is not mounted and node.json has no shared_source (EFS DNS name) to mount there",
            f"mount the shared file system at {shared_dir} or set {setting('sharedDir')} to where it is mounted",
        )
    else:
        ctx.log.warn(f"{shared_dir} is mounted ({what}) but no shared_source is known: fstab not written")
    if mounted:
        ctx.log.info(f"{shared_dir} already mounted ({what}): not remounting")
    else:
        do_mount(ctx, cfg.shared_source, shared_dir, cfg.nfs_options)
        changes.append("mounted")
    if ensure_dropins(ctx, shared_dir):
        changes.append("docker waits for mount")
    ctx.progress(f"probing {shared_dir} (write, read, ownership)")
    probe(ctx, shared_dir, cfg.node_name)
    changes += shared_tokens.mounted(ctx, shared_dir)  # the primary checks every node's before the cutover
    created = ensure_layout(shared_dir)
    if created:
        changes.append("created " + " ".join(created))
    if changes:
        return PhaseResult("changed", f"{shared_dir}: " + ", ".join(changes))
    return PhaseResult("unchanged", f"{shared_dir} mounted, fstab and drop-in in place, probe ok, token there")
