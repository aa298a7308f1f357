# TEST DOUBLE of Netskope Cloud Exchange (stand-in for tests): tests of the double itself.
"""Tests of the stand-in CE (tests/fakes/standin_ce): it must behave as docs/ce-facts.md says.

Everything runs locally in temporary directories: no hosts, loopback only. The fake mongods of
the cluster test bind 127.0.0.11-13:27017 (each node's HA_CURRENT_NODE), the standalone one
127.0.0.1:27017. ``--ignore-failures`` is used because the test machine fails the CPU check.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pexpect  # type: ignore[import-untyped]
import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from pymongo import MongoClient
from pymongo.errors import OperationFailure

from tests.fakes.standin_ce.make_repo import MARKER, make_repo
from tests.netutil import port_free

NODE_IPS = ("127.0.0.11", "127.0.0.12", "127.0.0.13")
JWT = "jwtSecret42"
PASSWORD = "Maint#1pass"  # '#' must be URL-encoded in MAINTENANCE_PASSWORD_ESCAPED
SUCCESS = "Setup completed successfully"
CAP = 200000

# prompt (substring of the text CE prints) -> answer; see docs/ce-facts.md §1.3 / §1.4
PROXY = "Are you using HTTP(s) proxy for outbound traffic? [y/n]"
TENANT = "Please Enter 'test' if you do not have any Netskope tenant: "
HA = "> Do you want to setup HA Parameters? [y/n]: "
NFS = "> Please provide the location of the NFS mount directory (Current: '"
IP_LIST = '> Enter comma separated IP list to connect the machines for HA. (Current: "'
CURRENT = '> Enter ip address of current node. (Current: "'
PROTOCOL = "Do you want to access CE over HTTP, or HTTPS (HTTPS is recommended)? "
PORT_DEFAULT = '> Enter the port on which you want to access the Netskope CE UI (Default: "443"): '
PORT_CURRENT = '> Enter the port on which you want to access the Netskope CE UI (Current: "443"): '
JWT_PROMPT = "> Enter a JWT Secret which will be used for signing the authentication tokens: "
MP = "> Enter maintenance password that will be used for RabbitMQ and MongoDB services"
MP_CONFIRM = "> Confirm maintenance password: "
TLS = '> Do you want to enable TLSv1.2 along with TLSv1.3 for CE UI (Default: "No"): '
CA = "> Do you want to provide custom CA certs? (y/n): "
BACKUP = "> Do you want to take backup of .env file? [y/n]: "
PRESS_ENTER = "One or more prerequisite checks could not be verified. Press Enter to continue"
MENU = "Select the version you want to install (1/2/3)"


# ------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="session")
def bare_repo(tmp_path_factory: pytest.TempPathFactory) -> str:
    return make_repo(tmp_path_factory.mktemp("standin-repo"))


@pytest.fixture(scope="session")
def pins_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Metadata of the HA pins (the test venv has pymongo 4.20 and no python-dotenv)."""
    root = tmp_path_factory.mktemp("pins")
    for name, version in (("PyYAML", "6.0.1"), ("python_dotenv", "1.0.0"), ("pymongo", "4.7.3")):
        info = root / f"{name}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    return str(root)


