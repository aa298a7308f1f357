"""Cluster health check: is the CE replica set whole, which node is primary, does the UI answer.

Owns: asking each node's MongoDB ``hello`` (no authentication, docs/ce-facts.md §6.3) and, when a root-only
credentials file is readable, ``replSetGetStatus`` as user ``root`` (authSource ``admin``);
probing each node's UI over HTTP(S); reading CE's own idea of the primary
(``HA_PRIMARY_NODE_IP`` in the shared config ``.env``, docs/ce-facts.md §2.1/§2.2/§6.3); turning all of that
into a report (:class:`ClusterHealth`), a short table or JSON, and an exit code (0 = healthy).
With ``--url`` it also asks the UI through the load balancer (or its DNS name) and reports whether
it answers, next to each node. Run that from outside the nodes: a Network Load Balancer keeps the
client's address, so a node's own probe can be sent back to that node and time out (the hairpin).
It is the ``verify`` phase of ``pulumi up`` (run on a node) and the operators' ``ce-health``.
On a node (node.json, no ``--nodes``) it also judges CE's RabbitMQ cluster (``cenode.broker_health``: every node a
running member) and, on 6.x, CE's GlusterFS volume (``cenode.storage_health``: one brick per node, every peer
Connected, nothing to heal); ``--wait`` waits for those too.

Must not touch: anything it looks at. It never writes to MongoDB or to any file, never runs a CE
script, never prints a secret (the password is only ever a pymongo argument, and every error text
is scrubbed of it), and reads nothing from the shared ``.env`` except ``HA_PRIMARY_NODE_IP``.
Runs on a node with python3 + pymongo only (the prepare phase installs CE's pin, pymongo
4.6.3-4.7.3; nothing newer than pymongo 4.6 is used here). Every network step is bounded by the
timeout and nodes are checked concurrently, so a dead node never hangs the check: the whole check
returns within about ``timeout`` + 1 s.
"""

from __future__ import annotations

import argparse
import functools
import http.client
import json
import os
import socket
import ssl
import sys
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any, TypeVar

import pymongo
from pymongo.errors import ExecutionTimeout, NetworkTimeout, OperationFailure, PyMongoError, ServerSelectionTimeoutError

if TYPE_CHECKING:
    from typing_extensions import TypeAlias  # typing.TypeAlias is 3.10+; only the type checker imports this

from . import broker_health, lines, nodeconfig, storage_health, system
from .redaction import Redactor

DEFAULT_MONGO_PORT = 27017
DEFAULT_UI_PORT = 443
DEFAULT_TIMEOUT_S = 5.0
#: node.json ``timeouts`` key overriding DEFAULT_TIMEOUT_S (seconds per node, nodes asked at once).
TIMEOUT_KEY = "health"
#: node.json ``timeouts`` key (default in ``system.DEFAULT_TIMEOUTS``) bounding ``--wait`` given without a number
WAIT_KEY = "healthy"
#: ``--wait`` without a number (argparse's const): take the bound from node.json
WAIT_FROM_NODE = -1.0
#: seconds between two checks while ``--wait`` waits for a healthy cluster
RECHECK_S = 5.0
#: Slack on top of ``timeout`` before a node still being asked is reported as not answering.
DEADLINE_GRACE_S = 1.0
#: longest error text kept per node and check (cut after redaction)
ERROR_TEXT_LIMIT = 200
#: a note is "<address>: replSetGetStatus: <error text>"
NOTE_TEXT_LIMIT = ERROR_TEXT_LIMIT + 100
MONGO_USER = "root"  # docs/ce-facts.md §6.3
MONGO_AUTH_SOURCE = "admin"
CE_PRIMARY_KEY = "HA_PRIMARY_NODE_IP"
#: 6.x keeps the shared config on the Gluster mount (docs/ce-facts.md §2.2); 5.x under ``<shared_dir>`` (docs/ce-facts.md §2.1).
SHARED_ENV_6X = f"{lines.CE6_GLUSTER.config_dir}/.env"
DEFAULT_CREDENTIALS = os.path.join(nodeconfig.CONFIG_DIR, nodeconfig.SECRETS_FILE)

# MongoDB states as this check names them; the first two are the only healthy ones.
PRIMARY = "PRIMARY"
SECONDARY = "SECONDARY"
ARBITER = "ARBITER"
OTHER = "OTHER"  # in the set, but recovering/starting/...
NOT_IN_SET = "NOT_IN_SET"  # mongod runs with --replSet but has no config (never added, or removed)
STANDALONE = "STANDALONE"
UNREACHABLE = "UNREACHABLE"
TIMEOUT = "TIMEOUT"
ERROR = "ERROR"
_HEALTHY_STATES = (PRIMARY, SECONDARY)

T = TypeVar("T")


# --------------------------------------------------------------------------------------------
# What to check


@dataclass(frozen=True)
class NodeAddress:
    """One node: its IP (or name), its MongoDB port and its UI port."""

    host: str
    mongo_port: int = DEFAULT_MONGO_PORT
    ui_port: int = DEFAULT_UI_PORT

    @property
    def mongo_address(self) -> str:
        """The name the replica set gives this member (CE uses ``<ip>:27017``, docs/ce-facts.md §6.1)."""
        return f"{_bracket(self.host)}:{self.mongo_port}"


