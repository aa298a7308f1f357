"""Phase ``inspect`` (primary): the installed CE version and its maintenance password + JWT secret.

Owns: reading them from CE's own files (docs/ce-facts.md §5.1/§5.2, via ``ceenv``) and three ways to answer:
plain (version, and whether the secrets were found), ``--reveal`` (ONE JSON line with the values:
the Pulumi side marks that stdout secret), ``--check`` (the installed version is one this
program migrates to ``ce_version``, and the secrets equal ``<config_dir>/secrets.json``; names
the stack setting that disagrees, printing neither value).

Must not touch: anything (read only). Never writes a secret to the log, argv or environment.
"""

from __future__ import annotations

import hmac
import json
import os

from .. import ceenv, release, staged
from ..findings import Finding, PreflightFailed
from ..installed import check_installed_version, installed_version
from ..nodeconfig import load_secrets
from ..system import Ctx, PhaseError, PhaseResult, setting


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def run(ctx: Ctx, reveal: bool = False, check: bool = False) -> PhaseResult:
    cfg = ctx.cfg
    ce_dir = cfg.ce_dir
    if not os.path.isfile(os.path.join(ce_dir, ".env")):
        raise PhaseError(f"no CE install in {ce_dir} (no .env)", f"set {setting('ceDir')} to the standalone's ta_cloud_exchange folder")
    version, source = installed_version(ctx, ce_dir)
    if version is None:
        raise PhaseError(f"cannot tell the CE version installed in {ce_dir}", f"check {setting('ceDir')}")
    shown = release.format_version(version)
    try:
        found = ceenv.read_secrets(ce_dir)
    except ValueError as exc:  # the message names the file and key, never a value
        raise PhaseError(str(exc), "check CE_SETUP_ID/CE_IV in the CE .env belong to this .env.keys (was .env replaced?)") from None
    except ImportError:
        raise PhaseError("python3-cryptography is not installed", "run the prepare phase first") from None
    ctx.log.info(
        f"CE {shown} ({source}); secrets from {found.source}: maintenance password "
        f"{'found' if found.maintenance_password else 'missing'}, JWT secret {'found' if found.jwt_secret else 'missing'}"
    )
    if check:
        # the version gate first (README step 2: "version, secrets match the stack"), one line each
        failed = [f for f in check_installed_version(version, source, release.parse_version(cfg.ce_version), set_up=staged.set_up_here(ctx))
                  if f.level == "fail"]
        wanted = load_secrets(ctx.env.config_dir)
        problems = []
        if not found.maintenance_password or not wanted.maintenance_password:
            problems.append(("maintenance password missing on the node or in the stack", "maintenancePassword"))
        elif not _same(found.maintenance_password, wanted.maintenance_password):
            problems.append(("the standalone's maintenance password differs from the stack's", "maintenancePassword"))
        if not found.jwt_secret or not wanted.jwt_secret:
            problems.append(("JWT secret missing on the node or in the stack", "jwtSecret"))
        elif not _same(found.jwt_secret, wanted.jwt_secret):
            problems.append(("the standalone's JWT secret differs from the stack's", "jwtSecret"))
        if problems:
            what = "; ".join(p[0] for p in problems)
            fixes = " and ".join(f"pulumi config set --secret {setting(p[1])} <the standalone's value>" for p in problems)
            failed.append(Finding("fail", what, fixes))
        if failed:
            raise PreflightFailed(failed)
        return PhaseResult("ok", f"CE {shown}: maintenance password and JWT secret match the stack")
    if reveal:
        if not found.maintenance_password or not found.jwt_secret:
            missing = [n for n, v in (("maintenance password", found.maintenance_password), ("JWT secret", found.jwt_secret)) if not v]
            raise PhaseError(f"{' and '.join(missing)} not found in {found.source}", "check the standalone's CE install (.env LOCATION)")
        payload = {"ce_version": shown, "maintenance_password": found.maintenance_password, "jwt_secret": found.jwt_secret}
        return PhaseResult("reveal", json.dumps(payload, sort_keys=True))
    return PhaseResult(
        "ok",
        f"ce_version={shown} maintenance_password={'found' if found.maintenance_password else 'missing'} "
        f"jwt_secret={'found' if found.jwt_secret else 'missing'}",
    )
