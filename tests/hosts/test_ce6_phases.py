"""The CE 6.x node phases on booted hosts: a whole greenfield through ``ce-node``, ending in ``verify`` healthy.

A lab of its own (``nodes.ce6_lab_config()``: three new Debian 12 hosts sharing one folder, a tmpfs
named ``standin-glusterfs:/CloudExchange``, that plays the GlusterFS volume). The bundle, node.json and
secrets.json go on exactly as the Pulumi program ships them (tests/hosts/nodes.py), every phase
runs with the program's command string over SSH without a PTY.

What this fixture does that the program never does (test set-up, documented here):
* the stand-in CE (tests/fakes/standin_ce, tag v6.1.0) is served from the lab over dumb http;
* each host gets the GlusterFS stand-in BEFORE prepare: the v6.1.0 tree (``git archive``, what a
  clone checks out) is unpacked to /opt/standin-ce6 and its TEST-ONLY ``standin-install-gluster``
  run (gluster, glusterd, glusterfs, mount.glusterfs, glusterd.service). prepare then finds
  ``gluster --version``/``glusterfs --version`` working and installs no GlusterFS package; its
  "mount" is a real bind of the shared folder at /opt/shared/data, so the host's mount table shows
  a source naming CloudExchange there, as a real GlusterFS mount does;
* the stand-in's own mongod needs ``mockupdb`` (CE's images would bring mongod): its wheel is
  unpacked without dependencies, as tests/hosts/replay_support.py does.

node.json: ``ce_version`` v6.1.0, ``shared_dir`` /opt/shared/data, ``brick_volume_id`` "" (the lab
has no EBS volume: bricks on the root disk), the OS's docker.io (older than 6.x wants: a warning
with ``allow_undersized``), the lab's pip index.

Flow (README order for 6.x): wait, preflight, prepare, bricks, fetch-ce, certs on every node in
parallel; the cutover: stop primary, setup primary, per secondary ``gluster-join --member N`` on
the primary then setup on N; start primary, start each secondary; verify. Then: every phase again
changes nothing, gluster-join again is "unchanged", setup on the primary is refused while the
volume's mount is gone (unmounted), and no secret is in any log.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.standin_ce.make_repo import make_repo
from tests.hosts import nodes
from tests.hosts.conftest import _unavailable
from tests.hosts.lab import Host, Lab, missing_prerequisites
from tests.hosts.nodes import LOG_DIR, PhaseRun, Secrets, install_gluster_standin, must, run_phase, standin_tree

pytestmark = pytest.mark.hosts

DATA = "/opt/shared/data"
TAG = "v6.1.0"
PREPARATION = ("wait", "preflight", "prepare", "bricks", "fetch-ce", "certs")


@dataclasses.dataclass
class Ce6:
    lab: Lab
    cluster: list[Host]
    repo_url: str
    found: Secrets
    runs: list[PhaseRun] = dataclasses.field(default_factory=list)

    @property
    def primary(self) -> Host:
        return self.cluster[0]

    def run(self, host: Host, phase: str) -> PhaseRun:
        done = run_phase(host, phase)
        self.runs.append(done)
        return done

    def config(self, host: Host) -> Any:
        return nodes.node_config(
            self.lab, host, self.cluster, self.repo_url, ce_version=TAG, shared_dir=DATA, brick_volume_id="",
            timeouts={**nodes.LAB_TIMEOUTS, "gluster_peer": 60},
        )  # fmt: skip


def give_mockupdb(lab: Lab, host: Host) -> None:
    assert lab.wheelhouse is not None
    (wheel,) = sorted((lab.wheelhouse.path / "wheels").glob("mockupdb-*.whl"))
    host.put(wheel.read_bytes(), "mockupdb.whl")
    rc, _, err = host.run("sudo python3 -m zipfile -e mockupdb.whl /usr/local/lib/python3.11/dist-packages/ && rm mockupdb.whl")
    assert rc == 0, f"{host.name}: mockupdb: {err}"


def failures(runs: list[PhaseRun]) -> str:
    return "\n".join(str(r) for r in runs if r.rc != 0)


@pytest.fixture(scope="module")
def ce6() -> Iterator[Ce6]:
    why = missing_prerequisites()
    if why:
        _unavailable("; ".join(why))  # skipped, except in CI (CI=true): failed
    lab = Lab(nodes.ce6_lab_config()).start()
    try:
        work = Path(tempfile.mkdtemp(prefix="ce-ha-ce6-"))
        bare = Path(make_repo(work))
        flow = Ce6(lab, list(lab), lab.serve_dir(bare, "ta_cloud_exchange.git"), Secrets.new())
        tree = standin_tree(bare)

        def one(host: Host) -> None:
            install_gluster_standin(host, tree)
            give_mockupdb(lab, host)
            nodes.ship(host)
            nodes.write_node(host, flow.config(host))
            nodes.write_secrets(host, flow.found)

        nodes.parallel(one, flow.cluster)
        yield flow
    finally:
        lab.teardown()


@dataclasses.dataclass
class Done:
    flow: Ce6
    preparation: list[PhaseRun]
    cutover: list[PhaseRun]
    verify: PhaseRun
    report: dict[str, Any]


@pytest.fixture(scope="module")
def done(ce6: Ce6) -> Done:
    flow = ce6

    def prepare_node(host: Host) -> list[PhaseRun]:
        runs = []
        for phase in PREPARATION:
            runs.append(flow.run(host, phase))
            if runs[-1].rc != 0:
                break
        return runs

    preparation = [r for runs in nodes.parallel(prepare_node, flow.cluster) for r in runs]
    if failures(preparation):
        pytest.fail(f"preparation failed:\n{failures(preparation)}", pytrace=False)
    steps: list[tuple[Host, str]] = [(flow.primary, "stop"), (flow.primary, "setup")]
    for member, host in enumerate(flow.cluster[1:], start=2):
        steps += [(flow.primary, f"gluster-join --member {member}"), (host, "setup")]
    steps += [(host, "start") for host in flow.cluster]
    cutover = []
    for host, phase in steps:
        cutover.append(flow.run(host, phase))
        if cutover[-1].rc != 0:
            pytest.fail(f"cutover failed:\n{failures(cutover)}", pytrace=False)
    verify = flow.run(flow.primary, "verify --json --insecure-ui")
    lines = verify.out.strip().splitlines()
    report: dict[str, Any] = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}
    return Done(flow, preparation, cutover, verify, report)


def test_greenfield_6x_ends_verified(done: Done) -> None:
    assert done.verify.rc == 0 and done.report.get("healthy") is True, f"{done.verify}\n{done.report}"
    ips = [h.ip for h in done.flow.cluster]
    assert done.report["primary_ip"] == ips[0]
    assert sorted(m["state"] for m in done.report["members"]) == ["PRIMARY", "SECONDARY", "SECONDARY"]
    for run in done.preparation + done.cutover:
        must(run)
    by = {(r.host, r.phase): r for r in done.preparation}
    prep = by[("ce-1", "prepare")]
    assert "glusterfs 11.1" in prep.out and "warning: Docker" in prep.out  # the stand-in kept; docker.io too old: lab warning
    assert "bricks on the root disk" in by[("ce-2", "bricks")].out
    joins = [r for r in done.cutover if r.phase.startswith("gluster-join")]
    assert [r.status for r in joins] == ["changed", "changed"] and "brick added (CloudExchange replica 3)" in joins[1].out
    rc, out, _ = done.flow.primary.run("sudo gluster volume info CloudExchange")
    assert rc == 0 and "Number of Bricks: 1 x 3 = 3" in out



def test_each_secondary_saw_the_primarys_token_in_the_volume_before_it_started(done: Done) -> None:
    """Issue 13, rule 3 (6.x): the primary leaves its token once its setup made the volume; each
    secondary's setup, right after mounting it, found that token (else it would have failed)."""
    flow = done.flow
    ips = sorted(h.ip for h in flow.cluster)
    for host in flow.cluster:
        rc, out, err = host.run("sudo ls /opt/shared/data/.cloud-exchange-ha/nodes")
        assert rc == 0 and sorted(out.split()) == ips, (host.name, out, err)
    rc, out, _ = flow.primary.run(f"sudo cat /opt/shared/data/.cloud-exchange-ha/nodes/{flow.primary.ip}")
    assert json.loads(out) == {"node": flow.primary.name, "ip": flow.primary.ip, "by": "cloud-exchange-ha"}
    setups = [r for r in done.cutover if r.phase == "setup"]
    assert [r.host for r in setups] == [h.name for h in flow.cluster] and all("shared folder token" in r.out for r in setups), setups


