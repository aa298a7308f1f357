"""Both release lines' ``setup`` phase where it decides: success needs CE's text, secrets.json first,
a secondary answers no primary-only prompt, and the re-run marker is not trusted without CE's files.

5.x runs a small scripted ``./setup`` under the real prompt driver; 6.x runs against the scripted
command runner (its setup is not interactive).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from scripts.cenode import gluster, setup_marker
from scripts.cenode.nodeconfig import NodeSecrets
from scripts.cenode.phases import setup_ce, setup_ce6
from scripts.cenode.system import CommandResult, Ctx, PhaseError, PhaseResult

from .conftest import FakeRunner
from .test_ce6_units import python_on, six

MakeCtx = Callable[..., tuple[Ctx, FakeRunner]]
JWT = "jwtSecret42"
PASSWORD = "Maint#1pass"
PRIMARY_IP, SECONDARY_IP = "127.0.0.21", "127.0.0.22"
TIMEOUTS = {"setup": 60, "setup_prompt": 20, "setup_unknown_prompt": 2}
SUCCESS = "Setup completed successfully"  # CE's words (docs/ce-facts.md §1.3), not the module's constant

#: a 5.x ./setup without prompts: leaves CE's outputs (local .env, shared .env, compose file), counts its runs
FIVE_SETUP = r"""
import os, sys
ce_dir, shared, ip, runs, last = {ce_dir!r}, {shared!r}, {ip!r}, {runs!r}, {last!r}
with open(runs, "a") as handle:
    handle.write("run\n")
with open(os.path.join(ce_dir, ".env"), "w") as handle:
    handle.write("HA_CURRENT_NODE=" + ip + "\n")
os.makedirs(os.path.join(shared, "config"), exist_ok=True)
with open(os.path.join(shared, "config", ".env"), "w") as handle:
    handle.write("HA_IP_LIST=127.0.0.21\n")
open(os.path.join(ce_dir, "docker-compose-ha.yml"), "w").close()
print(last, flush=True)
sys.exit(0)
"""

#: a 5.x ./setup that asks a primary-only question (the JWT secret) and records any answer it gets
ASKS_JWT = r"""
import getpass
value = getpass.getpass("> Enter a JWT Secret which will be used for signing the authentication tokens: ")
with open({got!r}, "w") as handle:
    handle.write(value)
