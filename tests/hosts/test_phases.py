"""The node-side phases on booted hosts, shipped and run exactly as the Pulumi program does.

Shipping: the bundle's bytes (base64, as CopyToRemote copies its StringAsset) to
``staged_path(bundle)`` in the ubuntu home, ``install_command``, node.json / secrets.json through
``WRITE_NODE_FILE`` / ``WRITE_SECRETS_FILE`` on stdin, each phase with ``phase_command`` over SSH
without a PTY. node.json uses the OS's docker.io and the mirror's compose plugin
(``docker_repo_url=""``), the lab's pip index, ``allow_undersized=True`` (2 vCPU hosts) and the
stand-in CE served from the lab over dumb http.

Part 1 (ce-1..3): a whole 5.x migrate. ce-1 runs a standalone stand-in CE v5.1.2; the preparation
wave (wave "first") in the order components/cluster.py chains it, then the re-run a new bundle
causes (wave "second": everything but backup, whose trigger is the cutover revision) must change
nothing; the cutover in README order ends in ``verify`` healthy; its re-run changes nothing.
Part 2 (faults, on a host of their own so ce-1..3 stay a healthy cluster): each fault ends in
its one-line message, leaves nothing the next run cannot finish, and the next run finishes.
The lead's tests/hosts/test_replay*.py drive the same through the Pulumi program; these stay at
phase level.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import shlex
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from components import bundle as node_bundle
from tests.hosts import nodes
from tests.hosts.lab import Host, Lab
from tests.hosts.nodes import CE_DIR, LOG_DIR, SHARED_DIR, STATE_DIR, Flow, PhaseRun, Secrets, must, run_phase, snapshot

pytestmark = pytest.mark.hosts

FIRST, SECOND = "first", "second"
UNKNOWN_PROMPT = "> Enter the activation code printed on your Netskope license: "


@dataclasses.dataclass(frozen=True)
class Standin:
    bare: Path
    url: str
    variant_url: str  # v5.1.3: v5.1.2 whose setup asks one question no driver table knows


def add_unknown_prompt(work: Path) -> None:
    """After the JWT secret was typed, setup asks something new (as a future CE release might)."""
    path = work / "standin" / "setup_flow.py"
    text = path.read_text()
    head = "def ask_jwt() -> str:\n"
    assert text.count(head) == 1, "the stand-in's ask_jwt() moved: update this variant"
    wrapper = f"def ask_jwt() -> str:\n    secret = _ask_jwt()\n    ask({UNKNOWN_PROMPT!r})\n    return secret\n\n\ndef _ask_jwt() -> str:\n"
    path.write_text(text.replace(head, wrapper))


@pytest.fixture(scope="module")
def found() -> Secrets:
    return Secrets.new()


@pytest.fixture(scope="module")
def standin(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Standin:
    work = tmp_path_factory.mktemp("standin")
    bare = nodes.make_standin_repo(work / "repo")
    variant = nodes.variant_repo(bare, work, "v5.1.3", add_unknown_prompt, "Stand-in CE v5.1.3: one unknown setup prompt")
    return Standin(bare, lab.serve_dir(bare, "ta_cloud_exchange.git"), lab.serve_dir(variant, "ta_cloud_exchange-variant.git"))


def failures(runs: list[PhaseRun]) -> str:
    return "\n".join(str(r) for r in runs if r.rc != 0)


# =============================================================================== part 1: migrate


@pytest.fixture(scope="module")
def flow(lab: Lab, standin: Standin, found: Secrets) -> Flow:
    """The standalone on ce-1 and step 1 (bundle, node.json, secrets.json) on ce-1..3."""
    the_flow = Flow(lab, [lab["ce-1"], lab["ce-2"], lab["ce-3"]], standin.url, found)
    the_flow.standalone()
    the_flow.ship_all()
    return the_flow


@dataclasses.dataclass
class Prepared:
    flow: Flow
    before_second: list[nodes.Snapshot]
    after_second: list[nodes.Snapshot]


@pytest.fixture(scope="module")
def prepared(flow: Flow) -> Prepared:
    """Steps 2-3 twice: the first wave, backup again at once, then the wave a new bundle triggers."""
    flow.preparation(FIRST, repeat=("backup",))  # backup at once again: the tree is as it was
    if failures(flow.runs):
        pytest.fail(f"first preparation wave failed:\n{failures(flow.runs)}", pytrace=False)
    flow.ship_all()  # a new bundle re-runs install, config and secrets too
    before = nodes.parallel(snapshot, flow.cluster)
    flow.preparation(SECOND, [p for p in nodes.PREPARATION if p != "backup"])
    after = nodes.parallel(snapshot, flow.cluster)
    return Prepared(flow, before, after)


@pytest.fixture(scope="module")
def cut_over(prepared: Prepared) -> Flow:
    """Step 4 (stop also repeated at once), step 5, then setup/start/verify again."""
    flow = prepared.flow
    flow.standin_runtime()
    flow.run(flow.primary, "stop", FIRST)
    flow.run(flow.primary, "stop", "stop again")
    flow.cutover(FIRST, stop=False)
    if failures(flow.of(FIRST)) or failures(flow.of("stop again")):
        pytest.fail(f"cutover failed:\n{failures(flow.runs)}", pytrace=False)
    flow.verify(FIRST)
    flow.cutover(SECOND, stop=False)
    flow.verify(SECOND)
    return flow


def test_bundle_and_settings_land_as_the_program_ships_them(flow: Flow, found: Secrets) -> None:
    bundle = node_bundle.build()
    expected = sorted(
        f"{p.relative_to(node_bundle.SCRIPTS)} {'755' if p.name == 'ce-node' else '644'} root {hashlib.sha256(p.read_bytes()).hexdigest()}"
        for p in node_bundle.shipped_files()
    )
    listing = (
        f"cd {node_bundle.INSTALL_DIR} && sudo find . -type f -printf '%P %m %u ' -exec sha256sum {{}} \\; | awk '{{print $1, $2, $3, $4}}' | sort"
    )
    for host in flow.cluster:
        rc, out, err = host.run(listing)
        assert rc == 0, err
        assert out.splitlines() == expected, host.name
        # the staged archive is unpacked into a fresh folder and swapped in: nothing half-copied stays
        rc, out, _ = host.run(f"ls -d {node_bundle.INSTALL_DIR}.new {node_bundle.INSTALL_DIR}.old ~/{nodes.staged_path(bundle)}.tgz 2>&1")
        assert out.count("No such file") == 3, out
        assert host.run("stat -c '%a %U %G' /etc/cloud-exchange-ha/node.json /etc/cloud-exchange-ha/secrets.json")[1].split("\n")[:2] == [
            "644 root root",
            "600 root root",
        ]
        assert json.loads(host.run("cat /etc/cloud-exchange-ha/node.json")[1]) == json.loads(flow.config(host).to_json())
        rc, out, err = host.run("cat /etc/cloud-exchange-ha/secrets.json")
        assert rc != 0 and "Permission denied" in err and out == ""  # root only
        assert host.run("sudo cat /etc/cloud-exchange-ha/secrets.json")[1] == found.document()
        # installing the same bundle again is a no-op for what runs
        assert nodes.ship(host, bundle) == f"bundle: installed {bundle.short}\n"
        assert host.run(listing)[1].splitlines() == expected


def test_preparation_converges_on_the_first_run(prepared: Prepared, standin: Standin) -> None:
    flow = prepared.flow
    first = flow.of(FIRST)
    assert [(r.host, r.phase) for r in first if r.host == "ce-1"] == [("ce-1", p) for p in nodes.PREPARATION]
    assert len(first) == len(nodes.PREPARATION) + 2 * (len(nodes.PREPARATION) - len(nodes.PRIMARY_ONLY))
    for run in first:
        must(run)
        assert run.problems == "", run  # success = one stdout line, on stderr only progress lines
    statuses = {(r.host, r.phase): r.status for r in first}
    for host in flow.cluster:
        for phase in ("prepare", "mount", "fetch-ce"):
            assert statuses[(host.name, phase)] == "changed", (host.name, phase)
        assert statuses[(host.name, "wait")] == statuses[(host.name, "preflight")] == "ok"
    assert statuses[("ce-1", "inspect --check")] == "ok"
    assert statuses[("ce-1", "backup")] == statuses[("ce-1", "certs")] == "changed"
    for run in flow.of(FIRST, "prepare"):  # the long phase says what it does as it goes, counted
        assert run.progress[0] == "progress prepare: updating the OS (new node, before its container engine) (1/6)", run
        assert run.progress[-1] == "progress prepare: SELinux (6/6)", run
    # the OS's updates: on the new nodes before their engine is installed, never on the adopted primary
    install = "$ apt-get -o DPkg::Lock::Timeout=600 -y -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold install"
    for host in flow.cluster:
        rc, log, err = host.run(f"sudo cat {LOG_DIR}/prepare.log")
        assert rc == 0, err
        if host is flow.primary:
            assert "adopted primary: no OS update" in log and "full-upgrade" not in log, log
        else:
            assert log.index("$ apt-get -o DPkg::Lock::Timeout=600 -s full-upgrade") < log.index(install), log
            assert "adopted primary" not in log
    assert all(not r.progress for r in flow.of(FIRST, "inspect --check"))  # quick: silent
    assert "match the stack" in flow.of(FIRST, "inspect --check")[0].out
    for host in flow.cluster:  # issue 13, rule 3: every node's mount left its token in the one shared folder
        assert sorted(host.run(f"sudo ls {SHARED_DIR}/.cloud-exchange-ha/nodes")[1].split()) == sorted(h.ip for h in flow.cluster)
    v512 = nodes.git("rev-parse", "v5.1.2^{commit}", cwd=standin.bare).strip()
    for host in flow.cluster:
        checks = (
            "dpkg-query -W -f='${Package} ${db:Status-Abbrev}\\n' docker.io docker-compose-plugin git python3-pexpect python3-cryptography nfs-common"
            " && docker compose version --short && systemctl is-active docker"
            " && sudo python3 -c 'import yaml, dotenv, pymongo, pexpect, cryptography; print(pymongo.version)'"
            f" && sudo git -C {CE_DIR} rev-parse HEAD && cat /etc/systemd/system/docker.service.d/cloud-exchange-ha-shared.conf"
        )
        rc, out, err = host.run(checks)
        assert rc == 0, out + err
        assert [ln.split()[1] for ln in out.splitlines()[:6]] == ["ii"] * 6, out
        assert out.splitlines()[6].startswith("2.") and out.splitlines()[7] == "active", out
        assert re.fullmatch(r"4\.[67]\.\d+", out.splitlines()[8]), out  # CE's pin pymongo>=4.6.3,<=4.7.3
        assert out.splitlines()[9] == v512
        assert f"RequiresMountsFor={SHARED_DIR}" in out
    # the backup is the standalone as it was (fetch-ce leaves the adopted checkout where it is)
    primary = flow.primary
    tarball = flow.of(FIRST, "backup")[0].out.split()[2]
    rc, out, err = primary.run(
        f"sudo sh -c 'cd {SHARED_DIR}/backups && sha256sum -c {Path(tarball).name}.sha256' && "
        f"sudo tar -xzOf {tarball} {CE_DIR.lstrip('/')}/standin/version.py | grep '^CE_VERSION'"
    )
    assert rc == 0, out + err
    assert out.splitlines() == [f"{Path(tarball).name}: OK", 'CE_VERSION = "5.1.2"']
    assert flow.of(f"{FIRST} again", "backup")[0].status == "unchanged"  # same tree: no second tarball
    # certs: the standalone's UI certificate is now the shared one (setup then keeps it)
    rc, out, _ = primary.run(f"sudo cmp {CE_DIR}/data/ssl_certs/cte_cert.crt {SHARED_DIR}/config/ssl_certs/cte_cert.crt && echo same")
    assert out == "same\n"


def test_a_second_preparation_changes_nothing(prepared: Prepared) -> None:
    flow = prepared.flow
    second = flow.of(SECOND)
    assert len(second) == len(flow.of(FIRST)) - 1  # all but backup
    for run in second:
        must(run, "ok", "unchanged")
        assert run.problems == "", run
    for phase in ("prepare", "mount", "fetch-ce", "certs"):
        assert {r.status for r in flow.of(SECOND, phase)} == {"unchanged"}, phase
    for host, before, after in zip(flow.cluster, prepared.before_second, prepared.after_second, strict=True):
        assert after.packages == before.packages, f"{host.name}: a package was installed or changed"
        assert after.dpkg_log == before.dpkg_log, f"{host.name}: dpkg ran"
        assert after.fstab == before.fstab, f"{host.name}: /etc/fstab changed"
        assert after.head == before.head != "", f"{host.name}: the CE repo moved"
        assert after.pip == before.pip, f"{host.name}: pip installed something"


def test_cutover_ends_in_one_primary_and_two_secondaries(cut_over: Flow) -> None:
    flow = cut_over
    first = flow.of(FIRST, "stop") + flow.of(FIRST, "setup") + flow.of(FIRST, "start")
    for run in first:
        must(run, "changed")
        assert run.problems == ""
    assert "mongod" in flow.of(FIRST, "stop")[0].out  # the standalone's mongod was running and is stopped
    assert flow.of("stop again")[0].status == "unchanged"
    assert [r.host for r in flow.of(FIRST, "setup")] == ["ce-1", "ce-2", "ce-3"]  # primary first, one at a time
    assert "as primary" in flow.of(FIRST, "setup")[0].out and all("as secondary" in r.out for r in flow.of(FIRST, "setup")[1:])
    assert "PRIMARY" in flow.of(FIRST, "start")[0].out and all("SECONDARY" in r.out for r in flow.of(FIRST, "start")[1:])
    verify = flow.of(FIRST, "verify --json --insecure-ui")[0]
    assert verify.rc == 0, verify
    report = json.loads(verify.out.strip().splitlines()[-1])
    assert report["healthy"] is True and report["problems"] == []
    assert report["primary_ip"] == flow.primary.ip
    assert sorted((m["name"], m["state"]) for m in report["members"]) == [
        (f"{flow.primary.ip}:27017", "PRIMARY"),
        *((f"{h.ip}:27017", "SECONDARY") for h in flow.secondaries),
    ]
    assert all(n["ui_ok"] for n in report["nodes"])
    # migrate: the standalone's certificate and maintenance password are kept, the JWT is given hidden
    rc, log, _ = flow.primary.run(f"sudo cat {LOG_DIR}/setup.log")
    assert "answering 'http or https'" not in log and "answering 'maintenance password'" not in log
    assert "answering 'JWT secret': ***" in log


def test_a_second_cutover_changes_nothing(cut_over: Flow) -> None:
    flow = cut_over
    again = flow.of(SECOND, "setup") + flow.of(SECOND, "start")
    assert [(r.host, r.phase) for r in again] == [(h.name, p) for p in ("setup", "start") for h in flow.cluster]
    for run in again:
        must(run, "unchanged")
    verify = flow.of(SECOND, "verify --json --insecure-ui")[0]
    assert verify.rc == 0 and json.loads(verify.out.splitlines()[-1])["primary_ip"] == flow.primary.ip, verify


CE_OWN_ENV = re.compile(r"^\.env(\.\d+)?$")  # CE keeps JWT_SECRET in plaintext in .env (docs/ce-facts.md §1.3) and copies it


def test_secrets_never_reach_logs_or_phase_output(cut_over: Flow, found: Secrets) -> None:
    flow = cut_over
    assert flow.of(FIRST, "setup") and len(flow.runs) > 40
    for run in flow.runs:  # no phase here is inspect --reveal: none may print a secret
        for value in found.values:
            assert value not in run.out and value not in run.err, f"secret in {run.host} {run.phase}"
    for host in flow.cluster:
        assert nodes.grep_secrets(host, found, ["/var/log", STATE_DIR, "/home/ubuntu", "/tmp", node_bundle.INSTALL_DIR]) == [], host.name
        hits = nodes.grep_secrets(host, found, [CE_DIR, SHARED_DIR, "/etc/cloud-exchange-ha"])
        ours = [h for h in hits if not CE_OWN_ENV.match(Path(h).name)]
        assert ours == ["/etc/cloud-exchange-ha/secrets.json"], f"{host.name}: {hits}"
        rc, out, _ = host.run(f"sudo ls {LOG_DIR}")
        assert {"setup.log", "start.log", "prepare.log"} <= set(out.split())


# =============================================================================== part 2: faults

FAULT_SHARE = "/srv/ce-ha-fault"  # its own "EFS": a bind mount on itself, so ce-1..3's shared folder is untouched
HOLD_LOCKS = (
    "import fcntl, time\n"
    "held = [open(p, 'a') for p in ('/var/lib/dpkg/lock-frontend', '/var/lib/dpkg/lock')]\n"
    "for f in held:\n"
    "    fcntl.lockf(f, fcntl.LOCK_EX)  # POSIX locks, as apt and dpkg take them\n"
    "time.sleep(600)\n"
)


@dataclasses.dataclass
class FaultHost:
    lab: Lab
    host: Host
    standin: Standin
    found: Secrets

    def config(self, **over: Any) -> None:
        values: dict[str, Any] = {"shared_dir": FAULT_SHARE, "timeouts": {**nodes.LAB_TIMEOUTS, "peers": 1}}
        values.update(over)
        url = values.pop("ce_repo_url", self.standin.url)
        nodes.write_node(self.host, nodes.node_config(self.lab, self.host, [self.host], url, **values))

    def phase(self, phase: str) -> PhaseRun:
        run = run_phase(self.host, phase)
        for value in self.found.values:
            assert value not in run.out + run.err, f"secret in {phase}"
        return run


def failed_with(run: PhaseRun, *needles: str) -> list[str]:
    """The run failed the contract way: exit 1, nothing on stdout, ERROR lines naming a fix."""
    lines = run.problems.strip().splitlines()
    assert run.rc == 1 and run.out == "" and lines, run
    name = run.phase.split()[0]
    assert all(ln.startswith(f"ERROR {name}: ") and " - fix: " in ln for ln in lines), run
    for needle in needles:
        assert needle in run.err, f"{needle!r} not in:\n{run}"
    return lines


@pytest.fixture(scope="module")
def fault(lab: Lab, standin: Standin, found: Secrets) -> Iterator[FaultHost]:
    """A host of its own (booted for this module, removed after it), shipped like the others."""
    host = lab.add_host("fault-1")
    try:
        rc, out, err = host.run(f"sudo mkdir -p {FAULT_SHARE} && sudo mount --bind {FAULT_SHARE} {FAULT_SHARE}")
        assert rc == 0, out + err
        nodes.ship(host)
        nodes.write_secrets(host, found)
        the_fault = FaultHost(lab, host, standin, found)
        the_fault.config()
        yield the_fault
    finally:
        lab.remove_host("fault-1")


@pytest.fixture(scope="module")
def fault_ready(fault: FaultHost) -> FaultHost:
    """The fault host prepared, its share mounted, CE fetched at v5.1.2 (idempotent if done)."""
    fault.config()
    for phase in ("prepare", "mount", "fetch-ce"):
        must(fault.phase(phase))
    return fault


def test_dpkg_lock_held_when_preparation_starts(fault: FaultHost) -> None:
    host = fault.host
    fault.config()
    before = snapshot(host)
    # a flock(1) holder (what the brief's one-liner takes) is seen by wait as well
    rc, out, err = host.run("sudo systemd-run --unit=ce-test-flock --quiet flock /var/lib/dpkg/lock-frontend sleep 600")
    assert rc == 0, out + err
    try:
        deadline = time.monotonic() + 30
        while "lock-frontend" not in (held := run_phase(host, "wait --timeout 1")).err and time.monotonic() < deadline:
            time.sleep(0.2)
        failed_with(held, "package manager lock still held", "/var/lib/dpkg/lock-frontend")
    finally:
        host.run("sudo systemctl stop ce-test-flock")
    # apt and dpkg take POSIX (fcntl) locks, which a flock(2) lock does not block: hold those
    unit = "ce-test-hold-dpkg-lock"
    host.put(HOLD_LOCKS.encode(), "/home/ubuntu/hold_locks.py")
    rc, out, err = host.run(f"sudo systemd-run --unit={unit} --quiet python3 /home/ubuntu/hold_locks.py")
    assert rc == 0, out + err
    try:
        deadline = time.monotonic() + 30
        while "lock-frontend" not in run_phase(host, "wait --timeout 1").err and time.monotonic() < deadline:
            time.sleep(0.2)
        lines = failed_with(fault.phase("wait --timeout 2"), "package manager lock still held", "/var/lib/dpkg/lock-frontend")
        assert len(lines) == 1
        # prepare starts while the lock is held: apt-get waits for it (DPkg::Lock::Timeout), installs nothing
        result: list[PhaseRun] = []
        worker = threading.Thread(target=lambda: result.append(fault.phase("prepare")), daemon=True)
        worker.start()
        deadline = time.monotonic() + 300
        while " install " not in host.run("pgrep -a apt-get || true")[1] and worker.is_alive() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert worker.is_alive(), f"prepare finished while the lock was held: {result}"
        time.sleep(2)
        assert snapshot(host).packages == before.packages, "something was installed under a held lock"
        assert worker.is_alive()
    finally:
        host.run(f"sudo systemctl stop {unit}")
    worker.join(timeout=600)
    run = must(result[0], "changed")
    assert "docker.io" in run.out
    rc, log, _ = host.run(f"sudo cat {LOG_DIR}/prepare.log")
    assert re.search(r"Could not get lock /var/lib/dpkg/lock-frontend|Waiting for cache lock", log), log[-3000:]
    must(fault.phase("wait"), "ok")
    must(fault.phase("prepare"), "unchanged")


def test_wrong_vcpu_count_fails_preflight_naming_the_instance_type(fault: FaultHost) -> None:
    host = fault.host
    cpus = int(host.run("grep -c ^processor /proc/cpuinfo")[1])
    if cpus in (8, 16):
        pytest.skip(f"this machine has {cpus} vCPU, which CE accepts")
    before = snapshot(host)
    fault.config(allow_undersized=False)
    lines = failed_with(fault.phase("preflight"), f"{cpus} vCPU, CE needs exactly 8 or 16", "cloud-exchange-ha:instanceType")
    assert any("vCPU" in ln and "cloud-exchange-ha:instanceType" in ln.split(" - fix: ")[1] for ln in lines)
    assert snapshot(host) == before  # preflight changes nothing
    fault.config(allow_undersized=True)
    run = must(fault.phase("preflight"), "ok")
    assert f"{cpus} vCPU" in run.out  # now a warning, said so


def test_shared_folder_not_mounted_fails_naming_the_setting(fault_ready: FaultHost) -> None:
    fault = fault_ready  # prepared: mount.nfs4 (nfs-common) is there, as on a real node
    host = fault.host
    dropin = "/etc/systemd/system/docker.service.d/cloud-exchange-ha-shared.conf"
    state = f"sha256sum /etc/fstab; cat {dropin} 2>/dev/null; ls -d /srv/not-mounted 2>&1"
    before = host.run(state)[1]
    fault.config(shared_dir="/srv/not-mounted")
    failed_with(fault.phase("mount"), "/srv/not-mounted is not mounted", "cloud-exchange-ha:sharedDir")
    assert host.run(state)[1] == before and "No such file" in before  # nothing written, no folder made
    # an EFS name that does not resolve: mount.nfs4 hangs; the phase bounds it and says what to check
    efs = "fs-0123456789abcdef0.efs.eu-west-1.amazonaws.com:/"
    fault.config(shared_dir="/srv/efs-missing", shared_source=efs, timeouts={"mount": 1})
    failed_with(fault.phase("mount"), f"mount {efs} at /srv/efs-missing failed", "did not return within", "TCP 2049")
    # another source (an address without NFS): its fstab line replaces the first, a re-run changes nothing
    fault.config(shared_dir="/srv/efs-missing", shared_source=f"{fault.lab.infra_ip}:/", timeouts={"mount": 1})
    failed_with(fault.phase("mount"), "/srv/efs-missing failed", "TCP 2049")
    fstab = host.run("cat /etc/fstab")[1]
    failed_with(fault.phase("mount"), "/srv/efs-missing failed")
    assert host.run("cat /etc/fstab")[1] == fstab
    entry = [ln for ln in fstab.splitlines() if " /srv/efs-missing " in ln]
    assert len(entry) == 1 and entry[0].startswith(f"{fault.lab.infra_ip}:/ ") and ",_netdev,nofail " in entry[0], fstab
    above = fstab.splitlines()[fstab.splitlines().index(entry[0]) - 1]
    assert above == "# cloud-exchange-ha: the next line is managed by cloud-exchange-ha", fstab  # its mark
    # the next run with the folder that is mounted finishes
    fault.config()
    assert must(fault.phase("mount")).status in ("changed", "unchanged")
    assert host.run(f"sudo test -d {FAULT_SHARE}/config/ssl_certs && echo ok")[1] == "ok\n"


def test_mount_refuses_a_non_empty_folder_and_an_fstab_line_it_did_not_write(fault_ready: FaultHost) -> None:
    """Rule 1 of issue 13: nothing is mounted over files, and someone else's fstab line stays byte for byte."""
    fault = fault_ready
    host = fault.host
    source = f"{fault.lab.infra_ip}:/"
    fstab_sum = "sha256sum /etc/fstab"
    before = host.run(fstab_sum)[1]
    # a folder with someone's files in it, not mounted
    rc, out, err = host.run("sudo mkdir -p /srv/ce-nonempty/old && echo kept | sudo tee /srv/ce-nonempty/notes.txt >/dev/null")
    assert rc == 0, out + err
    fault.config(shared_dir="/srv/ce-nonempty", shared_source=source, timeouts={"mount": 1})
    lines = failed_with(fault.phase("mount"), "shared folder /srv/ce-nonempty is not mounted and not empty (2 entries: notes.txt, old)",
                        "cloud-exchange-ha:sharedDir", "move its contents away")
    assert len(lines) == 1
    assert host.run(fstab_sum)[1] == before
    assert host.run("sudo cat /srv/ce-nonempty/notes.txt")[1] == "kept\n"
    log = host.run(f"sudo cat {LOG_DIR}/mount.log")[1]
    assert not [ln for ln in log.splitlines() if "$ mount " in ln and "/srv/ce-nonempty" in ln], log[-2000:]
    # someone else's line for the folder (and the lab's own lines) in fstab: refused, fstab byte-identical
    theirs = "nfs.example.internal:/exports/ce /srv/ce-foreign nfs4 defaults 0 0"
    rc, out, err = host.run(f"sudo mkdir -p /srv/ce-foreign && sudo cp -p /etc/fstab /root/fstab.before-test && "
                            f"echo {shlex.quote(theirs)} | sudo tee -a /etc/fstab >/dev/null && {fstab_sum}")
    assert rc == 0, out + err
    with_theirs = out
    try:
        fault.config(shared_dir="/srv/ce-foreign", shared_source=source, timeouts={"mount": 1})
        lines = failed_with(fault.phase("mount"), "/etc/fstab already mounts /srv/ce-foreign with a line cloud-exchange-ha did not write",
                            theirs, "remove or comment out that line in /etc/fstab")
        assert len(lines) == 1
        assert host.run(fstab_sum)[1] == with_theirs
    finally:
        host.run("sudo cp -p /root/fstab.before-test /etc/fstab && sudo rm -rf /srv/ce-nonempty /srv/ce-foreign /root/fstab.before-test")
    assert host.run(fstab_sum)[1] == before
    # the next run with the mounted share finishes
    fault.config()
    must(fault.phase("mount"))


