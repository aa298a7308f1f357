"""Both release lines' ``setup`` phase pinned word for word (issue 12): what each refuses and how it says
so, the command it runs and with what, the marker it leaves and what it reports; on 6.x also the
primary's volume guard, a secondary's mount, the permissions tightened and the service state reported.

5.x runs with a recording stand-in for the prompt driver (the driver is test_prompts.py's and
test_setup_driver.py's subject); 6.x against the scripted command runner. Expectations are written here.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from scripts.cenode import gluster, staged
from scripts.cenode.phases import setup_ce, setup_ce6
from scripts.cenode.prompts import PRIMARY_PROMPTS, SECONDARY_PROMPTS, Answers, DriverLimits, DriverResult
from scripts.cenode.system import CommandResult, CommandTimeout, Ctx, PhaseError, progress_line

from .conftest import FakeRunner
from .test_ce6_units import cli_output, python_on, six
from .test_mount_phase import logged as log_of
from .test_mount_phase import progress_of as reported

MakeCtx = Callable[..., "tuple[Ctx, FakeRunner]"]
COMMIT = "fedcba9876543210fedcba9876543210fedcba98"
JWT, PASSWORD = "jwtSecret42", "Maint#1pass"
PLAIN_ENV = {"PATH": "/usr/bin:/bin", "HOME": "/root", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TERM": "dumb", "PYTHONUNBUFFERED": "1"}
IPS = ("127.0.0.21", "127.0.0.22", "127.0.0.23")


@pytest.fixture(autouse=True)
def plain_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/usr/bin:/bin")


def write_secrets(ctx: Ctx) -> None:
    path = Path(ctx.env.config_dir) / "secrets.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"maintenance_password": PASSWORD, "jwt_secret": JWT}))
    path.chmod(0o600)


def marker(ctx: Ctx) -> dict[str, str]:
    path = Path(ctx.env.state_dir) / "setup-done.json"
    return json.loads(path.read_text()) if path.exists() else {}


def with_kwargs(runner: FakeRunner) -> list[tuple[list[str], dict[str, Any]]]:
    """Every call's argv with the keyword arguments it was given (timeouts, cwd, environment)."""
    calls: list[tuple[list[str], dict[str, Any]]] = []
    scripted = runner.run

    def run(argv: Any, **kwargs: Any) -> CommandResult:
        calls.append(([str(a) for a in argv], kwargs))
        return scripted(argv, **kwargs)

    runner.run = run  # type: ignore[method-assign]
    return calls


