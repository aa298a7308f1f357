"""CE 6.x's GlusterFS as the node-side phases see it: layout, glusterd.vol, the gluster CLI, state.

Owns: the node's GlusterFS layout (the release line's ``lines.GlusterFacts``, or the one the
caller's ``NodeEnv.gluster`` hands in), rewriting the management block of ``glusterd.vol``
(docs/ce-facts.md §1.9 B.1), running ``gluster`` bounded and in script mode, reading
``gluster --xml volume info`` / ``--xml peer status`` with ``xml.etree``, and telling whether
``/opt/shared/data`` is the GlusterFS mount (docs/ce-facts.md §2.2: a mount whose source names the
volume).

Also the two actions more than one phase takes: probing a peer until it is Connected (bounded) and
starting a full heal (gluster-join, evict's brick repair).

Must not touch: anything by itself; the phases (bricks, gluster-join, evict, setup) decide. Never mounts
anything at the data folder (only gluster-join's caller, the secondary's setup, does, docs/ce-facts.md §1.9 B.3).
Standard library only (python 3.8+).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from xml.etree import ElementTree

from . import lines
from .mounts import parse_mountinfo
from .system import CommandResult, CommandTimeout, Ctx, PhaseError, read_text, retry, setting

#: what glusterd.vol holds when the package did not ship one (the management block only)
DEFAULT_GLUSTERD_VOL = (
    "volume management\n    type mgmt/glusterd\n    option working-directory /var/lib/glusterd\n    option transport-type socket\nend-volume\n"
)
NOT_RUNNING = "Connection failed"


def layout(ctx: Ctx) -> lines.GlusterFacts:
    """This node's GlusterFS paths; fails on a 5.x stack or a node.json whose shared_dir disagrees."""
    line = ctx.line
    try:
        facts = line.gluster_layout()
    except LookupError as missing:
        raise PhaseError(str(missing), f"this phase is for a 6.x {setting('ceVersion')}") from None
    facts = ctx.env.gluster or facts
    if os.path.normpath(ctx.cfg.shared_dir) != facts.mount_dir:
        raise PhaseError(
            f"node.json shared_dir {ctx.cfg.shared_dir} is not CE {line.major}.x's fixed {facts.mount_dir}",
            f"unset {setting('sharedDir')} (CE fixes the folder)",
        )
    return facts


def port_options(facts: lines.GlusterFacts) -> dict[str, str]:
    """The glusterd.vol options CE's ``update_glusterd_ports`` writes (docs/ce-facts.md §1.9 B.1)."""
    return {
        "transport.socket.listen-port": str(facts.glusterd.from_port),
        "base-port": str(facts.bricks.from_port),
        "max-port": str(facts.bricks.to_port),
    }


def rewrite_glusterd_vol(text: str, wanted: dict[str, str]) -> tuple[str, bool]:
    """Set ``option <key> <value>`` for ``wanted`` inside the ``volume management`` block.

    Other lines (comments, other options, other blocks) stay as they are; a duplicate active line
    of a wanted key is dropped; a file without the block gets the default block.
    """
    original = text if text.endswith("\n") or not text else text + "\n"
    if not any(line.split()[:2] == ["volume", "management"] for line in original.splitlines()):
        original = (original + "\n" if original.strip() else "") + DEFAULT_GLUSTERD_VOL
    lines = original.splitlines()
    out: list[str] = []
    inside = False
    done: set[str] = set()
    for line in lines:
        words = line.split()
        if words[:2] == ["volume", "management"]:
            inside = True
        elif inside and words[:1] == ["end-volume"]:
            out += [f"    option {key} {value}" for key, value in wanted.items() if key not in done]
            inside = False
        elif inside and len(words) >= 2 and words[0] == "option" and words[1] in wanted:
            key = words[1]
            if key not in done:
                out.append(f"    option {key} {wanted[key]}" if words[2:] != [wanted[key]] else line)
                done.add(key)
            continue
        out.append(line)
    new = "\n".join(out) + "\n"
    return new, new != text


# ----------------------------------------------------------------------------- the CLI


