"""Phase ``restore-standalone`` (migrate primary, run by hand): CE back to the standalone it was before the cutover.

Owns the node-side way back of README "Going back to a standalone" (and of a migrate whose verify
failed), from the tarball the ``backup`` phase wrote before the cutover (``phases.backup``). It
checks before it acts and refuses with one line naming what is in the way:

1. this node is the adopted primary (node.json ``migrate``);
2. CE runs nowhere: no CE container and no mongod here, and no other node of ``cluster_ips``
   answers as a replica-set member (a standalone beside a running set would split CE's users in
   two): stop the other nodes first, the last one first, then this one (``ce-node stop --force``;
   CE's ``./stop`` takes each out of the replica set, docs/ce-lifecycle.md §1.2);
3. the tarball (``--tarball``, else this node's newest) matches the sha256 written beside it.

Then: ``ce_dir`` is moved aside to ``<ce_dir>.cluster-<UTC stamp>`` (kept: nothing is deleted),
the tarball is extracted at ``/`` as the backup wrote it (``ce_dir``, and the secret file when it
lived outside the folder), this program's marked ``/etc/fstab`` line for the shared folder and its
container-engine drop-ins are removed and the folder unmounted (5.x EFS; on 6.x the program wrote no
such line), CE's ``./start`` runs, and the result is judged by this node's mongod answering outside
any replica set of several members (docs/ce-lifecycle.md §7: a standalone's start initiates nothing).

Idempotent: the restore is recorded (``/var/lib/cloud-exchange-ha/restored-standalone.json``: the
tarball's name and sha256); a second run with CE running from that tarball is ``unchanged``.
Must not touch: the other nodes, the backups (read only), the folder moved aside.
"""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Callable
from typing import Any

from .. import backups as backup
from ..ce_runtime import MONGO_PORT, Ask, describe, hello, local_hello, members_elsewhere, running
from ..ceenv import read_dotenv
from ..engine_mounts import DROPIN_NAME, FSTAB, engine_units, is_mountpoint
from ..mounts import remove_marked
from ..system import Ctx, PhaseError, PhaseResult, read_text, retry, write_atomic

RECORD = "/var/lib/cloud-exchange-ha/restored-standalone.json"


def tarballs(ctx: Ctx) -> list[str]:
    """This node's complete backups (tarball + .sha256), oldest first (their names carry a UTC stamp)."""
    return backup.complete(backup.backups_folder(ctx), backup.backup_prefix(ctx.cfg))


def cluster_folder(ce_dir: str) -> bool:
    """``ce_dir`` holds an HA install: its ``.env`` or ``cloudexchange.config`` lists the cluster (``HA_IP_LIST``)."""
    return any(read_dotenv(os.path.join(ce_dir, name)).get("HA_IP_LIST") for name in (".env", "cloudexchange.config"))


def is_standalone(doc: dict[str, Any] | None, node_ip: str) -> bool:
    """mongod answers, and in no replica set, or in one whose only member is this node."""
    if doc is None:
        return False
    hosts = [h for h in doc.get("hosts", []) if h not in (f"{node_ip}:{MONGO_PORT}", f"127.0.0.1:{MONGO_PORT}", f"localhost:{MONGO_PORT}")]
    return not doc.get("setName") or not hosts


def leave_shared_folder(ctx: Ctx) -> list[str]:
    """Remove this program's fstab line for the shared folder and its engine drop-ins; unmount it."""
    cfg = ctx.cfg
    done = []
    path = ctx.env.host_path(FSTAB)
    text = read_text(path, default="")
    new, changed = remove_marked(text, cfg.shared_dir)
    if changed:
        write_atomic(path, new, 0o644)
        done.append(f"removed the {FSTAB} line for {cfg.shared_dir}")
    for unit in engine_units(ctx):
        dropin = ctx.env.host_path(f"/etc/systemd/system/{unit}.d/{DROPIN_NAME}")
        if read_text(dropin, default="").startswith("# written by cloud-exchange-ha"):
            os.unlink(dropin)
            done.append(f"removed {unit}'s drop-in")
    if changed or done:
        systemctl = ctx.runner.which("systemctl")
        if systemctl:
            ctx.runner.run([systemctl, "daemon-reload"], timeout=120)
    mounted, what = is_mountpoint(ctx, cfg.shared_dir)
    if changed and mounted:
        result = ctx.runner.run(["umount", cfg.shared_dir], timeout=ctx.timeout("mount"))
        if not result.ok:
            raise PhaseError(f"umount {cfg.shared_dir} failed: {result.tail()}",
                             f"find what still uses it (fuser -vm {cfg.shared_dir}), then run restore-standalone again")
        done.append(f"unmounted {cfg.shared_dir} ({what})")
    return done


