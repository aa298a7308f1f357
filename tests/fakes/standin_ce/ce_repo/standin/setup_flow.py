# TEST DOUBLE of Netskope Cloud Exchange (stand-in for tests): not CE, contains no CE code.
"""The stand-in ``./setup``: CE 5.x's prompts, checks and files as docs/ce-facts.md documents them.

Releases 6.x take the config-driven path of ``standin/setup6.py`` instead.

Section numbers below refer to docs/ce-facts.md. Like CE 5.x, any exception
ends the run with ``print(e)`` and exit code 0 and no success line (docs/ce-facts.md §1.6); explicit
refusals (dirty tree, SELinux, missing Python pins, failed checks, UI port) exit 1.
"""

from __future__ import annotations

import argparse
import base64
import getpass
import ipaddress
import os
import shutil
import socket
import subprocess
import sys
import uuid
from importlib import metadata
from urllib.parse import quote, urlparse

from standin import common
from standin.version import CE_VERSION

#: CE loops forever at a y/n prompt whose stdin is at EOF (docs/ce-facts.md §C2); the stand-in stops here.
INVALID_INPUT_CAP = 200000
INVALID_INPUT_CAP_EXIT = 99
SUCCESS_TEXT = "Setup completed successfully..."
JWT_FORBIDDEN = ("\\", "/", " ", "'", '"', "?", "&", "\t")
PASSWORD_FORBIDDEN = ("\\", "/", "'", '"', " ")
HA_KEYS = ("HA_ENABLED", "HA_IP_LIST", "HA_CURRENT_NODE", "HA_NFS_DATA_DIRECTORY", "HA_PRIMARY_NODE_IP")
PASS, FAIL, WARN, UNVERIFIED = "PASS", "FAIL", "WARNING", "COULDN'T VERIFY"
MENU_VERSIONS = ("5.1.0", "5.0.1", "5.0.0")


class Refusal(Exception):
    """A gate that makes setup exit 1 (CE exits 1 on these, docs/ce-facts.md §1.2-§1.4)."""


# ------------------------------------------------------------------------------------- prompts


def ask(prompt: str) -> str:
    return input(prompt)


def ask_secret(prompt: str) -> str:
    # Python's getpass: /dev/tty when there is one, else stdin with a GetPassWarning (docs/ce-facts.md §1.6).
    return getpass.getpass(prompt)


def ask_yes_no(prompt: str) -> bool:
    """y/n prompt; at EOF it keeps printing ``Invalid input`` like CE (docs/ce-facts.md §C2), capped."""
    for _ in range(INVALID_INPUT_CAP):
        try:
            answer: str | None = input(prompt)
        except EOFError:
            answer = None
        choice = (answer or "").strip().lower()
        if choice in ("y", "yes"):
            return True
        if choice in ("n", "no"):
            return False
        print("Invalid input")
    sys.stdout.flush()
    sys.stderr.write(f"STAND-IN: stopped after {INVALID_INPUT_CAP} 'Invalid input' lines (the real CE loops forever)\n")
    sys.exit(INVALID_INPUT_CAP_EXIT)


# -------------------------------------------------------------------------------- early gates


def banner() -> None:
    print("=" * 72)
    print(f"  Netskope Cloud Exchange {CE_VERSION} setup  [STAND-IN TEST DOUBLE, not CE]")
    print("=" * 72)


def check_git_tree() -> None:
    """``git diff -G.`` in the repo: modified tracked files stop setup (docs/ce-facts.md §1.2, §9.4)."""
    try:
        result = subprocess.run(["git", "diff", "-G."], capture_output=True, text=True, check=False)
    except OSError as exc:
        print(f"Error while checking the local repository: {exc}")
        return
    if result.returncode != 0:
        print(f"Error while checking the local repository: {result.stderr.strip()}")
        return
    if result.stdout.strip():
        print(result.stdout)
        raise Refusal(
            "Local changes found in the tracked files of the Cloud Exchange repository. "
            "Please discard or stash them (git stash) and re-run the setup."
        )


def check_selinux(ignore: bool) -> None:
    if not shutil.which("sestatus"):
        return
    output = subprocess.run(["sestatus"], capture_output=True, text=True, check=False).stdout
    for line in output.splitlines():
        if line.lower().startswith("selinux status") and "enabled" in line.lower():
            if ignore:
                print("SELinux is enabled; continuing because of --ignore-failures.")
                return
            raise Refusal("SELinux is enabled. Please disable SELinux and re-run the setup.")


