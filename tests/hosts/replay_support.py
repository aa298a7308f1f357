"""Running the whole Pulumi program against booted test hosts: a lab per flow, the stand-in CE, a replay.

Owns: making a fresh lab for one flow (migrate or greenfield), publishing the stand-in CE repo
from it, laying down a standalone stand-in CE on the first host (migrate), the stack config that
points the program at the lab (its key, mirror, pip index, repo URL), and the AwsWorld whose
instances resolve to the lab's hosts; for the day-two flows, fresh hosts in a running lab, a host
powered off and replaced at its address, the TEST-ONLY docker in front of the stand-in CE, and
``ce-node verify``'s report on a node. Used by tests/hosts/test_replay_*.py,
tests/hosts/test_replace_replay.py, bench/replay.py and bench/day_two.py.

Must not touch: the session lab of the other host tests (each flow boots its own hosts).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from offline import harness
from offline.mocks import AwsWorld
from tests.fakes.standin_ce.make_repo import REPO_NAME, make_repo
from tests.hosts.lab import Host, Lab, LabConfig
from tests.hosts.nodes import ce6_lab_config, install_gluster_standin, standin_tree
from tests.hosts.replay import Replay, StepResult

CE_DIR = "/opt/ta_cloud_exchange"
MAINTENANCE = "Replay-maint-5521"
JWT = "Replay-jwt-8832"
SECRET_KEYS = ["sshPrivateKey", "maintenancePassword", "jwtSecret"]


@dataclass
class Flow:
    """One lab, its stand-in repo and the stack config that targets it."""

    lab: Lab
    repo_url: str
    workdir: Path
    mode: str
    version: str = "v5.1.2"
    overrides: dict[str, Any] = field(default_factory=dict)
    #: nodes whose VM the run treats as replaced (``pulumi up --replace``): a new instance id, same address
    replaced_nodes: frozenset[str] = frozenset()
    #: the ``ceVersion`` the stack's last outputs hold (an upgrade's run); None: a first deployment
    deployed_version: str | None = None

    @property
    def hosts(self) -> list[Host]:
        """The lab's hosts in the cluster's order (ce-1, ce-2, ...), also after one was replaced (booted last)."""
        return sorted(self.lab, key=lambda host: int(host.name.rsplit("-", 1)[1]))

    def world(self) -> AwsWorld:
        ips = {f"ce-{i}": h.ip for i, h in enumerate(self.hosts, start=1)}
        deployed = self.deployed_version
        if self.mode == "migrate":
            return AwsWorld(primary_ip=self.hosts[0].ip, node_ips=ips, replaced_nodes=self.replaced_nodes, deployed_ce_version=deployed)
        return AwsWorld(node_ips=ips, replaced_nodes=self.replaced_nodes, deployed_ce_version=deployed)

    def config(self) -> dict[str, Any]:
        subnets = ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0bbbbbbbbbbbbbbb2", "subnet-0ccccccccccccccc3"]
        config: dict[str, Any] = {
            "mode": self.mode,
            "vpcId": "vpc-0123456789abcdef0",
            "subnetIds": subnets[1:] if self.mode == "migrate" else subnets,
            "keyPairName": "lab",
            "sshCidrs": ["10.213.0.0/24"],
            "sshUser": "ubuntu",
            "sshPrivateKey": self.lab.private_key_path.read_text(),
            "maintenancePassword": MAINTENANCE,
            "jwtSecret": JWT,
            "ceVersion": self.version,
            "ceRepoUrl": self.repo_url,
            "ceDir": CE_DIR,
            **({} if self.version.startswith("v6.") else {"sharedDir": self.lab.config.shared_mount}),
            "dockerRepoUrl": "os",  # the lab mirror carries Debian's docker.io + a compose v2 plugin
            "pipIndexUrl": self.lab.pip_index_url,
            "allowUndersized": True,  # lab hosts have 2 vCPU; CE wants 8 or 16
            "tenantUrl": "test",
        }
        if self.mode == "migrate":
            config["primaryInstanceId"] = "i-0123456789abcdef0"
        config.update(self.overrides)
        return config

    def run_program(self) -> harness.Run:
        result = harness.run(self.config(), secret_keys=SECRET_KEYS, world=self.world(), stack="replay")
        if result.error:
            raise AssertionError(result.error)
        if self.version.startswith("v6."):
            without_block_devices(result)
        return result

    def replay(self, result: harness.Run, state_file: Path | None = None) -> Replay:
        replay = Replay(
            run=result,
            state_file=state_file or self.workdir / "replay-state.json",
            timeout=1800,
            connect=lambda host, port: self.lab.connect(host, port, timeout=10),
        )
        replay.execute()
        return replay


def without_block_devices(result: harness.Run) -> None:
    """The one change the replay makes to the program's steps, because lab hosts have no EBS disks.

    6.x node.json names each node's brick volume; nspawn hosts cannot attach block devices, so the
    replay blanks ``brick_volume_id`` and the ``bricks`` phase puts the bricks on the root disk (its
    device lookup, mkfs and fstab handling are covered by tests/node/test_ce6_units.py only).
    """
    for step in result.resources:
        if step.name.endswith("-steps-config"):
            config = json.loads(step.inputs["stdin"])
            config["brick_volume_id"] = ""
            step.inputs["stdin"] = json.dumps(config, indent=2, sort_keys=True)


def start_flow(mode: str, version: str = "v5.1.2", **overrides: Any) -> Flow:
    """A fresh 3-host lab with the stand-in CE published (and a standalone on host 1 for migrate).

    6.x: the hosts' shared folder is the GlusterFS stand-in's volume (nodes.ce6_lab_config), which
    its "mount" binds at /opt/shared/data, and each host gets the stand-in's GlusterFS shims
    (TEST-ONLY; real nodes install GlusterFS).
    """
    six = version.lstrip("v").startswith("6.")
    lab = Lab(ce6_lab_config() if six else LabConfig()).start()
    try:
        return flow_on(lab, mode, version, **overrides)
    except BaseException:
        lab.teardown()
        raise


def flow_on(lab: Lab, mode: str, version: str = "v5.1.2", **overrides: Any) -> Flow:
    """A flow on a running lab's hosts: the stand-in CE published and laid on them as start_flow does."""
    six = version.lstrip("v").startswith("6.")
    workdir = Path(tempfile.mkdtemp(prefix=f"ce-ha-replay-{mode}-"))
    repo = make_repo(workdir / "repo")
    flow = Flow(lab=lab, repo_url=lab.serve_dir(Path(repo)), workdir=workdir, mode=mode, version=version,
                overrides=overrides)
    for host in flow.hosts:
        give_standin_runtime(flow, host)
        if six:
            install_gluster_standin(host, standin_tree(Path(repo), version))
    if mode == "migrate":
        install_standalone(flow, flow.hosts[0])
    return flow


