"""cenode.storage_health: the health check's judgement of CE 6.x's GlusterFS volume, from scripted gluster answers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from scripts.cenode import storage_health
from scripts.cenode.system import CommandTimeout, Ctx

from .conftest import FakeRunner, make_node
from .test_ce6_units import NO_VOLUME, cli_output, peer_xml, volume_xml

MakeCtx = Callable[..., tuple[Ctx, FakeRunner]]
IPS = ["10.0.1.10", "10.0.2.10", "10.0.3.10"]
BRICK = "/opt/shared/gluster/bricks/1/brick"


def heal_info(entries: dict[str, str]) -> str:
    return "".join(f"Brick {ip}:{BRICK}\nStatus: Connected\nNumber of entries: {count}\n\n" for ip, count in entries.items())


def gluster(make_ctx: MakeCtx, info: str, peers: str, heal: str = "", heal_rc: int = 0, tools: tuple[str, ...] = ("gluster",)) -> FakeRunner:
    """A runner that answers the three gluster commands the check asks."""
    _, runner = make_ctx("verify", tools=tools)
    runner.on("gluster", "--mode=script", "--xml", "volume", "info", rc=0 if "<opRet>0" in info else 1, out=info)
    runner.on("gluster", "--mode=script", "--xml", "peer", "status", out=peers)
    runner.on("gluster", "--mode=script", "volume", "heal", rc=heal_rc, out=heal)
    return runner


def asked(runner: FakeRunner) -> list[list[str]]:
    return [list(call) for call in runner.calls if call[0] == "gluster"]


def peers(*states: tuple[str, int]) -> str:
    return cli_output("  <peerStatus>\n" + "".join(peer_xml(f"u{i}", [ip], up) for i, (ip, up) in enumerate(states)) + "  </peerStatus>\n")


def six(tmp_path: Path, **over: object):  # type: ignore[no-untyped-def]
    return make_node(tmp_path, node_ip=IPS[0], cluster_ips=IPS, ce_version="v6.1.0", **over)


def test_a_whole_volume_is_healthy_and_says_so(tmp_path: Path, make_ctx: MakeCtx) -> None:
    runner = gluster(make_ctx, volume_xml(IPS, "Replicate"), peers((IPS[1], 1), (IPS[2], 1)), heal_info(dict.fromkeys(IPS, "0")))
    assert storage_health.check(six(tmp_path), runner) == (
        [], ["GlusterFS: CloudExchange has one brick per node (3), every peer Connected, nothing to heal"])
    assert asked(runner) == [["gluster", "--mode=script", "--xml", "volume", "info", "CloudExchange"],
                             ["gluster", "--mode=script", "--xml", "peer", "status"],
                             ["gluster", "--mode=script", "volume", "heal", "CloudExchange", "info"]]  # fmt: skip


def test_a_missing_brick_a_foreign_brick_a_lost_peer_and_pending_heal_are_problems(tmp_path: Path, make_ctx: MakeCtx) -> None:
    runner = gluster(make_ctx, volume_xml([IPS[0], IPS[1], "10.0.9.9"], "Replicate"), peers((IPS[1], 0)),
                     heal_info({IPS[0]: "0", IPS[1]: "7", "10.0.9.9": "-"}))  # fmt: skip
    problems, notes = storage_health.check(six(tmp_path), runner)
    assert problems == [
        "GlusterFS: CloudExchange has no brick of 10.0.3.10",
        f"GlusterFS: CloudExchange lists 10.0.9.9:{BRICK}, a brick of no node of this cluster",
        "GlusterFS: peer 10.0.2.10 is Disconnected",
        "GlusterFS: peer 10.0.3.10 is not in the pool",
        f"GlusterFS: 10.0.2.10:{BRICK} has 7 entries to heal",
        f"GlusterFS: 10.0.9.9:{BRICK} has an unknown number of entries to heal",
    ]
    assert notes == []


def test_no_volume_no_gluster_a_failed_heal_info_a_hang_and_5x(tmp_path: Path, make_ctx: MakeCtx) -> None:
    gone = gluster(make_ctx, NO_VOLUME, peers())
    assert storage_health.check(six(tmp_path), gone) == (
        ["GlusterFS: volume CloudExchange not readable on this node (Volume CloudExchange does not exist)"], [])
    missing = gluster(make_ctx, NO_VOLUME, peers(), tools=())
    assert storage_health.check(six(tmp_path), missing) == (
        [f"GlusterFS: no gluster command on this node ({IPS[0]}): CE 6.x needs it (the bricks phase installs it)"], [])
    assert asked(missing) == []
    failed = gluster(make_ctx, volume_xml(IPS, "Replicate"), peers((IPS[1], 1), (IPS[2], 1)), "Volume CloudExchange is not started.", heal_rc=1)
    assert storage_health.check(six(tmp_path), failed)[0] == ["GlusterFS: heal info on CloudExchange failed (Volume CloudExchange is not started.)"]
    single = gluster(make_ctx, volume_xml(IPS[:1], "Distribute"), peers())
    one = make_node(tmp_path, node_ip=IPS[0], cluster_ips=IPS[:1], ce_version="v6.1.0")
    assert storage_health.check(one, single) == ([], ["GlusterFS: CloudExchange has one brick per node (1), every peer Connected"])
    assert not [argv for argv in asked(single) if "heal" in argv]  # nothing to heal on one brick
    five = gluster(make_ctx, "", "")
    assert storage_health.check(make_node(tmp_path, ce_version="v5.1.2"), five) == ([], []) and asked(five) == []

    hung = gluster(make_ctx, volume_xml(IPS, "Replicate"), peers((IPS[1], 1), (IPS[2], 1)))

    def hang(argv: list[str]) -> None:
        raise CommandTimeout(argv, storage_health.COMMAND_TIMEOUT_S)

    hung.on("gluster", "--mode=script", "volume", "heal", action=hang)
    problems, _ = storage_health.check(six(tmp_path), hung)
    assert problems == ["GlusterFS: heal info on CloudExchange failed (gluster --mode=script volume heal CloudExchange info did not "
                        "finish within 20 s)"]
