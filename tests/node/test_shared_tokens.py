"""Issue 13, rule 3: every node proves it sees the same shared folder (Netskope's HA step "mount the
shared folder on every node and verify it").

5.x: each node's mount phase leaves ``<shared>/.cloud-exchange-ha/nodes/<ip>``; the primary's stop
(the cutover's first step) fails naming the nodes whose token it does not see, before CE goes down.
6.x: the primary leaves its token once its setup made the volume; a secondary, right after it
mounted the volume in its setup, must see it. Which line does what is the line's data.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from scripts.cenode import lines, shared_tokens
from scripts.cenode.phases import service
from scripts.cenode.system import Ctx, PhaseError

from .conftest import FakeRunner, every_node_sees_the_share

MakeCtx = Callable[..., tuple[Ctx, FakeRunner]]
IPS = ["127.0.0.21", "127.0.0.22", "127.0.0.23"]


def token(shared: Path, ip: str) -> Path:
    return shared / ".cloud-exchange-ha" / "nodes" / ip


def test_the_lines_say_whose_tokens_are_checked_where() -> None:
    assert lines.CE5.shared_witness == lines.SharedWitness(after_mount="nobody", before_cutover="every node")
    assert lines.CE6.shared_witness == lines.SharedWitness(after_mount="primary", before_cutover="nobody")


def test_a_node_leaves_its_token_once_and_it_holds_no_secret(make_ctx: MakeCtx, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    ctx, _ = make_ctx("mount", node_name="ce-2", node_ip="127.0.0.22", role="secondary", shared_dir=str(shared))
    assert shared_tokens.mounted(ctx, str(shared)) == ["shared folder token"]
    path = token(shared, "127.0.0.22")
    assert json.loads(path.read_text()) == {"node": "ce-2", "ip": "127.0.0.22", "by": "cloud-exchange-ha"}
    assert path.stat().st_mode & 0o777 == 0o644 and (path.parent.stat().st_mode & 0o777) == 0o755
    before = path.stat().st_mtime_ns
    assert shared_tokens.mounted(ctx, str(shared)) == []  # a re-run writes nothing
    assert path.stat().st_mtime_ns == before
    assert sorted(p.name for p in shared.iterdir()) == [".cloud-exchange-ha"]  # nothing else in the share


def primary_stop(make_ctx: MakeCtx, tmp_path: Path, **over: object) -> tuple[Ctx, FakeRunner, Path]:
    shared = tmp_path / "shared"
    shared.mkdir(exist_ok=True)
    ctx, runner = make_ctx("stop", tools=["docker"], shared_dir=str(shared), **over)
    runner.on("docker", "ps", out="ta_cloud_exchange_core_1\n")
    return ctx, runner, shared


def test_5x_primary_sees_every_token_before_the_cutover(make_ctx: MakeCtx, tmp_path: Path) -> None:
    ctx, _, shared = primary_stop(make_ctx, tmp_path)
    every_node_sees_the_share(ctx)
    assert shared_tokens.before_cutover(ctx, str(shared)) == f"3 node tokens seen in {shared}"


@pytest.mark.parametrize(
    ("absent", "named"),
    [
        (["127.0.0.23"], "127.0.0.23"),
        (["127.0.0.22", "127.0.0.23"], "127.0.0.22, 127.0.0.23"),
        (["127.0.0.21"], "127.0.0.21"),  # even its own: it mounted another folder since
    ],
)
def test_5x_primary_stop_fails_naming_the_nodes_whose_token_is_missing_before_ce_goes_down(
    make_ctx: MakeCtx, tmp_path: Path, absent: list[str], named: str
) -> None:
    ctx, runner, shared = primary_stop(make_ctx, tmp_path)
    every_node_sees_the_share(ctx)
    for ip in absent:
        token(shared, ip).unlink()
    with pytest.raises(PhaseError) as failed:
        service.stop(ctx)
    line = failed.value.line("stop")
    assert f"ERROR stop: the shared folder {shared} shows no token of node(s) {named} (" in line
    assert "they do not see the folder this primary sees" in line
    assert f"- fix: run the mount phase on {named} and check each mounts the same file system at cloud-exchange-ha:sharedDir" in line
    assert runner.calls == []  # nothing asked, nothing stopped


def test_a_token_that_names_another_node_does_not_count(make_ctx: MakeCtx, tmp_path: Path) -> None:
    ctx, _, shared = primary_stop(make_ctx, tmp_path)
    every_node_sees_the_share(ctx)
    token(shared, "127.0.0.22").write_text(token(shared, "127.0.0.21").read_text())  # copied by hand
    token(shared, "127.0.0.23").write_text("not json\n")
    with pytest.raises(PhaseError) as failed:
        shared_tokens.before_cutover(ctx, str(shared))
    assert "no token of node(s) 127.0.0.22, 127.0.0.23 (" in failed.value.what


def test_a_5x_secondary_and_a_6x_primary_check_nothing_before_the_cutover(make_ctx: MakeCtx, tmp_path: Path) -> None:
    ctx, _, shared = primary_stop(make_ctx, tmp_path, role="secondary", node_ip="127.0.0.22")
    assert shared_tokens.before_cutover(ctx, str(shared)) == ""
    six, _, shared6 = primary_stop(make_ctx, tmp_path, ce_version="v6.1.0")
    assert shared_tokens.before_cutover(six, str(shared6)) == ""
    assert not (shared / ".cloud-exchange-ha").exists()


def test_6x_secondary_after_mounting_must_see_the_primarys_token(make_ctx: MakeCtx, tmp_path: Path) -> None:
    volume = tmp_path / "data"
    volume.mkdir()
    ctx, _ = make_ctx("setup", ce_version="v6.1.0", node_name="ce-3", node_ip="127.0.0.23", role="secondary", shared_dir=str(volume))
    with pytest.raises(PhaseError) as failed:
        shared_tokens.mounted(ctx, str(volume))
    line = failed.value.line("setup")
    assert f"ERROR setup: {volume} shows no token of the primary 127.0.0.21 ({token(volume, '127.0.0.21')}): " in line
    assert "this node does not see the primary's shared folder - fix: check what is mounted at" in line
    assert token(volume, "127.0.0.23").exists()  # its own is left all the same (for whoever looks next)
    primary, _ = make_ctx("setup", ce_version="v6.1.0", shared_dir=str(volume))
    assert shared_tokens.mounted(primary, str(volume)) == ["shared folder token"]  # the primary's own: it sees itself
    assert shared_tokens.mounted(ctx, str(volume)) == []


def test_5x_nodes_check_nobody_right_after_mounting(make_ctx: MakeCtx, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    ctx, _ = make_ctx("mount", node_ip="127.0.0.22", role="secondary", shared_dir=str(shared))
    assert shared_tokens.mounted(ctx, str(shared)) == ["shared folder token"]  # the primary's token may come later
    assert os.listdir(shared / ".cloud-exchange-ha" / "nodes") == ["127.0.0.22"]


def test_only_the_lines_say_which_line_checks_what() -> None:
    """No `if line == ...` outside scripts/cenode/lines: the behaviour comes from the line's data."""
    cenode = Path(__file__).resolve().parents[2] / "scripts" / "cenode"
    users = sorted(p.name for p in cenode.rglob("*.py") if "shared_witness" in p.read_text() and p.parent.name != "lines")
    assert users == ["shared_tokens.py"]
