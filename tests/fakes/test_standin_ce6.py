# TEST DOUBLE of Netskope Cloud Exchange (stand-in for tests): tests of the double itself (6.x line).
"""Tests of the stand-in CE's 6.x flavour (tag v6.1.0) and its GlusterFS stand-in, against docs/ce-facts.md.

Local temporary directories only, loopback only. The TEST-ONLY hooks move the host paths:
``STANDIN_OPT_SHARED`` (CE's /opt/shared, one per test = the "bind-mounted" shared folder of all
nodes), ``STANDIN_SYSTEMD_DIR`` (per node; systemctl is then never run) and
``STANDIN_GLUSTER_LOCAL`` (per node: glusterd.info, pidfile, glusterd.vol with the node's
bind-address). Fake glusterds listen on 127.0.0.11-13:24007, fake mongods on :27017.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pymongo import MongoClient

from scripts.cenode.gluster import VolumeInfo, parse_peer_status, parse_volume_info
from tests.fakes.standin_ce.make_repo import make_repo
from tests.fakes.test_standin_ce import clone, decrypt, hello, mode, read_env
from tests.netutil import port_free

NODE_IPS = ("127.0.0.11", "127.0.0.12", "127.0.0.13")
JWT = "jwtSecret42"
PASSWORD = "Maint#1pass"
SUCCESS = "Setup completed successfully"
VOLUME = "CloudExchange"
REPO_SHIM = Path(__file__).parent / "standin_ce" / "ce_repo" / "standin-install-gluster"
LOCAL_ENV_KEYS = {"HA_CURRENT_NODE", "HA_NFS_DATA_DIRECTORY", "LOCATION", "CE_SETUP_ID", "CE_HEX_CODE", "CE_IV", "ENV_FILE"}
TLS_FILES = ("tls_cert.crt", "tls_cert_key.key", "tls_cert_key.pem", "tls_cert_ca.crt", "tls_cert_ca.key")


# ------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="session")
def bare_repo(tmp_path_factory: pytest.TempPathFactory) -> str:
    return make_repo(tmp_path_factory.mktemp("standin-repo6"))


@pytest.fixture(scope="session")
def pins_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Metadata of the HA pins (the test venv has pymongo 4.20 and no python-dotenv)."""
    root = tmp_path_factory.mktemp("pins6")
    for name, version in (("PyYAML", "6.0.1"), ("python_dotenv", "1.0.0"), ("pymongo", "4.7.3")):
        info = root / f"{name}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    return str(root)


@pytest.fixture(scope="session")
def shim_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The GlusterFS stand-in installed once into a temporary bin dir (no mount helper, no unit)."""
    root = tmp_path_factory.mktemp("gluster-bin")
    result = subprocess.run(
        [sys.executable, str(REPO_SHIM), "--bin-dir", str(root / "bin"), "--mount-helper-dir", "", "--systemd-dir", "",
         "--opt-shared", str(root / "unused-opt"), "--local-dir", str(root / "unused-local")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return root / "bin"


@dataclass
class Node:
    root: Path
    ce: Path
    ip: str
    env: dict[str, str]

    @property
    def gluster_local(self) -> Path:
        return Path(self.env["STANDIN_GLUSTER_LOCAL"])


@dataclass
class Lab:
    tmp: Path
    bare: str
    opt: Path
    shim_bin: Path
    pins: str
    nodes: list[Node] = field(default_factory=list)

    @property
    def data(self) -> Path:
        return self.opt / "data"

    @property
    def mountinfo(self) -> Path:
        """The mount table the stand-in's "mount" writes (STANDIN_MOUNTINFO): one for all nodes, as
        the hosts share one folder."""
        return self.tmp / "mountinfo"

    def mounted_source(self) -> str:
        """The source of the mount at the data folder in the table ("" = not mounted)."""
        found = ""
        for line in self.mountinfo.read_text().splitlines() if self.mountinfo.exists() else []:
            left, _, right = line.partition(" - ")
            if left.split()[4:5] == [str(self.data)]:
                found = right.split()[1]
        return found

    def unmount(self) -> str:
        """Drop the data folder's mount from the table; returns the table before."""
        before = self.mountinfo.read_text() if self.mountinfo.exists() else ""
        self.mountinfo.write_text("".join(line for line in before.splitlines(keepends=True) if f" {self.data} " not in line))
        return before

    @property
    def brick(self) -> str:
        return str(self.opt / "gluster" / "bricks" / "1" / "brick")

    def node(self, index: int, tag: str = "v6.1.0", shims: bool = True) -> Node:
        root = self.tmp / f"node{index + 1}"
        root.mkdir()
        ce = clone(self.bare, root / "ta_cloud_exchange", tag=tag)
        (root / "systemd").mkdir()
        (root / "glusterd").mkdir()
        ip = NODE_IPS[index]
        (root / "glusterd" / "glusterd.vol").write_text(f"volume management\n    option transport.socket.bind-address {ip}\nend-volume\n")
        env = dict(os.environ)
        path = [os.path.dirname(sys.executable), env.get("PATH", "")]
        env["PATH"] = os.pathsep.join(([str(self.shim_bin)] if shims else []) + path)
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env["PYTHONPATH"] = self.pins
        env.update(STANDIN_OPT_SHARED=str(self.opt), STANDIN_SYSTEMD_DIR=str(root / "systemd"), STANDIN_GLUSTER_LOCAL=str(root / "glusterd"))
        env.update(STANDIN_MOUNTINFO=str(self.mountinfo))
        node = Node(root, ce, ip, env)
        self.nodes.append(node)
        return node