print("Setup completed successfully...")
"""


def write_secrets(ctx: Ctx) -> None:
    path = Path(ctx.env.config_dir) / "secrets.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(NodeSecrets(maintenance_password=PASSWORD, jwt_secret=JWT).to_json())
    path.chmod(0o600)


def five(make_ctx: MakeCtx, tmp_path: Path, role: str = "primary", secrets: bool = True) -> tuple[Ctx, FakeRunner]:
    ip = PRIMARY_IP if role == "primary" else SECONDARY_IP
    ctx, runner = make_ctx("setup", role=role, node_ip=ip, timeouts=TIMEOUTS)
    Path(ctx.cfg.ce_dir).mkdir(exist_ok=True)
    Path(ctx.cfg.shared_dir).mkdir(exist_ok=True)
    runner.on("git", out="0123456789abcdef0123456789abcdef01234567\n")
    if secrets:
        write_secrets(ctx)
    return ctx, runner


def script(ctx: Ctx, text: str) -> None:
    path = Path(ctx.cfg.ce_dir) / "setup"
    path.write_text(f"#!{sys.executable}\n{text}")
    path.chmod(0o755)


def five_setup(ctx: Ctx, tmp_path: Path, last: str) -> Path:
    runs = tmp_path / "setup-runs"
    script(ctx, FIVE_SETUP.format(ce_dir=ctx.cfg.ce_dir, shared=ctx.cfg.shared_dir, ip=ctx.cfg.node_ip, runs=str(runs), last=last))
    return runs


# ----------------------------------------------------------------------------- 1: exit 0 is not success


def test_5x_setup_exiting_0_without_the_success_text_fails_the_phase(make_ctx: MakeCtx, tmp_path: Path) -> None:
    ctx, _ = five(make_ctx, tmp_path)
    five_setup(ctx, tmp_path, "HTTP Error 404: tenant not reachable")
    with pytest.raises(PhaseError) as failed:
        setup_ce.run(ctx)
    assert "exit 0" in failed.value.what and SUCCESS in failed.value.what and "404" in failed.value.what
    assert setup_marker.recorded(ctx.env.state_dir) == ""  # a failed setup leaves no marker


def test_5x_setup_with_the_success_text_passes_the_phase(make_ctx: MakeCtx, tmp_path: Path) -> None:
    ctx, _ = five(make_ctx, tmp_path)
    five_setup(ctx, tmp_path, SUCCESS + "...")
    assert setup_ce.run(ctx).status == "changed"


def six_ctx(make_ctx: MakeCtx, tmp_path: Path, out: str, rc: int = 0) -> tuple[Ctx, FakeRunner, Path]:
    """A 6.x primary whose volume is mounted; ``./setup`` (scripted) leaves CE's outputs and prints ``out``."""
    ctx, runner = six(make_ctx, tmp_path, "setup", timeouts=TIMEOUTS)
    facts = gluster.layout(ctx)
    ce_dir = Path(ctx.cfg.ce_dir)
    ce_dir.mkdir()
    (ce_dir / "setup").write_text("")
    Path(ctx.env.host_path("/proc/self/mountinfo")).write_text(
        f"22 1 8:1 / / rw - ext4 /dev/root rw\n99 22 0:60 / {facts.mount_dir} rw - fuse.glusterfs {ctx.cfg.node_ip}:/{facts.volume} rw\n"
    )
    write_secrets(ctx)
    python_on(runner)
    runner.on("git", out="0123456789abcdef0123456789abcdef01234567\n")
    runs = tmp_path / "setup-runs"

    def setup(argv: list[str]) -> CommandResult:
        with runs.open("a") as handle:
            handle.write("run\n")
        (ce_dir / ".env").write_text(f"HA_CURRENT_NODE={ctx.cfg.node_ip}\n")
        Path(facts.config_dir).mkdir(parents=True, exist_ok=True)
        (Path(facts.config_dir) / ".env").write_text("HA_IP_LIST=x\n")
        (ce_dir / "docker-compose-ha.yml").write_text("")
        (ce_dir / ".cevenv" / "bin").mkdir(parents=True, exist_ok=True)
        (ce_dir / ".cevenv" / "bin" / "activate").write_text("")
        return CommandResult(argv, rc, out, "")

    runner.on("/usr/bin/python3", "./setup", action=setup)
    return ctx, runner, runs


def test_6x_setup_exiting_0_without_the_success_text_fails_the_phase(make_ctx: MakeCtx, tmp_path: Path) -> None:
    ctx, runner, _ = six_ctx(make_ctx, tmp_path, "Port Check FAIL\nsetup finished\n")
    with pytest.raises(PhaseError) as failed:
        setup_ce6.run(ctx)
    assert "exited 0" in failed.value.what and SUCCESS in failed.value.what and "setup finished" in failed.value.what
    assert runner.ran("/usr/bin/python3", "./setup")
    assert setup_marker.recorded(ctx.env.state_dir) == ""


def test_6x_setup_needs_exit_0_as_well_as_the_success_text(make_ctx: MakeCtx, tmp_path: Path) -> None:
    ctx, _, _ = six_ctx(make_ctx, tmp_path, SUCCESS + "\n", rc=1)
    with pytest.raises(PhaseError) as failed:
        setup_ce6.run(ctx)
    assert "exited 1" in failed.value.what and setup_marker.recorded(ctx.env.state_dir) == ""


