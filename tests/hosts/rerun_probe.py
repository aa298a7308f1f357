"""What a replay that should leave CE alone left on the lab's nodes, and how it reached them.

Owns: a second SSH key pair made by a test and authorized on lab hosts beside the lab's own key
(what a user rotating ``sshPrivateKey`` does first); one node's stand-in CE as a replay leaves it
(every ``./stop`` in the stand-in's ``data/standin/stops.log``, the pid of its running mongod); the
last verdict a phase wrote to its log on the node (``<phase>: ok|changed|unchanged ...``; the
cutover's ``setup`` keeps its stdout secret, its log does not); the SSH logins a host's sshd
accepted (source address, key fingerprint), from its journal. Used by tests/hosts/test_replay_*.py.

Must not touch: anything on the hosts but the SSH user's ``authorized_keys`` (appended to).
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from tests.hosts.lab import Host

PHASE_LOG_DIR = "/var/log/cloud-exchange-ha"
_ACCEPTED = re.compile(r"Accepted publickey for \S+ from (\S+) port \d+ ssh2: \S+ (SHA256:[A-Za-z0-9+/]+)")


@dataclass(frozen=True)
class KeyPair:
    private: str  #: OpenSSH private key text, what ``sshPrivateKey`` holds
    public: str  #: one authorized_keys line
    fingerprint: str  #: "SHA256:...", as sshd logs an accepted key


def new_key_pair(comment: str) -> KeyPair:
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(Encoding.PEM, PrivateFormat.OpenSSH, NoEncryption()).decode()
    public = key.public_key().public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode()
    blob = base64.b64decode(public.split()[1])
    fingerprint = "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return KeyPair(private, f"{public} {comment}", fingerprint)


def authorize(host: Host, key: KeyPair) -> None:
    """Append the key to the SSH user's authorized_keys (the lab's own key stays authorized)."""
    host.check("cat >> ~/.ssh/authorized_keys", stdin=key.public + "\n")


@dataclass(frozen=True)
class StandinCe:
    stops: tuple[str, ...]  #: the lines of data/standin/stops.log (none when ./stop never ran here)
    mongod_pid: int | None  #: the stand-in mongod's pid when that process is alive, else None


def standin_ce(host: Host, ce_dir: str) -> StandinCe:
    folder = f"{ce_dir}/data/standin"
    out = host.check(
        f"sudo cat {folder}/stops.log 2>/dev/null; echo '=== pid'; "
        f"pid=$(sudo cat {folder}/fake_mongod.pid 2>/dev/null) && sudo kill -0 \"$pid\" 2>/dev/null && echo \"$pid\"; true"
    )
    stops, _, pid = out.partition("=== pid\n")
    return StandinCe(tuple(ln for ln in stops.splitlines() if ln.strip()), int(pid) if pid.strip() else None)


def last_verdict(host: Host, phase: str) -> str:
    """The last ``<phase>: <status> ...`` line in the phase's log on the node ("" when none)."""
    out = host.check(f"sudo cat {PHASE_LOG_DIR}/{phase}.log 2>/dev/null; true")
    pattern = re.compile(rf"^\d\d:\d\d:\d\d ({re.escape(phase)}: (?:ok|changed|unchanged)\b.*)$")
    found = [m.group(1) for m in map(pattern.match, out.splitlines()) if m]
    return found[-1] if found else ""


def accepted_logins(host: Host) -> list[tuple[str, str]]:
    """(source address, key fingerprint) of every SSH login the host's sshd accepted, oldest first."""
    out = host.check("sudo journalctl -u ssh --no-pager -o cat | grep 'Accepted publickey'; true")
    return [(m.group(1), m.group(2)) for m in map(_ACCEPTED.search, out.splitlines()) if m]
