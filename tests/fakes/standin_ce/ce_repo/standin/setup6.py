# TEST DOUBLE of Netskope Cloud Exchange (stand-in for tests): not CE, contains no CE code.
"""The stand-in ``./setup`` of CE 6.x (tag v6.1.0): config-driven, never asks anything.

Written from docs/ce-facts.md (§1.7-§1.9, §2.2, §3.2, §4, §5.1, §7.2, §8, §9.10-§9.12 and
docs/ce-facts.md §C6-§C9). Order (docs/ce-facts.md §1.7): ``ensure_environment`` (Python >= 3.11, pip, venv,
ensurepip, ``./.cevenv``) -> banner, ``git diff -G.``, SELinux, ``cloudexchange.config``,
(``--check-prerequisites`` stops here), ``systemctl is-active``, ``.env``, role decision (the
primary sets up the GlusterFS volume), checks, config params (certificates, secrets), env files,
backups, blanking the config's secrets -> the ``cloud-exchange`` unit -> success text. Any
exception: printed, exit 1 (6.x, docs/ce-facts.md §0).

Double-specific (documented in tests/fakes/README.md): GlusterFS is the stand-in of
``standin/gluster/shim.py`` (never installed by setup: ``./standin-install-gluster`` first); the
"mount" is the GlusterFS stand-in client's (a bind of the volume folder, or a line in ``STANDIN_MOUNTINFO``); certificates use RSA 2048.
"""

from __future__ import annotations

import argparse
import importlib.util
import ipaddress
import os
import platform
import secrets
import shutil
import socket
import string
import subprocess
import sys
import time

from standin import common, config6, setup_flow
from standin.config6 import Config, text
from standin.gluster import shim
from standin.setup_flow import FAIL, PASS, WARN, Refusal
from standin.version import CE_VERSION

SERVICE = "cloud-exchange"
VOLUME = common.GLUSTER_VOLUME
#: node <-> node ports checked by 6.x setup (docs/ce-facts.md §3.2); gluster ports are added from the config
HA_PORTS = (4369, 5671, 15671, 25672, 35672, 27017)
GLUSTERD_PORT = 24007
#: what stays in the local .env of a 6.x HA node (docs/ce-facts.md §1.8, remove_unwanted_fields)
LOCAL_ENV_KEYS = ("HA_CURRENT_NODE", "DESTINATION_PATH", "HA_NFS_DATA_DIRECTORY", "LOCATION", "CE_SETUP_ID", "CE_HEX_CODE", "CE_IV", "ENV_FILE")
BACKUP_DIR = os.path.join("data", "ce_env_backups")
LOCAL_TLS_DIR = os.path.join("data", "ssl_certs", "mongodb_rabbitmq_certs")
TLS_EXTENSIONS = os.path.join(LOCAL_TLS_DIR, "extendedkeyusage.txt")
TLS_FILES = ("tls_cert.crt", "tls_cert_key.key", "tls_cert_key.pem", "tls_cert_ca.crt", "tls_cert_ca.key")
SECRET_ALPHABET = string.ascii_letters + string.digits
MIN_PYTHON = (3, 11)


# ------------------------------------------------------------------------------- environment


