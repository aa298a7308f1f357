"""The node-side bundle: ``scripts/ce-node`` and the ``cenode`` package as one deterministic archive.

Owns: which files ship to the nodes, packing them reproducibly (sorted, fixed mtimes and owners,
so the same sources give the same bytes and the same hash), and the install path on the node.

Must not touch: the nodes (``provisioning.py`` copies and installs the bundle).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import tarfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"
INSTALL_DIR = "/opt/cloud-exchange-ha"
ENTRY = f"{INSTALL_DIR}/ce-node"


@dataclass(frozen=True)
class Bundle:
    archive: bytes
    digest: str  # sha256 of the archive

    @property
    def short(self) -> str:
        return self.digest[:12]

    @property
    def as_base64(self) -> str:
        return base64.b64encode(self.archive).decode("ascii")


def shipped_files(root: Path = SCRIPTS) -> list[Path]:
    """The launcher and every Python module of the cenode package (no caches, no tests)."""
    files = [root / "ce-node"] + sorted(p for p in (root / "cenode").rglob("*.py") if "__pycache__" not in p.parts)
    return [f for f in files if f.is_file()]


@cache
def build(root: Path = SCRIPTS) -> Bundle:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in shipped_files(root):
            data = path.read_bytes()
            info = tarfile.TarInfo(str(path.relative_to(root)))
            info.size = len(data)
            info.mode = 0o755 if path.name == "ce-node" else 0o644
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(data))
    packed = gzip.compress(raw.getvalue(), mtime=0)
    return Bundle(archive=packed, digest=hashlib.sha256(packed).hexdigest())
