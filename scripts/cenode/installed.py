"""The CE a standalone has installed: which version, and whether this program migrates it.

Owns: finding the installed version (docs/ce-facts.md §5.2: ``.env`` INSTALL_VERSION, CORE_TAG,
the local ``.env`` first, then the shared one, then ``git describe`` in the checkout) and the
migrate gate on it (HA needs >= 5.0.0, the setup driver >= its oldest release, the same major line
as the stack's ``ce_version``, no downgrade), as findings with a fix each. ``preflight`` (migrate
primary) and ``inspect --check`` both apply it.

Must not touch: any file (read only).
"""

from __future__ import annotations

import os

from . import ceenv, release
from .findings import Finding
from .git import git
from .system import Ctx, setting


def check_installed_version(installed: release.Version | None, source: str, target: release.Version) -> list[Finding]:
    if installed is None:
        return [
            Finding(
                "fail",
                "cannot tell the installed CE version (no INSTALL_VERSION/CORE_TAG in .env, no git tag)",
                f"check {setting('ceDir')} points at the standalone's ta_cloud_exchange folder",
            )
        ]
    shown = release.format_version(installed)
    out: list[Finding] = []
    if installed < release.HA_MIN_VERSION:
        out.append(Finding("fail", f"installed CE {shown} ({source}) has no HA (needs >= 5.0.0)", "upgrade the standalone CE to 5.1.1+ first"))
    elif installed < release.DRIVER_MIN_VERSION:
        out.append(
            Finding(
                "fail",
                f"installed CE {shown} ({source}) is older than {release.format_version(release.DRIVER_MIN_VERSION)} (oldest setup this driver runs)",
                "upgrade the standalone CE to 5.1.1 or later first",
            )
        )
    if installed[0] != target[0]:
        out.append(
            Finding(
                "fail",
                f"installed CE {shown} is on the {installed[0]}.x line, the stack wants {release.format_version(target)}",
                f"set {setting('ceVersion')} to a v{installed[0]}.x tag or upgrade the standalone first",
            )
        )
    elif installed > target:
        out.append(
            Finding(
                "fail",
                f"installed CE {shown} is newer than the stack's {release.format_version(target)} (no downgrades)",
                f"set {setting('ceVersion')} to v{shown} or later",
            )
        )
    if not out:
        out.append(Finding("ok", f"installed CE {shown} ({source})"))
    return out


def installed_version(ctx: Ctx, ce_dir: str) -> tuple[release.Version | None, str]:
    """docs/ce-facts.md §5.2: .env INSTALL_VERSION, CORE_TAG (local, then shared), then git describe."""
    files = ceenv.CeFiles(ce_dir)
    local = files.env()
    for values, where in ((local, ".env"), (files.shared_env(local), "shared .env")):
        version, key = ceenv.version_from_env(values)
        if version is not None:
            return version, f"{where} {key}"
    if os.path.isdir(os.path.join(ce_dir, ".git")):
        result = ctx.runner.run(git(ce_dir, "describe", "--tags"), timeout=60)
        if result.ok:
            version = ceenv.version_from_describe(result.out)
            if version is not None:
                return version, "git describe"
    return None, ""