def ensure_environment() -> None:
    """Python >= 3.11, ``python -m pip``, ``import venv``/``ensurepip``, then ``./.cevenv`` (docs/ce-facts.md §1.7).

    The double's ``.cevenv`` is ``python -m venv --system-site-packages --without-pip``: CE
    pip-installs its pins into it, the double only checks they are importable (HA, see below).
    """
    if sys.version_info < MIN_PYTHON:
        raise Refusal(f"Python 3.11 or higher is required to run the setup (found {platform.python_version()}).")
    # CE runs `python -m pip --version`; the double only looks the module up (saves ~0.4 s a run)
    if importlib.util.find_spec("pip") is None:
        raise Refusal(f"pip is not available for {sys.executable} (install python3-pip).")
    for module in ("venv", "ensurepip"):
        if importlib.util.find_spec(module) is None:
            raise Refusal(f"The python module '{module}' is not available (install python3-venv).")
    if common.cevenv_ready():
        return
    created = subprocess.run(
        [sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", common.CEVENV], capture_output=True, text=True, check=False
    )
    if created.returncode != 0 or not common.cevenv_ready():
        raise Refusal(f"Could not create the virtual environment {common.CEVENV}: {created.stderr.strip()}")
    print(f"Created the python virtual environment ./{common.CEVENV}.")


def os_release() -> tuple[str, str, str]:
    values: dict[str, str] = {}
    try:
        values = common.read_env("/etc/os-release")
    except OSError:
        pass
    return values.get("ID", "").lower(), values.get("VERSION_ID", ""), values.get("PRETTY_NAME", "unknown OS")


def os_supported() -> bool:
    """Ubuntu 22.04/24.04 or RHEL >= 9.5 (docs/ce-facts.md §4; the GlusterFS install needs the same, docs/ce-facts.md §2.2)."""
    os_id, version, _ = os_release()
    numbers = common.version_tuple(version)
    return (os_id == "ubuntu" and numbers >= (22, 4)) or (os_id == "rhel" and numbers >= (9, 5))


# ----------------------------------------------------------------------------- GlusterFS volume


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=60, check=False, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return subprocess.CompletedProcess(args, 127, "", str(exc))


def gluster(*args: str) -> subprocess.CompletedProcess[str]:
    return _run(["gluster", *args])


def gluster_installed() -> bool:
    return all(_run([tool, "--version"]).returncode == 0 for tool in ("gluster", "glusterd", "glusterfs"))


def install_gluster() -> None:
    """CE installs GlusterFS 11 from the gluster PPA / CentOS storage repo (docs/ce-facts.md §2.2); the double never does."""
    if not os_supported():
        raise Refusal(
            f"GlusterFS can be installed only on Ubuntu 22.04/24.04 or RHEL 9.5 and later; this host runs {os_release()[2]}. "
            "The HA volume cannot be set up."
        )
    raise Refusal(
        "STAND-IN: the test double does not install GlusterFS packages (CE would add the glusterfs-11 repository and install "
        "glusterfs-server here). Run ./standin-install-gluster first."
    )


def update_glusterd_ports(config: Config) -> None:
    """The management block of glusterd.vol: listen-port 24007, base-port, max-port (docs/ce-facts.md §1.9 B)."""
    path = shim.glusterd_vol_path()
    wanted = {
        "transport.socket.listen-port": str(GLUSTERD_PORT),
        "base-port": str(config["GLUSTERFS_BASE_PORT"]),
        "max-port": str(config["GLUSTERFS_MAX_PORT"]),
    }
    lines = ["volume management", "    type mgmt/glusterd", "    option working-directory /var/lib/glusterd", "end-volume"]
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    for index, line in enumerate(lines):
        parts = line.split()
        if len(parts) >= 3 and parts[0] == "option" and parts[1] in wanted:
            lines[index] = f"    option {parts[1]} {wanted.pop(parts[1])}"
    end = next((i for i, line in enumerate(lines) if line.strip() == "end-volume"), len(lines))
    lines[end:end] = [f"    option {key} {value}" for key, value in wanted.items()]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")


def ensure_glusterd() -> None:
    """``systemctl enable glusterd && systemctl restart glusterd`` on a systemd host, else the daemon directly."""
    systemd = (
        os.path.isdir("/run/systemd/system")
        and shutil.which("systemctl")
        and "STANDIN_SYSTEMD_DIR" not in os.environ
        and "STANDIN_GLUSTER_LOCAL" not in os.environ
    )
    if systemd and _run(["systemctl", "cat", "glusterd"]).returncode == 0:
        _run(["systemctl", "enable", "glusterd"])
        _run(["systemctl", "restart", "glusterd"])
    else:
        started = _run(["glusterd"])
        if started.returncode != 0:
            raise Refusal(f"Could not start glusterd: {started.stdout}{started.stderr}".strip())
    deadline = time.monotonic() + 10.0
    while gluster("peer", "status").returncode != 0:
        if time.monotonic() > deadline:
            raise Refusal("glusterd did not come up within 10 s.")
        time.sleep(0.2)


def verify_start_create_volume(node_ip: str) -> None:
    """Create and start a 1-brick volume. An existing volume is DELETED first: the caller only gets
    here when the volume is not mounted (the hazard of docs/ce-facts.md §2.2 / §9.12, reproduced on purpose)."""
    info = gluster("volume", "info", VOLUME)
    if info.returncode == 0:
        print(f"Volume {VOLUME} exists but is not mounted at {common.shared_data_dir()}: deleting it and creating it again.")
        if "Status: Started" in info.stdout:
            gluster("--mode=script", "volume", "stop", VOLUME)
        deleted = gluster("--mode=script", "volume", "delete", VOLUME)
        if deleted.returncode != 0:
            raise Refusal(f"Could not delete the volume {VOLUME}: {deleted.stdout}{deleted.stderr}".strip())
    brick = f"{node_ip}:{common.brick_dir()}"
    for step in (("--mode=script", "volume", "create", VOLUME, brick, "force"), ("volume", "start", VOLUME)):
        result = gluster(*step)
        print(result.stdout.strip())
        if result.returncode != 0:
            raise Refusal(f"GlusterFS: 'gluster {' '.join(step)}' failed: {result.stdout}{result.stderr}".strip())


def ensure_volume_mounted(node_ip: str) -> None:
    """CE: ``mount -t glusterfs <own ip>:/CloudExchange /opt/shared/data``. The double runs the client
    stand-in (see standin/gluster/shim.py for what its "mount" is)."""
    data = common.shared_data_dir()
    result = _run(["glusterfs", f"--volfile-server={node_ip}", f"--volfile-id={VOLUME}", data])
    if result.returncode != 0 or not common.volume_mounted(data):
        raise Refusal(f"Could not mount the volume {VOLUME} at {data}: {result.stdout}{result.stderr}".strip())
    print(f"Volume {VOLUME} mounted at {data}.")


def setup_primary_volume(node_ip: str, config: Config) -> None:
    """docs/ce-facts.md §2.2: skip when mounted; else install (the double: refuse), ports, glusterd, volume, mount."""
    data = common.shared_data_dir()
    if common.volume_mounted(data):
        print(f"GlusterFS volume {VOLUME} is already mounted at {data}.")
        return
    print(f"Setting up the GlusterFS volume {VOLUME} at {data} ...")
    if not gluster_installed():
        install_gluster()
    update_glusterd_ports(config)
    ensure_glusterd()
    os.makedirs(common.brick_dir(), exist_ok=True)
    os.makedirs(data, exist_ok=True)
    verify_start_create_volume(node_ip)
    ensure_volume_mounted(node_ip)


# ------------------------------------------------------------------------------------ roles


def _ip_list(raw: str) -> list[str]:
    ips = [part.strip() for part in raw.split(",") if part.strip()]
    for ip in ips:
        try:
            ipaddress.ip_address(ip)
        except ValueError as exc:
            raise RuntimeError(f"Invalid IP address {ip!r} in HA_IP_LIST.") from exc
    return ips


def decide_role(args: argparse.Namespace, config: Config, env: dict[str, str]) -> tuple[str, str | None]:
    """docs/ce-facts.md §1.7: ("secondary", dir) or ("primary", dir or None for a standalone node)."""
    current, primary = text(config, "HA_CURRENT_NODE"), text(config, "HA_PRIMARY_NODE_IP")
    if args.location:
        print(f"--location given: setting up this node as a secondary node with the shared data at {args.location}.")
        return "secondary", os.path.abspath(args.location)
    if current != primary:
        print(
            f"HA_CURRENT_NODE ({current}) differs from HA_PRIMARY_NODE_IP ({primary or 'not set'}): setting up this node as a "
            f"secondary node; the shared data location is {common.shared_data_dir()} (not configurable)."
        )
        return "secondary", common.shared_data_dir()
    primary_ip = primary or env.get("HA_PRIMARY_NODE_IP", "")
    if not primary_ip:
        return "primary", None
    setup_primary_volume(primary_ip, config)
    return "primary", text(config, "HA_NFS_DATA_DIRECTORY") or common.shared_data_dir()


def prepare_primary(config: Config, env: dict[str, str], location: str | None) -> str | None:
    """set_up_ha_values of the primary/standalone path; returns the shared dir in HA, else None."""
    ha = bool(config["HA_ENABLED"]) or env.get("HA_ENABLED") == "True"
    if not ha:
        if location:
            print("Warning: HA_PRIMARY_NODE_IP is set but HA_ENABLED is not true: setting up a standalone node.")
        for key in (*setup_flow.HA_KEYS, "ENV_FILE"):
            env.pop(key, None)
        setup_flow.move_secret_file(env, common.LOCAL_SECRET_FILE)
        return None
    if not location:
        raise RuntimeError("HA_ENABLED is true but HA_CURRENT_NODE/HA_PRIMARY_NODE_IP are not set: set both to this node's IP on the primary.")
    setup_flow.check_python_packages()
    print(f"Python packages for HA are available to ./{common.CEVENV} (the stand-in installs nothing).")
    shared_file = common.shared_env_path(location)
    common.backup_env_file(shared_file)
    for key, value in common.read_env(shared_file).items():
        env.setdefault(key, value)
    ips = _ip_list(text(config, "HA_IP_LIST") or env.get("HA_IP_LIST", ""))
    current = text(config, "HA_CURRENT_NODE") or env.get("HA_CURRENT_NODE", "")
    if current not in ips:
        raise RuntimeError(f"HA_CURRENT_NODE ({current}) must be one of HA_IP_LIST ({','.join(ips)}).")
    setup_flow.create_required_files(location)
    setup_flow.move_secret_file(env, os.path.join(location, "config", ".env.keys"))
    env.update(
        HA_ENABLED="True",
        HA_IP_LIST=",".join(ips),
        HA_CURRENT_NODE=current,
        HA_NFS_DATA_DIRECTORY=location,
        HA_PRIMARY_NODE_IP=text(config, "HA_PRIMARY_NODE_IP") or env.get("HA_PRIMARY_NODE_IP") or current,
        ENV_FILE=shared_file,
    )
    return location


def prepare_secondary(args: argparse.Namespace, config: Config, env: dict[str, str], location: str) -> str:
    setup_flow.check_python_packages()
    if not args.location and not common.volume_mounted(location):
        raise RuntimeError(f"{location} is not mounted: add this node to the GlusterFS volume {VOLUME} and mount it before running the setup here.")
    shared_file = common.shared_env_path(location)
    if not os.path.isfile(shared_file):
        raise RuntimeError(f"{shared_file} not found: run the setup on the primary node first.")
    common.backup_env_file(shared_file)
    env.update(common.read_env(shared_file))  # the cluster's values (CE_SETUP_ID, keys location, ...) win
    ips = _ip_list(text(config, "HA_IP_LIST") or env.get("HA_IP_LIST", ""))  # config first (docs/ce-facts.md §9.11)
    current = text(config, "HA_CURRENT_NODE") or env.get("HA_CURRENT_NODE", "")
    if current not in ips:
        raise RuntimeError(f"HA_CURRENT_NODE ({current or 'not set'}) must be one of HA_IP_LIST ({','.join(ips)}).")
    print(f"The HA is enabled. Current HA IP list: {','.join(ips)}")
    setup_flow.create_required_files(location)
    env.update(
        HA_ENABLED="True",
        HA_IP_LIST=",".join(ips),
        HA_CURRENT_NODE=current,
        HA_NFS_DATA_DIRECTORY=location,
        HA_PRIMARY_NODE_IP=text(config, "HA_PRIMARY_NODE_IP") or env.get("HA_PRIMARY_NODE_IP", ""),
        LOCATION=os.path.join(location, "config", ".env.keys"),
        ENV_FILE=shared_file,
    )
    return location


# ------------------------------------------------------------------------------------ checks


def _cpu_flags() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return line
    except OSError:
        pass
    return ""


def _in_use(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def collect_checks(config: Config, env: dict[str, str], ha: bool) -> list[tuple[str, str, str]]:
    """The 6.1 prerequisite table (docs/ce-facts.md §4, §3.2); the stand-in contacts nothing outside the hosts."""
    rows: list[tuple[str, str, str]] = []
    cpus = os.cpu_count() or 0
    rows.append(("CPU", PASS if cpus in (8, 16) else FAIL, f"{cpus} cores (8 or 16 required)"))
    rows.append(("AVX", PASS if " avx" in _cpu_flags() else FAIL, "avx flag in /proc/cpuinfo"))
    need_gib = 32 if cpus == 16 else 16
    mem = setup_flow._meminfo_total_gib()
    rows.append(("Memory", PASS if mem >= 0.9 * need_gib else FAIL, f"{mem:.1f} GiB (>= {0.9 * need_gib:.1f})"))
    disk = shutil.disk_usage(".")
    need_gb = 120 if cpus == 16 else 80
    disk_ok = disk.total >= 0.9 * need_gb * 10**9 and disk.free >= 20 * 10**9
    rows.append(("Disk", PASS if disk_ok else FAIL, f"{disk.total / 10**9:.0f} GB total, {disk.free / 10**9:.0f} GB free"))
    rows.append(("OS", PASS if os_supported() else FAIL, f"{os_release()[2]} (Ubuntu 22.04/24.04 or RHEL >= 9.5)"))
    rows.append(("Python", PASS, platform.python_version()))
    engine = shutil.which("docker") or shutil.which("podman")
    detail = f"{engine} (version not checked by the stand-in)" if engine else "neither docker nor podman"
    rows.append(("Container engine", PASS if engine else FAIL, detail))
    rows.append(("OpenSSL",) + setup_flow._openssl_ok())
    rows.append(("Connectivity hub.docker.com", PASS, "not contacted by the stand-in"))
    for key in ("UI_PORT", "CE_MANAGEMENT_PORT"):
        port = int(config[key])
        rows.append((f"{key} {port}", FAIL if _in_use(port) else PASS, "in use" if _in_use(port) else "free"))
    if ha:
        current = env["HA_CURRENT_NODE"]
        own_mongod = common.running_pid() is not None
        for port in HA_PORTS:
            if port == common.MONGO_PORT and own_mongod:
                continue
            free, why = setup_flow._bind_free(current, port)
            rows.append((f"Port {port} free on {current}", PASS if free else FAIL, why))
        bricks = list(range(int(config["GLUSTERFS_BASE_PORT"]), int(config["GLUSTERFS_MAX_PORT"]) + 1))
        busy = [port for port in (GLUSTERD_PORT, *bricks) if not setup_flow._bind_free(current, port)[0]]
        rows.append((f"GlusterFS ports free on {current}", WARN if busy else PASS, f"in use: {busy}" if busy else ""))
        for peer in env.get("HA_IP_LIST", "").split(","):
            if not peer or peer == current:
                continue
            for port in HA_PORTS:
                reachable = setup_flow._reachable(peer, port)
                rows.append((f"Port Check {peer}:{port}", PASS if reachable else FAIL, "" if reachable else "unreachable"))
            lost = [port for port in (GLUSTERD_PORT, *bricks) if not setup_flow._reachable(peer, port)]
            name = f"Port Check {peer}:{GLUSTERD_PORT},{bricks[0]}-{bricks[-1]}"
            rows.append((name, FAIL if lost else PASS, f"unreachable: {lost}" if lost else ""))
    return rows


def report(rows: list[tuple[str, str, str]]) -> bool:
    """Print the table; True if any check FAILed."""
    print("Prerequisite checks:")
    for name, status, detail in rows:
        print(f"  {name:<44} {status:<16} {detail}")
    return any(status == FAIL for _, status, _ in rows)


def run_checks(config: Config, env: dict[str, str], ha: bool, ignore: bool) -> None:
    if report(collect_checks(config, env, ha)):
        if not ignore:
            raise Refusal("Installation failed: one or more prerequisite checks failed (see above).")
        print("One or more checks failed; continuing because of --ignore-failures.")


# ----------------------------------------------------------------------------- config params


def random_secret() -> str:
    return "".join(secrets.choice(SECRET_ALPHABET) for _ in range(32))


def read_secrets(env: dict[str, str]) -> dict[str, str]:
    """The decrypted values of the current .env.keys (5.1.x values end in a newline: stripped)."""
    path = common.secret_location(env)
    if not os.path.isfile(path):
        return {}
    values = {}
    for key, value in common.read_env(path).items():
        try:
            values[key] = common.decrypt_value(env, value)
        except RuntimeError as exc:
            raise RuntimeError(f"Cannot decrypt {key} of {path} (CE_SETUP_ID/CE_IV do not match?): {exc}") from exc
    return values


def handle_secrets(config: Config, env: dict[str, str], ha: bool) -> None:
    """Maintenance password, JWT secret and certificate password into .env.keys (docs/ce-facts.md §1.7, §5.1, §9.10)."""
    existing = read_secrets(env)
    password = existing.get("MONGO_INITDB_ROOT_PASSWORD", "")
    if env.get("IS_MPASS_CONFIGURED") and password:
        if text(config, "MAINTENANCE_PASSWORD"):
            print("The maintenance password is already configured; MAINTENANCE_PASSWORD of cloudexchange.config is ignored.")
    else:
        password = text(config, "MAINTENANCE_PASSWORD")
        if not password:
            password = random_secret()
            print(f"Setting following random Maintenance Password - {password}")
    if any(char in password for char in setup_flow.PASSWORD_FORBIDDEN):
        raise RuntimeError("The maintenance password must not contain \\ / ' \" or space.")
    jwt = text(config, "JWT_SECRET") or existing.get("JWT_SECRET", "") or env.get("JWT_SECRET", "")
    if not jwt:
        jwt = random_secret()
        print(f"Setting following random JWT Secret - {jwt}")
    if any(char in jwt for char in setup_flow.JWT_FORBIDDEN):
        raise RuntimeError("The JWT secret must not contain \\ / space ' \" ? & or TAB.")
    values = setup_flow.secret_values(password)
    values["CE_SSL_CERTIFICATE_PASSWORD"] = text(config, "CE_SSL_CERTIFICATE_PASSWORD") or existing.get("CE_SSL_CERTIFICATE_PASSWORD", "")
    values["JWT_SECRET"] = jwt
    path = common.secret_location(env)
    lines = [f"{key}={common.encrypt_value(env, value, newline=False)}" for key, value in values.items()]
    if os.path.exists(path):
        os.chmod(path, 0o600)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    # docs/ce-facts.md §C6: 6.1 leaves the shared .env.keys world-readable; standalone keeps docs/ce-facts.md §5.1's 0400
    os.chmod(path, 0o444 if ha else 0o400)
    env.pop("JWT_SECRET", None)  # 6.1: no longer in .env (docs/ce-facts.md §5.1)
    env["IS_MPASS_CONFIGURED"] = "True"


def _openssl(args: list[str]) -> None:
    result = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {result.stderr.strip()}")


def make_tls_set(directory: str) -> None:
    """docs/ce-facts.md §8: CA ``CN=CloudExchangeCA`` (365 days) and a leaf for Mongo/RabbitMQ/management, when missing."""
    os.makedirs(directory, exist_ok=True)
    path = {name: os.path.join(directory, name) for name in TLS_FILES}
    new_ca = False
    if not (os.path.isfile(path["tls_cert_ca.key"]) and os.path.isfile(path["tls_cert_ca.crt"])):
        _openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "365", "-subj", "/CN=CloudExchangeCA",
                  "-keyout", path["tls_cert_ca.key"], "-out", path["tls_cert_ca.crt"]])  # fmt: skip
        new_ca = True
    os.chmod(path["tls_cert_ca.key"], 0o644)  # noqa: S103 - docs/ce-facts.md §C6: what 6.1 leaves behind
    if new_ca or not all(os.path.isfile(path[name]) for name in ("tls_cert.crt", "tls_cert_key.key", "tls_cert_key.pem")):
        csr = os.path.join(directory, "tls_cert.csr")
        _openssl(["req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", path["tls_cert_key.key"], "-out", csr])
        _openssl(["x509", "-req", "-in", csr, "-CA", path["tls_cert_ca.crt"], "-CAkey", path["tls_cert_ca.key"],
                  "-set_serial", f"0x{secrets.token_hex(8)}", "-days", "365", "-out", path["tls_cert.crt"],
                  "-extfile", TLS_EXTENSIONS, "-extensions", "extendedkeyusage"])  # fmt: skip
        os.unlink(csr)
        with open(path["tls_cert_key.pem"], "w", encoding="utf-8") as pem:
            for name in ("tls_cert.crt", "tls_cert_key.key"):
                with open(path[name], encoding="utf-8") as part:
                    pem.write(part.read())


