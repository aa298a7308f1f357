"""cenode.roles: the CE primary found at run time from the shared flag and MongoDB, and what is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from scripts.cenode import __main__ as cli
from scripts.cenode import roles
from scripts.cenode.nodeconfig import NodeConfig
from scripts.cenode.system import NodeEnv, PhaseError

from .conftest import make_node

A, B, C = "127.0.0.21", "127.0.0.22", "127.0.0.23"
IPS = [A, B, C]


def doc(state: str, hosts: list[str]) -> dict[str, Any]:
    members = [f"{ip}:27017" for ip in hosts]
    return {"setName": "mongo_replica_set", "hosts": members, "isWritablePrimary": state == "PRIMARY", "secondary": state == "SECONDARY"}


def found(flag: str | None, **states: str) -> roles.Roles:
    """Views for A/B/C: ``a="PRIMARY"``, ``b="SECONDARY"``, ``c="DOWN"`` (members: every node not DOWN plus the down ones)."""
    views = []
    for name, ip in zip("abc", IPS, strict=True):
        state = states.get(name, "DOWN")
        views.append(roles.view(ip, None if state == "DOWN" else doc(state, IPS)))
    return roles.Roles(flag, tuple(views))


def write_flag(cfg: NodeConfig, value: str) -> None:
    path = Path(roles.shared_env_path(cfg))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'HA_IP_LIST="{",".join(IPS)}"\nHA_PRIMARY_NODE_IP="{value}"\nUI_PORT=443\n')


def test_the_flag_gives_the_role_and_node_json_only_before_it_exists(tmp_path: Path) -> None:
    first = make_node(tmp_path, node_ip=A, role="primary")
    assert roles.runtime_role(first)[0] == "primary"
    assert "node.json's role primary (first deployment)" in roles.runtime_role(first)[1]
    write_flag(first, B)
    assert roles.runtime_role(first) == ("secondary", f"HA_PRIMARY_NODE_IP={B}: this node is the CE secondary")
    second = make_node(tmp_path, node_ip=B, role="secondary")
    assert roles.with_runtime_role(second)[0].role == "primary"
    write_flag(first, "10.0.0.9")
    with pytest.raises(PhaseError) as refused:
        roles.runtime_role(first)
    assert "HA_PRIMARY_NODE_IP=10.0.0.9" in refused.value.what and "names no node of this cluster" in refused.value.what


def test_no_readable_flag_while_a_set_runs_elsewhere_makes_a_secondary(tmp_path: Path) -> None:
    """6.x: a replaced node cannot read the flag (the volume is not mounted yet); it must never act as the primary."""
    replaced = make_node(tmp_path, node_ip=A, role="primary", ce_version="v6.1.0")
    answers: dict[str, dict[str, Any] | None] = {A: None, B: doc("PRIMARY", [B, C]), C: doc("SECONDARY", [B, C])}
    role, why = roles.runtime_role(replaced, answers.get)
    assert role == "secondary"
    assert why == (f"no HA_PRIMARY_NODE_IP readable in {roles.shared_env_path(replaced)} here, but a replica set runs on "
                   f"{B}, {C}: this node joins it as a CE secondary")
    assert roles.with_runtime_role(replaced, answers.get)[0].role == "secondary"
    nobody: dict[str, dict[str, Any] | None] = {A: None, B: None, C: None}  # a first deployment: node.json decides
    assert roles.runtime_role(replaced, nobody.get)[0] == "primary"
    itself: dict[str, dict[str, Any] | None] = {A: doc("PRIMARY", [A]), B: None, C: None}  # only this node runs a set
    assert roles.runtime_role(replaced, itself.get)[0] == "primary"
    member: dict[str, dict[str, Any] | None] = {A: doc("PRIMARY", IPS), B: doc("SECONDARY", IPS), C: doc("SECONDARY", IPS)}
    assert roles.runtime_role(replaced, member.get)[0] == "primary"  # a member with its volume unmounted: node.json (setup refuses)
    joined = make_node(tmp_path, node_ip=B, role="secondary", ce_version="v6.1.0")
    assert roles.runtime_role(joined, member.get)[0] == "secondary"
    write_flag(replaced, A)  # a readable flag wins over the running set
    assert roles.runtime_role(replaced, answers.get)[0] == "primary"


def test_a_failover_is_covered_and_described() -> None:
    after_failover = found(A, a="SECONDARY", b="PRIMARY", c="SECONDARY")
    assert after_failover.problems(IPS) == []
    assert after_failover.mongo_primary == B and after_failover.members == IPS
    assert after_failover.describe() == (
        f"HA_PRIMARY_NODE_IP={A}, MongoDB PRIMARY={B}, members={A},{B},{C}, healthy={A},{B},{C}"
    )


@pytest.mark.parametrize(
    ("roles_found", "starting", "what"),
    [
        (found(A, a="PRIMARY", b="PRIMARY", c="SECONDARY"), "", f"more than one node answers as MongoDB PRIMARY: {A}, {B}"),
        (found(A, b="PRIMARY", c="SECONDARY"), C, f"HA_PRIMARY_NODE_IP={A} names a node that is not a healthy member while {B}, {C} run"),
        (found(C), A, f"no node runs and HA_PRIMARY_NODE_IP={C}: that node was stopped last"),
        (found("10.1.1.1", a="PRIMARY"), "", "HA_PRIMARY_NODE_IP=10.1.1.1 names no node of this cluster"),
    ],
)
def test_disagreements_the_facts_do_not_cover_are_refused(roles_found: roles.Roles, starting: str, what: str) -> None:
    problems = roles_found.problems(IPS, starting)
    assert problems and problems[0][0].startswith(what)


def test_the_node_the_flag_names_may_start_first_and_no_flag_means_a_first_deployment() -> None:
    assert found(A).problems(IPS, starting=A) == []  # after a full stop the flag's node starts first
    assert found(None).problems(IPS, starting=B) == []
    assert found(A, a="PRIMARY").problems(IPS, starting=B) == []


def test_ce_node_runs_setup_start_and_stop_with_the_role_the_flag_gives(tmp_path: Path, node_env: NodeEnv) -> None:
    """node.json says primary, the shared flag names another node: start runs as a secondary (its log says why)."""
    node = make_node(tmp_path, node_ip=A, role="primary")
    Path(node_env.config_dir).mkdir(parents=True, exist_ok=True)
    (Path(node_env.config_dir) / "node.json").write_text(node.to_json())
    write_flag(node, B)
    err: list[str] = []
    code = cli.main(["start"], env=node_env, out=lambda _line: None, err=err.append, progress=lambda _line: None)
    log = (Path(node_env.log_dir) / "start.log").read_text()
    assert f"role: HA_PRIMARY_NODE_IP={B}: this node is the CE secondary" in log
    assert code == 1 and err[0].startswith("ERROR start: no CE start script")  # got as far as the start itself


@pytest.mark.parametrize(("phase", "flag", "gate", "acts"), [
    ("stop", B, "primary", False),  # the flag names B: A is a secondary, the window's steps leave it alone
    ("setup", B, "primary", False),
    ("start", A, "secondary", False),  # A holds the role: the joins' steps leave it alone
    ("stop", A, "secondary", False),  # ... and so does the drain: CE's primary stops last, in the window
    ("start", B, "secondary", True),
    ("setup", A, "primary", True),
])  # fmt: skip
def test_role_gated_steps_act_only_where_the_flag_gives_that_role(
    tmp_path: Path, node_env: NodeEnv, phase: str, flag: str, gate: str, acts: bool
) -> None:
    node = make_node(tmp_path, node_ip=A, role="primary")
    Path(node_env.config_dir).mkdir(parents=True, exist_ok=True)
    (Path(node_env.config_dir) / "node.json").write_text(node.to_json())
    write_flag(node, flag)
    out: list[str] = []
    err: list[str] = []
    code = cli.main([phase, "--role", gate], env=node_env, out=out.append, err=err.append, progress=lambda _line: None)
    if acts:  # it went on to the phase itself, which finds no CE checkout here
        assert code == 1 and err and err[0].startswith(f"ERROR {phase}: no CE {phase} script"), err
    else:
        role = "primary" if flag == A else "secondary"
        assert (code, err) == (0, [])
        assert out == [f"{phase}: unchanged for the CE {gate} only, and this node is the CE {role} (HA_PRIMARY_NODE_IP={flag}: "
                       f"this node is the CE {role})"]


def test_a_role_gate_naming_no_role_is_refused(tmp_path: Path, node_env: NodeEnv) -> None:
    node = make_node(tmp_path, node_ip=A, role="primary")
    Path(node_env.config_dir).mkdir(parents=True, exist_ok=True)
    (Path(node_env.config_dir) / "node.json").write_text(node.to_json())
    write_flag(node, B)
    err: list[str] = []
    assert cli.main(["stop", "--role", "leader"], env=node_env, out=lambda _line: None, err=err.append, progress=lambda _line: None) == 1
    assert err == ["ERROR stop: --role leader: not a CE role - fix: use one of primary, secondary"]


def test_a_6x_node_never_set_up_asks_the_others_and_a_set_up_one_does_not(
    tmp_path: Path, node_env: NodeEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No readable flag (the volume is not mounted): a new 6.x VM asks MongoDB who runs; a node CE's setup ran on keeps node.json."""
    from scripts.cenode import ce_runtime, setup_marker

    asked: list[str] = []
    running = {B: doc("PRIMARY", [B, C]), C: doc("SECONDARY", [B, C])}

    def hello(ip: str) -> dict[str, Any] | None:
        asked.append(ip)
        return running.get(ip)

    monkeypatch.setattr(ce_runtime, "hello", hello)
    node = make_node(tmp_path, node_ip=A, role="primary", ce_version="v6.1.0", cluster_ips=IPS)
    Path(node_env.config_dir).mkdir(parents=True, exist_ok=True)
    (Path(node_env.config_dir) / "node.json").write_text(node.to_json())
    out: list[str] = []
    assert cli.main(["stop", "--role", "primary"], env=node_env, out=out.append, err=lambda _line: None, progress=lambda _line: None) == 0
    assert sorted(asked) == IPS
    assert out == [f"stop: unchanged for the CE primary only, and this node is the CE secondary (no HA_PRIMARY_NODE_IP readable in "
                   f"{roles.shared_env_path(node)} here, but a replica set runs on {B}, {C}: this node joins it as a CE secondary)"]

    asked.clear()
    Path(node_env.state_dir).mkdir(parents=True, exist_ok=True)
    setup_marker.record(node_env.state_dir, "inputs", "primary", "c0ffee")  # CE's setup ran here: node.json's role, nobody asked
    out.clear()
    err: list[str] = []
    cli.main(["stop", "--role", "secondary"], env=node_env, out=out.append, err=err.append, progress=lambda _line: None)
    assert asked == []
    assert out == [f"stop: unchanged for the CE secondary only, and this node is the CE primary (no HA_PRIMARY_NODE_IP in "
                   f"{roles.shared_env_path(node)} yet: node.json's role primary (first deployment))"], (out, err)