def choose_version(env: dict[str, str]) -> None:
    """5.0.x/5.1.0 only: the version menu (docs/ce-facts.md §C10)."""
    for index, version in enumerate(MENU_VERSIONS, start=1):
        print(f"{index}. {version}")
    while True:
        answer = ask("Select the version you want to install (1/2/3): ").strip()
        if answer in ("1", "2", "3"):
            env["INSTALL_VERSION"] = MENU_VERSIONS[int(answer) - 1]
            return
        print("Invalid input")


def _version_parts(text: str) -> tuple[int, ...]:
    return common.version_tuple(text)


def check_python_packages() -> None:
    """HA needs pyyaml, python-dotenv and pymongo at pinned versions (docs/ce-facts.md §0, §4); exit 1 if not."""
    problems: list[str] = []
    for name, low, high in common.python_pins():
        spec = f"{name}>={low}" + (f",<={high}" if high else "")
        try:
            found = metadata.version(name)
        except metadata.PackageNotFoundError:
            problems.append(f"{spec} (not installed)")
            continue
        version = _version_parts(found)
        if version < _version_parts(low) or (high and version > _version_parts(high)):
            problems.append(f"{spec} (found {found})")
    if problems:
        raise Refusal(
            "The following python packages are required for HA and are missing or have an unsupported "
            "version: " + "; ".join(problems) + ". Install them for the python running setup and re-run."
        )


# ------------------------------------------------------------------------- primary questions


def ask_proxy(env: dict[str, str]) -> None:
    print("Are you using HTTP(s) proxy for outbound traffic? [y/n]")
    if not ask_yes_no("> "):
        for key in ("CORE_HTTP_PROXY", "CORE_HTTPS_PROXY", "PROXY_USERNAME"):
            env.pop(key, None)
        return
    current = env.get("CORE_HTTPS_PROXY", "")
    while True:
        print(f"Enter Proxy URL (e.g. http(s)://10.0.0.0:3128)  (Current: {current})")
        url = ask("> ").strip() or current
        if urlparse(url).scheme in ("http", "https") and urlparse(url).netloc:
            break
        print("Invalid proxy URL.")
    env["CORE_HTTP_PROXY"] = env["CORE_HTTPS_PROXY"] = url
    user = ask("Enter proxy username (skip in case of unauthenticated proxy): ").strip()
    if user:
        env["PROXY_USERNAME"] = user
        ask_secret("Enter proxy password: ")  # the stand-in does not keep it
    else:
        env.pop("PROXY_USERNAME", None)


def ask_tenant(env: dict[str, str]) -> None:
    while True:
        print("> Please enter the Netskope Tenant URL (e.g. https://demo.goskope.com)")
        tenant = ask("Please Enter 'test' if you do not have any Netskope tenant: ").strip()
        if tenant == "test":
            break
        parsed = urlparse(tenant)
        if parsed.scheme == "https" and parsed.netloc and parsed.path in ("", "/") and not parsed.query:
            tenant = tenant.rstrip("/")
            break
        print("Invalid tenant URL: it must start with https:// and must not contain a path.")
    env["TENANT_URL"] = tenant


def ask_nfs(env: dict[str, str]) -> str:
    current = env.get("HA_NFS_DATA_DIRECTORY", "")
    while True:
        answer = ask(f"> Please provide the location of the NFS mount directory (Current: '{current}'): ").strip()
        location = answer or current
        if location and os.path.isdir(location):
            return os.path.abspath(location)
        print(f"'{location}' is not a directory. Please provide a valid NFS mount directory.")


def _valid_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def ask_ip_list(env: dict[str, str]) -> list[str]:
    current = env.get("HA_IP_LIST", "")
    while True:
        answer = ask(f'> Enter comma separated IP list to connect the machines for HA. (Current: "{current}"): ').strip()
        ips = [part.strip() for part in (answer or current).split(",") if part.strip()]
        bad = [ip for ip in ips if not _valid_ip(ip)]
        if ips and not bad:
            return ips
        print(f"Invalid IP list: {answer or current!r}")


def ask_current_node(env: dict[str, str], ips: list[str]) -> str:
    current = env.get("HA_CURRENT_NODE", "")
    while True:
        answer = ask(f'> Enter ip address of current node. (Current: "{current}"): ').strip() or current
        if answer in ips:
            return answer
        print(f"The IP address of the current node must be one of: {','.join(ips)}")