def fresh_hosts(lab: Lab, count: int) -> list[Host]:
    """Power off and remove every host of a running lab, empty its shared folder, boot ce-1..ce-<count>.

    What a new flow needs from a lab that already ran one (5.x: the shared folder is a plain folder).
    """
    for host in list(lab):
        lab.remove_host(host.name)
    for entry in lab.shared_dir.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    return [lab.add_host(f"ce-{i}") for i in range(1, count + 1)]


def replace_host(flow: Flow, name: str) -> Host:
    """The host powered off and removed (CE's ``./stop`` never runs on it); a fresh one boots at its address."""
    address = flow.lab[name].ip
    flow.lab.remove_host(name)
    new = flow.lab.add_host(name)
    if new.ip != address:
        raise AssertionError(f"the new {name} came up at {new.ip}, not {address}")
    give_standin_runtime(flow, new)
    if flow.version.lstrip("v").startswith("6."):  # as flow_on gives every 6.x host (TEST-ONLY; real nodes install GlusterFS)
        install_gluster_standin(new, standin_tree(flow.workdir / "repo" / REPO_NAME, flow.version))
    return new


DOCKER_SHIM = f"""#!/usr/bin/python3
# TEST DOUBLE (tests/hosts/replay_support.py): docker in front of the stand-in CE, which runs no containers.
import os, sys
CE_DIR = {CE_DIR!r}
PROJECT = os.path.basename(CE_DIR.rstrip("/")).lower()
argv = sys.argv[1:]


def mongod_runs():
    try:
        pid = int(open(os.path.join(CE_DIR, "data/standin/fake_mongod.pid")).read().strip())
        return b"fake_mongod" in open(f"/proc/{{pid}}/cmdline", "rb").read()
    except (OSError, ValueError):
        return False


if argv[:1] == ["ps"]:
    if mongod_runs():
        print(f"{{PROJECT}}_mongodb-primary_1\\n{{PROJECT}}_rabbitmq-stats_1")
    sys.exit(0)
if argv[:1] == ["exec"] and len(argv) > 2 and argv[1].endswith("_rabbitmq-stats_1"):
    os.chdir(CE_DIR)
    os.execv(sys.executable, [sys.executable, "-m", "standin.rabbit", *argv[2:]])
os.execv("/usr/bin/docker", ["docker", *argv])
"""


