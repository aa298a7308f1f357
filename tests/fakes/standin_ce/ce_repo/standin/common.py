# TEST DOUBLE of Netskope Cloud Exchange (stand-in for tests): not CE, contains no CE code.
"""What setup, start, stop and replica_set of the stand-in share.

Owns: env-file reading/writing (KEY=VALUE, optional quotes), the secret-file encryption of
docs/ce-facts.md §5.1 (AES-256-CBC through the ``openssl`` CLI, key = sha256(CE_SETUP_ID), IV = CE_IV),
release-dependent constants, the fake mongod's pidfile and the replica-set state file
``<shared>/.standin/replset.json``.

Paths are relative to the current directory, like CE's scripts (they must run from the repo).

6.x host paths (``/opt/shared``, ``/etc/systemd/system``) can be moved for local tests by the
TEST-ONLY environment variables ``STANDIN_OPT_SHARED`` and ``STANDIN_SYSTEMD_DIR`` (CE has no such
knobs; on the test hosts they are unset).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from typing import Any

from standin.version import CE_VERSION

REPLICA_SET_NAME = "mongo_replica_set"
MONGO_PORT = 27017
#: node <-> node ports checked by 5.x setup (docs/ce-facts.md §3.1)
HA_PORTS = (4369, 5672, 15672, 25672, 35672, 27017)
MONGO_USER = "root"
LOCAL_SECRET_FILE = "./.env.keys"
PIDFILE = os.path.join("data", "standin", "fake_mongod.pid")
LOGFILE = os.path.join("data", "standin", "fake_mongod.log")
#: one line per ``./stop`` run, "<epoch seconds> <what it did>": the tests' record of every stop
STOPLOG = os.path.join("data", "standin", "stops.log")
STATE_DIR = ".standin"
STATE_FILE = "replset.json"
CONTAINER_UID = 1001

SECRET_KEYS = (
    "MAINTENANCE_PASSWORD",
    "MAINTENANCE_PASSWORD_ESCAPED",
    "MONGO_CONNECTION_STRING",
    "RABBITMQ_CONNECTION_STRING",
    "RABBITMQ_DEFAULT_PASS",
    "MONGO_INITDB_ROOT_PASSWORD",
    "MONGODB_PASSWORD",
)

Version = tuple[int, ...]


def version_tuple(text: str) -> Version:
    """``"5.1.2"`` -> (5, 1, 2); non-numeric tails of a component are ignored."""
    parts: list[int] = []
    for piece in text.strip().lstrip("v").split("."):
        match = re.match(r"\d+", piece)
        if not match:
            break
        parts.append(int(match.group(0)))
    return tuple(parts)


def release() -> Version:
    return version_tuple(CE_VERSION)


def is_v6() -> bool:
    """6.x: config-driven setup, GlusterFS, ``.cevenv`` (docs/ce-facts.md §0, §1.7)."""
    return release() >= (6, 0, 0)


def supports_ha() -> bool:
    return release() >= (5, 0, 0)


def has_version_menu() -> bool:
    """5.0.x and 5.1.0 open setup with a version menu (docs/ce-facts.md §C10)."""
    return (5, 0, 0) <= release() <= (5, 1, 0)


def secrets_encrypted() -> bool:
    """5.1.1+ encrypt the values of .env.keys; 5.0.x/5.1.0 store them in plaintext (docs/ce-facts.md §5.1)."""
    return release() >= (5, 1, 1)


def uses_secret_file() -> bool:
    """4.x keeps MAINTENANCE_PASSWORD in .env; 5.x has the .env.keys secret file (docs/ce-facts.md §5.1)."""
    return release() >= (5, 0, 0)


def python_pins() -> list[tuple[str, str, str]]:
    """(distribution, minimum, maximum) that HA setup requires (docs/ce-facts.md §0, §4); "" = unbounded."""
    pymongo = ("pymongo", "4.6.3", "4.7.3") if release() >= (5, 1, 1) else ("pymongo", "4.1.1", "4.3.3")
    return [("pyyaml", "6.0.0", ""), ("python-dotenv", "0.20.0", "1.0.0"), pymongo]


def core_tag(version: str) -> str:
    major = version_tuple(version)[0]
    return f"netskopetechnicalalliances/cloudexchange:core{major}-{version}"


def ui_tag(version: str) -> str:
    major = version_tuple(version)[0]
    return f"netskopetechnicalalliances/cloudexchange:ui{major}-{version}"


# ------------------------------------------------------------------------------------------ env


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def read_env(path: str) -> dict[str, str]:
    """KEY=VALUE lines; blank lines, ``#`` comments and an ``export`` prefix are ignored."""
    values: dict[str, str] = {}
    if not os.path.isfile(path):
        return values
    with open(path, encoding="utf-8") as handle:
        for raw in handle:
            line = raw.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            if line.startswith("export "):
                line = line[len("export ") :]
            key, _, value = line.partition("=")
            values[key.strip()] = _unquote(value)
    return values


def format_env_line(key: str, value: str) -> str:
    if key == "CE_SETUP_ID":  # stored in double quotes (docs/ce-facts.md §5.1)
        return f'{key}="{value}"'
    return f"{key}={value}"


