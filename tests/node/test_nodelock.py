"""The node-wide lock: one phase that changes the node at a time; a second caller waits (bounded)
and then fails naming the holder (pid, phase, since when); read-only phases are never blocked."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from scripts.cenode import __main__ as cli
from scripts.cenode import catalogue, setup_marker
from scripts.cenode.nodelock import NodeLock
from scripts.cenode.system import Ctx, NodeEnv, PhaseError, PhaseResult

from .conftest import REPO, make_node

#: a separate process holding the lock as phase PHASE for HOLD seconds (or until killed)
HOLDER = """
import sys, time
sys.path.insert(0, sys.argv[1])
from scripts.cenode.nodelock import NodeLock
lock = NodeLock(sys.argv[2], sys.argv[3], 0)
lock.acquire()
print("held", flush=True)
time.sleep(float(sys.argv[4]))
lock.release()
"""


def hold(state_dir: str, phase: str, seconds: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(REPO), state_dir, phase, str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "held\n"
    return proc


@pytest.fixture
def holders() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        proc.kill()
        proc.wait()


def test_a_second_caller_fails_naming_the_holder(tmp_path: Path, holders: list[subprocess.Popen[str]]) -> None:
    holders.append(hold(str(tmp_path), "stop", 60))
    started = time.monotonic()
    with pytest.raises(PhaseError) as failed:
        NodeLock(str(tmp_path), "setup", 1.5).acquire()
    assert 1.5 <= time.monotonic() - started < 10  # it waited, bounded
    assert re.search(rf"\(pid {holders[0].pid}, phase stop, since \d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\dZ\); waited 1 s", failed.value.what)
    assert "let it finish" in failed.value.fix


def test_a_waiting_caller_gets_the_lock_when_the_holder_ends(tmp_path: Path, holders: list[subprocess.Popen[str]]) -> None:
    holders.append(hold(str(tmp_path), "stop", 1.0))
    started = time.monotonic()
    with NodeLock(str(tmp_path), "setup", 20) as lock:
        assert time.monotonic() - started >= 0.5  # it did wait for the holder
        record = json.loads(Path(lock.path).read_text())
        assert record["pid"] == os.getpid() and record["phase"] == "setup"
    assert Path(tmp_path / "ce-node.lock").read_text() == ""  # released: no holder recorded


def test_a_killed_holder_leaves_no_lock_behind(tmp_path: Path, holders: list[subprocess.Popen[str]]) -> None:
    proc = hold(str(tmp_path), "prepare", 60)
    proc.kill()  # what timeout(1)'s SIGKILL or a crash does
    proc.wait()
    with NodeLock(str(tmp_path), "prepare", 0):
        pass


def with_node(env: NodeEnv, tmp_path: Path, **over: object) -> None:
    os.makedirs(env.config_dir, exist_ok=True)
    (Path(env.config_dir) / "node.json").write_text(make_node(tmp_path, **over).to_json())


def test_ce_node_refuses_a_changing_phase_while_another_runs(
    node_env: NodeEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, holders: list[subprocess.Popen[str]]
) -> None:
    with_node(node_env, tmp_path, timeouts={"lock": 1})
    ran: list[str] = []

    def record(ctx: Ctx, args: object) -> PhaseResult:
        ran.append(ctx.phase)
        return PhaseResult("changed", "done")

    monkeypatch.setattr(cli, "dispatch", record)
    holders.append(hold(node_env.state_dir, "setup", 60))
    out: list[str] = []
    err: list[str] = []
    assert cli.main(["stop"], env=node_env, out=out.append, err=err.append) == 1
    assert out == [] and len(err) == 1 and ran == []
    assert err[0].startswith(f"ERROR stop: another ce-node phase is changing this node (pid {holders[0].pid}, phase setup, since ")
    # a phase that changes nothing is not held up
    assert cli.main(["inspect"], env=node_env, out=out.append, err=err.append) == 0 and ran == ["inspect"]
    holders[0].kill()
    holders[0].wait()
    assert cli.main(["stop"], env=node_env, out=out.append, err=err.append) == 0 and ran == ["inspect", "stop"]
    with NodeLock(node_env.state_dir, "next", 0):  # released after the phase
        pass


def test_ce_node_releases_the_lock_when_the_phase_fails(node_env: NodeEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with_node(node_env, tmp_path)

    def failing(ctx: object, args: object) -> PhaseResult:
        raise RuntimeError("boom")

    monkeypatch.setattr(cli, "dispatch", failing)
    assert cli.main(["mount"], env=node_env, out=lambda line: None, err=lambda line: None) == 1
    with NodeLock(node_env.state_dir, "next", 0):
        pass


def test_the_phases_that_change_the_node_take_the_lock() -> None:
    changing = {name for name, phase in catalogue.PHASES.items() if phase.changes_node}
    assert changing == {"prepare", "mount", "bricks", "fetch-ce", "backup", "certs", "setup", "gluster-join", "start", "stop", "evict",
                        "restore-standalone", "roll-back"}


def marker_key(state_dir: str) -> bytes:
    return setup_marker.marker_key(state_dir)


def test_the_setup_markers_key_is_one_key_however_many_create_it_at_once(tmp_path: Path) -> None:
    with ProcessPoolExecutor(max_workers=6) as pool:
        keys = list(pool.map(marker_key, [str(tmp_path)] * 24))
    assert len(set(keys)) == 1 and len(keys[0]) == 32
    assert sorted(p.name for p in tmp_path.iterdir()) == ["setup-marker.key"]  # no temp file left
    assert (tmp_path / "setup-marker.key").stat().st_mode & 0o777 == 0o600
