"""The example stacks in examples/: each plans cleanly offline and declares what its scenario promises."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from offline import plan

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Scenario:
    stack: str
    release_line: str
    nodes: int
    new_vms: int
    efs: bool
    adopted_primary: bool
    brick_volumes: int
    cutover_steps: int
    join_steps: int
    zones: tuple[str, ...]


SCENARIOS = [
    # CE 5.x is end of life on 2026-10-31; its example only makes an existing 5.x standalone HA
    Scenario("migrate-5x", "5.x", nodes=3, new_vms=2, efs=True, adopted_primary=True, brick_volumes=0,
             cutover_steps=3, join_steps=6, zones=()),
    Scenario("migrate-6x", "6.x", nodes=3, new_vms=2, efs=False, adopted_primary=True, brick_volumes=2,
             cutover_steps=3, join_steps=8, zones=("eu-west-1b", "eu-west-1c")),
    Scenario("greenfield-6x", "6.x", nodes=3, new_vms=3, efs=False, adopted_primary=False, brick_volumes=3,
             cutover_steps=3, join_steps=8, zones=("eu-west-1b", "eu-west-1c", "eu-west-1d")),
    Scenario("greenfield-5-nodes", "6.x", nodes=5, new_vms=5, efs=False, adopted_primary=False, brick_volumes=5,
             cutover_steps=3, join_steps=14, zones=("us-east-1b", "us-east-1c", "us-east-1d", "us-east-1e", "us-east-1f")),
]


def outputs(text: str) -> dict[str, Any]:
    section = text.split("\nOutputs:\n", 1)[1].split("\n\n", 1)[0]
    pairs = (line.strip().split(": ", 1) for line in section.splitlines() if line.startswith("  "))
    return {name: json.loads(value) for name, value in pairs}


def count(graph: dict[str, Any], typ: str) -> int:
    return len([r for r in graph["resources"] if r["type"] == typ])


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.stack)
def test_example_stack_plans_its_scenario(scenario: Scenario, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code = plan.main(["--stack", scenario.stack, "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert re.search(r"Policy pack \(\d+ policies\): no violations", out), out
    exported = outputs(out)
    assert exported["releaseLine"] == scenario.release_line
    roles = [node["role"] for node in exported["nodes"]]
    assert roles == ["primary"] + ["secondary"] * (scenario.nodes - 1)
    graph = json.loads((tmp_path / f"{scenario.stack}.json").read_text())
    assert count(graph, "aws:ec2/instance:Instance") == scenario.new_vms
    assert count(graph, "aws:efs/fileSystem:FileSystem") == (1 if scenario.efs else 0)
    assert (exported["efsId"] is not None) == scenario.efs
    assert count(graph, "aws:ec2/amiFromInstance:AmiFromInstance") == (1 if scenario.adopted_primary else 0)
    assert (exported["backupImageId"] is not None) == scenario.adopted_primary
    assert count(graph, "aws:ebs/volume:Volume") == scenario.brick_volumes
    # the window is the CE primary's stop, setup and start (every node runs them in turn, only the role's holder acts);
    # each secondary then joins while CE serves (every node's setup and start, 6.x each secondary's brick first)
    assert len([s for s in graph["steps"] if s["cutover"]]) == scenario.cutover_steps * scenario.nodes
    assert len([s for s in graph["steps"] if s["cutover"] and s["node"] == "ce-1"]) == scenario.cutover_steps
    assert len([s for s in graph["steps"] if s["join"]]) == scenario.join_steps
    # every example puts its UI behind an internal load balancer: one balancer, one listener, one target per node
    assert count(graph, "aws:lb/loadBalancer:LoadBalancer") == 1
    assert count(graph, "aws:lb/listener:Listener") == 1
    assert count(graph, "aws:lb/targetGroupAttachment:TargetGroupAttachment") == scenario.nodes
    assert exported["uiUrl"].startswith("https://internal-ce-lb-nlb-") and exported["loadBalancerDnsName"].startswith("internal-ce-lb-nlb-")
    if scenario.zones:
        assert sorted(line.split('availabilityZone="')[1].split('"')[0]
                      for line in out.splitlines() if 'availabilityZone="' in line) == list(scenario.zones)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.stack)
def test_example_stack_holds_no_secret(scenario: Scenario) -> None:
    config = yaml.safe_load((ROOT / "examples" / scenario.stack / f"Pulumi.{scenario.stack}.yaml").read_text())["config"]
    assert not {"sshPrivateKey", "maintenancePassword", "jwtSecret"} & {key.split(":", 1)[1] for key in config}


def test_examples_are_exactly_the_tested_scenarios_and_listed_in_the_readme() -> None:
    on_disk = sorted(p.parent.name for p in (ROOT / "examples").glob("*/Pulumi.*.yaml"))
    assert on_disk == sorted(s.stack for s in SCENARIOS)
    readme = (ROOT / "README.md").read_text(encoding="utf-8").split("\n## Examples\n", 1)[1].split("\n## ", 1)[0]
    for stack in on_disk:
        assert f"examples/{stack}/" in readme and f"STACK={stack}" in readme


def test_a_stack_file_anywhere_is_planned_under_its_own_name(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    copy = tmp_path / "elsewhere" / "Pulumi.my-cluster.yaml"
    copy.parent.mkdir()
    shutil.copy(ROOT / "examples" / "greenfield-6x" / "Pulumi.greenfield-6x.yaml", copy)
    assert plan.main(["--stack-file", str(copy), "--out", str(tmp_path / "out")]) == 0
    assert "Offline plan for stack 'my-cluster'" in capsys.readouterr().out
    assert (tmp_path / "out" / "my-cluster.json").is_file()


def test_a_file_not_named_like_a_stack_file_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    odd = tmp_path / "cluster.yaml"
    odd.write_text("config: {}\n")
    assert plan.main(["--stack-file", str(odd), "--out", str(tmp_path / "out")]) == 2
    assert "Pulumi.<stack>.yaml" in capsys.readouterr().err
