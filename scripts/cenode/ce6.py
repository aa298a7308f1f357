"""CE 6.x facts several phases share: the Python CE's setup runs with, ``cloudexchange.config``,
and the shared files CE 6.1 leaves too open.

Owns: finding an interpreter that satisfies the line's ``python_min`` and has ``venv``, ``ensurepip``
and ``pip`` (what CE's ``ensure_environment`` demands, docs/ce-facts.md §1.7), rendering the complete
``cloudexchange.config`` of a node (docs/ce-facts.md §1.7, §1.8, §1.9 B.4, §9.10, §9.11), redacting CE's output,
and tightening ``.env.keys`` / ``tls_cert_ca.key`` (docs/ce-facts.md §C6) without locking the containers
(uid/gid 1001) out.

Must not touch: anything except what the caller asks for. Standard library only (python 3.8+).
Secrets handed to :func:`render_config` go to the config file only, never to a log or argv.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass

from . import release
from .redaction import Redactor
from .system import Ctx

#: interpreters tried, in order: the system python3 first, then versioned ones (Ubuntu 22.04: python3.11)
PYTHON_CANDIDATES = ("python3", "python3.13", "python3.12", "python3.11")
CE_UID = 1001
#: CE prints a generated secret with these (docs/ce-facts.md §9.10): whatever follows is redacted
GENERATED_SECRET = re.compile(r"(Setting following random [A-Za-z ]+? - )(\S+)")


@dataclass(frozen=True)
class Python:
    path: str
    version: release.Version
    venv: bool  # venv and ensurepip importable
    pip: bool  # ``python -m pip --version`` works

    @property
    def shown(self) -> str:
        return f"{os.path.basename(self.path)} {release.format_version(self.version)}"

    @property
    def usable(self) -> bool:
        return self.venv and self.pip


def probe_python(ctx: Ctx, name: str) -> Python | None:
    path = ctx.runner.which(name)
    if not path:
        return None
    result = ctx.runner.run([path, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"], timeout=60)
    match = re.match(r"^(\d+)\.(\d+)\.(\d+)", result.out.strip()) if result.ok else None
    if not match:
        return None
    version = (int(match.group(1)), int(match.group(2)), int(match.group(3)))
    venv = ctx.runner.run([path, "-c", "import venv, ensurepip"], timeout=60).ok
    pip = ctx.runner.run([path, "-m", "pip", "--version"], timeout=60).ok
    return Python(path, version, venv, pip)


def find_python(ctx: Ctx, minimum: release.Version) -> tuple[Python | None, list[Python]]:
    """(the first interpreter >= minimum with venv+ensurepip+pip, else the first >= minimum, all seen)."""
    seen: list[Python] = []
    for name in PYTHON_CANDIDATES:
        found = probe_python(ctx, name)
        if found is not None and all(found.path != s.path for s in seen):
            seen.append(found)
    new_enough = [p for p in seen if p.version >= minimum]
    best = next((p for p in new_enough if p.usable), new_enough[0] if new_enough else None)
    return best, seen


# ----------------------------------------------------------------------------- cloudexchange.config


@dataclass(frozen=True)
class ConfigInput:
    """Everything in a node's cloudexchange.config (secrets included: never log this object)."""

    ui_protocol: str
    ui_port: int
    management_port: int
    tls12: bool
    maintenance_password: str
    jwt_secret: str
    proxy_url: str
    proxy_username: str
    proxy_password: str
    cluster_ips: tuple[str, ...]
    node_ip: str
    primary: bool
    data_dir: str
    glusterfs_base_port: int
    glusterfs_max_port: int

    def __repr__(self) -> str:
        return "ConfigInput(***)"


def render_config(values: ConfigInput) -> str:
    """The complete file, identical on every node except HA_CURRENT_NODE and the primary's
    HA_PRIMARY_NODE_IP (docs/ce-facts.md §9.11); rewritten before every setup run (docs/ce-facts.md §1.7)."""
    tls = '"1.2,1.3"' if values.tls12 else '"1.3"'
    lines = [
        "# written by cloud-exchange-ha before every setup run: edit the stack settings, not this file",
        f"UI_PROTOCOL={values.ui_protocol}",
        f"UI_PORT={values.ui_port}",
        f"CE_MANAGEMENT_PORT={values.management_port}",
        f"TLS_VERSION={tls}",
        f"MAINTENANCE_PASSWORD={values.maintenance_password}",
        f"JWT_SECRET={values.jwt_secret}",
        f"PROXY_URL={values.proxy_url}",
        f"PROXY_USERNAME={values.proxy_username}",
        f"PROXY_PASSWORD={values.proxy_password}",
        "HA_ENABLED=True",
        f"HA_IP_LIST={','.join(values.cluster_ips)}",
        f"HA_CURRENT_NODE={values.node_ip}",
        f"HA_NFS_DATA_DIRECTORY={values.data_dir}",
    ]
    if values.primary:  # a secondary leaves it unset, as add-node does (docs/ce-facts.md §1.9 B.4)
        lines.append(f"HA_PRIMARY_NODE_IP={values.node_ip}")
    lines += [f"GLUSTERFS_BASE_PORT={values.glusterfs_base_port}", f"GLUSTERFS_MAX_PORT={values.glusterfs_max_port}"]
    return "\n".join(lines) + "\n"


def unsafe_in_config(value: str) -> bool:
    """A value the KEY=VALUE format cannot carry (line breaks, surrounding quotes CE would strip)."""
    return any(ch in value for ch in "\r\n\0") or (len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"")


def output_redactor(secrets: Sequence[str]) -> Redactor:
    """Removes the node's secrets and anything CE announces as a generated secret (docs/ce-facts.md §9.10)."""
    return Redactor(list(secrets), announced=(GENERATED_SECRET,))


# ----------------------------------------------------------------------------- permissions


def tighten(path: str, mode: int, label: str = "") -> str:
    """Remove access beyond ``mode`` from ``path``; when the containers' gid 1001 must keep reading it,
    keep (or give) the file group 1001. Returns what changed, as ``<label> <old>-><new>`` ("" when nothing)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return ""
    if not stat.S_ISREG(st.st_mode):
        return ""
    before = stat.S_IMODE(st.st_mode)
    notes = []
    if st.st_uid != CE_UID and st.st_gid != CE_UID and before & 0o004:
        # world-readable for the containers (uid 1001): keep them reading it through the group
        os.chown(path, -1, CE_UID)
        notes.append(f"group {CE_UID}")
    wanted = before & mode
    if wanted != before:
        os.chmod(path, wanted)
        notes.insert(0, f"{before:04o}->{wanted:04o}")
    return f"{label or path} {' '.join(notes)}" if notes else ""
