"""Phase ``evict``: on a healthy survivor, remove a dead node from the cluster so that its replacement can join.

Owns: what CE's ``./stop`` would have done for a node that died without it (docs/ce-lifecycle.md
docs/ce-lifecycle.md §5.1: its replacement's ``./start`` fails at ``--join``, "The node is already connected with the
cluster.", and never reaches RabbitMQ), in the order of docs/ce-lifecycle.md §5.2 steps 1-3 (also docs/ce-lifecycle.md §6.5 for a dead node):

1. MongoDB: ``rs.remove("<ip>:27017")`` as root against the PRIMARY (replSetGetConfig, the member
   dropped, version + 1, replSetReconfig), docs/ce-lifecycle.md §5.2 step 1's first form. Not CE's own
   ``replica_set --remove`` with ``HA_CURRENT_NODE=<dead ip>``: the facts do not say how that script
   reaches the set when the node it names is gone (docs/ce-lifecycle.md §5.2 marks it inferred);
2. RabbitMQ, in this node's ``rabbitmq-stats`` container: ``rabbitmq-queues delete_member`` for
   ``cloudexchange_9``/``_6``/``_3``, then ``rabbitmqctl forget_cluster_node rabbit@<ip>`` (docs/ce-lifecycle.md §5.2
   step 2), judged by ``cluster_status`` and ``quorum_status`` afterwards;
3. ``HA_PRIMARY_NODE_IP``: when it names the dead node, moved to MongoDB's PRIMARY (whom CE's own
   ``./stop`` would name, docs/ce-lifecycle.md §1.2) in the shared ``.env`` and in this node's local ``.env`` when that has
   the key (docs/ce-lifecycle.md §5.2 step 3: the shared one wins at start; 6.x local files have no such key, docs/ce-lifecycle.md §1.2).

Each part is checked before it acts, so a second run (or one after a partial run) finds nothing to
do and reports ``unchanged``. Refused: an address outside ``cluster_ips`` or this node's own; a run on a node
that is not a healthy member; an address whose MongoDB answers as a healthy member (a live node is
never evicted; with ``--if-dead``, what the program's step sends, that is ``unchanged``: the step
also re-runs when only its SSH connection changed, with the node alive); a set where fewer than a
majority of members are healthy (docs/ce-lifecycle.md §5.2: a majority must
be up). When no node runs a replica set (a first deployment) there is nothing to evict.

4. 6.x, GlusterFS (docs/ce-lifecycle.md §5.3 way A, after steps 1-3): the dead brick removed and the old
   peer detached, the new node probed, its brick added and healed (``cenode.brick_repair``).

Must not touch: the dead node itself (it is gone), other survivors' local files, ``HA_IP_LIST`` (same
address, docs/ce-lifecycle.md §5.2 step 5).
The maintenance password reaches pymongo only as an argument, never a command line or the log.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import brick_repair, nodeconfig, rabbitmq, roles
from ..ce_runtime import MONGO_PORT, hello, running_containers
from ..system import CommandResult, Ctx, PhaseError, PhaseResult, write_atomic

if TYPE_CHECKING:
    from typing_extensions import TypeAlias  # typing.TypeAlias is 3.10+; only the type checker imports this

MONGO_USER = "root"
#: CE's quorum queues and RabbitMQ's container (``cenode.rabbitmq``), named here too for this phase's readers
QUEUES = rabbitmq.QUEUES
RABBITMQ_SERVICE = rabbitmq.SERVICE
rabbit_node = rabbitmq.node_name

#: runs one RabbitMQ CLI command (``rabbitmqctl ...`` / ``rabbitmq-queues ...``) where RabbitMQ runs
Rabbit: TypeAlias = "Callable[[list[str]], CommandResult]"


def container_rabbit(ctx: Ctx) -> Rabbit:
    """The CLI inside this node's ``rabbitmq-stats`` container (``docker``/``podman exec``)."""
    engine = "docker" if ctx.runner.which("docker") else "podman" if ctx.runner.which("podman") else ""
    name = rabbitmq.container(running_containers(ctx, ctx.cfg.ce_dir))
    if not engine or not name:
        raise PhaseError(f"RabbitMQ's {RABBITMQ_SERVICE} container does not run on {ctx.cfg.node_ip}",
                         "run evict on a node where CE runs (a healthy survivor)")
    return lambda argv: ctx.runner.run([engine, "exec", name, *argv], timeout=ctx.timeout("rabbitmq"))


# ---- checks ------------------------------------------------------------------------------------


