"""Doc tables generated from their one source, so the docs cannot drift.

Owns: the settings table (from ``Pulumi.yaml``), the port table (from the release lines in ``scripts/cenode/lines``),
the module table of ``docs/architecture.md`` (each module's path and its docstring's summary), the README's
mutation table (the latest kill rate per core module, from ``docs/mutation/<module>.txt``) and rewriting the
marked blocks (``<!-- BEGIN name -->`` ... ``<!-- END name -->``) of ``README.md`` and ``docs/architecture.md``.
``make docs`` rewrites them; ``make lint`` (``--check``) and a test fail when a document is stale, and the
module table refuses a module without a docstring.

Must not touch: anything but those documents' marked blocks.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Callable
from pathlib import Path

from components import storage
from components.settings import key, schema
from scripts.cenode import lines
from tools import mutate

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
#: the folders whose modules the architecture's module table lists, in its order (after ``__main__.py``)
MODULE_FOLDERS = ("components", "scripts/cenode", "scripts/cenode/lines", "scripts/cenode/phases", "offline", "policy", "tools", "bench")


def settings_table() -> str:
    rows = ["| setting | type | default | description |", "|---|---|---|---|"]
    for name, spec in schema().items():
        kind = spec.get("type", "string") + (" (secret)" if spec.get("secret") else "")
        if "default" in spec:
            default = spec["default"]
            shown = "`" + (str(default).lower() if isinstance(default, bool) else str(default)) + "`" if default not in ("", []) else "(empty)"
        else:
            shown = "**required**"
        description = str(spec.get("description", "")).replace("|", "\\|")
        rows.append(f"| `{key(name)}` | {kind} | {shown} | {description} |")
    return "\n".join(rows)


def port_table() -> str:
    known = list(lines.LINES.values())
    rows = ["| port (TCP) | purpose | " + " | ".join(f"CE {line.name}" for line in known) + " |",
            "|---|---|" + "---|" * len(known)]
    labels: dict[str, str] = {}
    for line in known:
        for port in line.cluster_ports:
            labels.setdefault(port.label, port.purpose)
    for label, purpose in sorted(labels.items(), key=lambda item: int(item[0].split("-")[0])):
        marks = ["yes" if any(p.label == label for p in line.cluster_ports) else "-" for line in known]
        rows.append(f"| {label} | {purpose} | " + " | ".join(marks) + " |")
    nfs = ["yes" if storage.KINDS[line.storage].nfs_file_system else "-" for line in known]
    rows.append(f"| {lines.NFS_PORT} | NFS, nodes to EFS only | " + " | ".join(nfs) + " |")
    ui = "CE UI, from `uiCidrs` (with a load balancer: from its group, which takes `uiCidrs`) and between nodes"
    rows.append(f"| uiPort (443) | {ui} | " + " | ".join("yes" for _ in known) + " |")
    rows.append(f"| {lines.SSH_PORT} | SSH, from `sshCidrs` or the bastion's group | " + " | ".join("yes" for _ in known) + " |")
    return "\n".join(rows)


def modules() -> list[Path]:
    """Every module the module table lists: ``__main__.py``, then each of ``MODULE_FOLDERS`` in name order."""
    return [ROOT / "__main__.py"] + [path for folder in MODULE_FOLDERS for path in sorted((ROOT / folder).glob("*.py"))]


def summary(path: Path) -> str:
    """The module docstring's summary (its first paragraph) on one line; SystemExit naming a module without one."""
    docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"), str(path)))
    if not docstring or not docstring.strip():
        raise SystemExit(f"{path.relative_to(ROOT)} has no docstring: say in one sentence what the module owns")
    return " ".join(docstring.strip().split("\n\n")[0].split())


def module_table() -> str:
    rows = ["| module | what it owns (its docstring's summary) |", "|---|---|"]
    for path in modules():
        rows.append(f"| `{path.relative_to(ROOT).as_posix()}` | " + summary(path).replace("|", "\\|") + " |")
    return "\n".join(rows)


def mutation_table() -> str:
    """The latest ``make mutate`` result per core module (the first line of its committed raw results)."""
    rows = ["| module (`make mutate MODULE=`) | sources | killed | of | kill rate | raw results |", "|---|---|---|---|---|---|"]
    for name, target in mutate.TARGETS.items():
        sources = ", ".join(f"`{source}`" for source in target.sources)
        results = mutate.RESULTS / f"{name}.txt"
        found = re.match(rf"{name}: killed (\d+) of (\d+) mutants", results.read_text(encoding="utf-8")) if results.is_file() else None
        if found:
            killed, total = int(found[1]), int(found[2])
            notes = mutate.RESULTS / f"{name}-notes.md"
            why = f", survivors explained in [{notes.name}](docs/mutation/{notes.name})" if notes.is_file() else ""
            rows.append(f"| {name} | {sources} | {killed} | {total} | {100 * killed / total:.0f} % | "
                        f"[docs/mutation/{name}.txt](docs/mutation/{name}.txt){why} |")
        else:
            rows.append(f"| {name} | {sources} | - | - | not run yet | - |")
    return "\n".join(rows)


Blocks = dict[str, Callable[[], str]]
BLOCKS: Blocks = {"settings": settings_table, "ports": port_table, "mutation": mutation_table}
#: each generated document and its blocks
DOCUMENTS: dict[Path, Blocks] = {README: BLOCKS, ARCHITECTURE: {"modules": module_table}}


def render(text: str, blocks: Blocks = BLOCKS, where: str = "README.md") -> str:
    for name, make in blocks.items():
        pattern = re.compile(rf"(<!-- BEGIN {name} -->\n).*?(<!-- END {name} -->)", re.S)
        match = pattern.search(text)
        if match is None:
            raise SystemExit(f"{where} has no <!-- BEGIN {name} --> block")
        text = text[: match.start()] + match.group(1) + make() + "\n" + match.group(2) + text[match.end():]
    return text


def main() -> int:
    stale = []
    for document, blocks in DOCUMENTS.items():
        where = document.relative_to(ROOT).as_posix()
        current = document.read_text(encoding="utf-8")
        updated = render(current, blocks, where)
        if updated == current:
            continue
        if "--check" in sys.argv:
            stale.append(where)
        else:
            document.write_text(updated, encoding="utf-8")
    for where in stale:
        print(f"{where} tables are stale: run make docs", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