# ------------------------------------------------------------------------------------- checks


def _bind_free(address: str, port: int) -> tuple[bool, str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
        return True, ""
    except OSError as exc:
        return False, exc.strerror or str(exc)
    finally:
        sock.close()


def _reachable(address: str, port: int, timeout: float = 3.0) -> bool:
    """A refused connection counts as reachable; a timeout or other error does not (docs/ce-facts.md §3.2)."""
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except ConnectionRefusedError:
        return True
    except OSError:
        return False


def _meminfo_total_gib() -> float:
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / (1024 * 1024)
    except OSError:
        pass
    return 0.0


def _openssl_ok() -> tuple[str, str]:
    if not shutil.which("openssl"):
        return FAIL, "openssl not found"
    out = subprocess.run(["openssl", "version"], capture_output=True, text=True, check=False).stdout
    parts = out.split()
    if len(parts) < 2:
        return UNVERIFIED, f"could not parse {out!r}"
    return (PASS if _version_parts(parts[1]) >= (1, 1, 1) else FAIL), parts[1]


def run_checks(env: dict[str, str], ha: bool, ignore: bool) -> None:
    """The prerequisite table; FAIL -> exit 1 unless --ignore-failures, then maybe "Press Enter"."""
    rows: list[tuple[str, str, str]] = []
    cpus = os.cpu_count() or 0
    rows.append(("CPU", PASS if cpus in (8, 16) else FAIL, f"{cpus} cores (8 or 16 required)"))
    need_gib = 32 if cpus == 16 else 16
    mem = _meminfo_total_gib()
    rows.append(("Memory", PASS if mem >= 0.9 * need_gib else FAIL, f"{mem:.1f} GiB (>= {0.9 * need_gib:.1f})"))
    disk = shutil.disk_usage(".")
    need_gb = 120 if cpus == 16 else 80
    disk_ok = disk.total >= 0.9 * need_gb * 10**9 and disk.free >= 20 * 10**9
    rows.append(("Disk", PASS if disk_ok else FAIL, f"{disk.total / 10**9:.0f} GB total, {disk.free / 10**9:.0f} GB free"))
    engine = shutil.which("docker") or shutil.which("podman")
    rows.append(("Container engine", PASS if engine else FAIL, engine or "neither docker nor podman on PATH"))
    rows.append(("OpenSSL",) + _openssl_ok())
    rows.append(("Connectivity hub.docker.com", PASS, "not contacted by the stand-in"))
    tenant = env.get("TENANT_URL", "test")
    if tenant != "test":
        rows.append(("Connectivity tenant", UNVERIFIED, f"{tenant}: the stand-in never contacts a tenant"))
    if ha:
        current = env["HA_CURRENT_NODE"]
        own_mongod = common.running_pid() is not None
        for port in common.HA_PORTS:
            if port == common.MONGO_PORT and own_mongod:
                continue  # CE's own container holds it (fetch_container_info, docs/ce-facts.md §1.2)
            free, why = _bind_free(current, port)
            rows.append((f"Port {port} free on {current}", PASS if free else FAIL, why))
        for peer in env["HA_IP_LIST"].split(","):
            if peer == current:
                continue
            for port in common.HA_PORTS:
                ok = _reachable(peer, port)
                rows.append((f"Port Check {peer}:{port}", PASS if ok else FAIL, "" if ok else "unreachable"))
    print("Prerequisite checks:")
    for name, status, detail in rows:
        print(f"  {name:<40} {status:<16} {detail}")
    if any(status == FAIL for _, status, _ in rows):
        if not ignore:
            raise Refusal("Installation failed: one or more prerequisite checks failed (see above).")
        print("One or more checks failed; continuing because of --ignore-failures.")
    if any(status == UNVERIFIED for _, status, _ in rows):
        ask_secret("One or more prerequisite checks could not be verified. Press Enter to continue")


# ----------------------------------------------------------------------------- config params


def cert_dir(shared_dir: str | None) -> str:
    return os.path.join(shared_dir, "config", "ssl_certs") if shared_dir else os.path.join("data", "ssl_certs")


def ca_dir(shared_dir: str | None) -> str:
    return os.path.join(shared_dir, "config", "ca_certs") if shared_dir else os.path.join("data", "ca_certs")


def certs_present(shared_dir: str | None) -> bool:
    base = cert_dir(shared_dir)
    return os.path.isfile(os.path.join(base, "cte_cert.crt")) and os.path.isfile(os.path.join(base, "cte_cert_key.key"))


def generate_self_signed(shared_dir: str | None) -> None:
    """Self-signed UI cert like CE (docs/ce-facts.md §8), but RSA 2048 instead of 4096 to keep tests fast."""
    base = cert_dir(shared_dir)
    os.makedirs(base, exist_ok=True)
    result = subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "365",
            "-keyout", os.path.join(base, "cte_cert_key.key"), "-out", os.path.join(base, "cte_cert.crt"),
            "-subj", "/CN=localhost", "-extensions", "extendedkeyusage",
            "-config", os.path.join("data", "ssl_certs", "extendedkeyusage.txt"),
        ],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"Error while generating the self-signed certificate: {result.stderr.strip()}")
    print(f"Generated a self-signed certificate in {base}.")


