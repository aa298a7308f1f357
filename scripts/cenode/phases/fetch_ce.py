"""Phase ``fetch-ce``: CE's repository at the pinned tag in ``ce_dir`` (detached checkout).

Owns: cloning ``ce_repo_url`` into ``ce_dir`` (or reusing the checkout that is there, e.g. the
standalone's), fetching only the pinned tag when HEAD is not already its commit, refusing a
tree with modified tracked files (``git diff -G.``, the check CE's setup makes), the detached
checkout, and marking ``ce_dir`` as a safe.directory for root (CE's setup runs git as root).

On the adopted primary (migrate) the running standalone's checkout is only checked, never moved:
its installed version must be ``ce_version`` (``installed.version_mismatch``) and HEAD the tag's commit.
Where CE's HA setup has completed (``staged.set_up_here``), a new ``ce_version`` is an upgrade: only an
allowed move (``upgrades``) is fetched, and the tag is staged, not checked out: CE keeps running the old
checkout until its stop, and the setup phase checks the tag out (``staged.check_out``).

Must not touch: untracked/ignored files (CE's ``.env``, ``data/``), the remote's configuration of
an existing checkout, anything outside ``ce_dir`` except the system git config.

The URL always follows ``--`` on git's command line, so no value can be read as an option.
"""

from __future__ import annotations

import os
from typing import NoReturn

from .. import release, staged
from ..installed import installed_version, version_mismatch
from ..system import CommandResult, Ctx, PhaseError, PhaseResult, retry, setting

SYSTEM_GITCONFIG = "/etc/gitconfig"
GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "/bin/true", "GIT_SSH_COMMAND": "ssh -o BatchMode=yes"}


class Git:
    def __init__(self, ctx: Ctx, ce_dir: str) -> None:
        self.ctx = ctx
        self.ce_dir = ce_dir

    def __call__(self, *args: str, timeout: float = 120) -> CommandResult:
        argv = ["git", "-c", f"safe.directory={self.ce_dir}", "-c", "advice.detachedHead=false", "-C", self.ce_dir, *args]
        return self.ctx.runner.run(argv, timeout=timeout, env=GIT_ENV)

    def network(self, *args: str) -> CommandResult:
        """A git command that talks to the remote: bounded, retried on failure."""
        return retry(
            lambda: self(*args, timeout=self.ctx.timeout("git")),
            attempts=3,
            delay=10,
            should_retry=lambda r: not r.ok,
            log=self.ctx.log,
            what=f"git {args[0]}",
            sleep=self.ctx.sleep,
        )

    def rev(self, ref: str) -> str | None:
        result = self("rev-parse", "--verify", "-q", f"{ref}^{{commit}}")
        return result.out.strip() if result.ok and result.out.strip() else None


def clone(ctx: Ctx, url: str, ce_dir: str) -> None:
    parent = os.path.dirname(ce_dir.rstrip("/")) or "/"
    os.makedirs(parent, exist_ok=True)
    result = retry(
        lambda: ctx.runner.run(["git", "clone", "--no-checkout", "--", url, ce_dir], timeout=ctx.timeout("git"), env=GIT_ENV),
        attempts=3,
        delay=10,
        should_retry=lambda r: not r.ok and not _has_repo(ce_dir),
        log=ctx.log,
        what="git clone",
        sleep=ctx.sleep,
    )
    if not result.ok:
        raise PhaseError(f"git clone {url} failed: {result.tail()}", f"check {setting('ceRepoUrl')} and the node's outbound access")


def _has_repo(path: str) -> bool:
    return os.path.isdir(os.path.join(path, ".git"))


def remote_tags(git: Git, url: str) -> list[str] | None:
    """The tag names the repository at ``url`` has (``git ls-remote --tags``); None when it cannot be asked."""
    listed = git.network("ls-remote", "--tags", "--refs", "--", url)
    if not listed.ok:
        return None
    return [line.split("refs/tags/", 1)[1] for line in listed.out.splitlines() if "refs/tags/" in line]


def missing_tag(git: Git, url: str, tag: str, why: str) -> NoReturn:
    """Fail for a tag the fetch did not bring: name the closest tag the repository has, or why it cannot be asked."""
    tags = remote_tags(git, url)
    if tags is None:
        raise PhaseError(
            f"cannot fetch tag {tag} from {url}: {why}",
            f"check {setting('ceRepoUrl')} is reachable from the node and names CE's repository",
        )
    closest = release.closest_tag(tag, tags)
    hint = f"the closest tag there is {closest}" if closest else "it has no CE version tags"
    raise PhaseError(f"tag {tag} not found in {url} ({hint})", f"set {setting('ceVersion')} to a tag the repository has")


def ensure_safe_directory(ctx: Ctx, ce_dir: str) -> bool:
    """``safe.directory = ce_dir`` in the system git config (/etc/gitconfig: root and everyone)."""
    config = ctx.env.host_path(SYSTEM_GITCONFIG)
    current = ctx.runner.run(["git", "config", "--file", config, "--get-all", "safe.directory"], timeout=30)
    if ce_dir in current.out.splitlines() or "*" in current.out.splitlines():
        return False
    result = ctx.runner.run(["git", "config", "--file", config, "--add", "safe.directory", ce_dir], timeout=30)
    if not result.ok:
        raise PhaseError(f"cannot mark {ce_dir} as git safe.directory: {result.tail()}", "check /etc/gitconfig is writable by root")
    return True