def mode_of(path: str | Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


# ==== 5.x ==========================================================================================


class DriverStandIn:
    """Takes SetupDriver's place: keeps what it was given, answers ``answered`` prompts, returns ``result``."""

    def __init__(self, success: bool = True, answered: tuple[str, ...] = (), exit_status: int | None = 0, last_line: str = "",
                 then: Callable[[], None] | None = None) -> None:  # fmt: skip
        self.result = DriverResult(success, exit_status, list(answered), last_line)
        self.then = then
        self.given: list[dict[str, Any]] = []

    def __call__(self, argv: list[str], cwd: str, table: Any, answers: Answers, log: Any, limits: Any = None, env: Any = None,
                 on_answer: Callable[[int], None] | None = None) -> DriverStandIn:  # fmt: skip
        self.given.append({"argv": argv, "cwd": cwd, "table": table, "answers": answers, "log": log, "limits": limits, "env": env})
        self.on_answer = on_answer
        return self

    def run(self) -> DriverResult:
        for count in range(1, len(self.result.answered) + 1):
            assert self.on_answer is not None
            self.on_answer(count)
        if self.then is not None:
            self.then()
        return self.result


def five(make_ctx: MakeCtx, tmp_path: Path, role: str = "primary", **over: Any) -> Ctx:
    ip = "127.0.0.21" if role == "primary" else "127.0.0.22"
    timeouts = {"setup": 1200, "setup_prompt": 300, "setup_unknown_prompt": 45}
    ctx, runner = make_ctx("setup", role=role, node_ip=ip, timeouts=timeouts, ce_dir=str(tmp_path / "ta_cloud_exchange"),
                           shared_dir=str(tmp_path / "shared"), **over)  # fmt: skip
    Path(ctx.cfg.ce_dir).mkdir(parents=True)
    (Path(ctx.cfg.ce_dir) / "setup").write_text("#!/bin/sh\n")
    Path(ctx.cfg.shared_dir).mkdir()
    write_secrets(ctx)
    runner.on("git", out=COMMIT + "\n")
    return ctx


def five_outputs(ctx: Ctx) -> Callable[[], None]:
    def leave() -> None:
        ce_dir = Path(ctx.cfg.ce_dir)
        (ce_dir / ".env").write_text(f"HA_CURRENT_NODE={ctx.cfg.node_ip}\n")
        (ce_dir / "docker-compose-ha.yml").write_text("")
        (Path(ctx.cfg.shared_dir) / "config").mkdir(exist_ok=True)
        (Path(ctx.cfg.shared_dir) / "config" / ".env").write_text("HA_IP_LIST=x\n")

    return leave


def test_5x_setup_refuses_before_its_preconditions(make_ctx: MakeCtx, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    driver = DriverStandIn()
    monkeypatch.setattr(setup_ce, "SetupDriver", driver)
    ctx = five(make_ctx, tmp_path / "a", role="secondary")
    refusals = []
    for undo in ("shared .env", "shared folder", "setup script"):
        with pytest.raises(PhaseError) as refused:
            setup_ce.run(ctx)
        refusals.append((refused.value.what, refused.value.fix))
        {"shared .env": lambda: os.rmdir(ctx.cfg.shared_dir), "shared folder": lambda: os.remove(os.path.join(ctx.cfg.ce_dir, "setup")),
         "setup script": lambda: None}[undo]()  # fmt: skip
    shared, ce_dir = ctx.cfg.shared_dir, ctx.cfg.ce_dir
    assert refusals == [
        (f"{shared}/config/.env is missing: the primary's setup has not run",
         "run setup on the primary first (cutover order: primary, then each secondary)"),
        (f"shared folder {shared} is missing", "run the mount phase first"),
        (f"no CE setup script in {ce_dir}", "run the fetch-ce phase first"),
    ]  # fmt: skip
    assert driver.given == []
    primary = five(make_ctx, tmp_path / "b")  # a primary needs no shared .env: its setup writes it
    assert setup_ce.run(primary).status == "changed" and len(driver.given) == 1


def test_5x_primary_runs_setup_with_its_limits_answers_and_plain_environment(
    make_ctx: MakeCtx, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = five(make_ctx, tmp_path)
    driver = DriverStandIn(answered=("tenant URL", "setup HA y/n"), then=five_outputs(ctx))
    monkeypatch.setattr(setup_ce, "SetupDriver", driver)
    lines = reported(ctx)
    result = setup_ce.run(ctx)
    assert (result.status, result.summary) == ("changed", "CE setup completed as primary; answered 2 prompts")
    given = driver.given[0]
    assert given["argv"] == ["./setup"] and given["cwd"] == ctx.cfg.ce_dir and given["table"] is PRIMARY_PROMPTS
    assert given["limits"] == DriverLimits(total=1200, prompt_silence=300, unknown_prompt_silence=45)
    assert given["env"] == PLAIN_ENV and given["log"] == ctx.log.info
    assert (given["answers"].jwt_secret, given["answers"].maintenance_password, given["answers"].role) == (JWT, PASSWORD, "primary")
    assert lines == [
        progress_line("setup", f"running CE's setup as primary (up to 1200 s; its output stays in {ctx.log.path})"),
        progress_line("setup", "CE's setup: 1 prompts answered"),
        progress_line("setup", "CE's setup: 2 prompts answered"),
    ]
    assert f"running ./setup in {ctx.cfg.ce_dir} as primary" in log_of(ctx)
    assert marker(ctx)["role"] == "primary" and marker(ctx)["commit"] == COMMIT

    again = setup_ce.run(ctx)
    assert (again.status, again.summary) == ("unchanged", "CE setup already done as primary with these settings (--force runs it again)")
    assert len(driver.given) == 1
    assert setup_ce.run(ctx, force=True).status == "changed" and len(driver.given) == 2


def test_5x_secondary_runs_with_the_shared_folder_and_says_what_was_not_verified(
    make_ctx: MakeCtx, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = five(make_ctx, tmp_path, role="secondary", allow_undersized=True)
    five_outputs(ctx)()
    driver = DriverStandIn(answered=("press Enter",))
    monkeypatch.setattr(setup_ce, "SetupDriver", driver)
    result = setup_ce.run(ctx)
    assert result.summary == "CE setup completed as secondary; answered 1 prompts; some prerequisite checks could not be verified (see log)"
    shared = ctx.cfg.shared_dir
    assert driver.given[0]["argv"] == ["./setup", "--location", shared, "--ignore-failures"]
    assert driver.given[0]["table"] is SECONDARY_PROMPTS
    assert f"running ./setup --location {shared} --ignore-failures in {ctx.cfg.ce_dir} as secondary" in log_of(ctx)
    assert marker(ctx)["role"] == "secondary"


def test_5x_setup_without_success_fails_naming_exit_and_last_line(make_ctx: MakeCtx, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = five(make_ctx, tmp_path)
    monkeypatch.setattr(setup_ce, "SetupDriver", DriverStandIn(success=False, exit_status=3, last_line="Error: tenant unreachable"))
    with pytest.raises(PhaseError) as failed:
        setup_ce.run(ctx)
    assert failed.value.what == "CE's setup ended (exit 3) without 'Setup completed successfully'; last output: 'Error: tenant unreachable'"
    assert failed.value.fix == f"read {ctx.log.path} (CE's own checks say what failed; lab nodes may need cloud-exchange-ha:allowUndersized)"
    assert marker(ctx) == {}


def test_5x_setup_reports_the_staged_checkout_first(make_ctx: MakeCtx, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = five(make_ctx, tmp_path)
    monkeypatch.setattr(setup_ce, "SetupDriver", DriverStandIn())
    monkeypatch.setattr(staged, "check_out", lambda ctx: "checked out v5.1.2 (was 0123456789ab)")
    assert setup_ce.run(ctx).summary == "CE setup completed as primary; checked out v5.1.2 (was 0123456789ab); answered 0 prompts"


# ==== 6.x: the parts ===============================================================================

GLUSTER_INFO = ("gluster", "--mode=script", "--xml", "volume", "info", "CloudExchange")


def six_node(make_ctx: MakeCtx, tmp_path: Path, role: str = "primary", **over: Any) -> tuple[Ctx, FakeRunner]:
    ip = "127.0.0.21" if role == "primary" else "127.0.0.22"
    ctx, runner = six(make_ctx, tmp_path, "setup", role=role, node_ip=ip, timeouts={"setup": 1500, "gluster": 77},
                      ce_dir=str(tmp_path / "ta_cloud_exchange"), **over)  # fmt: skip
    write_secrets(ctx)
    python_on(runner)
    runner.on("git", out=COMMIT + "\n")
    Path(ctx.cfg.ce_dir).mkdir(parents=True)
    (Path(ctx.cfg.ce_dir) / "setup").write_text("")
    return ctx, runner


def mount(ctx: Ctx) -> None:
    """``/proc/self/mountinfo`` with the volume at the data folder."""
    Path(ctx.env.host_path("/proc/self/mountinfo")).write_text(
        f"22 1 8:1 / / rw - ext4 /dev/root rw\n99 22 0:60 / {gluster.layout(ctx).mount_dir} rw - fuse.glusterfs {ctx.cfg.node_ip}:/CloudExchange rw\n"
    )


def unmounted(ctx: Ctx) -> None:
    Path(ctx.env.host_path("/proc/self/mountinfo")).write_text("22 1 8:1 / / rw - ext4 /dev/root rw\n")


def volume(runner: FakeRunner, ctx: Ctx, ips: tuple[str, ...]) -> None:
    """``gluster volume info CloudExchange``: a replica volume with these nodes' bricks (none: no volume)."""
    brick_dir = gluster.layout(ctx).brick_dir
    if not ips:
        runner.on(*GLUSTER_INFO, out=cli_output("", op_ret=-1, errno=30806, errstr="Volume CloudExchange does not exist"))
        return
    bricks = "".join(f"<brick>{ip}:{brick_dir}<name>{ip}:{brick_dir}</name></brick>" for ip in ips)
    body = (f"<volInfo><volumes><volume><name>CloudExchange</name><statusStr>Started</statusStr><brickCount>{len(ips)}</brickCount>"
            f"<replicaCount>{len(ips)}</replicaCount><typeStr>Replicate</typeStr><bricks>{bricks}</bricks></volume></volumes></volInfo>")  # fmt: skip
    runner.on(*GLUSTER_INFO, out=cli_output(body))


def primary_token(ctx: Ctx) -> None:
    folder = Path(gluster.layout(ctx).mount_dir) / ".cloud-exchange-ha" / "nodes"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "127.0.0.21").write_text('{"by": "cloud-exchange-ha", "ip": "127.0.0.21", "node": "ce-1"}\n')


def shared_env(ctx: Ctx) -> None:
    config = Path(gluster.layout(ctx).config_dir)
    config.mkdir(parents=True, exist_ok=True)
    (config / ".env").write_text("HA_IP_LIST=127.0.0.21,127.0.0.22,127.0.0.23\n")


def mounting_finds_the_primarys_setup(ctx: Ctx) -> Callable[[list[str]], None]:
    """``mount -t glusterfs``: the volume at the data folder, with the primary's token and shared ``.env`` in it."""

    def mounted(argv: list[str]) -> None:
        mount(ctx)
        primary_token(ctx)
        shared_env(ctx)

    return mounted


def loose_files(ctx: Ctx) -> dict[str, Path]:
    """The files CE's setup leaves open to more than it should (0661: group write, others execute; none world-readable)."""
    config, ce_dir = Path(gluster.layout(ctx).config_dir), Path(ctx.cfg.ce_dir)
    paths = {
        "keys": config / ".env.keys",
        "shared ca": config / "ssl_certs" / "mongodb_rabbitmq_certs" / "tls_cert_ca.key",
        "local ca": ce_dir / "data" / "ssl_certs" / "mongodb_rabbitmq_certs" / "tls_cert_ca.key",
    }
    for path in paths.values():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
        path.chmod(0o661)
    return paths


def test_6x_tightens_the_keys_and_both_ca_keys(make_ctx: MakeCtx, tmp_path: Path) -> None:
    ctx, _ = six_node(make_ctx, tmp_path)
    facts = gluster.layout(ctx)
    assert setup_ce6.tighten_all(ctx, facts) == []  # nothing there yet
    paths = loose_files(ctx)
    assert setup_ce6.tighten_all(ctx, facts) == [
        "shared .env.keys 0661->0440", "shared tls_cert_ca.key 0661->0640", "local tls_cert_ca.key 0661->0640",
    ]  # fmt: skip
    assert [mode_of(p) for p in paths.values()] == [0o440, 0o640, 0o640]
    assert f"tightened {paths['local ca']}: local tls_cert_ca.key 0661->0640" in log_of(ctx)
    assert setup_ce6.tighten_all(ctx, facts) == []


def test_6x_primary_guard(make_ctx: MakeCtx, tmp_path: Path) -> None:
    ctx, runner = six_node(make_ctx, tmp_path)
    facts = gluster.layout(ctx)
    mount(ctx)
    setup_ce6.guard_primary(ctx, facts)
    assert f"{facts.mount_dir} is the CloudExchange mount (fuse.glusterfs from 127.0.0.21:/CloudExchange)" in log_of(ctx)
    assert not runner.ran("gluster")  # mounted: the volume is not even asked

    unmounted(ctx)
    volume(runner, ctx, ())
    setup_ce6.guard_primary(ctx, facts)
    assert "no volume CloudExchange yet: CE's setup creates it" in log_of(ctx)

    volume(runner, ctx, IPS)
    with pytest.raises(PhaseError) as refused:
        setup_ce6.guard_primary(ctx, facts)
    assert refused.value.what == (f"volume CloudExchange exists (1 x 3 = 3 bricks) but {facts.mount_dir} is not its mount: "
                                  "CE's setup would delete and recreate the volume (docs/ce-facts.md §9.12)")  # fmt: skip
    assert refused.value.fix == f"mount it first (mount -t glusterfs 127.0.0.21:/CloudExchange {facts.mount_dir}), then run setup again"


def test_6x_secondary_waits_for_its_brick(make_ctx: MakeCtx, tmp_path: Path) -> None:
    ctx, runner = six_node(make_ctx, tmp_path, role="secondary")
    facts = gluster.layout(ctx)
    for bricks in ((), ("127.0.0.21",), ("127.0.0.21", "127.0.0.23")):
        volume(runner, ctx, bricks)
        with pytest.raises(PhaseError) as refused:
            setup_ce6.prepare_secondary(ctx, facts)
        assert refused.value.what == f"the primary has not added this node's brick 127.0.0.22:{facts.brick_dir} to CloudExchange yet"
        assert refused.value.fix == "run gluster-join for this node first (on the primary: ce-node gluster-join --member 2)"
    assert not runner.ran("mount")


def test_6x_secondary_mounts_the_volume_itself(make_ctx: MakeCtx, tmp_path: Path) -> None:
    ctx, runner = six_node(make_ctx, tmp_path, role="secondary")
    facts = gluster.layout(ctx)
    volume(runner, ctx, IPS)
    unmounted(ctx)
    runner.on("mount", "-t", "glusterfs", action=mounting_finds_the_primarys_setup(ctx))
    calls = with_kwargs(runner)
    changes = setup_ce6.prepare_secondary(ctx, facts)
    assert changes == [f"mounted CloudExchange at {facts.mount_dir}", "shared folder token"]
    assert (["mount", "-t", "glusterfs", "127.0.0.22:/CloudExchange", facts.mount_dir], {"timeout": 77}) in calls
    assert os.path.isdir(facts.mount_dir)

    calls.clear()
    assert setup_ce6.prepare_secondary(ctx, facts) == []  # mounted, token there
    assert not any(argv[0] == "mount" for argv, _ in calls)
    assert f"{facts.mount_dir} is the CloudExchange mount (fuse.glusterfs from 127.0.0.22:/CloudExchange)" in log_of(ctx)


def test_6x_secondary_mount_failures(make_ctx: MakeCtx, tmp_path: Path) -> None:
    ctx, runner = six_node(make_ctx, tmp_path, role="secondary")
    facts = gluster.layout(ctx)
    volume(runner, ctx, IPS)
    unmounted(ctx)

    def hangs(argv: list[str]) -> None:
        raise CommandTimeout(argv, 77)

    outcomes = []
    for rule in ({"action": hangs}, {"rc": 32, "err": "mount error(113): No route to host\n"}, {"rc": 0}):
        runner.on("mount", "-t", "glusterfs", **rule)  # type: ignore[arg-type]
        with pytest.raises(PhaseError) as failed:
            setup_ce6.prepare_secondary(ctx, facts)
        outcomes.append((failed.value.what, failed.value.fix))
    mounting = f"mount -t glusterfs 127.0.0.22:/CloudExchange {facts.mount_dir} failed: "
    fix = "check glusterd on this node and TCP 24007-24029 between the nodes"
    assert outcomes == [
        ("mounting CloudExchange did not finish within 77 s", "check glusterd on this node"),
        (mounting + "mount error(113): No route to host", fix),
        (mounting, fix),  # exit 0, but the data folder is still not the volume's mount
    ]


def test_6x_secondary_needs_the_primarys_env_and_token(make_ctx: MakeCtx, tmp_path: Path) -> None:
    ctx, runner = six_node(make_ctx, tmp_path, role="secondary")
    facts = gluster.layout(ctx)
    volume(runner, ctx, IPS)
    mount(ctx)
    with pytest.raises(PhaseError) as refused:
        setup_ce6.prepare_secondary(ctx, facts)
    assert refused.value.what == f"{facts.config_dir}/.env is missing: the primary's setup has not run"
    assert refused.value.fix == "run setup on the primary first (cutover order: primary, then each secondary)"
    shared_env(ctx)
    with pytest.raises(PhaseError) as unseen:
        setup_ce6.prepare_secondary(ctx, facts)
    assert "shows no token of the primary 127.0.0.21" in unseen.value.what


@pytest.mark.parametrize(
    ("answer", "state", "warning"),
    [
        ("active\n", "cloud-exchange service active", None),
        ("inactive\n", "warning: cloud-exchange service is inactive",
         "the cloud-exchange service is inactive although CE's setup reported it started"),
        ("", "warning: cloud-exchange service is unknown", "the cloud-exchange service is unknown although CE's setup reported it started"),
    ],
)  # fmt: skip
def test_6x_reports_the_service_state(make_ctx: MakeCtx, tmp_path: Path, answer: str, state: str, warning: str | None) -> None:
    ctx, runner = six_node(make_ctx, tmp_path)
    runner.tools.add("systemctl")
    runner.on("/usr/bin/systemctl", "is-active", "cloud-exchange", out=answer)
    calls = with_kwargs(runner)
    assert setup_ce6.service_state(ctx) == state
    assert calls == [(["/usr/bin/systemctl", "is-active", "cloud-exchange"], {"timeout": 60})]
    assert ctx.log.warnings == ([warning] if warning else [])


def test_6x_without_systemctl_says_the_service_was_not_checked(make_ctx: MakeCtx, tmp_path: Path) -> None:
    ctx, runner = six_node(make_ctx, tmp_path)
    assert setup_ce6.service_state(ctx) == "cloud-exchange service not checked (no systemctl)"
    assert ctx.log.warnings == ["no systemctl: the cloud-exchange service was not checked"] and runner.calls == []


def env_for(make_ctx: MakeCtx, tmp_path: Path, proxy: str, pip: str = "") -> tuple[dict[str, str], list[str]]:
    ctx, _ = six_node(make_ctx, tmp_path / str(len(list(tmp_path.iterdir()))), proxy_url=proxy, pip_index_url=pip)
    cfg = ctx.cfg
    answers = Answers(cfg.role, "test", cfg.shared_dir, cfg.cluster_ips, cfg.node_ip, proxy_url=proxy)
    return setup_ce6.setup_env(ctx, answers), ctx.log.warnings


def test_6x_setup_environment(make_ctx: MakeCtx, tmp_path: Path) -> None:
    assert env_for(make_ctx, tmp_path, "") == (PLAIN_ENV, [])
    proxy = "http://ops@proxy.lan:3128"
    no_proxy = "localhost,127.0.0.1,127.0.0.21,127.0.0.22,127.0.0.23"
    assert env_for(make_ctx, tmp_path, proxy, "http://mirror/simple/") == (
        {**PLAIN_ENV, "http_proxy": proxy, "https_proxy": proxy, "HTTP_PROXY": proxy, "HTTPS_PROXY": proxy, "no_proxy": no_proxy,
         "NO_PROXY": no_proxy, "PIP_INDEX_URL": "http://mirror/simple/"},
        [],
    )  # fmt: skip
    assert env_for(make_ctx, tmp_path, "http://ops:S3cret@proxy.lan:3128") == (
        PLAIN_ENV, ["the proxy has a password: CE's own pip/apt runs get no proxy environment (CE uses PROXY_URL for its checks)"]
    )  # fmt: skip


# ==== 6.x: the phase ===============================================================================

SUCCESS_OUT = f"checking ports\nusing {JWT} as given\nSetup completed successfully\n"


def six_setup(runner: FakeRunner, ctx: Ctx, out: str = SUCCESS_OUT, err: str = "", rc: int = 0) -> list[dict[str, Any]]:
    """CE's ``./setup``: checks cloudexchange.config is there, leaves CE's outputs (and the mount on a primary)."""
    seen: list[dict[str, Any]] = []
    ce_dir = Path(ctx.cfg.ce_dir)

    def setup(argv: list[str]) -> CommandResult:
        config = ce_dir / "cloudexchange.config"
        seen.append({"config": config.read_text(), "mode": mode_of(config)})
        (ce_dir / ".env").write_text(f"HA_CURRENT_NODE={ctx.cfg.node_ip}\n")
        (ce_dir / "docker-compose-ha.yml").write_text("")
        (ce_dir / ".cevenv" / "bin").mkdir(parents=True, exist_ok=True)
        (ce_dir / ".cevenv" / "bin" / "activate").write_text("")
        if ctx.cfg.is_primary:
            mount(ctx)
            shared_env(ctx)
            keys = Path(gluster.layout(ctx).config_dir) / ".env.keys"
            keys.write_text("k")
            keys.chmod(0o660)
            local_ca = ce_dir / "data" / "ssl_certs" / "mongodb_rabbitmq_certs" / "tls_cert_ca.key"
            local_ca.parent.mkdir(parents=True, exist_ok=True)
            local_ca.write_text("k")
            local_ca.chmod(0o660)
        return CommandResult(argv, rc, out, err)

    runner.on("/usr/bin/python3", "./setup", action=setup)
    return seen


def test_6x_primary_setup_end_to_end(make_ctx: MakeCtx, tmp_path: Path) -> None:
    ctx, runner = six_node(make_ctx, tmp_path, proxy_url="http://proxy.lan:3128")
    runner.tools.add("systemctl")
    runner.on("/usr/bin/systemctl", "is-active", "cloud-exchange", out="active\n")
    unmounted(ctx)
    volume(runner, ctx, ())
    seen = six_setup(runner, ctx, err=f"pip says {PASSWORD}\n")
    lines = reported(ctx)
    calls = with_kwargs(runner)
    result = setup_ce6.run(ctx)
    assert (result.status, result.summary) == (
        "changed",
        "CE setup completed as primary; with python3 3.12.3; shared folder token; "
        "tightened shared .env.keys 0660->0440; local tls_cert_ca.key 0660->0640; cloud-exchange service active",
    )
    assert seen[0]["mode"] == 0o600 and f"JWT_SECRET={JWT}\n" in seen[0]["config"] and "HA_PRIMARY_NODE_IP=127.0.0.21\n" in seen[0]["config"]
    ce_dir = ctx.cfg.ce_dir
    no_proxy = "localhost,127.0.0.1,127.0.0.21,127.0.0.22,127.0.0.23"
    setup_env = {**PLAIN_ENV, "http_proxy": "http://proxy.lan:3128", "https_proxy": "http://proxy.lan:3128", "HTTP_PROXY": "http://proxy.lan:3128",
                 "HTTPS_PROXY": "http://proxy.lan:3128", "no_proxy": no_proxy, "NO_PROXY": no_proxy}  # fmt: skip
    assert (["/usr/bin/python3", "./setup"], {"cwd": ce_dir, "timeout": 1500, "env": setup_env, "replace_env": True, "log_output": False}) in calls
    assert lines == [
        progress_line("setup", "checking the GlusterFS volume and its mount", 1, 2),
        progress_line("setup", f"running CE's setup as primary (up to 1500 s; its output stays in {ctx.log.path})", 2, 2),
    ]
    log = log_of(ctx)
    assert f"wrote {ce_dir}/cloudexchange.config (0600; content not logged)" in log
    assert f"running /usr/bin/python3 ./setup in {ce_dir} as primary" in log
    assert "  stdout| using *** as given" in log and "  stderr| pip says ***" in log and JWT not in log and PASSWORD not in log
    assert ctx.log.warnings == []
    assert marker(ctx)["role"] == "primary" and marker(ctx)["commit"] == COMMIT

    again = setup_ce6.run(ctx)
    assert (again.status, again.summary) == ("unchanged", "CE setup already done as primary with these settings (--force runs it again)")
    assert len(seen) == 1
    (Path(gluster.layout(ctx).config_dir) / ".env.keys").chmod(0o660)  # a secondary's setup loosened it again
    (Path(gluster.layout(ctx).mount_dir) / ".cloud-exchange-ha" / "nodes" / "127.0.0.21").unlink()  # and the token is gone
    tidied = setup_ce6.run(ctx)
    assert (tidied.status, tidied.summary) == ("changed", "CE setup already done as primary; shared .env.keys 0660->0440; shared folder token")
    assert len(seen) == 1
    assert setup_ce6.run(ctx, force=True).status == "changed" and len(seen) == 2


def test_6x_secondary_setup_reports_its_mount(make_ctx: MakeCtx, tmp_path: Path) -> None:
    ctx, runner = six_node(make_ctx, tmp_path, role="secondary", allow_undersized=True)
    volume(runner, ctx, IPS)
    unmounted(ctx)
    runner.on("mount", "-t", "glusterfs", action=mounting_finds_the_primarys_setup(ctx))
    seen = six_setup(runner, ctx)
    result = setup_ce6.run(ctx)
    mount_dir = gluster.layout(ctx).mount_dir
    assert result.summary == (f"CE setup completed as secondary; with python3 3.12.3; mounted CloudExchange at {mount_dir}; "
                              "shared folder token; cloud-exchange service not checked (no systemctl)")  # fmt: skip
    assert "HA_PRIMARY_NODE_IP" not in seen[0]["config"]
    assert runner.ran("/usr/bin/python3", "./setup", "--ignore-failures")
    assert marker(ctx)["role"] == "secondary"


@pytest.mark.parametrize(
    ("out", "err", "rc", "last"),
    [
        ("Port Check FAIL\nsetup finished\n", "", 0, "setup finished"),
        ("", f"Traceback\nValueError: {PASSWORD}\n", 2, "ValueError: ***"),
        ("  \n", "only stderr\n", 1, "only stderr"),
        ("", "", 1, ""),
        ("x" * 250 + "\n", "", 1, "x" * 200),
    ],
)
def test_6x_setup_failure_names_exit_and_redacted_last_line(make_ctx: MakeCtx, tmp_path: Path, out: str, err: str, rc: int, last: str) -> None:
    ctx, runner = six_node(make_ctx, tmp_path)
    mount(ctx)
    six_setup(runner, ctx, out=out, err=err, rc=rc)
    with pytest.raises(PhaseError) as failed:
        setup_ce6.run(ctx)
    assert failed.value.what == f"CE's setup exited {rc} without 'Setup completed successfully'; last output: {last!r}"
    assert failed.value.fix == f"read {ctx.log.path} (CE's own checks say what failed; lab nodes may need cloud-exchange-ha:allowUndersized)"
    assert marker(ctx) == {}


def test_6x_setup_that_hangs_names_the_timeout(make_ctx: MakeCtx, tmp_path: Path) -> None:
    ctx, runner = six_node(make_ctx, tmp_path)
    mount(ctx)

    def hangs(argv: list[str]) -> None:
        raise CommandTimeout(argv, 1500)

    runner.on("/usr/bin/python3", "./setup", action=hangs)
    with pytest.raises(PhaseError) as failed:
        setup_ce6.run(ctx)
    assert failed.value.what == "CE's setup did not finish within 1500 s"
    assert failed.value.fix == f"read {ctx.log.path}; raise timeouts.setup"


def test_6x_setup_warns_when_ce_generated_a_secret(make_ctx: MakeCtx, tmp_path: Path) -> None:
    ctx, runner = six_node(make_ctx, tmp_path)
    mount(ctx)
    six_setup(runner, ctx, out="Setting following random JWT Secret - abc123\nSetup completed successfully\n")
    setup_ce6.run(ctx)
    assert "CE generated a secret although cloudexchange.config had both (value redacted)" in ctx.log.warnings
    assert "abc123" not in log_of(ctx)


def test_6x_refusals_before_anything_runs(make_ctx: MakeCtx, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx, runner = six_node(make_ctx, tmp_path)
    os.remove(os.path.join(ctx.cfg.ce_dir, "setup"))
    with pytest.raises(PhaseError) as refused:
        setup_ce6.run(ctx)
    assert (refused.value.what, refused.value.fix) == (f"no CE setup script in {ctx.cfg.ce_dir}", "run the fetch-ce phase first")
    assert runner.calls == []


def test_6x_setup_reports_the_staged_checkout_first(make_ctx: MakeCtx, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx, runner = six_node(make_ctx, tmp_path)
    mount(ctx)
    six_setup(runner, ctx)
    monkeypatch.setattr(staged, "check_out", lambda ctx: "checked out v6.1.0 (was 0123456789ab)")
    summary = setup_ce6.run(ctx).summary
    assert summary.startswith("CE setup completed as primary; checked out v6.1.0 (was 0123456789ab); with python3 3.12.3; ")
