"""The destroy guard under mocks (its inputs and options) and its delete script's decision, run in a real shell."""

from __future__ import annotations

import os
import subprocess

import pytest

from components import destroy_guard
from offline import harness
from tests.unit import stacks

LOCAL = "command:local:Command"
GUARD = "ce-destroy-guard-check"
REFUSAL_START = "ERROR destroy guard: this stack adopted a standalone CE (mode migrate)"


@pytest.fixture(scope="module")
def migrate_run() -> harness.Run:
    result = harness.run(stacks.migrate(), secret_keys=stacks.SECRET_KEYS)
    assert result.error is None, result.error
    return result


def descendants(result: harness.Run, name: str) -> set[str]:
    children = {r.name for r in result.resources if r.parent == name}
    return children.union(*(descendants(result, child) for child in children)) if children else set()


def waits_for(result: harness.Run, name: str) -> set[str]:
    """Every resource the engine deletes only after ``name``: its dependencies, components expanded, transitively."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        for dep in result.named(todo.pop()).depends_on:
            for reached in {dep} | descendants(result, dep):
                if reached not in seen:
                    seen.add(reached)
                    todo.append(reached)
    return seen


def test_a_migrate_stack_has_one_guard_off_by_default(migrate_run: harness.Run) -> None:
    (guard,) = migrate_run.of_type(LOCAL)
    assert guard.name == GUARD and guard.parent == "ce-destroy-guard"
    assert guard.inputs["environment"] == {"CE_HA_ALLOW_DESTROY": "false"}
    assert "cloud-exchange-ha:allowDestroy" in guard.inputs["delete"] and REFUSAL_START in guard.inputs["delete"]


def test_allow_destroy_changes_only_the_guards_environment(migrate_run: harness.Run) -> None:
    allowed = harness.run(stacks.migrate(allowDestroy=True), secret_keys=stacks.SECRET_KEYS)
    before, after = migrate_run.named(GUARD).inputs, allowed.named(GUARD).inputs
    assert after["environment"] == {"CE_HA_ALLOW_DESTROY": "true"}
    # same scripts, and an update script: the change is an update in place, never a replacement
    # (a replacement would delete the old guard, whose delete still refuses)
    assert {k: v for k, v in before.items() if k != "environment"} == {k: v for k, v in after.items() if k != "environment"}
    assert after["update"] == after["create"] and "triggers" not in after


def test_the_guard_is_deleted_before_anything_else(migrate_run: harness.Run) -> None:
    others = {r.name for r in migrate_run.resources if r.custom and r.name != GUARD}
    assert others - waits_for(migrate_run, GUARD) == set()


def test_the_guard_also_comes_before_the_load_balancer_and_6x_resources() -> None:
    result = harness.run(stacks.migrate(loadBalancer="internal", ceVersion="v6.1.0"), secret_keys=stacks.SECRET_KEYS)
    assert result.error is None, result.error
    others = {r.name for r in result.resources if r.custom and r.name != GUARD}
    assert any(r.typ.startswith("aws:lb/") for r in result.resources)
    assert others - waits_for(result, GUARD) == set()


def test_a_node_replacement_leaves_the_guard_alone(migrate_run: harness.Run) -> None:
    guard = migrate_run.named(GUARD)
    assert guard.deleted_with is None and not guard.protect and not guard.retain_on_delete
    text = repr(guard.inputs)
    for node in migrate_run.of_type("aws:ec2/instance:Instance"):
        assert node.name not in text
    for address in ("10.0.1.10", "10.0.2.10", "10.0.3.10", "i-0123456789abcdef0"):
        assert address not in text, "no input of the guard may change when a node is replaced"


def test_greenfield_has_no_guard() -> None:
    result = harness.run(stacks.greenfield(), secret_keys=stacks.SECRET_KEYS)
    assert result.error is None and result.of_type(LOCAL) == []


@pytest.mark.parametrize(("environment", "code"), [
    ({"CE_HA_ALLOW_DESTROY": "true"}, 0),
    ({"CE_HA_ALLOW_DESTROY": "false"}, 1),
    ({"CE_HA_ALLOW_DESTROY": "True"}, 1),
    ({"CE_HA_ALLOW_DESTROY": ""}, 1),
    ({}, 1),
])
def test_the_delete_script_refuses_unless_the_applied_setting_is_true(environment: dict[str, str], code: int) -> None:
    base = {k: v for k, v in os.environ.items() if k != "CE_HA_ALLOW_DESTROY"}
    ran = subprocess.run(["/bin/sh", "-c", destroy_guard.delete_script()], env={**base, **environment},
                         capture_output=True, text=True, check=False)
    assert ran.returncode == code
    if code:
        assert ran.stderr.startswith(REFUSAL_START)
        assert "cloud-exchange-ha:allowDestroy true" in ran.stderr and "Going back to a standalone" in ran.stderr
        assert "Nothing was deleted" in ran.stderr
    else:
        assert ran.stdout.strip() == "destroy guard: cloud-exchange-ha:allowDestroy=true" and ran.stderr == ""