def test_dirty_ce_tree_is_refused_by_fetch_ce(fault_ready: FaultHost) -> None:
    host = fault_ready.host
    rc, out, err = host.run(f"echo '# a local edit' | sudo tee -a {CE_DIR}/README.md >/dev/null && sudo git -C {CE_DIR} rev-parse HEAD")
    assert rc == 0, err
    head = out.strip()
    lines = failed_with(fault_ready.phase("fetch-ce"), "modified tracked files (README.md)", f"git -C {CE_DIR} stash")
    assert len(lines) == 1
    assert host.run(f"sudo git -C {CE_DIR} rev-parse HEAD")[1].strip() == head
    assert "# a local edit" in host.run(f"tail -1 {CE_DIR}/README.md")[1]  # the edit is the operator's: kept
    # follow the fix: the next run finishes
    assert host.run(f"sudo git -C {CE_DIR} stash -q")[0] == 0
    must(fault_ready.phase("fetch-ce"), "unchanged")


def test_setup_stops_at_a_prompt_it_does_not_know(fault_ready: FaultHost) -> None:
    fault = fault_ready
    host = fault.host
    fault.config(ce_repo_url=fault.standin.variant_url, ce_version="v5.1.3")
    must(fault.phase("fetch-ce"), "changed")
    run = fault.phase("setup")
    lines = failed_with(run, "setup asks something this driver does not know", UNKNOWN_PROMPT.strip(), "scripts/cenode/prompts.py")
    assert len(lines) == 1
    rc, log, _ = host.run(f"sudo cat {LOG_DIR}/setup.log")
    assert "answering 'JWT secret': ***" in log  # the secret was typed before the unknown prompt ...
    for value in fault.found.values:  # ... and shows nowhere
        assert value not in log
    assert host.run(f"sudo test -e {STATE_DIR}/setup-done.json || echo none")[1] == "none\n"
    assert host.run("pgrep -af '[.]/setup' || echo none")[1] == "none\n", "setup left running"
    # the next run (a CE version whose prompts the driver knows) finishes over what was left
    fault.config()
    must(fault.phase("fetch-ce"), "changed")
    run = must(fault.phase("setup"), "changed")
    assert "completed as primary" in run.out
    must(fault.phase("setup"), "unchanged")


