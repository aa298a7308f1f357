"""The setup phases' re-run marker: CE's setup ran to success with these inputs on this commit.

Owns: ``<state_dir>/setup-done.json`` (the inputs' digest, the role, the CE commit) and its key
``<state_dir>/setup-marker.key`` (random, root-only, made on first use). The digest is an HMAC of
the canonical JSON of the inputs, so the marker reveals nothing about the secrets among them.
Both release lines' ``setup`` use it: same digest and CE's outputs present -> "unchanged".

Must not touch: anything but those two files.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Mapping

from .system import write_atomic

MARKER = "setup-done.json"
MARKER_KEY = "setup-marker.key"


def marker_key(state_dir: str) -> bytes:
    """The key, created once: written whole to a temp file, then linked into place (a second
    creator loses the link and reads the winner's key, never a half-written file)."""
    os.makedirs(state_dir, mode=0o700, exist_ok=True)
    path = os.path.join(state_dir, MARKER_KEY)
    if not os.path.exists(path):
        tmp = f"{path}.tmp-{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(secrets.token_hex(32))
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
        finally:
            os.unlink(tmp)
    with open(path, encoding="utf-8") as handle:
        return bytes.fromhex(handle.read().strip())


def digest(key: bytes, fields: Mapping[str, object]) -> str:
    canonical = json.dumps(fields, sort_keys=True).encode("utf-8")
    return hmac.new(key, canonical, hashlib.sha256).hexdigest()


def recorded(state_dir: str) -> str:
    """The digest the last successful setup recorded ("" when none did)."""
    marker = os.path.join(state_dir, MARKER)
    if not os.path.exists(marker):
        return ""
    with open(marker, encoding="utf-8") as handle:
        return json.load(handle).get("inputs", "")


def record(state_dir: str, inputs: str, role: str, commit: str) -> None:
    write_atomic(os.path.join(state_dir, MARKER), json.dumps({"inputs": inputs, "role": role, "commit": commit}) + "\n", 0o600)
