"""Phase ``setup``: run CE's ``./setup`` as root in ``ce_dir`` and answer it (5.x: prompts; 6.x: setup_ce6).

Owns: choosing the command line (primary ``./setup``; secondary ``./setup --location
<shared_dir>``; ``--ignore-failures`` only with ``allow_undersized``), the answers (node.json +
root-only secrets.json, never argv/env), running :class:`cenode.prompts.SetupDriver`, judging
success by ``Setup completed successfully`` alone (5.x exits 0 on failure), and a marker in the
state dir so a second run with the same inputs and CE commit does not run setup again.

The marker holds an HMAC (key: a random root-only file next to it) of the inputs, so it reveals
nothing about the secrets. ``--force`` runs setup regardless.

Must not touch: CE's files itself (setup does that), the shared folder.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets

from .. import ceenv
from ..nodeconfig import load_secrets
from ..prompts import PRIMARY_PROMPTS, SECONDARY_PROMPTS, Answers, DriverLimits, SetupDriver
from ..release import SETUP_SUCCESS_TEXT
from ..system import Ctx, PhaseError, PhaseResult, setting, write_atomic
from .preflight import git

MARKER = "setup-done.json"
MARKER_KEY = "setup-marker.key"


def answers_for(ctx: Ctx) -> Answers:
    cfg = ctx.cfg
    wanted = load_secrets(ctx.env.config_dir)
    return Answers(
        role=cfg.role,
        tenant_url=cfg.tenant_url,
        shared_dir=cfg.shared_dir,
        cluster_ips=list(cfg.cluster_ips),
        node_ip=cfg.node_ip,
        ui_protocol=cfg.ui_protocol,
        ui_port=cfg.ui_port,
        tls12=cfg.tls12,
        proxy_url=cfg.proxy_url,
        jwt_secret=wanted.jwt_secret,
        maintenance_password=wanted.maintenance_password,
    )


def setup_argv(role: str, shared_dir: str, ignore_failures: bool) -> list[str]:
    argv = ["./setup"]
    if role != "primary":
        argv += ["--location", shared_dir]
    if ignore_failures:
        argv.append("--ignore-failures")
    return argv


def input_digest(key: bytes, answers: Answers, commit: str, argv: list[str]) -> str:
    fields = {
        "answers": {k: v for k, v in vars(answers).items()},
        "commit": commit,
        "argv": argv,
    }
    canonical = json.dumps(fields, sort_keys=True).encode("utf-8")
    return hmac.new(key, canonical, hashlib.sha256).hexdigest()


def _marker_key(state_dir: str) -> bytes:
    os.makedirs(state_dir, mode=0o700, exist_ok=True)
    path = os.path.join(state_dir, MARKER_KEY)
    if not os.path.exists(path):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(secrets.token_hex(32))
    with open(path, encoding="utf-8") as handle:
        return bytes.fromhex(handle.read().strip())


def outputs_present(ce_dir: str, shared_dir: str, node_ip: str) -> bool:
    """What a completed 5.x HA setup leaves behind on this node and in the shared folder."""
    local = ceenv.read_dotenv(os.path.join(ce_dir, ".env"))
    return (
        local.get("HA_CURRENT_NODE", "") == node_ip
        and os.path.isfile(os.path.join(shared_dir, "config", ".env"))
        and os.path.isfile(os.path.join(ce_dir, "docker-compose-ha.yml"))
    )


def child_env() -> dict[str, str]:
    """setup's environment: a plain root environment, nothing secret, no PYTHONPATH of ours."""
    return {
        "PATH": os.environ.get("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
        "HOME": "/root",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TERM": "dumb",
        "PYTHONUNBUFFERED": "1",
    }


def run(ctx: Ctx, force: bool = False) -> PhaseResult:
    cfg = ctx.cfg
    ce_dir = cfg.ce_dir
    if not os.path.isfile(os.path.join(ce_dir, "setup")):
        raise PhaseError(f"no CE setup script in {ce_dir}", "run the fetch-ce phase first")
    if not os.path.isdir(cfg.shared_dir):
        raise PhaseError(f"shared folder {cfg.shared_dir} is missing", "run the mount phase first")
    if not cfg.is_primary and not os.path.isfile(os.path.join(cfg.shared_dir, "config", ".env")):
        raise PhaseError(
            f"{cfg.shared_dir}/config/.env is missing: the primary's setup has not run",
            "run setup on the primary first (cutover order: primary, then each secondary)",
        )
    answers = answers_for(ctx)
    answers.validate()
    argv = setup_argv(cfg.role, cfg.shared_dir, cfg.allow_undersized)
    head = ctx.runner.run(git(ce_dir, "rev-parse", "HEAD"), timeout=60).out.strip()
    digest = input_digest(_marker_key(ctx.env.state_dir), answers, head, argv)
    marker = os.path.join(ctx.env.state_dir, MARKER)
    previous = ""
    if os.path.exists(marker):
        with open(marker, encoding="utf-8") as handle:
            previous = json.load(handle).get("inputs", "")
    if not force and hmac.compare_digest(previous, digest) and outputs_present(ce_dir, cfg.shared_dir, cfg.node_ip):
        return PhaseResult("unchanged", f"CE setup already done as {cfg.role} with these settings (--force runs it again)")

    ctx.log.info(f"running {' '.join(argv)} in {ce_dir} as {cfg.role}")
    limits = DriverLimits(
        total=ctx.timeout("setup"),
        prompt_silence=ctx.timeout("setup_prompt"),
        unknown_prompt_silence=ctx.timeout("setup_unknown_prompt"),
    )
    table = PRIMARY_PROMPTS if cfg.is_primary else SECONDARY_PROMPTS
    driver = SetupDriver(argv, ce_dir, table, answers, ctx.log.info, limits, env=child_env())
    result = driver.run()
    if not result.success:
        raise PhaseError(
            f"CE's setup ended (exit {result.exit_status}) without '{SETUP_SUCCESS_TEXT}'; last output: {result.last_line!r}",
            f"read {ctx.log.path} (CE's own checks say what failed; lab nodes may need {setting('allowUndersized')})",
        )
    write_atomic(marker, json.dumps({"inputs": digest, "role": cfg.role, "commit": head}) + "\n", 0o600)
    notes = [f"answered {len(result.answered)} prompts"]
    if "press Enter" in result.answered:
        notes.append("some prerequisite checks could not be verified (see log)")
    return PhaseResult("changed", f"CE setup completed as {cfg.role}; " + "; ".join(notes))