def require_adoptable(ctx: Ctx, ce_dir: str) -> None:
    """Migrate: the standalone's checkout runs exactly ``ce_version`` (nothing to check out over it)."""
    if not _has_repo(ce_dir):
        raise PhaseError(f"{ce_dir} is not the standalone's git checkout", f"set {setting('ceDir')} to its ta_cloud_exchange folder")
    installed, _ = installed_version(ctx, ce_dir)
    if installed is None:
        raise PhaseError(f"cannot tell the CE version installed in {ce_dir}", f"check {setting('ceDir')} points at the standalone's CE")
    mismatch = version_mismatch(installed, release.parse_version(ctx.cfg.ce_version), set_up=False)
    if mismatch is not None:
        raise PhaseError(*mismatch)


def require_allowed_move(ctx: Ctx, ce_dir: str) -> release.Version | None:
    """Where CE is set up (HA): the version it runs may move to ``ce_version`` only on an allowed upgrade path."""
    installed, _ = installed_version(ctx, ce_dir)
    if installed is None:
        return None
    refused = version_mismatch(installed, release.parse_version(ctx.cfg.ce_version), set_up=True)
    if refused is not None:
        raise PhaseError(*refused)
    return installed


def run(ctx: Ctx) -> PhaseResult:
    cfg = ctx.cfg
    ce_dir = os.path.normpath(cfg.ce_dir)
    tag = cfg.ce_version
    changes: list[str] = []
    # once CE's setup completed here (the cutover ran), the node runs HA CE: a version change is an upgrade, staged
    # (fetched, checked out by setup after CE's stop); before that, the standalone is adopted as it is
    set_up = staged.set_up_here(ctx)
    adopted = cfg.adopted and not set_up
    running_version = require_allowed_move(ctx, ce_dir) if set_up else None
    if adopted:
        require_adoptable(ctx, ce_dir)
    if os.path.exists(ce_dir) and not _has_repo(ce_dir):
        if os.listdir(ce_dir):
            raise PhaseError(
                f"{ce_dir} exists, is not empty and is not a git checkout",
                f"move it away or set {setting('ceDir')} to another folder",
            )
    cloned = False
    if not _has_repo(ce_dir):
        ctx.progress(f"cloning {cfg.ce_repo_url}")
        clone(ctx, cfg.ce_repo_url, ce_dir)  # --no-checkout: the work tree comes from the checkout below
        changes.append(f"cloned {cfg.ce_repo_url}")
        cloned = True
    git = Git(ctx, ce_dir)
    if ensure_safe_directory(ctx, ce_dir):
        changes.append("safe.directory")
    dirty = git("diff", "-G.", "--name-only")
    if not dirty.ok:
        raise PhaseError(f"git diff failed in {ce_dir}: {dirty.tail()}", f"check {ce_dir} is a healthy git checkout")
    modified = [line for line in dirty.out.splitlines() if line.strip()]
    if modified:
        shown = ", ".join(modified[:5]) + (" ..." if len(modified) > 5 else "")
        raise PhaseError(
            f"{ce_dir} has modified tracked files ({shown}); CE's setup refuses such a tree",
            f"revert or stash them in {ce_dir} (git -C {ce_dir} stash)",
        )
    head = git.rev("HEAD")
    target = git.rev(f"refs/tags/{tag}")
    if target is not None and head == target and not cloned:
        status = "changed" if changes else "unchanged"
        return PhaseResult(status, f"{ce_dir} at {tag} ({target[:12]})" + (f"; {', '.join(changes)}" if changes else ""))
    fetched_now = target is None
    if target is None:
        ctx.progress(f"fetching tag {tag}")
        fetched = git.network("fetch", "--no-tags", "--force", "--", cfg.ce_repo_url, f"+refs/tags/{tag}:refs/tags/{tag}")
        if not fetched.ok:
            missing_tag(git, cfg.ce_repo_url, tag, fetched.tail())
        target = git.rev(f"refs/tags/{tag}")
        if target is None:
            missing_tag(git, cfg.ce_repo_url, tag, "")
        if head == target and not cloned:
            return PhaseResult("changed" if changes else "unchanged", f"{ce_dir} at {tag} ({target[:12]})")
    if set_up:
        ran = release.format_version(running_version) if running_version else "the version set up"
        status = "changed" if fetched_now or changes else "unchanged"
        return PhaseResult(status, f"{tag} ({target[:12]}) {'fetched and ' if fetched_now else ''}staged: CE keeps running {ran} "
                                   "here until its stop; setup checks the tag out in CE's order (docs/ce-lifecycle.md §2)")
    if adopted:
        raise PhaseError(
            f"the running standalone's {ce_dir} is at {head[:12] if head else 'no commit'}, not at {tag} ({target[:12]}); "
            "fetch-ce never moves the standalone's checkout before the cutover",
            f"check out {tag} in {ce_dir} yourself (git -C {ce_dir} checkout {tag}) and restart CE, or set {setting('ceVersion')} to what runs",
        )
    ctx.progress(f"checking out {tag}")
    checkout = git("checkout", "--quiet", "--detach", target, timeout=300)
    if not checkout.ok:
        raise PhaseError(f"git checkout {tag} failed in {ce_dir}: {checkout.tail()}", f"look at {ce_dir} (untracked files in the way?)")
    changes.append(f"checked out {tag} (was {head[:12] if head else 'nothing'})")
    return PhaseResult("changed", f"{ce_dir} at {tag} ({target[:12]}); {', '.join(changes)}")
