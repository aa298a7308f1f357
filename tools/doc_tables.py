"""README tables generated from their one source, so the docs cannot drift.

Owns: the settings table (from ``Pulumi.yaml``), the port table (from the release lines in ``scripts/cenode/lines``)
and rewriting the marked blocks of ``README.md``. ``make docs`` rewrites them; a test fails when
the README is stale.

Must not touch: anything but README.md's marked blocks.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from components import storage
from components.settings import key, schema
from scripts.cenode import lines

README = Path(__file__).resolve().parent.parent / "README.md"


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


BLOCKS = {"settings": settings_table, "ports": port_table}


def render(text: str) -> str:
    for name, make in BLOCKS.items():
        pattern = re.compile(rf"(<!-- BEGIN {name} -->\n).*?(<!-- END {name} -->)", re.S)
        if not pattern.search(text):
            raise SystemExit(f"README.md has no <!-- BEGIN {name} --> block")
        match = pattern.search(text)
        assert match is not None
        text = text[: match.start()] + match.group(1) + make() + "\n" + match.group(2) + text[match.end():]
    return text


def main() -> int:
    current = README.read_text(encoding="utf-8")
    updated = render(current)
    if "--check" in sys.argv:
        if updated != current:
            print("README.md tables are stale: run make docs", file=sys.stderr)
            return 1
        return 0
    README.write_text(updated, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
