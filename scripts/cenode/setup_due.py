"""Would the setup phase run CE's setup on this node now? Setup's inputs as its marker records them.

Owns, for both release lines, what the ``setup`` phase hands CE's setup (5.x: the command line and
the answers; 6.x: the interpreter, the command line and ``cloudexchange.config``), the checked-out
commit, their digest (``cenode.setup_marker``), what a completed setup leaves on the node, and
:func:`pending`: why setup would run CE's setup again ("" when it would report unchanged).
The setup phases compute their inputs here; ``stop`` asks :func:`pending` before it stops CE, so
a re-run that would change nothing leaves CE running (README "Phases, the downtime window, and
re-runs").

Must not touch: anything (reads the node's files, asks git and the interpreters; the marker key is
made only by :func:`inputs`, which the setup phase calls).
"""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass

from . import ce6, gluster, lines, release, setup_marker, staged
from .ceenv import read_dotenv
from .git import head_commit
from .prompts import Answers
from .setup_inputs import answers_for
from .system import Ctx, PhaseError, setting


@dataclass(frozen=True)
class SetupInputs:
    """What setup would run with on this node (the config text holds secrets: never log it)."""

    argv: list[str]
    commit: str
    digest: str
    answers: Answers
    #: 6.x: the interpreter that runs CE's setup, and the cloudexchange.config it reads
    python: ce6.Python | None = None
    config_text: str = ""


# ---- 5.x: setup answers its prompts ---------------------------------------------------------------


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
    return setup_marker.digest(key, fields)


def inputs5(ctx: Ctx) -> SetupInputs:
    """5.x setup's inputs (the answers validated, as setup needs them)."""
    cfg = ctx.cfg
    answers = answers_for(ctx)
    answers.validate()
    argv = setup_argv(cfg.role, cfg.shared_dir, cfg.allow_undersized)
    head = head_commit(ctx, cfg.ce_dir)
    return SetupInputs(argv, head, input_digest(setup_marker.marker_key(ctx.env.state_dir), answers, head, argv), answers)


def outputs_present5(ce_dir: str, shared_dir: str, node_ip: str) -> bool:
    """What a completed 5.x HA setup leaves behind on this node and in the shared folder."""
    local = read_dotenv(os.path.join(ce_dir, ".env"))
    return (
        local.get("HA_CURRENT_NODE", "") == node_ip
        and os.path.isfile(os.path.join(shared_dir, "config", ".env"))
        and os.path.isfile(os.path.join(ce_dir, "docker-compose-ha.yml"))
    )


# ---- 6.x: setup reads cloudexchange.config --------------------------------------------------------


def validate6(answers: Answers) -> None:
    answers.validate()  # forbidden characters, node_ip in cluster_ips (as for 5.x)
    for value, name in ((answers.maintenance_password, "maintenancePassword"), (answers.jwt_secret, "jwtSecret")):
        if not value:
            raise PhaseError(f"secrets.json has no {name}: CE 6.x would generate one and print it (docs/ce-facts.md §9.10)", f"set {setting(name)}")
        if ce6.unsafe_in_config(value):
            raise PhaseError(f"the {name} cannot be written to cloudexchange.config (line break or surrounding quotes)", f"change {setting(name)}")


def config_input(ctx: Ctx, answers: Answers, facts: lines.GlusterFacts) -> ce6.ConfigInput:
    cfg = ctx.cfg
    line = ctx.line
    proxy, user, password = answers.proxy_parts
    return ce6.ConfigInput(
        ui_protocol=cfg.ui_protocol,
        ui_port=cfg.ui_port,
        management_port=line.management_port or 8000,
        tls12=cfg.tls12,
        maintenance_password=answers.maintenance_password,
        jwt_secret=answers.jwt_secret,
        proxy_url=proxy,
        proxy_username=user,
        proxy_password=password,
        cluster_ips=tuple(cfg.cluster_ips),
        node_ip=cfg.node_ip,
        primary=cfg.is_primary,
        data_dir=facts.mount_dir,
        glusterfs_base_port=facts.bricks.from_port,
        glusterfs_max_port=facts.bricks.to_port,
    )


def inputs6(ctx: Ctx, facts: lines.GlusterFacts) -> SetupInputs:
    """6.x setup's inputs; refuses (PhaseError) what setup would refuse before writing anything."""
    cfg = ctx.cfg
    answers = answers_for(ctx)
    validate6(answers)
    python, seen = ce6.find_python(ctx, ctx.line.python_min)
    if python is None or not python.usable:
        shown = ", ".join(p.shown + ("" if p.usable else " (no venv/ensurepip/pip)") for p in seen) or "none"
        raise PhaseError(
            f"no python >= {release.format_version(ctx.line.python_min)} with venv, ensurepip and pip for CE's setup (found: {shown})",
            "run the prepare phase first (it installs python3-venv and python3-pip)",
        )
    config_text = ce6.render_config(config_input(ctx, answers, facts))
    argv = [python.path, "./setup"] + (["--ignore-failures"] if cfg.allow_undersized else [])
    head = head_commit(ctx, cfg.ce_dir)
    fields = {"config": config_text, "commit": head, "argv": argv, "role": cfg.role}
    digest = setup_marker.digest(setup_marker.marker_key(ctx.env.state_dir), fields)
    return SetupInputs(argv, head, digest, answers, python, config_text)


def outputs_present6(ctx: Ctx, facts: lines.GlusterFacts) -> bool:
    """What a completed 6.x HA setup leaves: reduced local .env, shared .env, compose file, .cevenv, the mount."""
    ce_dir = ctx.cfg.ce_dir
    local = read_dotenv(os.path.join(ce_dir, ".env"))
    return (
        local.get("HA_CURRENT_NODE", "") == ctx.cfg.node_ip
        and os.path.isfile(os.path.join(facts.config_dir, ".env"))
        and os.path.isfile(os.path.join(ce_dir, "docker-compose-ha.yml"))
        and os.path.isfile(os.path.join(ce_dir, ".cevenv", "bin", "activate"))
        and gluster.mount_state(ctx, facts)[0]
    )


# ---- both lines -----------------------------------------------------------------------------------


def recorded(ctx: Ctx, inputs: SetupInputs) -> bool:
    """The last successful setup here ran with exactly these inputs."""
    return hmac.compare_digest(setup_marker.recorded(ctx.env.state_dir), inputs.digest)


def pending(ctx: Ctx) -> str:
    """Why the setup phase would run CE's setup now ("" when it would report unchanged).

    The same inputs, digest and outputs the setup phase of the node's release line checks; anything
    that would make setup refuse or fail counts as a change.
    """
    cfg = ctx.cfg
    if not setup_marker.recorded(ctx.env.state_dir):
        return "CE's setup has not completed here"
    if not os.path.isfile(os.path.join(cfg.ce_dir, "setup")):
        return f"no CE setup script in {cfg.ce_dir}"
    upgrade = staged.pending(ctx)
    if upgrade:
        return upgrade
    six = ctx.line.gluster is not None
    try:
        if six:
            facts = gluster.layout(ctx)
            inputs, present = inputs6(ctx, facts), outputs_present6(ctx, facts)
        else:
            inputs, present = inputs5(ctx), outputs_present5(cfg.ce_dir, cfg.shared_dir, cfg.node_ip)
    except PhaseError as refused:
        return f"setup would refuse: {refused.what}"
    if not recorded(ctx, inputs):
        return "setup's inputs changed since it last completed (CE commit, cluster list, answers or settings)"
    if not present:
        return "what CE's setup leaves on this node is missing"
    return ""

