"""Phase ``roll-back`` (run by hand on each node): CE's folder back to the copy an upgrade kept before it changed it.

Owns the node-side way back from a failed upgrade (README "Upgrading CE", "When an upgrade fails"), from the
copies of ``cenode.upgrade_copies``: on the node that was CE's primary in the window, its window copy (its CE
folder, the whole shared folder, its setup marker, all as they were when every node had stopped); on every other
node, its drain copy (its CE folder and setup marker as of its stop; the shared part of that copy stays unused).
It checks before it acts and refuses with one line naming what is in the way:

1. CE does not run here (no container, no mongod): stop it first, the secondaries before CE's primary
   (``ce-node stop --force``; CE's ``./stop`` takes each out of the replica set, docs/ce-lifecycle.md §1.2);
2. this node has a copy for the upgrade to node.json's ``ce_version`` (``--tarball`` names another) and it matches
   the sha256 written beside it;
3. a window copy puts the shared folder back under every node: no other node may answer as a replica-set member,
   and on 6.x the shared folder must be the GlusterFS volume's mount here (else the copy's shared part would land on
   this node's own disk, under the unmounted folder).

Then: ``ce_dir`` is moved aside to ``<ce_dir>.upgrade-<UTC stamp>`` (and, for a window copy, the shared ``config``
folder to ``config.upgrade-<UTC stamp>``; kept: nothing is deleted), the copy is extracted at ``/`` as it was
written (a drain copy without its shared part), and the restore is recorded. CE is not started: its ``./start``
must run on CE's primary first (the restored shared ``.env`` names the node whose window copy came back), then on
each other node, one at a time: ``ce-node start`` there (it checks that order itself, ``roles.check``).

Idempotent: ``/var/lib/cloud-exchange-ha/rolled-back.json`` names the copy restored last; a second run with the
same copy is ``unchanged``. Must not touch: the copies (read only), the folders moved aside, other nodes.
"""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Callable
from typing import Any

from .. import backups, gluster, upgrade_copies
from ..ce_runtime import Ask, hello, local_hello, members_elsewhere, running
from ..system import Ctx, PhaseError, PhaseResult, read_text, write_atomic

#: the record of the last roll-back, in the state dir (``/var/lib/cloud-exchange-ha``)
RECORD = "rolled-back.json"
#: how ``ce-node`` is called on a node (the README's commands)
CE_NODE = "sudo /opt/cloud-exchange-ha/ce-node"


def run(ctx: Ctx, tarball: str | None = None, ask: Ask | None = None, probe: Callable[[], dict[str, Any] | None] | None = None,
        now: datetime.datetime | None = None) -> PhaseResult:
    cfg = ctx.cfg
    ask = ask or (lambda ip: hello(ip, timeout_ms=2000))
    probe = probe or (lambda: local_hello(cfg.node_ip))
    chosen = tarball or (upgrade_copies.for_roll_back(ctx) or [""])[-1]
    if not chosen:
        raise PhaseError(f"no copy of this node for the upgrade to {cfg.ce_version} in {upgrade_copies.copies_folder(ctx)}",
                         "give --tarball one of its <node>-window-upgrade-to-<tag>-*.tar or <node>-upgrade-to-<tag>-*.tar.gz; "
                         "without one, nothing of CE was changed here by that upgrade")
    window = upgrade_copies.is_window_copy(chosen)
    record_path = os.path.join(ctx.env.state_dir, RECORD)
    record = json.loads(read_text(record_path, default="") or "{}")
    if record.get("tarball") == os.path.basename(chosen):
        return PhaseResult("unchanged", f"restored from {record['tarball']} already; {next_step(window)}")
    here = running(ctx, probe)
    if here:
        raise PhaseError(f"CE still runs here: {', '.join(here)}",
                         f"stop CE first, the secondaries before CE's primary: {CE_NODE} stop --force on each")
    if window:
        others = members_elsewhere(cfg, ask)
        if others:
            raise PhaseError(f"CE still runs as a replica-set member on {', '.join(others)}: this node's copy puts the shared "
                             "folder back under every node",
                             f"stop it there first ({CE_NODE} stop --force on each, the secondaries before CE's primary)")
        if ctx.line.gluster is not None:
            facts = gluster.layout(ctx)
            if not gluster.mount_state(ctx, facts)[0]:
                raise PhaseError(f"{facts.mount_dir} is not the {facts.volume} volume's mount here: this node's copy would put "
                                 "the shared folder on this node's own disk",
                                 f"mount it first (mount -t glusterfs {cfg.node_ip}:/{facts.volume} {facts.mount_dir}), then "
                                 "run roll-back again")
    ctx.progress(f"checking {chosen}", 1, 3)
    digest = backups.checked(chosen)
    stamp = (now or datetime.datetime.now(datetime.timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    ce_dir = os.path.normpath(cfg.ce_dir)
    changes = []
    moves = [(ce_dir, f"{ce_dir}.upgrade-{stamp}")]
    shared_config = os.path.join(os.path.normpath(cfg.shared_dir), "config")
    if window:
        moves.append((shared_config, f"{shared_config}.upgrade-{stamp}"))
    ctx.progress(f"moving {', '.join(src for src, _ in moves)} aside, extracting {os.path.basename(chosen)}", 2, 3)
    for source, aside in moves:
        if os.path.lexists(source):
            os.rename(source, aside)
            changes.append(f"{source} kept as {aside}")
    argv = ["tar", "--extract", "--file", chosen, "--numeric-owner", "--same-permissions", "-C", "/"]
    if not window:  # the drain copy's shared config is older than the window's: the window copy's node restores it
        argv += ["--anchored", f"--exclude={os.path.normpath(cfg.shared_dir).lstrip('/')}"]
    result = ctx.runner.run(argv, timeout=ctx.timeout("backup"))
    if not result.ok:
        raise PhaseError(f"tar could not extract {chosen}: {result.tail()}",
                         f"read {ctx.log.path}; what was moved aside is kept: {', '.join(aside for _, aside in moves)}")
    changes.append(f"{ce_dir}{' and the shared folder' if window else ''} restored from {os.path.basename(chosen)}")
    ctx.progress("recording the restore", 3, 3)
    write_atomic(record_path, json.dumps({"tarball": os.path.basename(chosen), "sha256": digest}) + "\n", 0o600)
    return PhaseResult("changed", f"{'; '.join(changes)}; {next_step(window)}")


def next_step(window: bool) -> str:
    if window:
        return (f"this node was CE's primary in the upgrade's window: start CE here first ({CE_NODE} start), then on each "
                "other node once it is rolled back too")
    return f"start CE here ({CE_NODE} start) once CE's primary serves again (the node whose copy held the shared folder)"