@pytest.mark.parametrize(("tag", "says"), [("v5.1.0", "older than 5.1.1"), ("v4.2.0", "has no HA")])
def test_too_old_standalone_is_refused_before_anything_changes(fault_ready: FaultHost, tag: str, says: str) -> None:
    fault = fault_ready
    host = fault.host
    ce_dir = f"/opt/ce-{tag}"
    nodes.install_standalone(host, fault.standin.url, tag, fault.found, ce_dir=ce_dir, start=False)
    fault.config(ce_dir=ce_dir, migrate=True)
    before = snapshot(host, ce_dir)
    failed_with(fault.phase("preflight"), says, "upgrade the standalone CE")
    failed_with(fault.phase("inspect --check"), says)
    assert snapshot(host, ce_dir) == before
    if tag == "v5.1.0":  # the operator upgrades the standalone as told: the next run passes
        q = shlex.quote
        script = (
            f"cd {q(ce_dir)} && sudo git -c advice.detachedHead=false checkout -q v5.1.2 && "
            "sudo install -m 0600 /dev/stdin /root/standin-secrets.json && "
            "sudo ./standin-install-standalone --secrets /root/standin-secrets.json --ignore-failures; rc=$?; "
            "sudo rm -f /root/standin-secrets.json; exit $rc"
        )
        rc, out, err = host.run(script, stdin=fault.found.document(), timeout=300)
        assert rc == 0, out[-2000:] + err[-2000:]
        must(fault.phase("preflight"), "ok")
        assert "CE 5.1.2" in must(fault.phase("inspect --check"), "ok").out
    fault.config()


