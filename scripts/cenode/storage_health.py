"""CE 6.x's GlusterFS as the health check judges it: one brick per node, every peer Connected, nothing to heal.

Owns: asking this node's ``gluster`` CLI (read-only, each command bounded: ``--xml volume info``,
``--xml peer status``, ``volume heal <volume> info``) and turning the answers into problems and
notes for the health report (``cenode.health``): a cluster whose volume misses a node's brick,
lists a brick of no node, has a peer that is not Connected, or still has entries to heal is not
healthy (docs/ce-facts.md §1.9: replica count = node count; docs/ce-lifecycle.md §5.3: after a
replacement, heal must show nothing pending). On a 5.x node (EFS) it checks nothing.

Must not touch: anything it looks at (no gluster command that changes state). Standard library only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from . import gluster, lines
from .nodeconfig import NodeConfig
from .system import CommandResult, Runner, never_raising

if TYPE_CHECKING:
    from typing_extensions import TypeAlias  # typing.TypeAlias is 3.10+; only the type checker imports this

#: one gluster command's bound (seconds): the three of a check stay well inside verify's wait
COMMAND_TIMEOUT_S = 20

#: runs one gluster command (argv) and returns its result
Run: TypeAlias = "Callable[[Sequence[str]], CommandResult]"


def check(cfg: NodeConfig, runner: Runner, layout: lines.GlusterFacts | None = None, run: Run | None = None) -> tuple[list[str], list[str]]:
    """(problems, notes) for the cluster's GlusterFS volume as this node sees it.

    ``runner`` starts the gluster commands (``run``: how, default ``never_raising(runner, COMMAND_TIMEOUT_S)``); ``layout``: the
    GlusterFS paths the caller's ``NodeEnv.gluster`` hands in (default: the release line's).
    """
    try:
        facts = lines.for_version(cfg.ce_version).gluster
    except (ValueError, KeyError):
        return [], [f"GlusterFS not checked: CE version {cfg.ce_version!r} unknown"]
    if facts is None:
        return [], []
    facts = layout or facts
    if runner.which("gluster") is None:
        return [f"GlusterFS: no gluster command on this node ({cfg.node_ip}): CE 6.x needs it (the bricks phase installs it)"], []
    run = run or never_raising(runner, COMMAND_TIMEOUT_S)
    name = facts.volume
    info = run(["gluster", "--mode=script", "--xml", "volume", "info", name])
    volume, error = gluster.read_volume_info(info, name)
    if volume is None:
        return [f"GlusterFS: volume {name} not readable on this node ({error or 'not listed'})"], []
    problems = []
    wanted = {gluster.brick_of(ip, facts): ip for ip in cfg.cluster_ips}
    problems += [f"GlusterFS: {name} has no brick of {ip}" for brick, ip in wanted.items() if brick not in volume.bricks]
    problems += [f"GlusterFS: {name} lists {brick}, a brick of no node of this cluster" for brick in volume.bricks if brick not in wanted]
    peers = gluster.parse_peer_status(run(["gluster", "--mode=script", "--xml", "peer", "status"]).out)
    for ip in cfg.cluster_ips:
        if ip != cfg.node_ip and peers.get(ip) != "Connected":
            problems.append(f"GlusterFS: peer {ip} is {peers.get(ip) or 'not in the pool'}")
    notes = []
    if volume.replica > 1:
        heal = run(["gluster", "--mode=script", "volume", "heal", name, "info"])
        pending = {brick: count for brick, count in gluster.parse_heal_info(heal.out).items() if count != 0}
        if not heal.ok:
            problems.append(f"GlusterFS: heal info on {name} failed ({heal.tail(1) or f'exit {heal.rc}'})")
        problems += [f"GlusterFS: {brick} has {count if count is not None else 'an unknown number of'} entries to heal"
                     for brick, count in pending.items()]  # fmt: skip
    if not problems:
        notes.append(f"GlusterFS: {name} has one brick per node ({len(volume.bricks)}), every peer Connected"
                     f"{', nothing to heal' if volume.replica > 1 else ''}")
    return problems, notes
