# TEST DOUBLE of Netskope Cloud Exchange (stand-in for tests): not CE, contains no CE code.
"""A wire-level MongoDB stand-in (mockupdb) for one CE node; ``./start`` runs it as a daemon.

Run as ``python3 -m standin.fake_mongod --repo <checkout>``. It reads the checkout's ``.env``
(and, in HA, the shared ``.env``), binds ``HA_CURRENT_NODE:27017`` in HA (plus 127.0.0.1 when
the node IP is not a loopback address) or ``127.0.0.1:27017`` standalone, writes
``data/standin/fake_mongod.pid`` once listening and removes it on SIGTERM.

Replica-set state lives in ``<shared>/.standin/replset.json`` so every node's fake answers
``hello`` consistently: ``set``, ``version``, ``term``, ``members`` [{_id, host}], ``primary``.
Answered commands: hello/isMaster, ping, buildInfo, endSessions, saslStart/saslContinue
(SCRAM, user ``root``, password = the decrypted maintenance password), and after
authentication replSetGetStatus, replSetGetConfig, replSetInitiate, replSetReconfig,
replSetStepDown. Anything else gets MongoDB's CommandNotFound (59).

Elections: when the recorded primary stops answering without ``./stop`` (killed, its VM gone), the
next member asked elects the first answering member if a majority of the members answers
(``_elect``); a set without a majority has no writable primary.
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import itertools
import os
import signal
import socket
import sys
import weakref
from typing import Any

from bson import ObjectId
from mockupdb import OP_MSG_FLAGS, MockupDB, OpMsg  # type: ignore[import-untyped]

from standin import common, fake_ui
from standin.scram import MECHANISMS, AuthError, ScramServer

MAX_WIRE_VERSION = 25  # MongoDB 8.0; pymongo 4.20 needs >= 9 (MongoDB 4.4), 4.7 needs >= 6
SERVER_VERSION = "8.0.4"
STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}
NO_AUTH_COMMANDS = {
    "hello", "ismaster", "ping", "buildinfo", "saslstart", "saslcontinue", "endsessions",
    "getnonce", "logout", "whatsmyuri", "connectionstatus",
}  # fmt: skip


def log(message: str) -> None:
    stamp = datetime.datetime.now().isoformat(timespec="seconds")
    print(f"{stamp} {message}", flush=True)


def _reachable(host: str, timeout: float = 0.5) -> bool:
    address, _, port = host.rpartition(":")
    try:
        with socket.create_connection((address, int(port)), timeout=timeout):
            return True
    except OSError:
        return False


class CommandError(Exception):
    def __init__(self, code: int, code_name: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.code_name = code_name


class FakeMongod:
    """Answers every request of one node; replica-set facts come from the shared state file."""

    def __init__(self, ha: bool, self_ip: str, shared_dir: str, scram: ScramServer) -> None:
        self.ha = ha
        self.me = common.host_of(self_ip)
        self.shared_dir = shared_dir
        self.scram = scram
        self._authenticated: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
        self._conversations: weakref.WeakKeyDictionary[Any, tuple[str, str, str, str]] = weakref.WeakKeyDictionary()
        self._connection_ids: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()
        self._counter = itertools.count(1)

    # ---------------------------------------------------------------- state
    def _state(self) -> dict[str, Any]:
        if not self.ha:
            return {}
        state = common.load_state(self.shared_dir)
        primary = state.get("primary")
        if primary != self.me and self._is_member(state) and (not primary or not _reachable(str(primary))):
            return self._elect()
        return state

    def _elect(self) -> dict[str, Any]:
        """The recorded primary died without ``./stop``: a majority of the members that answer elects
        the first of them (member order) and bumps the term, as MongoDB's election would within
        seconds; without a majority the set stays without a writable primary."""
        with common.locked_state(self.shared_dir) as state:
            hosts = self._member_hosts(state)
            primary = state.get("primary")
            if primary in hosts and _reachable(str(primary)):
                return dict(state)
            alive = [host for host in hosts if host == self.me or _reachable(host)]
            if 2 * len(alive) > len(hosts):
                state["primary"] = alive[0]
                state["term"] = int(state.get("term", 1)) + 1
                log(f"election: {primary} does not answer; {alive[0]} is primary (term {state['term']})")
            elif primary:
                state["primary"] = ""
                log(f"election: {primary} does not answer and only {len(alive)} of {len(hosts)} members do: no primary")
            return dict(state)

    def _member_hosts(self, state: dict[str, Any]) -> list[str]:
        return [str(member["host"]) for member in state.get("members", [])]

    def _is_member(self, state: dict[str, Any]) -> bool:
        return self.me in self._member_hosts(state)

    def _is_primary(self, state: dict[str, Any]) -> bool:
        return self._is_member(state) and state.get("primary") == self.me

    @staticmethod
    def _election_id(state: dict[str, Any]) -> ObjectId:
        return ObjectId("7fffffff" + format(int(state.get("term", 1)), "016x"))

    # ---------------------------------------------------------------- dispatch
    def handle(self, request: Any) -> bool:
        try:
            if not request.is_command:
                request.replies()
                return True
            if isinstance(request, OpMsg) and request.flags & OP_MSG_FLAGS["moreToCome"]:
                return True  # unacknowledged (e.g. endSessions): no reply allowed
            self._dispatch(request)
        except CommandError as exc:
            request.command_err(code=exc.code, errmsg=str(exc), codeName=exc.code_name)
        except Exception as exc:  # noqa: BLE001 - keep the connection usable, say what broke
            log(f"internal error: {exc!r}")
            request.command_err(code=1, errmsg=f"stand-in mongod internal error: {exc}", codeName="InternalError")
        return True

    def _dispatch(self, request: Any) -> None:
        name = str(request.command_name)
        lname = name.lower()
        client = getattr(request, "_client", None)
        if lname in ("hello", "ismaster"):
            request.replies(self._hello(request.doc, legacy=lname == "ismaster", client=client))
            return
        if lname not in NO_AUTH_COMMANDS and client not in self._authenticated:
            raise CommandError(13, "Unauthorized", f"command {name} requires authentication")
        handler = getattr(self, f"_cmd_{lname}", None)
        if handler is None:
            raise CommandError(59, "CommandNotFound", f"no such command: '{name}'")
        request.replies(handler(request.doc, client))

    # ---------------------------------------------------------------- hello
    def _hello(self, doc: dict[str, Any], legacy: bool, client: Any) -> dict[str, Any]:
        writable_key = "ismaster" if legacy else "isWritablePrimary"
        reply: dict[str, Any] = {}
        if not self.ha:
            reply[writable_key] = True
        else:
            state = self._state()
            if self._is_member(state):
                primary = state.get("primary")
                reply.update(
                    {
                        "hosts": self._member_hosts(state),
                        "setName": state.get("set", common.REPLICA_SET_NAME),
                        "setVersion": int(state.get("version", 1)),
                        writable_key: self._is_primary(state),
                        "secondary": not self._is_primary(state),
                        "me": self.me,
                    }
                )
                if primary:
                    reply["primary"] = primary
                if self._is_primary(state):
                    reply["electionId"] = self._election_id(state)
            else:
                reply.update(
                    {
                        writable_key: False,
                        "secondary": False,
                        "isreplicaset": True,
                        "info": "Does not have a valid replica set config",
                    }
                )
        if client is not None and client not in self._connection_ids:
            self._connection_ids[client] = next(self._counter)
        reply.update(
            {
                "maxBsonObjectSize": 16777216,
                "maxMessageSizeBytes": 48000000,
                "maxWriteBatchSize": 100000,
                "localTime": datetime.datetime.now(datetime.UTC),
                "logicalSessionTimeoutMinutes": 30,
                "connectionId": self._connection_ids.get(client, 0) if client is not None else 0,
                "minWireVersion": 0,
                "maxWireVersion": MAX_WIRE_VERSION,
                "readOnly": False,
                "ok": 1.0,
            }
        )
        if doc.get("helloOk"):
            reply["helloOk"] = True
        if "saslSupportedMechs" in doc:
            reply["saslSupportedMechs"] = list(MECHANISMS)
        return reply

    # ---------------------------------------------------------------- no-auth commands
    def _cmd_ping(self, doc: dict[str, Any], client: Any) -> dict[str, Any]:
        return {"ok": 1.0}

    def _cmd_buildinfo(self, doc: dict[str, Any], client: Any) -> dict[str, Any]:
        return {"version": SERVER_VERSION, "versionArray": [8, 0, 4, 0], "bits": 64, "ok": 1.0}

    def _cmd_endsessions(self, doc: dict[str, Any], client: Any) -> dict[str, Any]:
        return {"ok": 1.0}

    def _cmd_logout(self, doc: dict[str, Any], client: Any) -> dict[str, Any]:
        self._authenticated.pop(client, None)
        return {"ok": 1.0}

    def _cmd_whatsmyuri(self, doc: dict[str, Any], client: Any) -> dict[str, Any]:
        peer = client.getpeername() if client is not None else ("", 0)
        return {"you": f"{peer[0]}:{peer[1]}", "ok": 1.0}

    def _cmd_connectionstatus(self, doc: dict[str, Any], client: Any) -> dict[str, Any]:
        user = self._authenticated.get(client)
        users = [{"user": user, "db": "admin"}] if user else []
        return {"authInfo": {"authenticatedUsers": users, "authenticatedUserRoles": []}, "ok": 1.0}

    def _cmd_saslstart(self, doc: dict[str, Any], client: Any) -> dict[str, Any]:
        try:
            conversation, payload = self.scram.start(str(doc.get("mechanism", "")), bytes(doc.get("payload", b"")))
        except (AuthError, UnicodeDecodeError, IndexError) as exc:
            log(f"authentication failed: {exc}")
            raise CommandError(18, "AuthenticationFailed", "Authentication failed.") from exc
        self._conversations[client] = conversation
        return {"conversationId": 1, "done": False, "payload": payload, "ok": 1.0}

    def _cmd_saslcontinue(self, doc: dict[str, Any], client: Any) -> dict[str, Any]:
        conversation = self._conversations.pop(client, None)
        if conversation is None:
            raise CommandError(17, "ProtocolError", "No SASL session state found")
        try:
            payload = self.scram.finish(conversation, bytes(doc.get("payload", b"")))
        except (AuthError, ValueError) as exc:
            log("authentication failed: wrong password")
            raise CommandError(18, "AuthenticationFailed", "Authentication failed.") from exc
        self._authenticated[client] = self.scram.user
        return {"conversationId": 1, "done": True, "payload": payload, "ok": 1.0}

    # ---------------------------------------------------------------- replica set
    def _require_replset(self) -> dict[str, Any]:
        if not self.ha:
            raise CommandError(76, "NoReplicationEnabled", "not running with --replSet")
        state = self._state()
        if not self._is_member(state):
            raise CommandError(94, "NotYetInitialized", "no replset config has been received")
        return state

    def _cmd_replsetgetstatus(self, doc: dict[str, Any], client: Any) -> dict[str, Any]:
        state = self._require_replset()
        members = []
        for member in state.get("members", []):
            host = str(member["host"])
            healthy = host == self.me or _reachable(host)
            if not healthy:
                code, text = 8, "(not reachable/healthy)"
            elif host == state.get("primary"):
                code, text = 1, "PRIMARY"
            else:
                code, text = 2, "SECONDARY"
            entry: dict[str, Any] = {
                "_id": member["_id"], "name": host, "health": 1.0 if healthy else 0.0, "state": code, "stateStr": text,
            }  # fmt: skip
            if host == self.me:
                entry["self"] = True
            members.append(entry)
        my_state = 1 if self._is_primary(state) else 2
        return {
            "set": state.get("set", common.REPLICA_SET_NAME),
            "date": datetime.datetime.now(datetime.UTC),
            "myState": my_state,
            "term": int(state.get("term", 1)),
            "members": members,
            "ok": 1.0,
        }

    def _cmd_replsetgetconfig(self, doc: dict[str, Any], client: Any) -> dict[str, Any]:
        state = self._require_replset()
        members = [{"_id": m["_id"], "host": m["host"], "priority": 1.0, "votes": 1} for m in state["members"]]
        config = {
            "_id": state.get("set", common.REPLICA_SET_NAME),
            "version": int(state.get("version", 1)),
            "term": int(state.get("term", 1)),
            "protocolVersion": 1,
            "members": members,
        }
        return {"config": config, "ok": 1.0}

    @staticmethod
    def _validate_members(config: dict[str, Any]) -> list[dict[str, Any]]:
        members = [{"_id": int(m["_id"]), "host": str(m["host"])} for m in config.get("members", [])]
        hosts = [m["host"] for m in members]
        for host in hosts:
            if hosts.count(host) > 1:
                raise CommandError(93, "InvalidReplicaSetConfig", f"Found two member configurations with same host field, {host}")
        ids = [m["_id"] for m in members]
        if len(set(ids)) != len(ids):
            raise CommandError(93, "InvalidReplicaSetConfig", "Found two member configurations with same _id")
        if config.get("_id", common.REPLICA_SET_NAME) != common.REPLICA_SET_NAME:
            raise CommandError(93, "InvalidReplicaSetConfig", f"set name must be {common.REPLICA_SET_NAME}")
        return members

    def _cmd_replsetinitiate(self, doc: dict[str, Any], client: Any) -> dict[str, Any]:
        if not self.ha:
            raise CommandError(76, "NoReplicationEnabled", "This node was not started with replication enabled.")
        config = doc.get("replSetInitiate") or {}
        if not isinstance(config, dict):
            config = {}
        members = self._validate_members(config) if config.get("members") else [{"_id": 0, "host": self.me}]
        if self.me not in [m["host"] for m in members]:
            raise CommandError(93, "InvalidReplicaSetConfig", f"No host described in new configuration maps to this node ({self.me})")
        with common.locked_state(self.shared_dir) as state:
            if state.get("members"):
                raise CommandError(23, "AlreadyInitialized", "already initialized")
            state.update(set=common.REPLICA_SET_NAME, version=1, term=1, members=members, primary=self.me)
        log(f"replSetInitiate: members={[m['host'] for m in members]} primary={self.me}")
        return {"ok": 1.0}

    def _cmd_replsetreconfig(self, doc: dict[str, Any], client: Any) -> dict[str, Any]:
        self._require_replset()
        config = doc.get("replSetReconfig")
        if not isinstance(config, dict):
            raise CommandError(93, "InvalidReplicaSetConfig", "replSetReconfig needs a config document")
        members = self._validate_members(config)
        with common.locked_state(self.shared_dir) as state:
            if state.get("primary") != self.me:
                raise CommandError(10107, "NotWritablePrimary", "replSetReconfig should only be run on a writable PRIMARY")
            version = int(config.get("version", 0))
            if version <= int(state.get("version", 1)):
                raise CommandError(
                    103,
                    "NewReplicaSetConfigurationIncompatible",
                    f"New config is rejected :: caused by :: version field value of {version} is not greater than "
                    f"the current version {state.get('version')}",
                )
            if self.me not in [m["host"] for m in members]:
                raise CommandError(103, "NewReplicaSetConfigurationIncompatible", "The primary cannot remove itself from the config")
            state.update(members=members, version=version)
        log(f"replSetReconfig: version={version} members={[m['host'] for m in members]}")
        return {"ok": 1.0}

    def _cmd_replsetstepdown(self, doc: dict[str, Any], client: Any) -> dict[str, Any]:
        self._require_replset()
        with common.locked_state(self.shared_dir) as state:
            if state.get("primary") != self.me:
                raise CommandError(10107, "NotWritablePrimary", "not primary so can't step down")
            candidates = [h for h in self._member_hosts(state) if h != self.me and _reachable(h)]
            if not candidates:
                raise CommandError(262, "ExceededTimeLimit", "No electable secondaries caught up")
            state["primary"] = candidates[0]
            state["term"] = int(state.get("term", 1)) + 1
        log(f"replSetStepDown: new primary {candidates[0]}")
        return {"ok": 1.0}


class BoundMockupDB(MockupDB):  # type: ignore[misc]
    """MockupDB listens on 'localhost' only; the node needs its own address."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(port=port, request_timeout=int(1e6))
        self._address = (host, port)