def parse_nodes(spec: str | Sequence[str], ui_port: int = DEFAULT_UI_PORT) -> list[NodeAddress]:
    """``"10.0.1.10,10.0.2.10:27018"`` (or a list of such items) -> nodes; ValueError if malformed."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    nodes: list[NodeAddress] = []
    for raw in items:
        item = raw.strip()
        if not item:
            raise ValueError(f"empty node in {spec!r}")
        host, port = _split_host_port(item)
        nodes.append(NodeAddress(host=host, mongo_port=port, ui_port=ui_port))
    if not nodes:
        raise ValueError("no nodes given")
    seen = Counter(node.mongo_address for node in nodes)
    duplicates = sorted(address for address, count in seen.items() if count > 1)
    if duplicates:
        raise ValueError(f"node given twice: {', '.join(duplicates)}")
    _check_port(ui_port, "UI port")
    return nodes


def _split_host_port(item: str) -> tuple[str, int]:
    if item.startswith("["):  # [v6]:port
        host, _, rest = item[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
        if rest and not rest.startswith(":"):
            raise ValueError(f"bad node {item!r}: expected [address]:port")
    elif item.count(":") == 1:
        host, _, port_text = item.partition(":")
    else:  # plain IPv4/name, or a bare IPv6 address
        host, port_text = item, ""
    if not host:
        raise ValueError(f"bad node {item!r}: no address")
    if not port_text:
        return host, DEFAULT_MONGO_PORT
    if not port_text.isdigit():
        raise ValueError(f"bad node {item!r}: port {port_text!r} is not a number")
    return host, _check_port(int(port_text), f"port of {item!r}")


def _check_port(port: int, what: str) -> int:
    if not 0 < port < 65536:
        raise ValueError(f"{what} {port} is outside 1-65535")
    return port


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


# --------------------------------------------------------------------------------------------
# The report


@dataclass(frozen=True)
class Member:
    """One replica-set member as the set sees it."""

    name: str  # "10.0.1.10:27017"
    state: str  # replSetGetStatus stateStr, or "?" when only hello's member list is known
    healthy: bool | None  # replSetGetStatus health; None when unknown
    configured: bool  # one of the nodes this check was given


@dataclass(frozen=True)
class NodeReport:
    """What one node answered."""

    node: str  # the node's MongoDB address, e.g. "10.0.1.10:27017"
    host: str
    mongo_state: str  # PRIMARY, SECONDARY, ..., UNREACHABLE, TIMEOUT
    member: bool | None  # in the replica set's configuration; None = nobody could say
    set_name: str | None
    sees_primary: str | None  # whom this node names primary (hello "primary")
    mongo_error: str
    ui_url: str
    ui_ok: bool
    ui_status: int | None
    ui_error: str


@dataclass(frozen=True)
class LoadBalancerReport:
    """What the UI answered through the load balancer (``--url``)."""

    url: str
    ok: bool
    status: int | None
    error: str


@dataclass(frozen=True)
class ClusterHealth:
    """The answer: healthy means ``problems`` is empty."""

    set_name: str | None
    primary: str | None  # MongoDB address of the one PRIMARY; None unless exactly one
    ce_primary: str | None  # HA_PRIMARY_NODE_IP from the shared .env, when readable
    nodes: tuple[NodeReport, ...]
    members: tuple[Member, ...]
    members_source: str  # "replSetGetStatus", "hello" or "none"
    problems: tuple[str, ...]
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    timeout_s: float = DEFAULT_TIMEOUT_S
    elapsed_s: float = 0.0
    load_balancer: LoadBalancerReport | None = None
    checks: int = 1  # how many times the cluster was asked (``--wait`` re-checks until healthy)
    waited_s: float = 0.0  # from the first check to the last

    @property
    def healthy(self) -> bool:
        return not self.problems

    @property
    def primary_ip(self) -> str | None:
        """The verified primary's host (what the stack exports), or None."""
        for node in self.nodes:
            if node.node == self.primary:
                return node.host
        return None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["healthy"] = self.healthy
        data["primary_ip"] = self.primary_ip
        return data


# --------------------------------------------------------------------------------------------
# Inputs read from files on a node


class Credentials:
    """The Mongo root password; its repr never shows it."""

    def __init__(self, password: str) -> None:
        self.password = password

    def __repr__(self) -> str:
        return "Credentials(***)"


def read_credentials(path: str) -> Credentials | None:
    """The maintenance password of a secrets file (``nodeconfig.NodeSecrets``); None when it has none.

    Raises OSError when the file cannot be read (missing, or not root), ValueError/TypeError when
    it is not a secrets file; no message contains the file's content.
    """
    password = nodeconfig.read_secrets(path).maintenance_password
    return Credentials(password) if password else None