def _kill_by_pidfile(pidfile: Path, name: bytes) -> None:
    """SIGTERM to the daemon named in the pidfile (if it is one of ours), then wait until it is gone."""
    try:
        pid = int(pidfile.read_text().strip())
        if name not in Path(f"/proc/{pid}/cmdline").read_bytes():
            return
        os.kill(pid, signal.SIGTERM)
    except (OSError, ValueError):
        return
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        try:  # gone, or a zombie nobody reaps (orphans of a container without init)
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return
        except (OSError, IndexError):
            return
        time.sleep(0.02)


@pytest.fixture
def lab(bare_repo: str, pins_dir: str, shim_bin: Path, tmp_path: Path) -> Iterator[Lab]:
    if not all(port_free(ip, 24007) for ip in NODE_IPS):
        pytest.skip("127.0.0.11-13:24007 busy")
    opt = tmp_path / "opt"
    (opt / "data").mkdir(parents=True)
    created = Lab(tmp_path, bare_repo, opt, shim_bin, pins_dir)
    yield created
    for node in created.nodes:
        _kill_by_pidfile(node.gluster_local / "standin-glusterd.pid", b"glusterd")
        _kill_by_pidfile(node.ce / "data" / "standin" / "fake_mongod.pid", b"fake_mongod")


# ------------------------------------------------------------------------------------- helpers


