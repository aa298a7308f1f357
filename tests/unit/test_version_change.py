"""Issue 15, section 1 and the controller's part of section 2: ceVersion has no default; which version changes are upgrades
(scripts/cenode/upgrades.py); the program reads the version the stack runs from its own outputs and refuses any
change before declaring a resource (components/version_change.py); the offline plan takes the deployed version
as an option and prints the same."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pytest

from offline import harness, plan
from offline.mocks import AwsMocks, AwsWorld
from scripts.cenode import upgrades
from tests.unit import stacks

ALLOWED = "5.1.1 -> 5.1.2, 6.0.0 -> 6.0.1, 6.0.x -> 6.1.0, 5.1.x -> 6.1.0"


# ---- the table ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("deployed", "wanted"), [
    ("v6.1.0", "v6.1.0"), ("5.1.1", "5.1.1"), ("5.1.1", "v5.1.1"), ("v5.1.2", "5.1.2"), (" v6.0.1", "v6.0.1"),
])
def test_the_same_version_in_either_spelling_is_no_change(deployed: str, wanted: str) -> None:
    assert upgrades.classify(deployed, wanted).kind == "same"


@pytest.mark.parametrize(("deployed", "wanted", "path"), [
    ("5.1.1", "v5.1.2", "5.1.1 -> 5.1.2"),
    ("v6.0.0", "v6.0.1", "6.0.0 -> 6.0.1"),
    ("v6.0.0", "v6.1.0", "6.0.x -> 6.1.0"),
    ("v6.0.1", "v6.1.0", "6.0.x -> 6.1.0"),
    ("5.1.1", "v6.1.0", "5.1.x -> 6.1.0"),
    ("v5.1.2", "v6.1.0", "5.1.x -> 6.1.0"),
])
def test_listed_upgrades_are_allowed_with_their_path(deployed: str, wanted: str, path: str) -> None:
    change = upgrades.classify(deployed, wanted)
    assert (change.kind, str(change.path), change.refused) == ("upgrade", path, False)


@pytest.mark.parametrize(("deployed", "wanted"), [
    ("v6.1.0", "v6.0.1"), ("v6.0.1", "v6.0.0"), ("v6.0.0", "v5.1.2"), ("v5.1.2", "5.1.1"), ("v6.1.0", "5.1.1"),
])
def test_a_downgrade_is_refused(deployed: str, wanted: str) -> None:
    change = upgrades.classify(deployed, wanted)
    assert (change.kind, change.refused) == ("downgrade", True)


@pytest.mark.parametrize(("deployed", "wanted"), [
    ("v5.1.2", "v6.0.0"),          # 5.x to 6.0: CE's way is to 6.1.0
    ("v5.1.2", "v6.0.1"),
    ("5.1.1", "v6.0.1"),
    ("v5.1.2", "v5.1.3"),          # a tag this table does not know
    ("v6.1.0", "v6.2.0"),
    ("v6.1.0", "v7.0.0"),
    ("v6.0.0-beta.1", "v6.0.0"),   # a pre-release is on no path
    ("v6.0.1", "v6.1.0-beta.2"),
])
def test_anything_not_listed_is_an_unsupported_change(deployed: str, wanted: str) -> None:
    change = upgrades.classify(deployed, wanted)
    assert (change.kind, change.refused) == ("unsupported", True)


def test_the_listed_paths_read_in_order() -> None:
    assert upgrades.listed() == ALLOWED


def test_a_bad_tag_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        upgrades.classify("latest", "v6.1.0")


# ---- the program: first deployment, same version, refusals, before any resource ---------------------------------


class FailingRead(AwsMocks):
    """The engine cannot read the stack's state."""

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        if args.token == "pulumi:pulumi:readStackOutputs":
            return ({}, [("name", "the backend did not answer")])
        return super().call(args)


def run(version: str, deployed: str | None, stack: str = "dev") -> harness.Run:
    return harness.run(stacks.greenfield(ceVersion=version), stack=stack, world=AwsWorld(deployed_ce_version=deployed),
                       secret_keys=stacks.SECRET_KEYS)


def test_a_first_deployment_reads_its_own_stack_and_exports_the_version() -> None:
    result = run("v6.1.0", None, stack="prod")
    assert result.error is None
    assert result.mocks.stacks_read == ["organization/cloud-exchange-ha/prod"]
    assert result.outputs["ceVersion"] == "v6.1.0"


def test_the_version_the_stack_runs_plans_as_before() -> None:
    first, again = run("v6.1.0", None), run("v6.1.0", "v6.1.0")
    assert again.error is None
    assert [(r.typ, r.name) for r in again.resources] == [(r.typ, r.name) for r in first.resources]


def test_an_older_deployed_spelling_of_the_same_version_is_no_change() -> None:
    assert run("v5.1.1", "5.1.1").error is None


def test_an_allowed_upgrade_within_a_line_plans_the_same_resources_at_the_new_version() -> None:
    for deployed, wanted in (("v6.0.1", "v6.1.0"), ("5.1.1", "v5.1.2"), ("v6.0.0", "v6.0.1")):
        result, first = run(wanted, deployed), run(wanted, None)
        assert result.error is None, (deployed, wanted, result.error)
        assert [(r.typ, r.name) for r in result.resources] == [(r.typ, r.name) for r in first.resources]
        assert result.outputs["ceVersion"] == wanted