def read_ce_primary(path: str) -> str | None:
    """``HA_PRIMARY_NODE_IP`` from a CE ``.env`` (None if absent); nothing else is kept."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            text = line.strip()
            if text.startswith("export "):
                text = text[len("export ") :].lstrip()
            key, sep, value = text.partition("=")
            if sep and key.strip() == CE_PRIMARY_KEY:
                value = value.strip()
                if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                    value = value[1:-1]
                return value or None
    return None


def default_shared_env_paths(config_dir: str = nodeconfig.CONFIG_DIR) -> list[str]:
    """Where the shared ``.env`` is on this node: ``<shared_dir>/config/.env`` per node.json, then 6.x."""
    paths: list[str] = []
    try:
        node = nodeconfig.load_node(config_dir)
    except (OSError, ValueError, TypeError):
        node = None
    if node is not None and node.shared_dir:
        paths.append(os.path.join(node.shared_dir, "config", ".env"))
    if SHARED_ENV_6X not in paths:
        paths.append(SHARED_ENV_6X)
    return paths


# --------------------------------------------------------------------------------------------
# Asking one node


@dataclass(frozen=True)
class _MongoAnswer:
    state: str
    error: str = ""
    set_name: str | None = None
    me: str | None = None
    sees_primary: str | None = None
    config_hosts: tuple[str, ...] = ()
    status_members: tuple[tuple[str, str, bool], ...] | None = None  # (name, stateStr, health)
    status_problem: str = ""  # replSetGetStatus failed in a way the operator must fix
    status_note: str = ""  # replSetGetStatus unavailable for a reason reported elsewhere


@dataclass(frozen=True)
class _UiAnswer:
    url: str
    ok: bool
    status: int | None = None
    error: str = ""


def _state_from_hello(doc: dict[str, Any]) -> str:
    in_set = bool(doc.get("setName"))
    if doc.get("isWritablePrimary") or doc.get("ismaster"):
        return PRIMARY if in_set else STANDALONE
    if not in_set:
        return NOT_IN_SET if doc.get("isreplicaset") else STANDALONE
    if doc.get("secondary"):
        return SECONDARY
    if doc.get("arbiterOnly"):
        return ARBITER
    return OTHER


def _short_pymongo_error(exc: BaseException) -> str:
    """pymongo's message without its timeout details; not cut here: it is cut after redaction."""
    text = str(exc).split(", Timeout:", 1)[0]
    text = text.split(" (configured timeouts:", 1)[0]
    return text.strip() or type(exc).__name__


def _is_timeout(exc: BaseException) -> bool:
    """A node that never answered, as opposed to one that answered with an error."""
    if isinstance(exc, NetworkTimeout):
        return True
    text = str(exc).lower()
    return isinstance(exc, ServerSelectionTimeoutError) and ("no servers found yet" in text or "timed out" in text)


def _client(node: NodeAddress, budget_s: float, credentials: Credentials | None) -> pymongo.MongoClient[dict[str, Any]]:
    timeout_ms = max(1, int(budget_s * 1000))
    auth: dict[str, Any] = {}
    if credentials is not None:
        auth = {
            "username": MONGO_USER,
            "password": credentials.password,
            "authSource": MONGO_AUTH_SOURCE,
        }
    return pymongo.MongoClient(
        node.host,
        node.mongo_port,
        directConnection=True,
        connect=False,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        socketTimeoutMS=timeout_ms,
        retryReads=False,
        retryWrites=False,
        appname="ce-health",
        **auth,
    )


def _ask_mongo(node: NodeAddress, timeout_s: float, credentials: Credentials | None = None) -> _MongoAnswer:
    """``hello`` (and ``replSetGetStatus`` with credentials) on one node, within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    try:  # a plain TCP probe first: refused and unroutable are told apart at once
        socket.create_connection((node.host, node.mongo_port), timeout=timeout_s).close()
    except ConnectionRefusedError:
        return _MongoAnswer(UNREACHABLE, "connection refused")
    except TimeoutError:  # socket.timeout is TimeoutError since 3.10
        return _MongoAnswer(TIMEOUT, f"TCP connect timed out after {timeout_s:g}s")
    except OSError as exc:
        return _MongoAnswer(UNREACHABLE, exc.strerror or type(exc).__name__)

    client = _client(node, timeout_s, None)
    try:
        with pymongo.timeout(max(0.001, deadline - time.monotonic())):
            try:
                doc = client.admin.command("hello")
            except OperationFailure as exc:
                if exc.code != 59:  # CommandNotFound: a server older than 4.4.2
                    raise
                doc = client.admin.command("isMaster")
    except ExecutionTimeout:
        return _MongoAnswer(TIMEOUT, f"hello did not complete within {timeout_s:g}s")
    except OperationFailure as exc:
        return _MongoAnswer(ERROR, f"hello failed with code {exc.code}")
    except PyMongoError as exc:
        if _is_timeout(exc):
            return _MongoAnswer(TIMEOUT, f"accepts TCP but did not answer hello within {timeout_s:g}s")
        return _MongoAnswer(UNREACHABLE, _short_pymongo_error(exc))
    finally:
        client.close()

    hosts = tuple(str(host) for key in ("hosts", "passives", "arbiters") for host in (doc.get(key) or ()))
    answer = _MongoAnswer(
        state=_state_from_hello(doc),
        set_name=doc.get("setName") or None,
        me=doc.get("me") or None,
        sees_primary=doc.get("primary") or None,
        config_hosts=hosts,
    )
    if credentials is None:
        return answer
    return replace(answer, **_replset_status(node, deadline, credentials))


#: replSetGetStatus failures that mean the credentials are wrong (a problem to fix).
_CREDENTIAL_ERRORS = {
    18: f"authentication as {MONGO_USER} failed (wrong maintenance password?)",
    13: f"{MONGO_USER} is not authorized to run replSetGetStatus",
}
_STATUS_ERRORS = {
    94: "replica set not initialized on this node",
    76: "mongod runs without --replSet",
}


def _replset_status(node: NodeAddress, deadline: float, credentials: Credentials) -> dict[str, Any]:
    """``replSetGetStatus`` as root: fields for :class:`_MongoAnswer`.

    ``status_problem`` holds a reason shared by nodes (grouped into one line later);
    ``status_note`` a node-specific remark that other checks already judge.
    """
    address = node.mongo_address
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return {"status_note": f"{address}: no time left for replSetGetStatus"}
    client = _client(node, remaining, credentials)
    try:
        with pymongo.timeout(remaining):
            status = client.admin.command("replSetGetStatus")
    except OperationFailure as exc:
        if exc.code in _CREDENTIAL_ERRORS:
            return {"status_problem": _CREDENTIAL_ERRORS[exc.code]}
        why = _STATUS_ERRORS.get(exc.code or 0, f"error code {exc.code}")
        return {"status_note": f"{address}: replSetGetStatus: {why}"}
    except PyMongoError as exc:
        why = _short_pymongo_error(exc)
        if _is_timeout(exc):
            why = f"no answer in the {remaining:.1f}s left"
        return {"status_note": f"{address}: replSetGetStatus: {why}"}
    except Exception as exc:  # noqa: BLE001 - keep hello's answer whatever the driver raises
        return {"status_note": f"{address}: replSetGetStatus: {type(exc).__name__}"}
    finally:
        client.close()
    members = tuple((str(m.get("name", "?")), str(m.get("stateStr", "?")), m.get("health", 1) == 1) for m in status.get("members") or ())
    return {"status_members": members}


def parse_url(url: str) -> tuple[str, str, int]:
    """``https://ce.example.com[:port][/]`` -> (protocol, host, port); ValueError if it is not such a URL."""
    parsed = urllib.parse.urlsplit(url.strip())
    if parsed.scheme not in ("http", "https") or not parsed.hostname or parsed.path not in ("", "/") or parsed.query:
        raise ValueError(f"--url {url!r}: give the UI's address, like https://ce.example.com or https://host:8443")
    try:
        port = parsed.port
    except ValueError:
        raise ValueError(f"--url {url!r}: the port is not a number from 1 to 65535") from None
    return parsed.scheme, parsed.hostname, port or (443 if parsed.scheme == "https" else 80)


