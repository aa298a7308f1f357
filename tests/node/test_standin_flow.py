"""The node phases end to end against the stand-in CE (tests/fakes/standin_ce), through the CLI.

A migrate: node 1 is a standalone 5.1.1 stand-in; a stack at v5.1.2 is refused (preflight, fetch-ce:
the migrate keeps the installed version), the operator upgrades it to 5.1.2; preflight, inspect, fetch-ce,
mount (the shared folder is "already mounted"), backup, certs, setup; nodes 2 and 3 are new.
Then start primary, start secondaries, stop. Every phase runs twice where the second run must be
"unchanged". Loopback only: the stand-in's fake mongods bind 127.0.0.31-33:27017.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.cenode import __main__ as cli
from scripts.cenode.nodeconfig import NodeConfig
from scripts.cenode.phases import preflight, setup_ce
from scripts.cenode.system import NodeEnv, Runner
from tests.netutil import port_free

from .test_preflight import cpuinfo
from .test_system import UBUNTU_2204

IPS = ["127.0.0.31", "127.0.0.32", "127.0.0.33"]
JWT = "jwtSecret42"
PASSWORD = "Maint#1pass"
HIDDEN_TOOLS = {"systemctl", "docker", "podman", "cloud-init", "dockerd"}  # never touch this machine's services


@pytest.fixture
def pins_dir(tmp_path: Path) -> str:
    """Metadata of CE's HA pins for the stand-in's check (the test venv has pymongo 4.20)."""
    root = tmp_path / "pins"
    for name, version in (("PyYAML", "6.0.1"), ("python_dotenv", "1.0.0"), ("pymongo", "4.7.3")):
        info = root / f"{name}-{version}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    return str(root)


@pytest.fixture
def lab(tmp_path: Path, pins_dir: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    if not all(port_free(ip) for ip in IPS):
        pytest.skip("127.0.0.31-33:27017 busy")
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    monkeypatch.setenv("PYTHONPATH", pins_dir)
    monkeypatch.setattr(setup_ce, "child_env", lambda: {"PATH": os.environ["PATH"], "PYTHONPATH": pins_dir, "HOME": str(tmp_path)})
    real_which = Runner.which
    monkeypatch.setattr(Runner, "which", lambda self, name: None if name in HIDDEN_TOOLS else real_which(self, name))
    monkeypatch.setattr(preflight, "disk_of", lambda path: ("/", 100 * 10**9, 60 * 10**9))
    (tmp_path / "nfs").mkdir()
    yield tmp_path
    for pidfile in tmp_path.glob("node*/ta_cloud_exchange/data/standin/fake_mongod.pid"):
        try:
            pid = int(pidfile.read_text().strip())
            if b"fake_mongod" in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.kill(pid, signal.SIGTERM)
        except (OSError, ValueError):
            pass


def node_setup(lab: Path, index: int, repo: str, version: str, migrate: bool = False) -> NodeEnv:
    base = lab / f"node{index + 1}"
    env = NodeEnv(root=str(base / "root"), config_dir=str(base / "etc"), log_dir=str(base / "log"), state_dir=str(base / "state"), require_root=False)
    for sub in ("etc", "proc/self"):
        (base / "root" / sub).mkdir(parents=True, exist_ok=True)
    (base / "root" / "etc" / "os-release").write_text(UBUNTU_2204)
    (base / "root" / "proc" / "cpuinfo").write_text(cpuinfo(8))
    (base / "root" / "proc" / "meminfo").write_text(f"MemTotal: {16 * 1024 * 1024} kB\n")
    mountinfo = f"22 1 8:1 / / rw - ext4 /dev/root rw\n90 22 0:50 / {lab / 'nfs'} rw - nfs4 127.0.0.1:/ rw\n"
    (base / "root" / "proc" / "self" / "mountinfo").write_text(mountinfo)
    write_node(env, index, repo, version, migrate, base)
    secrets = Path(env.config_dir) / "secrets.json"
    secrets.write_text(json.dumps({"maintenance_password": PASSWORD, "jwt_secret": JWT}))
    secrets.chmod(0o600)
    return env


def write_node(env: NodeEnv, index: int, repo: str, version: str, migrate: bool, base: Path) -> None:
    node = NodeConfig(
        node_name=f"ce-{index + 1}",
        node_ip=IPS[index],
        role="primary" if index == 0 else "secondary",
        cluster_ips=IPS,
        ce_version=version,
        ce_repo_url=repo,
        ce_dir=str(base / "ta_cloud_exchange"),
        shared_dir=str(base.parent / "nfs"),
        shared_source="127.0.0.1:/",
        migrate=migrate,
        allow_undersized=True,  # the stand-in's CPU check fails on this machine: --ignore-failures
        timeouts={"member": 60, "start": 120, "stop": 120, "setup": 300, "setup_unknown_prompt": 20},
    )
    os.makedirs(env.config_dir, exist_ok=True)
    (Path(env.config_dir) / "node.json").write_text(node.to_json())


def phase(env: NodeEnv, *argv: str, ok: int = 0) -> str:
    out: list[str] = []
    err: list[str] = []
    code = cli.main(list(argv), env=env, out=out.append, err=err.append)
    log = Path(env.log_dir) / f"{argv[0]}.log"
    assert code == ok, f"{argv}: {out} {err}\n{log.read_text() if log.exists() else ''}"
    assert len(out) == (1 if ok == 0 else 0), out
    return out[0] if out else err[0]


def install_standalone(ce_dir: Path, secrets_file: Path) -> None:
    installed = subprocess.run(
        ["./standin-install-standalone", "--secrets", str(secrets_file), "--ignore-failures"],
        cwd=ce_dir, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stdout + installed.stderr


def test_migrate_flow_on_the_standin(lab: Path, standin_repo: str) -> None:
    primary = node_setup(lab, 0, standin_repo, "v5.1.1")  # what the user had: a standalone 5.1.1
    assert phase(primary, "fetch-ce").startswith("fetch-ce: changed")
    ce1 = lab / "node1" / "ta_cloud_exchange"
    secrets_file = Path(primary.config_dir) / "secrets.json"
    install_standalone(ce1, secrets_file)
    head = subprocess.run(["git", "-C", str(ce1), "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout

    # a stack that targets v5.1.2 would upgrade the running standalone on the way to HA: refused, nothing moved
    write_node(primary, 0, standin_repo, "v5.1.2", True, lab / "node1")
    for name in ("preflight", "fetch-ce"):
        line = phase(primary, name, ok=1)
        assert "installed CE 5.1.1 differs from cloud-exchange-ha:ceVersion 5.1.2" in line, line
        assert "- fix: set cloud-exchange-ha:ceVersion to the installed 5.1.1" in line, line
    assert subprocess.run(["git", "-C", str(ce1), "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout == head

    # the operator upgrades the standalone on its own first, as the fix says; then the migrate adopts it
    subprocess.run(["git", "-C", str(ce1), "-c", "advice.detachedHead=false", "checkout", "-q", "v5.1.2"], check=True)
    install_standalone(ce1, secrets_file)
    assert phase(primary, "preflight").startswith("preflight: ok")
    assert phase(primary, "inspect") == "inspect: ok ce_version=5.1.2 maintenance_password=found jwt_secret=found"
    revealed = json.loads(phase(primary, "inspect", "--reveal"))
    assert revealed == {"ce_version": "5.1.2", "maintenance_password": PASSWORD, "jwt_secret": JWT}
    assert phase(primary, "inspect", "--check").startswith("inspect: ok")
    assert phase(primary, "fetch-ce").startswith("fetch-ce: unchanged")
    assert phase(primary, "mount").startswith("mount: changed")
    assert phase(primary, "mount").startswith("mount: unchanged")
    assert phase(primary, "backup").startswith("backup: changed")
    assert phase(primary, "backup").startswith("backup: unchanged")
    assert phase(primary, "certs").startswith("certs: changed")
    assert phase(primary, "certs").startswith("certs: unchanged")
    assert (lab / "nfs" / "config" / "ssl_certs" / "cte_cert.crt").read_bytes() == (ce1 / "data" / "ssl_certs" / "cte_cert.crt").read_bytes()

    assert phase(primary, "setup").startswith("setup: changed CE setup completed as primary")
    setup_log = (Path(primary.log_dir) / "setup.log").read_text()
    assert "answering 'http or https'" not in setup_log  # the standalone's certificate is in the shared folder
    assert "answering 'maintenance password'" not in setup_log  # IS_MPASS_CONFIGURED + moved .env.keys (docs/ce-facts.md §7.2)
    assert "answering 'JWT secret': ***" in setup_log
    assert phase(primary, "setup").startswith("setup: unchanged")

    secondaries = []
    for index in (1, 2):
        env = node_setup(lab, index, standin_repo, "v5.1.2")
        assert phase(env, "preflight").startswith("preflight: ok")
        assert phase(env, "fetch-ce").startswith("fetch-ce: changed")
        assert phase(env, "mount").startswith("mount: changed")
        assert phase(env, "backup").startswith("backup: unchanged")  # not the migrate primary
        assert phase(env, "setup").startswith("setup: changed CE setup completed as secondary")
        secondaries.append(env)

    assert phase(primary, "start").startswith("start: changed started: PRIMARY")
    for env in secondaries:
        assert phase(env, "start").startswith("start: changed started: SECONDARY")
    assert phase(secondaries[0], "start").startswith("start: unchanged already a healthy member")
    assert phase(primary, "start").startswith("start: unchanged")

    # the cutover again with the same inputs: setup would change nothing, every member is healthy: CE keeps running
    for env in (primary, *secondaries):
        assert phase(env, "stop").startswith("stop: unchanged CE left running (setup would change nothing here")
        assert phase(env, "setup").startswith("setup: unchanged")
        assert phase(env, "start").startswith("start: unchanged already a healthy member")

    for env in reversed(secondaries):
        assert phase(env, "stop", "--force").startswith("stop: changed")
    assert phase(secondaries[0], "stop").startswith("stop: unchanged")
    assert phase(primary, "stop", "--force").startswith("stop: changed")

    logs = "".join(p.read_text() for p in lab.glob("node*/log/*.log"))
    assert JWT not in logs and PASSWORD not in logs and "Maint%231pass" not in logs


def test_setup_refuses_a_secondary_before_the_primary(lab: Path, standin_repo: str) -> None:
    env = node_setup(lab, 1, standin_repo, "v5.1.2")
    phase(env, "fetch-ce")
    line = phase(env, "setup", ok=1)
    assert line.startswith("ERROR setup: ") and "primary first" in line


def test_setup_refuses_a_510_checkout(lab: Path, standin_repo: str) -> None:
    env = node_setup(lab, 0, standin_repo, "v5.1.0")
    phase(env, "fetch-ce")
    line = phase(env, "setup", ok=1)
    assert "version menu" in line and "cloud-exchange-ha:ceVersion" in line
