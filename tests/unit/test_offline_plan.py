"""The offline plan: content for the dev stack, masking, graph files, and settings errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from offline import plan

ROOT = Path(__file__).resolve().parents[2]


def run_plan(capsys: pytest.CaptureFixture[str], tmp_path: Path, *args: str) -> tuple[int, str]:
    code = plan.main(["--out", str(tmp_path / "out"), *args])
    return code, capsys.readouterr().out


def test_dev_plan_lists_resources_by_component(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out = run_plan(capsys, tmp_path, "--stack", "dev")
    assert code == 0
    assert "\n  + cloudexchange:ha:Cluster  ce\n" in out
    assert "\n    + cloudexchange:ha:Network  ce-net\n" in out
    assert re.search(r"\+ aws:ec2/amiFromInstance:AmiFromInstance  ce-1-backup  \[protect; retain-on-delete\]", out)
    assert re.search(r"\+ aws:ec2/instance:Instance  ce-2-vm  \[delete-before-replace; "
                     r"ignore-changes=ami,keyName,instanceType,rootBlockDevice.volumeSize\]", out)
    assert re.search(r"\+ aws:ec2/networkInterface:NetworkInterface  ce-2-eni\n +subnetId=\"subnet-0aaaaaaaaaaaaaaa1\"  "
                     r"securityGroups=\[\"sg-995190f9970346c93\"\]", out)
    assert 'primaryNetworkInterface={"networkInterfaceId":"eni-aa775b7d454044c47"}' in out
    assert '"httpTokens":"required"' in out


def test_dev_plan_orders_each_nodes_steps(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    _, out = run_plan(capsys, tmp_path, "--stack", "dev")
    section = out.split("  ce-2:\n", 1)[1].split("  ce-3:\n", 1)[0]
    names = [line.split()[2] for line in section.splitlines() if line.strip().startswith("[wave")]
    assert names == ["booted", "bundle", "install", "config", "secrets", "wait", "preflight", "prepare", "mount",
                     "fetch-ce", "certs", "drain-stop", "drain-backup", "cutover-stop", "cutover-setup", "cutover-start", "join-setup",
                     "join-start"]


def test_dev_plan_marks_the_steps_whose_output_is_secret_silent(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    _, out = run_plan(capsys, tmp_path, "--stack", "dev")
    section = out.split("  ce-2:\n", 1)[1].split("  ce-3:\n", 1)[0]
    silent = [line.split()[2] for line in section.splitlines() if "[silent: output is secret, no progress shown]" in line]
    assert silent == ["secrets", "cutover-setup", "join-setup"]


def test_dev_plan_shows_the_cutover_window(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    _, out = run_plan(capsys, tmp_path, "--stack", "dev")
    window = out.split("Cutover window", 1)[1].split("\n\n", 1)[0]
    assert "CE is down only here; 3 steps, one at a time, on the node holding CE's primary role: ce-1 at a first" in window
    assert re.findall(r"\d\. (ce-\d): (\w+)", window) == [("ce-1", "stop"), ("ce-1", "setup"), ("ce-1", "start")]
    assert "(ce-2, ce-3 run the same steps in turn and report unchanged: not CE's primary)" in window
    drain = out.split("Before the window, each node that is not CE's primary stops if its setup is due", 1)[1].split("\n\n", 1)[0]
    assert ("(6 steps, one at a time; at a first deployment nothing runs there yet): ce-1 stop, ce-1 backup, ce-2 stop, "
            "ce-2 backup, ce-3 stop, ce-3 backup") in drain
    joins = out.split("Then each secondary joins while CE serves", 1)[1].split("\n\n", 1)[0]
    assert "(6 steps, one at a time; CE's primary's own report unchanged)" in joins
    assert re.findall(r"\d\. (ce-\d): (\w+)", joins) == [("ce-1", "setup"), ("ce-1", "start"), ("ce-2", "setup"), ("ce-2", "start"),
                                                       ("ce-3", "setup"), ("ce-3", "start")]


def test_graph_files_are_written(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    run_plan(capsys, tmp_path, "--stack", "dev")
    graph = json.loads((tmp_path / "out" / "dev.json").read_text())
    steps = {s["name"]: s for s in graph["steps"]}
    assert steps["ce-1-steps-cutover-stop"]["wave"] > steps["ce-3-steps-certs"]["wave"]
    assert steps["ce-1-steps-cutover-stop"]["cutover"] is True and steps["ce-1-steps-cutover-stop"]["join"] is False
    assert steps["ce-2-steps-join-start"]["cutover"] is False and steps["ce-2-steps-join-start"]["join"] is True
    assert steps["ce-2-steps-join-start"]["wave"] > steps["ce-1-steps-cutover-start"]["wave"]
    mermaid = (tmp_path / "out" / "dev.mmd").read_text()
    assert mermaid.startswith("flowchart TD") and "ce_1_backup --> ce_1_sg" in mermaid


def test_secrets_in_a_stack_file_never_reach_the_output(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    stack = (ROOT / "Pulumi.dev.yaml").read_text()
    stack += "  cloud-exchange-ha:jwtSecret: plain-jwt-4242\n  cloud-exchange-ha:maintenancePassword: plain-mp-5353\n"
    (tmp_path / "Pulumi.leaky.yaml").write_text(stack)
    code, out = run_plan(capsys, tmp_path, "--stack", "leaky", "--root", str(tmp_path))
    assert code == 0
    written = "".join(p.read_text() for p in (tmp_path / "out").iterdir())
    for secret in ("plain-jwt-4242", "plain-mp-5353"):
        assert secret not in out and secret not in written
    assert "< stdin: **** (secret)" in out


def test_a_broken_stack_file_gives_the_same_settings_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    stack = (ROOT / "Pulumi.dev.yaml").read_text().replace("ceVersion: v5.1.2", "ceVersion: v4.9.0")
    stack = stack.replace("cloud-exchange-ha:keyPairName: ce-dev", "cloud-exchange-ha:keyPairName: ''")
    (tmp_path / "Pulumi.broken.yaml").write_text(stack)
    code, out = run_plan(capsys, tmp_path, "--stack", "broken", "--root", str(tmp_path))
    assert code == 2
    assert "cloud-exchange-ha:ceVersion: v4.9.0 predates HA" in out
    assert "cloud-exchange-ha:keyPairName: is required" in out
    assert "Resources (" not in out


def test_unknown_stack_names_the_existing_ones(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert plan.main(["--stack", "nope"]) == 2
    assert "Pulumi.dev.yaml" in capsys.readouterr().err


def test_plan_runs_the_policy_pack_and_shows_violations(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, clean = run_plan(capsys, tmp_path, "--stack", "dev")
    assert "Policy pack (12 policies): no violations" in clean
    import pulumi

    from components import nodes

    monkeypatch.setattr(nodes, "backup_options", lambda parent: pulumi.ResourceOptions(parent=parent))
    _, broken = run_plan(capsys, tmp_path, "--stack", "dev")
    assert "POLICY VIOLATIONS" in broken and "[ce-data-protected] ce-1-backup" in broken


def test_plan_exits_non_zero_on_a_mandatory_policy_violation(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clean, _ = run_plan(capsys, tmp_path, "--stack", "dev")
    assert clean == 0
    import pulumi

    from components import nodes

    monkeypatch.setattr(nodes, "backup_options", lambda parent: pulumi.ResourceOptions(parent=parent))
    code = plan.main(["--out", str(tmp_path / "out"), "--stack", "dev"])
    captured = capsys.readouterr()
    assert code == 3
    assert "[ce-data-protected] ce-1-backup" in captured.out
    assert "mandatory policy violation(s)" in captured.err


def test_dev_plan_prints_the_load_balancer_listener_target_group_and_targets(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Issue 16: ``make plan`` shows the NLB (internal, cross-zone), its TCP listener on the UI port, the
    target group's HTTPS health check and one target per node, the adopted primary included."""
    _, out = run_plan(capsys, tmp_path, "--stack", "dev")
    lb = out.split("+ cloudexchange:ha:LoadBalancer  ce-lb\n", 1)[1].split("\n    [wave", 1)[0]
    assert re.search(r'\+ aws:lb/loadBalancer:LoadBalancer  ce-lb-nlb\n +loadBalancerType="network"  internal=true  '
                     r'subnets=\[[^]]+\]  enableCrossZoneLoadBalancing=true', lb)
    assert re.search(r'\+ aws:lb/listener:Listener  ce-lb-ui\n +port=443  protocol="TCP"', lb)
    assert re.search(r'\+ aws:lb/targetGroup:TargetGroup  ce-lb-nodes\n +port=443  protocol="TCP"  targetType="instance"  '
                     r'healthCheck=\{[^\n]*"protocol":"HTTPS"', lb)
    targets = re.findall(r"\+ aws:lb/targetGroupAttachment:TargetGroupAttachment  ce-lb-(ce-\d)\n +targetId=\"(i-\w+)\"  port=443", lb)
    assert [name for name, _ in targets] == ["ce-1", "ce-2", "ce-3"]
    assert targets[0][1] == "i-0123456789abcdef0"  # the adopted primary (Pulumi.dev.yaml's primaryInstanceId)