def ask_protocol(env: dict[str, str], shared_dir: str | None) -> str:
    if certs_present(shared_dir):
        return "https"
    while True:
        answer = ask("Do you want to access CE over HTTP, or HTTPS (HTTPS is recommended)? ").strip().lower()
        if answer == "https":
            generate_self_signed(shared_dir)
            return "https"
        if answer == "http":
            again = ask("Do you still want to access CE over HTTP? (y/yes) ").strip().lower()
            if again in ("y", "yes"):
                return "http"
            continue
        print("Invalid input. Please enter http or https.")


def _port_in_use(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def ask_ui_port(env: dict[str, str], protocol: str) -> str:
    default = "443" if protocol == "https" else "80"
    if env.get("UI_PORT"):
        label, fallback = "Current", env["UI_PORT"]
    else:
        label, fallback = "Default", default
    for _ in range(3):
        answer = ask(f'> Enter the port on which you want to access the Netskope CE UI ({label}: "{fallback}"): ')
        port = answer.strip() or fallback
        if not port.isdigit() or not 0 < int(port) < 65536:
            print(f"Invalid port: {port}")
            continue
        if _port_in_use(int(port)):
            print(f"Port {port} is already in use. Please provide another port.")
            continue
        return port
    raise Refusal("Maximum attempts reached for the UI port.")


def ask_jwt() -> str:
    while True:
        secret = ask_secret("> Enter a JWT Secret which will be used for signing the authentication tokens: ")
        if not secret:
            print("JWT Secret can not be empty.")
        elif any(char in secret for char in JWT_FORBIDDEN):
            print("JWT Secret must not contain \\ / space ' \" ? & or TAB.")
        else:
            return secret


def ask_maintenance_password() -> str:
    while True:
        password = ask_secret(
            "> Enter maintenance password that will be used for RabbitMQ and MongoDB services (This password can be set only once): "
        )
        if not password:
            print("Maintenance password can not be empty.")
            continue
        if any(char in password for char in PASSWORD_FORBIDDEN):
            print("Maintenance password must not contain \\ / ' \" or space.")
            continue
        if ask_secret("> Confirm maintenance password: ") != password:
            print("Passwords do not match. Please try again.")
            continue
        return password


def ask_tls12(env: dict[str, str]) -> None:
    while True:
        answer = ask('> Do you want to enable TLSv1.2 along with TLSv1.3 for CE UI (Default: "No"): ').strip().lower()
        if answer in ("", "n", "no"):
            env["TLS_VERSION"] = "TLSv1.3"  # Enter resets to 1.3, also on re-runs (docs/ce-facts.md §1.3 #12)
            return
        if answer in ("y", "yes"):
            env["TLS_VERSION"] = "TLSv1.2 TLSv1.3"
            return
        print("Invalid input")


def ask_config_params(env: dict[str, str], shared_dir: str | None) -> str | None:
    """Protocol, port, JWT, maintenance password, TLS (docs/ce-facts.md §1.3 #8-#12). Returns a new password."""
    protocol = ask_protocol(env, shared_dir)
    env["UI_PROTOCOL"] = protocol
    env["UI_PORT"] = ask_ui_port(env, protocol)
    env["JWT_SECRET"] = ask_jwt()
    new_password = None
    if not (env.get("IS_MPASS_CONFIGURED") and os.path.isfile(common.secret_location(env))):
        new_password = ask_maintenance_password()
    if protocol == "https":
        ask_tls12(env)
    else:
        env.pop("TLS_VERSION", None)
    return new_password


def ask_custom_ca(shared_dir: str | None) -> None:
    directory = ca_dir(shared_dir)
    if os.path.isdir(directory) and len(os.listdir(directory)) == 1:
        if ask_yes_no("> Do you want to provide custom CA certs? (y/n): "):
            print(f"Please add the custom CA certs to {directory} and re-run the setup to use them.")


def take_env_backup(env: dict[str, str]) -> None:
    if env.get("DESTINATION_PATH"):
        current = env["DESTINATION_PATH"]
        destination = ask(f'> Enter the destination path for backup of .env (Current: "{current}"): ').strip()
        destination = destination or current
    elif ask_yes_no("> Do you want to take backup of .env file? [y/n]: "):
        destination = ask("Enter the destination path (e.g. './backup_env'): ").strip()
        if not destination:
            print("No destination path given; skipping the backup.")
            return
    else:
        return
    if destination.endswith("/"):
        os.makedirs(destination, exist_ok=True)
    shutil.copy(".env", destination)
    env["DESTINATION_PATH"] = destination
    common.set_env_key(".env", "DESTINATION_PATH", destination)
    print(f"Backup of .env stored at {destination}.")


# -------------------------------------------------------------------------------------- files


def _chown_container(path: str) -> None:
    if os.geteuid() == 0:
        os.chown(path, common.CONTAINER_UID, common.CONTAINER_UID)


def create_required_files(shared_dir: str) -> None:
    """The shared layout of docs/ce-facts.md §2.1 (create_required_files)."""
    config = os.path.join(shared_dir, "config")
    os.makedirs(config, exist_ok=True)
    os.chmod(config, 0o744)
    for sub in (os.path.join("config", "ssl_certs"), os.path.join("config", "ca_certs"), "repos", "plugins", "custom_plugins"):
        path = os.path.join(shared_dir, sub)
        os.makedirs(path, exist_ok=True)
        os.chmod(path, 0o755)  # noqa: S103 - CE's layout (docs/ce-facts.md §2.1): containers read it as uid 1001
        _chown_container(path)
    keep = os.path.join(shared_dir, "config", "ca_certs", ".keep")
    if not os.path.exists(keep):
        open(keep, "w", encoding="utf-8").close()
        os.chmod(keep, 0o664)
        _chown_container(keep)
    replica_key = os.path.join(config, "mongo_replica.key")
    if not os.path.exists(replica_key):
        with open(replica_key, "w", encoding="ascii") as handle:
            handle.write(base64.b64encode(os.urandom(60)).decode("ascii") + "\n")
        os.chmod(replica_key, 0o400)
        _chown_container(replica_key)


def ensure_setup_ids(env: dict[str, str]) -> None:
    env.setdefault("CE_SETUP_ID", str(uuid.uuid4()))
    env.setdefault("CE_HEX_CODE", os.urandom(8).hex())
    env.setdefault("CE_IV", os.urandom(16).hex())


def secret_values(password: str) -> dict[str, str]:
    """The clear-text values of the .env.keys secrets derived from the maintenance password (docs/ce-facts.md §5.1)."""
    escaped = quote(password, safe="")
    return {
        "MAINTENANCE_PASSWORD": f"'{password}'",
        "MAINTENANCE_PASSWORD_ESCAPED": escaped,
        "MONGO_CONNECTION_STRING": f"mongodb://root:{escaped}@mongodb-primary:27017/cte?authSource=admin",
        "RABBITMQ_CONNECTION_STRING": f"amqp://user:{escaped}@rabbitmq-stats",
        "RABBITMQ_DEFAULT_PASS": password,
        "MONGO_INITDB_ROOT_PASSWORD": password,
        "MONGODB_PASSWORD": password,
    }


def write_secret_file(env: dict[str, str], password: str) -> None:
    """.env.keys (0400) with the keys of docs/ce-facts.md §5.1: encrypted from 5.1.1 on, plaintext before."""
    plain = secret_values(password)
    path = common.secret_location(env)
    lines = []
    for key in common.SECRET_KEYS:
        value = common.encrypt_value(env, plain[key]) if common.secrets_encrypted() else plain[key]
        lines.append(f"{key}={value}")
    if os.path.exists(path):
        os.chmod(path, 0o600)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    os.chmod(path, 0o400)


def move_secret_file(env: dict[str, str], target: str) -> None:
    """Standalone -> HA moves ./.env.keys to <NFS>/.env.keys, HA -> standalone back (docs/ce-facts.md §7.2)."""
    source = common.secret_location(env)
    if os.path.abspath(source) != os.path.abspath(target) and os.path.isfile(source) and not os.path.exists(target):
        shutil.move(source, target)
        print(f"Moved {source} to {target}.")
    env["LOCATION"] = target


def compose_ha_text(env: dict[str, str], shared_dir: str) -> str:
    return f"""# TEST DOUBLE of Netskope Cloud Exchange (stand-in): generated by the stand-in setup, not CE.
# The stand-in starts no containers; this file only records what CE would run.
services:
  mongodb-primary:
    image: index.docker.io/mongo:8.0
    command: --bind_ip_all --replSet {common.REPLICA_SET_NAME} --keyFile /data/mongo_replica.key
    ports: ["27017:27017"]
    env_file: ["{shared_dir}/config/.env", "${{LOCATION}}"]
    volumes:
      - ./data/mongo-data:/data/db
      - {shared_dir}/config/mongo_replica.key:/data/mongo_replica.key
  rabbitmq-stats:
    image: index.docker.io/rabbitmq:3-management
    hostname: {env.get("HA_CURRENT_NODE", "")}
    ports: ["4369:4369", "5672:5672", "15672:15672", "25672:25672", "35672:35672"]
    env_file: ["{shared_dir}/config/.env", "${{LOCATION}}"]
  core:
    image: {env.get("CORE_TAG", "")}
    env_file: ["{shared_dir}/config/.env", "${{LOCATION}}"]
    volumes:
      - {shared_dir}/config/ca_certs:/opt/netskope/ca_certs
      - {shared_dir}/custom_plugins:/opt/netskope/integrations/custom_plugins
      - nfs_repos:/opt/netskope/repos
      - nfs_plugins:/opt/netskope/plugins
  ui:
    image: {env.get("UI_TAG", "")}
    ports: ["${{UI_PORT}}:3000"]
    volumes:
      - {shared_dir}/config/ssl_certs:/tmp/ssl_certs
volumes:
  nfs_repos:
    driver_opts: {{type: none, o: bind, device: {shared_dir}/repos}}
  nfs_plugins:
    driver_opts: {{type: none, o: bind, device: {shared_dir}/plugins}}
"""


def write_compose_files(env: dict[str, str], shared_dir: str) -> None:
    text = compose_ha_text(env, shared_dir)
    for name in ("docker-compose-ha.yml", "podman-compose-ha.yml"):
        with open(name, "w", encoding="utf-8") as handle:
            handle.write(text)


def stamp_release(env: dict[str, str], inherit: bool = False) -> None:
    """The release's tags into ``env``; ``inherit`` (a secondary): keep the ones the shared .env has, which only the
    primary's setup writes (docs/ce-lifecycle.md §1.3)."""
    if inherit and env.get("INSTALL_VERSION") and env.get("CORE_TAG"):
        return
    version = env.get("INSTALL_VERSION") if common.has_version_menu() else CE_VERSION
    version = version or CE_VERSION
    if common.release() >= (5, 0, 0):
        env["INSTALL_VERSION"] = version
    env["CORE_TAG"] = common.core_tag(version)
    env["UI_TAG"] = common.ui_tag(version)


def print_success() -> None:
    print(SUCCESS_TEXT)
    print("Execute this command in primary node to start the CE")  # docs/ce-facts.md §C1
    print("  > sudo ./start")


# ---------------------------------------------------------------------------------------- flows


def read_local_env() -> dict[str, str]:
    common.backup_env_file(".env")
    env = common.read_env(".env")
    common.read_env(".env.ceversion")
    return env


def run_primary(args: argparse.Namespace, env: dict[str, str]) -> int:
    ignore = bool(args.ignore_failures)
    if env.get("HA_NFS_DATA_DIRECTORY"):
        common.read_env(os.path.join(env["HA_NFS_DATA_DIRECTORY"], "config", ".env.ceversion"))
    ask_proxy(env)
    ask_tenant(env)
    shared_dir: str | None = None
    if common.supports_ha() and ask_yes_no("> Do you want to setup HA Parameters? [y/n]: "):
        check_python_packages()
        shared_dir = ask_nfs(env)
        shared_file = common.shared_env_path(shared_dir)
        common.backup_env_file(shared_file)
        for key, value in common.read_env(shared_file).items():
            env.setdefault(key, value)  # override=False (docs/ce-facts.md §1.5)
        move_secret_file(env, os.path.join(shared_dir, ".env.keys"))
        ips = ask_ip_list(env)
        current = ask_current_node(env, ips)
        env.update(
            HA_ENABLED="True",
            HA_IP_LIST=",".join(ips),
            HA_CURRENT_NODE=current,
            HA_NFS_DATA_DIRECTORY=shared_dir,
            HA_PRIMARY_NODE_IP=current,
        )
        create_required_files(shared_dir)
    else:
        for key in HA_KEYS:
            env.pop(key, None)
        if common.uses_secret_file():
            move_secret_file(env, common.LOCAL_SECRET_FILE)
    if common.uses_secret_file():
        ensure_setup_ids(env)
    run_checks(env, ha=shared_dir is not None, ignore=ignore)
    new_password = ask_config_params(env, shared_dir)
    if not common.uses_secret_file() and new_password is not None:
        env["MAINTENANCE_PASSWORD"] = new_password  # 4.x: plaintext in .env (docs/ce-facts.md §5.1)
        env["IS_MPASS_CONFIGURED"] = "True"
    elif new_password is not None:
        write_secret_file(env, new_password)
        env["IS_MPASS_CONFIGURED"] = "True"
    ask_custom_ca(shared_dir)
    stamp_release(env)
    common.write_env(".env", env)
    take_env_backup(env)
    if shared_dir:
        shared = {key: value for key, value in env.items() if key != "HA_CURRENT_NODE"}
        common.write_env(common.shared_env_path(shared_dir), shared)
        write_compose_files(env, shared_dir)
    print_success()
    return 0


def run_secondary(args: argparse.Namespace, env: dict[str, str]) -> int:
    ignore = bool(args.ignore_failures)
    check_python_packages()
    shared_dir = os.path.abspath(args.location)
    shared_file = common.shared_env_path(shared_dir)
    if not os.path.isfile(shared_file):
        raise RuntimeError(f"{shared_file} not found: run the setup on the primary node first (or check --location).")
    common.backup_env_file(shared_file)
    env.update(common.read_env(shared_file))  # the shared values win (docs/ce-facts.md §1.4)
    common.read_env(os.path.join(shared_dir, "config", ".env.ceversion"))
    ips = [ip for ip in env.get("HA_IP_LIST", "").split(",") if ip]
    print(f"The HA is enabled. Current HA IP list: {','.join(ips)}")
    current = ask_current_node(env, ips)
    env.update(HA_CURRENT_NODE=current, HA_NFS_DATA_DIRECTORY=shared_dir, LOCATION=os.path.join(shared_dir, ".env.keys"))
    # Quirk of 5.x: a secondary run writes HA_ENABLED=False (docs/ce-facts.md §1.4, §C8).
    env["HA_ENABLED"] = "False"
    create_required_files(shared_dir)
    run_checks(env, ha=True, ignore=ignore)
    ask_custom_ca(shared_dir)
    stamp_release(env, inherit=True)
    common.write_env(".env", env)
    take_env_backup(env)
    shared = {key: value for key, value in env.items() if key != "HA_CURRENT_NODE"}
    common.write_env(shared_file, shared)
    write_compose_files(env, shared_dir)
    print_success()
    return 0


def run(args: argparse.Namespace) -> int:
    banner()
    check_git_tree()
    check_selinux(bool(args.ignore_failures))
    if not os.path.exists(".env"):
        open(".env", "a", encoding="utf-8").close()
    env = read_local_env()
    if common.has_version_menu():
        choose_version(env)
    if getattr(args, "location", None):
        return run_secondary(args, env)
    return run_primary(args, env)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=f"Stand-in (test double) of Netskope CE {CE_VERSION} setup")
    if common.supports_ha():
        parser.add_argument("-l", "--location", help="Location of the NFS mount directory")
    parser.add_argument("--ignore-failures", nargs="?", const=True, default=False, help="Ignore failed checks")
    return parser


def main(argv: list[str] | None = None) -> int:
    if common.is_v6():  # 6.x: config-driven, no prompts (docs/ce-facts.md §1.7)
        from standin import setup6

        return setup6.main(argv)
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except Refusal as exc:
        print(exc)
        return 1
    except Exception as exc:  # noqa: BLE001 - CE 5.x: print(e) and exit 0 (docs/ce-facts.md §1.6)
        print(exc)
        return 0
