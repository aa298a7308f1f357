"""Phase ``setup``: run CE's ``./setup`` as root in ``ce_dir`` and answer it (5.x: prompts; 6.x: setup_ce6).

Owns: choosing the command line (primary ``./setup``; secondary ``./setup --location
<shared_dir>``; ``--ignore-failures`` only with ``allow_undersized``), the answers (node.json +
root-only secrets.json, never argv/env), running :class:`cenode.prompts.SetupDriver`, judging
success by ``Setup completed successfully`` alone (5.x exits 0 on failure), and the marker in the
state dir (``cenode.setup_marker``) so a second run with the same inputs and CE commit does not run setup again
(the command line, the inputs' digest and the outputs checked are ``cenode.setup_due``'s, which ``stop`` shares).

The marker holds an HMAC (key: a random root-only file next to it) of the inputs, so it reveals
nothing about the secrets. ``--force`` runs setup regardless.

Must not touch: CE's files itself (setup does that), the shared folder.
"""

from __future__ import annotations

import os

from .. import setup_due, setup_marker, staged, upgrade_copies
from ..prompts import PRIMARY_PROMPTS, SECONDARY_PROMPTS, DriverLimits, SetupDriver
from ..release import SETUP_SUCCESS_TEXT
from ..setup_inputs import child_env
from ..system import Ctx, PhaseError, PhaseResult, setting


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
    # an upgrade, on CE's primary in the window: a copy of its stopped CE and the shared folder first (upgrade_copies)
    kept = upgrade_copies.window_copy(ctx) if cfg.is_primary else ""
    checked_out = staged.check_out(ctx)  # an upgrade: the fetched tag, now that CE stopped here (docs/ce-lifecycle.md §2)
    inputs = setup_due.inputs5(ctx)
    answers, argv = inputs.answers, inputs.argv
    if not force and setup_due.recorded(ctx, inputs) and setup_due.outputs_present5(ce_dir, cfg.shared_dir, cfg.node_ip):
        return PhaseResult("unchanged", f"CE setup already done as {cfg.role} with these settings (--force runs it again)")

    ctx.log.info(f"running {' '.join(argv)} in {ce_dir} as {cfg.role}")
    limits = DriverLimits(
        total=ctx.timeout("setup"),
        prompt_silence=ctx.timeout("setup_prompt"),
        unknown_prompt_silence=ctx.timeout("setup_unknown_prompt"),
    )
    table = PRIMARY_PROMPTS if cfg.is_primary else SECONDARY_PROMPTS
    ctx.progress(f"running CE's setup as {cfg.role} (up to {limits.total} s; its output stays in {ctx.log.path})")
    driver = SetupDriver(
        argv, ce_dir, table, answers, ctx.log.info, limits, env=child_env(),
        on_answer=lambda count: ctx.progress(f"CE's setup: {count} prompts answered"),
    )  # fmt: skip
    result = driver.run()
    if not result.success:
        raise PhaseError(
            f"CE's setup ended (exit {result.exit_status}) without '{SETUP_SUCCESS_TEXT}'; last output: {result.last_line!r}",
            f"read {ctx.log.path} (CE's own checks say what failed; lab nodes may need {setting('allowUndersized')})",
        )
    setup_marker.record(ctx.env.state_dir, inputs.digest, cfg.role, inputs.commit)
    notes = [n for n in (kept, checked_out) if n] + [f"answered {len(result.answered)} prompts"]
    if "press Enter" in result.answered:
        notes.append("some prerequisite checks could not be verified (see log)")
    return PhaseResult("changed", f"CE setup completed as {cfg.role}; " + "; ".join(notes))
