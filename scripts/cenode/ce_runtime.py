"""Asking the CE that runs on a node: its mongod's ``hello`` and the container engine's list of CE's containers.

Owns: MongoDB's ``hello`` on one mongod (direct connection, no authentication, docs/ce-facts.md §6.3)
and which of the engine's containers are CE's (compose's project name of the CE folder,
docs/ce-facts.md §6.1). Shared by the start/stop phases and ``evict``.

Must not touch: anything; it only asks. ``pymongo`` (CE's pin, installed by prepare) is imported
only in :func:`hello`.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Callable
from typing import Any, Dict, Optional  # noqa: UP035 - python 3.8 nodes
from typing import Callable as RunTimeCallable

from .nodeconfig import NodeConfig
from .system import Ctx, PhaseError

MONGO_PORT = 27017
LOOPBACK = "127.0.0.1"
#: asks one node's mongod ``hello`` (None when nothing answers)
Ask = RunTimeCallable[[str], Optional[Dict[str, Any]]]  # noqa: UP006, UP045 - evaluated at run time on python 3.8


def hello(host: str, port: int = MONGO_PORT, timeout_ms: int = 3000) -> dict[str, Any] | None:
    """MongoDB's ``hello`` on one mongod (direct connection, no auth); None when it does not answer.

    Asked at the node's own IP: CE publishes 27017 on all interfaces, and the member names in the
    replica set are ``<node_ip>:27017``.
    """
    try:
        import pymongo
        from pymongo.errors import OperationFailure, PyMongoError
    except ImportError:
        raise PhaseError("python3 has no pymongo (CE's pin)", "run the prepare phase first") from None
    if _refused(host, port, timeout_ms / 1000):  # nothing listens: say so now, not after the selection timeout
        return None

    client: Any = pymongo.MongoClient(
        host, port, directConnection=True, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms, socketTimeoutMS=timeout_ms
    )
    try:
        try:
            return dict(client.admin.command("hello"))
        except OperationFailure:  # mongod older than 4.4.2
            return dict(client.admin.command("isMaster"))
    except PyMongoError:
        return None
    finally:
        client.close()


def _refused(host: str, port: int, timeout_s: float) -> bool:
    """True only when the port actively refuses (no mongod there); anything else is left to pymongo."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False


def compose_project(ce_dir: str) -> str:
    """Compose's project name for a folder: lower case, only ``[a-z0-9_-]``."""
    return re.sub(r"[^a-z0-9_-]", "", os.path.basename(os.path.normpath(ce_dir)).lower())


def ce_containers(names: list[str], ce_dir: str) -> list[str]:
    project = compose_project(ce_dir)
    return sorted(n for n in names if n.startswith((f"{project}_", f"{project}-")))


def running_containers(ctx: Ctx, ce_dir: str, every: bool = False) -> list[str]:
    """CE's containers that run (``every``: that exist, running or not) by the engine's ``ps``."""
    engine = "docker" if ctx.runner.which("docker") else "podman" if ctx.runner.which("podman") else ""
    if not engine:
        return []
    result = ctx.runner.run([engine, "ps", *(["-a"] if every else []), "--format", "{{.Names}}"], timeout=60)
    if not result.ok:
        ctx.log.warn(f"{engine} ps failed: {result.tail()}")
        return []
    return ce_containers(result.out.split(), ce_dir)


def describe(doc: dict[str, Any] | None) -> str:
    if doc is None:
        return "MongoDB not answering on 27017"
    if not doc.get("setName"):
        return "mongod answers but is not in a replica set"
    state = "PRIMARY" if doc.get("isWritablePrimary") or doc.get("ismaster") else "SECONDARY" if doc.get("secondary") else "not ready"
    return f"{state} of {doc.get('setName')} (me={doc.get('me')}, primary={doc.get('primary')}, hosts={','.join(doc.get('hosts', []))})"


def local_hello(node_ip: str, timeout_ms: int = 2000) -> dict[str, Any] | None:
    """``hello`` at the node's IP, else on loopback: a standalone CE's mongod may listen only there."""
    return hello(node_ip, timeout_ms=timeout_ms) or hello(LOOPBACK, timeout_ms=timeout_ms)


def running(ctx: Ctx, probe: Callable[[], dict[str, Any] | None]) -> list[str]:
    """What of CE runs here: its containers, and its mongod if it answers on this node."""
    found = running_containers(ctx, ctx.cfg.ce_dir)
    try:
        doc = probe()
    except PhaseError as exc:  # no pymongo yet: the containers alone decide
        ctx.log.warn(f"cannot ask MongoDB: {exc.what}")
        doc = None
    if doc is not None:
        found.append(f"mongod ({describe(doc)})")
    return found


def members_elsewhere(cfg: NodeConfig, ask: Ask) -> list[str]:
    """The other nodes of ``cluster_ips`` whose mongod answers as a replica-set member (``ip (state)`` each)."""
    found = []
    for ip in cfg.cluster_ips:
        if ip == cfg.node_ip:
            continue
        doc = ask(ip)
        if doc and doc.get("setName"):
            found.append(f"{ip} ({describe(doc)})")
    return found
