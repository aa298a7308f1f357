"""Drive the node-side phases on lab hosts exactly as the Pulumi program ships and runs them.

Owns: shipping the bundle (``components.bundle.build()`` bytes, base64 as ``CopyToRemote`` copies
its ``StringAsset``, to ``staged_path`` in the ubuntu home, then ``install_command``), writing
``node.json`` / ``secrets.json`` with the program's own ``WRITE_NODE_FILE`` / ``WRITE_SECRETS_FILE``
on stdin, running a phase with ``phase_command`` (no PTY, like ``remote.Command``), the stand-in CE
served from the lab, a standalone stand-in install (migrate tests), snapshots of what a second
run must leave alone (dpkg, fstab, repo HEAD), and the whole 5.x migrate flow in README order.
Used by tests/hosts/test_phases.py and bench/phases.py.

Must not touch: the lab itself (tests/hosts/lab owns hosts, network and teardown).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import re
import secrets
import shlex
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from components import bundle as node_bundle
from components.provisioning import (
    DEFAULT_PHASE_TIMEOUT_S,
    PHASE_TIMEOUT_S,
    WRITE_NODE_FILE,
    WRITE_SECRETS_FILE,
    install_command,
    phase_command,
    staged_path,
)
from scripts.cenode.nodeconfig import NodeConfig, NodeSecrets
from tests.hosts.lab import Host, Lab, LabConfig

CE_DIR = "/opt/ta_cloud_exchange"
SHARED_DIR = "/mnt/ce-ha"
LOG_DIR = "/var/log/cloud-exchange-ha"
STATE_DIR = "/var/lib/cloud-exchange-ha"
APT = "sudo DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=120"
#: the stand-in's fake mongod (CE's images would bring the real one): not one of CE's pins
STANDIN_RUNTIME = "mockupdb==1.8.1"
#: bounds for the lab: short waits where CE's real ones are long (stand-in starts in ~1 s)
LAB_TIMEOUTS = {"member": 60, "start": 180, "stop": 120, "setup": 600, "setup_unknown_prompt": 15, "peers": 20}
#: the preparation wave per node in the order components/cluster.py chains it (README "Phases"
#: steps 2-3; inspect --check runs after prepare, which installs the decryption it needs)
PREPARATION = ("wait", "preflight", "prepare", "inspect --check", "mount", "backup", "fetch-ce", "certs")
#: phases only the migrate primary runs
PRIMARY_ONLY = ("inspect --check", "backup")

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Secrets:
    """A maintenance password and JWT secret unique to one test session (so a grep is exact)."""

    maintenance_password: str
    jwt_secret: str

    @classmethod
    def new(cls) -> Secrets:
        # CE forbids \ / ' " space (password) and also ? & TAB (JWT); '#' and '%'-quoting stay covered
        return cls(f"Mp#{secrets.token_hex(10)}", f"Jwt{secrets.token_hex(12)}")

    def document(self) -> str:
        """secrets.json exactly as ``provisioning.secrets_document`` builds it."""
        return NodeSecrets(maintenance_password=self.maintenance_password, jwt_secret=self.jwt_secret).to_json()

    @property
    def values(self) -> list[str]:
        """Every form a secret could leak in (plain, URL-quoted '#')."""
        return [self.maintenance_password, self.maintenance_password.replace("#", "%23"), self.jwt_secret]


@dataclasses.dataclass
class PhaseRun:
    """One ``sudo timeout N /opt/cloud-exchange-ha/ce-node <phase>`` over SSH."""

    host: str
    phase: str
    rc: int
    out: str
    err: str
    seconds: float
    wave: str = ""

    @property
    def status(self) -> str:
        """ok | changed | unchanged from ``<phase>: <status> ...``, else ''."""
        name = self.phase.split()[0]
        match = re.match(rf"^{re.escape(name)}: (ok|changed|unchanged)\b", self.out)
        return match.group(1) if match else ""

    @property
    def progress(self) -> list[str]:
        """The progress lines on stderr (``progress <phase>: ...``, scripts/cenode/__main__.py)."""
        marker = f"progress {self.phase.split()[0]}: "
        return [line for line in self.err.splitlines() if line.startswith(marker)]

    @property
    def problems(self) -> str:
        """stderr without the progress lines: what the contract allows only on failure."""
        return "".join(line + "\n" for line in self.err.splitlines() if line not in self.progress)

    def __str__(self) -> str:
        return f"{self.host} {self.phase}: rc={self.rc} ({self.seconds:.1f} s)\nstdout: {self.out.strip()}\nstderr: {self.err.strip()}"


# ----------------------------------------------------------------------------- shipping


def ship(host: Host, bundle: node_bundle.Bundle | None = None) -> str:
    """Copy and install the bundle as ``NodeSteps`` does; returns install's stdout."""
    bundle = bundle or node_bundle.build()
    host.put(bundle.as_base64.encode("ascii"), staged_path(bundle))  # relative: the ubuntu home
    rc, out, err = host.run(install_command(bundle), timeout=120)
    if rc != 0:
        raise AssertionError(f"{host.name}: bundle install failed rc={rc}: {out}{err}")
    return out


