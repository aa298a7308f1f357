"""evict's GlusterFS part (``cenode.brick_repair``) against three stand-in glusterds on loopback.

A 6.x node dies and comes back at the same address with a new glusterd identity
(docs/ce-lifecycle.md §5.1, §5.3): its brick is still in the volume under the old peer, the new glusterd is in no pool,
and its mount fails. The repair, run on a survivor, removes the dead brick, detaches the old peer,
probes the new one and adds its brick (replica back to 3), starts a full heal and reads heal info;
a second run does nothing; a live peer's brick is never touched. The stand-in keeps the volume's
metadata in one shared file (tests/fakes/README.md, GlusterFS stand-in).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from scripts.cenode import brick_repair, gluster
from scripts.cenode.system import CommandResult, Ctx, NodeEnv, PhaseError, PhaseLog, Runner
from tests.fakes.test_standin_ce6 import NODE_IPS, VOLUME, Lab, Node, _kill_by_pidfile, bare_repo, lab, pins_dir, run, shim_bin

from .conftest import gluster_layout_at, make_node

__all__ = ["bare_repo", "lab", "pins_dir", "shim_bin"]  # the stand-in's fixtures


def three_bricks(lab: Lab) -> list[Node]:
    """A started replica-3 volume over the three nodes, as CE's setup and add-node leave it."""
    nodes = [lab.node(index) for index in range(3)]
    for node in nodes:
        assert run(node, "glusterd").returncode == 0
    one = nodes[0]
    assert run(one, "gluster", "--mode=script", "volume", "create", VOLUME, f"{one.ip}:{lab.brick}", "force").returncode == 0
    assert run(one, "gluster", "volume", "start", VOLUME).returncode == 0
    for replica, node in enumerate(nodes[1:], start=2):
        assert run(one, "gluster", "peer", "probe", node.ip).returncode == 0
        added = run(one, "gluster", "--mode=script", "volume", "add-brick", VOLUME, "replica", str(replica), f"{node.ip}:{lab.brick}", "force")
        assert added.returncode == 0, added.stderr
    return nodes


def new_identity(node: Node) -> str:
    """The node's VM replaced: glusterd gone, a fresh root disk (no glusterd.info), glusterd started again."""
    _kill_by_pidfile(node.gluster_local / "standin-glusterd.pid", b"glusterd")
    (node.gluster_local / "glusterd.info").unlink()
    assert run(node, "glusterd").returncode == 0
    first = (node.gluster_local / "glusterd.info").read_text().splitlines()[0]
    assert first.startswith("UUID=")
    return first.partition("=")[2]


def pool(lab: Lab) -> dict[str, list[str]]:
    state = json.loads((lab.data / ".standin-gluster" / "state.json").read_text())
    return {uuid: info["hostnames"] for uuid, info in state["pool"].items()}


def bricks(lab: Lab) -> list[str]:
    state = json.loads((lab.data / ".standin-gluster" / "state.json").read_text())
    return list(state["volumes"][VOLUME]["bricks"])


@pytest.fixture
def on_node(lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[Node], Ctx]:
    """The repair's context on ``node``: a real runner whose gluster is that node's stand-in CLI."""
    logs: list[PhaseLog] = []

    def build(node: Node) -> Ctx:
        for key in ("PATH", "STANDIN_OPT_SHARED", "STANDIN_GLUSTER_LOCAL", "STANDIN_MOUNTINFO"):
            monkeypatch.setenv(key, node.env[key])
        base = tmp_path / f"agent-{node.ip}"
        env = NodeEnv(root=str(base / "root"), config_dir=str(base / "etc"), log_dir=str(base / "log"), state_dir=str(base / "state"),
                      require_root=False, gluster=gluster_layout_at(str(lab.opt)))  # fmt: skip
        cfg = make_node(tmp_path, node_ip=node.ip, cluster_ips=list(NODE_IPS), ce_version="v6.1.0", shared_dir=str(lab.data),
                        timeouts={"gluster_peer": 20, "gluster_heal": 10})  # fmt: skip
        log = PhaseLog(env.log_dir, "evict")
        logs.append(log)
        return Ctx(phase="evict", env=env, log=log, runner=Runner(log), node=cfg)

    return build


