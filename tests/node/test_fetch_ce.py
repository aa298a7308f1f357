"""fetch-ce against the stand-in CE repository: clone, pin, idempotence, refusals."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from scripts.cenode import release, setup_marker, staged
from scripts.cenode.phases import fetch_ce
from scripts.cenode.system import Ctx, PhaseError

from .conftest import FakeRunner, RecordingRunner, real_ctx


def git(repo: Path | str, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


def fetch(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], repo: str, ce_dir: Path, tag: str = "v5.1.2") -> tuple[Ctx, RecordingRunner]:
    ctx, _ = make_ctx("fetch-ce", ce_repo_url=repo, ce_dir=str(ce_dir), ce_version=tag)
    real_ctx(ctx)
    assert isinstance(ctx.runner, RecordingRunner)
    return ctx, ctx.runner


def network_calls(runner: RecordingRunner) -> list[list[str]]:
    return [c for c in runner.calls if "clone" in c or "fetch" in c]


def test_fresh_clone_is_detached_at_the_tag_and_safe(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], standin_repo: str, tmp_path: Path) -> None:
    ce_dir = tmp_path / "opt" / "ta_cloud_exchange"
    ctx, _ = fetch(make_ctx, standin_repo, ce_dir)
    result = fetch_ce.run(ctx)
    assert result.status == "changed" and "cloned" in result.summary
    assert git(ce_dir, "rev-parse", "HEAD") == git(standin_repo, "rev-parse", "v5.1.2^{commit}")
    assert subprocess.run(["git", "-C", str(ce_dir), "symbolic-ref", "-q", "HEAD"], capture_output=True).returncode != 0  # detached
    assert (ce_dir / "setup").is_file()
    gitconfig = Path(ctx.env.host_path("/etc/gitconfig")).read_text()
    assert f"directory = {ce_dir}" in gitconfig

    again, runner = fetch(make_ctx, standin_repo, ce_dir)
    second = fetch_ce.run(again)
    assert second.status == "unchanged"
    assert network_calls(runner) == []


def test_existing_checkout_moves_to_the_pinned_tag(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], standin_repo: str, tmp_path: Path) -> None:
    ce_dir = tmp_path / "ce"
    subprocess.run(["git", "clone", "-q", standin_repo, str(ce_dir)], check=True)
    git(ce_dir, "checkout", "-q", "v5.1.1")
    (ce_dir / ".env").write_text("INSTALL_VERSION=5.1.1\n")  # untracked CE state must survive
    ctx, runner = fetch(make_ctx, standin_repo, ce_dir)
    result = fetch_ce.run(ctx)
    assert result.status == "changed" and "checked out v5.1.2" in result.summary
    assert network_calls(runner) == []  # the tag was already there
    assert (ce_dir / ".env").read_text() == "INSTALL_VERSION=5.1.1\n"


def test_missing_local_tag_is_fetched_from_the_url(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], standin_repo: str, tmp_path: Path) -> None:
    ce_dir = tmp_path / "ce"
    subprocess.run(["git", "clone", "-q", standin_repo, str(ce_dir)], check=True)
    git(ce_dir, "checkout", "-q", "v5.1.1")
    git(ce_dir, "tag", "-d", "v5.1.2")
    git(ce_dir, "remote", "set-url", "origin", "https://example.invalid/other.git")  # not used: the URL is
    ctx, runner = fetch(make_ctx, standin_repo, ce_dir)
    assert fetch_ce.run(ctx).status == "changed"
    assert len(network_calls(runner)) == 1
    assert git(ce_dir, "rev-parse", "HEAD") == git(standin_repo, "rev-parse", "v5.1.2^{commit}")
    assert git(ce_dir, "remote", "get-url", "origin") == "https://example.invalid/other.git"


def test_unknown_tag_names_the_version_setting(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], standin_repo: str, tmp_path: Path) -> None:
    ctx, _ = fetch(make_ctx, standin_repo, tmp_path / "ce", tag="v5.9.9")
    ctx.sleep = lambda seconds: None
    with pytest.raises(PhaseError) as failed:
        fetch_ce.run(ctx)
    assert "v5.9.9" in failed.value.what and "cloud-exchange-ha:ceVersion" in failed.value.fix


def test_dirty_tree_is_refused_and_left_alone(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], standin_repo: str, tmp_path: Path) -> None:
    ce_dir = tmp_path / "ce"
    subprocess.run(["git", "clone", "-q", standin_repo, str(ce_dir)], check=True)
    git(ce_dir, "checkout", "-q", "v5.1.1")
    (ce_dir / "docker-compose.yml").write_text("patched: true\n")
    ctx, _ = fetch(make_ctx, standin_repo, ce_dir)
    with pytest.raises(PhaseError) as failed:
        fetch_ce.run(ctx)
    assert "docker-compose.yml" in failed.value.what and "stash" in failed.value.fix
    assert git(ce_dir, "rev-parse", "HEAD") == git(standin_repo, "rev-parse", "v5.1.1^{commit}")


def test_foreign_folder_is_refused(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], standin_repo: str, tmp_path: Path) -> None:
    ce_dir = tmp_path / "ce"
    ce_dir.mkdir()
    (ce_dir / "something").write_text("x")
    ctx, _ = fetch(make_ctx, standin_repo, ce_dir)
    with pytest.raises(PhaseError) as failed:
        fetch_ce.run(ctx)
    assert "not a git checkout" in failed.value.what and "cloud-exchange-ha:ceDir" in failed.value.fix


def test_git_gets_the_url_after_double_dash(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], standin_repo: str, tmp_path: Path) -> None:
    ce_dir = tmp_path / "ce"
    ctx, runner = fetch(make_ctx, standin_repo, ce_dir)
    fetch_ce.run(ctx)
    (clone,) = [c for c in network_calls(runner) if "clone" in c]
    assert clone[clone.index("--") + 1:] == [standin_repo, str(ce_dir)]
    git(ce_dir, "tag", "-d", "v5.1.2")
    git(ce_dir, "checkout", "-q", "v5.1.1")
    again, runner = fetch(make_ctx, standin_repo, ce_dir)
    fetch_ce.run(again)
    (fetched,) = network_calls(runner)
    assert fetched[fetched.index("--") + 1] == standin_repo


def test_a_missing_tag_names_the_closest_tag_the_repository_has(
    make_ctx: Callable[..., tuple[Ctx, FakeRunner]], standin_repo: str, tmp_path: Path
) -> None:
    tags = git(standin_repo, "tag", "--list").split()
    assert "v5.1.2" in tags and "v5.1.3" not in tags
    ctx, _ = fetch(make_ctx, standin_repo, tmp_path / "ce", tag="v5.1.3")
    with pytest.raises(PhaseError) as failure:
        fetch_ce.run(ctx)
    line = failure.value.line("fetch-ce")
    assert "tag v5.1.3 not found" in line and "the closest tag there is v5.1.2" in line
    assert "cloud-exchange-ha:ceVersion" in line


def test_an_unreachable_repository_blames_the_url_not_the_version(
    make_ctx: Callable[..., tuple[Ctx, FakeRunner]], standin_repo: str, tmp_path: Path
) -> None:
    ce_dir = tmp_path / "ce"
    subprocess.run(["git", "clone", "-q", standin_repo, str(ce_dir)], check=True)
    ctx, _ = fetch(make_ctx, str(tmp_path / "gone.git"), ce_dir, tag="v5.1.3")
    ctx.sleep = lambda _s: None
    with pytest.raises(PhaseError) as failure:
        fetch_ce.run(ctx)
    line = failure.value.line("fetch-ce")
    assert "cannot fetch tag v5.1.3" in line and "cloud-exchange-ha:ceRepoUrl" in line


@pytest.mark.parametrize(
    ("wanted", "available", "closest"),
    [
        ("v5.1.3", ["5.1.1", "v5.1.2", "v6.0.1", "v6.1.0"], "v5.1.2"),
        ("v6.0.2", ["v6.0.1", "v6.0.3", "latest"], "v6.0.3"),  # a tie goes to the newer tag
        ("v5.1.1", ["5.1.1", "v6.1.0"], "5.1.1"),  # CE spells 5.1.1 without its v
        ("v6.1.0", ["latest", "main"], None),
    ],
)
def test_closest_tag(wanted: str, available: list[str], closest: str | None) -> None:
    assert release.closest_tag(wanted, available) == closest


def test_closest_tag_needs_a_version_tag_to_compare() -> None:
    with pytest.raises(ValueError):
        release.closest_tag("v6.1", ["v6.1.0"])


def standalone(standin_repo: str, ce_dir: Path, tag: str) -> str:
    """A running standalone's checkout at ``tag`` (its .env says so); returns its HEAD."""
    subprocess.run(["git", "clone", "-q", standin_repo, str(ce_dir)], check=True)
    git(ce_dir, "-c", "advice.detachedHead=false", "checkout", "-q", tag)
    (ce_dir / ".env").write_text(f"INSTALL_VERSION={tag.lstrip('v')}\n")
    return git(ce_dir, "rev-parse", "HEAD")