def _is_loopback(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip).is_loopback
    except ValueError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="stand-in mongod of the CE test double")
    parser.add_argument("--repo", default=".")
    args = parser.parse_args(argv)
    os.chdir(args.repo)
    env = common.merged_env()
    ha = common.is_ha(env)
    key = "MONGO_INITDB_ROOT_PASSWORD" if common.uses_secret_file() else "MAINTENANCE_PASSWORD"
    try:
        password = common.read_secret(env, key)
    except (OSError, RuntimeError, KeyError) as exc:
        log(f"cannot read the root password: {exc}")
        return 1
    bind = common.bind_address(env)
    node = FakeMongod(ha, bind, env.get("HA_NFS_DATA_DIRECTORY", ""), ScramServer(common.MONGO_USER, password))
    addresses = [bind] + (["127.0.0.1"] if ha and not _is_loopback(bind) else [])
    servers: list[BoundMockupDB] = []
    # Blocked before any server thread exists, so every thread inherits the mask and only
    # sigwait() below receives SIGTERM: stop is immediate.
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    for address in addresses:
        server = BoundMockupDB(address, common.MONGO_PORT)
        server.autoresponds(node.handle)
        try:
            server.run()
        except OSError as exc:
            log(f"cannot listen on {address}:{common.MONGO_PORT}: {exc}")
            if address == bind:
                for started in servers:
                    started.stop()
                return 1
            continue
        servers.append(server)
        log(f"listening on {address}:{common.MONGO_PORT} ({'replica set member' if ha else 'standalone'})")
    try:
        for failure in fake_ui.serve(env, ha, addresses):
            log(f"UI stand-in cannot listen on {failure}")
    except (OSError, ValueError) as exc:  # no certificate yet, bad port: the UI is down, mongod still runs
        log(f"UI stand-in not started: {exc}")
    os.makedirs(os.path.dirname(common.PIDFILE), exist_ok=True)
    # whole or not at all: ./start polls this file, and a half-written one once read as stale made it wait 90 s
    partial = f"{common.PIDFILE}.{os.getpid()}"
    with open(partial, "w", encoding="ascii") as handle:
        handle.write(f"{os.getpid()}\n")
    os.replace(partial, common.PIDFILE)
    signal.sigwait(STOP_SIGNALS)
    try:
        with open(common.PIDFILE, encoding="ascii") as handle:
            if handle.read().strip() == str(os.getpid()):
                os.unlink(common.PIDFILE)
    except OSError:
        pass
    log("stopped")
    # Like a killed container: no graceful drain (mockupdb.stop() would wait up to 1 s per listener).
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