def install_docker_shim(host: Host) -> None:
    """The TEST-ONLY docker (DOCKER_SHIM) in front of the real one: what ``evict`` asks docker on a survivor."""
    host.check("sudo install -m 0755 /dev/stdin /usr/local/bin/docker", stdin=DOCKER_SHIM)


def node_report(host: Host) -> tuple[int, dict[str, Any]]:
    """``ce-node verify --json`` run on the node: its exit code and the JSON report it printed ({} when none)."""
    code, out, _ = host.run("sudo /opt/cloud-exchange-ha/ce-node verify --json --insecure-ui")
    lines = [line for line in out.splitlines() if line.startswith("{")]
    return code, (json.loads(lines[-1]) if lines else {})


def give_standin_runtime(flow: Flow, host: Host) -> None:
    """The stand-in CE's own mongod is built on mockupdb; real CE runs mongod in its images instead.

    Unpacked without its dependencies, so the project's prepare phase still has to install CE's
    pymongo pin itself (nothing here satisfies it in advance).
    """
    assert flow.lab.wheelhouse is not None
    (wheel,) = sorted((flow.lab.wheelhouse.path / "wheels").glob("mockupdb-*.whl"))
    host.put(wheel.read_bytes(), "mockupdb.whl")
    rc, _, err = host.run("sudo python3 -m zipfile -e mockupdb.whl /usr/local/lib/python3.11/dist-packages/ && rm mockupdb.whl")
    if rc != 0:
        raise AssertionError(f"could not unpack the stand-in's mockupdb on {host.name}: {err}")


def install_standalone(flow: Flow, host: Host) -> None:
    """What a migrate user has: a running standalone stand-in CE at ceDir (test double, see tests/fakes)."""
    secrets = json.dumps({"maintenance_password": MAINTENANCE, "jwt_secret": JWT})
    script = " && ".join([
        "set -e",
        "sudo apt-get update -qq",  # the lab mirror is the hosts' only apt source
        "sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq git openssl python3-pip python3-venv >/dev/null",
        f"sudo pip3 install -q --break-system-packages --index-url {flow.lab.pip_index_url} 'pymongo>=4.6.3,<=4.7.3' mockupdb",
        f"sudo git clone -q --branch {flow.version} {flow.repo_url} {CE_DIR}",
        "sudo install -m 0600 /dev/stdin /root/standalone-secrets.json",
        f"cd {CE_DIR} && sudo ./standin-install-standalone --secrets /root/standalone-secrets.json --ignore-failures --start",
        "sudo rm -f /root/standalone-secrets.json",
    ])
    rc, out, err = host.run(script, stdin=secrets, timeout=600)
    if rc != 0:
        raise AssertionError(f"standalone stand-in install failed on {host.name}: {out[-2000:]} {err[-2000:]}")


#: what a role-gated step prints where the node's CE role is not the one it is for (``ce-node``'s ``role_gate``)
ROLE_GATED = "only, and this node is the CE"


def acted(result: StepResult) -> bool:
    """The step ran and did its phase's work: not a role-gated step on a node with the other CE role."""
    return result.ran and ROLE_GATED not in result.stdout


def window_steps(results: list[StepResult]) -> list[StepResult]:
    """The window's steps on the node holding CE's primary role: every node runs ``cutover-*`` in turn, and the others'
    are role-gated (setup's output is secret, so the holder is found by its stop and start)."""
    window = [r for r in results if r.ran and "-steps-cutover-" in r.name]
    holders = {r.node for r in window if acted(r) and r.stdout != "(secret)"}
    return [r for r in window if r.node in holders]


def verify_report(replay: Replay) -> dict[str, Any]:
    """The JSON report the verify step printed."""
    (result,) = [r for r in replay.results if r.name.endswith("-steps-verify")]
    line = [ln for ln in result.stdout.strip().splitlines() if ln.startswith("{")][-1]
    report: dict[str, Any] = json.loads(line)
    return report