def test_migrate_adopts_the_standalone_at_its_installed_version(
    make_ctx: Callable[..., tuple[Ctx, FakeRunner]], standin_repo: str, tmp_path: Path
) -> None:
    ce_dir = tmp_path / "ce"
    head = standalone(standin_repo, ce_dir, "v5.1.2")
    ctx, _ = make_ctx("fetch-ce", ce_repo_url=standin_repo, ce_dir=str(ce_dir), ce_version="v5.1.2", migrate=True)
    real_ctx(ctx)
    assert fetch_ce.run(ctx).status in ("changed", "unchanged")  # changed: only safe.directory
    assert git(ce_dir, "rev-parse", "HEAD") == head


@pytest.mark.parametrize(("installed", "wanted"), [("v5.1.1", "v5.1.2"), ("v5.1.2", "v5.1.1")])
def test_migrate_never_moves_the_standalones_checkout(
    make_ctx: Callable[..., tuple[Ctx, FakeRunner]], standin_repo: str, tmp_path: Path, installed: str, wanted: str
) -> None:
    ce_dir = tmp_path / "ce"
    head = standalone(standin_repo, ce_dir, installed)
    ctx, _ = make_ctx("fetch-ce", ce_repo_url=standin_repo, ce_dir=str(ce_dir), ce_version=wanted, migrate=True)
    real_ctx(ctx)
    assert isinstance(ctx.runner, RecordingRunner)
    with pytest.raises(PhaseError) as failed:
        fetch_ce.run(ctx)
    assert f"installed CE {installed[1:]} differs from cloud-exchange-ha:ceVersion {wanted[1:]}" in failed.value.what
    assert "before the cutover" in failed.value.what
    assert failed.value.fix.startswith(f"set cloud-exchange-ha:ceVersion to the installed {installed[1:]}")
    assert git(ce_dir, "rev-parse", "HEAD") == head
    assert network_calls(ctx.runner) == [] and not any("checkout" in call for call in ctx.runner.calls)


