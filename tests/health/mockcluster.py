"""Fake CE clusters on 127.0.0.1 for the health check's tests: real wire protocol, real pymongo.

Each replica-set member is a mockupdb server on its own loopback port that answers the handshake
(``isMaster`` over OP_QUERY, then ``hello`` over OP_MSG), ``replSetGetStatus`` and a real
SCRAM-SHA-256 conversation, so pymongo's own discovery, monitoring and authentication run
unchanged. mockupdb 1.8.1 needs help with pymongo 4.20:

* its ``auto_ismaster`` answers only ``ismaster`` and with ``maxWireVersion`` 6, below pymongo
  4.20's minimum of 9: every member here answers ``ismaster``/``isMaster``/``hello`` itself with
  ``maxWireVersion`` 17 and ``helloOk``; no ``topologyVersion`` (it would switch pymongo to the
  streaming monitor, which mockupdb cannot serve);
* ``Request.fail`` sends a legacy query failure that pymongo reads as ``ok: 1`` on OP_MSG:
  errors here go through ``Request.command_err`` (``ok: 0``, ``code``, ``errmsg``);
* it knows no authentication: :class:`ScramServer` plays the server side of SCRAM-SHA-256, and a
  connection (told apart by its client port) may run ``replSetGetStatus`` only after it;
* its ``stop()`` waits up to 1 s per server for the accept loop: :class:`QuickStopMockupDB`.

Roles: ``PRIMARY``/``SECONDARY`` (members that answer), ``DOWN`` (a member whose port refuses),
``HANG`` (a member whose port accepts TCP but never answers), ``OUTSIDER`` (a node running mongod
with ``--replSet`` that was never added: it answers, but no member lists it).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.server
import os
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

from bson import Binary
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from mockupdb import MockupDB  # type: ignore[import-untyped]

from scripts.cenode.health import NodeAddress

LOOPBACK = "127.0.0.1"
SET_NAME = "mongo_replica_set"
MAX_WIRE_VERSION = 17  # MongoDB 6.0; pymongo 4.20 needs >= 9

PRIMARY, SECONDARY, DOWN, HANG, OUTSIDER = "PRIMARY", "SECONDARY", "DOWN", "HANG", "OUTSIDER"


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


class ScramServer:
    """Server side of SCRAM-SHA-256 (RFC 7677) for one user, as mongod runs it."""

    ITERATIONS = 4096

    def __init__(self, user: str, password: str) -> None:
        self.user = user
        self._salt = os.urandom(16)
        salted = hashlib.pbkdf2_hmac("sha256", password.encode(), self._salt, self.ITERATIONS)
        client_key = hmac.digest(salted, b"Client Key", "sha256")
        self._stored_key = hashlib.sha256(client_key).digest()
        self._server_key = hmac.digest(salted, b"Server Key", "sha256")
        self._conversations: dict[int, tuple[bytes, bytes]] = {}

    def start(self, payload: bytes) -> tuple[int, bytes] | None:
        """client-first -> (conversation id, server-first); None for an unknown user."""
        first_bare = payload.split(b",", 2)[2]  # drop the GS2 header "n,,"
        fields = dict(part.split(b"=", 1) for part in first_bare.split(b","))
        if fields.get(b"n", b"").decode() != self.user:
            return None
        nonce = fields[b"r"] + base64.b64encode(os.urandom(18))
        salt = base64.b64encode(self._salt)
        server_first = b"r=" + nonce + b",s=" + salt + b",i=" + str(self.ITERATIONS).encode()
        conversation = len(self._conversations) + 1
        self._conversations[conversation] = (first_bare, server_first)
        return conversation, server_first

    def finish(self, conversation: int, payload: bytes) -> bytes | None:
        """client-final -> server-final ``v=...``; None when the proof is wrong."""
        first_bare, server_first = self._conversations.pop(conversation)
        without_proof, _, proof = payload.rpartition(b",p=")
        auth_message = b",".join((first_bare, server_first, without_proof))
        signature = hmac.digest(self._stored_key, auth_message, "sha256")
        client_key = bytes(a ^ b for a, b in zip(base64.b64decode(proof), signature, strict=True))
        if not hmac.compare_digest(hashlib.sha256(client_key).digest(), self._stored_key):
            return None
        return b"v=" + base64.b64encode(hmac.digest(self._server_key, auth_message, "sha256"))


class QuickStopMockupDB(MockupDB):  # type: ignore[misc]
    """mockupdb's accept loop sleeps in ``select(..., 1)``, so ``stop()`` took ~1 s per server.

    Flag the stop first, then wake the loop with one connection so it sees the flag at once.
    """

    def stop(self) -> None:
        self._stopped = True
        try:
            socket.create_connection((LOOPBACK, self.port), timeout=1).close()
        except OSError:
            pass
        super().stop()


class FakeMember:
    """One node of a :class:`FakeReplicaSet` on its own loopback port."""

    def __init__(self, cluster: FakeReplicaSet, role: str) -> None:
        self.cluster = cluster
        self.role = role
        self._server: MockupDB | None = None
        self._hang: socket.socket | None = None
        self._authenticated: set[int] = set()
        self._scram = ScramServer("root", cluster.password) if cluster.password else None
        self.port = free_port()

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    def start(self) -> None:
        if self.role == DOWN:
            return  # the reserved port stays closed: connections are refused
        if self.role == HANG:
            self._hang = socket.socket()
            self._hang.bind((LOOPBACK, 0))
            self._hang.listen(64)  # the kernel accepts into the backlog; nobody ever reads
            self.port = int(self._hang.getsockname()[1])
            return
        self._server = QuickStopMockupDB(port=None)
        self.port = int(self._server.run())
        self._server.autoresponds(self._handle)

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
        if self._hang is not None:
            self._hang.close()

    def _handle(self, request: Any) -> bool:
        command = (request.command_name or "").lower()
        doc = request.doc
        if command in ("ismaster", "hello"):
            reply = self.cluster.hello_for(self)
            if "saslSupportedMechs" in doc and self._scram is not None:
                reply["saslSupportedMechs"] = ["SCRAM-SHA-256"]
            return bool(request.replies(reply))
        if command == "saslstart":
            return self._sasl_start(request, doc)
        if command == "saslcontinue":
            return self._sasl_continue(request, doc)
        if command == "replsetgetstatus":
            if self._scram is not None and request.client_port not in self._authenticated:
                return bool(request.command_err(13, "command replSetGetStatus requires authentication"))
            if self.role == OUTSIDER:
                return bool(request.command_err(94, "no replset config has been received"))
            return bool(request.replies(self.cluster.status()))
        return bool(request.command_err(59, f"no such command: '{request.command_name}'"))

    def _sasl_start(self, request: Any, doc: Any) -> bool:
        if self._scram is None or doc.get("mechanism") != "SCRAM-SHA-256":
            return bool(request.command_err(18, "Authentication failed."))
        started = self._scram.start(bytes(doc["payload"]))
        if started is None:
            return bool(request.command_err(18, "Authentication failed."))
        conversation, server_first = started
        return bool(request.replies({"conversationId": conversation, "done": False, "payload": Binary(server_first)}))

    def _sasl_continue(self, request: Any, doc: Any) -> bool:
        assert self._scram is not None
        server_final = self._scram.finish(doc["conversationId"], bytes(doc["payload"]))
        if server_final is None:
            return bool(request.command_err(18, "Authentication failed."))
        self._authenticated.add(request.client_port)
        reply = {"conversationId": doc["conversationId"], "done": True, "payload": Binary(server_final)}
        return bool(request.replies(reply))


class FakeReplicaSet:
    """Members on loopback; ``with FakeReplicaSet([PRIMARY, SECONDARY, SECONDARY]) as rs: ...``."""

    def __init__(self, roles: list[str], set_name: str = SET_NAME, password: str = "") -> None:
        self.set_name = set_name
        self.password = password
        self.members = [FakeMember(self, role) for role in roles]

    def __enter__(self) -> FakeReplicaSet:
        for member in self.members:
            member.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for member in self.members:
            member.stop()

    @property
    def spec(self) -> str:
        """The ``--nodes`` value for this set."""
        return ",".join(member.address for member in self.members)

    def nodes(self, ui_port: int) -> list[NodeAddress]:
        return [NodeAddress(LOOPBACK, member.port, ui_port) for member in self.members]

    def configured(self) -> list[FakeMember]:
        """The replica-set configuration: every member but outsiders."""
        return [member for member in self.members if member.role != OUTSIDER]

    def primaries(self) -> list[FakeMember]:
        return [member for member in self.members if member.role == PRIMARY]

    def hello_for(self, member: FakeMember) -> dict[str, Any]:
        reply: dict[str, Any] = {
            "helloOk": True,
            "ismaster": member.role == PRIMARY,
            "isWritablePrimary": member.role == PRIMARY,
            "maxBsonObjectSize": 16 * 1024 * 1024,
            "maxMessageSizeBytes": 48_000_000,
            "maxWriteBatchSize": 100_000,
            "localTime": datetime.now(UTC),
            "minWireVersion": 0,
            "maxWireVersion": MAX_WIRE_VERSION,
        }
        if member.role == OUTSIDER:  # mongod --replSet without a config (docs/ce-facts.md §6.1 --join never ran)
            reply.update(isreplicaset=True, secondary=False, info="Does not have a valid replica set config")
            return reply
        reply.update(
            setName=self.set_name,
            setVersion=len(self.configured()),
            secondary=member.role == SECONDARY,
            hosts=[m.address for m in self.configured()],
            me=member.address,
        )
        # Each primary names itself; a secondary names the first primary, if any.
        primary = member if member.role == PRIMARY else next(iter(self.primaries()), None)
        if primary is not None:
            reply["primary"] = primary.address
        return reply

    def status(self) -> dict[str, Any]:
        members = []
        for index, member in enumerate(self.configured()):
            up = member.role in (PRIMARY, SECONDARY)
            members.append(
                {
                    "_id": index,
                    "name": member.address,
                    "health": 1 if up else 0,
                    "state": {PRIMARY: 1, SECONDARY: 2}.get(member.role, 8),
                    "stateStr": member.role if up else "(not reachable/healthy)",
                }
            )
        return {"set": self.set_name, "myState": 1, "members": members}


# --------------------------------------------------------------------------------------------
# The UI side: plain and HTTPS servers on loopback


def write_self_signed(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (IP SAN, so only trust can fail); (cert, key)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, LOOPBACK)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(IPv4Address(LOOPBACK))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "ui.crt", directory / "ui.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert_path, key_path


@contextmanager
def ui_server(status: int = 200, tls_dir: Path | None = None) -> Iterator[int]:
    """An HTTP (or, with ``tls_dir``, HTTPS with a fresh self-signed cert) UI; yields its port."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base signature
            pass

    server = http.server.ThreadingHTTPServer((LOOPBACK, 0), Handler)
    server.daemon_threads = True
    if tls_dir is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*write_self_signed(tls_dir))
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