def write_node(host: Host, cfg: NodeConfig) -> None:
    rc, out, err = host.run(WRITE_NODE_FILE, stdin=cfg.to_json(), timeout=60)
    if (rc, out) != (0, "config: written\n"):
        raise AssertionError(f"{host.name}: writing node.json failed rc={rc}: {out}{err}")


def write_secrets(host: Host, found: Secrets) -> None:
    rc, out, err = host.run(WRITE_SECRETS_FILE, stdin=found.document(), timeout=60)
    if (rc, out) != (0, "secrets: written\n"):
        raise AssertionError(f"{host.name}: writing secrets.json failed rc={rc}: {out}{err}")


def run_phase(host: Host, phase: str) -> PhaseRun:
    """Run ``phase`` (``"inspect --check"``: name and options) with the program's command string.

    The SSH bound is the phase's own outer ``timeout`` + 60 s, so a phase that hangs fails here.
    """
    name, _, args = phase.partition(" ")
    limit = PHASE_TIMEOUT_S.get(name, DEFAULT_PHASE_TIMEOUT_S) + 60
    t0 = time.monotonic()
    rc, out, err = host.run(phase_command(name, args), timeout=limit)
    return PhaseRun(host.name, phase, rc, out, err, round(time.monotonic() - t0, 2))


def must(run: PhaseRun, *statuses: str) -> PhaseRun:
    """The run succeeded with one line on stdout, only progress lines on stderr, and (if given) that status."""
    ok = run.rc == 0 and len(run.out.splitlines()) == 1 and run.problems == "" and (not statuses or run.status in statuses)
    if not ok:
        raise AssertionError(f"expected {'|'.join(statuses) or 'success'}:\n{run}")
    return run


def node_config(
    lab: Lab,
    host: Host,
    cluster: Sequence[Host],
    ce_repo_url: str,
    *,
    migrate: bool = False,
    ce_version: str = "v5.1.2",
    **over: Any,
) -> NodeConfig:
    """node.json for ``host`` as ``cluster.py`` builds it, with the lab's mirrors and bounds."""
    values: dict[str, Any] = {
        "node_name": host.name,
        "node_ip": host.ip,
        "role": "primary" if host is cluster[0] else "secondary",
        "cluster_ips": [h.ip for h in cluster],
        "ce_version": ce_version,
        "ce_repo_url": ce_repo_url,
        "ce_dir": CE_DIR,
        "shared_dir": SHARED_DIR,
        "shared_source": "",  # the lab bind-mounts the shared folder already
        "migrate": migrate and host is cluster[0],
        "allow_undersized": True,  # lab hosts have 2 vCPU: explicit
        "docker_repo_url": "",  # the OS's docker.io + the mirror's docker-compose-plugin
        "pip_index_url": lab.pip_index_url,
        "timeouts": dict(LAB_TIMEOUTS),
    }
    values.update(over)
    return NodeConfig(**values)