def test_migrate_never_upgrades_the_running_standalone(fault_ready: FaultHost) -> None:
    """A standalone 5.1.1 under a stack at v5.1.2: preflight and fetch-ce refuse, the checkout stays."""
    fault = fault_ready
    host = fault.host
    ce_dir = "/opt/ce-adopt"
    nodes.install_standalone(host, fault.standin.url, "v5.1.1", fault.found, ce_dir=ce_dir, start=False)
    fault.config(ce_dir=ce_dir, migrate=True)
    before = snapshot(host, ce_dir)
    for phase in ("preflight --skip-peers", "fetch-ce"):
        failed_with(fault.phase(phase), "installed CE 5.1.1 differs from cloud-exchange-ha:ceVersion 5.1.2",
                    "set cloud-exchange-ha:ceVersion to the installed 5.1.1")
    assert snapshot(host, ce_dir) == before
    fault.config(ce_dir=ce_dir, migrate=True, ce_version="v5.1.1")  # the fix: the stack adopts what runs
    must(fault.phase("fetch-ce"))
    assert snapshot(host, ce_dir) == before
    fault.config()


def test_a_second_changing_phase_waits_then_names_the_holder(fault_ready: FaultHost) -> None:
    """A manual run holding the node (here: the shipped lock module as phase stop) and a pulumi step
    (mount) do not overlap: mount waits timeouts.lock, fails naming pid and phase, then runs."""
    fault = fault_ready
    host = fault.host
    fault.config(timeouts={**nodes.LAB_TIMEOUTS, "peers": 1, "lock": 2})
    holder = (
        f"from cenode.nodelock import NodeLock; import os, time; NodeLock({STATE_DIR!r}, 'stop', 0).acquire(); "
        "print(os.getpid(), flush=True); time.sleep(120)"
    )
    background = f"PYTHONPATH={node_bundle.INSTALL_DIR} nohup python3 -c {shlex.quote(holder)} </dev/null >/tmp/lock-holder.out 2>&1 &"
    rc, out, err = host.run(
        f"sudo rm -f /tmp/lock-holder.out && sudo sh -c {shlex.quote(background)} && "
        "for i in $(seq 50); do [ -s /tmp/lock-holder.out ] && break; sleep 0.2; done; cat /tmp/lock-holder.out"
    )
    assert rc == 0 and out.strip().isdigit(), out + err
    pid = out.strip()
    try:
        started = time.monotonic()
        failed_with(fault.phase("mount"), f"another ce-node phase is changing this node (pid {pid}, phase stop, since ")
        assert time.monotonic() - started >= 2
        assert "preflight: ok" in must(fault.phase("preflight --skip-peers")).out  # changes nothing: not held up
    finally:
        host.run(f"sudo kill {pid}")
    time.sleep(1)
    must(fault.phase("mount"))
    fault.config()


