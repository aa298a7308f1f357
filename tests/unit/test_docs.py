"""The README's generated tables match their sources, its first lines give the two commands, and the CE facts it
and the code cite live in docs/ with every cited section present; docs/architecture.md draws one mermaid picture
and its generated module table lists every module with its docstring's summary."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

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


def readme_section(title: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(f"\n## {title}")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def test_recovery_names_where_each_lines_tarball_is() -> None:
    from scripts.cenode.phases import backup

    recovery = readme_section("Recovering when a step fails half-way")
    assert "`<sharedDir>/backups/` on 5.x" in recovery
    assert "`/var/backups/cloud-exchange-ha/` on the primary's own disk on 6.x (not the shared folder" in recovery
    assert backup.LOCAL_BACKUPS == "/var/backups/cloud-exchange-ha"  # where the 6.x backup phase writes it


# ---- the CE facts live in docs/ and every citation of them resolves ----------------------------

FACTS_DOCS = {"facts": ROOT / "docs" / "ce-facts.md", "lifecycle": ROOT / "docs" / "ce-lifecycle.md"}
SKIP_PARTS = {"build", "__pycache__", "node_modules"}
#: documents outside the repository, and the old citation forms that pointed at them
OUTSIDE = re.compile(r"ce-ha-fact[s]|lifecycle-fact[s]|shared/doc[s]|\b(?:facts|corrections?|lifecycle),?\s+\(?\d", re.I)
_TOKEN = r"§(?:C\d+|\d+(?:\.\d+)?)(?: (?:[AB](?:\.\d+)?(?: steps? \d+(?:-\d+)?)?|#\d+(?:-#\d+)?(?:, #\d+)*))?"
#: "docs/ce-facts.md §1.9 B.4, §9.10-§9.12 and §C6": the sections after one document's name
CHAIN = re.compile(rf"(?:docs/)?ce-(facts|lifecycle)\.md \(?({_TOKEN}(?:(?:, | / |/|-| and ){_TOKEN})*)")
SECTION = re.compile(r"§(C\d+|\d+(?:\.\d+)?)")
HEADING = re.compile(r"^#{2,4} (C\d+|\d+(?:\.\d+)?)[.\s]", re.M)


def repo_text_files() -> list[Path]:
    """Every text file of the repository (hidden folders, build output and virtualenvs pruned)."""
    found = []
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_PARTS and (not d.startswith(".") or d == ".ci")
                         and not os.path.isfile(os.path.join(folder, d, "pyvenv.cfg")))
        for name in sorted(files):
            path = Path(folder) / name
            if b"\0" not in path.read_bytes():
                found.append(path)
    return found


def headings(doc: str) -> set[str]:
    return set(HEADING.findall(FACTS_DOCS[doc].read_text(encoding="utf-8")))


def citations(path: Path, text: str) -> list[tuple[str, str]]:
    """(document, section) for every § in the file; a § outside a chain is the document's own (docs) or an error."""
    own = next((doc for doc, file in FACTS_DOCS.items() if file == path), None)
    cited, spans = [], []
    for chain in CHAIN.finditer(text):
        cited += [(chain.group(1), s) for s in SECTION.findall(chain.group(2))]
        spans.append(chain.span(2))
    for loose in SECTION.finditer(text):
        if not any(start <= loose.start() < end for start, end in spans):
            cited.append((own or "no document named before it", loose.group(1)))
    return cited


def test_the_facts_docs_keep_their_section_numbers() -> None:
    facts = headings("facts")
    assert {"0", "1.3", "1.9", "2.2", "3.2", "4", "5.1", "6.3", "8", "9.12", "10.2"} <= facts
    assert {f"C{n}" for n in range(1, 11)} <= facts and "C11" not in facts
    assert {f"9.{n}" for n in range(1, 17)} <= facts
    assert {"0", "1.2", "2", "4.3", "5.4", "6.6", "7", "8", "10"} <= headings("lifecycle")


def test_no_file_cites_documents_outside_the_repository() -> None:
    stale = []
    for path in repo_text_files():
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if OUTSIDE.search(line):
                stale.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not stale, "cite docs/ce-facts.md §N or docs/ce-lifecycle.md §N instead:\n" + "\n".join(stale)


def test_every_cited_section_is_a_heading() -> None:
    known = {doc: headings(doc) for doc in FACTS_DOCS}
    dangling, count = [], 0
    for path in repo_text_files():
        for doc, section in citations(path, path.read_text(encoding="utf-8", errors="replace")):
            count += path not in FACTS_DOCS.values()
            if section not in known.get(doc, set()):
                dangling.append(f"{path.relative_to(ROOT)}: {doc} §{section}")
    assert not dangling, "citations of sections that do not exist:\n" + "\n".join(dangling)
    assert count > 100, "the code and tests cite the facts: far fewer citations found than expected"