def run(node: Node, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """A script of the checkout (or a PATH tool) without a terminal; stdin closed unless given."""
    command = [f"./{args[0]}", *args[1:]] if (node.ce / args[0]).is_file() else list(args)
    return subprocess.run(
        command, cwd=node.ce, env=node.env, capture_output=True, text=True, timeout=120, check=False,
        input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip


def write_config(node: Node, text: str) -> None:
    (node.ce / "cloudexchange.config").write_text(text)


def ha_config(node: Node, primary: bool, secrets: bool = True) -> str:
    lines = [
        "# cloudexchange.config written by the test",
        "UI_PROTOCOL=https",
        'TLS_VERSION="1.3"',
        f'MAINTENANCE_PASSWORD="{PASSWORD}"' if secrets else "MAINTENANCE_PASSWORD=",
        f"JWT_SECRET='{JWT}'" if secrets else "JWT_SECRET=",
        "HA_ENABLED=True",
        f"HA_IP_LIST={','.join(NODE_IPS)}",
        f"HA_CURRENT_NODE={node.ip}",
        f"HA_PRIMARY_NODE_IP={node.ip}" if primary else "",
    ]
    return "\n".join(lines) + "\n"


def setup_primary(lab: Lab) -> Node:
    node = lab.node(0)
    write_config(node, ha_config(node, primary=True))
    result = run(node, "setup", "--ignore-failures")
    assert result.returncode == 0, result.stdout + result.stderr
    assert SUCCESS in result.stdout
    return node


def gluster_state(lab: Lab) -> dict[str, dict[str, dict[str, object]]]:
    state: dict[str, dict[str, dict[str, object]]] = json.loads((lab.data / ".standin-gluster" / "state.json").read_text())
    return state


def join_gluster(lab: Lab, primary: Node, node: Node, replica: int) -> None:
    """docs/ce-facts.md §1.9 B steps 1-3, through the stand-in CLI."""
    assert run(node, "glusterd").returncode == 0
    assert run(primary, "gluster", "peer", "probe", node.ip).stdout.strip() == "peer probe: success"
    added = run(primary, "gluster", "--mode=script", "volume", "add-brick", VOLUME, "replica", str(replica), f"{node.ip}:{lab.brick}", "force")
    assert added.returncode == 0, added.stderr
    assert run(primary, "gluster", "volume", "heal", VOLUME, "full").returncode == 0
    mounted = run(node, "glusterfs", f"--volfile-server={node.ip}", f"--volfile-id={VOLUME}", str(lab.data))
    assert mounted.returncode == 0, mounted.stderr


def volume_info(node: Node) -> str:
    result = run(node, "gluster", "volume", "info", VOLUME)
    assert result.returncode == 0, result.stderr
    return result.stdout


# ----------------------------------------------------------------------------------- the repo


def test_v610_tag_sits_on_its_own_branch(bare_repo: str, tmp_path: Path) -> None:
    node = clone(bare_repo, tmp_path / "ce")
    git = ["git", "-C", str(node)]
    tags = subprocess.run([*git, "tag"], capture_output=True, text=True, check=True).stdout.split()
    assert tags == ["4.2.0", "5.1.0", "5.1.1", "v4.2.0", "v5.1.0", "v5.1.1", "v5.1.2", "v6.0.1", "v6.1.0"]  # CE spells <5.1.2 without v
    assert subprocess.run([*git, "describe"], capture_output=True, text=True, check=True).stdout.strip() == "v5.1.2"
    assert subprocess.run([*git, "merge-base", "--is-ancestor", "v5.1.2", "v6.1.0"], check=False).returncode == 0
    assert "origin/release-6.x" in subprocess.run([*git, "branch", "-r", "--contains", "v6.1.0"], capture_output=True, text=True).stdout
    shown = subprocess.run([*git, "show", "v6.1.0:standin/version.py"], capture_output=True, text=True, check=True).stdout
    assert 'CE_VERSION = "6.1.0"' in shown
    earlier = subprocess.run([*git, "show", "v6.0.1:standin/version.py"], capture_output=True, text=True, check=True).stdout
    assert 'CE_VERSION = "6.0.1"' in earlier  # the release before it on the same branch: a within-line upgrade to v6.1.0
    assert subprocess.run([*git, "merge-base", "--is-ancestor", "v6.0.1", "v6.1.0"], check=False).returncode == 0
    listing = subprocess.run([*git, "ls-tree", "-r", "v6.1.0"], capture_output=True, text=True, check=True).stdout
    modes = {line.split("\t")[1]: line.split()[0] for line in listing.splitlines()}
    for name in ("setup", "start", "stop", "replica_set", "start_management_server", "standin-install-gluster", "standin-install-standalone"):
        assert modes[name] == "100755", name
    assert "cloudexchange.config.example" in modes and "cloudexchange.config" not in modes


# ------------------------------------------------------------------------------------- setup


def test_primary_setup_from_config_writes_the_files_and_blanks_the_secrets(lab: Lab) -> None:
    node = lab.node(0)
    write_config(node, ha_config(node, primary=True) + "SOMETHING_ELSE=1\n")
    result = run(node, "setup", "--ignore-failures")
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert SUCCESS in out and "Management service cloud-exchange installed and started successfully" in out
    assert "Warning: unknown key 'SOMETHING_ELSE'" in out
    assert "Setting following random" not in out
    assert (node.ce / ".cevenv" / "bin" / "activate").is_file()

    # GlusterFS: 1-brick volume on this node, started, "mounted" (docs/ce-facts.md §1.8, §2.2)
    info = volume_info(node)
    assert "Status: Started" in info and "Number of Bricks: 1\n" in info and f"Brick1: {node.ip}:{lab.brick}" in info
    assert lab.mounted_source() == f"{node.ip}:/{VOLUME}"
    assert "option transport.socket.listen-port 24007" in (node.gluster_local / "glusterd.vol").read_text()

    # env files: shared full, local reduced (docs/ce-facts.md §1.8), HA_ENABLED=True (docs/ce-facts.md §C8)
    shared_env = lab.data / "config" / ".env"
    shared = read_env(shared_env)
    local = read_env(node.ce / ".env")
    assert set(local) == LOCAL_ENV_KEYS
    assert local["ENV_FILE"] == str(shared_env) and local["HA_NFS_DATA_DIRECTORY"] == str(lab.data)
    assert local["LOCATION"] == str(lab.data / "config" / ".env.keys")
    assert shared["HA_ENABLED"] == "True" and shared["HA_PRIMARY_NODE_IP"] == node.ip and shared["HA_IP_LIST"] == ",".join(NODE_IPS)
    assert shared["INSTALL_VERSION"] == "6.1.0" and shared["CORE_TAG"] == "netskopetechnicalalliances/cloudexchange:core6-6.1.0"
    assert "HA_CURRENT_NODE" not in shared and "JWT_SECRET" not in shared and "JWT_SECRET" not in local
    assert shared["CE_SETUP_ID"] == local["CE_SETUP_ID"] and shared["IS_MPASS_CONFIGURED"] == "True"

    # secrets: encrypted without a trailing newline, JWT inside (docs/ce-facts.md §5.1), 0444 (docs/ce-facts.md §C6)
    keys_file = lab.data / "config" / ".env.keys"
    assert mode(keys_file) == 0o444
    keys = read_env(keys_file)
    assert decrypt(local, keys["JWT_SECRET"]) == JWT
    assert decrypt(local, keys["MAINTENANCE_PASSWORD"]) == f"'{PASSWORD}'"
    assert decrypt(local, keys["MAINTENANCE_PASSWORD_ESCAPED"]) == "Maint%231pass"
    assert decrypt(local, keys["MONGO_INITDB_ROOT_PASSWORD"]) == PASSWORD
    assert PASSWORD not in keys_file.read_text() and JWT not in keys_file.read_text()

    # certificates (docs/ce-facts.md §8, §C6) and the local copy of the Mongo/RabbitMQ set
    shared_tls = lab.data / "config" / "ssl_certs" / "mongodb_rabbitmq_certs"
    local_tls = node.ce / "data" / "ssl_certs" / "mongodb_rabbitmq_certs"
    for name in TLS_FILES:
        assert (shared_tls / name).read_bytes() == (local_tls / name).read_bytes(), name
    assert mode(shared_tls / "tls_cert_ca.key") == 0o644
    pem = (shared_tls / "tls_cert_key.pem").read_text()
    assert pem == (shared_tls / "tls_cert.crt").read_text() + (shared_tls / "tls_cert_key.key").read_text()
    text = subprocess.run(["openssl", "x509", "-noout", "-text", "-in", str(shared_tls / "tls_cert.crt")], capture_output=True, text=True).stdout
    assert re.search(r"Issuer: CN\s*=\s*CloudExchangeCA", text) and "DNS:mongodb-primary" in text and "IP Address:127.0.0.1" in text
    ca_file = str(shared_tls / "tls_cert_ca.crt")
    assert subprocess.run(["openssl", "verify", "-CAfile", ca_file, str(shared_tls / "tls_cert.crt")], capture_output=True).returncode == 0
    assert (lab.data / "config" / "ssl_certs" / "cte_cert.crt").is_file()
    assert (lab.data / "config" / "ca_certs" / ".keep").is_file()

    # backups (docs/ce-facts.md §C7), systemd unit (hook dir), config blanked (docs/ce-facts.md §1.7)
    backups = node.ce / "data" / "ce_env_backups"
    assert sorted(p.name for p in backups.iterdir()) == [".env.backup", ".env.ha.backup"]
    unit = (node.root / "systemd" / "cloud-exchange.service").read_text()
    assert f"ExecStart={node.ce}/start_management_server" in unit and "Restart=always" in unit
    config = (node.ce / "cloudexchange.config").read_text()
    assert "MAINTENANCE_PASSWORD=\n" in config and "JWT_SECRET=\n" in config and PASSWORD not in config and JWT not in config
    assert f"HA_PRIMARY_NODE_IP={node.ip}\n" in config and "SOMETHING_ELSE=1" in config
    status = subprocess.run(["git", "-C", str(node.ce), "status", "--porcelain"], capture_output=True, text=True)
    assert status.stdout == ""

    # re-run with the blanked config and the volume mounted: nothing new, secrets reused
    volume_id = re.search(r"Volume ID: (\S+)", info)
    rerun = run(node, "setup", "--ignore-failures")
    assert rerun.returncode == 0 and SUCCESS in rerun.stdout, rerun.stdout
    assert f"GlusterFS volume {VOLUME} is already mounted" in rerun.stdout
    assert "Setting following random" not in rerun.stdout
    assert volume_id and volume_id.group(0) in volume_info(node)
    assert read_env(keys_file) == keys


def test_missing_config_gives_defaults_and_printed_random_secrets(lab: Lab) -> None:
    node = lab.node(0)
    # a bare --check-prerequisites is None (argparse nargs='?'): the normal setup runs (docs/ce-facts.md §1.1)
    result = run(node, "setup", "--ignore-failures", "--check-prerequisites")
    out = result.stdout
    assert result.returncode == 0, out
    assert "cloudexchange.config not found" in out and SUCCESS in out
    password = re.search(r"Setting following random Maintenance Password - (\w+)", out)
    jwt = re.search(r"Setting following random JWT Secret - (\w+)", out)
    assert password and jwt and len(password.group(1)) == 32
    local = read_env(node.ce / ".env")
    assert local["LOCATION"] == "./.env.keys" and not any(key.startswith("HA_") for key in local)
    assert local["UI_PORT"] == "443" and local["CE_MANAGEMENT_PORT"] == "8000" and local["TLS_VERSION"] == "TLSv1.3"
    keys = read_env(node.ce / ".env.keys")
    assert mode(node.ce / ".env.keys") == 0o400
    assert decrypt(local, keys["MAINTENANCE_PASSWORD"]) == f"'{password.group(1)}'"
    assert decrypt(local, keys["JWT_SECRET"]) == jwt.group(1)
    assert lab.mounted_source() == "" and not (lab.data / ".standin-gluster").exists()
    assert sorted(p.name for p in (node.ce / "data" / "ce_env_backups").iterdir()) == [".env.backup", ".env.key.backup"]


def test_config_parsing_refusals_and_check_only_mode(lab: Lab) -> None:
    node = lab.node(0)
    write_config(node, "UI_PORT='8000'\n")
    same_port = run(node, "setup", "--ignore-failures")
    assert same_port.returncode == 1 and "UI_PORT and CE_MANAGEMENT_PORT must differ" in same_port.stdout
    write_config(node, "UI_PORT=abc\n")
    assert run(node, "setup").returncode == 1
    write_config(node, "# comment\nUI_PORT=8443\nHA_ENABLED=TRUE\nHA_CURRENT_NODE=\n")
    checks = run(node, "setup", "--check-prerequisites", "SA", "--ignore-failures")
    assert checks.returncode == 0 and "Prerequisite checks:" in checks.stdout and "UI_PORT 8443" in checks.stdout
    assert SUCCESS not in checks.stdout and not (node.ce / ".env").exists()
    if os.cpu_count() not in (8, 16):
        strict = run(node, "setup", "--check-prerequisites", "SA")
        assert strict.returncode == 1 and "Prerequisite checks failed." in strict.stdout
    wrong = run(node, "setup", "--check-prerequisites", "XX")
    assert wrong.returncode == 2 and "invalid choice" in wrong.stderr
    # HA_ENABLED=TRUE (-> true) with no node IPs cannot be a primary
    refused = run(node, "setup", "--ignore-failures")
    assert refused.returncode == 1 and "HA_CURRENT_NODE/HA_PRIMARY_NODE_IP are not set" in refused.stdout


def test_secondary_role_decision_and_gluster_join(lab: Lab) -> None:
    primary = setup_primary(lab)
    node = lab.node(1)
    write_config(node, ha_config(node, primary=False, secrets=False) + f"HA_NFS_DATA_DIRECTORY={lab.data}\n")

    mounted = lab.unmount()  # the shared mount is down
    down = run(node, "setup", "--ignore-failures")
    assert down.returncode == 1 and "is not mounted" in down.stdout
    lab.mountinfo.write_text(mounted)

    join_gluster(lab, primary, node, replica=2)
    before = volume_info(primary)
    result = run(node, "setup", "--ignore-failures")
    out = result.stdout
    assert result.returncode == 0, out
    assert "setting up this node as a secondary node" in out and "Setting up the GlusterFS volume" not in out
    assert "Setting following random" not in out
    assert volume_info(primary) == before and "Number of Bricks: 1 x 2 = 2" in before and "Type: Replicate" in before

    local = read_env(node.ce / ".env")
    assert set(local) == LOCAL_ENV_KEYS and local["HA_CURRENT_NODE"] == node.ip
    assert local["CE_SETUP_ID"] == read_env(primary.ce / ".env")["CE_SETUP_ID"]
    shared = read_env(lab.data / "config" / ".env")
    assert shared["HA_ENABLED"] == "True" and shared["HA_PRIMARY_NODE_IP"] == primary.ip
    assert decrypt(local, read_env(lab.data / "config" / ".env.keys")["JWT_SECRET"]) == JWT  # reused, config empty
    for name in TLS_FILES:
        local_file = node.ce / "data" / "ssl_certs" / "mongodb_rabbitmq_certs" / name
        assert local_file.read_bytes() == (primary.ce / "data" / "ssl_certs" / "mongodb_rabbitmq_certs" / name).read_bytes()
    assert (node.root / "systemd" / "cloud-exchange.service").is_file()


def test_rerun_on_primary_with_the_mount_down_recreates_the_volume(lab: Lab) -> None:
    """docs/ce-facts.md §2.2 / §9.12: the hazard a careful tool must never trigger, reproduced by the double."""
    primary = setup_primary(lab)
    join_gluster(lab, primary, lab.node(1), replica=2)
    old = gluster_state(lab)["volumes"][VOLUME]
    assert old["full_heals"] == 1 and len(old["bricks"]) == 2  # type: ignore[arg-type]

    write_config(primary, ha_config(primary, primary=True, secrets=False))
    mounted = run(primary, "setup", "--ignore-failures")
    assert mounted.returncode == 0 and "already mounted" in mounted.stdout
    assert gluster_state(lab)["volumes"][VOLUME] == old

    lab.unmount()
    rerun = run(primary, "setup", "--ignore-failures")
    assert rerun.returncode == 0, rerun.stdout
    assert f"Volume {VOLUME} exists but is not mounted" in rerun.stdout
    new = gluster_state(lab)["volumes"][VOLUME]
    assert new["id"] != old["id"] and new["bricks"] == [f"{primary.ip}:{lab.brick}"] and new["full_heals"] == 0
    assert "Number of Bricks: 1\n" in volume_info(primary)
    assert lab.mounted_source() == f"{primary.ip}:/{VOLUME}"
    assert (lab.data / "config" / ".env").is_file()  # the folder's content survives (CE moves it aside and back)


def test_start_requires_the_mount_and_the_cevenv(lab: Lab) -> None:
    if not port_free(NODE_IPS[0], 27017):
        pytest.skip("127.0.0.11:27017 busy")
    node = setup_primary(lab)
    pidfile = node.ce / "data" / "standin" / "fake_mongod.pid"

    mounted = lab.unmount()
    unmounted = run(node, "start")
    assert unmounted.returncode == 1 and "is not mounted" in unmounted.stdout and not pidfile.exists()
    lab.mountinfo.write_text(mounted)

    shutil.move(node.ce / ".cevenv", lab.tmp / "cevenv")
    for script in ("start", "stop", "replica_set"):
        refused = run(node, script, *(["--initiate"] if script == "replica_set" else []))
        assert refused.returncode == 1 and ".cevenv/bin/activate: No such file or directory" in refused.stdout, script
    assert not pidfile.exists()
    shutil.move(lab.tmp / "cevenv", node.ce / ".cevenv")

    started = run(node, "start")
    assert started.returncode == 0, started.stdout
    assert "The database version 6.1.0 is correct." in started.stdout
    assert read_env(lab.data / "config" / ".env.ceversion") == {"CURRENT_DATABASE_VERSION": "6.1.0"}
    reply = hello(node.ip)
    assert reply["isWritablePrimary"] is True and reply["hosts"] == [f"{node.ip}:27017"]
    uri = f"mongodb://root:Maint%231pass@{node.ip}:27017/?directConnection=true&authSource=admin"
    client: MongoClient[dict[str, object]] = MongoClient(uri, serverSelectionTimeoutMS=5000)
    with client:
        assert client.admin.command("replSetGetStatus")["members"][0]["stateStr"] == "PRIMARY"
    stopped = run(node, "stop")
    assert stopped.returncode == 0 and not pidfile.exists()


def test_primary_setup_without_gluster_is_refused(lab: Lab) -> None:
    node = lab.node(0, shims=False)
    if shutil.which("gluster", path=node.env["PATH"]):
        pytest.skip("a gluster binary is on PATH")
    write_config(node, ha_config(node, primary=True))
    result = run(node, "setup", "--ignore-failures")
    assert result.returncode == 1
    assert "standin-install-gluster" in result.stdout or "GlusterFS can be installed only on" in result.stdout
    assert SUCCESS not in result.stdout and not (lab.data / "config" / ".env").exists()


# ------------------------------------------------------------------------------ gluster shim


def test_gluster_shim_pool_volume_add_brick_heal_and_mount(lab: Lab, shim_bin: Path) -> None:
    one, two = lab.node(0), lab.node(1)
    version = run(one, "glusterfs", "--version")
    assert version.returncode == 0 and re.match(r"glusterfs 11\.\d+", version.stdout)
    assert run(one, "gluster", "--version").returncode == 0 and run(one, "glusterd", "--version").returncode == 0
    offline = run(one, "gluster", "peer", "status")
    assert offline.returncode == 1 and "Connection failed. Please check if gluster daemon is operational." in offline.stdout
    assert run(one, "glusterd").returncode == 0 and run(two, "glusterd").returncode == 0
    assert run(one, "glusterd").returncode == 0  # already running: no-op

    brick1, brick2 = f"{one.ip}:{lab.brick}", f"{two.ip}:{lab.brick}"
    root_fs = os.stat(lab.tmp).st_dev == os.stat("/").st_dev
    plain = run(one, "gluster", "--mode=script", "volume", "create", VOLUME, brick1)
    if root_fs:
        assert plain.returncode == 1 and "root partition" in plain.stderr
        assert run(one, "gluster", "--mode=script", "volume", "create", VOLUME, brick1, "force").returncode == 0
    again = run(one, "gluster", "--mode=script", "volume", "create", VOLUME, brick1, "force")
    assert again.returncode == 1 and "already exists" in again.stderr
    assert "Status: Created" in volume_info(one)
    assert run(one, "gluster", "volume", "start", VOLUME).stdout.strip() == f"volume start: {VOLUME}: success"
    info = volume_info(one)
    assert "Type: Distribute" in info and "Number of Bricks: 1\n" in info and "Status: Started" in info

    unknown = run(one, "gluster", "--mode=script", "volume", "add-brick", VOLUME, "replica", "2", brick2, "force")
    assert unknown.returncode == 1 and "is not in 'Peer in Cluster' state" in unknown.stderr
    assert run(one, "gluster", "peer", "probe", NODE_IPS[2]).returncode == 1  # no glusterd there
    assert run(one, "gluster", "peer", "probe", two.ip).stdout.strip() == "peer probe: success"
    assert "already in peer list" in run(one, "gluster", "peer", "probe", two.ip).stdout
    assert "Probe on localhost not needed" in run(one, "gluster", "peer", "probe", one.ip).stdout
    status = run(one, "gluster", "peer", "status").stdout
    assert "Number of Peers: 1" in status and f"Hostname: {two.ip}" in status and "State: Peer in Cluster (Connected)" in status
    assert f"Hostname: {one.ip}" in run(two, "gluster", "peer", "status").stdout
    # --xml as GlusterFS prints it: what the node agent reads (scripts/cenode/gluster.py)
    assert parse_peer_status(run(one, "gluster", "--mode=script", "--xml", "peer", "status").stdout) == {two.ip: "Connected"}
    xml = run(one, "gluster", "--mode=script", "--xml", "volume", "info", VOLUME).stdout
    assert parse_volume_info(xml, VOLUME) == VolumeInfo(VOLUME, "Started", "Distribute", [f"{one.ip}:{lab.brick}"], "1")
    missing = run(one, "gluster", "--mode=script", "--xml", "volume", "info", "Nope")
    assert missing.returncode == 1 and "<opErrstr>Volume Nope does not exist</opErrstr>" in missing.stdout

    declined = run(one, "gluster", "volume", "add-brick", VOLUME, "replica", "2", brick2, "force", stdin="n\n")
    assert declined.returncode == 1 and "split-brain" in declined.stdout
    wrong_count = run(one, "gluster", "--mode=script", "volume", "add-brick", VOLUME, "replica", "3", brick2, "force")
    assert wrong_count.returncode == 1
    added = run(one, "gluster", "volume", "add-brick", VOLUME, "replica", "2", brick2, "force", stdin="y\n")
    assert added.returncode == 0 and "volume add-brick: success" in added.stdout
    info = volume_info(two)
    assert "Type: Replicate" in info and "Number of Bricks: 1 x 2 = 2" in info and f"Brick2: {brick2}" in info
    heal = run(one, "gluster", "volume", "heal", VOLUME, "full")
    assert heal.returncode == 0 and "has been successful" in heal.stdout
    assert gluster_state(lab)["volumes"][VOLUME]["full_heals"] == 1

    elsewhere = run(two, "glusterfs", f"--volfile-server={two.ip}", f"--volfile-id={VOLUME}", str(lab.tmp))
    assert elsewhere.returncode == 1 and lab.mounted_source() == ""
    mounted = run(two, "glusterfs", f"--volfile-server={two.ip}", f"--volfile-id={VOLUME}", str(lab.data))
    assert mounted.returncode == 0 and lab.mounted_source() == f"{two.ip}:/{VOLUME}"

    _kill_by_pidfile(two.gluster_local / "standin-glusterd.pid", b"glusterd")
    for _ in range(50):
        if "(Disconnected)" in run(one, "gluster", "peer", "status").stdout:
            break
    assert "State: Peer in Cluster (Disconnected)" in run(one, "gluster", "peer", "status").stdout
    assert run(one, "gluster", "peer", "detach", two.ip).returncode == 1  # it still holds a brick

    assert run(one, "gluster", "--mode=script", "volume", "delete", VOLUME).returncode == 1  # started
    assert run(one, "gluster", "--mode=script", "volume", "stop", VOLUME).returncode == 0
    assert lab.mounted_source() == ""  # a stopped volume loses its mounts
    assert run(one, "gluster", "--mode=script", "volume", "delete", VOLUME).returncode == 0
    gone = run(one, "gluster", "volume", "info", VOLUME)
    assert gone.returncode == 1 and f"Volume {VOLUME} does not exist" in gone.stderr
    assert run(one, "gluster", "peer", "detach", two.ip).stdout.strip() == "peer detach: success"

    # the installer never replaces a real GlusterFS binary
    foreign = lab.tmp / "foreign-bin"
    foreign.mkdir()
    (foreign / "gluster").write_text("#!/bin/sh\necho real gluster\n")
    refused = subprocess.run([sys.executable, str(REPO_SHIM), "--bin-dir", str(foreign), "--mount-helper-dir", "", "--systemd-dir", ""],
                             capture_output=True, text=True, check=False)  # fmt: skip
    assert refused.returncode != 0 and "not the stand-in" in refused.stderr
    systemd = lab.tmp / "unit-dir"
    systemd.mkdir()
    helper = lab.tmp / "sbin"
    installed = subprocess.run(
        [sys.executable, str(REPO_SHIM), "--bin-dir", str(lab.tmp / "bin2"), "--mount-helper-dir", str(helper), "--systemd-dir", str(systemd)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    assert os.path.realpath(helper / "mount.glusterfs") == str(lab.tmp / "bin2" / "gluster")
    assert "Type=forking" in (systemd / "glusterd.service").read_text()
    assert 'DEFAULT_OPT_SHARED = "/opt/shared"' not in (shim_bin / "gluster").read_text()


def test_gluster_shim_remove_brick_a_used_brick_folder_and_a_glusterd_outside_the_pool(lab: Lab) -> None:
    one, two = lab.node(0), lab.node(1)
    assert run(one, "glusterd").returncode == 0 and run(two, "glusterd").returncode == 0
    brick1, brick2 = f"{one.ip}:{lab.brick}", f"{two.ip}:{lab.brick}"
    assert run(one, "gluster", "--mode=script", "volume", "create", VOLUME, brick1, "force").returncode == 0
    assert os.path.isdir(os.path.join(lab.brick, ".glusterfs"))  # what GlusterFS leaves in a brick it uses
    assert run(one, "gluster", "volume", "start", VOLUME).returncode == 0
    outside = run(two, "gluster", "volume", "info", VOLUME)  # ce-2 has not been probed: its glusterd knows no volume
    assert outside.returncode == 1 and f"Volume {VOLUME} does not exist" in outside.stderr
    assert "No volumes present" in run(two, "gluster", "volume", "info").stdout
    second = run(two, "gluster", "--mode=script", "volume", "create", VOLUME, brick2, "force")
    assert second.returncode == 1 and "not in the trusted pool" in second.stderr and "second, separate volume" in second.stderr
    unmountable = run(two, "glusterfs", f"--volfile-server={two.ip}", f"--volfile-id={VOLUME}", str(lab.data))
    assert unmountable.returncode == 1 and "is not in the trusted pool" in unmountable.stderr

    assert run(one, "gluster", "peer", "probe", two.ip).returncode == 0
    assert run(one, "gluster", "--mode=script", "volume", "add-brick", VOLUME, "replica", "2", brick2, "force").returncode == 0
    no_force = run(one, "gluster", "--mode=script", "volume", "remove-brick", VOLUME, "replica", "1", brick2)
    assert no_force.returncode == 1 and "needs force" in no_force.stderr
    wrong = run(one, "gluster", "--mode=script", "volume", "remove-brick", VOLUME, "replica", "2", brick2, "force")
    assert wrong.returncode == 1 and "is not valid" in wrong.stderr
    unknown = run(one, "gluster", "--mode=script", "volume", "remove-brick", VOLUME, "replica", "1", f"{NODE_IPS[2]}:{lab.brick}", "force")
    assert unknown.returncode == 1 and "Incorrect brick" in unknown.stderr
    declined = run(one, "gluster", "volume", "remove-brick", VOLUME, "replica", "1", brick2, "force", stdin="n\n")
    assert declined.returncode == 1 and gluster_state(lab)["volumes"][VOLUME]["bricks"] == [brick1, brick2]
    removed = run(one, "gluster", "--mode=script", "volume", "remove-brick", VOLUME, "replica", "1", brick2, "force")
    assert removed.returncode == 0 and removed.stdout.strip() == "volume remove-brick commit force: success"
    assert gluster_state(lab)["volumes"][VOLUME]["bricks"] == [brick1] and gluster_state(lab)["volumes"][VOLUME]["replica"] == 1
    assert "Type: Distribute" in volume_info(one)
    assert run(one, "gluster", "peer", "detach", two.ip).stdout.strip() == "peer detach: success"  # no brick left there

    assert run(one, "gluster", "--mode=script", "volume", "stop", VOLUME).returncode == 0
    assert run(one, "gluster", "--mode=script", "volume", "delete", VOLUME).returncode == 0
    os.makedirs(os.path.join(lab.brick, ".glusterfs"))  # a brick folder another volume used (a retained brick disk)
    reused = run(one, "gluster", "--mode=script", "volume", "create", VOLUME, brick1, "force")
    assert reused.returncode == 1 and f"{lab.brick} is already part of a volume" in reused.stderr


# ------------------------------------------------------------------------------- standalone


def test_standalone_install_v610_and_conversion_to_ha(lab: Lab) -> None:
    node = lab.node(0)
    secrets = lab.tmp / "secrets.json"
    secrets.write_text(json.dumps({"maintenance_password": PASSWORD, "jwt_secret": JWT}))
    secrets.chmod(0o600)
    installed = run(node, "standin-install-standalone", "--secrets", str(secrets), "--ignore-failures")
    assert installed.returncode == 0, installed.stdout + installed.stderr
    local = read_env(node.ce / ".env")
    assert local["INSTALL_VERSION"] == "6.1.0" and local["CORE_TAG"] == "netskopetechnicalalliances/cloudexchange:core6-6.1.0"
    assert local["IS_MPASS_CONFIGURED"] == "True" and local["LOCATION"] == "./.env.keys"
    assert "JWT_SECRET" not in local and not any(key.startswith("HA_") for key in local)
    keys = read_env(node.ce / ".env.keys")
    assert decrypt(local, keys["JWT_SECRET"]) == JWT and decrypt(local, keys["MONGODB_PASSWORD"]) == PASSWORD
    for path in ("data/ssl_certs/cte_cert.crt", "data/ssl_certs/cte_cert_key.key", "data/ca_certs/.keep",
                 "data/ssl_certs/mongodb_rabbitmq_certs/tls_cert_ca.crt"):  # fmt: skip
        assert (node.ce / path).is_file(), path
    assert (node.ce / "data" / "custom_plugins").is_dir()
    assert PASSWORD not in (node.ce / "cloudexchange.config").read_text()

    # standalone -> HA the tool's way (docs/ce-facts.md §7.2): HA keys, secrets left empty, ./setup
    write_config(node, ha_config(node, primary=True, secrets=False))
    converted = run(node, "setup", "--ignore-failures")
    assert converted.returncode == 0, converted.stdout
    assert "Setting following random" not in converted.stdout
    assert not (node.ce / ".env.keys").exists()
    ha_local = read_env(node.ce / ".env")
    assert ha_local["CE_SETUP_ID"] == local["CE_SETUP_ID"] and set(ha_local) == LOCAL_ENV_KEYS
    shared_keys = read_env(lab.data / "config" / ".env.keys")
    assert decrypt(ha_local, shared_keys["JWT_SECRET"]) == JWT
    assert decrypt(ha_local, shared_keys["MONGO_INITDB_ROOT_PASSWORD"]) == PASSWORD
    assert mode(lab.data / "config" / ".env.keys") == 0o444
    assert lab.mounted_source() == f"{node.ip}:/{VOLUME}" and "Status: Started" in volume_info(node)
