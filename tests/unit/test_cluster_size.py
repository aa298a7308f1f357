"""Issue 14, section 3 (growing or shrinking): on a deployed stack another nodeCount is refused before any resource, naming the
setting, both counts, why and what to do (components/cluster_size.py); the program reads the count from its own stack's
``nodes`` output (components/deployed.py, shared with the version check); the offline plan takes the deployed count as
an option, and a planned nodeCount change is refused as an update."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pytest

from components import cluster_size
from offline import harness, plan
from offline.mocks import AwsMocks, AwsWorld
from tests.unit import stacks

FIVE = [f"subnet-0{i}ffffffffffffff{i}" for i in range(1, 6)]


def greenfield(count: int) -> dict[str, Any]:
    return stacks.greenfield(nodeCount=5, subnetIds=FIVE) if count == 5 else stacks.greenfield()


def migrate(count: int) -> dict[str, Any]:
    return stacks.migrate(nodeCount=5, subnetIds=FIVE[:4]) if count == 5 else stacks.migrate()


def run(config: dict[str, Any], deployed_nodes: int | None) -> harness.Run:
    world = AwsWorld(deployed_ce_version=None if deployed_nodes is None else str(config["ceVersion"]),
                     deployed_node_count=deployed_nodes)
    return harness.run(config, stack="prod", world=world, secret_keys=stacks.SECRET_KEYS)


class FailingRead(AwsMocks):
    """The engine cannot read the stack's state."""

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        if args.token == "pulumi:pulumi:readStackOutputs":
            return ({}, [("name", "the backend did not answer")])
        return super().call(args)


# ---- the deployed count ------------------------------------------------------------------------------------


def test_the_count_is_the_length_of_the_nodes_output() -> None:
    members = [{"name": f"ce-{n}", "role": "secondary", "privateIp": f"10.0.{n}.10"} for n in (1, 2, 3, 4, 5)]
    assert cluster_size.deployed_count({"nodes": members, "ceVersion": "v6.1.0"}) == 5
    assert cluster_size.deployed_count({"nodes": members[:3]}) == 3


@pytest.mark.parametrize("outputs", [{}, {"ceVersion": "v5.1.2"}, {"nodes": []}, {"nodes": None}])
def test_no_member_list_is_a_first_deployment(outputs: dict[str, Any]) -> None:
    assert cluster_size.deployed_count(outputs) is None


@pytest.mark.parametrize(("config", "members"), [(greenfield(3), 3), (greenfield(5), 5), (migrate(3), 3), (migrate(5), 5)],
                         ids=["greenfield-3", "greenfield-5", "migrate-3", "migrate-5"])
def test_a_first_deployment_passes_and_exports_one_member_per_node(config: dict[str, Any], members: int) -> None:
    result = run(config, None)
    assert result.error is None
    assert result.mocks.stacks_read == ["organization/cloud-exchange-ha/prod"]
    assert len(result.outputs["nodes"]) == members


# ---- the check on a deployed stack -------------------------------------------------------------------------


@pytest.mark.parametrize("config", [greenfield(3), greenfield(5), migrate(3), migrate(5)],
                         ids=["greenfield-3", "greenfield-5", "migrate-3", "migrate-5"])
def test_the_count_the_stack_runs_plans_as_a_first_deployment_did(config: dict[str, Any]) -> None:
    first = run(config, None)
    again = run(config, len(first.outputs["nodes"]))
    assert again.error is None
    assert [(r.typ, r.name) for r in again.resources] == [(r.typ, r.name) for r in first.resources]


@pytest.mark.parametrize("config", [greenfield(5), migrate(5)], ids=["greenfield", "migrate"])
def test_growing_3_to_5_is_refused_before_any_resource(config: dict[str, Any]) -> None:
    result = run(config, 3)
    assert result.resources == [] and result.outputs == {}
    assert result.error is not None
    assert result.error.startswith("1 stack setting(s) need attention (nothing was created):")
    assert "cloud-exchange-ha:nodeCount: is 5 and this stack runs 3 nodes: growing the cluster from 3 to 5 members" in result.error
    assert "a plain run would re-run them all, and CE would stop on every node (a full cutover)" in result.error
    assert "Growing without an outage (new members join, no survivor stops) is not implemented yet" in result.error
    assert "see README 'Growing or shrinking the cluster'" in result.error
    assert "set cloud-exchange-ha:nodeCount back to 3 (and subnetIds back to the subnets it was deployed with)" in result.error


