"""offline.rerun: which remote steps a change runs again (pulumi-command's rule), and the plan's --change."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from components import bundle as node_bundle
from offline import harness, plan, rerun
from offline.mocks import AwsWorld
from tests.unit import stacks

PREPARATION_5X_SECONDARY = ["wait", "preflight", "prepare", "mount", "fetch-ce", "certs"]
#: the steps every node runs in turn after the preparation, each acting only where CE's role (found on the node) fits
ROLE_GATED = ["drain-stop", "drain-backup", "cutover-stop", "cutover-setup", "cutover-start", "join-setup", "join-start"]


def migrate_run(**overrides: object) -> harness.Run:
    result = harness.run(stacks.migrate(**overrides), secret_keys=stacks.SECRET_KEYS)
    assert result.error is None, result.error
    return result


@pytest.fixture(scope="module")
def before() -> harness.Run:
    return migrate_run()


def steps_of(names: list[str], node: str) -> list[str]:
    return [n.split("-steps-")[1] for n in names if n.startswith(f"{node}-steps-")]


def test_an_unchanged_run_reruns_nothing(before: harness.Run) -> None:
    reruns = rerun.compare(before, migrate_run())
    assert (reruns.again, reruns.new, reruns.gone) == ([], [], [])
    # 21 remote steps on the migrate primary plus its 2 evictions (one per new node), 18 on each of the 2 secondaries
    # (each node runs the drain, the window's and the joins' steps in turn; only CE's role's holder acts)
    assert len(reruns.unchanged) == 59


def test_a_new_ce_version_reruns_preparation_and_the_whole_cutover(before: harness.Run) -> None:
    # the step inputs alone (two first deployments compared): on a deployed stack the program refuses the change
    # before any step (tests/unit/test_version_change.py), since a re-run cutover is no upgrade procedure
    reruns = rerun.compare(before, migrate_run(ceVersion="v5.1.3"))
    assert steps_of(reruns.again, "ce-2") == ["config", *PREPARATION_5X_SECONDARY, *ROLE_GATED]
    assert "cutover-stop" in steps_of(reruns.again, "ce-1") and "verify" in steps_of(reruns.again, "ce-1")
    assert steps_of(reruns.unchanged, "ce-2") == ["booted", "bundle", "install", "secrets"]
    assert reruns.new == [] and reruns.gone == []


def test_a_new_bundle_reruns_preparation_but_not_the_cutover(
    before: harness.Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    changed = tmp_path / "scripts"
    shutil.copytree(node_bundle.SCRIPTS, changed)
    (changed / "cenode" / "_revision.py").write_text('"""Marks a changed bundle."""\n')
    rebuilt = node_bundle.build(changed)
    monkeypatch.setattr(node_bundle, "build", lambda: rebuilt)
    reruns = rerun.compare(before, migrate_run())
    assert steps_of(reruns.again, "ce-3") == ["bundle", "install", *PREPARATION_5X_SECONDARY]
    assert "verify" in steps_of(reruns.again, "ce-1")
    assert [n for n in reruns.again if "-cutover-" in n or "-join-" in n] == []


def test_a_secret_wrapped_input_counts_by_its_value() -> None:
    def step(stdin: object) -> harness.Declared:
        return harness.Declared("command:remote:Command", "ce-1-steps-secrets", True, None, inputs={"create": "x", "stdin": stdin})

    wrapped = {harness.SECRET_SIG: "1b47061264138c4ac30d75fd1eb44270", "value": "s3cret-a"}
    assert rerun.digest(step(wrapped)) == rerun.digest(step("s3cret-a"))
    assert rerun.digest(step(wrapped)) != rerun.digest(step({**wrapped, "value": "s3cret-b"}))


def test_the_plan_lists_what_a_change_reruns(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code = plan.main(["--out", str(tmp_path), "--stack", "dev", "--change", "tenantUrl=https://other.goskope.com"])
    out = capsys.readouterr().out
    assert code == 0
    section = out.split("Re-runs after tenantUrl=https://other.goskope.com", 1)[1]
    assert f"    ce-2: config, wait, preflight, prepare, mount, fetch-ce, certs, {', '.join(ROLE_GATED)}\n" in section
    # the window is the primary's stop, setup and start; the secondaries' joins run again after it, while CE serves
    assert "the cutover runs again (3 steps on CE's primary: CE goes down where its setup is due; every other node's drain" in section


def test_the_plan_without_change_has_no_rerun_section(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert plan.main(["--out", str(tmp_path), "--stack", "dev"]) == 0
    assert "Re-runs after" not in capsys.readouterr().out


def test_the_plan_refuses_a_change_the_settings_refuse(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert plan.main(["--out", str(tmp_path), "--stack", "dev", "--change", "nodeCount=2"]) == 2
    assert "The change is refused" in capsys.readouterr().out
    assert plan.main(["--out", str(tmp_path), "--stack", "dev", "--change", "nodeCount"]) == 2
    assert "expected SETTING=VALUE" in capsys.readouterr().err


def test_the_plan_lists_what_a_new_instance_for_a_node_runs(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code = plan.main(["--out", str(tmp_path), "--stack", "dev", "--replace", "ce-2"])
    out = capsys.readouterr().out
    assert code == 0
    section = out.split("Re-runs after a new instance for ce-2", 1)[1]
    steps = f"booted, bundle, install, config, secrets, wait, preflight, prepare, mount, fetch-ce, certs, {', '.join(ROLE_GATED)}"
    assert f"  again (20):\n    ce-2: {steps}\n    ce-1: evict-ce-2, verify\n" in section  # a survivor evicts the dead one
    assert "ce-3:" not in section  # same address: nothing else re-runs
    assert "left alone: 39 steps; no cutover step runs on the other nodes (CE stays up); the new instance runs its own (3" in section


def test_a_replacement_with_a_setting_change_still_says_ce_goes_down(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code = plan.main(["--out", str(tmp_path), "--stack", "dev", "--replace", "ce-3", "--change", "tenantUrl=https://other.goskope.com"])
    section = capsys.readouterr().out.split("Re-runs after tenantUrl=https://other.goskope.com, a new instance for ce-3", 1)[1]
    assert code == 0
    assert "    ce-3: booted, bundle, install, config, secrets, wait," in section
    assert "    ce-2: config, wait," in section
    assert "the cutover runs again (3 steps on CE's primary: CE goes down where its setup is due" in section


def test_the_plan_refuses_to_replace_the_adopted_primary_or_an_unknown_node(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    for node in ("ce-1", "ce-4"):
        assert plan.main(["--out", str(tmp_path), "--stack", "dev", "--replace", node]) == 2
        captured = capsys.readouterr()
        assert f"--replace {node}: the program creates no instance for it" in captured.err
        assert "can replace: ce-2, ce-3 (never the adopted primary)" in captured.err
        assert "Re-runs after" not in captured.out


def test_a_replaced_instance_has_a_new_id_and_the_same_address() -> None:
    def booted(replaced: frozenset[str], node: str) -> tuple[list[object], str]:
        result = harness.run(stacks.migrate(), secret_keys=stacks.SECRET_KEYS, world=AwsWorld(replaced_nodes=replaced))
        assert result.error is None, result.error
        step = rerun.remote_steps(result)[f"{node}-steps-booted"]
        return rerun.unwrap(step.inputs["triggers"]), rerun.unwrap(step.inputs["connection"])["host"]

    (old_id,), old_host = booted(frozenset(), "ce-2")
    (new_id,), new_host = booted(frozenset({"ce-2"}), "ce-2")
    assert str(old_id).startswith("i-") and str(new_id).startswith("i-") and old_id != new_id
    assert old_host == new_host == "10.0.2.10"
    assert booted(frozenset({"ce-2"}), "ce-3") == booted(frozenset(), "ce-3")