def _ask_ui(node: NodeAddress, protocol: str, insecure: bool, timeout_s: float) -> _UiAnswer:
    """GET / on the node's UI; any answer below 500 counts as up."""
    return _get_root(protocol, node.host, node.ui_port, insecure, timeout_s)


def _ask_url(url: str, insecure: bool, timeout_s: float) -> _UiAnswer:
    """GET / on the UI's load balancer address; judged like a node's UI."""
    protocol, host, port = parse_url(url)
    return _get_root(protocol, host, port, insecure, timeout_s)


def _get_root(protocol: str, host: str, port: int, insecure: bool, timeout_s: float) -> _UiAnswer:
    url = f"{protocol}://{_bracket(host)}:{port}/"
    conn: http.client.HTTPConnection
    if protocol == "https":
        context = ssl.create_default_context()
        if insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection(host, port, timeout=timeout_s, context=context)
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout_s)
    try:
        conn.request("GET", "/", headers={"User-Agent": "ce-health"})
        status = conn.getresponse().status
    except ssl.SSLCertVerificationError as exc:
        why = exc.verify_message or "verification failed"
        return _UiAnswer(
            url,
            False,
            error=f"certificate not trusted ({why}); --insecure-ui accepts it",
        )
    except ConnectionRefusedError:
        return _UiAnswer(url, False, error="connection refused")
    except TimeoutError:
        return _UiAnswer(url, False, error=f"no answer within {timeout_s:g}s")
    except (OSError, http.client.HTTPException) as exc:
        return _UiAnswer(url, False, error=str(exc) or type(exc).__name__)
    finally:
        conn.close()
    if status >= 500:
        return _UiAnswer(url, False, status, f"HTTP {status}")
    return _UiAnswer(url, True, status)


# --------------------------------------------------------------------------------------------
# Asking every node at once