@pytest.mark.parametrize("config", [greenfield(3), migrate(3)], ids=["greenfield", "migrate"])
def test_shrinking_5_to_3_is_refused_before_any_resource(config: dict[str, Any]) -> None:
    result = run(config, 5)
    assert result.resources == [] and result.outputs == {}
    assert result.error is not None
    assert "cloud-exchange-ha:nodeCount: is 3 and this stack runs 5 nodes: shrinking the cluster from 5 to 3 members" in result.error
    assert "would remove 2 of them without evicting them from MongoDB's replica set and RabbitMQ's cluster" in result.error
    assert "CE would stop on every node. Shrinking is not implemented yet" in result.error
    assert "set cloud-exchange-ha:nodeCount back to 5" in result.error


def test_a_version_change_and_a_count_change_are_each_refused() -> None:
    # the version is judged first (a downgrade here); with it back at the deployed one, the count is refused in turn
    world = AwsWorld(deployed_ce_version="v6.1.0", deployed_node_count=3)
    both = harness.run(greenfield(5) | {"ceVersion": "v6.0.1"}, world=world, secret_keys=stacks.SECRET_KEYS)
    assert both.resources == [] and both.error is not None and "cloud-exchange-ha:ceVersion: is v6.0.1" in both.error
    count = harness.run(greenfield(5) | {"ceVersion": "v6.1.0"}, world=world, secret_keys=stacks.SECRET_KEYS)
    assert count.resources == [] and count.error is not None and "cloud-exchange-ha:nodeCount: is 5" in count.error
    # an allowed upgrade does not carry a count change through with it
    upgrading = AwsWorld(deployed_ce_version="v6.0.1", deployed_node_count=3)
    grown = harness.run(greenfield(5) | {"ceVersion": "v6.1.0"}, world=upgrading, secret_keys=stacks.SECRET_KEYS)
    assert grown.resources == [] and grown.error is not None and "cloud-exchange-ha:nodeCount: is 5" in grown.error


def test_an_unreadable_state_refuses_naming_both_settings_judged_against_it() -> None:
    result = harness.run(greenfield(5), mocks=FailingRead(), secret_keys=stacks.SECRET_KEYS)
    assert result.resources == []
    assert result.error is not None
    assert result.error.startswith("2 stack setting(s) need attention")
    assert "cloud-exchange-ha:ceVersion: cannot be compared with what this stack runs" in result.error
    assert "cloud-exchange-ha:nodeCount: cannot be compared with what this stack runs" in result.error
    assert result.error.count("the backend did not answer") == 2


# ---- the offline plan ------------------------------------------------------------------------------------


def plan_out(capsys: pytest.CaptureFixture[str], tmp_path: Path, *args: str) -> tuple[int, str]:
    code = plan.main(["--out", str(tmp_path), *args])
    return code, capsys.readouterr().out


def test_the_plan_passes_the_deployed_count(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out = plan_out(capsys, tmp_path, "--stack", "dev", "--deployed-node-count", "3")
    assert code == 0
    assert "SETTINGS ERRORS" not in out


@pytest.mark.parametrize("count", ["5", "7"])
def test_the_plan_refuses_another_deployed_count(capsys: pytest.CaptureFixture[str], tmp_path: Path, count: str) -> None:
    code, out = plan_out(capsys, tmp_path, "--stack", "dev", "--deployed-node-count", count)
    assert code == 2
    assert f"cloud-exchange-ha:nodeCount: is 3 and this stack runs {count} nodes: shrinking the cluster" in out
    assert "Resources (" not in out


def test_a_planned_node_count_change_is_refused_as_an_update(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out = plan_out(capsys, tmp_path, "--stack", "dev", "--change", "nodeCount=5", "--change",
                         "subnetIds=[subnet-0aaaaaaaaaaaaaaa1, subnet-0bbbbbbbbbbbbbbb2, subnet-0ccccccccccccccc3, subnet-0ddddddddddddddd4]")
    assert code == 2
    assert "The change is refused" in out
    assert "cloud-exchange-ha:nodeCount: is 5 and this stack runs 3 nodes: growing the cluster from 3 to 5 members" in out
