# TEST DOUBLE of Netskope Cloud Exchange (stand-in for tests): not CE, contains no CE code.
"""RabbitMQ cluster membership of the stand-in: who is in the cluster and in CE's three quorum queues.

No broker runs. What is kept is the membership CE's scripts change (docs/ce-lifecycle.md §1.2, §7):
``./start`` on the CE primary puts ``rabbit@<ip>`` in the cluster and the queues; ``./start`` on
another node, only after its replica-set join succeeded, runs ``stop_app``/``reset``/``join_cluster
rabbit@<HA_PRIMARY_NODE_IP>``/``start_app`` and ``add_member`` for ``cloudexchange_9``/``_6``/``_3``;
``./stop`` (after ``replica_set --remove`` exit 0) deletes the node's queue members and resets it.
Nothing else changes it except the CLI below, which plays ``rabbitmqctl`` and ``rabbitmq-queues``
inside a survivor's ``rabbitmq-stats`` container (docs/ce-lifecycle.md §5.2 step 2):

    python3 -m standin.rabbit rabbitmqctl cluster_status --formatter json
    python3 -m standin.rabbit rabbitmqctl forget_cluster_node rabbit@IP
    python3 -m standin.rabbit rabbitmq-queues delete_member QUEUE rabbit@IP
    python3 -m standin.rabbit rabbitmq-queues quorum_status QUEUE --formatter json

run in a node's checkout (the shared folder comes from its ``.env``). A node's broker counts as
running while its fake mongod listens (the stand-in's one process per node stands for all of CE's
containers). ``forget_cluster_node`` refuses a running node, as RabbitMQ does. State:
``<shared>/.standin/rabbitmq.json`` (``cluster``: node names; ``queues``: queue -> node names;
``joined``: node name -> epoch of its last ``join_cluster``), under its own lock (``common.locked_state``).
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import time
from collections.abc import Iterator
from typing import Any

from standin import common

QUEUES = ("cloudexchange_9", "cloudexchange_6", "cloudexchange_3")
STATE_FILE = "rabbitmq.json"


def node_name(ip: str) -> str:
    """CE's long node name (``RABBITMQ_USE_LONGNAME``): ``rabbit@<ip>``."""
    return f"rabbit@{ip}"


def _defaults(state: dict[str, Any]) -> dict[str, Any]:
    state.setdefault("cluster", [])
    state.setdefault("queues", {queue: [] for queue in QUEUES})
    state.setdefault("joined", {})
    return state


def load(shared_dir: str) -> dict[str, Any]:
    return _defaults(common.load_state(shared_dir, STATE_FILE))


@contextlib.contextmanager
def locked(shared_dir: str) -> Iterator[dict[str, Any]]:
    with common.locked_state(shared_dir, STATE_FILE) as state:
        yield _defaults(state)


def running(name: str) -> bool:
    """A node's broker runs while its fake mongod listens."""
    ip = name.split("@", 1)[1]
    try:
        with socket.create_connection((ip, common.MONGO_PORT), timeout=0.5):
            return True
    except OSError:
        return False


def _add(state: dict[str, Any], name: str) -> None:
    if name not in state["cluster"]:
        state["cluster"].append(name)
    for queue in QUEUES:
        members = state["queues"].setdefault(queue, [])
        if name not in members:
            members.append(name)
    state["joined"][name] = round(time.time(), 3)


def form(shared_dir: str, me_ip: str) -> None:
    """``./start`` on the CE primary: its broker is (or stays) in the cluster and every queue."""
    with locked(shared_dir) as state:
        _add(state, node_name(me_ip))


def join(shared_dir: str, me_ip: str, primary_ip: str) -> str:
    """``./start``'s RabbitMQ lines on a joining node; "" when done, else RabbitMQ's complaint."""
    target = node_name(primary_ip)
    with locked(shared_dir) as state:
        if target not in state["cluster"] or not running(target):
            return f"Error: unable to perform an operation on node '{target}'. Please see diagnostics information."
        _add(state, node_name(me_ip))
    return ""


def leave(shared_dir: str, me_ip: str) -> None:
    """``./stop`` after ``replica_set --remove`` exit 0: delete_member x3, stop_app, reset."""
    name = node_name(me_ip)
    with locked(shared_dir) as state:
        for queue in QUEUES:
            state["queues"][queue] = [member for member in state["queues"].get(queue, []) if member != name]
        state["cluster"] = [member for member in state["cluster"] if member != name]


def cli(argv: list[str]) -> int:
    """The CLI subset above; exit 0 ok, 1 RabbitMQ's error (message on stderr), 64 usage."""
    env = common.merged_env()
    shared = env.get("HA_NFS_DATA_DIRECTORY", "")
    if not shared:
        print("Error: this stand-in node is not HA (no shared folder).", file=sys.stderr)
        return 1
    words = [word for word in argv if word not in ("--formatter", "json")]
    if words[:2] == ["rabbitmqctl", "cluster_status"]:
        state = load(shared)
        print(json.dumps({"disk_nodes": state["cluster"], "running_nodes": [n for n in state["cluster"] if running(n)]}))
        return 0
    if words[:2] == ["rabbitmqctl", "forget_cluster_node"] and len(words) == 3:
        name = words[2]
        with locked(shared) as state:
            if name not in state["cluster"]:
                print(f"Error: {{:not_a_cluster_node, ~c\"The node selected is not in the cluster.\"}} ({name})", file=sys.stderr)
                return 1
            if running(name):
                print(f"Error: {{:error, {{:failed_to_remove_node, :\"{name}\", {{:active, ~c\"Mnesia is running\"}}}}}}", file=sys.stderr)
                return 1
            state["cluster"].remove(name)
        print(f"Removing node {name} from the cluster")
        return 0
    if words[:2] == ["rabbitmq-queues", "delete_member"] and len(words) == 4:
        queue, name = words[2], words[3]
        with locked(shared) as state:
            members = state["queues"].get(queue)
            if members is None:
                print(f"Error: {{:error, :not_found}} (queue {queue})", file=sys.stderr)
                return 1
            if name not in members:
                print(f"Error: {{:error, :not_a_member}} ({name} in {queue})", file=sys.stderr)
                return 1
            members.remove(name)
        print(f"Removing a replica of quorum queue '{queue}' in vhost '/' on node '{name}'...")
        return 0
    if words[:2] == ["rabbitmq-queues", "quorum_status"] and len(words) == 3:
        members = load(shared)["queues"].get(words[2])
        if members is None:
            print(f"Error: {{:error, :not_found}} (queue {words[2]})", file=sys.stderr)
            return 1
        print(json.dumps([{"Node Name": name, "Raft State": "follower" if running(name) else "noproc"} for name in members]))
        return 0
    print(f"stand-in rabbit: unsupported command {' '.join(argv)}", file=sys.stderr)
    return 64


if __name__ == "__main__":
    sys.exit(cli(sys.argv[1:]))
