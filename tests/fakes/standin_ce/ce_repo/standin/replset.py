# TEST DOUBLE of Netskope Cloud Exchange (stand-in for tests): not CE, contains no CE code.
"""The stand-in ``./replica_set --initiate | --join | --remove`` (docs/ce-facts.md §6.1, §6.2).

Talks to the fake mongods with real pymongo as user ``root`` and the decrypted
``MAINTENANCE_PASSWORD_ESCAPED``, exactly the path CE's script takes against MongoDB; the fakes
keep the replica-set state in the shared folder.

Exit codes: 0 ok; 1 error (e.g. "The node is already connected with the cluster."); 3 on
``--remove`` when this is the last node or the others are unreachable.
"""

from __future__ import annotations

import argparse
import time
from typing import Any
from urllib.parse import quote

from pymongo import MongoClient
from pymongo.errors import OperationFailure, PyMongoError

from standin import common

#: CE relies on pymongo's default 30 s; the stand-in gives up sooner to keep tests short.
SERVER_SELECTION_MS = 5000


def _escaped_password(env: dict[str, str]) -> str:
    if common.uses_secret_file():
        return common.read_secret(env, "MAINTENANCE_PASSWORD_ESCAPED")
    return quote(env.get("MAINTENANCE_PASSWORD", ""), safe="")


def _client(env: dict[str, str], hosts: list[str], direct: bool) -> MongoClient[dict[str, Any]]:
    password = _escaped_password(env)
    options = "directConnection=true" if direct else f"replicaSet={common.REPLICA_SET_NAME}"
    uri = f"mongodb://{common.MONGO_USER}:{password}@{','.join(hosts)}/?authSource=admin&{options}"
    return MongoClient(uri, serverSelectionTimeoutMS=SERVER_SELECTION_MS, connectTimeoutMS=3000)


def _database_version(env: dict[str, str]) -> str:
    return common.read_env(common.ceversion_path(env)).get("CURRENT_DATABASE_VERSION", "")


def initiate(env: dict[str, str]) -> int:
    me = common.host_of(env["HA_CURRENT_NODE"])
    client = _client(env, [me], direct=True)
    try:
        for attempt in range(3):
            try:
                client.admin.command("replSetGetStatus")
                print("Replica set is already initialized.")
                break
            except OperationFailure as exc:
                if exc.code != 94:  # NotYetInitialized
                    raise
                config = {"_id": common.REPLICA_SET_NAME, "members": [{"_id": 0, "host": me}]}
                client.admin.command("replSetInitiate", config)
                print(f"Replica set {common.REPLICA_SET_NAME} initialized with {me}.")
                break
            except PyMongoError as exc:
                if attempt == 2:
                    raise
                print(f"Waiting for MongoDB on {me}: {exc}")
                time.sleep(1)
    except PyMongoError as exc:
        print(f"Error while initiating the replica set: {exc}")
        return 1
    finally:
        client.close()
    print(f"The database version {_database_version(env)} is correct.")
    return 0


def join(env: dict[str, str]) -> int:
    me_ip = env["HA_CURRENT_NODE"]
    me = common.host_of(me_ip)
    others = [common.host_of(ip) for ip in env.get("HA_IP_LIST", "").split(",") if ip and ip != me_ip]
    if not others:
        print("No other node in HA_IP_LIST to join.")
        return 1
    client = _client(env, others, direct=False)
    try:
        config = client.admin.command("replSetGetConfig")["config"]
        members = list(config["members"])
        members.append({"_id": max(int(m["_id"]) for m in members) + 1, "host": me})
        config["members"] = members
        config["version"] = int(config["version"]) + 1
        client.admin.command("replSetReconfig", config)
    except OperationFailure as exc:
        if "same host" in str(exc):
            print("The node is already connected with the cluster.")
        else:
            print(f"Error while joining the replica set: {exc}")
        return 1
    except PyMongoError as exc:
        print(f"Error while joining the replica set (is the primary node running?): {exc}")
        return 1
    finally:
        client.close()
    print(f"The node {me} joined the replica set {common.REPLICA_SET_NAME}.")
    return 0


def remove(env: dict[str, str]) -> int:
    me_ip = env["HA_CURRENT_NODE"]
    me = common.host_of(me_ip)
    own = _client(env, [me], direct=True)
    try:
        hello = own.admin.command("hello")
        hosts = list(hello.get("hosts", []))
        if me not in hosts:
            print("This node is not a member of the replica set.")
            return 0
        if hosts == [me]:
            print("This is the last node of the cluster; it stays the primary node.")
            common.update_primary_ip(env, me_ip)
            return 3
        if hello.get("isWritablePrimary"):
            try:
                own.admin.command("replSetStepDown", 60)
            except OperationFailure as exc:
                print(f"Could not step down ({exc}); the other nodes are unreachable.")
                return 3
            hello = own.admin.command("hello")
        new_primary = str(hello.get("primary", ""))
    except PyMongoError as exc:
        print(f"Error while removing the node from the replica set: {exc}")
        return 1
    finally:
        own.close()
    if not new_primary:
        print("No primary node is available; the other nodes are unreachable.")
        return 3
    if env.get("HA_PRIMARY_NODE_IP") == me_ip:
        new_ip = new_primary.rsplit(":", 1)[0]
        common.update_primary_ip(env, new_ip)
        print(f"HA_PRIMARY_NODE_IP moved to {new_ip}.")
    primary = _client(env, [new_primary], direct=True)
    try:
        config = primary.admin.command("replSetGetConfig")["config"]
        config["members"] = [m for m in config["members"] if m["host"] != me]
        config["version"] = int(config["version"]) + 1
        primary.admin.command("replSetReconfig", config)
    except PyMongoError as exc:
        print(f"Could not reach the primary node {new_primary}: {exc}")
        return 3
    finally:
        primary.close()
    print(f"The node {me} was removed from the replica set.")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="stand-in replica_set of the CE test double")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--initiate", action="store_true")
    group.add_argument("--join", action="store_true")
    group.add_argument("--remove", action="store_true")
    args = parser.parse_args(argv)
    if not common.v6_ha_gate(check_mount=False):
        return 1
    env = common.merged_env()
    if not common.is_ha(env):
        print("HA is not configured on this node.")
        return 1
    try:
        if args.initiate:
            return initiate(env)
        if args.join:
            return join(env)
        return remove(env)
    except (OSError, RuntimeError, KeyError) as exc:
        print(f"Error: {exc}")
        return 1