# ----------------------------------------------------------------------------- 4: secrets.json first


def test_5x_setup_before_secrets_json_fails_naming_the_file(make_ctx: MakeCtx, tmp_path: Path) -> None:
    for role in ("primary", "secondary"):  # a 5.x secondary types no secret, but it must not run before the stack wrote them
        ctx, runner = five(make_ctx, tmp_path / role, role=role, secrets=False)
        (Path(ctx.cfg.shared_dir) / "config").mkdir(exist_ok=True)
        (Path(ctx.cfg.shared_dir) / "config" / ".env").write_text("HA_IP_LIST=x\n")
        five_setup(ctx, tmp_path / role, SUCCESS)
        with pytest.raises(PhaseError) as failed:
            setup_ce.run(ctx)
        assert failed.value.what == f"{Path(ctx.env.config_dir) / 'secrets.json'} is missing: the stack's secrets step has not run on this node"
        assert "pulumi up" in failed.value.fix and "\n" not in failed.value.what + failed.value.fix
        assert not (tmp_path / role / "setup-runs").exists()  # CE's setup never started


def test_6x_setup_before_secrets_json_fails_naming_the_file(make_ctx: MakeCtx, tmp_path: Path) -> None:
    ctx, runner, runs = six_ctx(make_ctx, tmp_path, SUCCESS + "\n")
    (Path(ctx.env.config_dir) / "secrets.json").unlink()
    with pytest.raises(PhaseError) as failed:
        setup_ce6.run(ctx)
    assert "secrets.json is missing" in failed.value.what and str(Path(ctx.env.config_dir)) in failed.value.what
    assert not runs.exists() and not (Path(ctx.cfg.ce_dir) / "cloudexchange.config").exists()


# ----------------------------------------------------------------------------- 5: a secondary answers no primary-only prompt


def test_a_5x_secondary_refuses_a_primary_only_prompt(make_ctx: MakeCtx, tmp_path: Path) -> None:
    ctx, _ = five(make_ctx, tmp_path, role="secondary")
    (Path(ctx.cfg.shared_dir) / "config").mkdir()
    (Path(ctx.cfg.shared_dir) / "config" / ".env").write_text("HA_IP_LIST=x\n")
    got = tmp_path / "got"
    script(ctx, ASKS_JWT.format(got=str(got)))
    with pytest.raises(PhaseError) as failed:
        setup_ce.run(ctx)
    assert "does not know" in failed.value.what and "Enter a JWT Secret" in failed.value.what
    assert not got.exists()  # the secret was never typed
    assert JWT not in Path(ctx.log.path).read_text()


# ----------------------------------------------------------------------------- 6: the marker needs CE's files


Done = tuple[Ctx, Callable[[Ctx], PhaseResult], Path]  # the context, the line's setup phase, its run count


def five_done(make_ctx: MakeCtx, tmp_path: Path) -> Done:
    ctx, _ = five(make_ctx, tmp_path)
    return ctx, setup_ce.run, five_setup(ctx, tmp_path, SUCCESS)


def six_done(make_ctx: MakeCtx, tmp_path: Path) -> Done:
    ctx, _, runs = six_ctx(make_ctx, tmp_path, SUCCESS + "\n")
    return ctx, setup_ce6.run, runs


@pytest.mark.parametrize("line", [five_done, six_done], ids=["5.x", "6.x"])
def test_the_marker_is_not_trusted_when_ces_env_is_gone(make_ctx: MakeCtx, tmp_path: Path, line: Callable[..., Done]) -> None:
    ctx, run, runs = line(make_ctx, tmp_path)
    assert run(ctx).status == "changed"
    assert run(ctx).status == "unchanged"
    assert runs.read_text().count("run") == 1
    (Path(ctx.cfg.ce_dir) / ".env").unlink()  # CE's files gone, the marker still there
    assert run(ctx).status == "changed"
    assert runs.read_text().count("run") == 2