def _run_bounded(tasks: Sequence[Callable[[], T]], deadline: float) -> list[T | BaseException | None]:
    """Run tasks in daemon threads; whatever is unfinished at ``deadline`` stays None."""
    results: list[T | BaseException | None] = [None] * len(tasks)

    def run(index: int, task: Callable[[], T]) -> None:
        try:
            results[index] = task()
        except BaseException as exc:  # noqa: BLE001 - a node's odd answer must not end the check
            results[index] = exc

    threads = [threading.Thread(target=run, args=(index, task), name=f"ce-health-{index}", daemon=True) for index, task in enumerate(tasks)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return list(results)


def check_cluster(
    nodes: Sequence[NodeAddress],
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    ui_protocol: str = "https",
    insecure_ui: bool = False,
    credentials: Credentials | None = None,
    ce_primary: str | None = None,
    notes: Sequence[str] = (),
    problems: Sequence[str] = (),
    url: str | None = None,
) -> ClusterHealth:
    """Ask every node (concurrently, bounded by ``timeout_s``) and judge the answers.

    ``ce_primary`` is CE's HA_PRIMARY_NODE_IP when the caller could read it; ``notes`` and
    ``problems`` carry what the caller found while gathering inputs. ``url`` is the UI's load
    balancer address (``--url``), asked at the same time as the nodes.
    """
    if timeout_s <= 0:
        raise ValueError("timeout must be positive")
    if ui_protocol not in ("http", "https"):
        raise ValueError(f"UI protocol must be http or https, not {ui_protocol!r}")
    start = time.monotonic()
    tasks: list[Callable[[], _MongoAnswer | _UiAnswer]] = []
    for node in nodes:
        tasks.append(functools.partial(_ask_mongo, node, timeout_s, credentials))
        tasks.append(functools.partial(_ask_ui, node, ui_protocol, insecure_ui, timeout_s))
    if url is not None:
        parse_url(url)  # a bad URL is the caller's mistake, raised here rather than reported as a down UI
        tasks.append(functools.partial(_ask_url, url, insecure_ui, timeout_s))
    results = _run_bounded(tasks, start + timeout_s + DEADLINE_GRACE_S)

    redact = _redactor(credentials)
    mongo: list[_MongoAnswer] = []
    ui: list[_UiAnswer] = []
    for index, node in enumerate(nodes):
        mongo.append(_as_mongo(results[2 * index], timeout_s, redact))
        ui.append(_as_ui(results[2 * index + 1], node, ui_protocol, timeout_s, redact))
    report = _assess(nodes, mongo, ui, ce_primary=ce_primary, timeout_s=timeout_s)
    balancer: LoadBalancerReport | None = None
    balancer_problems: list[str] = []
    if url is not None:
        answer = results[2 * len(nodes)]
        if answer is None:
            answer = _UiAnswer(url, False, error=f"no answer within {timeout_s:g}s")
        elif isinstance(answer, BaseException):
            answer = _UiAnswer(url, False, error=f"check failed: {type(answer).__name__}")
        assert isinstance(answer, _UiAnswer)
        balancer = LoadBalancerReport(url, answer.ok, answer.status, redact.head(answer.error, ERROR_TEXT_LIMIT))
        if not balancer.ok:
            balancer_problems.append(f"load balancer {url} does not answer ({balancer.error})")
    return replace(
        report,
        load_balancer=balancer,
        problems=tuple(redact(p) for p in (*problems, *report.problems, *balancer_problems)),
        notes=tuple(redact(n) for n in (*notes, *report.notes)),
        elapsed_s=round(time.monotonic() - start, 3),
    )


def _redactor(credentials: Credentials | None) -> Redactor:
    return Redactor([credentials.password] if credentials is not None else [])


def _as_mongo(result: object, timeout_s: float, redact: Redactor) -> _MongoAnswer:
    """The answer with every error text redacted, then cut to ``ERROR_TEXT_LIMIT`` (in that order)."""
    if result is None:
        return _MongoAnswer(TIMEOUT, f"no answer within {timeout_s:g}s")
    if isinstance(result, BaseException):
        return _MongoAnswer(ERROR, redact.head(f"check failed: {type(result).__name__}: {result}", ERROR_TEXT_LIMIT))
    assert isinstance(result, _MongoAnswer)
    return replace(
        result,
        error=redact.head(result.error, ERROR_TEXT_LIMIT),
        status_problem=redact(result.status_problem),
        status_note=redact.head(result.status_note, NOTE_TEXT_LIMIT),
    )


def _as_ui(
    result: object,
    node: NodeAddress,
    protocol: str,
    timeout_s: float,
    redact: Redactor,
) -> _UiAnswer:
    url = f"{protocol}://{_bracket(node.host)}:{node.ui_port}/"
    if result is None:
        return _UiAnswer(url, False, error=f"no answer within {timeout_s:g}s")
    if isinstance(result, BaseException):
        return _UiAnswer(
            url,
            False,
            error=redact.head(f"check failed: {type(result).__name__}", ERROR_TEXT_LIMIT),
        )
    assert isinstance(result, _UiAnswer)
    return replace(result, error=redact.head(result.error, ERROR_TEXT_LIMIT))


# --------------------------------------------------------------------------------------------
# Judging


def _assess(
    nodes: Sequence[NodeAddress],
    mongo: Sequence[_MongoAnswer],
    ui: Sequence[_UiAnswer],
    *,
    ce_primary: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> ClusterHealth:
    """Turn per-node answers into one report; pure (no I/O)."""
    if not len(nodes) == len(mongo) == len(ui):  # what zip(strict=True) would check, on python 3.8
        raise ValueError(f"{len(nodes)} nodes but {len(mongo)} MongoDB and {len(ui)} UI answers")
    problems: list[str] = []
    warnings: list[str] = []
    notes: list[str] = []
    addresses = [node.mongo_address for node in nodes]
    configured = set(addresses)

    for address, answer in zip(addresses, mongo):
        if answer.state == TIMEOUT:
            problems.append(f"{address}: MongoDB not answering ({answer.error})")
        elif answer.state == UNREACHABLE:
            problems.append(f"{address}: MongoDB unreachable ({answer.error})")
        elif answer.state == ERROR:
            problems.append(f"{address}: MongoDB check failed ({answer.error})")

    set_names = Counter(a.set_name for a in mongo if a.set_name)
    set_name = set_names.most_common(1)[0][0] if set_names else None
    if len(set_names) > 1:
        problems.append(f"nodes report different replica-set names: {', '.join(sorted(set_names))}")

    claimants = [address for address, a in zip(addresses, mongo) if a.state == PRIMARY]
    primary = claimants[0] if len(claimants) == 1 else None
    if len(claimants) > 1:
        problems.append(f"{len(claimants)} nodes claim PRIMARY: {', '.join(claimants)}")

    status_members = _pick_status(addresses, mongo, primary)
    if status_members is not None:
        members_source = "replSetGetStatus"
        config = {name for name, _, _ in status_members}
        members = tuple(Member(name, state, health, name in configured) for name, state, health in status_members)
    else:
        primary_first = sorted(mongo, key=lambda a: a.state != PRIMARY)  # the primary's view leads
        listed = [h for a in primary_first if set_name and a.set_name == set_name for h in a.config_hosts]
        config = set(listed)
        members_source = "hello" if config else "none"
        members = tuple(Member(name, "?", None, name in configured) for name in dict.fromkeys(listed))
    for reason in dict.fromkeys(a.status_problem for a in mongo if a.status_problem):
        where = [ad for ad, a in zip(addresses, mongo) if a.status_problem == reason]
        problems.append(f"replSetGetStatus on {', '.join(where)}: {reason}")
    notes.extend(a.status_note for a in mongo if a.status_note)

    if not claimants:
        status_primary = [m.name for m in members if m.state == PRIMARY]
        extra = f" (the set names {status_primary[0]}, which is not a given node)" if status_primary else ""
        problems.append(f"no PRIMARY: no node claims to be primary{extra}")

    reports: list[NodeReport] = []
    unreachable = {address for address, a in zip(addresses, mongo) if a.state in (TIMEOUT, UNREACHABLE, ERROR)}
    for node, address, answer, ui_answer in zip(nodes, addresses, mongo, ui):
        member: bool | None
        if config:
            member = address in config or (answer.me is not None and answer.me in config)
        elif answer.state in (NOT_IN_SET, STANDALONE):
            member = False
        else:
            member = None
        if member is False:
            in_set = f" {set_name}" if set_name else ""
            problems.append(f"{address}: not a member of replica set{in_set} (MongoDB says {answer.state})")
        elif answer.state in (OTHER, ARBITER) and status_members is None:
            problems.append(f"{address}: MongoDB state {answer.state}, expected PRIMARY or SECONDARY")
        if not ui_answer.ok:
            problems.append(f"{address}: UI {ui_answer.url} down ({ui_answer.error})")
        reports.append(
            NodeReport(
                node=address,
                host=node.host,
                mongo_state=answer.state,
                member=member,
                set_name=answer.set_name,
                sees_primary=answer.sees_primary,
                mongo_error=answer.error,
                ui_url=ui_answer.url,
                ui_ok=ui_answer.ok,
                ui_status=ui_answer.status,
                ui_error=ui_answer.error,
            )
        )

    for m in members:
        if not m.configured:
            warnings.append(f"{m.name} is a replica-set member ({m.state}) but not one of the given nodes")
        elif status_members is not None and m.state not in _HEALTHY_STATES and m.name not in unreachable:
            problems.append(f"{m.name}: the replica set reports it {m.state}")

    if primary is not None:
        disagree = sorted(
            address for address, a in zip(addresses, mongo) if a.state == SECONDARY and a.sees_primary and a.sees_primary != primary
        )
        if disagree:
            warnings.append(f"{', '.join(disagree)} name another primary than {primary}")
    primary_host = next((n.host for n, a in zip(nodes, addresses) if a == primary), None)
    if ce_primary is not None:
        if ce_primary not in {node.host for node in nodes}:
            warnings.append(f"CE's {CE_PRIMARY_KEY}={ce_primary} is none of the given nodes")
        elif primary_host is not None and ce_primary != primary_host:
            warnings.append(
                f"CE's {CE_PRIMARY_KEY}={ce_primary} but the MongoDB PRIMARY is {primary_host}: "
                "after a full stop, start the node CE names first (docs/ce-facts.md §6.2)"
            )

    return ClusterHealth(
        set_name=set_name,
        primary=primary,
        ce_primary=ce_primary,
        nodes=tuple(reports),
        members=members,
        members_source=members_source,
        problems=tuple(dict.fromkeys(problems)),
        warnings=tuple(dict.fromkeys(warnings)),
        notes=tuple(dict.fromkeys(notes)),
        timeout_s=timeout_s,
    )


def _pick_status(addresses: Sequence[str], mongo: Sequence[_MongoAnswer], primary: str | None) -> tuple[tuple[str, str, bool], ...] | None:
    """The primary's replSetGetStatus if it has one, else the first node's that does."""
    by_address = dict(zip(addresses, mongo))
    if primary is not None and by_address[primary].status_members is not None:
        return by_address[primary].status_members
    return next((a.status_members for a in mongo if a.status_members is not None), None)


# --------------------------------------------------------------------------------------------
# Output


def render_table(report: ClusterHealth) -> str:
    """The short human view (problems are printed separately, one per line)."""
    ce_primary = f"{report.ce_primary} ({CE_PRIMARY_KEY})" if report.ce_primary else "unknown"
    lines = [
        f"replica set  {report.set_name or '-'}",
        f"primary      {report.primary or 'NONE'} (MongoDB)",
        f"CE primary   {ce_primary}",
    ]
    rows = [("NODE", "MONGODB", "MEMBER", "UI")]
    for node in report.nodes:
        member = {True: "yes", False: "NO", None: "?"}[node.member]
        ui_text = f"up ({node.ui_status})" if node.ui_ok else "DOWN" + (f" ({node.ui_status})" if node.ui_status else "")
        rows.append((node.node, node.mongo_state, member, ui_text))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths)) + "  " + row[3])
    if report.load_balancer is not None:
        balancer = report.load_balancer
        state = f"up ({balancer.status})" if balancer.ok else "DOWN" + (f" ({balancer.status})" if balancer.status else "")
        lines.append(f"load balancer  {balancer.url}  {state}")
    if report.members:
        listed = ", ".join(m.name if m.state == "?" else f"{m.name} {m.state}" for m in report.members)
        lines.append(f"members ({report.members_source}): {listed}")
    lines.extend(f"warning: {text}" for text in report.warnings)
    lines.extend(f"note: {text}" for text in report.notes)
    verdict = "HEALTHY" if report.healthy else f"UNHEALTHY: {len(report.problems)} problem(s)"
    lines.append(f"{verdict} ({len(report.nodes)} nodes, {report.elapsed_s:.1f}s)")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Command line