def write_env(path: str, values: dict[str, str]) -> None:
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    tmp = f"{path}.standin-tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        for key, value in values.items():
            handle.write(format_env_line(key, value) + "\n")
    if os.path.exists(path):
        os.chmod(tmp, os.stat(path).st_mode & 0o7777)
    os.replace(tmp, path)


def set_env_key(path: str, key: str, value: str) -> None:
    """Rewrite one key of an env file, keeping every other line as it is."""
    lines: list[str] = []
    found = False
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    for index, line in enumerate(lines):
        if line.strip().partition("=")[0].strip() == key:
            lines[index] = format_env_line(key, value)
            found = True
    if not found:
        lines.append(format_env_line(key, value))
    tmp = f"{path}.standin-tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    if os.path.exists(path):
        os.chmod(tmp, os.stat(path).st_mode & 0o7777)
    os.replace(tmp, path)


def backup_env_file(path: str) -> str | None:
    """Every read of an env file by setup leaves ``<file>.<epoch>`` next to it (docs/ce-facts.md §7.1)."""
    if not os.path.isfile(path) or os.path.getsize(path) == 0:
        return None
    target = f"{path}.{int(time.time())}"
    with open(path, "rb") as source, open(target, "wb") as copy:
        copy.write(source.read())
    os.chmod(target, os.stat(path).st_mode & 0o7777)
    return target


def shared_env_path(shared_dir: str) -> str:
    return os.path.join(shared_dir, "config", ".env")


def ceversion_path(env: dict[str, str]) -> str:
    shared = env.get("HA_NFS_DATA_DIRECTORY", "")
    if is_ha(env):
        return os.path.join(shared, "config", ".env.ceversion")
    return ".env.ceversion"


def is_ha(env: dict[str, str]) -> bool:
    """HA as start/stop see it: the node knows its shared folder and its own IP."""
    return bool(env.get("HA_NFS_DATA_DIRECTORY") and env.get("HA_CURRENT_NODE") and env.get("HA_IP_LIST"))


def merged_env() -> dict[str, str]:
    """What ./start sources: local .env, then the shared .env on top (docs/ce-facts.md §6.1).

    6.x names the shared file in the local ``ENV_FILE``; 5.x has it at ``<NFS>/config/.env``.
    """
    env = read_env(".env")
    shared = env.get("HA_NFS_DATA_DIRECTORY", "")
    if env.get("ENV_FILE"):
        env.update(read_env(env["ENV_FILE"]))
    elif shared:
        env.update(read_env(shared_env_path(shared)))
    return env


def update_primary_ip(env: dict[str, str], new_ip: str) -> None:
    """Move HA_PRIMARY_NODE_IP in the local and the shared .env (docs/ce-facts.md §6.2)."""
    set_env_key(".env", "HA_PRIMARY_NODE_IP", new_ip)
    shared = env.get("HA_NFS_DATA_DIRECTORY", "")
    if shared and os.path.isfile(shared_env_path(shared)):
        set_env_key(shared_env_path(shared), "HA_PRIMARY_NODE_IP", new_ip)


# -------------------------------------------------------------------------------------- secrets


def _openssl_args(env: dict[str, str], decrypt: bool) -> list[str]:
    key_hex = hashlib.sha256(env["CE_SETUP_ID"].encode("utf-8")).hexdigest()
    args = ["openssl", "enc", "-aes-256-cbc"]
    if decrypt:
        args.append("-d")
    # -S/-pbkdf2/-iter have no effect next to an explicit -K (docs/ce-facts.md §5.1); kept for the same file.
    args += ["-K", key_hex, "-iv", env["CE_IV"], "-S", env["CE_HEX_CODE"], "-pbkdf2", "-iter", "10000"]
    return args + ["-base64", "-A"]


