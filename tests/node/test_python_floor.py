"""The node agent's python floor (3.8): the launcher refuses older interpreters with one line, the
health check runs on 3.8, and lint and launcher agree on the floor.

The floor itself is proven by lint (``make lint``: ruff, vermin and mypy at 3.8 over ``scripts/``);
the test hosts are Debian 12 (python 3.11). Tests that need an old interpreter run where this
machine has one (pyenv) and skip elsewhere.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import REPO
from .test_cli import _python

SCRIPTS = REPO / "scripts"
FIX = "- fix: make python3 3.8 or later (RHEL 8: dnf install python39; alternatives --set python3 /usr/bin/python3.9)"


def launcher_path(tmp_path: Path, python3: str | None) -> str:
    """A PATH holding only what the launcher needs, with ``python3`` being the given interpreter (or none)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("dirname", "readlink"):
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    if python3 is not None:
        (bin_dir / "python3").symlink_to(python3)
    return str(bin_dir)


def launch(path: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["/bin/bash", str(SCRIPTS / "ce-node"), *argv], env={"PATH": path}, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("version, shown", [("3.6", r"3\.6\.\d+"), ("2.7", r"2\.7\.\d+")])  # RHEL 8's platform python; a python 2
def test_an_old_python3_is_refused_with_one_line(tmp_path: Path, version: str, shown: str) -> None:
    old = _python(version)
    if old is None:
        pytest.skip(f"no python{version} on this machine")
    result = launch(launcher_path(tmp_path, old), "--config-dir", str(tmp_path / "etc"), "preflight", "--skip-peers")
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert re.fullmatch(rf"ERROR preflight: python3 is {shown}, the node agent needs python 3\.8 or later {re.escape(FIX)}", lines[0])


def test_no_python3_is_refused_with_one_line(tmp_path: Path) -> None:
    result = launch(launcher_path(tmp_path, None), "wait")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.splitlines() == [f"ERROR wait: python3 is missing, the node agent needs python 3.8 or later {FIX}"]


def test_the_floor_python_runs_the_launcher(tmp_path: Path) -> None:
    floor = _python("3.8")
    if floor is None:
        pytest.skip("no python3.8 on this machine")
    result = launch(launcher_path(tmp_path, floor), "--config-dir", str(tmp_path / "etc"), "--log-dir", str(tmp_path / "log"), "certs")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.splitlines() == [
        f"ERROR certs: {tmp_path / 'etc'}/node.json is missing - fix: let the program copy the node settings first"
        if os.geteuid() == 0
        else "ERROR certs: must run as root - fix: run it with sudo"
    ]


#: pymongo is not installed for the old interpreters: the names health.py imports, as plain classes
PYMONGO_NAMES = """
import sys, types
errors = types.ModuleType("pymongo.errors")
for name in ("ExecutionTimeout", "NetworkTimeout", "OperationFailure", "PyMongoError", "ServerSelectionTimeoutError"):
    setattr(errors, name, type(name, (Exception,), {}))
pymongo = types.ModuleType("pymongo")
pymongo.errors = errors
sys.modules.update({"pymongo": pymongo, "pymongo.errors": errors})
"""


def test_the_health_check_judges_and_renders_on_the_floor_python(tmp_path: Path) -> None:
    """Two refused nodes: every judging step (the node/answer pairing included) and the table run on 3.8."""
    floor = _python("3.8")
    if floor is None:
        pytest.skip("no python3.8 on this machine")
    code = PYMONGO_NAMES + (
        "from cenode import health\n"
        "sys.exit(health.main(['--nodes', '127.0.0.1:1,127.0.0.1:2', '--ui-port', '1', '--ui-protocol', 'http', '--timeout', '2',\n"
        f"                     '--config-dir', {str(tmp_path)!r}, '--credentials', {str(tmp_path / 'none.json')!r},\n"
        f"                     '--shared-env', {str(tmp_path / 'none.env')!r}]))\n"
    )
    env = {"PYTHONPATH": str(SCRIPTS), "PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run([floor, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    rows = [line.split()[:2] for line in result.stdout.splitlines() if line.startswith("127.0.0.1")]
    assert rows == [["127.0.0.1:1", "UNREACHABLE"], ["127.0.0.1:2", "UNREACHABLE"]], result.stdout


def test_lint_and_launcher_share_the_floor() -> None:
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^NODE_PYTHON := 3\.8$", makefile, re.M)
    assert "--python-version $(NODE_PYTHON) scripts" in makefile and "--target=$(NODE_PYTHON)- scripts" in makefile
    assert re.search(r'^target-version = "py38"$', (SCRIPTS / "ruff.toml").read_text(encoding="utf-8"), re.M)
    assert "sys.version_info < (3, 8)" in (SCRIPTS / "ce-node").read_text(encoding="utf-8")
    assert "mypy==1.16.1" in (REPO / "requirements-node-lint.txt").read_text(encoding="utf-8").splitlines()
