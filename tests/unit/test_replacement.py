"""A replaced node under mocks: a survivor evicts its dead predecessor before the new node's setup and start.

Which steps a replaced instance runs again follows offline.rerun (pulumi-command's rule): only the
replaced node's own steps and the eviction step about it; no survivor's setup, stop or start.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from offline import harness, rerun
from offline.mocks import AwsMocks
from tests.unit import stacks

COMMAND = "command:remote:Command"


def run(stack: Callable[[], object]) -> harness.Run:
    result = harness.run(stack(), secret_keys=stacks.SECRET_KEYS)  # type: ignore[arg-type]
    assert result.error is None, result.error
    return result


@pytest.fixture(scope="module")
def migrate_run() -> harness.Run:
    return run(stacks.migrate)


@pytest.fixture(scope="module")
def greenfield_run() -> harness.Run:
    return run(stacks.greenfield)


@pytest.fixture
def replace_vm(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """``replace_vm("ce-3")``: that node's instance comes back with a new id (same address)."""
    real = AwsMocks.new_resource
    replaced: set[str] = set()

    def new_resource(self: AwsMocks, args: object) -> tuple[str | None, dict[str, object]]:
        rid, state = real(self, args)  # type: ignore[arg-type]
        name = str(getattr(args, "name", ""))
        return (f"i-0replaced{name[3:4]}0000000" if name.removesuffix("-vm") in replaced and name.endswith("-vm") else rid), state

    monkeypatch.setattr(AwsMocks, "new_resource", new_resource)
    yield replaced.add


def evictions(result: harness.Run) -> dict[str, str]:
    """eviction step name -> its command."""
    return {r.name: str(r.inputs["create"]) for r in result.of_type(COMMAND) if "-steps-evict-" in r.name}


def test_each_new_node_has_one_eviction_on_the_first_other_node(migrate_run: harness.Run, greenfield_run: harness.Run) -> None:
    ip = {n: migrate_run.named(f"{n}-steps-config").inputs["stdin"] for n in ("ce-2", "ce-3")}
    assert sorted(evictions(migrate_run)) == ["ce-1-steps-evict-ce-2", "ce-1-steps-evict-ce-3"]  # the adopted primary is never replaced
    assert sorted(evictions(greenfield_run)) == ["ce-1-steps-evict-ce-2", "ce-1-steps-evict-ce-3", "ce-2-steps-evict-ce-1"]
    for name, create in evictions(migrate_run).items():
        node = name.rsplit("-evict-", 1)[1]
        address = [line for line in str(ip[node]).splitlines() if '"node_ip"' in line][0].split('"')[3]
        assert create == f"sudo timeout 2700 /opt/cloud-exchange-ha/ce-node evict --address {address} --if-dead", name


def test_the_eviction_runs_after_every_nodes_preparation_and_before_the_cutover(migrate_run: harness.Run) -> None:
    evict = migrate_run.named("ce-1-steps-evict-ce-3")
    for node in ("ce-1", "ce-2", "ce-3"):
        assert f"{node}-steps-certs" in evict.depends_on
    assert "ce-1-steps-evict-ce-3" in migrate_run.named("ce-1-steps-drain-stop").depends_on
    assert "ce-1-steps-evict-ce-2" in migrate_run.named("ce-1-steps-drain-stop").depends_on


def test_only_the_evicted_nodes_instance_triggers_its_eviction(migrate_run: harness.Run) -> None:
    """The survivor's own instance (adopted here: none) is not a trigger; the evicted node's is the only one."""
    ce3_vm = migrate_run.named("ce-3-steps-booted").inputs["triggers"][-1]
    assert str(ce3_vm).startswith("i-")
    assert migrate_run.named("ce-1-steps-evict-ce-3").inputs["triggers"] == [ce3_vm]


def test_a_replaced_secondary_reruns_its_own_steps_and_its_eviction_only(
    migrate_run: harness.Run, replace_vm: Callable[[str], None]
) -> None:
    replace_vm("ce-3")
    reruns = rerun.compare(migrate_run, run(stacks.migrate))
    assert reruns.new == [] and reruns.gone == []
    assert {name.split("-steps-")[0] for name in reruns.again} == {"ce-1", "ce-3"}
    assert [name for name in reruns.again if name.startswith("ce-1-")] == ["ce-1-steps-evict-ce-3", "ce-1-steps-verify"]
    ce3 = [name.split("-steps-")[1] for name in reruns.again if name.startswith("ce-3-")]
    assert ce3 == ["booted", "bundle", "install", "config", "secrets", "wait", "preflight", "prepare", "mount", "fetch-ce",
                   "certs", "drain-stop", "drain-backup", "cutover-stop", "cutover-setup", "cutover-start", "join-setup", "join-start"]  # fmt: skip
    assert "ce-1-steps-cutover-stop" in reruns.unchanged and "ce-2-steps-join-start" in reruns.unchanged


def test_a_replaced_first_node_is_evicted_from_the_second_and_the_survivors_stay_up(
    greenfield_run: harness.Run, replace_vm: Callable[[str], None]
) -> None:
    replace_vm("ce-1")
    reruns = rerun.compare(greenfield_run, run(stacks.greenfield))
    assert [name for name in reruns.again if not name.startswith("ce-1-")] == ["ce-2-steps-evict-ce-1"]
    assert {"ce-1-steps-cutover-stop", "ce-1-steps-cutover-setup", "ce-1-steps-cutover-start", "ce-1-steps-verify"} <= set(reruns.again)
    # the replaced node's own evictions of the others (it is their survivor) do not run again
    assert {"ce-1-steps-evict-ce-2", "ce-1-steps-evict-ce-3"} <= set(reruns.unchanged)
    assert not [name for name in reruns.again if name.startswith(("ce-2-steps-", "ce-3-steps-")) and "-evict-" not in name]
