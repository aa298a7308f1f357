"""The CE a standalone has installed: which version, and whether this program migrates it.

Owns: finding the installed version (docs/ce-facts.md §5.2: ``.env`` INSTALL_VERSION, CORE_TAG,
the local ``.env`` first, then the shared one, then ``git describe`` in the checkout) and the
migrate gate on it (HA needs >= 5.0.0, the setup driver >= its oldest release), as findings with a
fix each. ``preflight`` (migrate primary) and ``inspect --check`` both apply it; ``fetch-ce`` asks
:func:`version_mismatch` too, the one rule on which version a migrate adopts (exactly the
installed one: nothing changes the running standalone's checkout before the cutover); once CE's HA
setup has completed on the node, a new version is an upgrade and ``staged.move_refused`` judges it instead.

Must not touch: any file (read only).
"""

from __future__ import annotations

import os

from . import ceenv, release, staged
from .findings import Finding
from .git import git
from .system import Ctx, setting


def adoption_mismatch(installed: release.Version, wanted: release.Version) -> tuple[str, str] | None:
    """``None`` when a migrate may adopt ``installed`` for ``ceVersion`` = ``wanted``, else (what, fix)."""
    if installed == wanted:
        return None
    shown, target = release.format_version(installed), release.format_version(wanted)
    return (
        f"installed CE {shown} differs from {setting('ceVersion')} {target}: a migrate adopts the standalone at the "
        "version it runs and changes nothing in its checkout before the cutover (no upgrade or downgrade on the way)",
        f"set {setting('ceVersion')} to the installed {shown}, or upgrade the standalone to {target} on its own first",
    )


def version_mismatch(installed: release.Version, wanted: release.Version, set_up: bool) -> tuple[str, str] | None:
    """The one rule on moving the installed CE to ``wanted``: before CE's HA setup completed on the node (a migrate's
    standalone) exactly the installed version is adopted; after it, only an allowed upgrade (``staged.move_refused``)."""
    return staged.move_refused(installed, wanted) if set_up else adoption_mismatch(installed, wanted)


def check_installed_version(
    installed: release.Version | None, source: str, target: release.Version, set_up: bool = False
) -> list[Finding]:
    """The migrate gate; ``set_up``: CE's HA setup completed here, so a new target is an upgrade (``staged.move_refused``)."""
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
    mismatch = version_mismatch(installed, target, set_up)
    if mismatch is not None:
        out.append(Finding("fail", *mismatch))
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