def test_every_phase_again_changes_nothing(done: Done) -> None:
    flow = done.flow
    again: list[PhaseRun] = []

    def rerun(host: Host) -> list[PhaseRun]:
        return [flow.run(host, phase) for phase in (*PREPARATION, "setup", "start")]

    again = [r for runs in nodes.parallel(rerun, flow.cluster) for r in runs]
    again += [flow.run(flow.primary, f"gluster-join --member {m}") for m in (2, 3)]
    for run in again:
        must(run, "ok", "unchanged")
    rc, out, _ = flow.primary.run("sudo gluster volume info CloudExchange")
    assert "Number of Bricks: 1 x 3 = 3" in out


def test_setup_on_the_primary_is_refused_while_the_volume_is_not_mounted(done: Done) -> None:
    flow = done.flow
    assert flow.primary.run(f"sudo umount -l {DATA}")[0] == 0
    try:
        refused = flow.run(flow.primary, "setup")
        forced = flow.run(flow.primary, "setup --force")
    finally:
        assert flow.primary.run(f"sudo mount -t glusterfs {flow.primary.ip}:/CloudExchange {DATA}")[0] == 0
    for run in (refused, forced):
        assert run.rc == 1 and run.out == "", run
        (line,) = run.problems.strip().splitlines()
        assert line.startswith("ERROR setup: volume CloudExchange exists") and "delete and recreate" in line and "fix: mount it first" in line
    rc, out, _ = flow.primary.run("sudo gluster volume info CloudExchange")
    assert "Number of Bricks: 1 x 3 = 3" in out  # CE's setup never ran: the volume is intact
    must(flow.run(flow.primary, "setup"), "unchanged")


def test_config_files_are_root_only_and_no_secret_is_in_any_log(done: Done) -> None:
    flow = done.flow
    for host in flow.cluster:
        rc, out, _ = host.run(f"sudo stat -c '%a %U' {nodes.CE_DIR}/cloudexchange.config {DATA}/config/.env.keys")
        assert rc == 0 and out.split("\n")[0] == "600 root" and out.split("\n")[1].startswith("440 "), out
        assert nodes.grep_secrets(host, flow.found, [LOG_DIR, f"{nodes.CE_DIR}/cloudexchange.config"]) == []
    for run in flow.runs:
        assert not any(value in run.out + run.err for value in flow.found.values), run