def test_migrate_refuses_a_standalone_off_the_tags_commit(
    make_ctx: Callable[..., tuple[Ctx, FakeRunner]], standin_repo: str, tmp_path: Path
) -> None:
    ce_dir = tmp_path / "ce"
    standalone(standin_repo, ce_dir, "v5.1.2")
    git(ce_dir, "-c", "advice.detachedHead=false", "checkout", "-q", "v5.1.1")  # same .env, other commit
    head = git(ce_dir, "rev-parse", "HEAD")
    ctx, _ = make_ctx("fetch-ce", ce_repo_url=standin_repo, ce_dir=str(ce_dir), ce_version="v5.1.2", migrate=True)
    real_ctx(ctx)
    with pytest.raises(PhaseError) as failed:
        fetch_ce.run(ctx)
    assert "never moves the standalone's checkout" in failed.value.what and "cloud-exchange-ha:ceVersion" in failed.value.fix
    assert git(ce_dir, "rev-parse", "HEAD") == head


def test_migrate_needs_the_standalones_checkout(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], standin_repo: str, tmp_path: Path) -> None:
    ctx, _ = make_ctx("fetch-ce", ce_repo_url=standin_repo, ce_dir=str(tmp_path / "missing"), migrate=True)
    real_ctx(ctx)
    with pytest.raises(PhaseError) as failed:
        fetch_ce.run(ctx)
    assert "not the standalone's git checkout" in failed.value.what
    assert not (tmp_path / "missing").exists()  # nothing cloned over where the standalone should be