def gluster(ctx: Ctx, *args: str) -> CommandResult:
    """``gluster --mode=script <args>``, bounded; a hang is an error naming glusterd."""
    argv = ["gluster", "--mode=script", *args]
    try:
        return ctx.runner.run(argv, timeout=ctx.timeout("gluster"))
    except CommandTimeout:
        raise PhaseError(
            f"gluster {' '.join(args)} did not answer within {ctx.timeout('gluster')} s",
            "check glusterd on this node (systemctl status glusterd) and TCP 24007 between the nodes",
        ) from None


def text_of(result: CommandResult) -> str:
    return (result.out + "\n" + result.err).strip()


def glusterd_down(result: CommandResult) -> bool:
    return NOT_RUNNING in text_of(result)


@dataclass
class VolumeInfo:
    name: str
    status: str = ""
    type: str = ""
    bricks: list[str] = field(default_factory=list)
    count: str = ""  # "1" or "1 x 3 = 3", as gluster prints it

    @property
    def replica(self) -> int:
        match = re.match(r"\s*\d+\s*x\s*(\d+)", self.count)
        return int(match.group(1)) if match else 1


def cli_output(text: str) -> ElementTree.Element | None:
    """The ``<cliOutput>`` document ``gluster --xml`` prints; None when ``text`` is not one."""
    start = text.find("<")
    if start < 0:
        return None
    try:
        root = ElementTree.fromstring(text[start:])  # noqa: S314 - the local gluster CLI's own output
    except ElementTree.ParseError:
        return None
    return root if root.tag == "cliOutput" else None


def cli_error(root: ElementTree.Element) -> str:
    """"" when the command succeeded (``opRet`` 0), else gluster's ``opErrstr``."""
    if (root.findtext("opRet") or "0").strip() == "0":
        return ""
    return (root.findtext("opErrstr") or "").strip() or f"opRet {root.findtext('opRet')}, opErrno {root.findtext('opErrno')}"


def parse_volume_info(text: str, name: str) -> VolumeInfo | None:
    """Volume ``name`` in ``gluster --xml volume info`` output, None when it is not there."""
    root = cli_output(text)
    if root is None:
        raise ValueError("not the XML output of gluster --xml volume info")
    for volume in root.iter("volume"):
        if (volume.findtext("name") or "").strip() != name:
            continue
        bricks = [(brick.findtext("name") or brick.text or "").strip() for brick in volume.iter("brick")]
        replica = int(volume.findtext("replicaCount") or "1")
        total = int(volume.findtext("brickCount") or len(bricks))
        return VolumeInfo(
            name,
            status=(volume.findtext("statusStr") or "").strip(),
            type=(volume.findtext("typeStr") or "").strip(),
            bricks=bricks,
            count=f"{total // replica} x {replica} = {total}" if replica > 1 else str(total),  # as gluster prints it
        )
    return None


def volume_info(ctx: Ctx, volume: str) -> VolumeInfo | None:
    """The volume as this node's glusterd knows it; None when it does not exist (or this node is in no pool)."""
    result = gluster(ctx, "--xml", "volume", "info", volume)
    if glusterd_down(result):
        raise PhaseError("glusterd is not running on this node", "run the bricks phase (it enables and starts glusterd)")
    found, error = read_volume_info(result, volume)
    if not error or re.search(r"does not exist|No volumes present", error):
        return found
    raise PhaseError(f"gluster volume info {volume} failed: {error}", "check glusterd on this node (systemctl status glusterd)")


def read_volume_info(result: CommandResult, volume: str) -> tuple[VolumeInfo | None, str]:
    """``gluster --xml volume info <volume>``'s answer: (the volume or None when not listed, "") or (None, what failed)."""
    root = cli_output(result.out)
    error = cli_error(root) if root is not None else result.tail() or f"exit {result.rc}, no XML"
    return (None, error) if error else (parse_volume_info(result.out, volume), "")


