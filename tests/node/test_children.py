"""Issue 13, rule 2: a phase ended by SIGTERM (the step's outer ``timeout``) ends the commands it started.

``cenode.children`` registers each command's own process group; ``end_all`` sends SIGTERM, then
SIGKILL after the grace; the CLI's handler turns it into one ERROR line and exit 1. Real processes
throughout (``sleep`` in groups of their own), and one whole ``ce-node fetch-ce`` in a subprocess
whose ``git`` (a fake on PATH) hangs with a grandchild.
"""

from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.cenode import children
from scripts.cenode.system import PhaseLog, Runner

from .conftest import REPO, make_node

CENODE = REPO / "scripts" / "cenode"


def gone(pid: int) -> bool:
    """No process ``pid`` (a zombie of ours is reaped first)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def wait_until(check: object, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def group(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """``sh`` in a group of its own with a grandchild ``sleep``; its pid is written to ``grandchild``."""
    mark = tmp_path / "grandchild"
    proc = subprocess.Popen(["sh", "-c", f"sleep 300 & echo $! > {mark}; sleep 300"], start_new_session=True)
    assert wait_until(lambda: mark.exists() and mark.read_text().strip())
    yield proc, mark
    for pid in (proc.pid, int(mark.read_text())):
        if not gone(pid):
            os.kill(pid, signal.SIGKILL)


def test_end_all_terminates_every_registered_group_with_its_grandchildren(group: tuple[subprocess.Popen[bytes], Path]) -> None:
    proc, mark = group
    register = children.Children()
    register.started(proc.pid)
    assert register.groups == [proc.pid]
    started = time.monotonic()
    assert register.end_all(grace=5) == [proc.pid]
    assert time.monotonic() - started < 4  # they obey SIGTERM: no waiting out the grace
    assert gone(proc.pid) and wait_until(lambda: gone(int(mark.read_text())))
    assert register.groups == [] and register.ending


def test_a_group_that_ignores_sigterm_is_killed_after_the_grace(tmp_path: Path) -> None:
    mark = tmp_path / "grandchild"
    proc = subprocess.Popen(["sh", "-c", f"trap '' TERM; sleep 300 & echo $! > {mark}; sleep 300"], start_new_session=True)
    assert wait_until(lambda: mark.exists() and mark.read_text().strip())
    register = children.Children()
    register.started(proc.pid)
    started = time.monotonic()
    register.end_all(grace=1.5)
    assert 1.5 <= time.monotonic() - started < 5
    assert wait_until(lambda: gone(proc.pid)) and wait_until(lambda: gone(int(mark.read_text())))  # SIGKILL lands at once


def test_a_command_that_starts_while_ce_node_ends_is_killed_at_once() -> None:
    register = children.Children()
    assert register.end_all() == []
    proc = subprocess.Popen(["sleep", "300"], start_new_session=True)
    register.started(proc.pid)
    assert proc.wait(timeout=5) == -signal.SIGKILL and register.groups == []


def test_an_unregistered_group_is_not_touched(group: tuple[subprocess.Popen[bytes], Path]) -> None:
    proc, _ = group
    register = children.Children()
    register.started(proc.pid)
    register.finished(proc.pid)
    register.finished(None)  # a fake child without pid
    assert register.end_all(grace=0.2) == []
    assert not gone(proc.pid)


def test_the_handler_ends_the_groups_then_raises_ended_once(group: tuple[subprocess.Popen[bytes], Path]) -> None:
    proc, _ = group
    register = children.Children()
    register.started(proc.pid)
    handler = children.on_sigterm(register)
    with pytest.raises(children.Ended) as ended:
        handler(signal.SIGTERM, None)
    assert ended.value.groups == [proc.pid] and ended.value.signum == signal.SIGTERM and gone(proc.pid)
    handler(signal.SIGTERM, None)  # timeout's second SIGTERM (to the group) while ending: ignored
    assert not issubclass(children.Ended, Exception)  # no phase's `except Exception` holds it up


def test_the_runner_runs_each_command_in_a_group_of_its_own_registered_while_it_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, int]] = []
    monkeypatch.setattr(children.CHILDREN, "started", lambda pid: seen.append(("started", pid)))
    monkeypatch.setattr(children.CHILDREN, "finished", lambda pid: seen.append(("finished", pid)))
    log = PhaseLog(str(tmp_path / "log"), "test")
    try:
        result = Runner(log).run([sys.executable, "-c", "import os; print(os.getpid(), os.getpgid(0), os.getsid(0))"], timeout=30)
    finally:
        log.close()
    pid, pgid, sid = (int(x) for x in result.out.split())
    assert pid == pgid == sid  # its own session and process group
    assert seen == [("started", pid), ("finished", pid)]


def test_5x_setup_through_pexpect_runs_in_its_own_session_registered_while_it_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("pexpect")
    from scripts.cenode.prompts import PRIMARY_PROMPTS, Answers, DriverLimits, SetupDriver

    seen: list[tuple[str, int | None]] = []
    monkeypatch.setattr(children.CHILDREN, "started", lambda pid: seen.append(("started", pid)))
    monkeypatch.setattr(children.CHILDREN, "finished", lambda pid: seen.append(("finished", pid)))
    script = tmp_path / "setup"
    script.write_text(f"#!{sys.executable}\nimport os\nprint('ids', os.getpid(), os.getsid(0), os.getpgid(0))\n")
    script.chmod(0o755)
    said: list[str] = []
    answers = Answers(role="primary", tenant_url="test", shared_dir="/mnt/ce-ha", cluster_ips=["10.0.1.10"], node_ip="10.0.1.10",
                      jwt_secret="jwtSecret42", maintenance_password="Maint1pass")
    limits = DriverLimits(total=30, prompt_silence=10, unknown_prompt_silence=2, settle=0.2)
    SetupDriver(["./setup"], str(tmp_path), PRIMARY_PROMPTS, answers, said.append, limits, env={"PATH": os.environ["PATH"]}).run()
    ids = next(line for line in "\n".join(said).splitlines() if line.startswith("ids ")).split()[1:]
    pid, sid, pgid = (int(x) for x in ids)
    assert pid == sid == pgid  # pexpect's pty fork: a session leader, out of reach of ce-node's group
    assert seen == [("started", pid), ("finished", pid)]


#: the only calls that start a process in the node agent, and where each may be
SPAWNS = {"Popen", "spawn", "system", "fork", "forkpty", "execv", "execvp", "execve", "run", "call", "check_call", "check_output",
          "spawnv", "spawnvp", "posix_spawn", "posix_spawnp", "popen"}
ALLOWED = {("system.py", "subprocess.Popen"), ("prompts.py", "pexpect.spawn")}


def test_every_command_starts_in_one_of_the_two_registering_places() -> None:
    found = set()
    for path in sorted(CENODE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name):
                module, name = node.func.value.id, node.func.attr
                if module in ("subprocess", "os", "pexpect", "pty") and name in SPAWNS:
                    found.add((path.name, f"{module}.{name}"))
    assert found == ALLOWED


HANGING_GIT = """#!/bin/sh
sleep 301 &
echo $! > "{marks}/grandchild"
echo $$ > "{marks}/child"
sleep 302
"""

DRIVER = """
import sys
sys.path.insert(0, {scripts!r})
from cenode import __main__ as cli
from cenode.system import NodeEnv
env = NodeEnv(root={root!r}, config_dir={config!r}, log_dir={logs!r}, state_dir={state!r}, require_root=False)
sys.exit(cli.main(["fetch-ce"], env=env))
"""


def test_ce_node_ended_by_sigterm_ends_the_hanging_git_and_says_so_in_one_line(tmp_path: Path) -> None:
    fakebin, marks, config = tmp_path / "bin", tmp_path / "marks", tmp_path / "etc-ce"
    for folder in (fakebin, marks, config, tmp_path / "root"):
        folder.mkdir()
    git = fakebin / "git"
    git.write_text(HANGING_GIT.format(marks=marks))
    git.chmod(0o755)
    (config / "node.json").write_text(make_node(tmp_path).to_json())
    driver = textwrap.dedent(DRIVER).format(
        scripts=str(REPO / "scripts"), root=str(tmp_path / "root"), config=str(config), logs=str(tmp_path / "log"), state=str(tmp_path / "state")
    )
    env = {**os.environ, "PATH": f"{fakebin}:{os.environ['PATH']}"}
    proc = subprocess.Popen([sys.executable, "-c", driver], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert wait_until(lambda: (marks / "grandchild").exists() and (marks / "child").exists(), 30), proc.poll()
        time.sleep(0.2)
        child, grandchild = int((marks / "child").read_text()), int((marks / "grandchild").read_text())
        proc.send_signal(signal.SIGTERM)  # what coreutils timeout sends when the step's outer bound runs out
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1 and out == b""
    lines = [ln for ln in err.decode().splitlines() if not ln.startswith("progress fetch-ce: ")]
    assert len(lines) == 1, lines
    assert lines[0].startswith("ERROR fetch-ce: ended by SIGTERM after ")
    assert "(the step's outer bound is timeout 900 s); ended 1 command process group(s) it had started - fix: read " in lines[0]
    assert wait_until(lambda: gone(child) and gone(grandchild), 10), "git or its child outlived ce-node"
    assert "ended by SIGTERM" in (tmp_path / "log" / "fetch-ce.log").read_text()