# ---- an upgrade where CE is set up: fetched while CE serves, checked out only by setup (docs/ce-lifecycle.md §2) ----


def set_up_node(ctx: Ctx, ce_dir: Path, tag: str) -> str:
    """A node where CE's HA setup completed at ``tag`` (the setup marker and CE's .env); returns its HEAD."""
    (ce_dir / ".env").write_text(f"INSTALL_VERSION={tag.lstrip('v')}\nHA_CURRENT_NODE={ctx.cfg.node_ip}\n")
    setup_marker.record(ctx.env.state_dir, "digest-of-the-last-setup", "secondary", git(ce_dir, "rev-parse", "HEAD"))
    return git(ce_dir, "rev-parse", "HEAD")


@pytest.mark.parametrize("migrate", [False, True])
def test_an_upgrade_is_fetched_and_staged_never_checked_out(
    make_ctx: Callable[..., tuple[Ctx, FakeRunner]], standin_repo: str, tmp_path: Path, migrate: bool
) -> None:
    ce_dir = tmp_path / "ce"
    subprocess.run(["git", "clone", "-q", "--no-tags", standin_repo, str(ce_dir)], check=True)
    git(ce_dir, "fetch", "-q", standin_repo, "+refs/tags/5.1.1:refs/tags/5.1.1")
    git(ce_dir, "-c", "advice.detachedHead=false", "checkout", "-q", "5.1.1")
    ctx, _ = make_ctx("fetch-ce", ce_repo_url=standin_repo, ce_dir=str(ce_dir), ce_version="v5.1.2", migrate=migrate)
    real_ctx(ctx)
    head = set_up_node(ctx, ce_dir, "5.1.1")
    result = fetch_ce.run(ctx)
    assert result.status == "changed", result.summary
    assert result.summary.startswith("v5.1.2 (") and "staged: CE keeps running 5.1.1 here until its stop" in result.summary
    assert git(ce_dir, "rev-parse", "HEAD") == head  # CE still runs this checkout
    assert git(ce_dir, "rev-parse", "v5.1.2^{commit}") == git(standin_repo, "rev-parse", "v5.1.2^{commit}")
    assert staged.pending(ctx).startswith("CE v5.1.2 is fetched and waits for its checkout")
    again, runner = fetch(make_ctx, standin_repo, ce_dir)
    second = fetch_ce.run(again)
    assert second.status == "unchanged" and "staged" in second.summary and network_calls(runner) == []


@pytest.mark.parametrize(("running", "wanted", "why"), [
    ("v5.1.2", "5.1.1", "CE v5.1.2 runs here and cloud-exchange-ha:ceVersion is 5.1.1: a downgrade (CE has none)"),
    ("5.1.0", "v5.1.2", "CE 5.1.0 runs here and cloud-exchange-ha:ceVersion is v5.1.2: on no upgrade path CE's scripts support"),
])  # fmt: skip
def test_a_move_off_the_upgrade_paths_is_refused_where_ce_is_set_up(
    make_ctx: Callable[..., tuple[Ctx, FakeRunner]], standin_repo: str, tmp_path: Path, running: str, wanted: str, why: str
) -> None:
    ce_dir = tmp_path / "ce"
    subprocess.run(["git", "clone", "-q", standin_repo, str(ce_dir)], check=True)
    git(ce_dir, "-c", "advice.detachedHead=false", "checkout", "-q", f"v{running.lstrip('v')}")
    ctx, _ = make_ctx("fetch-ce", ce_repo_url=standin_repo, ce_dir=str(ce_dir), ce_version=wanted)
    real_ctx(ctx)
    head = set_up_node(ctx, ce_dir, running)
    with pytest.raises(PhaseError) as refused:
        fetch_ce.run(ctx)
    assert why in refused.value.what
    assert "allowed: 5.1.1 -> 5.1.2, 6.0.0 -> 6.0.1, 6.0.x -> 6.1.0, 5.1.x -> 6.1.0" in refused.value.what
    assert git(ce_dir, "rev-parse", "HEAD") == head