HANGING_GIT = """#!/bin/sh
# a git that hangs with a child of its own, as a clone from an unanswering server would
sleep 301 &
echo $! > /run/ce-test-git/grandchild
echo $$ > /run/ce-test-git/child
exec sleep 302
"""


def test_the_outer_timeout_ends_the_phase_and_every_command_it_started(fault_ready: FaultHost) -> None:
    """Issue 13, rule 2: coreutils timeout (the step's outer bound) ends ce-node; no git, no sleep is left."""
    fault = fault_ready
    host = fault.host
    fault.config()
    host.put(HANGING_GIT.encode(), "/home/ubuntu/hanging-git")
    rc, out, err = host.run("sudo install -d /opt/ce-test-bin /run/ce-test-git && sudo install -m 0755 /home/ubuntu/hanging-git /opt/ce-test-bin/git")
    assert rc == 0, out + err
    command = f"sudo env PATH=/opt/ce-test-bin:/usr/sbin:/usr/bin:/sbin:/bin timeout 8 {node_bundle.INSTALL_DIR}/ce-node fetch-ce"
    try:
        started = time.monotonic()
        rc, out, err = host.run(command, timeout=120)
        took = time.monotonic() - started
        assert rc == 124 and out == "", (rc, out, err)  # timeout's own exit status for "it ran out"
        lines = [ln for ln in err.splitlines() if not ln.startswith("progress fetch-ce: ")]
        assert len(lines) == 1, err
        assert lines[0].startswith("ERROR fetch-ce: ended by SIGTERM after "), lines
        assert "(the step's outer bound is timeout 900 s); ended 1 command process group(s) it had started - fix: read " in lines[0]
        assert took < 8 + 6 + 10, took  # TERM obeyed: no waiting out the grace
        child = host.run("sudo cat /run/ce-test-git/child /run/ce-test-git/grandchild")[1].split()
        assert len(child) == 2, child
        left = host.run(f"for p in {' '.join(child)}; do [ -d /proc/$p ] && echo $p; done; pgrep -af 'sleep 30[12]|[c]e-node|[c]enode' || true")[1]
        assert left.strip() == "", f"left running after the timeout:\n{left}"
    finally:
        host.run("sudo sh -c 'for f in /run/ce-test-git/child /run/ce-test-git/grandchild; do [ -s $f ] && kill -9 $(cat $f) 2>/dev/null; done; "
                 "rm -rf /opt/ce-test-bin /run/ce-test-git /home/ubuntu/hanging-git'")
    must(fault.phase("fetch-ce"), "unchanged")  # the lock went with it; the next run finishes