def wait_standalone(ctx: Ctx, probe: Callable[[], dict[str, Any] | None]) -> dict[str, Any] | None:
    return retry(
        probe,
        should_retry=lambda doc: not is_standalone(doc, ctx.cfg.node_ip),
        log=ctx.log,
        what="the standalone's mongod",
        delay=5,
        budget=ctx.timeout("member"),
        sleep=ctx.sleep,
        clock=ctx.clock,
    )


def run(ctx: Ctx, tarball: str | None = None, ask: Ask | None = None, probe: Callable[[], dict[str, Any] | None] | None = None,
        now: datetime.datetime | None = None) -> PhaseResult:
    cfg = ctx.cfg
    if not cfg.adopted:
        raise PhaseError("restore-standalone runs on the adopted primary only (node.json migrate is false here)",
                         f"run it on {cfg.primary_ip}, the standalone this cluster was made from")
    ask = ask or (lambda ip: hello(ip, timeout_ms=2000))
    probe = probe or (lambda: local_hello(cfg.node_ip))
    ce_dir = os.path.normpath(cfg.ce_dir)
    record_path = ctx.env.host_path(RECORD)
    record = json.loads(read_text(record_path, default="") or "{}")
    # restored already: the record names a tarball (this one, when one is given) and the folder is no
    # cluster's (a later migrate makes it one again); 5.x's backups are out of sight once the share is left
    restored = (bool(record.get("tarball")) and (tarball is None or os.path.basename(tarball) == record["tarball"])
                and not cluster_folder(ce_dir))
    if restored:
        now_running = probe()
        if is_standalone(now_running, cfg.node_ip) and not members_elsewhere(ctx.cfg, ask):
            return PhaseResult("unchanged", f"CE runs as the standalone restored from {record['tarball']}: {describe(now_running)}")
    here = running(ctx, probe)
    if here:
        raise PhaseError(f"CE still runs here: {', '.join(here)}",
                         "stop CE on the other nodes first, the last one first, then here: sudo /opt/cloud-exchange-ha/ce-node stop --force")
    others = members_elsewhere(ctx.cfg, ask)
    if others:
        raise PhaseError(f"CE still runs as a replica-set member on {', '.join(others)}",
                         "stop it there first (sudo /opt/cloud-exchange-ha/ce-node stop --force on each, the last one first)")
    changes = []
    if not restored:
        chosen = tarball or (tarballs(ctx) or [""])[-1]
        if not chosen:
            raise PhaseError(f"no backup of this node in {backup.backups_folder(ctx)}",
                             "give --tarball the backup phase's .tar.gz, or launch an instance from the backup AMI")
        ctx.progress(f"checking {chosen}", 1, 4)
        digest = backup.checked(chosen)
        stamp = (now or datetime.datetime.now(datetime.timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
        aside = f"{ce_dir}.cluster-{stamp}"
        ctx.progress(f"moving {ce_dir} aside to {aside}, extracting {os.path.basename(chosen)}", 2, 4)
        if os.path.lexists(ce_dir):
            os.rename(ce_dir, aside)
            changes.append(f"{ce_dir} kept as {aside}")
        result = ctx.runner.run(["tar", "--extract", "--gzip", "--file", chosen, "--numeric-owner", "--same-permissions", "-C", "/"],
                                timeout=ctx.timeout("backup"))
        if not result.ok:
            raise PhaseError(f"tar could not extract {chosen}: {result.tail()}",
                             f"read {ctx.log.path}; the cluster's folder is kept as {aside}")
        changes.append(f"{ce_dir} restored from {os.path.basename(chosen)}")
        changes += leave_shared_folder(ctx)
        write_atomic(record_path, json.dumps({"tarball": os.path.basename(chosen), "sha256": digest}) + "\n", 0o600)
    ctx.progress(f"running CE's ./start (up to {ctx.timeout('start')} s)", 3, 4)
    result = ctx.runner.run(["./start"], cwd=ce_dir, timeout=ctx.timeout("start"))
    ctx.progress("waiting for the standalone's mongod", 4, 4)
    after = wait_standalone(ctx, probe)
    if not is_standalone(after, cfg.node_ip):
        raise PhaseError(f"after ./start (exit {result.rc}) this node is not a standalone CE: {describe(after)}",
                         f"read {ctx.log.path} and CE's container logs")
    changes.append(f"started: {describe(after)}")
    return PhaseResult("changed", "; ".join(changes))

