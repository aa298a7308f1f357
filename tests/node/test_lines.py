"""The release lines: a tag picks its line once; each line's plan and per-line phases, as data."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from scripts.cenode import __main__ as cli
from scripts.cenode import lines
from scripts.cenode.system import NodeEnv

from .conftest import make_node


@pytest.mark.parametrize(("tag", "major", "storage"), [("v5.1.2", 5, "efs"), ("5.2.0", 5, "efs"), ("v6.1.0", 6, "glusterfs"),
                                                      ("v6.0.0-beta.1", 6, "glusterfs")])
def test_a_tag_picks_its_line(tag: str, major: int, storage: str) -> None:
    line = lines.for_version(tag)
    assert (line.major, line.storage, line.name) == (major, storage, f"{major}.x")


def test_unknown_majors_and_bad_tags_are_refused() -> None:
    with pytest.raises(KeyError):
        lines.for_version("v7.0.0")
    with pytest.raises(ValueError):
        lines.for_version("latest")


def _preparation(line: lines.ReleaseLine) -> list[tuple[str, str]]:
    return [(step.phase, step.only) for step in line.plan.preparation]


def test_each_line_prepares_its_storage_between_prepare_and_fetch() -> None:
    common = [("wait", "every"), ("preflight", "every"), ("prepare", "every"), ("inspect", "adopted")]
    tail = [("backup", "adopted-tarball"), ("fetch-ce", "every"), ("certs", "every")]
    assert _preparation(lines.CE5) == [*common, ("mount", "every"), *tail]
    assert _preparation(lines.CE6) == [*common, ("bricks", "every"), *tail]
    assert [s.phase for s in lines.CE5.plan.preparation if s.after_storage] == ["mount"]
    assert [s.phase for s in lines.CE6.plan.preparation if s.after_storage] == ["bricks"]


def _stages(stages: tuple[lines.Stage, ...]) -> list[tuple[str, list[tuple[str, str, str, bool]]]]:
    def who(stage: lines.Stage) -> str:
        return "each node" if stage.each_node else "primary"

    return [(who(stage), [(s.phase, s.step_name, s.args, s.on_primary) for s in stage.steps]) for stage in stages]


def test_the_cutover_window_holds_only_the_primarys_stop_setup_and_start() -> None:
    # docs/ce-lifecycle.md §7: the CE primary's ./start initiates a set of one, itself; each secondary joins it later.
    # Run on every node in turn, acting only on the holder of CE's primary role (docs/ce-lifecycle.md §1.2: it moves)
    for line in lines.LINES.values():
        assert _stages(line.plan.cutover) == [
            ("each node", [("stop", "cutover-stop", "--role primary", False), ("setup", "cutover-setup", "--role primary", False),
                           ("start", "cutover-start", "--role primary", False)]),
        ]
        assert line.plan.window_phases == {"stop", "setup", "start"}
        assert [s.phase for s in line.plan.check.steps] == ["verify"]


def test_every_other_node_stops_before_the_window_when_its_setup_is_due() -> None:
    # docs/ce-lifecycle.md §1.2 and docs/ce-lifecycle.md §2: the secondaries stop first, the primary role's holder last
    for line in lines.LINES.values():
        assert _stages(line.plan.drain) == [("each node", [("stop", "drain-stop", "--role secondary", False),
                                                           ("backup", "drain-backup", "--stopped-member", False)])]


def test_each_secondary_joins_after_the_window_one_at_a_time() -> None:
    assert _stages(lines.CE5.plan.joins) == [("each node", [("setup", "join-setup", "--role secondary", False),
                                                            ("start", "join-start", "--role secondary", False)])]
    assert _stages(lines.CE6.plan.joins) == [("each node", [
        ("gluster-join", "join-brick-{node}", "--member {member}", True), ("setup", "join-setup", "--role secondary", False),
        ("start", "join-start", "--role secondary", False)])]
    join = lines.CE6.plan.joins[0].steps[0]
    assert join.args.format(member=3) == "--member 3"
    for line in lines.LINES.values():
        assert [s.phase for s in line.plan.ordered[-1].steps] == ["verify"]
        assert line.plan.ordered == (*line.plan.drain, *line.plan.cutover, *line.plan.joins, line.plan.check)


def _node_on(env: NodeEnv, tmp_path: Path, version: str) -> None:
    os.makedirs(env.config_dir, exist_ok=True)
    shared = "/opt/shared/data" if version.startswith("v6") else str(tmp_path / "shared")
    (Path(env.config_dir) / "node.json").write_text(make_node(tmp_path, ce_version=version, shared_dir=shared).to_json())
    (Path(env.config_dir) / "secrets.json").write_text(json.dumps({"maintenance_password": "Maint1pass", "jwt_secret": "jwt42"}))


@pytest.mark.parametrize(("version", "phase", "line"), [
    ("v6.1.0", "mount", "mount: unchanged CE 6.x: shared storage is CE's GlusterFS, nothing to mount"),
    ("v5.1.2", "bricks", "bricks: unchanged CE 5.x: shared storage is EFS (cloud-exchange-ha:sharedDir), no GlusterFS bricks"),
])
def test_a_storage_phase_of_the_other_line_changes_nothing(node_env: NodeEnv, tmp_path: Path, version: str, phase: str,
                                                           line: str) -> None:
    _node_on(node_env, tmp_path, version)
    out: list[str] = []
    err: list[str] = []
    assert cli.main([phase], env=node_env, out=out.append, err=err.append) == 0
    assert (out, err) == ([line], [])


def test_gluster_join_is_refused_on_a_5x_node(node_env: NodeEnv, tmp_path: Path) -> None:
    _node_on(node_env, tmp_path, "v5.1.2")
    out: list[str] = []
    err: list[str] = []
    assert cli.main(["gluster-join", "--member", "2"], env=node_env, out=out.append, err=err.append) == 1
    assert out == [] and len(err) == 1 and err[0].startswith("ERROR gluster-join: CE 5.x has no gluster-join phase")