def ensure_tls_certs(shared: str | None) -> None:
    """HA: the set lives in ``<shared>/config/ssl_certs/mongodb_rabbitmq_certs``; each file missing
    locally is copied to ``data/ssl_certs/mongodb_rabbitmq_certs`` (docs/ce-facts.md §1.9 B step 5, §8)."""
    if not shared:
        make_tls_set(LOCAL_TLS_DIR)
        return
    shared_dir = os.path.join(shared, "config", "ssl_certs", "mongodb_rabbitmq_certs")
    make_tls_set(shared_dir)
    for name in TLS_FILES:
        local = os.path.join(LOCAL_TLS_DIR, name)
        if not os.path.isfile(local):
            shutil.copy2(os.path.join(shared_dir, name), local)
            print(f"Copied {name} from the shared certificates to {LOCAL_TLS_DIR}.")


def set_config_params(config: Config, env: dict[str, str], shared: str | None) -> None:
    setup_flow.ensure_setup_ids(env)
    protocol = text(config, "UI_PROTOCOL").lower()
    if protocol not in ("http", "https"):
        raise RuntimeError(f"UI_PROTOCOL must be http or https, not {protocol!r}.")
    versions = sorted({part.strip() for part in text(config, "TLS_VERSION").split(",") if part.strip()})
    if not versions or any(version not in ("1.2", "1.3") for version in versions):
        raise RuntimeError(f'TLS_VERSION must be 1.2, 1.3 or "1.2,1.3", not {text(config, "TLS_VERSION")!r}.')
    env.update(UI_PROTOCOL=protocol, UI_PORT=str(config["UI_PORT"]), CE_MANAGEMENT_PORT=str(config["CE_MANAGEMENT_PORT"]))
    env["TLS_VERSION"] = " ".join(f"TLSv{version}" for version in versions)
    if text(config, "PROXY_URL"):
        env["CORE_HTTP_PROXY"] = env["CORE_HTTPS_PROXY"] = text(config, "PROXY_URL")
    else:
        for key in ("CORE_HTTP_PROXY", "CORE_HTTPS_PROXY"):
            env.pop(key, None)
    if text(config, "PROXY_USERNAME"):
        env["PROXY_USERNAME"] = text(config, "PROXY_USERNAME")
    else:
        env.pop("PROXY_USERNAME", None)
    if shared:
        env.update(GLUSTERFS_BASE_PORT=str(config["GLUSTERFS_BASE_PORT"]), GLUSTERFS_MAX_PORT=str(config["GLUSTERFS_MAX_PORT"]))
    if protocol == "https":
        if not setup_flow.certs_present(shared):
            setup_flow.generate_self_signed(shared)
    else:  # docs/ce-facts.md §8: 6.1 http mode deletes existing UI certificates, shared and local
        for base in {setup_flow.cert_dir(shared), setup_flow.cert_dir(None)}:
            for name in ("cte_cert.crt", "cte_cert_key.key"):
                if os.path.isfile(os.path.join(base, name)):
                    os.unlink(os.path.join(base, name))
    handle_secrets(config, env, ha=shared is not None)
    ensure_tls_certs(shared)


