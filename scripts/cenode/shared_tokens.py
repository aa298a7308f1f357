"""Every node proves it sees the one shared folder: a token file per node in the folder itself.

Owns Netskope's HA step "mount the shared folder on every node and verify it"
(docs/ce-facts.md §2.1, §2.2): when a node has the shared folder mounted it leaves
``<shared>/.cloud-exchange-ha/nodes/<node ip>`` (its name and address, nothing secret), and a
node that relies on others' folder being the same looks for their tokens. A node that mounted another file system (another
EFS, a local folder, a volume without its brick) writes its token where the others never look, so
the check names exactly the nodes that do not share the folder. Whose tokens are looked for, and
when, is the release line's (``lines.SharedWitness``): the phases only say where they are
(``mounted``: right after the folder is mounted; ``before_cutover``: before the cutover stops CE).

Must not touch: anything in the shared folder but ``.cloud-exchange-ha/nodes/``.
"""

from __future__ import annotations

import json
import os

from .system import Ctx, PhaseError, read_text, setting, write_atomic

#: the folder of the tokens, below the shared folder
TOKEN_DIR = os.path.join(".cloud-exchange-ha", "nodes")


def token_path(shared_dir: str, ip: str) -> str:
    return os.path.join(shared_dir, TOKEN_DIR, ip)


def token_text(node_name: str, ip: str) -> str:
    """What a node's token says: who wrote it; no secret, no time (a re-run writes nothing new)."""
    return json.dumps({"node": node_name, "ip": ip, "by": "cloud-exchange-ha"}, sort_keys=True) + "\n"


def leave_token(ctx: Ctx, shared_dir: str) -> bool:
    """This node's token in ``shared_dir``; True when it was (re)written."""
    cfg = ctx.cfg
    path = token_path(shared_dir, cfg.node_ip)
    text = token_text(cfg.node_name, cfg.node_ip)
    if read_text(path, default="") == text:
        return False
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    write_atomic(path, text, 0o644)
    ctx.log.info(f"shared folder token: {path}")
    return True


def sees(shared_dir: str, ip: str) -> bool:
    """``shared_dir`` holds a token of the node at ``ip``."""
    try:
        found = json.loads(read_text(token_path(shared_dir, ip)))
    except (OSError, ValueError):
        return False
    return isinstance(found, dict) and found.get("ip") == ip


def missing(shared_dir: str, ips: list[str]) -> list[str]:
    return [ip for ip in ips if not sees(shared_dir, ip)]


def mounted(ctx: Ctx, shared_dir: str) -> list[str]:
    """Right after this node has the shared folder mounted: leave its token, then look for the ones
    its line wants seen at this point (6.x: the primary's). Returns the change made, if any."""
    cfg = ctx.cfg
    changes = ["shared folder token"] if leave_token(ctx, shared_dir) else []
    wanted = [cfg.primary_ip] if ctx.line.shared_witness.after_mount == "primary" else []
    absent = missing(shared_dir, wanted)
    if absent:
        raise PhaseError(
            f"{shared_dir} shows no token of the primary {cfg.primary_ip} ({token_path(shared_dir, cfg.primary_ip)}): "
            "this node does not see the primary's shared folder",
            f"check what is mounted at {shared_dir} on this node and on the primary (both must show the same files); "
            "the primary leaves its token when its setup ran",
        )
    ctx.log.info(f"{shared_dir}: this node's token written{', the primary token seen' if wanted else ''}")
    return changes


def before_cutover(ctx: Ctx, shared_dir: str) -> str:
    """On the primary, before the cutover stops CE: the tokens of every node its line wants seen
    (5.x: every node's, left by each node's mount phase). Returns what was checked ("" for nothing)."""
    cfg = ctx.cfg
    if not cfg.is_primary or ctx.line.shared_witness.before_cutover != "every node":
        return ""
    absent = missing(shared_dir, list(cfg.cluster_ips))
    if absent:
        raise PhaseError(
            f"the shared folder {shared_dir} shows no token of node(s) {', '.join(absent)} "
            f"({os.path.join(shared_dir, TOKEN_DIR)}/<ip>, left by each node's mount phase): they do not see the folder this primary sees",
            f"run the mount phase on {', '.join(absent)} and check each mounts the same file system at {setting('sharedDir')} "
            "(the EFS DNS name in /etc/fstab)",
        )
    seen = f"{len(cfg.cluster_ips)} node tokens seen in {shared_dir}"
    ctx.log.info(seen)
    return seen
