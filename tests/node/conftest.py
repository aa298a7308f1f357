"""Fixtures for the node-side phase tests: redirected paths, a scripted command runner, node settings."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # the repo has no install step: make ``scripts.cenode`` importable
    sys.path.insert(0, str(REPO))

from scripts.cenode import lines  # noqa: E402
from scripts.cenode.nodeconfig import NodeConfig  # noqa: E402
from scripts.cenode.system import CommandResult, Ctx, NodeEnv, PhaseLog, Runner  # noqa: E402

Handler = Callable[[list[str]], CommandResult]


@dataclass
class Rule:
    prefix: tuple[str, ...]
    rc: int = 0
    out: str = ""
    err: str = ""
    action: Callable[[list[str]], Any] | None = None


@dataclass
class FakeRunner(Runner):
    """Records commands; answers them from rules (longest matching argv prefix wins), else rc 0."""

    log: PhaseLog
    tools: set[str] = field(default_factory=set)
    rules: list[Rule] = field(default_factory=list)
    calls: list[list[str]] = field(default_factory=list)
    #: the environment each call added (``env=``), in call order
    envs: list[dict[str, str]] = field(default_factory=list)

    def on(self, *prefix: str, rc: int = 0, out: str = "", err: str = "", action: Callable[[list[str]], Any] | None = None) -> None:
        self.rules.append(Rule(tuple(prefix), rc, out, err, action))

    def which(self, name: str) -> str | None:
        return f"/usr/bin/{name}" if name in self.tools else None

    def run(self, argv: Sequence[str], **kwargs: Any) -> CommandResult:
        argv = [str(a) for a in argv]
        self.calls.append(argv)
        self.envs.append(dict(kwargs.get("env") or {}))
        best: Rule | None = None
        for rule in self.rules:
            if tuple(argv[: len(rule.prefix)]) == rule.prefix and (best is None or len(rule.prefix) >= len(best.prefix)):
                best = rule
        if best is None:
            return CommandResult(argv, 0, "", "")
        if best.action is not None:
            replaced = best.action(argv)
            if isinstance(replaced, CommandResult):
                return replaced
        return CommandResult(argv, best.rc, best.out, best.err)

    def ran(self, *prefix: str) -> bool:
        return any(tuple(call[: len(prefix)]) == prefix for call in self.calls)


@pytest.fixture
def node_env(tmp_path: Path) -> NodeEnv:
    """System files under tmp/root, config/log/state in tmp; no root needed."""
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "proc" / "self").mkdir(parents=True)
    return NodeEnv(
        root=str(root),
        config_dir=str(tmp_path / "etc-ce"),
        log_dir=str(tmp_path / "log"),
        state_dir=str(tmp_path / "state"),
        require_root=False,
    )


def gluster_layout_at(base_dir: str) -> lines.GlusterFacts:
    """CE 6.x's GlusterFS layout moved under ``base_dir`` (CE fixes /opt/shared; tests hand this in as NodeEnv.gluster)."""
    assert lines.CE6.gluster is not None
    return dataclasses.replace(lines.CE6.gluster, base_dir=base_dir.rstrip("/") or "/")


def make_node(tmp_path: Path, **over: Any) -> NodeConfig:
    values: dict[str, Any] = {
        "node_name": "ce-1",
        "node_ip": "127.0.0.21",
        "role": "primary",
        "cluster_ips": ["127.0.0.21", "127.0.0.22", "127.0.0.23"],
        "ce_version": "v5.1.2",
        "ce_repo_url": "file:///nonexistent",
        "ce_dir": str(tmp_path / "ta_cloud_exchange"),
        "shared_dir": str(tmp_path / "shared"),
    }
    values.update(over)
    return NodeConfig(**values)


@pytest.fixture
def make_ctx(node_env: NodeEnv, tmp_path: Path) -> Iterator[Callable[..., tuple[Ctx, FakeRunner]]]:
    """``make_ctx(phase, node=None, tools=(), real_runner=False, **node_overrides)``."""
    logs: list[PhaseLog] = []

    def build(phase: str = "test", node: NodeConfig | None = None, tools: Sequence[str] = (), **over: Any) -> tuple[Ctx, FakeRunner]:
        log = PhaseLog(node_env.log_dir, phase)
        logs.append(log)
        runner = FakeRunner(log=log, tools=set(tools))
        cfg = node if node is not None else make_node(tmp_path, **over)
        clock = FakeClock()
        ctx = Ctx(phase=phase, env=node_env, log=log, runner=runner, node=cfg, sleep=clock.sleep, clock=clock.now)
        return ctx, runner

    yield build
    for log in logs:
        log.close()


def every_node_sees_the_share(ctx: Ctx) -> None:
    """The tokens each node's mount phase leaves in the shared folder (what a 5.x primary's stop checks)."""
    from scripts.cenode import shared_tokens

    for ip in ctx.cfg.cluster_ips:
        folder = Path(ctx.cfg.shared_dir) / shared_tokens.TOKEN_DIR
        folder.mkdir(parents=True, exist_ok=True)
        (folder / ip).write_text(shared_tokens.token_text(f"node-{ip}", ip))


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


class RecordingRunner(Runner):
    """The real runner, remembering every argv."""

    def __init__(self, log: PhaseLog) -> None:
        super().__init__(log)
        self.calls: list[list[str]] = []

    def run(self, argv: Sequence[str], **kwargs: Any) -> CommandResult:
        self.calls.append([str(a) for a in argv])
        return super().run(argv, **kwargs)


def real_ctx(ctx: Ctx) -> Ctx:
    """The same context with the real command runner (for git, tar)."""
    ctx.runner = RecordingRunner(ctx.log)
    return ctx


FAKES = REPO / "tests" / "fakes"


@pytest.fixture(scope="session")
def standin_repo(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The stand-in CE as a bare git repo: tags v4.2.0, v5.1.0 (version menu), v5.1.1, v5.1.2."""
    if str(FAKES) not in sys.path:
        sys.path.insert(0, str(FAKES))
    from standin_ce.make_repo import make_repo

    return str(make_repo(tmp_path_factory.mktemp("standin-repo")))