def parallel(fn: Callable[[Host], T], hosts: Iterable[Host]) -> list[T]:
    hosts = list(hosts)
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(hosts))) as pool:
        return list(pool.map(fn, hosts))


# ----------------------------------------------------------------------------- the stand-in CE


def make_standin_repo(workdir: Path) -> Path:
    """The stand-in CE as a bare repo (tags v4.2.0, v5.1.0, v5.1.1, v5.1.2), ready for dumb http."""
    from tests.fakes.standin_ce.make_repo import make_repo

    return Path(make_repo(workdir))


def git(*args: str | Path, cwd: Path | None = None) -> str:
    env = {
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "ce-ha tests",
        "GIT_AUTHOR_EMAIL": "tests@example.invalid",
        "GIT_COMMITTER_NAME": "ce-ha tests",
        "GIT_COMMITTER_EMAIL": "tests@example.invalid",
        "PATH": "/usr/bin:/bin:/usr/sbin:/sbin",
        "HOME": "/nonexistent",
    }
    proc = subprocess.run(["git", *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"git {' '.join(map(str, args))}: {proc.stderr}")
    return proc.stdout


def variant_repo(bare: Path, workdir: Path, tag: str, edit: Callable[[Path], None], message: str) -> Path:
    """A copy of the stand-in repo with one more commit on top of v5.1.2, tagged ``tag``."""
    work = workdir / "variant-work"
    out = workdir / f"variant-{tag}.git"
    git("clone", "-q", bare, work)
    git("checkout", "-q", "-b", f"variant-{tag}", "v5.1.2", cwd=work)
    edit(work)
    git("commit", "-q", "-a", "-m", message, cwd=work)
    git("tag", "-a", tag, "-m", message, cwd=work)
    git("clone", "-q", "--bare", work, out)
    git("fetch", "-q", work, f"refs/tags/{tag}:refs/tags/{tag}", cwd=out)
    git("update-server-info", cwd=out)
    return out


def apt_install(host: Host, *packages: str) -> None:
    rc, out, err = host.run(f"{APT} update >/dev/null && {APT} install {' '.join(packages)}", timeout=600)
    if rc != 0:
        raise AssertionError(f"{host.name}: apt-get install {packages}: {out[-2000:]}{err[-2000:]}")


def pip_install(host: Host, *requirements: str) -> None:
    reqs = " ".join(shlex.quote(r) for r in requirements)
    rc, out, err = host.run(f"sudo python3 -m pip install -q --disable-pip-version-check --break-system-packages {reqs}", timeout=600)
    if rc != 0:
        raise AssertionError(f"{host.name}: pip install {requirements}: {out[-2000:]}{err[-2000:]}")


def install_standalone(host: Host, repo_url: str, tag: str, found: Secrets, ce_dir: str = CE_DIR, start: bool = True) -> str:
    """A standalone stand-in CE at ``ce_dir`` checked out at ``tag`` (what a migrate adopts).

    The host gets what the stand-in itself needs first (git, openssl, pip; pymongo + mockupdb
    to run its mongod), as a real standalone has its engine and images before we come.
    """
    apt_install(host, "git", "openssl", "python3-pip")
    if start:
        pip_install(host, "pymongo==4.7.3", STANDIN_RUNTIME)
    q = shlex.quote
    script = (
        f"set -e; sudo git clone -q {q(repo_url)} {q(ce_dir)}; "
        f"sudo git -c advice.detachedHead=false -C {q(ce_dir)} checkout -q {q(tag)}; "
        "sudo install -m 0600 /dev/stdin /root/standin-secrets.json; "
        f"cd {q(ce_dir)} && sudo ./standin-install-standalone --secrets /root/standin-secrets.json --ignore-failures"
        + (" --start" if start else "")
        + "; sudo rm -f /root/standin-secrets.json"
    )
    rc, out, err = host.run(script, stdin=found.document(), timeout=300)
    if rc != 0:
        raise AssertionError(f"{host.name}: standalone install at {tag} failed rc={rc}: {out[-3000:]}{err[-3000:]}")
    return out


# ----------------------------------------------------------------------------- what a re-run must not change


@dataclasses.dataclass(frozen=True)
class Snapshot:
    packages: str  # dpkg-query: every package, version, status
    dpkg_log: str  # sha256 of /var/log/dpkg.log (every install/upgrade appends)
    fstab: str  # sha256 of /etc/fstab
    head: str  # git HEAD of the CE dir ('' when none)
    pip: str  # root's pip freeze


def snapshot(host: Host, ce_dir: str = CE_DIR) -> Snapshot:
    script = (
        "dpkg-query -W -f='${Package} ${Version} ${db:Status-Abbrev}\\n' | sha256sum; echo '--'; "
        "sudo sha256sum /var/log/dpkg.log 2>/dev/null || echo none; echo '--'; "
        "sha256sum /etc/fstab; echo '--'; "
        f"sudo git -c safe.directory='*' -C {shlex.quote(ce_dir)} rev-parse HEAD 2>/dev/null || true; echo '--'; "
        "sudo python3 -m pip freeze --all 2>/dev/null | sha256sum"
    )
    rc, out, err = host.run(script, timeout=120)
    if rc != 0:
        raise AssertionError(f"{host.name}: snapshot: {err}")
    parts = [p.strip() for p in out.split("--\n")]
    return Snapshot(*parts)


def grep_secrets(host: Host, found: Secrets, paths: Sequence[str], exclude: Sequence[str] = ()) -> list[str]:
    """Files under ``paths`` on ``host`` that contain any form of the secrets (patterns on stdin)."""
    excl = " ".join(f"--exclude={shlex.quote(e)}" for e in exclude)
    where = " ".join(shlex.quote(p) for p in paths)
    rc, out, err = host.run(f"sudo grep -rlaF {excl} -f /dev/stdin {where} 2>/dev/null; true", stdin="\n".join(found.values) + "\n")
    assert rc == 0, err
    return sorted(out.split())


# ----------------------------------------------------------------------------- the 5.x migrate flow


@dataclasses.dataclass
class Flow:
    """A migrate on ``cluster`` (primary first = the standalone), phases as cluster.py chains them.

    Every run is kept in ``runs`` with its ``wave`` ("first", "second", ...) for the assertions
    and the benchmark.
    """

    lab: Lab
    cluster: list[Host]
    repo_url: str
    found: Secrets
    standalone_tag: str = "v5.1.2"  # a migrate adopts the installed version (node_config's ce_version)
    runs: list[PhaseRun] = dataclasses.field(default_factory=list)

    @property
    def primary(self) -> Host:
        return self.cluster[0]

    @property
    def secondaries(self) -> list[Host]:
        return self.cluster[1:]

    def config(self, host: Host, **over: Any) -> NodeConfig:
        return node_config(self.lab, host, self.cluster, self.repo_url, migrate=True, **over)

    def run(self, host: Host, phase: str, wave: str) -> PhaseRun:
        done = run_phase(host, phase)
        done.wave = wave
        self.runs.append(done)
        return done

    def of(self, wave: str, phase: str | None = None, host: Host | None = None) -> list[PhaseRun]:
        return [
            r for r in self.runs
            if r.wave == wave and (phase is None or r.phase == phase) and (host is None or r.host == host.name)
        ]  # fmt: skip

    # -- steps ------------------------------------------------------------------------------

    def standalone(self) -> None:
        """The running standalone CE the migrate adopts (before any of our steps)."""
        install_standalone(self.primary, self.repo_url, self.standalone_tag, self.found)

    def ship_all(self) -> None:
        """Step 1: bundle, node.json, secrets.json on every node (in parallel)."""

        def one(host: Host) -> None:
            ship(host)
            write_node(host, self.config(host))
            write_secrets(host, self.found)

        parallel(one, self.cluster)

    def preparation(self, wave: str, phases: Sequence[str] = PREPARATION, repeat: Sequence[str] = ()) -> None:
        """Steps 2-3: every node in parallel, its phases in order, stopping at the first failure.

        A phase in ``repeat`` runs a second time right after its first run (wave ``<wave> again``).
        """

        def one(host: Host) -> None:
            for phase in phases:
                if phase in PRIMARY_ONLY and host is not self.primary:
                    continue
                if self.run(host, phase, wave).rc != 0:
                    return
                if phase in repeat and self.run(host, phase, f"{wave} again").rc != 0:
                    return

        parallel(one, self.cluster)

    def standin_runtime(self) -> None:
        """The secondaries get what the stand-in's mongod needs (CE's images bring their own)."""
        parallel(lambda h: pip_install(h, STANDIN_RUNTIME), self.secondaries)

    def cutover(self, wave: str, stop: bool = True) -> list[PhaseRun]:
        """Step 4, one step at a time in README order; stops at the first failure."""
        steps = [(self.primary, "stop")] if stop else []
        steps += [(h, "setup") for h in self.cluster] + [(h, "start") for h in self.cluster]
        done = []
        for host, phase in steps:
            done.append(self.run(host, phase, wave))
            if done[-1].rc != 0:
                break
        return done

    def verify(self, wave: str) -> tuple[PhaseRun, dict[str, Any]]:
        """Step 5 as cluster.py runs it: ``verify --json --insecure-ui`` on the primary."""
        done = self.run(self.primary, "verify --json --insecure-ui", wave)
        lines = done.out.strip().splitlines()
        try:
            report: dict[str, Any] = json.loads(lines[-1]) if lines else {}
        except ValueError:
            report = {}
        return done, report


def set_link(host: Host, up: bool) -> None:
    """Unplug (or plug back) a host's only network interface, from the machine, inside the lab's
    namespace of that host: the host keeps running but is unreachable, as a stopped peer is."""
    from tests.hosts.lab._util import run as lab_run

    lab_run(["ip", "-n", host.netns, "link", "set", "eth0", "up" if up else "down"])


#: where the 6.x stand-in's checkout is unpacked to install its GlusterFS stand-in (TEST-ONLY)
STANDIN_DIR = "/opt/standin-ce6"
#: TEST-ONLY: the GlusterFS stand-in's volume: the lab's shared folder, a tmpfs whose source names
#: CE's volume; the stand-in's "mount" binds it at /opt/shared/data, so each host's mount table
#: shows what a real GlusterFS mount shows there (a source naming CloudExchange)
STANDIN_VOLUME_DIR = "/srv/standin-gluster-volume"
STANDIN_VOLUME_SOURCE = "standin-glusterfs:/CloudExchange"


def ce6_lab_config() -> LabConfig:
    """A lab for 6.x: its shared folder is the GlusterFS stand-in's volume (see STANDIN_VOLUME_DIR)."""
    return LabConfig(shared_mount=STANDIN_VOLUME_DIR, shared_source=STANDIN_VOLUME_SOURCE)


def standin_tree(bare: Path, tag: str = "v6.1.0") -> bytes:
    """The stand-in's v6.1.0 tree as a tar (what ``git clone --branch v6.1.0`` checks out)."""
    return subprocess.run(["git", "--git-dir", str(bare), "archive", "--format=tar", tag], capture_output=True, check=True).stdout


def install_gluster_standin(host: Host, tree: bytes) -> None:
    """TEST-ONLY: the GlusterFS stand-in on the host, from the stand-in CE's checkout (see module doc)."""
    host.put(tree, "standin-ce6.tar")
    script = (
        f"set -e; sudo rm -rf {STANDIN_DIR}; sudo mkdir -p {STANDIN_DIR}; sudo tar -xf standin-ce6.tar -C {STANDIN_DIR}; rm standin-ce6.tar; "
        f"cd {STANDIN_DIR} && sudo python3 ./standin-install-gluster --volume-dir {STANDIN_VOLUME_DIR}"
    )
    rc, out, err = host.run(script, timeout=120)
    assert rc == 0, f"{host.name}: standin-install-gluster: {out}{err}"
