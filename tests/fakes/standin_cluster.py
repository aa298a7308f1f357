"""A running three-node 5.x stand-in cluster on loopback, and what happens to a node that dies (for tests).

``started_cluster(...)``: clones, sets up (the first node as CE primary, the others ``--location``)
and starts the stand-in CE on the given loopback IPs; every fake mongod is stopped at the end.
``die``: the VM is gone (its mongod killed without ``./stop``, its checkout deleted); ``replace``: a
new VM at the same IP (fresh checkout, ``./setup --location``, docs/ce-lifecycle.md §5.2 step 4).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from tests.fakes.test_standin_ce import JWT, PASSWORD, SUCCESS, clone, piped_setup, run_script, script_env

QUEUES = ("cloudexchange_9", "cloudexchange_6", "cloudexchange_3")


@contextlib.contextmanager
def started_cluster(bare_repo: str, pins_dir: str, base: Path, ips: Sequence[str]) -> Iterator[tuple[list[Path], Path, dict[str, str]]]:
    """(node checkouts, the shared folder, the scripts' environment) of a started cluster."""
    env = script_env(pins_dir)
    nfs = base / "nfs"
    nfs.mkdir()
    nodes: list[Path] = []
    try:
        for index, ip in enumerate(ips):
            node = clone(bare_repo, base / f"node{index + 1}")
            nodes.append(node)
            if index == 0:
                lines = ["n", "test", "y", str(nfs), ",".join(ips), ip, "https", "", JWT, PASSWORD, PASSWORD, "", "n", "n"]
                result = piped_setup(node, lines, env, "--ignore-failures")
            else:
                result = piped_setup(node, [ip, "n", "n"], env, "--location", str(nfs), "--ignore-failures")
            assert SUCCESS in result.stdout, result.stdout
        for node in nodes:
            started = run_script(node, "start", env)
            assert started.returncode == 0, started.stdout
        yield nodes, nfs, env
    finally:
        for pidfile in base.glob("node*/data/standin/fake_mongod.pid"):
            kill(pidfile, signal.SIGTERM)


def kill(pidfile: Path, how: signal.Signals = signal.SIGKILL) -> None:
    """Stop the fake mongod of a pidfile (checked against its command line) and wait until it is gone."""
    try:
        pid = int(pidfile.read_text().strip())
        if b"fake_mongod" in Path(f"/proc/{pid}/cmdline").read_bytes():
            os.kill(pid, how)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
                time.sleep(0.05)
    except (OSError, ValueError):
        pass


def die(node: Path) -> None:
    """The VM is gone: its mongod killed without ./stop, its disk thrown away."""
    kill(node / "data" / "standin" / "fake_mongod.pid")
    shutil.rmtree(node)


def replace(bare_repo: str, node: Path, nfs: Path, ip: str, env: dict[str, str]) -> None:
    """A new VM with the same IP: fresh checkout, ./setup --location (docs/ce-lifecycle.md §5.2 step 4)."""
    clone(bare_repo, node)
    result = piped_setup(node, [ip, "n", "n"], env, "--location", str(nfs), "--ignore-failures")
    assert SUCCESS in result.stdout, result.stdout


def rabbit_state(nfs: Path) -> dict[str, Any]:
    state: dict[str, Any] = json.loads((nfs / ".standin" / "rabbitmq.json").read_text())
    return state


def rabbit_argv(*argv: str) -> list[str]:
    """The stand-in's rabbitmqctl / rabbitmq-queues, run in a node's checkout."""
    return [sys.executable, "-m", "standin.rabbit", *argv]


def rabbit_cli(node: Path, env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(rabbit_argv(*argv), cwd=node, env=env, capture_output=True, text=True, timeout=30, check=False)