def test_the_primary_refuses_the_cutover_while_a_node_sees_another_shared_folder(fault_ready: FaultHost, lab: Lab) -> None:
    """Issue 13, rule 3 (5.x): a second node mounts a folder of its own at the same path; its mount
    phase succeeds, but the primary's stop (the cutover's first step) fails naming it, CE untouched."""
    fault = fault_ready
    host = fault.host
    peer = lab.add_host("peer-2")
    try:
        rc, out, err = peer.run(f"sudo mkdir -p {FAULT_SHARE} && sudo mount --bind {FAULT_SHARE} {FAULT_SHARE}")
        assert rc == 0, out + err
        nodes.ship(peer)
        nodes.write_secrets(peer, fault.found)
        cluster = [host, peer]
        for node in cluster:
            values: dict[str, Any] = {"shared_dir": FAULT_SHARE, "timeouts": {**nodes.LAB_TIMEOUTS, "peers": 1}}
            nodes.write_node(node, nodes.node_config(lab, node, cluster, fault.standin.url, **values))
        must(fault.phase("mount"))
        assert "shared folder token" in must(run_phase(peer, "mount"), "changed").out  # its own folder: it cannot tell
        tokens = f"sudo ls {FAULT_SHARE}/.cloud-exchange-ha/nodes"
        assert host.run(tokens)[1].split() == [host.ip] and peer.run(tokens)[1].split() == [peer.ip]
        before = snapshot(host)
        lines = failed_with(fault.phase("stop"), f"the shared folder {FAULT_SHARE} shows no token of node(s) {peer.ip} (",
                            "they do not see the folder this primary sees", f"run the mount phase on {peer.ip} and check each mounts",
                            "cloud-exchange-ha:sharedDir")
        assert len(lines) == 1 and host.ip not in lines[0].split(" - fix: ")[0].split("no token of node(s) ")[1]
        assert snapshot(host) == before
        # the peer's token in the primary's folder (what the peer leaves once it mounts the same share): the check passes
        rc, _, err = host.run(f"sudo cp {FAULT_SHARE}/.cloud-exchange-ha/nodes/{host.ip} /tmp/own-token && "
                              f"sudo sh -c 'sed s/{host.ip}/{peer.ip}/g /tmp/own-token | sed s/{host.name}/{peer.name}/ "
                              f"> {FAULT_SHARE}/.cloud-exchange-ha/nodes/{peer.ip}'")
        assert rc == 0, err
        must(fault.phase("stop"))
    finally:
        host.run(f"sudo rm -f {FAULT_SHARE}/.cloud-exchange-ha/nodes/{peer.ip} /tmp/own-token")
        lab.remove_host("peer-2")
        fault.config()


def test_unreachable_peer_is_named_with_its_ports(fault: FaultHost, lab: Lab) -> None:
    host = fault.host
    peer = lab.add_host("peer-1")
    try:
        nodes.write_node(
            host,
            nodes.node_config(lab, host, [host, peer], fault.standin.url, shared_dir=FAULT_SHARE, timeouts={"peers": 1, "peer_connect": 3}),
        )
        must(fault.phase("preflight"), "ok")  # nothing listens there yet: refused counts as reachable, as in CE
        nodes.set_link(peer, up=False)
        lines = failed_with(fault.phase("preflight"), f"peer {peer.ip} unreachable on TCP 4369 (", "27017 (")
        assert len(lines) == 1 and "allow the cluster ports" in lines[0]
        nodes.set_link(peer, up=True)
        must(fault.phase("preflight"), "ok")
    finally:
        lab.remove_host("peer-1")
        fault.config()
