"""Phase ``gluster-join --member N`` (6.x, runs ON THE PRIMARY): add node N's brick to CE's volume.

Owns docs/ce-facts.md §1.9 B.2, what CE's add-node API does on the primary: ``gluster peer probe <ip N>``
(skipped when the peer is already Connected), waiting (bounded) until it is Connected, ``gluster
--mode=script volume add-brick CloudExchange replica N <ip N>:/opt/shared/gluster/bricks/1/brick
force`` unless ``volume info`` already lists that brick, then ``gluster volume heal CloudExchange
full``. N indexes node.json's ``cluster_ips`` (1-based; 1 is the primary, so N >= 2); members join
in cutover order, so before member N the volume has N-1 bricks.

Idempotent: a member whose brick is in the volume is "unchanged" (no probe, no heal).
Must not touch: node N itself (its own setup mounts the volume there), other bricks, the mount.
"""

from __future__ import annotations

from .. import gluster
from ..system import Ctx, PhaseError, PhaseResult


def run(ctx: Ctx, member: int) -> PhaseResult:
    cfg = ctx.cfg
    facts = gluster.layout(ctx)
    if not cfg.is_primary:
        raise PhaseError(f"gluster-join runs on the primary, this node is {cfg.role}", f"run it on {cfg.primary_ip} (the program does)")
    if not 2 <= member <= len(cfg.cluster_ips):
        raise PhaseError(
            f"--member {member} is not a secondary of cluster_ips (2..{len(cfg.cluster_ips)})",
            "give the 1-based position of the node in cluster_ips (1 is this primary)",
        )
    ip = cfg.cluster_ips[member - 1]
    brick = gluster.brick_of(ip, facts)
    volume = gluster.volume_info(ctx, facts.volume)
    if volume is None:
        raise PhaseError(
            f"volume {facts.volume} does not exist on the primary yet",
            "run setup on the primary first (cutover order: setup primary, then gluster-join and setup per secondary)",
        )
    ctx.log.info(f"volume {facts.volume}: {volume.status}, {volume.count or '?'} brick(s): {', '.join(volume.bricks)}")
    if brick in volume.bricks:
        return PhaseResult("unchanged", f"member {member} ({ip}) already has its brick in {facts.volume} ({volume.count} bricks)")
    if len(volume.bricks) != member - 1:
        raise PhaseError(
            f"{facts.volume} has {len(volume.bricks)} brick(s), member {member} needs {member - 1} before it",
            f"join the members in cluster_ips order (gluster-join --member {len(volume.bricks) + 1} first)",
        )
    changes = []
    ctx.progress(f"probing peer {ip}", 1, 3)
    if gluster.probe_until_connected(ctx, ip):
        changes.append(f"peer {ip} probed")
    ctx.progress(f"adding brick {brick}", 2, 3)
    added = gluster.gluster(ctx, "volume", "add-brick", facts.volume, "replica", str(member), brick, "force")
    if not added.ok:
        raise PhaseError(f"add-brick {brick} failed: {added.tail()}", f"check glusterd on {ip} (bricks phase) and TCP 24007-24029 between the nodes")
    changes.append(f"brick added ({facts.volume} replica {member})")
    ctx.progress(f"starting a full heal of {facts.volume}", 3, 3)
    healed = gluster.start_full_heal(ctx, facts.volume)
    if healed:
        changes.append(healed)
    return PhaseResult("changed", f"member {member} ({ip}): " + ", ".join(changes))