def wait_until_healthy(
    check: Callable[[], ClusterHealth],
    wait_s: float,
    *,
    recheck_s: float = RECHECK_S,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> ClusterHealth:
    """Check until healthy or until ``wait_s`` has passed since the first check (bounded: at most
    ``wait_s`` plus one check's own bound); the last report says how many checks it took."""
    first = clock()
    checks = 0
    while True:
        report = check()
        checks += 1
        waited = clock() - first
        if report.healthy or waited >= wait_s:
            break
        sleep(min(recheck_s, wait_s - waited))
    if report.healthy:
        note = f"healthy after {checks} check(s) in {waited:.0f} s" if checks > 1 else "healthy at the first check"
    else:
        note = f"still unhealthy after {checks} check(s) over {waited:.0f} s (--wait {wait_s:g})"
    return replace(report, notes=(*report.notes, note), checks=checks, waited_s=round(waited, 3))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ce-health",
        description="Check a Cloud Exchange HA cluster: MongoDB replica set, primary, UI on each node. "
        "Exit 0 only when healthy; otherwise one 'problem:' line per problem on stderr.",
    )
    parser.add_argument(
        "--nodes",
        help="comma-separated ip[:mongo_port] (default port 27017); default: cluster_ips of "
        f"{os.path.join(nodeconfig.CONFIG_DIR, nodeconfig.NODE_FILE)} when run on a node",
    )
    parser.add_argument(
        "--ui-port",
        type=int,
        help="UI port on every node (default: node.json's, else 443)",
    )
    parser.add_argument(
        "--ui-protocol",
        choices=("https", "http"),
        help="default: node.json's, else https",
    )
    parser.add_argument(
        "--insecure-ui",
        action="store_true",
        help="accept the UI's self-signed certificate",
    )
    parser.add_argument(
        "--url",
        help="the UI through its load balancer, e.g. https://ce.example.com (the stack's uiUrl): reported next to "
        "each node; run it from outside the nodes (a node's own probe may be balanced back to itself and time out)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as one line of JSON")
    parser.add_argument(
        "--wait",
        nargs="?",
        type=float,
        const=WAIT_FROM_NODE,
        default=None,
        metavar="SECONDS",
        help=f"re-check every {RECHECK_S:g} s until healthy, for at most SECONDS (without a number: node.json "
        f"timeouts.{WAIT_KEY}, else {system.DEFAULT_TIMEOUTS[WAIT_KEY]}); the report says how many checks it took",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        help=f"seconds per node, all nodes at once (default: node.json timeouts.{TIMEOUT_KEY}, else {DEFAULT_TIMEOUT_S:g})",
    )
    parser.add_argument(
        "--shared-env",
        help="CE's shared config .env (default: <shared_dir>/config/.env, then " + SHARED_ENV_6X + ")",
    )
    parser.add_argument(
        "--credentials",
        help=f"root-only JSON with maintenance_password, for replSetGetStatus (default {DEFAULT_CREDENTIALS})",
    )
    parser.add_argument("--config-dir", default=nodeconfig.CONFIG_DIR, help=argparse.SUPPRESS)
    parser.add_argument("--log-dir", default=nodeconfig.LOG_DIR, help=argparse.SUPPRESS)  # the node checks' command logs
    return parser