# --------------------------------------------------------------------------------- results


def write_env_files(env: dict[str, str], shared: str | None) -> None:
    if not shared:
        env.pop("ENV_FILE", None)
        common.write_env(".env", env)
        return
    shared_env = {key: value for key, value in env.items() if key not in ("HA_CURRENT_NODE", "ENV_FILE", "JWT_SECRET")}
    shared_env["HA_ENABLED"] = "True"  # docs/ce-facts.md §C8: 6.1 keeps it True, also after secondaries
    common.write_env(common.shared_env_path(shared), shared_env)
    common.write_env(".env", {key: env[key] for key in LOCAL_ENV_KEYS if key in env})  # docs/ce-facts.md §1.8


def write_backups(env: dict[str, str], shared: str | None) -> None:
    """``data/ce_env_backups``: HA ``.env.ha.backup`` + ``.env.backup`` (docs/ce-facts.md §C7), standalone + ``.env.key.backup``."""
    os.makedirs(BACKUP_DIR, exist_ok=True)
    copies = [(".env", ".env.backup")]
    if shared:
        copies.append((common.shared_env_path(shared), ".env.ha.backup"))
    else:
        copies.append((common.secret_location(env), ".env.key.backup"))
    for source, name in copies:
        target = os.path.join(BACKUP_DIR, name)
        if os.path.exists(target):
            os.chmod(target, 0o600)
        shutil.copyfile(source, target)
        os.chmod(target, 0o600)


