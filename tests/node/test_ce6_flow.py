"""The CE 6.x node phases end to end against the 6.x stand-in (tests/fakes/standin_ce, tag v6.1.0), through the CLI.

Three nodes on loopback (127.0.0.51-53) in temporary folders, using the stand-in's TEST-ONLY hooks
(tests/fakes/README.md): one ``STANDIN_OPT_SHARED`` for all nodes (the base of the layout each
node's ``NodeEnv.gluster`` gets, CE's /opt/shared), per node ``STANDIN_GLUSTER_LOCAL`` (its glusterd.vol with a bind-address, at the
node's redirected /etc/glusterfs) and ``STANDIN_SYSTEMD_DIR``. The GlusterFS stand-in is installed
into a temporary bin folder together with a ``mount`` that hands ``-t glusterfs`` to its
``mount.glusterfs``. Fake glusterds listen on :24007, fake mongods on :27017, the UI on :9443.

Greenfield: preflight, bricks, fetch-ce, certs on every node; setup primary; per secondary
gluster-join on the primary then setup; start all; verify healthy; then every phase again
"unchanged", and the refusals (primary with the mount gone, secondary before its join).
Migrate: a standalone 6.x stand-in on node 1: inspect, certs (plugins, CA, UI cert into the HA
folder), setup keeps the standalone's certificates and secrets.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from scripts.cenode import __main__ as cli
from scripts.cenode.nodeconfig import NodeConfig
from scripts.cenode.phases import preflight, setup_ce6
from scripts.cenode.system import NodeEnv, Runner
from tests.netutil import port_free

from .conftest import FAKES, gluster_layout_at
from .test_preflight import cpuinfo
from .test_system import UBUNTU_2204

IPS = ["127.0.0.51", "127.0.0.52", "127.0.0.53"]
JWT = "jwtSecret6x"
PASSWORD = "Maint#6pass"
UI_PORT = 9443
HIDDEN_TOOLS = {"systemctl", "docker", "podman", "cloud-init", "dockerd"}  # never touch this machine's services
INSTALLER = FAKES / "standin_ce" / "ce_repo" / "standin-install-gluster"
FAKE_MOUNT = """#!/bin/sh
# test helper: `mount -t glusterfs SRC DIR` -> the GlusterFS stand-in's mount.glusterfs next to it
if [ "$1" = "-t" ] && [ "$2" = "glusterfs" ]; then shift 2; exec "$(dirname "$0")/mount.glusterfs" "$@"; fi
echo "test mount: only -t glusterfs is simulated" >&2; exit 32
"""


@dataclass
class Node:
    index: int
    base: Path
    env: NodeEnv

    @property
    def ip(self) -> str:
        return IPS[self.index]

    @property
    def ce(self) -> Path:
        return self.base / "ta_cloud_exchange"

    @property
    def glusterd_local(self) -> Path:
        return self.base / "root" / "etc" / "glusterfs"

    @property
    def hooks(self) -> dict[str, str]:
        return {
            "STANDIN_GLUSTER_LOCAL": str(self.glusterd_local),
            "STANDIN_SYSTEMD_DIR": str(self.base / "systemd"),
            "STANDIN_MOUNTINFO": str(self.base / "root" / "proc" / "self" / "mountinfo"),
        }


@dataclass
class Lab:
    tmp: Path
    repo: str
    monkeypatch: pytest.MonkeyPatch
    nodes: list[Node] = field(default_factory=list)

    @property
    def opt(self) -> Path:
        return self.tmp / "opt"

    @property
    def data(self) -> Path:
        return self.opt / "data"

    @property
    def mountinfo(self) -> Path:
        """The mount table every node's redirected /proc/self/mountinfo links to (the stand-in's
        "mount" is a line in it): one for all nodes, as the hosts share one folder."""
        return self.tmp / "mountinfo"

    def volume_mounted(self) -> bool:
        return ":/CloudExchange " in self.mountinfo.read_text()

    def unmount(self) -> str:
        """Drop the volume's mount from the table; returns the table before."""
        before = self.mountinfo.read_text()
        self.mountinfo.write_text("".join(line for line in before.splitlines(keepends=True) if ":/CloudExchange " not in line))
        return before

    def node(self, index: int, migrate: bool = False) -> Node:
        base = self.tmp / f"node{index + 1}"
        root = base / "root"
        for sub in ("etc/glusterfs", "proc/self"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        (base / "systemd").mkdir(exist_ok=True)
        (root / "etc" / "os-release").write_text(UBUNTU_2204)
        (root / "proc" / "cpuinfo").write_text(cpuinfo(8))
        (root / "proc" / "meminfo").write_text(f"MemTotal: {16 * 1024 * 1024} kB\n")
        if not self.mountinfo.exists():
            self.mountinfo.write_text("22 1 8:1 / / rw - ext4 /dev/root rw\n")
        (root / "proc" / "self" / "mountinfo").symlink_to(self.mountinfo)
        vol = root / "etc" / "glusterfs" / "glusterd.vol"
        if not vol.exists():
            vol.write_text(f"volume management\n    type mgmt/glusterd\n    option transport.socket.bind-address {IPS[index]}\nend-volume\n")
        env = NodeEnv(
            root=str(root), config_dir=str(base / "etc-ce"), log_dir=str(base / "log"), state_dir=str(base / "state"),
            require_root=False, gluster=gluster_layout_at(str(self.opt)),
        )  # fmt: skip
        node = Node(index, base, env)
        self.write_node(node, migrate=migrate)
        secrets = Path(env.config_dir) / "secrets.json"
        secrets.write_text(json.dumps({"maintenance_password": PASSWORD, "jwt_secret": JWT}))
        secrets.chmod(0o600)
        self.nodes.append(node)
        return node

    def write_node(self, node: Node, migrate: bool = False, **over: object) -> None:
        values: dict[str, object] = {
            "node_name": f"ce-{node.index + 1}",
            "node_ip": node.ip,
            "role": "primary" if node.index == 0 else "secondary",
            "cluster_ips": IPS,
            "ce_version": "v6.1.0",
            "ce_repo_url": self.repo,
            "ce_dir": str(node.ce),
            "shared_dir": str(self.data),
            "ui_port": UI_PORT,
            "migrate": migrate,
            "allow_undersized": True,  # the stand-in's CPU check fails on this machine: --ignore-failures
            "timeouts": {"member": 60, "start": 120, "stop": 120, "setup": 300, "gluster": 30, "gluster_peer": 20, "peers": 5},
        }
        values.update(over)
        os.makedirs(node.env.config_dir, exist_ok=True)
        (Path(node.env.config_dir) / "node.json").write_text(NodeConfig(**values).to_json())  # type: ignore[arg-type]

    def phase(self, node: Node, *argv: str, ok: int = 0) -> str:
        for key, value in node.hooks.items():
            self.monkeypatch.setenv(key, value)
        out: list[str] = []
        err: list[str] = []
        code = cli.main(list(argv), env=node.env, out=out.append, err=err.append)
        log = Path(node.env.log_dir) / f"{argv[0]}.log"
        assert code == ok, f"{argv} on {node.ip}: {out} {err}\n{log.read_text() if log.exists() else ''}"
        assert len(out) == (1 if ok == 0 else 0), out
        return out[0] if out else err[0]

    def gluster(self, node: Node, *args: str) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, **node.hooks)
        return subprocess.run(["gluster", *args], env=env, capture_output=True, text=True, timeout=30, check=False)

    def state(self) -> dict[str, dict[str, dict[str, object]]]:
        loaded: dict[str, dict[str, dict[str, object]]] = json.loads((self.data / ".standin-gluster" / "state.json").read_text())
        return loaded