def encrypt_value(env: dict[str, str], value: str, newline: bool = True) -> str:
    """5.1.x encrypts ``echo "value"``, i.e. with a trailing newline; 6.x values have none (docs/ce-facts.md §5.1)."""
    data = value + "\n" if newline else value
    result = subprocess.run(_openssl_args(env, decrypt=False), input=data.encode("utf-8"), capture_output=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"openssl could not encrypt a secret: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout.decode("ascii").strip()


def decrypt_value(env: dict[str, str], value: str) -> str:
    result = subprocess.run(_openssl_args(env, decrypt=True), input=(value + "\n").encode("ascii"), capture_output=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"openssl could not decrypt a secret: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout.decode("utf-8").strip()


def secret_location(env: dict[str, str]) -> str:
    return env.get("LOCATION") or LOCAL_SECRET_FILE


def read_secret(env: dict[str, str], key: str) -> str:
    """A secret in clear text, from .env.keys (5.x) or .env (4.x)."""
    if not uses_secret_file():
        return env.get(key, "")
    values = read_env(secret_location(env))
    if key not in values:
        raise RuntimeError(f"{key} is missing from {secret_location(env)}")
    if secrets_encrypted():
        return decrypt_value(env, values[key])
    return values[key]


# ---------------------------------------------------------------------------------- fake mongod


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return b"fake_mongod" in handle.read()
    except OSError:
        return False


def running_pid() -> int | None:
    """The pid of this checkout's fake mongod, or None (a stale pidfile, naming a process that is gone, is removed)."""
    try:
        with open(PIDFILE, encoding="ascii") as handle:
            pid = int(handle.read().strip())
    except (OSError, ValueError):  # none, or not a pid: never removed here (only a pid proven dead is stale)
        return None
    if pid > 0 and pid_alive(pid):
        return pid
    with contextlib.suppress(OSError):
        os.unlink(PIDFILE)
    return None


def bind_address(env: dict[str, str]) -> str:
    """HA: the node's own IP (HA_CURRENT_NODE); standalone: 127.0.0.1 (not published)."""
    return env["HA_CURRENT_NODE"] if is_ha(env) else "127.0.0.1"


def host_of(ip: str) -> str:
    return f"{ip}:{MONGO_PORT}"


# --------------------------------------------------------------------------------- state file


def state_path(shared_dir: str, name: str = STATE_FILE) -> str:
    return os.path.join(shared_dir, STATE_DIR, name)


def load_state(shared_dir: str, name: str = STATE_FILE) -> dict[str, Any]:
    try:
        with open(state_path(shared_dir, name), encoding="utf-8") as handle:
            data: dict[str, Any] = json.load(handle)
            return data
    except FileNotFoundError:
        return {}


@contextlib.contextmanager
def locked_state(shared_dir: str, name: str = STATE_FILE) -> Iterator[dict[str, Any]]:
    """Read-modify-write of a shared state file (the replica set's by default) under an exclusive lock."""
    directory = os.path.join(shared_dir, STATE_DIR)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name.replace(".json", ".lock")), "a", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            state = load_state(shared_dir, name)
            before = json.dumps(state, sort_keys=True)
            yield state
            if json.dumps(state, sort_keys=True) != before:
                tmp = state_path(shared_dir, name) + ".tmp"
                with open(tmp, "w", encoding="utf-8") as handle:
                    json.dump(state, handle, indent=2, sort_keys=True)
                os.replace(tmp, state_path(shared_dir, name))
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


# ------------------------------------------------------------------------------ 6.x host paths

#: the GlusterFS volume CE 6.x creates and mounts at <opt shared>/data (docs/ce-facts.md §2.2)
GLUSTER_VOLUME = "CloudExchange"
CEVENV = ".cevenv"


def opt_shared() -> str:
    """CE 6.x's fixed HA base ``/opt/shared``; TEST-ONLY override ``STANDIN_OPT_SHARED``."""
    return os.environ.get("STANDIN_OPT_SHARED") or "/opt/shared"


def shared_data_dir() -> str:
    """``/opt/shared/data``: the gluster mount point and HA dir of 6.x (docs/ce-facts.md §1.7, §2.2)."""
    return os.path.join(opt_shared(), "data")


def brick_dir() -> str:
    return os.path.join(opt_shared(), "gluster", "bricks", "1", "brick")


def systemd_dir() -> str:
    """``/etc/systemd/system``; TEST-ONLY override ``STANDIN_SYSTEMD_DIR`` (then systemctl is never run)."""
    return os.environ.get("STANDIN_SYSTEMD_DIR") or "/etc/systemd/system"


def _unescape_mountinfo(text: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda match: chr(int(match.group(1), 8)), text)


def volume_mounted(data_dir: str) -> bool:
    """CE's check (``df`` shows a CloudExchange source on the dir, docs/ce-facts.md §2.2), in the kernel's mount
    table or, TEST-ONLY, the file ``STANDIN_MOUNTINFO`` names (where the tests cannot mount)."""
    target = os.path.realpath(data_dir)
    found = False
    try:
        with open(os.environ.get("STANDIN_MOUNTINFO") or "/proc/self/mountinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                left, _, right = line.partition(" - ")
                fields, tail = left.split(), right.split()
                if len(fields) > 4 and len(tail) > 1 and _unescape_mountinfo(fields[4]) == target:
                    found = GLUSTER_VOLUME in tail[1]  # the last mount at a point hides the earlier ones
    except OSError:
        pass
    return found


def cevenv_ready() -> bool:
    return os.path.isfile(os.path.join(CEVENV, "bin", "activate"))


def v6_ha_gate(check_mount: bool) -> bool:
    """6.x HA (local .env names ENV_FILE): the gluster mount must be there (start only) and ./.cevenv
    must exist, else the script fails like CE's ``. ${ENV_FILE}`` / ``source .cevenv/bin/activate``."""
    local = read_env(".env")
    env_file = local.get("ENV_FILE", "")
    if not env_file:
        return True
    data = local.get("HA_NFS_DATA_DIRECTORY") or os.path.dirname(os.path.dirname(env_file))
    if check_mount and not volume_mounted(data):
        print(f"{env_file}: No such file or directory (the GlusterFS volume {GLUSTER_VOLUME} is not mounted at {data})")
        return False
    if not cevenv_ready():
        print(f"{os.path.join(CEVENV, 'bin', 'activate')}: No such file or directory (run ./setup to create ./{CEVENV})")
        return False
    return True