def _gather_inputs(
    args: argparse.Namespace,
) -> tuple[list[NodeAddress], float, str, Credentials | None, str | None, list[str], list[str]]:
    notes: list[str] = []
    problems: list[str] = []
    node_cfg: nodeconfig.NodeConfig | None
    try:
        node_cfg = nodeconfig.load_node(args.config_dir)
    except (OSError, ValueError, TypeError):
        node_cfg = None

    ui_port = args.ui_port if args.ui_port is not None else (node_cfg.ui_port if node_cfg else DEFAULT_UI_PORT)
    ui_protocol = args.ui_protocol or (node_cfg.ui_protocol if node_cfg else "https")
    if args.nodes:
        nodes = parse_nodes(args.nodes, ui_port)
    elif node_cfg is not None:
        nodes = parse_nodes(node_cfg.cluster_ips, ui_port)
    else:
        raise ValueError("give --nodes (no node.json here to take the cluster's IPs from)")
    timeout = args.timeout
    if timeout is None:
        timeout = float((node_cfg.timeouts.get(TIMEOUT_KEY) if node_cfg else None) or DEFAULT_TIMEOUT_S)
    if timeout <= 0:
        raise ValueError("--timeout must be positive")
    if args.wait == WAIT_FROM_NODE:
        args.wait = float((node_cfg.timeouts.get(WAIT_KEY) if node_cfg else None) or system.DEFAULT_TIMEOUTS[WAIT_KEY])
    elif args.wait is not None and args.wait < 0:
        raise ValueError("--wait must be zero or more seconds")
    if args.url:
        parse_url(args.url)
        if node_cfg is not None:
            notes.append("--url asked from a cluster node: the load balancer keeps the client's address, so it may send this "
                         "node's probe back to this node, which cannot answer it (hairpin); a timeout here is not proof the "
                         "load balancer is down: run ce-health --url from outside the nodes")

    credentials: Credentials | None = None
    cred_path = args.credentials or os.path.join(args.config_dir, nodeconfig.SECRETS_FILE)
    try:
        credentials = read_credentials(cred_path)
        if credentials is None:
            notes.append(f"replSetGetStatus skipped: no maintenance_password in {cred_path}")
    except (OSError, ValueError, TypeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        if args.credentials:  # asked for explicitly: not being able to use it is a problem
            problems.append(f"credentials file {cred_path} unusable: {why}")
        else:
            notes.append(f"replSetGetStatus skipped: {cred_path} not readable here ({why})")

    ce_primary: str | None = None
    env_paths = [args.shared_env] if args.shared_env else default_shared_env_paths(args.config_dir)
    unread: list[str] = []
    for path in env_paths:
        try:
            ce_primary = read_ce_primary(path)
        except OSError as exc:
            unread.append(f"{path}: {exc.strerror or type(exc).__name__}")
            continue
        if ce_primary is None:
            notes.append(f"{path} has no {CE_PRIMARY_KEY}")
        break
    else:
        notes.append(f"CE's {CE_PRIMARY_KEY} unknown: shared .env not readable here ({'; '.join(unread)})")
    return nodes, timeout, ui_protocol, credentials, ce_primary, notes, problems


#: one of the checks that only run on a node (node.json): (problems, notes) each time it is asked
NodeCheck: TypeAlias = "Callable[[], tuple[list[str], list[str]]]"


def _this_node(args: argparse.Namespace) -> nodeconfig.NodeConfig | None:
    """This node's node.json for the checks that run on a node only; None with ``--nodes`` or without node.json."""
    if args.nodes:
        return None
    try:
        return nodeconfig.load_node(args.config_dir)
    except (OSError, ValueError, TypeError):
        return None


def _check_log(args: argparse.Namespace, name: str, what: str) -> system.PhaseLog | NodeCheck:
    """The log a node check's commands write to, or a check that only says why it could not run."""
    try:
        return system.PhaseLog(args.log_dir, name)
    except OSError as exc:
        why = f"{what} not checked: its log {args.log_dir} is not writable here ({exc.strerror or type(exc).__name__}); run it with sudo"
        return lambda: ([why], [])


def _broker_check(args: argparse.Namespace) -> NodeCheck | None:
    """CE's RabbitMQ cluster as this node sees it (node.json); None with ``--nodes`` or without node.json."""
    node_cfg = _this_node(args)
    if node_cfg is None:
        return None
    log = _check_log(args, "health-rabbitmq", "RabbitMQ")
    if not isinstance(log, system.PhaseLog):
        return log
    return functools.partial(broker_health.check, node_cfg, system.Runner(log))


def _storage_check(args: argparse.Namespace, gluster: lines.GlusterFacts | None) -> NodeCheck | None:
    """The shared storage's check for this node's cluster (node.json); None with ``--nodes`` or without node.json."""
    node_cfg = _this_node(args)
    if node_cfg is None:
        return None
    try:
        if lines.for_version(node_cfg.ce_version).gluster is None:
            return None
    except (ValueError, KeyError):
        return None  # an unknown version: node.json is not this tool's to judge here
    log = _check_log(args, "health-gluster", "GlusterFS")
    if not isinstance(log, system.PhaseLog):
        return log
    return functools.partial(storage_health.check, node_cfg, system.Runner(log), gluster)


def main(argv: Sequence[str] | None = None, gluster: lines.GlusterFacts | None = None) -> int:
    """CLI entry: 0 healthy, 1 unhealthy, 2 bad arguments. ``gluster``: ``ce-node``'s ``NodeEnv.gluster`` (GlusterFS paths)."""
    args = _parser().parse_args(argv)
    try:
        nodes, timeout, ui_protocol, credentials, ce_primary, notes, problems = _gather_inputs(args)
    except ValueError as exc:
        print(f"ce-health: {exc}", file=sys.stderr)
        return 2
    ask = functools.partial(check_cluster, nodes, timeout_s=timeout, ui_protocol=ui_protocol, insecure_ui=args.insecure_ui,
                            credentials=credentials, ce_primary=ce_primary, notes=notes, problems=problems, url=args.url)
    on_node = [c for c in (_storage_check(args, gluster), _broker_check(args)) if c is not None]

    def check() -> ClusterHealth:
        report = ask()
        for node_check in on_node:
            found, said = node_check()
            report = replace(report, problems=(*report.problems, *found), notes=(*report.notes, *said))
        return report

    report = check() if args.wait is None else wait_until_healthy(check, args.wait)
    redact = _redactor(credentials)
    if args.json:
        text = json.dumps(report.to_dict(), sort_keys=True)  # ONE line: the verify step parses it
    else:
        text = render_table(report)
    print(redact(text))
    for problem in report.problems:
        print(redact(f"problem: {problem}"), file=sys.stderr)
    return 0 if report.healthy else 1


if __name__ == "__main__":
    sys.exit(main())
