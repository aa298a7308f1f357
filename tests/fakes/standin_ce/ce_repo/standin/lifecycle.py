# TEST DOUBLE of Netskope Cloud Exchange (stand-in for tests): not CE, contains no CE code.
"""The stand-in ``./start`` and ``./stop`` (docs/ce-facts.md §6.1, §6.2).

6.x HA (local ``.env`` has ``ENV_FILE``): the shared env is ``ENV_FILE``; ``./.cevenv`` must exist
(exit 1) and ``./start`` aborts when the GlusterFS volume is not mounted (the mount table, as CE checks).

No containers exist here: "compose up" is launching the fake mongod as a daemon
(``python3 -m standin.fake_mongod``, pidfile ``data/standin/fake_mongod.pid``, log
``data/standin/fake_mongod.log``); "compose down" is stopping it. RabbitMQ is only its cluster
membership (``standin/rabbit.py``): the primary's start forms it, a secondary's start joins it only
after its replica-set join succeeded (CE's ``set -e``, docs/ce-lifecycle.md §7), a stop that left the
replica set leaves it (docs/ce-lifecycle.md §1.2).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

from standin import common, rabbit, replset
from standin.version import CE_VERSION

#: how long ./start waits for the stand-in mongod to listen and write its pid file; a test double's bound,
#: generous because a loaded 2-core machine once took over 20 s (tests/node/test_evict.py setup, 2026-12-03)
READY_TIMEOUT_S = 90.0
#: where the ``standin`` package lives (the checkout), whatever the current directory is
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _log_tail(lines: int = 15) -> str:
    try:
        with open(common.LOGFILE, encoding="utf-8", errors="replace") as handle:
            return "".join(handle.readlines()[-lines:])
    except OSError:
        return ""


def _listening(address: str) -> bool:
    try:
        with socket.create_connection((address, common.MONGO_PORT), timeout=1.0):
            return True
    except OSError:
        return False


def launch_fake_mongod(env: dict[str, str]) -> bool:
    """Start the daemon unless it runs; wait until it listens. False (with the log tail) if it died."""
    if common.running_pid() is not None:
        print("MongoDB stand-in is already running.")
        return True
    os.makedirs(os.path.dirname(common.PIDFILE), exist_ok=True)
    with open(common.LOGFILE, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "standin.fake_mongod", "--repo", os.getcwd()],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, close_fds=True, cwd=REPO_ROOT,
        )  # fmt: skip
    address = common.bind_address(env)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            print(f"MongoDB stand-in exited with code {process.returncode}:\n{_log_tail()}")
            return False
        if common.running_pid() == process.pid and _listening(address):
            print(f"MongoDB stand-in listening on {address}:{common.MONGO_PORT} (pid {process.pid}).")
            return True
        time.sleep(0.1)
    print(f"MongoDB stand-in did not come up within {READY_TIMEOUT_S:.0f} s:\n{_log_tail()}")
    return False


def start_main(argv: list[str] | None = None) -> int:
    if not common.v6_ha_gate(check_mount=True):
        return 1
    env = common.merged_env()
    if not os.path.isfile(".env") or not (env.get("CORE_TAG")):
        print("CE is not set up in this directory: run ./setup first.")
        return 1
    if not launch_fake_mongod(env):
        return 1
    if common.release() >= (5, 1, 0):
        path = common.ceversion_path(env)
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        common.write_env(path, {"CURRENT_DATABASE_VERSION": f'"{CE_VERSION}"'})
    if not common.is_ha(env):
        print(f"Cloud Exchange {CE_VERSION} (stand-in) started.")
        return 0
    if env.get("HA_PRIMARY_NODE_IP") == env.get("HA_CURRENT_NODE"):
        code = replset.main(["--initiate"])
        if code != 0:
            return code
        rabbit.form(env["HA_NFS_DATA_DIRECTORY"], env["HA_CURRENT_NODE"])
        print("Execute this command in remaining nodes to form a cluster")
        print("  > sudo ./start")
        return 0
    code = replset.main(["--join"])
    if code != 0:  # set -e: the RabbitMQ lines after --join never run (docs/ce-lifecycle.md §5.1)
        return code
    time.sleep(0.2)  # CE: sleep 5
    problem = rabbit.join(env["HA_NFS_DATA_DIRECTORY"], env["HA_CURRENT_NODE"], env.get("HA_PRIMARY_NODE_IP", ""))
    if problem:
        print(problem)
        return 1
    print(f"RabbitMQ: {rabbit.node_name(env['HA_CURRENT_NODE'])} joined the cluster and the queues {', '.join(rabbit.QUEUES)}.")
    return 0


def _terminate(pid: int) -> None:
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline and common.pid_alive(pid):
        time.sleep(0.1)
    if common.pid_alive(pid):
        os.kill(pid, signal.SIGKILL)


def _record_stop(outcome: str) -> None:
    """Append this ``./stop`` run to the stop log (the tests count stops by it)."""
    os.makedirs(os.path.dirname(common.STOPLOG), exist_ok=True)
    with open(common.STOPLOG, "a", encoding="utf-8") as log:
        log.write(f"{time.time():.3f} {outcome}\n")


def stop_main(argv: list[str] | None = None) -> int:
    if not common.v6_ha_gate(check_mount=False):
        _record_stop("refused")
        return 1
    env = common.merged_env()
    pid = common.running_pid()
    if pid is None:
        _record_stop("not-running")
        print("Cloud Exchange (stand-in) is not running.")
        return 0
    if common.is_ha(env):
        code = replset.main(["--remove"])
        if code == 1:  # CE's stop exits 0 without stopping anything here (docs/ce-facts.md §6.2, §9.9)
            _record_stop(f"kept pid {pid}")
            print("Could not leave the replica set; CE was not stopped.")
            return 0
        if code == 0:  # delete_member x3, stop_app, reset (docs/ce-lifecycle.md §1.2)
            rabbit.leave(env["HA_NFS_DATA_DIRECTORY"], env["HA_CURRENT_NODE"])
    _terminate(pid)
    _record_stop(f"stopped pid {pid}")
    print("Cloud Exchange (stand-in) stopped.")
    return 0