def script_env(pins: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.pop("PYTHONPATH", None)
    if pins:
        env["PYTHONPATH"] = pins
    return env


def clone(bare: str, dest: Path, tag: str | None = None) -> Path:
    subprocess.run(["git", "clone", "--quiet", bare, str(dest)], check=True)
    if tag:
        subprocess.run(["git", "-C", str(dest), "checkout", "--quiet", tag], check=True)
    return dest


@dataclass
class SetupRun:
    seen: list[str]  # prompts in the order setup asked them
    output: str
    code: int | None


def drive(node: Path, args: Sequence[str], answers: dict[str, str], env: dict[str, str]) -> SetupRun:
    """Run ./setup in a pty and answer by prompt text; returns (prompts seen in order, output)."""
    child = pexpect.spawn(str(node / "setup"), list(args), cwd=str(node), env=env, encoding="utf-8", timeout=60)
    prompts = list(answers)
    patterns = [re.escape(p) for p in prompts] + [pexpect.EOF]
    seen: list[str] = []
    output = ""
    while True:
        index = child.expect(patterns)
        output += child.before + (child.after if isinstance(child.after, str) else "")
        if index == len(prompts):
            break
        seen.append(prompts[index])
        child.sendline(answers[prompts[index]])
    child.close()
    return SetupRun(seen, output, child.exitstatus)


def primary_answers(nfs: Path, me: str = NODE_IPS[0], port: str = "") -> dict[str, str]:
    return {
        PROXY: "n",
        TENANT: "test",
        HA: "y",
        NFS: str(nfs),
        IP_LIST: ",".join(NODE_IPS),
        CURRENT: me,
        PROTOCOL: "https",
        PORT_DEFAULT: port,
        PORT_CURRENT: port,
        JWT_PROMPT: JWT,
        MP: PASSWORD,
        MP_CONFIRM: PASSWORD,
        TLS: "",
        CA: "n",
        BACKUP: "n",
        PRESS_ENTER: "",
    }


def piped_setup(node: Path, lines: Sequence[str], env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """./setup without a terminal (own session), stdin = the given lines then EOF."""
    return subprocess.run(
        ["./setup", *args], cwd=node, env=env, input="".join(f"{line}\n" for line in lines),
        capture_output=True, text=True, start_new_session=True, timeout=120, check=False,
    )  # fmt: skip


def primary_lines(nfs: Path) -> list[str]:
    """docs/ce-facts.md §1.6: the fresh-primary stdin sequence."""
    return ["n", "test", "y", str(nfs), ",".join(NODE_IPS), NODE_IPS[0], "https", "", JWT, PASSWORD, PASSWORD, "", "n", "n"]


def decrypt(env: dict[str, str], value: str) -> str:
    """docs/ce-facts.md §5.1, independent of openssl: AES-256-CBC, key sha256(CE_SETUP_ID), IV CE_IV, PKCS#7."""
    key = hashlib.sha256(env["CE_SETUP_ID"].encode()).digest()
    decryptor = Cipher(algorithms.AES(key), modes.CBC(bytes.fromhex(env["CE_IV"]))).decryptor()
    padded = decryptor.update(base64.b64decode(value)) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return (unpadder.update(padded) + unpadder.finalize()).decode()


def read_env(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key] = value.strip('"')
    return values


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# ----------------------------------------------------------------------------------- the repo


def test_repo_has_tags_markers_and_serves_dumb_http(bare_repo: str, tmp_path: Path) -> None:
    node = clone(bare_repo, tmp_path / "ce")
    tags = subprocess.run(["git", "-C", str(node), "tag"], capture_output=True, text=True, check=True).stdout.split()
    assert tags == ["4.2.0", "5.1.0", "5.1.1", "v4.2.0", "v5.1.0", "v5.1.1", "v5.1.2", "v6.0.1", "v6.1.0"]  # 6.x: see test_standin_ce6.py
    describe = subprocess.run(["git", "-C", str(node), "describe"], capture_output=True, text=True, check=True)
    assert describe.stdout.strip() == "v5.1.2"
    assert (Path(bare_repo) / "info" / "refs").is_file()
    assert "refs/tags/v5.1.0" in (Path(bare_repo) / "info" / "refs").read_text()
    listing = subprocess.run(["git", "-C", str(node), "ls-files", "-s"], capture_output=True, text=True, check=True)
    files = {line.split("\t")[1]: line.split()[0] for line in listing.stdout.splitlines()}
    for name in ("setup", "start", "stop", "replica_set", "standin-install-standalone"):
        assert files[name] == "100755", name
    for name in files:
        head = (node / name).read_text().splitlines()[:3]
        assert any(MARKER in line for line in head), f"{name} lacks the test-double marker"
    for tag, version in (("v4.2.0", "4.2.0"), ("v5.1.0", "5.1.0")):
        shown = subprocess.run(["git", "-C", str(node), "show", f"{tag}:standin/version.py"], capture_output=True, text=True, check=True)
        assert f'CE_VERSION = "{version}"' in shown.stdout


# ------------------------------------------------------------------------------------- setup


def test_primary_setup_prompts_files_and_secrets(bare_repo: str, pins_dir: str, tmp_path: Path) -> None:
    node = clone(bare_repo, tmp_path / "node1")
    nfs = tmp_path / "nfs"
    nfs.mkdir()
    run = drive(node, ["--ignore-failures"], primary_answers(nfs), script_env(pins_dir))

    assert run.seen == [PROXY, TENANT, HA, NFS, IP_LIST, CURRENT, PROTOCOL, PORT_DEFAULT, JWT_PROMPT, MP, MP_CONFIRM, TLS, CA, BACKUP]
    assert run.code == 0
    assert "Setup completed successfully...\r\nExecute this command in primary node to start the CE" in run.output

    env_text = (node / ".env").read_text()
    local = read_env(node / ".env")
    assert re.search(r'^CE_SETUP_ID="[0-9a-f-]{36}"$', env_text, re.M)
    assert local["INSTALL_VERSION"] == "5.1.2"
    assert local["CORE_TAG"] == "netskopetechnicalalliances/cloudexchange:core5-5.1.2"
    assert local["HA_IP_LIST"] == ",".join(NODE_IPS)
    assert local["HA_CURRENT_NODE"] == local["HA_PRIMARY_NODE_IP"] == NODE_IPS[0]
    assert local["HA_NFS_DATA_DIRECTORY"] == str(nfs)
    assert local["UI_PORT"] == "443"
    assert local["JWT_SECRET"] == JWT
    assert local["IS_MPASS_CONFIGURED"] == "True"
    assert local["LOCATION"] == str(nfs / ".env.keys")

    shared = read_env(nfs / "config" / ".env")
    assert "HA_CURRENT_NODE" not in shared
    assert shared["HA_ENABLED"] == "True" and shared["JWT_SECRET"] == JWT
    assert shared["CE_SETUP_ID"] == local["CE_SETUP_ID"]
    assert not (nfs / "config" / ".env.ceversion").exists()  # docs/ce-facts.md §C4: ./start writes it

    keys = nfs / ".env.keys"
    assert mode(keys) == 0o400
    secrets = read_env(keys)
    assert decrypt(local, secrets["MAINTENANCE_PASSWORD"]) == f"'{PASSWORD}'\n"
    assert decrypt(local, secrets["MONGO_INITDB_ROOT_PASSWORD"]) == f"{PASSWORD}\n"
    assert decrypt(local, secrets["MAINTENANCE_PASSWORD_ESCAPED"]) == "Maint%231pass\n"
    assert PASSWORD not in keys.read_text()

    assert (nfs / "config" / "ssl_certs" / "cte_cert.crt").is_file()
    assert (nfs / "config" / "ssl_certs" / "cte_cert_key.key").is_file()
    assert os.listdir(nfs / "config" / "ca_certs") == [".keep"]
    assert mode(nfs / "config" / "mongo_replica.key") == 0o400
    assert len(base64.b64decode((nfs / "config" / "mongo_replica.key").read_text())) == 60
    for sub in ("repos", "plugins", "custom_plugins"):
        assert (nfs / sub).is_dir()
    assert str(nfs / "config" / ".env") in (node / "docker-compose-ha.yml").read_text()
    status = subprocess.run(["git", "-C", str(node), "status", "--porcelain"], capture_output=True, text=True)
    assert status.stdout == ""  # generated files are ignored; the tree stays clean for the next run

    # re-run: certs present -> no protocol prompt; password configured -> skipped; port shows Current
    rerun = drive(node, ["--ignore-failures"], primary_answers(nfs), script_env(pins_dir))
    assert rerun.seen == [PROXY, TENANT, HA, NFS, IP_LIST, CURRENT, PORT_CURRENT, JWT_PROMPT, TLS, CA, BACKUP]
    assert SUCCESS in rerun.output
    assert f"(Current: '{nfs}')" in rerun.output
    assert [p.name for p in node.glob(".env.[0-9]*")], "reading .env leaves .env.<epoch>"
    assert [p.name for p in (nfs / "config").glob(".env.[0-9]*")], "reading the shared .env leaves a copy"
    assert read_env(keys) == secrets  # secrets untouched


def test_secondary_setup_asks_only_its_ip(bare_repo: str, pins_dir: str, tmp_path: Path) -> None:
    nfs = tmp_path / "nfs"
    nfs.mkdir()
    primary = clone(bare_repo, tmp_path / "node1")
    assert SUCCESS in piped_setup(primary, primary_lines(nfs), script_env(pins_dir), "--ignore-failures").stdout
    node = clone(bare_repo, tmp_path / "node2")
    answers = {CURRENT: "10.9.9.9", PRESS_ENTER: "", CA: "n", BACKUP: "n"}
    # an IP outside the list is refused and the prompt comes again
    child = pexpect.spawn(
        str(node / "setup"), ["--location", str(nfs), "--ignore-failures"], cwd=str(node), env=script_env(pins_dir),
        encoding="utf-8", timeout=60,
    )  # fmt: skip
    child.expect_exact("The HA is enabled. Current HA IP list: " + ",".join(NODE_IPS))
    child.expect_exact(CURRENT)
    child.sendline(answers[CURRENT])
    child.expect_exact(CURRENT)
    child.sendline(NODE_IPS[1])
    seen = []
    while True:
        index = child.expect([re.escape(CA), re.escape(BACKUP), re.escape(PROTOCOL), re.escape(JWT_PROMPT), pexpect.EOF])
        if index == 4:
            break
        assert index < 2, f"secondary must not ask {child.after!r}"
        seen.append((CA, BACKUP)[index])
        child.sendline("n")
    child.close()
    assert seen == [CA, BACKUP]
    assert SUCCESS in (child.before or "")
    local = read_env(node / ".env")
    assert local["HA_CURRENT_NODE"] == NODE_IPS[1]
    assert local["HA_PRIMARY_NODE_IP"] == NODE_IPS[0]
    assert local["LOCATION"] == str(nfs / ".env.keys")
    assert local["JWT_SECRET"] == JWT
    assert read_env(nfs / "config" / ".env")["HA_ENABLED"] == "False"  # 5.x quirk (docs/ce-facts.md §1.4)


def test_getpass_reads_stdin_without_a_terminal(bare_repo: str, pins_dir: str, tmp_path: Path) -> None:
    node = clone(bare_repo, tmp_path / "node1")
    nfs = tmp_path / "nfs"
    nfs.mkdir()
    result = piped_setup(node, primary_lines(nfs), script_env(pins_dir), "--ignore-failures")
    assert result.returncode == 0
    assert SUCCESS in result.stdout
    assert "GetPassWarning" in result.stderr
    local = read_env(node / ".env")
    assert local["JWT_SECRET"] == JWT
    assert decrypt(local, read_env(nfs / ".env.keys")["RABBITMQ_DEFAULT_PASS"]) == f"{PASSWORD}\n"


def test_eof_at_ha_prompt_loops_invalid_input_but_is_capped(bare_repo: str, pins_dir: str, tmp_path: Path) -> None:
    node = clone(bare_repo, tmp_path / "node1")
    result = piped_setup(node, ["n", "test"], script_env(pins_dir))
    assert result.returncode == 99
    assert result.stdout.count("Invalid input") == CAP
    assert result.stdout.count(HA) == CAP
    assert SUCCESS not in result.stdout
    assert "loops forever" in result.stderr


def test_eof_at_plain_input_prints_error_and_exits_zero(bare_repo: str, pins_dir: str, tmp_path: Path) -> None:
    node = clone(bare_repo, tmp_path / "node1")
    result = piped_setup(node, ["n"], script_env(pins_dir))
    assert result.returncode == 0
    assert "EOF when reading a line" in result.stdout
    assert SUCCESS not in result.stdout


def test_dirty_tracked_file_refuses_before_any_prompt(bare_repo: str, pins_dir: str, tmp_path: Path) -> None:
    node = clone(bare_repo, tmp_path / "node1")
    with open(node / "docker-compose.yml", "a") as handle:
        handle.write("# local edit\n")
    result = piped_setup(node, primary_lines(tmp_path), script_env(pins_dir))
    assert result.returncode == 1
    assert "Local changes found" in result.stdout
    assert PROXY not in result.stdout
    (node / "docker-compose.yml").write_text(
        subprocess.run(["git", "-C", str(node), "show", "HEAD:docker-compose.yml"], capture_output=True, text=True).stdout
    )
    (node / "untracked.txt").write_text("untracked files are not checked\n")
    assert PROXY in piped_setup(node, ["n"], script_env(pins_dir)).stdout


def test_missing_python_pins_stop_ha_setup(bare_repo: str, tmp_path: Path) -> None:
    node = clone(bare_repo, tmp_path / "node1")
    result = piped_setup(node, primary_lines(tmp_path), script_env(None), "--ignore-failures")
    assert result.returncode == 1
    assert "pymongo>=4.6.3,<=4.7.3" in result.stdout
    assert "python-dotenv>=0.20.0,<=1.0.0 (not installed)" in result.stdout
    assert "NFS mount directory" not in result.stdout


def test_v510_opens_with_version_menu(bare_repo: str, pins_dir: str, tmp_path: Path) -> None:
    node = clone(bare_repo, tmp_path / "node1", tag="v5.1.0")
    child = pexpect.spawn(str(node / "setup"), [], cwd=str(node), env=script_env(pins_dir), encoding="utf-8", timeout=30)
    index = child.expect([re.escape(MENU), re.escape(PROXY)])
    assert index == 0, "the version menu must come before the first question"
    assert "5.1.0" in child.before
    child.sendline("1")
    child.expect_exact(PROXY)
    child.close(force=True)
    head = clone(bare_repo, tmp_path / "node2")
    child = pexpect.spawn(str(head / "setup"), [], cwd=str(head), env=script_env(pins_dir), encoding="utf-8", timeout=30)
    assert child.expect([re.escape(MENU), re.escape(PROXY)]) == 1
    child.close(force=True)


# ------------------------------------------------------------------------- start/stop, mongod


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[list[Path]]:
    """Node checkouts; at teardown any fake mongod they left is stopped by its pidfile."""
    created: list[Path] = []
    yield created
    for node in created:
        pidfile = node / "data" / "standin" / "fake_mongod.pid"
        try:
            pid = int(pidfile.read_text().strip())
            if b"fake_mongod" in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.kill(pid, signal.SIGTERM)
        except (OSError, ValueError):
            pass


def run_script(node: Path, name: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A script of the checkout; bounded above ./start's own wait for its mongod (90 s), so that a slow start says why."""
    return subprocess.run(
        [f"./{name}"], cwd=node, env=env, capture_output=True, text=True, timeout=150, check=False,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


def mongo(uri: str) -> MongoClient[dict[str, Any]]:
    return MongoClient(uri, serverSelectionTimeoutMS=5000)


def hello(ip: str) -> dict[str, object]:
    client: MongoClient[dict[str, object]] = MongoClient(f"mongodb://{ip}:27017/?directConnection=true", serverSelectionTimeoutMS=3000)
    try:
        return dict(client.admin.command("hello"))
    finally:
        client.close()


def test_cluster_start_join_stop(bare_repo: str, pins_dir: str, tmp_path: Path, nodes: list[Path]) -> None:
    if not all(port_free(ip) for ip in NODE_IPS):
        pytest.skip("127.0.0.11-13:27017 busy")
    env = script_env(pins_dir)
    nfs = tmp_path / "nfs"
    nfs.mkdir()
    for index, ip in enumerate(NODE_IPS):
        node = clone(bare_repo, tmp_path / f"node{index + 1}")
        nodes.append(node)
        if index == 0:
            lines = primary_lines(nfs)
            result = piped_setup(node, lines, env, "--ignore-failures")
        else:
            result = piped_setup(node, [ip, "n", "n"], env, "--location", str(nfs), "--ignore-failures")
        assert SUCCESS in result.stdout, result.stdout
    node1, node2, node3 = nodes

    # a secondary cannot join while no primary runs
    early = run_script(node2, "start", env)
    assert early.returncode == 1
    assert run_script(node2, "stop", env).returncode == 0
    assert not (node2 / "data" / "standin" / "fake_mongod.pid").exists()

    first = run_script(node1, "start", env)
    assert first.returncode == 0, first.stdout
    assert "The database version 5.1.2 is correct." in first.stdout
    assert "Execute this command in remaining nodes to form a cluster" in first.stdout
    assert read_env(nfs / "config" / ".env.ceversion") == {"CURRENT_DATABASE_VERSION": "5.1.2"}
    alone = hello(NODE_IPS[0])
    assert alone["setName"] == "mongo_replica_set"
    assert alone["isWritablePrimary"] is True and alone["secondary"] is False
    assert alone["hosts"] == [f"{NODE_IPS[0]}:27017"]

    for node in (node2, node3):
        joined = run_script(node, "start", env)
        assert joined.returncode == 0, joined.stdout
    everyone = [f"{ip}:27017" for ip in NODE_IPS]
    second = hello(NODE_IPS[1])
    assert second["hosts"] == everyone
    assert second["secondary"] is True and second["isWritablePrimary"] is False
    assert second["primary"] == everyone[0]
    assert int(str(second["maxWireVersion"])) >= 9

    with mongo(f"mongodb://root:Maint%231pass@{NODE_IPS[2]}:27017/?replicaSet=mongo_replica_set&authSource=admin") as client:
        status = client.admin.command("replSetGetStatus")
    assert [(m["name"], m["stateStr"]) for m in status["members"]] == [
        (everyone[0], "PRIMARY"), (everyone[1], "SECONDARY"), (everyone[2], "SECONDARY"),
    ]  # fmt: skip
    with mongo(f"mongodb://{NODE_IPS[1]}:27017/?directConnection=true") as anon:
        with pytest.raises(OperationFailure) as unauthorized:
            anon.admin.command("replSetGetStatus")
    assert unauthorized.value.code == 13
    with mongo(f"mongodb://root:wrong@{NODE_IPS[1]}:27017/?directConnection=true&authSource=admin") as wrong:
        with pytest.raises(OperationFailure) as failed:
            wrong.admin.command("replSetGetStatus")
    assert failed.value.code == 18

    again = run_script(node2, "start", env)  # docs/ce-facts.md §6.1 / §9.8
    assert again.returncode == 1
    assert "The node is already connected with the cluster." in again.stdout

    # stopping the primary steps it down and moves HA_PRIMARY_NODE_IP (docs/ce-facts.md §6.2)
    assert run_script(node1, "stop", env).returncode == 0
    assert read_env(node1 / ".env")["HA_PRIMARY_NODE_IP"] == NODE_IPS[1]
    assert read_env(nfs / "config" / ".env")["HA_PRIMARY_NODE_IP"] == NODE_IPS[1]
    third = hello(NODE_IPS[2])
    assert third["primary"] == everyone[1] and third["hosts"] == everyone[1:]
    assert hello(NODE_IPS[1])["isWritablePrimary"] is True
    repeat = run_script(node1, "stop", env)
    assert repeat.returncode == 0 and "not running" in repeat.stdout
    stops = (node1 / "data" / "standin" / "stops.log").read_text().splitlines()
    assert [line.split()[1] for line in stops] == ["stopped", "not-running"]  # every ./stop is recorded

    assert run_script(node3, "stop", env).returncode == 0
    last = run_script(node2, "stop", env)
    assert last.returncode == 0 and "last node" in last.stdout
    state = json.loads((nfs / ".standin" / "replset.json").read_text())
    assert [m["host"] for m in state["members"]] == [everyone[1]]
    for node in nodes:
        assert not (node / "data" / "standin" / "fake_mongod.pid").exists()


# ------------------------------------------------------------------------------- standalone


def test_standalone_install_start_and_ha_conversion(bare_repo: str, pins_dir: str, tmp_path: Path, nodes: list[Path]) -> None:
    node = clone(bare_repo, tmp_path / "standalone")
    nodes.append(node)
    env = script_env(pins_dir)
    secrets = tmp_path / "secrets.json"
    secrets.write_text(json.dumps({"maintenance_password": PASSWORD, "jwt_secret": JWT}))
    secrets.chmod(0o644)
    refused = subprocess.run(["./standin-install-standalone", "--secrets", str(secrets)], cwd=node, env=env, capture_output=True, text=True)
    assert refused.returncode != 0 and "chmod 600" in refused.stderr
    secrets.chmod(0o600)
    installed = subprocess.run(
        ["./standin-install-standalone", "--secrets", str(secrets), "--ignore-failures"],
        cwd=node, env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stdout + installed.stderr
    local = read_env(node / ".env")
    assert local["INSTALL_VERSION"] == "5.1.2"
    assert local["CORE_TAG"] == "netskopetechnicalalliances/cloudexchange:core5-5.1.2"
    assert local["IS_MPASS_CONFIGURED"] == "True" and local["LOCATION"] == "./.env.keys"
    assert not any(key.startswith("HA_") for key in local)
    assert mode(node / ".env.keys") == 0o400
    assert decrypt(local, read_env(node / ".env.keys")["MONGODB_PASSWORD"]) == f"{PASSWORD}\n"
    assert (node / "data" / "ssl_certs" / "cte_cert.crt").is_file()

    if port_free("127.0.0.1"):
        started = run_script(node, "start", env)
        assert started.returncode == 0, started.stdout
        assert read_env(node / ".env.ceversion") == {"CURRENT_DATABASE_VERSION": "5.1.2"}
        reply = hello("127.0.0.1")
        assert reply["isWritablePrimary"] is True and "setName" not in reply
        with mongo("mongodb://root:Maint%231pass@127.0.0.1:27017/?directConnection=true&authSource=admin") as client:
            with pytest.raises(OperationFailure) as no_replset:
                client.admin.command("replSetGetStatus")
        assert no_replset.value.code == 76
        assert run_script(node, "stop", env).returncode == 0
        assert not (node / "data" / "standin" / "fake_mongod.pid").exists()

    # standalone -> HA: .env.keys moves to the shared folder, the password prompt disappears (7.2)
    nfs = tmp_path / "nfs"
    nfs.mkdir()
    run = drive(node, ["--ignore-failures"], primary_answers(nfs), env)
    assert MP not in run.seen and PROTOCOL in run.seen and JWT_PROMPT in run.seen
    assert SUCCESS in run.output
    assert not (node / ".env.keys").exists()
    converted = read_env(node / ".env")
    assert converted["LOCATION"] == str(nfs / ".env.keys")
    assert decrypt(converted, read_env(nfs / ".env.keys")["MONGO_INITDB_ROOT_PASSWORD"]) == f"{PASSWORD}\n"


def test_tenant_url_makes_press_enter_appear(bare_repo: str, pins_dir: str, tmp_path: Path) -> None:
    node = clone(bare_repo, tmp_path / "node1")
    answers = primary_answers(tmp_path)
    answers[TENANT] = "https://demo.goskope.com"
    answers[HA] = "n"
    run = drive(node, ["--ignore-failures"], answers, script_env(pins_dir))
    assert run.seen == [PROXY, TENANT, HA, PRESS_ENTER, PROTOCOL, PORT_DEFAULT, JWT_PROMPT, MP, MP_CONFIRM, TLS, CA, BACKUP]
    assert SUCCESS in run.output
    assert read_env(node / ".env")["TENANT_URL"] == "https://demo.goskope.com"


def test_failed_check_without_ignore_failures_stops_setup(bare_repo: str, pins_dir: str, tmp_path: Path) -> None:
    if os.cpu_count() in (8, 16):
        pytest.skip("this machine passes the CPU check")
    node = clone(bare_repo, tmp_path / "node1")
    started = time.monotonic()
    result = piped_setup(node, ["n", "test", "n"], script_env(pins_dir))
    assert result.returncode == 1
    assert "Installation failed" in result.stdout
    assert PROTOCOL not in result.stdout
    assert time.monotonic() - started < 30


def install_standalone(node: Path, tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    secrets = tmp_path / f"secrets-{node.name}.json"
    secrets.write_text(json.dumps({"maintenance_password": PASSWORD, "jwt_secret": JWT}))
    secrets.chmod(0o600)
    return subprocess.run(
        ["./standin-install-standalone", "--secrets", str(secrets), "--ignore-failures"],
        cwd=node, env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def test_older_releases_lay_down_their_own_files(bare_repo: str, pins_dir: str, tmp_path: Path) -> None:
    env = script_env(pins_dir)
    v510 = clone(bare_repo, tmp_path / "v510", tag="v5.1.0")
    result = install_standalone(v510, tmp_path, env)
    assert result.returncode == 0, result.stdout
    assert MENU in result.stdout
    local = read_env(v510 / ".env")
    assert local["INSTALL_VERSION"] == "5.1.0"
    assert local["CORE_TAG"] == "netskopetechnicalalliances/cloudexchange:core5-5.1.0"
    assert f"MAINTENANCE_PASSWORD='{PASSWORD}'" in (v510 / ".env.keys").read_text()  # 5.1.0: plaintext (docs/ce-facts.md §5.1)

    v420 = clone(bare_repo, tmp_path / "v420", tag="v4.2.0")
    result = install_standalone(v420, tmp_path, env)
    assert result.returncode == 0, result.stdout
    assert HA not in result.stdout and MENU not in result.stdout
    local = read_env(v420 / ".env")
    assert "INSTALL_VERSION" not in local
    assert local["CORE_TAG"] == "netskopetechnicalalliances/cloudexchange:core4-4.2.0"
    assert local["MAINTENANCE_PASSWORD"] == PASSWORD  # 4.x: no secret file, password in .env
    assert not (v420 / ".env.keys").exists()
    refused = subprocess.run(["./setup", "--location", str(tmp_path)], cwd=v420, env=env, capture_output=True, text=True)
    assert refused.returncode == 2 and "--location" in refused.stderr


def test_selinux_enabled_stops_setup_unless_ignored(bare_repo: str, pins_dir: str, tmp_path: Path) -> None:
    node = clone(bare_repo, tmp_path / "node1")
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    sestatus = fake_bin / "sestatus"
    sestatus.write_text("#!/bin/sh\necho 'SELinux status:                 enabled'\n")
    sestatus.chmod(0o755)
    env = script_env(pins_dir)
    env["PATH"] = f"{fake_bin}{os.pathsep}{env['PATH']}"
    refused = piped_setup(node, ["n"], env)
    assert refused.returncode == 1
    assert "SELinux is enabled" in refused.stdout and PROXY not in refused.stdout
    ignored = piped_setup(node, ["n"], env, "--ignore-failures")
    assert PROXY in ignored.stdout


def test_a_pidfile_caught_half_written_is_not_taken_for_a_stale_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """./start polls the pidfile while the fake mongod writes it: an empty or partial one is not removed as stale (it once
    was, and ./start then waited its full 90 s for a mongod that ran); one naming a process that is gone is."""
    monkeypatch.syspath_prepend(str(Path(__file__).parent / "standin_ce" / "ce_repo"))
    monkeypatch.chdir(tmp_path)
    from standin import common

    pidfile = tmp_path / common.PIDFILE
    pidfile.parent.mkdir(parents=True)
    pidfile.write_text("")  # opened for writing, nothing written yet
    assert common.running_pid() is None and pidfile.exists()
    mongod = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "fake_mongod"])  # its cmdline names it
    try:
        deadline = time.monotonic() + 10
        while b"fake_mongod" not in Path(f"/proc/{mongod.pid}/cmdline").read_bytes() and time.monotonic() < deadline:
            time.sleep(0.05)  # until the child has exec'd
        pidfile.write_text(f"{mongod.pid}\n")
        assert common.running_pid() == mongod.pid
    finally:
        mongod.kill()
        mongod.wait()
    assert common.running_pid() is None and not pidfile.exists()  # the process is gone: stale