def parse_peer_status(text: str) -> dict[str, str]:
    """``gluster --xml peer status`` -> {hostname or other name: "Connected" | "Disconnected" | "Rejected"}.

    "Rejected": glusterd's ``Peer Rejected`` state (a peer whose volume configuration or identity
    does not match the pool's); it is never taken for a Connected member.
    """
    root = cli_output(text)
    peers: dict[str, str] = {}
    for peer in root.iter("peer") if root is not None else ():
        connected = (peer.findtext("connected") or "").strip() == "1"
        rejected = "Rejected" in (peer.findtext("stateStr") or "")
        state = "Rejected" if rejected else "Connected" if connected else "Disconnected"
        names = [peer.findtext("hostname") or ""] + [other.text or "" for other in peer.findall("hostnames/hostname")]
        for name in names:
            if name.strip():
                peers[name.strip()] = state
    return peers


def peer_status(ctx: Ctx) -> dict[str, str]:
    """The trusted pool as this node sees it (empty when glusterd does not answer)."""
    return parse_peer_status(gluster(ctx, "--xml", "peer", "status").out)


def probe_until_connected(ctx: Ctx, ip: str) -> bool:
    """Probe ``ip`` until ``peer status`` shows it Connected (bounded); True when a probe was sent."""
    if peer_status(ctx).get(ip) == "Connected":
        return False

    def attempt() -> str:
        """"" once ``ip`` is Connected, else what is in the way."""
        probe = gluster(ctx, "peer", "probe", ip)
        if not probe.ok:
            return probe.tail() or f"peer probe {ip} failed"
        state = peer_status(ctx).get(ip, "")
        return "" if state == "Connected" else f"peer status says {state or 'not in the pool'}"

    last = retry(
        attempt,
        should_retry=bool,
        log=ctx.log,
        what=f"peer {ip}",
        delay=3,
        budget=ctx.timeout("gluster_peer"),
        sleep=ctx.sleep,
        clock=ctx.clock,
        on_retry=lambda why, _: ctx.log.info(f"peer {ip}: {why}; retrying"),
    )
    if last:
        raise PhaseError(
            f"peer {ip} not Connected after {ctx.timeout('gluster_peer')} s: {last}",
            f"run the bricks phase on {ip} (glusterd) and allow TCP 24007 between the nodes",
        )
    return True


def start_full_heal(ctx: Ctx, volume: str) -> str:
    """``volume heal <volume> full``: what to report ("" for a volume that is not replicated)."""
    healed = gluster(ctx, "volume", "heal", volume, "full")
    if healed.ok:
        return "full heal started"
    if "not of type replicate" in text_of(healed):
        ctx.log.info("heal: not a replicate volume (nothing to heal)")
        return ""
    ctx.log.warn(f"heal full failed: {healed.tail()} (GlusterFS's self-heal daemon catches up on its own)")
    return "heal full failed (see log)"


def parse_heal_info(text: str) -> dict[str, int | None]:
    """``gluster volume heal <vol> info`` -> {brick: entries still to heal (None: the brick did not say)}."""
    pending: dict[str, int | None] = {}
    brick = ""
    for line in text.splitlines():
        if line.startswith("Brick "):
            brick = line[len("Brick ") :].strip()
            pending[brick] = None
        elif brick and line.startswith("Number of entries:"):
            count = line.partition(":")[2].strip()
            pending[brick] = int(count) if count.isdigit() else None
    return pending


# ----------------------------------------------------------------------------- mount state


def mount_state(ctx: Ctx, facts: lines.GlusterFacts) -> tuple[bool, str]:
    """Is the data folder the GlusterFS mount? (mounted, how) - CE's own test (docs/ce-facts.md §2.2):
    the mount at the data folder is GlusterFS's, or its source names the volume."""
    mounts = parse_mountinfo(read_text(ctx.env.host_path("/proc/self/mountinfo"), default=""))
    entry = mounts.get(os.path.normpath(facts.mount_dir))
    if entry is not None and (facts.volume in entry[1] or entry[0].startswith("fuse.glusterfs")):
        return True, f"{entry[0]} from {entry[1]}"
    return False, ""


def brick_of(node_ip: str, facts: lines.GlusterFacts) -> str:
    return f"{node_ip}:{facts.brick_dir}"