@pytest.fixture
def pins_dir(tmp_path: Path) -> str:
    root = tmp_path / "pins"
    for name, version in (("PyYAML", "6.0.1"), ("python_dotenv", "1.0.0"), ("pymongo", "4.7.3")):
        info = root / f"{name}-{version}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    return str(root)


def _kill(pidfile: Path, name: bytes) -> None:
    try:
        pid = int(pidfile.read_text().strip())
        if name in Path(f"/proc/{pid}/cmdline").read_bytes():
            os.kill(pid, signal.SIGTERM)
    except (OSError, ValueError):
        return
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        try:
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return
        except (OSError, IndexError):
            return
        time.sleep(0.05)


@pytest.fixture
def lab(tmp_path: Path, pins_dir: str, standin_repo: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Lab]:
    busy = [f"{ip}:{port}" for ip in IPS for port in (24007, 27017, UI_PORT) if not port_free(ip, port)]
    if busy:
        pytest.skip(f"busy: {', '.join(busy)}")
    bin_dir = tmp_path / "bin"
    installed = subprocess.run(
        [sys.executable, str(INSTALLER), "--bin-dir", str(bin_dir), "--mount-helper-dir", str(bin_dir), "--systemd-dir", "",
         "--opt-shared", str(tmp_path / "opt")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    (bin_dir / "mount").write_text(FAKE_MOUNT)
    (bin_dir / "mount").chmod(0o755)
    (tmp_path / "opt" / "data").mkdir(parents=True)
    path = os.pathsep.join([str(bin_dir), os.path.dirname(sys.executable), os.environ.get("PATH", "")])
    monkeypatch.setenv("PATH", path)
    monkeypatch.setenv("PYTHONPATH", pins_dir)
    monkeypatch.setenv("STANDIN_OPT_SHARED", str(tmp_path / "opt"))

    def child_env() -> dict[str, str]:
        keep = ("PATH", "PYTHONPATH", "STANDIN_OPT_SHARED", "STANDIN_GLUSTER_LOCAL", "STANDIN_SYSTEMD_DIR", "STANDIN_MOUNTINFO")
        return {**{k: os.environ[k] for k in keep if k in os.environ}, "HOME": str(tmp_path)}

    monkeypatch.setattr(setup_ce6, "child_env", child_env)
    real_which = Runner.which
    monkeypatch.setattr(Runner, "which", lambda self, name: None if name in HIDDEN_TOOLS else real_which(self, name))
    monkeypatch.setattr(preflight, "disk_of", lambda path: ("/", 100 * 10**9, 60 * 10**9))
    created = Lab(tmp_path, standin_repo, monkeypatch)
    yield created
    for node in created.nodes:
        _kill(node.ce / "data" / "standin" / "fake_mongod.pid", b"fake_mongod")
        _kill(node.glusterd_local / "standin-glusterd.pid", b"glusterd")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def prepared(lab: Lab, count: int = 3) -> list[Node]:
    """Preparation on every node: preflight, bricks, fetch-ce, certs (twice: the second run unchanged)."""
    nodes = [lab.node(i) for i in range(count)]
    for node in nodes:
        assert lab.phase(node, "bricks").startswith("bricks: changed")
    for node in nodes:
        assert lab.phase(node, "preflight").startswith("preflight: ok")
        assert lab.phase(node, "bricks").startswith("bricks: unchanged")
        assert lab.phase(node, "fetch-ce").startswith("fetch-ce: changed")
        assert lab.phase(node, "certs").startswith("certs: unchanged")
    return nodes


def test_greenfield_flow_on_the_6x_standin(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    nodes = prepared(lab)
    primary, secondaries = nodes[0], nodes[1:]
    vol = (primary.glusterd_local / "glusterd.vol").read_text()
    assert "option transport.socket.listen-port 24007" in vol and "option base-port 24009" in vol and "option max-port 24029" in vol
    assert f"bind-address {primary.ip}" in vol  # the node's own options are kept
    assert (lab.opt / "gluster" / "bricks" / "1" / "brick").is_dir()

    assert lab.phase(primary, "stop").startswith("stop: unchanged")  # greenfield: nothing runs yet
    early = lab.phase(secondaries[0], "setup", ok=1)  # before the primary's volume exists
    assert "gluster-join" in early and "--member 2" in early
    line = lab.phase(primary, "setup")
    assert line.startswith("setup: changed CE setup completed as primary") and "tightened" in line
    config = primary.ce / "cloudexchange.config"
    assert mode(config) == 0o600 and PASSWORD not in config.read_text()  # CE blanked the secrets
    assert f"HA_PRIMARY_NODE_IP={primary.ip}" in config.read_text() and "GLUSTERFS_MAX_PORT=24029" in config.read_text()
    keys = lab.data / "config" / ".env.keys"
    assert mode(keys) == 0o440 and keys.stat().st_gid == 1001  # docs/ce-facts.md §C6, containers keep reading
    assert mode(lab.data / "config" / "ssl_certs" / "mongodb_rabbitmq_certs" / "tls_cert_ca.key") == 0o640

    early = lab.phase(secondaries[0], "setup", ok=1)  # volume exists, brick not added yet
    assert "has not added this node's brick" in early and "gluster-join --member 2" in early
    for member, node in enumerate(secondaries, start=2):
        joined = lab.phase(primary, "gluster-join", "--member", str(member))
        assert joined.startswith(f"gluster-join: changed member {member} ({node.ip}): peer {node.ip} probed, brick added")
        assert lab.phase(primary, "gluster-join", "--member", str(member)).startswith("gluster-join: unchanged")
        assert lab.phase(node, "setup").startswith("setup: changed CE setup completed as secondary")
        assert "HA_PRIMARY_NODE_IP" not in (node.ce / "cloudexchange.config").read_text()
    volume = lab.state()["volumes"]["CloudExchange"]
    assert volume["replica"] == 3 and volume["full_heals"] == 2, volume
    assert mode(keys) == 0o440  # re-tightened after each secondary's setup (CE writes 0444 again)

    for node in nodes:
        assert lab.phase(node, "start").startswith("start: changed started:")
    capsys.readouterr()
    for key, value in primary.hooks.items():  # verify asks the primary's gluster (its stand-in's local dir)
        lab.monkeypatch.setenv(key, value)
    code = cli.main(["verify", "--json", "--insecure-ui"], env=primary.env)
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and report["healthy"] is True, report["problems"]
    assert "GlusterFS: CloudExchange has one brick per node (3), every peer Connected, nothing to heal" in report["notes"]

    # second runs: nothing changes
    for node in nodes:
        for again in ("preflight", "bricks", "fetch-ce", "certs", "setup", "start"):
            line = lab.phase(node, again)
            assert line.startswith((f"{again}: unchanged", f"{again}: ok")), line
    for member in (2, 3):
        assert lab.phase(primary, "gluster-join", "--member", str(member)).startswith("gluster-join: unchanged")
    assert lab.state()["volumes"]["CloudExchange"]["full_heals"] == 2

    # the primary refuses while the volume exists but is not mounted (docs/ce-facts.md §9.12)
    mounted = lab.unmount()
    refused = lab.phase(primary, "setup", ok=1)
    assert "CloudExchange exists" in refused and "delete and recreate" in refused and "fix: mount it first" in refused
    assert lab.phase(primary, "setup", "--force", ok=1) == refused
    lab.mountinfo.write_text(mounted)
    assert len(lab.state()["volumes"]["CloudExchange"]["bricks"]) == 3  # type: ignore[arg-type]

    bad = lab.phase(primary, "gluster-join", "--member", "1", ok=1)
    assert bad.startswith("ERROR gluster-join: --member 1 is not a secondary")
    assert "runs on the primary" in lab.phase(secondaries[0], "gluster-join", "--member", "2", ok=1)

    logs = "".join(p.read_text() for p in lab.tmp.glob("node*/log/*.log"))
    assert JWT not in logs and PASSWORD not in logs and "Maint%236pass" not in logs
    assert "Setting following random" not in logs


def test_secondary_mounts_the_volume_itself_and_start_reports_ce(lab: Lab) -> None:
    nodes = prepared(lab, count=2)
    primary, second = nodes
    lab.phase(primary, "setup")
    lab.phase(primary, "gluster-join", "--member", "2")
    lab.unmount()  # the volume is not mounted on this node (one shared table: nowhere)
    line = lab.phase(second, "setup")
    assert f"mounted CloudExchange at {lab.data}" in line and lab.volume_mounted()
    # issue 13, rule 3: the primary left its token once its setup made the volume, the secondary its own
    tokens = lab.data / ".cloud-exchange-ha" / "nodes"
    assert sorted(os.listdir(tokens)) == sorted([primary.ip, second.ip])
    (tokens / primary.ip).unlink()  # as if this node had mounted some other volume
    refused = lab.phase(second, "setup", "--force", ok=1)
    assert refused.startswith(f"ERROR setup: {lab.data} shows no token of the primary {primary.ip} "), refused
    assert "this node does not see the primary's shared folder" in refused
    assert "shared folder token" in lab.phase(primary, "setup")  # a re-run on the primary leaves it again

    # start on a node without CE's .cevenv: CE's own message reaches the error line
    os.rename(primary.ce / ".cevenv", lab.tmp / "cevenv")
    lab.write_node(primary, timeouts={"member": 1, "start": 60})
    failed = lab.phase(primary, "start", ok=1)
    assert ".cevenv/bin/activate: No such file or directory" in failed


def test_migrate_keeps_the_standalones_data_and_certificates(lab: Lab) -> None:
    primary = lab.node(0)  # the standalone's checkout, cloned as a new node's would be
    assert lab.phase(primary, "fetch-ce").startswith("fetch-ce: changed")
    secrets_file = Path(primary.env.config_dir) / "secrets.json"
    env = dict(os.environ, **primary.hooks)
    installed = subprocess.run(
        ["./standin-install-standalone", "--secrets", str(secrets_file), "--ignore-failures"],
        cwd=primary.ce, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stdout + installed.stderr
    lab.write_node(primary, migrate=True)  # the stack adopts the running standalone
    assert lab.phase(primary, "fetch-ce").startswith("fetch-ce: unchanged")  # its checkout stays where it is
    (primary.ce / "data" / "custom_plugins" / "my_plugin").mkdir(parents=True, exist_ok=True)
    (primary.ce / "data" / "custom_plugins" / "my_plugin" / "main.py").write_text("# custom plugin\n")

    assert lab.phase(primary, "inspect") == "inspect: ok ce_version=6.1.0 maintenance_password=found jwt_secret=found"
    assert json.loads(lab.phase(primary, "inspect", "--reveal")) == {"ce_version": "6.1.0", "maintenance_password": PASSWORD, "jwt_secret": JWT}
    assert lab.phase(primary, "inspect", "--check").startswith("inspect: ok")
    assert lab.phase(primary, "bricks").startswith("bricks: changed")
    assert lab.phase(primary, "certs").startswith("certs: changed")
    assert lab.phase(primary, "certs").startswith("certs: unchanged")
    assert (lab.data / "custom_plugins" / "my_plugin" / "main.py").read_text() == "# custom plugin\n"
    standalone_ca = (primary.ce / "data" / "ssl_certs" / "mongodb_rabbitmq_certs" / "tls_cert_ca.crt").read_bytes()
    standalone_ui = (primary.ce / "data" / "ssl_certs" / "cte_cert.crt").read_bytes()

    assert lab.phase(primary, "setup").startswith("setup: changed CE setup completed as primary")
    shared_tls = lab.data / "config" / "ssl_certs"
    assert (shared_tls / "mongodb_rabbitmq_certs" / "tls_cert_ca.crt").read_bytes() == standalone_ca
    assert (shared_tls / "cte_cert.crt").read_bytes() == standalone_ui
    assert lab.phase(primary, "inspect", "--check").startswith("inspect: ok")  # now read from the HA folder
    assert lab.phase(primary, "setup").startswith("setup: unchanged")