def check_target(ctx: Ctx, found: roles.Roles, address: str) -> bool:
    """Refuse what must never be evicted; False when no replica set runs anywhere (nothing to evict)."""
    cfg = ctx.cfg
    if address not in cfg.cluster_ips:
        raise PhaseError(f"{address} is not one of this cluster's nodes ({', '.join(cfg.cluster_ips)})",
                         "give --address the dead node's IP as cluster_ips lists it")
    if address == cfg.node_ip:
        raise PhaseError(f"evict runs on a survivor, not on the node it evicts ({address})", "run it on a healthy member")
    if not found.healthy:
        return False
    if not found.is_healthy(cfg.node_ip):
        raise PhaseError(f"this node ({cfg.node_ip}) is not a healthy member [{found.describe()}]",
                         f"run evict on one of {', '.join(found.healthy)}")
    if found.is_healthy(address):
        raise PhaseError(f"{address} answers as a healthy replica-set member: a live node is never evicted [{found.describe()}]",
                         f"stop CE on {address} with ./stop (it leaves the set itself, docs/ce-lifecycle.md §6.4), or evict a dead node")
    members = found.members
    healthy = [ip for ip in members if found.is_healthy(ip)]
    if 2 * len(healthy) <= len(members):
        raise PhaseError(f"only {len(healthy)} of {len(members)} replica-set members are healthy: no majority, "
                         f"MongoDB cannot reconfigure [{found.describe()}]",
                         "bring members back until a majority runs (docs/ce-lifecycle.md §5.2 step 1)")
    if found.mongo_primary is None:
        raise PhaseError(f"no single MongoDB PRIMARY answers [{found.describe()}]", "wait for the election to finish and run evict again")
    return True


# ---- 1. MongoDB --------------------------------------------------------------------------------


def remove_member(ctx: Ctx, primary_ip: str, address: str) -> int | None:
    """``rs.remove`` as root on the PRIMARY; the new config version, or None when it was no member."""
    import pymongo
    from pymongo.errors import PyMongoError

    password = nodeconfig.load_secrets(ctx.env.config_dir).maintenance_password
    if not password:
        raise PhaseError("secrets.json has no maintenance password (MongoDB's root password)", "let the program write secrets.json")
    limit_ms = ctx.timeout("mongo") * 1000
    client: Any = pymongo.MongoClient(
        primary_ip, MONGO_PORT, directConnection=True, username=MONGO_USER, password=password, authSource="admin",
        serverSelectionTimeoutMS=limit_ms, connectTimeoutMS=limit_ms, socketTimeoutMS=limit_ms,
    )  # fmt: skip
    host = f"{address}:{MONGO_PORT}"
    try:
        config = client.admin.command("replSetGetConfig")["config"]
        kept = [member for member in config["members"] if member["host"] != host]
        if len(kept) == len(config["members"]):
            return None
        config["members"] = kept
        config["version"] = int(config["version"]) + 1
        client.admin.command("replSetReconfig", config)
        return int(config["version"])
    except PyMongoError as exc:
        what = str(exc).replace(password, "***")[:300]
        raise PhaseError(f"MongoDB reconfig on the PRIMARY {primary_ip} failed: {what}",
                         f"read {ctx.log.path}; check the maintenance password and that {primary_ip} is still PRIMARY") from None
    finally:
        client.close()


# ---- 2. RabbitMQ -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RabbitView:
    in_cluster: bool
    queues: tuple[str, ...]  # the quorum queues that still list the node


def _json(result: CommandResult, what: str) -> Any:
    value, error = rabbitmq.read_json(result)
    if error.startswith("exit "):
        raise PhaseError(f"{what} failed ({error})", "check RabbitMQ runs in the rabbitmq-stats container")
    if error:
        raise PhaseError(f"{what} did not print JSON: {error[len('no JSON: '):]}", "check the RabbitMQ version (--formatter json)")
    return value


def rabbit_view(rabbit: Rabbit, name: str) -> RabbitView:
    known, _ = rabbitmq.cluster_nodes(_json(rabbit(list(rabbitmq.CLUSTER_STATUS)), "rabbitmqctl cluster_status"))
    in_cluster = name in known
    queues = []
    for queue in QUEUES:
        members = _json(rabbit(["rabbitmq-queues", "quorum_status", queue, "--formatter", "json"]), f"quorum_status {queue}")
        if any(isinstance(m, dict) and m.get("Node Name") == name for m in members):
            queues.append(queue)
    return RabbitView(in_cluster, tuple(queues))


