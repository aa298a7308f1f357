"""A CE version fetched but not yet checked out on a node where CE is set up: an upgrade, staged.

Owns: whether CE's HA setup has completed on this node (its setup marker), the commit of the wanted
tag next to the one checked out, why setup is due because of it (:func:`pending`), the checkout of
that tag at setup time (:func:`check_out`: ``core.fileMode=false``, because CE's setup changes the
modes of tracked files and a plain checkout then refuses, docs/ce-lifecycle.md §1.5), and the order
CE's upgrade needs there: a secondary sets up only after CE's primary has set up the new version,
because only the primary's setup writes the new image tags into the shared ``.env`` and a secondary
inherits them (docs/ce-lifecycle.md §1.3, §2 step 4-5).

``fetch-ce`` fetches the tag while CE serves and never checks it out where CE is set up; the setup
phases call :func:`check_out` after the node's ``stop`` (drain or window), so CE runs the old
checkout until it is stopped.

Must not touch: anything but the checkout's HEAD (``check_out``); the rest only reads.
"""

from __future__ import annotations

import os

from . import release, setup_marker, upgrades
from .ce_runtime import local_hello, running
from .ceenv import read_dotenv
from .git import git, head_commit
from .roles import FLAG
from .system import Ctx, PhaseError, setting


def set_up_here(ctx: Ctx) -> bool:
    """CE's HA setup has completed on this node and CE is still configured so: the setup phase's marker exists and CE's
    ``.env`` names this node ``HA_CURRENT_NODE`` (a standalone restored by ``restore-standalone``, or put back by hand,
    has no such key: it is adopted again as a standalone, not upgraded)."""
    if not setup_marker.recorded(ctx.env.state_dir):
        return False
    return read_dotenv(os.path.join(ctx.cfg.ce_dir, ".env")).get("HA_CURRENT_NODE", "") == ctx.cfg.node_ip


def tag_commit(ctx: Ctx, ce_dir: str, tag: str) -> str:
    """The commit of the local tag ``tag`` ("" when the checkout has no such tag)."""
    result = ctx.runner.run(git(ce_dir, "rev-parse", "--verify", "-q", f"refs/tags/{tag}^{{commit}}"), timeout=60)
    return result.out.strip() if result.ok else ""


def waiting_commit(ctx: Ctx) -> str:
    """The wanted tag's commit when it is fetched and not checked out on a node where CE is set up ("" otherwise)."""
    cfg = ctx.cfg
    if not set_up_here(ctx) or not os.path.isdir(os.path.join(cfg.ce_dir, ".git")):
        return ""
    wanted = tag_commit(ctx, cfg.ce_dir, cfg.ce_version)
    return wanted if wanted and wanted != head_commit(ctx, cfg.ce_dir) else ""


def pending(ctx: Ctx) -> str:
    """Why setup is due because of a staged version ("" when none is staged)."""
    if not waiting_commit(ctx):
        return ""
    return f"CE {ctx.cfg.ce_version} is fetched and waits for its checkout (an upgrade: setup checks it out after CE stopped here)"


def primary_version(ctx: Ctx) -> str:
    """``INSTALL_VERSION`` of CE's shared ``.env``: the version CE's primary last set up ("" before any)."""
    return read_dotenv(os.path.join(ctx.cfg.shared_dir, "config", ".env")).get("INSTALL_VERSION", "")


def require_primary_first(ctx: Ctx) -> None:
    """A secondary's setup of a staged version waits for CE's primary to have set up that version."""
    cfg = ctx.cfg
    shared = primary_version(ctx)
    if cfg.is_primary or not shared:
        return
    try:
        same = release.parse_version(shared) == release.parse_version(cfg.ce_version)
    except ValueError:
        same = False
    if not same:
        raise PhaseError(
            f"CE's primary has set up {shared} (INSTALL_VERSION in {cfg.shared_dir}/config/.env), not {cfg.ce_version}: a "
            "secondary inherits the image tags the primary's setup writes (docs/ce-lifecycle.md §1.3), so it sets up after it",
            f"run the window on CE's primary first ({FLAG} in {cfg.shared_dir}/config/.env names it): pulumi up runs it in "
            "that order",
        )


def check_out(ctx: Ctx) -> str:
    """Check out the staged tag (what changed, "" when nothing was staged); PhaseError when git refuses."""
    cfg = ctx.cfg
    commit = waiting_commit(ctx)
    if not commit:
        return ""
    require_primary_first(ctx)
    still = running(ctx, lambda: local_hello(cfg.node_ip))
    if still:  # CE's stop comes first in its order (the drain or the window); never swap the code under a running CE
        raise PhaseError(f"CE still runs here ({', '.join(still)}): the staged {cfg.ce_version} is checked out only after CE's stop",
                         "let pulumi up run this node's stop first (drain or window), or stop CE here: ce-node stop --force")
    before = head_commit(ctx, cfg.ce_dir)
    ctx.progress(f"checking out {cfg.ce_version} (staged by fetch-ce)")
    result = ctx.runner.run(git(cfg.ce_dir, "-c", "core.fileMode=false", "-c", "advice.detachedHead=false", "checkout",
                                "--quiet", "--detach", commit), timeout=300)
    if not result.ok:
        raise PhaseError(f"git checkout {cfg.ce_version} failed in {cfg.ce_dir}: {result.tail()}",
                         f"look at {cfg.ce_dir} (git status): CE's setup refuses modified tracked files; revert them")
    return f"checked out {cfg.ce_version} (was {before[:12] or 'nothing'})"


def move_refused(installed: release.Version, wanted: release.Version) -> tuple[str, str] | None:
    """On a node where CE is set up: (what, fix) when CE may not move from ``installed`` to ``wanted``, else None."""
    change = upgrades.classify(release.format_version(installed), release.format_version(wanted))
    if not change.refused:
        return None
    why = "a downgrade (CE has none)" if change.kind == upgrades.DOWNGRADE else "on no upgrade path CE's scripts support"
    return (
        f"CE {change.deployed} runs here and {setting('ceVersion')} is {change.wanted}: {why}; allowed: {upgrades.listed()}",
        f"set {setting('ceVersion')} back to {change.deployed}, or to a version on an allowed path",
    )
