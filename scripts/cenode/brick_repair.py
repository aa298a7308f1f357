"""A replaced 6.x node's place in CE's GlusterFS volume, repaired from a survivor (evict's GlusterFS part).

Owns docs/ce-lifecycle.md §5.3 way A (only commands CE itself issues) for a node that came back at
the same address with a new glusterd identity (a new VM: a new ``glusterd.info`` UUID):

1. the dead brick ``<ip>:/opt/shared/gluster/bricks/1/brick`` leaves the volume:
   ``volume remove-brick CloudExchange replica <N-1> <brick> force`` (the form of CE's remove-node),
   only while the peer at that address is not a Connected member in two readings 5 s apart (a live
   node's brick is never removed; a peer status that cannot be read stops the phase) and only when
   this node holds a brick of the volume itself;
2. the old peer leaves the pool: ``peer detach <ip>`` (``force`` when refused; the need for it is
   unknown, docs/ce-lifecycle.md §5.3), judged by ``peer status`` afterwards;
3. the new node joins as CE's add-node would add it (docs/ce-lifecycle.md §6.1, docs/ce-facts.md §1.9
   B.2): ``peer probe`` until Connected (bounded), ``volume add-brick CloudExchange replica <N>
   <brick> force``, ``volume heal CloudExchange full``; only when every OTHER node of
   ``cluster_ips`` has its brick in the volume (a replacement: the cluster was whole but for this
   node; at a first cutover the members join in order through ``gluster-join`` instead) and a
   glusterd answers at the address (an evict by hand of a dead node before its new VM exists
   stops after step 2 and says so);
4. the heal: ``volume heal CloudExchange info`` re-read (bounded, ``gluster_heal``) until no brick
   lists entries to heal; still pending then is reported, not an error (GlusterFS's self-heal
   daemon goes on; verify judges the cluster).

Each part checks before it acts, so a second run finds nothing to do. Which states a real glusterd
shows for a same-address peer with a new identity is inferred (docs/ce-lifecycle.md §5.1): anything
but Connected counts as gone here ("Rejected" included, ``gluster.parse_peer_status``).

Must not touch: the new node itself (its own setup mounts the volume), other bricks, the mount.
"""

from __future__ import annotations

import socket

from . import gluster, lines
from .system import Ctx, PhaseError, retry

#: seconds between the two peer-status reads that must both say "not Connected" before a brick is removed
RECHECK_S = 5
#: one TCP connect to the new node's glusterd before it is probed
CONNECT_S = 3


def repair(ctx: Ctx, address: str) -> list[str]:
    """What was done for the node at ``address``, in a few words each (empty when nothing was due; the log has the bricks)."""
    facts = gluster.layout(ctx)
    volume = gluster.volume_info(ctx, facts.volume)
    if volume is None:
        ctx.log.info(f"GlusterFS: no volume {facts.volume} on this node: nothing to repair")
        return []
    done = []
    brick = gluster.brick_of(address, facts)
    state = peer_state(ctx, address)
    ctx.log.info(f"GlusterFS before: {facts.volume} bricks {', '.join(volume.bricks)}; peer {address}: {state or 'not in the pool'}")
    if brick in volume.bricks and state != "Connected":
        ctx.sleep(RECHECK_S)  # a peer that is only briefly away (glusterd restarting) is never taken for gone
        state = peer_state(ctx, address)
    if brick in volume.bricks and state != "Connected":
        done.append(remove_brick(ctx, facts, volume, brick))
        volume = _volume(ctx, facts)
    if state and state != "Connected" and brick not in volume.bricks:
        done.append(detach(ctx, address))
    others = [gluster.brick_of(ip, facts) for ip in ctx.cfg.cluster_ips if ip != address]
    if brick not in volume.bricks and all(other in volume.bricks for other in others):
        if not glusterd_answers(address, facts.glusterd.from_port):  # the dead node evicted by hand, no new VM yet
            ctx.log.info(f"no glusterd answers on {address}:{facts.glusterd.from_port}: "
                         "its brick is added when evict runs after the new node's bricks phase")
            return [line for line in done if line] + [f"new brick not added ({address} has no glusterd yet)"]
        done += add_brick(ctx, facts, volume, address, brick)
        done.append(wait_for_heal(ctx, facts))
    return [line for line in done if line]


def peer_state(ctx: Ctx, address: str) -> str:
    """``address``'s state in the trusted pool ("" when not in it); a peer status that cannot be read is an error, never "gone"."""
    result = gluster.gluster(ctx, "--xml", "peer", "status")
    root = gluster.cli_output(result.out)
    if not result.ok or root is None or gluster.cli_error(root):
        raise PhaseError(f"gluster peer status failed: {result.tail() or f'exit {result.rc}'}",
                         "check glusterd on this node (systemctl status glusterd); nothing was removed")
    return gluster.parse_peer_status(result.out).get(address, "")


