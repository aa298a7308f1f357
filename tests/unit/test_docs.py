"""The README's generated tables match their sources, and its first lines give the two commands."""

from __future__ import annotations

from pathlib import Path

from tools import doc_tables

ROOT = Path(__file__).resolve().parents[2]


def test_readme_tables_are_current() -> None:
    text = doc_tables.README.read_text(encoding="utf-8")
    assert doc_tables.render(text) == text, "README tables are stale: run make docs"


def test_settings_table_lists_every_key_and_marks_secrets() -> None:
    table = doc_tables.settings_table()
    assert "| `cloud-exchange-ha:jwtSecret` | string (secret) | **required** |" in table
    assert "| `cloud-exchange-ha:uiPort` | integer | `443` |" in table


def test_readme_opens_with_the_plan_and_test_commands_ci_runs() -> None:
    head = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()[:5]
    assert any("`make plan STACK=dev`" in line for line in head)
    assert any("`make test`" in line for line in head)
    assert "make test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