def unit_text(repo: str) -> str:
    return f"""# TEST DOUBLE of Netskope Cloud Exchange (stand-in): written by the stand-in setup, not CE.
[Unit]
Description=Netskope Cloud Exchange management server (STAND-IN test double)
After=network-online.target

[Service]
Type=simple
User=root
WorkingDirectory={repo}
ExecStart={repo}/start_management_server
Restart=always

[Install]
WantedBy=multi-user.target
"""


def service_active() -> bool:
    if "STANDIN_SYSTEMD_DIR" in os.environ or not shutil.which("systemctl"):
        return False
    return _run(["systemctl", "is-active", "--quiet", SERVICE]).returncode == 0


def setup_systemd_service(avoid_restart: bool, was_active: bool) -> None:
    """docs/ce-facts.md §1.7 step 3; docs/ce-facts.md §C9: the success line comes whatever systemctl returned."""
    if was_active and avoid_restart:
        print(f"Management service {SERVICE} is running; not restarting it (--avoid-service-restart).")
        return
    unit_dir = common.systemd_dir()
    if not os.path.isdir(unit_dir):
        print(f"Warning: {unit_dir} does not exist (no systemd?): the {SERVICE} management service was not installed.")
        return
    path = os.path.join(unit_dir, f"{SERVICE}.service")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(unit_text(os.getcwd()))
    os.chmod(path, 0o644)
    if "STANDIN_SYSTEMD_DIR" not in os.environ and shutil.which("systemctl"):
        for args in (["daemon-reload"], ["enable", SERVICE], ["restart", SERVICE]):
            _run(["systemctl", *args])
    print(f"Management service {SERVICE} installed and started successfully.")


