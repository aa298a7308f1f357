"""Who the CE primary is, found at run time: the shared ``HA_PRIMARY_NODE_IP`` and MongoDB's PRIMARY.

Owns: reading CE's primary flag from the shared ``.env`` (docs/ce-lifecycle.md §1.1), asking every
cluster node's mongod ``hello`` (no authentication, as the start phase does), reporting both, the
role a node has now, and the disagreements the facts do not cover (refused, never guessed):

* the flag decides what CE's ``./start`` does on a node: ``--initiate`` where it names the node,
  ``--join`` elsewhere (docs/ce-lifecycle.md §1.2, §7), so it is the node's role; node.json's role
  (the program's node order) only applies before the flag exists (a first deployment);
* after a failover MongoDB's PRIMARY may be another healthy member than the flag: covered (CE's own
  ``./stop`` moves the flag to whoever is PRIMARY, docs/ce-lifecycle.md §1.2; health is judged by the set, docs/ce-lifecycle.md §7);
* refused: a flag naming a node outside the cluster; two nodes answering PRIMARY; a flag naming a
  node that is not a healthy member while the set runs elsewhere (a dead CE primary: every other
  node's RabbitMQ join fails and its replacement would ``--initiate`` a second set, docs/ce-lifecycle.md §5.1: move the
  flag first, which ``evict`` does); a flag naming another node while no node runs (that node was
  stopped last and must start first, docs/ce-lifecycle.md §1.2).

Must not touch: anything; it only reads the flag and asks ``hello``. ``pymongo`` is imported only
by the default ``ask`` (phases.service.hello), so the flag alone works on a bare python3.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Callable, Dict, Optional  # noqa: UP035 - python 3.8 nodes

from .ceenv import read_dotenv
from .nodeconfig import NodeConfig
from .system import PhaseError

FLAG = "HA_PRIMARY_NODE_IP"
MONGO_PORT = 27017

#: a node's answer to ``hello`` (None: it does not answer)
Ask = Callable[[str], Optional[Dict[str, Any]]]  # noqa: UP006, UP045 - evaluated at run time on python 3.8


def shared_env_path(cfg: NodeConfig) -> str:
    """CE's shared ``.env``: ``<shared folder>/config/.env`` (5.x the NFS folder, 6.x /opt/shared/data)."""
    return os.path.join(cfg.shared_dir, "config", ".env")


def read_flag(cfg: NodeConfig) -> str | None:
    """``HA_PRIMARY_NODE_IP`` of the shared ``.env``; None before CE's first HA setup wrote it."""
    return read_dotenv(shared_env_path(cfg)).get(FLAG) or None


def runtime_role(cfg: NodeConfig, ask: Ask | None = None) -> tuple[str, str]:
    """(role, why): "primary" where the flag names this node, "secondary" where it names another.

    ``ask`` (given for a 6.x node CE's setup never ran on, e.g. a new VM): where the flag may be unreadable
    on a node that is not yet part of the cluster (6.x: the shared ``.env`` lives in the GlusterFS
    volume, mounted only by the node's own setup), no flag
    is not taken for a first deployment while other nodes answer as replica-set members and this
    one does not: it then joins as a secondary (a replaced node never initiates a second, empty
    set, docs/ce-lifecycle.md §5.1). A node that is itself a member keeps node.json's role (the phases refuse
    what an unmounted volume makes unsafe, e.g. the primary's setup).
    """
    flag = read_flag(cfg)
    if flag is None and ask is not None:
        found = discover(cfg, ask)
        running = [ip for ip in found.healthy if ip != cfg.node_ip]
        if running and not found.is_healthy(cfg.node_ip):
            return "secondary", (f"no {FLAG} readable in {shared_env_path(cfg)} here, but a replica set runs on "
                                 f"{', '.join(running)}: this node joins it as a CE secondary")
    if flag is None:
        return cfg.role, f"no {FLAG} in {shared_env_path(cfg)} yet: node.json's role {cfg.role} (first deployment)"
    if flag not in cfg.cluster_ips:
        raise PhaseError(
            f"{FLAG}={flag} in {shared_env_path(cfg)} names no node of this cluster ({', '.join(cfg.cluster_ips)})",
            f"set {FLAG} in {shared_env_path(cfg)} to the node stopped last (docs/ce-lifecycle.md §1.2)",
        )
    role = "primary" if flag == cfg.node_ip else "secondary"
    return role, f"{FLAG}={flag}: this node is the CE {role}"