def test_a_5x_cluster_asked_for_6x_is_an_upgrade_too_and_refused_as_not_implemented() -> None:
    result = run("v6.1.0", "v5.1.2")
    assert result.resources == [] and result.outputs == {}
    assert result.error is not None and "an upgrade on an allowed path (5.1.x -> 6.1.0)" in result.error
    assert "upgrading from v5.1.2 to v6.1.0 (from one release line to the next: EFS to GlusterFS) is not implemented yet" in result.error
    assert "see README 'Upgrading CE'" in result.error
    assert "set cloud-exchange-ha:ceVersion back to v5.1.2" in result.error


def test_a_downgrade_is_refused_with_the_allowed_list() -> None:
    result = run("v6.0.1", "v6.1.0")
    assert result.resources == []
    assert result.error is not None
    assert "is v6.0.1 and this stack runs v6.1.0: a downgrade" in result.error
    assert f"Allowed upgrades: {ALLOWED}." in result.error


def test_an_unsupported_skip_is_refused_with_the_allowed_list() -> None:
    result = run("v6.0.1", "v5.1.2")
    assert result.resources == []
    assert result.error is not None
    assert "is v6.0.1 and this stack runs v5.1.2: no allowed upgrade path covers it" in result.error
    assert f"Allowed upgrades: {ALLOWED}." in result.error


def test_an_unreadable_state_refuses_rather_than_guessing() -> None:
    result = harness.run(stacks.greenfield(ceVersion="v6.1.0"), mocks=FailingRead(), secret_keys=stacks.SECRET_KEYS)
    assert result.resources == []
    assert result.error is not None
    assert "cloud-exchange-ha:ceVersion: cannot be compared with what this stack runs" in result.error
    assert "the backend did not answer" in result.error


def test_a_stack_without_ce_version_is_one_error_and_declares_nothing() -> None:
    config = stacks.greenfield()
    del config["ceVersion"]
    result = harness.run(config, world=AwsWorld(deployed_ce_version="v5.1.2"), secret_keys=stacks.SECRET_KEYS)
    assert result.resources == []
    assert result.error is not None
    assert result.error.startswith("1 stack setting(s) need attention")
    assert "cloud-exchange-ha:ceVersion: is not set" in result.error
    assert "upgrade" in result.error and "v5.1.2 for an existing 5.x cluster" in result.error
    assert result.mocks.stacks_read == []  # settings first: nothing is read or declared for an unset version


# ---- the offline plan ------------------------------------------------------------------------------------


def plan_out(capsys: pytest.CaptureFixture[str], tmp_path: Path, *args: str) -> tuple[int, str]:
    code = plan.main(["--out", str(tmp_path), *args])
    return code, capsys.readouterr().out


def test_the_plan_says_a_first_deployment_by_default(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out = plan_out(capsys, tmp_path, "--stack", "greenfield-6x")
    assert code == 0
    assert "\n  version: CE v6.1.0: a first deployment (this stack has deployed no version yet)\n" in out


def test_the_plan_says_the_same_version(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out = plan_out(capsys, tmp_path, "--stack", "greenfield-6x", "--deployed-version", "6.1.0")
    assert code == 0
    assert "\n  version: CE v6.1.0: the version this stack runs (no upgrade)\n" in out


def test_the_plan_says_upgrade_from_which_to_which_and_in_what_order(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out = plan_out(capsys, tmp_path, "--stack", "greenfield-6x", "--deployed-version", "v6.0.1")
    assert code == 0
    assert ("\n  version: CE v6.0.1 -> v6.1.0: an upgrade, on the allowed path 6.0.x -> 6.1.0: every node fetches v6.1.0 while CE "
            "serves; each node that is not CE's primary stops (drain); CE's primary stops, sets up and starts (the window)") in out
    assert "Resources (" in out


def test_the_plan_refuses_an_upgrade_across_lines(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out = plan_out(capsys, tmp_path, "--stack", "greenfield-6x", "--deployed-version", "v5.1.2")
    assert code == 2
    assert "\n  version: CE v5.1.2 -> v6.1.0: an upgrade, on the allowed path 5.1.x -> 6.1.0\n" in out
    assert "SETTINGS ERRORS" in out and "is not implemented yet" in out
    assert "Resources (" not in out


def test_the_plan_shows_a_downgrade_with_the_allowed_list(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out = plan_out(capsys, tmp_path, "--stack", "migrate-5x", "--deployed-version", "v6.1.0")
    assert code == 2
    assert "\n  version: CE v6.1.0 -> v5.1.2: a downgrade\n" in out
    assert ALLOWED in out


def test_the_plan_refuses_a_deployed_version_that_is_no_tag(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert plan.main(["--out", str(tmp_path), "--stack", "dev", "--deployed-version", "latest"]) == 2
    assert "'latest' is not a CE version tag" in capsys.readouterr().err


def test_a_planned_ce_version_change_is_an_update_of_the_planned_stack(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out = plan_out(capsys, tmp_path, "--stack", "dev", "--change", "ceVersion=v6.1.0")
    assert code == 2
    assert "The change is refused" in out
    assert "is v6.1.0 and this stack runs v5.1.2: an upgrade on an allowed path (5.1.x -> 6.1.0)" in out
