"""Running git in the CE checkout (``ce_dir``) as root.

Owns: the argv of a git command in the checkout (``-c safe.directory=<ce_dir>``: root runs git in
a checkout it may not own; git refuses that otherwise) and reading the commit checked out, which
the setup phases put into their re-run marker. ``fetch-ce`` has its own git wrapper (it also
talks to the remote, bounded and retried).

Must not touch: the checkout; the callers here run read-only git commands.
"""

from __future__ import annotations

from .system import Ctx


def git(ce_dir: str, *args: str) -> list[str]:
    return ["git", "-c", f"safe.directory={ce_dir}", "-C", ce_dir, *args]


def head_commit(ctx: Ctx, ce_dir: str) -> str:
    """The commit checked out in ``ce_dir`` ("" when git cannot tell)."""
    return ctx.runner.run(git(ce_dir, "rev-parse", "HEAD"), timeout=60).out.strip()