# -------------------------------------------------------------------------------------- flow


def check_only(args: argparse.Namespace, config: Config) -> int:
    """``--check-prerequisites SA|HA``: the checks, then exit 0/1 (FAILs ignored with --ignore-failures)."""
    env = common.read_env(".env")
    ha = args.check_prerequisites == "HA"
    if ha:
        env["HA_CURRENT_NODE"] = text(config, "HA_CURRENT_NODE")
        env["HA_IP_LIST"] = text(config, "HA_IP_LIST")
        if not env["HA_CURRENT_NODE"]:
            raise RuntimeError("--check-prerequisites HA needs HA_CURRENT_NODE (and HA_IP_LIST) in cloudexchange.config.")
    failed = report(collect_checks(config, env, ha))
    if failed and not args.ignore_failures:
        print("Prerequisite checks failed.")
        return 1
    print("Prerequisite checks completed.")
    return 0


def run(args: argparse.Namespace) -> int:
    ignore = bool(args.ignore_failures)
    setup_flow.banner()
    setup_flow.check_git_tree()
    setup_flow.check_selinux(ignore)
    config = config6.read_config()
    if args.check_prerequisites:
        return check_only(args, config)
    was_active = service_active()
    if not os.path.exists(".env"):
        open(".env", "a", encoding="utf-8").close()
    env = setup_flow.read_local_env()
    role, location = decide_role(args, config, env)
    if role == "secondary":
        assert location is not None
        shared: str | None = prepare_secondary(args, config, env, location)
    else:
        shared = prepare_primary(config, env, location)
    run_checks(config, env, ha=shared is not None, ignore=ignore)
    if args.location:
        print("--location given: skipping the configuration parameters (certificates, secrets).")
    else:
        set_config_params(config, env, shared)
    if shared:
        setup_flow.write_compose_files(env, shared)
    else:
        for name in ("custom_plugins", "plugins", "repos"):
            os.makedirs(os.path.join("data", name), exist_ok=True)
    setup_flow.stamp_release(env, inherit=role == "secondary")
    write_env_files(env, shared)
    write_backups(env, shared)
    config6.blank_secrets()
    setup_systemd_service(bool(args.avoid_service_restart), was_active)
    setup_flow.print_success()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=f"Stand-in (test double) of Netskope CE {CE_VERSION} setup")
    parser.add_argument("-l", "--location", help="Location of the shared data directory (secondary)")
    parser.add_argument("--ignore-failures", nargs="?", const=True, default=False, help="Ignore failed checks")
    parser.add_argument("--avoid-service-restart", action="store_true", help="Don't restart a running cloud-exchange service")
    parser.add_argument("--check-prerequisites", nargs="?", choices=("SA", "HA"), help="Only run the checks (SA or HA)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        ensure_environment()
        return run(args)
    except Exception as exc:  # noqa: BLE001 - 6.x prints the error and exits 1 (docs/ce-facts.md §0)
        print(exc)
        return 1
