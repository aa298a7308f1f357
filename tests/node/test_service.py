"""start / stop: judged by the replica set and the containers, not by CE's exit codes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from scripts.cenode import ce_runtime
from scripts.cenode.phases import service
from scripts.cenode.system import CommandTimeout, Ctx, PhaseError

from .conftest import FakeRunner, every_node_sees_the_share

ME = "127.0.0.21"
PRIMARY_DOC = {"setName": "mongo_replica_set", "isWritablePrimary": True, "secondary": False, "me": f"{ME}:27017", "hosts": [f"{ME}:27017"]}
SECONDARY_DOC = {
    "setName": "mongo_replica_set",
    "isWritablePrimary": False,
    "secondary": True,
    "me": f"{ME}:27017",
    "primary": "127.0.0.22:27017",
    "hosts": ["127.0.0.22:27017", f"{ME}:27017"],
}
STANDALONE_DOC = {"isWritablePrimary": True}


def test_membership_rules() -> None:
    assert service.is_healthy_member(PRIMARY_DOC, ME) and service.is_healthy_member(SECONDARY_DOC, ME)
    assert not service.is_healthy_member(STANDALONE_DOC, ME)
    assert not service.is_healthy_member(None, ME)
    syncing = dict(SECONDARY_DOC, secondary=False)
    assert service.is_member(syncing, ME) and not service.is_healthy_member(syncing, ME)
    assert not service.is_member(dict(SECONDARY_DOC, hosts=["127.0.0.22:27017"], me="127.0.0.22:27017"), ME)
    assert service.started_as_expected(PRIMARY_DOC, ME, "primary")
    assert not service.started_as_expected(SECONDARY_DOC, ME, "primary")
    assert service.started_as_expected(SECONDARY_DOC, ME, "secondary")
    assert "SECONDARY of mongo_replica_set" in service.describe(SECONDARY_DOC)
    assert service.describe(None) == "MongoDB not answering on 27017"


def test_compose_project_and_ce_containers() -> None:
    assert ce_runtime.compose_project("/opt/Ta_Cloud.Exchange/") == "ta_cloudexchange"
    names = ["ta_cloud_exchange_mongodb-primary_1", "ta_cloud_exchange-core-1", "other_ui_1", "ta_cloud_exchange2_ui_1"]
    assert ce_runtime.ce_containers(names, "/opt/ta_cloud_exchange") == ["ta_cloud_exchange-core-1", "ta_cloud_exchange_mongodb-primary_1"]


class Probe:
    def __init__(self, *docs: dict[str, Any] | None) -> None:
        self.docs = list(docs)
        self.calls = 0

    def __call__(self) -> dict[str, Any] | None:
        self.calls += 1
        return self.docs.pop(0) if len(self.docs) > 1 else self.docs[0]


@pytest.fixture
def ce_dir(tmp_path: Path) -> Path:
    path = tmp_path / "ta_cloud_exchange"
    path.mkdir()
    for name in ("start", "stop"):
        (path / name).write_text("#!/bin/sh\n")
    return path


def test_start_skips_a_healthy_member(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], ce_dir: Path) -> None:
    ctx, runner = make_ctx("start", ce_dir=str(ce_dir), role="secondary")
    result = service.start(ctx, probe=Probe(SECONDARY_DOC))
    assert result.status == "unchanged" and runner.calls == []


def test_start_is_judged_by_membership_not_exit_code(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], ce_dir: Path) -> None:
    ctx, runner = make_ctx("start", ce_dir=str(ce_dir), role="secondary")
    runner.on("./start", rc=1, out="The node is already connected with the cluster.")
    result = service.start(ctx, probe=Probe(None, None, SECONDARY_DOC))
    assert result.status == "changed" and "exited 1" in result.summary
    assert runner.calls == [["./start"]]


def test_primary_must_become_writable(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], ce_dir: Path) -> None:
    ctx, runner = make_ctx("start", ce_dir=str(ce_dir))
    with pytest.raises(PhaseError) as failed:
        service.start(ctx, probe=Probe(None, dict(SECONDARY_DOC, secondary=False)))
    assert "not the writable PRIMARY" in failed.value.what
    assert runner.ran("./start")


def test_start_timeout_still_judged_by_state(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], ce_dir: Path) -> None:
    ctx, runner = make_ctx("start", ce_dir=str(ce_dir))

    def hang(argv: list[str]) -> None:
        raise CommandTimeout(argv, 1800)

    runner.on("./start", action=hang)
    result = service.start(ctx, probe=Probe(None, PRIMARY_DOC))
    assert result.status == "changed" and "did not return" in result.summary


def test_stop_is_idempotent(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], ce_dir: Path) -> None:
    ctx, runner = make_ctx("stop", ce_dir=str(ce_dir), tools=["docker"])
    every_node_sees_the_share(ctx)
    runner.on("docker", "ps", out="unrelated_ui_1\n")
    result = service.stop(ctx, probe=Probe(None))
    assert result.status == "unchanged" and not runner.ran("./stop")


def test_stop_checks_nothing_is_left(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], ce_dir: Path) -> None:
    ctx, runner = make_ctx("stop", ce_dir=str(ce_dir), tools=["docker"])
    every_node_sees_the_share(ctx)
    runner.on("docker", "ps", out="ta_cloud_exchange_mongodb-primary_1\nta_cloud_exchange_core_1\n")

    def stopped(argv: list[str]) -> None:
        runner.on("docker", "ps", out="")

    runner.on("./stop", action=stopped)
    result = service.stop(ctx, probe=Probe(SECONDARY_DOC, None))
    assert result.status == "changed" and "ta_cloud_exchange_core_1" in result.summary


def test_stop_that_stops_nothing_fails(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], ce_dir: Path) -> None:
    ctx, runner = make_ctx("stop", ce_dir=str(ce_dir), tools=["docker"])
    every_node_sees_the_share(ctx)
    runner.on("docker", "ps", out="ta_cloud_exchange_mongodb-primary_1\n")
    with pytest.raises(PhaseError) as failed:
        service.stop(ctx, probe=Probe(SECONDARY_DOC))
    assert "left CE running" in failed.value.what and "secondaries before the primary" in failed.value.fix


@pytest.fixture
def mock_mongod() -> Iterator[tuple[str, int]]:
    mockupdb = pytest.importorskip("mockupdb")
    doc = dict(SECONDARY_DOC, ismaster=False, hosts=["127.0.0.1:27017"], me="127.0.0.1:27017")
    doc.update(ok=1, minWireVersion=0, maxWireVersion=17, helloOk=True, maxBsonObjectSize=16777216)

    def answer(request: Any) -> bool:
        if str(getattr(request, "command_name", "")).lower() in ("ismaster", "hello"):
            request.replies(doc)
            return True
        return False

    server = mockupdb.MockupDB(port=None)
    server.autoresponds(answer)
    port = server.run()
    yield "127.0.0.1", port
    server.stop()


def test_hello_against_a_wire_protocol_mongod(mock_mongod: tuple[str, int]) -> None:
    host, port = mock_mongod
    doc = ce_runtime.hello(host, port=port, timeout_ms=3000)
    assert doc is not None and doc["setName"] == "mongo_replica_set" and doc["secondary"] is True


def test_hello_on_a_dead_port_is_none() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: refused
        assert ce_runtime.hello("127.0.0.1", port=port, timeout_ms=500) is None


# ---- a secondary stops only while CE's primary serves (the drain before an upgrade's window, docs/ce-lifecycle.md §1.2) ----

A, B, C = "127.0.0.21", "127.0.0.22", "127.0.0.23"


def member(ip: str, state: str) -> dict[str, Any]:
    return {"setName": "mongo_replica_set", "isWritablePrimary": state == "PRIMARY", "secondary": state == "SECONDARY",
            "me": f"{ip}:27017", "hosts": [f"{x}:27017" for x in (A, B, C)]}


def secondary_due_to_stop(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], ce_dir: Path, flag: str) -> tuple[Ctx, FakeRunner]:
    """Node A, a secondary (the flag names ``flag``) whose setup is due: CE runs and would be stopped."""
    ctx, runner = make_ctx("stop", ce_dir=str(ce_dir), tools=["docker"], role="secondary", node_ip=A)
    config = Path(ctx.cfg.shared_dir) / "config"
    config.mkdir(parents=True)
    (config / ".env").write_text(f"HA_PRIMARY_NODE_IP={flag}\n")
    runner.on("docker", "ps", out="ta_cloud_exchange_mongodb-primary_1\n")

    def stopped(argv: list[str]) -> None:
        runner.on("docker", "ps", out="")

    runner.on("./stop", action=stopped)
    return ctx, runner


@pytest.mark.parametrize(("states", "refusal"), [
    ({A: "SECONDARY", B: "DOWN", C: "PRIMARY"}, f"CE's primary {B} is not a healthy member"),
    ({A: "SECONDARY", B: "SECONDARY", C: "SECONDARY"}, "no single MongoDB PRIMARY"),
])  # fmt: skip
def test_a_secondary_keeps_running_while_ces_primary_does_not_serve(
    make_ctx: Callable[..., tuple[Ctx, FakeRunner]], ce_dir: Path, states: dict[str, str], refusal: str
) -> None:
    ctx, runner = secondary_due_to_stop(make_ctx, ce_dir, flag=B)

    def ask(ip: str) -> dict[str, Any] | None:
        return None if states[ip] == "DOWN" else member(ip, states[ip])

    with pytest.raises(PhaseError) as refused:
        service.stop(ctx, probe=Probe(member(A, "SECONDARY")), ask=ask)
    assert refused.value.what.startswith(refusal) and "this secondary keeps running" in refused.value.what
    assert "heal the cluster first" in refused.value.fix
    assert not runner.ran("./stop")
    forced = service.stop(ctx, probe=Probe(member(A, "SECONDARY"), None), force=True, ask=ask)  # by hand, --force
    assert forced.status == "changed" and runner.ran("./stop")


def test_a_secondary_stops_while_ces_primary_serves(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], ce_dir: Path) -> None:
    ctx, runner = secondary_due_to_stop(make_ctx, ce_dir, flag=B)
    states = {A: "SECONDARY", B: "PRIMARY", C: "DOWN"}  # C: drained before A, the primary still serves

    def ask(ip: str) -> dict[str, Any] | None:
        return None if states[ip] == "DOWN" else member(ip, states[ip])

    result = service.stop(ctx, probe=Probe(member(A, "SECONDARY"), None), ask=ask)
    assert result.status == "changed" and runner.ran("./stop")
