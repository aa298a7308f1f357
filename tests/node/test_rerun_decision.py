"""A re-run that changes nothing leaves CE running: ``setup_due.pending`` and ``stop``'s decision (5.x state).

The node's state is what a completed 5.x HA setup leaves (local .env, compose file, shared .env) and
the marker the setup phase records for its inputs; CE's containers and mongod are the FakeRunner's
``docker ps`` answers and a scripted ``hello``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from scripts.cenode import setup_due, setup_marker
from scripts.cenode.phases import service, setup_ce
from scripts.cenode.system import Ctx, PhaseResult

from .conftest import FakeRunner, every_node_sees_the_share

ME = "127.0.0.21"
IPS = ["127.0.0.21", "127.0.0.22", "127.0.0.23"]
COMMIT = "3f2c1e0a9b8d7c6e5f4a3b2c1d0e9f8a7b6c5d4e"
PRIMARY = {
    "setName": "mongo_replica_set", "isWritablePrimary": True, "secondary": False, "me": f"{ME}:27017",
    "hosts": [f"{ME}:27017", "127.0.0.22:27017"],
}  # fmt: skip
CONTAINERS = "\n".join(f"ta_cloud_exchange_{name}_1" for name in ("mongodb-primary", "rabbitmq-stats", "core", "ui")) + "\n"

MakeCtx = Callable[..., "tuple[Ctx, FakeRunner]"]


class Probe:
    """``hello`` answers in turn; the last one repeats."""

    def __init__(self, *docs: dict[str, Any] | None) -> None:
        self.docs = list(docs)

    def __call__(self) -> dict[str, Any] | None:
        return self.docs.pop(0) if len(self.docs) > 1 else self.docs[0]


@pytest.fixture
def set_up(make_ctx: MakeCtx, tmp_path: Path) -> Callable[..., tuple[Ctx, FakeRunner]]:
    """A 5.x primary whose setup completed with the default inputs; ``ctx_for(**node_overrides)``."""
    ce_dir, shared = tmp_path / "ta_cloud_exchange", tmp_path / "shared"
    ce_dir.mkdir()
    (shared / "config").mkdir(parents=True)
    for name in ("setup", "start", "stop"):
        (ce_dir / name).write_text("#!/bin/sh\n")
    (ce_dir / ".env").write_text(f"HA_CURRENT_NODE={ME}\nHA_IP_LIST={','.join(IPS)}\n")
    (ce_dir / "docker-compose-ha.yml").write_text("services: {}\n")
    (shared / "config" / ".env").write_text(f"HA_PRIMARY_NODE_IP={ME}\n")

    def ctx_for(commit: str = COMMIT, **over: Any) -> tuple[Ctx, FakeRunner]:
        ctx, runner = make_ctx("stop", tools=["docker"], **over)
        every_node_sees_the_share(ctx)
        secrets = Path(ctx.env.config_dir) / "secrets.json"
        if not secrets.exists():
            secrets.parent.mkdir(parents=True, exist_ok=True)
            secrets.write_text(json.dumps({"maintenance_password": "Maint1pass", "jwt_secret": "jwtSecret42"}))
            secrets.chmod(0o600)
        runner.on("git", out=commit + "\n")
        runner.on("docker", "ps", out=CONTAINERS)
        runner.on("docker", "ps", "-a", out=CONTAINERS)
        return ctx, runner

    done, _ = ctx_for()
    inputs = setup_due.inputs5(done)  # what the setup phase records after CE's setup succeeded
    setup_marker.record(done.env.state_dir, inputs.digest, "primary", COMMIT)
    return ctx_for


def stop_runs(runner: FakeRunner) -> None:
    """``./stop`` empties ``docker ps``."""
    runner.on("./stop", action=lambda argv: runner.on("docker", "ps", out=""))


# ---- would setup change anything --------------------------------------------------------------


def test_nothing_pending_with_the_recorded_inputs(set_up: Callable[..., tuple[Ctx, FakeRunner]]) -> None:
    ctx, _ = set_up()
    assert setup_due.pending(ctx) == ""


@pytest.mark.parametrize(
    "change",
    [
        {"cluster_ips": ["127.0.0.21", "127.0.0.22", "127.0.0.24"]},  # a node came back with another address
        {"commit": "0" * 40},  # another CE tag checked out by fetch-ce
        {"ui_port": 8443},  # another answer
        {"allow_undersized": True},  # another command line (--ignore-failures)
    ],
)
def test_changed_inputs_are_pending(set_up: Callable[..., tuple[Ctx, FakeRunner]], change: dict[str, Any]) -> None:
    ctx, _ = set_up(**change)
    assert "inputs changed" in setup_due.pending(ctx)


def test_a_changed_secret_is_pending(set_up: Callable[..., tuple[Ctx, FakeRunner]]) -> None:
    ctx, _ = set_up()
    secrets = Path(ctx.env.config_dir) / "secrets.json"
    secrets.write_text(json.dumps({"maintenance_password": "Maint1pass", "jwt_secret": "rotated42"}))
    assert "inputs changed" in setup_due.pending(ctx)


def test_missing_outputs_or_marker_are_pending(set_up: Callable[..., tuple[Ctx, FakeRunner]]) -> None:
    ctx, _ = set_up()
    compose = Path(ctx.cfg.ce_dir) / "docker-compose-ha.yml"
    compose.unlink()
    assert "missing" in setup_due.pending(ctx)
    compose.write_text("services: {}\n")
    (Path(ctx.env.state_dir) / setup_marker.MARKER).unlink()
    assert setup_due.pending(ctx) == "CE's setup has not completed here"


def test_inputs_setup_would_refuse_are_pending(set_up: Callable[..., tuple[Ctx, FakeRunner]]) -> None:
    ctx, _ = set_up(node_ip="127.0.0.99")  # not in cluster_ips: setup refuses
    assert setup_due.pending(ctx).startswith("setup would refuse: ")


# ---- stop's decision ------------------------------------------------------------------------------


def test_unchanged_and_healthy_leaves_ce_running(set_up: Callable[..., tuple[Ctx, FakeRunner]]) -> None:
    ctx, runner = set_up()
    result = service.stop(ctx, probe=Probe(PRIMARY))
    assert result.status == "unchanged" and not runner.ran("./stop")
    assert "CE left running (setup would change nothing here and this node is a healthy member: PRIMARY" in result.summary
    setup = setup_ce.run(ctx)
    assert setup.status == "unchanged" and "already done as primary" in setup.summary
    assert service.start(ctx, probe=Probe(PRIMARY)).status == "unchanged" and not runner.ran("./start")


def test_changed_inputs_stop_ce_as_before(set_up: Callable[..., tuple[Ctx, FakeRunner]]) -> None:
    ctx, runner = set_up(cluster_ips=["127.0.0.21", "127.0.0.22", "127.0.0.24"])
    stop_runs(runner)
    result = service.stop(ctx, probe=Probe(PRIMARY, None))  # health is not even asked
    assert result.status == "changed" and runner.ran("./stop")
    assert "stopping: setup's inputs changed" in Path(ctx.log.path).read_text()


@pytest.mark.parametrize(
    "doc",
    [
        dict(PRIMARY, isWritablePrimary=False),  # neither PRIMARY nor SECONDARY (recovering, startup)
        dict(PRIMARY, hosts=["127.0.0.22:27017"], me="127.0.0.22:27017"),  # answering, but not a member
        None,  # answers only through the containers list, mongod silent
    ],
)
def test_unhealthy_member_is_stopped_as_before(set_up: Callable[..., tuple[Ctx, FakeRunner]], doc: dict[str, Any] | None) -> None:
    ctx, runner = set_up()
    stop_runs(runner)
    result = service.stop(ctx, probe=Probe(doc, doc, None))
    assert result.status == "changed" and runner.ran("./stop")
    assert "not a healthy member" in Path(ctx.log.path).read_text()


def test_a_stopped_container_is_stopped_as_before(set_up: Callable[..., tuple[Ctx, FakeRunner]]) -> None:
    ctx, runner = set_up()
    runner.on("docker", "ps", out=CONTAINERS.replace("ta_cloud_exchange_core_1\n", ""))
    stop_runs(runner)
    result = service.stop(ctx, probe=Probe(PRIMARY, PRIMARY, None))
    assert result.status == "changed" and runner.ran("./stop")
    assert "containers ta_cloud_exchange_core_1 are not running" in Path(ctx.log.path).read_text()


def test_force_stops_a_healthy_unchanged_node(set_up: Callable[..., tuple[Ctx, FakeRunner]]) -> None:
    ctx, runner = set_up()
    stop_runs(runner)
    result: PhaseResult = service.stop(ctx, probe=Probe(PRIMARY, None), force=True)
    assert result.status == "changed" and runner.ran("./stop")