def forget(ctx: Ctx, rabbit: Rabbit, name: str) -> RabbitView:
    """delete_member for each queue still listing the node, forget_cluster_node; what was found before."""
    before = rabbit_view(rabbit, name)
    for queue in before.queues:
        result = rabbit(["rabbitmq-queues", "delete_member", queue, name])
        if not result.ok:
            ctx.log.warn(f"delete_member {queue} {name}: exit {result.rc}: {result.tail(1)}")
    if before.in_cluster:
        result = rabbit(["rabbitmqctl", "forget_cluster_node", name])
        if not result.ok:
            ctx.log.warn(f"forget_cluster_node {name}: exit {result.rc}: {result.tail(1)}")
    if before.in_cluster or before.queues:
        after = rabbit_view(rabbit, name)
        if after.in_cluster or after.queues:
            left = [*(["the cluster"] if after.in_cluster else []), *after.queues]
            raise PhaseError(f"RabbitMQ still lists {name} in {', '.join(left)}",
                             f"read {ctx.log.path}; RabbitMQ forgets only a stopped node: is CE running on it again?")
    return before


# ---- 3. the CE primary flag --------------------------------------------------------------------


def set_key(path: str, key: str, value: str) -> bool:
    """Rewrite ``key=...`` lines of a dotenv file keeping their quoting; False when it has no such key."""
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines(keepends=True)
    except FileNotFoundError:
        return False
    changed = False
    for index, line in enumerate(lines):
        name, sep, old = line.partition("=")
        if sep and name.strip() == key:
            stripped = old.strip()
            quote = stripped[0] if stripped[:1] in ("'", '"') else ""
            lines[index] = f"{name}={quote}{value}{quote}\n"
            changed = True
    if changed:
        write_atomic(path, "".join(lines), os.stat(path).st_mode & 0o777)
    return changed


def move_flag(ctx: Ctx, flag: str | None, address: str, to: str) -> str:
    """When the flag names the dead node: moved to ``to``; what was done ("" when nothing)."""
    if flag != address:
        return ""
    cfg = ctx.cfg
    shared = roles.shared_env_path(cfg)
    if not set_key(shared, roles.FLAG, to):
        raise PhaseError(f"{roles.FLAG} is not in {shared}", f"check {cfg.shared_dir} is mounted here")
    local = os.path.join(cfg.ce_dir, ".env")
    also = " and this node's .env" if set_key(local, roles.FLAG, to) else ""
    return f"{roles.FLAG} moved from {address} to {to} in the shared .env{also}"


# ---- the phase ---------------------------------------------------------------------------------


def run(ctx: Ctx, address: str, ask: roles.Ask | None = None, rabbit: Rabbit | None = None, if_dead: bool = False) -> PhaseResult:
    """``if_dead``: a node that answers as a healthy member is not dead: ``unchanged``, not refused."""
    cfg = ctx.cfg
    found = roles.discover(cfg, ask or hello)
    ctx.log.info(f"before: {found.describe()}")
    if if_dead and address in cfg.cluster_ips and address != cfg.node_ip and found.is_healthy(address):
        return PhaseResult("unchanged", f"{address} answers as a healthy replica-set member: not dead, nothing to evict [{found.describe()}]")
    if not check_target(ctx, found, address):
        return PhaseResult("unchanged", f"no replica set runs on any node (first deployment?): nothing to evict [{found.describe()}]")
    primary = found.mongo_primary
    assert primary is not None  # check_target refuses otherwise
    done: list[str] = []
    parts = 4 if ctx.line.gluster is not None else 3
    ctx.progress(f"removing {address}:{MONGO_PORT} from the replica set on the PRIMARY {primary}", 1, parts)
    version = remove_member(ctx, primary, address)
    if version is not None:
        done.append(f"removed {address}:{MONGO_PORT} from the replica set (config version {version})")
    ctx.progress(f"removing {rabbit_node(address)} from RabbitMQ", 2, parts)
    before = forget(ctx, rabbit or container_rabbit(ctx), rabbit_node(address))
    if before.queues:
        done.append(f"deleted {rabbit_node(address)} from {', '.join(before.queues)}")
    if before.in_cluster:
        done.append(f"forgot {rabbit_node(address)}")
    ctx.progress(f"checking {roles.FLAG}", 3, parts)
    moved = move_flag(ctx, found.flag, address, primary)
    if moved:
        done.append(moved)
    if ctx.line.gluster is not None:
        ctx.progress(f"repairing {address}'s place in GlusterFS", 4, parts)
        repaired = brick_repair.repair(ctx, address)
        if repaired:
            done.append("GlusterFS: " + ", ".join(repaired))
    for line in done:
        ctx.log.info(line)
    if not done:
        return PhaseResult("unchanged", f"nothing to evict: {address} is in neither the replica set nor RabbitMQ "
                                        f"{'nor due in GlusterFS ' if parts == 4 else ''}and {roles.FLAG}={found.flag} [{found.describe()}]")
    return PhaseResult("changed", f"evicted {address}: " + "; ".join(done))
