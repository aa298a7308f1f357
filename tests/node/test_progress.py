"""The progress contract: short marked lines while a phase runs, never a secret, one summary line at the end."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.cenode import __main__ as cli
from scripts.cenode.phases import prepare
from scripts.cenode.system import Ctx, NodeEnv, PhaseResult, progress_line

from .test_ce6_units import MakeCtx
from .test_cli import SECRET, with_node
from .test_system import UBUNTU_2204


def run(env: NodeEnv, *argv: str) -> tuple[int, list[str], list[str], list[str]]:
    out: list[str] = []
    err: list[str] = []
    shown: list[str] = []
    code = cli.main(list(argv), env=env, out=out.append, err=err.append, progress=shown.append)
    return code, out, err, shown


def test_a_progress_line_is_marked_and_counted() -> None:
    assert progress_line("prepare", "installing docker", 3, 7) == "progress prepare: installing docker (3/7)"
    assert progress_line("start", "running CE's ./start") == "progress start: running CE's ./start"
    assert progress_line("setup", "two\nlines") == "progress setup: two lines"


def test_progress_goes_to_its_channel_scrubbed_and_the_summary_stays_one_line(
    node_env: NodeEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_node(node_env, tmp_path)

    def phase(ctx: Ctx, args: object) -> PhaseResult:
        ctx.progress("first step", 1, 2)
        ctx.progress(f"a library said {SECRET}", 2, 2)
        return PhaseResult("changed", "done")

    monkeypatch.setattr(cli, "dispatch", phase)
    code, out, err, shown = run(node_env, "fetch-ce")
    assert code == 0 and out == ["fetch-ce: changed done"] and err == []
    assert shown == ["progress fetch-ce: first step (1/2)", "progress fetch-ce: a library said *** (2/2)"]
    log = (Path(node_env.log_dir) / "fetch-ce.log").read_text()
    assert "progress fetch-ce: first step (1/2)" in log


def test_prepare_counts_its_steps(make_ctx: MakeCtx, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx, _ = make_ctx("prepare")
    Path(ctx.env.host_path("/etc/os-release")).write_text(UBUNTU_2204)
    shown: list[str] = []
    ctx.report = shown.append
    done = prepare.Prepare(ctx)
    for step in ("update_os", "install_packages", "check_engine_versions", "enable_engine_service", "install_pins", "disable_selinux"):
        monkeypatch.setattr(done, step, lambda: None)
    done.run()
    assert shown == [
        "progress prepare: updating the OS (new node, before its container engine) (1/6)",
        "progress prepare: installing packages and the container engine (2/6)",
        "progress prepare: checking the container engine's versions (3/6)",
        "progress prepare: enabling the container engine's service (4/6)",
        "progress prepare: installing CE's python pins (5/6)",
        "progress prepare: SELinux (6/6)",
    ]
