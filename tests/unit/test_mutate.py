"""The mutation-testing target: its kill-rate arithmetic and the table it runs from."""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

import pytest

from tools import mutate

REPO = Path(__file__).resolve().parents[2]

LISTING = """
    components.storage.x_a__mutmut_1: killed
    components.storage.x_a__mutmut_2: survived
    components.storage.x_a__mutmut_3: timeout
    components.storage.x_a__mutmut_4: not checked
    components.storage.x_a__mutmut_5: no tests
    components.storage.x_a__mutmut_6: killed
"""


def test_score_counts_killed_and_timeouts_over_what_was_checked() -> None:
    result = mutate.score(LISTING)
    assert (result.killed, result.total) == (3, 5)
    assert result.survivors == ("components.storage.x_a__mutmut_2", "components.storage.x_a__mutmut_5")
    assert round(result.rate) == 60


def test_score_of_nothing_checked_is_zero_not_a_division_error() -> None:
    assert mutate.score("    m.x__mutmut_1: not checked\n").rate == 0.0


def test_every_target_names_files_that_exist() -> None:
    for name, target in mutate.TARGETS.items():
        for path in (*target.sources, *target.tests):
            assert (REPO / path).exists(), f"{name}: {path}"


def test_config_is_valid_toml_selecting_the_targets_sources_and_tests() -> None:
    target = mutate.TARGETS["storage"]
    table = tomllib.loads(mutate.mutmut_config(target))["tool"]["mutmut"]
    assert table["source_paths"] == ["components/storage.py"]
    assert table["pytest_add_cli_args_test_selection"] == ["tests/unit/test_storage_details.py"]
    assert "not hosts" in table["pytest_add_cli_args"]
    assert "tests" in table["also_copy"]


def test_the_sandbox_runs_the_launchers_with_this_venv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """tests/health/test_cli.py runs ./ce-health, which takes .venv/bin/python next to itself."""
    monkeypatch.setattr(mutate, "SCRATCH", tmp_path)
    scratch = mutate.prepare_scratch("health", mutate.TARGETS["health"])
    assert (scratch / "mutants" / ".venv" / "bin" / "python").exists()
    assert "ce-health" in tomllib.loads(mutate.mutmut_config(mutate.TARGETS["health"]))["tool"]["mutmut"]["also_copy"]
    assert "[mutmut]" in (scratch / "mutants" / "scripts" / "setup.cfg").read_text(encoding="utf-8")


def test_a_run_that_tested_no_mutant_fails_and_records_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """mutmut stops before any mutant when the unmutated tests fail: that is no 0 % to put in the README."""
    monkeypatch.setattr(mutate, "prepare_scratch", lambda name, target: tmp_path)
    monkeypatch.setattr(mutate, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(mutate.subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 1, stdout="", stderr=""))
    assert mutate.main(["health"]) == 1
    assert not (tmp_path / "results").exists()
    assert "health: no mutant was tested" in capsys.readouterr().err