def test_the_citation_check_catches_what_it_should() -> None:
    # a loose section sign is written escaped: this file is scanned too
    text = "x (docs/ce-facts.md §1.9 B.4, §9.10-§9.12 and §C6) y; see docs/ce-lifecycle.md §1.2 and a loose \u00a73.1"
    assert citations(ROOT / "x.py", text) == [
        ("facts", "1.9"), ("facts", "9.10"), ("facts", "9.12"), ("facts", "C6"), ("lifecycle", "1.2"),
        ("no document named before it", "3.1")]
    assert citations(FACTS_DOCS["lifecycle"], "as \u00a71.2 says; ce-facts.md §8") == [("facts", "8"), ("lifecycle", "1.2")]
    # old forms, written with escapes so that this file itself does not hold them
    for old in ("(facts\x202.2)", "correction\x206", "Facts\x209.12:", "corrections\x206 and 9", "/work/shared/doc\x73/x.md",
                "ce-ha-fact\x73.md", "facts,\x20correction 10"):
        assert OUTSIDE.search(old), old
    assert not OUTSIDE.search("CE's GlusterFS facts (None on 5.x)")


# ---- docs/architecture.md: one picture, and a module table that cannot go stale ----------------

ARCHITECTURE = ROOT / "docs" / "architecture.md"
#: the folders whose every module the table must list (written here, not read from doc_tables)
LISTED_FOLDERS = ("components", "scripts/cenode", "scripts/cenode/lines", "scripts/cenode/phases", "offline", "policy")


def test_architecture_tables_are_current() -> None:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    assert doc_tables.render(text, doc_tables.DOCUMENTS[doc_tables.ARCHITECTURE], "docs/architecture.md") == text, \
        "docs/architecture.md tables are stale: run make docs"


def test_architecture_draws_one_mermaid_picture() -> None:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    assert text.count("```mermaid\n") == 1
    picture = text.split("```mermaid\n", 1)[1].split("\n```", 1)[0]
    for part in ("__main__.py", "components/settings.py", "components/cluster.py", "scripts/ce-node", "cenode/catalogue.py",
                 "for_version", "cenode/phases/", "policy/", "offline/", "ce-health", "tests/"):
        assert part in picture, part


def test_the_module_table_lists_every_module_with_its_summary() -> None:
    table = ARCHITECTURE.read_text(encoding="utf-8").split("<!-- BEGIN modules -->\n", 1)[1].split("<!-- END modules -->", 1)[0]
    listed = re.findall(r"^\| `([^`]+)` \|", table, re.M)
    expected = {f"{folder}/{name}" for folder in LISTED_FOLDERS for name in os.listdir(ROOT / folder) if name.endswith(".py")}
    assert len(expected) > 60
    assert expected <= set(listed), sorted(expected - set(listed))
    assert "scripts/cenode/lines/ce6.py" in listed and "scripts/cenode/phases/gluster_join.py" in listed
    assert len(listed) == len(set(listed))
    assert "| `scripts/cenode/lines/__init__.py` | CE release lines: the ONE place that maps a version tag to its line (``for_version``). |" in table


def test_a_module_without_a_docstring_fails_the_module_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for folder in LISTED_FOLDERS:
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
    (tmp_path / "__main__.py").write_text('"""Entry point.\n\nMore."""\n', encoding="utf-8")
    (tmp_path / "components" / "good.py").write_text('"""Owns a | pipe\nover two lines.\n\nDetails."""\n', encoding="utf-8")
    monkeypatch.setattr(doc_tables, "ROOT", tmp_path)
    monkeypatch.setattr(doc_tables, "MODULE_FOLDERS", LISTED_FOLDERS)
    assert doc_tables.module_table().splitlines()[2:] == [
        "| `__main__.py` | Entry point. |", "| `components/good.py` | Owns a \\| pipe over two lines. |"]
    (tmp_path / "offline" / "bare.py").write_text("X = 1\n", encoding="utf-8")
    with pytest.raises(SystemExit, match="offline/bare.py has no docstring"):
        doc_tables.module_table()


def test_the_readme_points_to_the_architecture_instead_of_copying_its_table() -> None:
    section = readme_section("Architecture").split("\n### ", 1)[0]
    assert "docs/architecture.md" in section
    assert "| `components/" not in section and "```mermaid" not in section