def with_runtime_role(cfg: NodeConfig, ask: Ask | None = None) -> tuple[NodeConfig, str]:
    """node.json with the role the flag (or, see ``runtime_role``, the running set) gives this node, and why."""
    role, why = runtime_role(cfg, ask)
    return (cfg if role == cfg.role else replace(cfg, role=role)), why


@dataclass(frozen=True)
class View:
    """What one node's mongod says."""

    ip: str
    answers: bool
    primary: bool  # writable PRIMARY
    member: bool  # PRIMARY or SECONDARY and listed in its set's hosts
    hosts: tuple[str, ...]  # the set's members as this node sees them ("ip:27017")


def view(ip: str, doc: dict[str, Any] | None) -> View:
    if doc is None:
        return View(ip, answers=False, primary=False, member=False, hosts=())
    hosts = tuple(str(host) for host in doc.get("hosts", []) or [])
    in_set = bool(doc.get("setName")) and f"{ip}:{MONGO_PORT}" in hosts
    primary = in_set and bool(doc.get("isWritablePrimary") or doc.get("ismaster"))
    return View(ip, answers=True, primary=primary, member=in_set and (primary or bool(doc.get("secondary"))), hosts=hosts)


@dataclass(frozen=True)
class Roles:
    """The flag and every node's view, as found now."""

    flag: str | None
    views: tuple[View, ...]

    @property
    def primaries(self) -> list[str]:
        return [v.ip for v in self.views if v.primary]

    @property
    def mongo_primary(self) -> str | None:
        """The one node answering PRIMARY; None when none (or several) does."""
        found = self.primaries
        return found[0] if len(found) == 1 else None

    @property
    def healthy(self) -> list[str]:
        return [v.ip for v in self.views if v.member]

    @property
    def members(self) -> list[str]:
        """The replica set's members (IPs) as the PRIMARY (else any healthy member) lists them."""
        for v in sorted(self.views, key=lambda v: not v.primary):
            if v.member:
                return [host.rsplit(":", 1)[0] for host in v.hosts]
        return []

    def is_healthy(self, ip: str) -> bool:
        return ip in self.healthy

    def describe(self) -> str:
        return (
            f"{FLAG}={self.flag or '(none)'}, MongoDB PRIMARY={self.mongo_primary or '(none)'}, "
            f"members={','.join(self.members) or '(no replica set)'}, healthy={','.join(self.healthy) or '(none)'}"
        )

    def problems(self, cluster_ips: Sequence[str], starting: str = "") -> list[tuple[str, str]]:
        """(what, fix) for each disagreement the facts do not cover; ``starting``: the node about to start."""
        found: list[tuple[str, str]] = []
        where = "the shared .env"
        if self.flag is not None and self.flag not in cluster_ips:
            found.append((f"{FLAG}={self.flag} names no node of this cluster ({', '.join(cluster_ips)})",
                          f"set {FLAG} in {where} to a healthy member (docs/ce-lifecycle.md §1.2)"))
        if len(self.primaries) > 1:
            found.append((f"more than one node answers as MongoDB PRIMARY: {', '.join(self.primaries)}",
                          "check each node's replica set by hand (rs.status()); two sets must never be merged by a tool"))
        if self.flag is None or self.flag == starting or self.is_healthy(self.flag):
            return found
        if self.healthy:
            found.append((f"{FLAG}={self.flag} names a node that is not a healthy member while {', '.join(self.healthy)} run "
                          "(a dead CE primary: joins fail, docs/ce-lifecycle.md §5.1)",
                          f"evict it from a survivor first: ce-node evict --address {self.flag} (moves {FLAG})"))
        else:
            found.append((f"no node runs and {FLAG}={self.flag}: that node was stopped last",
                          f"start {self.flag} first (docs/ce-lifecycle.md §1.2)"))
        return found


def discover(cfg: NodeConfig, ask: Ask) -> Roles:
    """The flag and ``hello`` of every cluster node, asked at once (a dead node costs one timeout)."""
    answers: dict[str, dict[str, Any] | None] = {}

    def one(ip: str) -> None:
        answers[ip] = ask(ip)

    threads = [threading.Thread(target=one, args=(ip,), daemon=True) for ip in cfg.cluster_ips]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Roles(read_flag(cfg), tuple(view(ip, answers.get(ip)) for ip in cfg.cluster_ips))


def check(roles: Roles, cfg: NodeConfig, starting: str = "") -> None:
    """Refuse (PhaseError, the first problem) when the flag and the set disagree in a way no fact covers."""
    problems = roles.problems(cfg.cluster_ips, starting)
    if problems:
        what, fix = problems[0]
        raise PhaseError(f"{what} [{roles.describe()}]", fix)