def glusterd_answers(address: str, port: int) -> bool:
    """Whether anything accepts TCP on ``address``'s glusterd port (one short connect)."""
    try:
        with socket.create_connection((address, port), timeout=CONNECT_S):
            return True
    except OSError:
        return False


def _volume(ctx: Ctx, facts: lines.GlusterFacts) -> gluster.VolumeInfo:
    volume = gluster.volume_info(ctx, facts.volume)
    if volume is None:
        raise PhaseError(f"volume {facts.volume} disappeared from this node", "check glusterd here (gluster volume info)")
    return volume


def remove_brick(ctx: Ctx, facts: lines.GlusterFacts, volume: gluster.VolumeInfo, brick: str) -> str:
    """The dead node's brick out of the volume; refused when this node holds no brick of it (never the last copy)."""
    own = gluster.brick_of(ctx.cfg.node_ip, facts)
    if own not in volume.bricks:
        raise PhaseError(f"this node ({ctx.cfg.node_ip}) holds no brick of {facts.volume} ({', '.join(volume.bricks)})",
                         "run evict on a node whose brick is in the volume")
    replica = len(volume.bricks) - 1
    removed = gluster.gluster(ctx, "volume", "remove-brick", facts.volume, "replica", str(replica), brick, "force")
    if not removed.ok:
        raise PhaseError(f"remove-brick {brick} failed: {removed.tail()}", f"read {ctx.log.path}; check glusterd on this node")
    ctx.log.info(f"removed the dead brick {brick} ({facts.volume} replica {replica})")
    return f"dead brick out (replica {replica})"


def detach(ctx: Ctx, address: str) -> str:
    """The old identity at ``address`` out of the trusted pool (``force`` when a plain detach is refused)."""
    plain = gluster.gluster(ctx, "peer", "detach", address)
    how = ""
    if not plain.ok:
        ctx.log.info(f"peer detach {address}: {plain.tail()}; trying with force")
        forced = gluster.gluster(ctx, "peer", "detach", address, "force")
        how = " (force)"
        if not forced.ok:
            raise PhaseError(f"peer detach {address} failed: {forced.tail()}", f"read {ctx.log.path}; check glusterd on this node")
    left = gluster.peer_status(ctx).get(address)
    if left is not None and left != "Connected":
        raise PhaseError(f"peer {address} is still in the pool ({left}) after peer detach", f"read {ctx.log.path}")
    ctx.log.info(f"detached the old peer {address}{how}")
    return f"old peer detached{how}"


def add_brick(ctx: Ctx, facts: lines.GlusterFacts, volume: gluster.VolumeInfo, address: str, brick: str) -> list[str]:
    """The new node probed and its brick added, as CE's add-node does, then a full heal started."""
    done = []
    if gluster.probe_until_connected(ctx, address):
        done.append("new peer probed")
    replica = len(volume.bricks) + 1
    added = gluster.gluster(ctx, "volume", "add-brick", facts.volume, "replica", str(replica), brick, "force")
    if not added.ok:
        raise PhaseError(f"add-brick {brick} failed: {added.tail()}",
                         f"check the bricks phase on {address} (a brick folder left by the old node?) and TCP 24007-24029")
    ctx.log.info(f"added the new brick {brick} ({facts.volume} replica {replica})")
    done.append(f"new brick in (replica {replica})")
    done.append(gluster.start_full_heal(ctx, facts.volume))
    return done


def wait_for_heal(ctx: Ctx, facts: lines.GlusterFacts) -> str:
    """Re-read ``heal info`` until no brick has entries to heal, bounded; what it ended with."""

    def pending() -> str:
        """"" once nothing is pending, else which bricks still list entries."""
        info = gluster.gluster(ctx, "volume", "heal", facts.volume, "info")
        if not info.ok:
            return f"heal info failed: {info.tail()}"
        counts = gluster.parse_heal_info(info.out)
        waiting = [f"{brick}: {count if count is not None else '?'}" for brick, count in counts.items() if count != 0]
        return "; ".join(waiting) if counts else "heal info listed no brick"

    last = retry(pending, should_retry=bool, log=ctx.log, what=f"heal of {facts.volume}", delay=5,
                 budget=ctx.timeout("gluster_heal"), sleep=ctx.sleep, clock=ctx.clock,
                 on_retry=lambda why, _: ctx.log.info(f"heal of {facts.volume}: {why}; waiting"))  # fmt: skip
    if last:
        ctx.log.warn(f"heal of {facts.volume} still pending after {ctx.timeout('gluster_heal')} s: {last}")
        return f"heal still pending after {ctx.timeout('gluster_heal')} s (see log; GlusterFS's self-heal daemon goes on)"
    return "heal: nothing pending"