def test_a_replaced_node_gets_its_place_back_once(lab: Lab, on_node: Callable[[Node], Ctx]) -> None:
    one, two, three = three_bricks(lab)
    old = {uuid for uuid, names in pool(lab).items() if three.ip in names}
    fresh = new_identity(three)
    assert fresh not in old
    # what fails without the repair (docs/ce-lifecycle.md §5.1): the new glusterd knows no volume, its mount fails
    assert "No volumes present" in run(three, "gluster", "volume", "info").stdout
    refused = run(three, "glusterfs", f"--volfile-server={three.ip}", f"--volfile-id={VOLUME}", str(lab.data))
    assert refused.returncode == 1 and "not in the trusted pool" in refused.stderr
    ctx = on_node(one)
    assert gluster.peer_status(ctx)[three.ip] == "Disconnected"  # the old identity at that address

    done = brick_repair.repair(ctx, three.ip)

    brick3 = f"{three.ip}:{lab.brick}"
    assert done == ["dead brick out (replica 2)", "old peer detached", "new peer probed", "new brick in (replica 3)",
                    "full heal started", "heal: nothing pending"]  # fmt: skip
    log = Path(ctx.log.path).read_text()
    for line in (f"removed the dead brick {brick3} ({VOLUME} replica 2)", f"detached the old peer {three.ip}",
                 f"added the new brick {brick3} ({VOLUME} replica 3)"):  # fmt: skip
        assert line in log, line
    assert bricks(lab) == [f"{ip}:{lab.brick}" for ip in NODE_IPS]
    assert [uuid for uuid, names in pool(lab).items() if three.ip in names] == [fresh]
    assert gluster.peer_status(ctx) == {two.ip: "Connected", three.ip: "Connected"}
    mounted = run(three, "glusterfs", f"--volfile-server={three.ip}", f"--volfile-id={VOLUME}", str(lab.data))
    assert mounted.returncode == 0, mounted.stderr

    assert brick_repair.repair(ctx, three.ip) == []  # a second run: nothing due
    assert brick_repair.repair(on_node(two), one.ip) == []  # a live peer's brick is never touched
    assert len(bricks(lab)) == 3


def test_the_repair_runs_only_where_a_brick_of_the_volume_is(lab: Lab, on_node: Callable[[Node], Ctx]) -> None:
    one, _two, three = three_bricks(lab)
    removed = run(one, "gluster", "--mode=script", "volume", "remove-brick", VOLUME, "replica", "2", f"{one.ip}:{lab.brick}", "force")
    assert removed.returncode == 0, removed.stderr  # ce-1 stays in the pool without a brick of its own
    new_identity(three)
    with pytest.raises(PhaseError) as refused:
        brick_repair.repair(on_node(one), three.ip)
    assert f"this node ({one.ip}) holds no brick of {VOLUME}" in refused.value.what
    assert "run evict on a node whose brick is in the volume" in refused.value.fix
    assert f"{three.ip}:{lab.brick}" in bricks(lab)  # nothing removed


def test_no_volume_means_nothing_to_repair(lab: Lab, on_node: Callable[[Node], Ctx]) -> None:
    one = lab.node(0)
    assert run(one, "glusterd").returncode == 0
    assert brick_repair.repair(on_node(one), NODE_IPS[2]) == []  # a first deployment: CE's setup has not made it yet
    assert "No volumes present" in run(one, "gluster", "volume", "info").stdout  # and none was made


def test_a_dead_node_evicted_before_its_new_vm_exists_loses_its_brick_and_gets_it_back_later(lab: Lab, on_node: Callable[[Node], Ctx]) -> None:
    one, _two, three = three_bricks(lab)
    _kill_by_pidfile(three.gluster_local / "standin-glusterd.pid", b"glusterd")  # dead, nothing at its address yet
    ctx = on_node(one)
    assert brick_repair.repair(ctx, three.ip) == ["dead brick out (replica 2)", "old peer detached",
                                                   f"new brick not added ({three.ip} has no glusterd yet)"]  # fmt: skip
    assert bricks(lab) == [f"{ip}:{lab.brick}" for ip in NODE_IPS[:2]]
    assert brick_repair.repair(ctx, three.ip) == [f"new brick not added ({three.ip} has no glusterd yet)"]  # again: no probe, no error
    new_identity(three)  # the new VM's bricks phase started its glusterd
    assert brick_repair.repair(ctx, three.ip) == ["new peer probed", "new brick in (replica 3)", "full heal started", "heal: nothing pending"]
    assert bricks(lab) == [f"{ip}:{lab.brick}" for ip in NODE_IPS]


def test_a_peer_status_that_cannot_be_read_removes_nothing(lab: Lab, on_node: Callable[[Node], Ctx], monkeypatch: pytest.MonkeyPatch) -> None:
    one, _two, three = three_bricks(lab)
    new_identity(three)
    ctx = on_node(one)
    real = ctx.runner.run

    def no_status(argv: list[str], **kwargs: object) -> CommandResult:
        if "peer" in argv and "status" in argv:
            return CommandResult(list(argv), 1, "", "Connection failed. Please check if gluster daemon is operational.")
        return real(argv, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ctx.runner, "run", no_status)
    with pytest.raises(PhaseError) as refused:
        brick_repair.repair(ctx, three.ip)
    assert refused.value.what == "gluster peer status failed: Connection failed. Please check if gluster daemon is operational."
    assert "nothing was removed" in refused.value.fix
    assert len(bricks(lab)) == 3
