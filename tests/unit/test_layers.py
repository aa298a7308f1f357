"""The layers hold: import-linter's contracts (pyproject.toml) are kept by the repository, name the
packages the architecture separates, and each breaks when an import it forbids is planted in a copy."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
PACKAGES = ("scripts", "components", "offline", "policy", "tools", "bench", "tests")


def contracts() -> dict[str, dict[str, Any]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    return {c["id"]: c for c in config["contracts"]}


def lint(where: Path) -> tuple[int, str]:
    """``lint-imports`` as ``make lint`` runs it, in ``where``; wide lines so no contract name wraps."""
    env = {**os.environ, "COLUMNS": "1000", "PYTHONPATH": ""}
    done = subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=where, env=env, capture_output=True, text=True, timeout=300)
    return done.returncode, done.stdout + done.stderr


def test_the_repository_keeps_every_contract() -> None:
    code, out = lint(ROOT)
    assert code == 0, out
    for contract in contracts().values():
        assert f"{contract['name']} KEPT" in out, out


def test_the_contracts_name_the_layers_of_the_architecture() -> None:
    by_id = contracts()
    node = by_id["node-agent"]
    assert node["type"] == "forbidden" and node["source_modules"] == ["scripts"]
    assert {"components", "offline", "policy", "tests", "pulumi", "pulumi_aws", "pulumi_command", "pulumi_policy"} <= set(node["forbidden_modules"])
    assert by_id["phases"]["type"] == "independence" and by_id["phases"]["modules"] == ["scripts.cenode.phases.*"]
    assert by_id["policy-pack"]["source_modules"] == ["policy"] and "offline" in by_id["policy-pack"]["forbidden_modules"]
    assert by_id["offline-plan"]["source_modules"] == ["offline"]
    assert {"policy.pack", "paramiko", "tests"} <= set(by_id["offline-plan"]["forbidden_modules"])


def copy_of_the_packages(tmp_path: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".venv", ".pytest_cache")
    for name in PACKAGES:
        shutil.copytree(ROOT / name, tmp_path / name, ignore=ignore)
    shutil.copy2(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


@pytest.mark.parametrize(("contract_id", "module", "planted"), [
    ("node-agent", "scripts/cenode/health.py", "import pulumi"),
    ("node-agent", "scripts/cenode/nodeconfig.py", "from components import settings"),
    ("phases", "scripts/cenode/phases/bricks.py", "from .mount import fstab_line"),
    ("policy-pack", "policy/rules.py", "from offline import harness"),
    ("offline-plan", "offline/plan.py", "import paramiko"),
    ("offline-plan", "offline/rerun.py", "from tests.hosts import replay"),
    ("pulumi-side", "components/cluster.py", "from offline import mocks"),
])
def test_a_planted_forbidden_import_breaks_its_contract_only(tmp_path: Path, contract_id: str, module: str, planted: str) -> None:
    copy = copy_of_the_packages(tmp_path)
    target = copy / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n{planted}  # planted by test_layers\n", encoding="utf-8")
    code, out = lint(copy)
    assert code != 0, out
    for other_id, contract in contracts().items():
        assert f"{contract['name']} {'BROKEN' if other_id == contract_id else 'KEPT'}" in out, out
