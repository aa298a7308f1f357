"""Phase ``setup`` for CE 6.x: write ``cloudexchange.config``, run CE's ``./setup``, tidy up after it.

Owns (docs/ce-facts.md §1.7-§1.9, §2.2, §9.10-§9.12, §C6 and §C9):

* the complete ``cloudexchange.config`` in ``ce_dir`` before every run (root, 0600): UI, TLS,
  ``CE_MANAGEMENT_PORT``, both secrets from secrets.json (explicit, so CE never prints generated
  ones), proxy, the HA keys (``HA_PRIMARY_NODE_IP`` only on the primary), the GlusterFS ports.
  CE blanks the secrets in it after a success; that is left to CE;
* the primary's guard: REFUSE when the volume exists but ``/opt/shared/data`` is not its mount
  (CE would delete and recreate the volume, docs/ce-facts.md §9.12);
* a secondary's preconditions: the primary has added its brick (``gluster-join``), the volume is
  mounted at ``/opt/shared/data`` (``mount -t glusterfs <own ip>:/CloudExchange``, docs/ce-facts.md §1.9 B.3),
  the primary's shared ``.env`` is there and so is the primary's token (``cenode.shared_tokens``:
  the node sees the primary's folder; it leaves its own);
* the primary's token in the volume once CE's setup made and mounted it (and on a re-run);
* running ``<python> ./setup`` as root with the interpreter that satisfies the release's minimum,
  bounded, judged by exit 0 AND ``Setup completed successfully``, its output logged redacted;
* afterwards: ``.env.keys`` to 0440 and ``tls_cert_ca.key`` to 0640 (shared and local copy),
  keeping the containers' group 1001 able to read; ``systemctl is-active cloud-exchange``
  reported (a warning when not active; ``verify`` judges the cluster);
* the re-run marker shared with 5.x (``cenode.setup_marker``, an HMAC of the inputs): same inputs and outputs present ->
  "unchanged" without running CE. The inputs (interpreter, command line, config text), their checks and
  the outputs checked are ``cenode.setup_due``'s, which ``stop`` shares.

Must not touch: the GlusterFS volume itself (CE's setup creates it on the primary; gluster-join
adds bricks), other nodes. The config file never reaches the log.
"""

from __future__ import annotations

import os

from .. import ce6, gluster, lines, setup_due, setup_marker, shared_tokens, staged, upgrade_copies
from ..prompts import Answers
from ..release import SETUP_SUCCESS_TEXT
from ..setup_inputs import child_env
from ..system import CommandTimeout, Ctx, PhaseError, PhaseResult, setting, write_atomic

CONFIG_FILE = "cloudexchange.config"
SERVICE = "cloud-exchange"
#: (path below the shared config dir, mode it is tightened to) - docs/ce-facts.md §C6
TIGHTEN = ((".env.keys", 0o440), ("ssl_certs/mongodb_rabbitmq_certs/tls_cert_ca.key", 0o640))
LOCAL_CA_KEY = "data/ssl_certs/mongodb_rabbitmq_certs/tls_cert_ca.key"


def tighten_all(ctx: Ctx, facts: lines.GlusterFacts) -> list[str]:
    """docs/ce-facts.md §C6, after every setup run (CE writes ``.env.keys`` 0444 again on each node's run)."""
    targets = [(os.path.join(facts.config_dir, rel), mode, f"shared {os.path.basename(rel)}") for rel, mode in TIGHTEN]
    targets.append((os.path.join(ctx.cfg.ce_dir, LOCAL_CA_KEY), 0o640, f"local {os.path.basename(LOCAL_CA_KEY)}"))
    done = []
    for path, mode, label in targets:
        changed = ce6.tighten(path, mode, label)
        if changed:
            done.append(changed)
            ctx.log.info(f"tightened {path}: {changed}")
    return done


def guard_primary(ctx: Ctx, facts: lines.GlusterFacts) -> None:
    """docs/ce-facts.md §9.12: setup on a primary whose volume exists but is not mounted deletes the volume."""
    mounted, how = gluster.mount_state(ctx, facts)
    if mounted:
        ctx.log.info(f"{facts.mount_dir} is the {facts.volume} mount ({how})")
        return
    volume = gluster.volume_info(ctx, facts.volume)  # raises when glusterd does not answer: we cannot tell
    if volume is not None:
        raise PhaseError(
            f"volume {facts.volume} exists ({volume.count or '?'} bricks) but {facts.mount_dir} is not its mount: "
            "CE's setup would delete and recreate the volume (docs/ce-facts.md §9.12)",
            f"mount it first (mount -t glusterfs {ctx.cfg.node_ip}:/{facts.volume} {facts.mount_dir}), then run setup again",
        )
    ctx.log.info(f"no volume {facts.volume} yet: CE's setup creates it")


def prepare_secondary(ctx: Ctx, facts: lines.GlusterFacts) -> list[str]:
    cfg = ctx.cfg
    member = cfg.cluster_ips.index(cfg.node_ip) + 1
    brick = gluster.brick_of(cfg.node_ip, facts)
    volume = gluster.volume_info(ctx, facts.volume)
    if volume is None or brick not in volume.bricks:
        raise PhaseError(
            f"the primary has not added this node's brick {brick} to {facts.volume} yet",
            f"run gluster-join for this node first (on the primary: ce-node gluster-join --member {member})",
        )
    changes = []
    mounted, how = gluster.mount_state(ctx, facts)
    if mounted:
        ctx.log.info(f"{facts.mount_dir} is the {facts.volume} mount ({how})")
    else:
        os.makedirs(facts.mount_dir, exist_ok=True)
        try:
            result = ctx.runner.run(["mount", "-t", "glusterfs", f"{cfg.node_ip}:/{facts.volume}", facts.mount_dir], timeout=ctx.timeout("gluster"))
        except CommandTimeout:
            raise PhaseError(f"mounting {facts.volume} did not finish within {ctx.timeout('gluster')} s", "check glusterd on this node") from None
        if not result.ok or not gluster.mount_state(ctx, facts)[0]:
            raise PhaseError(
                f"mount -t glusterfs {cfg.node_ip}:/{facts.volume} {facts.mount_dir} failed: {result.tail()}",
                "check glusterd on this node and TCP 24007-24029 between the nodes",
            )
        changes.append(f"mounted {facts.volume} at {facts.mount_dir}")
    if not os.path.isfile(os.path.join(facts.config_dir, ".env")):
        raise PhaseError(
            f"{facts.config_dir}/.env is missing: the primary's setup has not run",
            "run setup on the primary first (cutover order: primary, then each secondary)",
        )
    return changes + shared_tokens.mounted(ctx, facts.mount_dir)  # this node's token; the primary's must be there


def service_state(ctx: Ctx) -> str:
    """``systemctl is-active cloud-exchange`` (docs/ce-facts.md §C9: CE says "started" whatever it did)."""
    systemctl = ctx.runner.which("systemctl")
    if not systemctl:
        ctx.log.warn(f"no systemctl: the {SERVICE} service was not checked")
        return f"{SERVICE} service not checked (no systemctl)"
    state = ctx.runner.run([systemctl, "is-active", SERVICE], timeout=60).out.strip() or "unknown"
    if state != "active":
        ctx.log.warn(f"the {SERVICE} service is {state} although CE's setup reported it started")
        return f"warning: {SERVICE} service is {state}"
    return f"{SERVICE} service active"


def setup_env(ctx: Ctx, answers: Answers) -> dict[str, str]:
    """setup's environment: 5.x's plain root one, plus what its pip (``.cevenv``) and apt need.

    CE passes its PROXY_URL to none of them (docs/ce-facts.md §3.2): the proxy goes in as ``http(s)_proxy``
    when it carries no password (a password is never put in an environment); the stack's pip
    mirror as ``PIP_INDEX_URL``.
    """
    env = child_env()
    proxy, user, password = answers.proxy_parts
    if proxy and not password:
        url = ctx.cfg.proxy_url
        env.update(http_proxy=url, https_proxy=url, HTTP_PROXY=url, HTTPS_PROXY=url)
        no_proxy = ",".join(["localhost", "127.0.0.1", *ctx.cfg.cluster_ips])
        env.update(no_proxy=no_proxy, NO_PROXY=no_proxy)
    elif proxy:
        ctx.log.warn("the proxy has a password: CE's own pip/apt runs get no proxy environment (CE uses PROXY_URL for its checks)")
    if ctx.cfg.pip_index_url:
        env["PIP_INDEX_URL"] = ctx.cfg.pip_index_url
    return env


def run(ctx: Ctx, force: bool = False) -> PhaseResult:
    cfg = ctx.cfg
    facts = gluster.layout(ctx)
    ce_dir = cfg.ce_dir
    if not os.path.isfile(os.path.join(ce_dir, "setup")):
        raise PhaseError(f"no CE setup script in {ce_dir}", "run the fetch-ce phase first")
    # an upgrade, on CE's primary in the window: a copy of its stopped CE and the shared folder first (upgrade_copies)
    kept = upgrade_copies.window_copy(ctx) if cfg.is_primary else ""
    checked_out = staged.check_out(ctx)  # an upgrade: the fetched tag, now that CE stopped here (docs/ce-lifecycle.md §2)
    inputs = setup_due.inputs6(ctx, facts)
    answers, argv, config_text, python = inputs.answers, inputs.argv, inputs.config_text, inputs.python
    assert python is not None  # inputs6 refuses without one
    if not force and setup_due.recorded(ctx, inputs) and setup_due.outputs_present6(ctx, facts):  # the volume is mounted
        tightened = tighten_all(ctx, facts) + shared_tokens.mounted(ctx, facts.mount_dir)
        if tightened:
            return PhaseResult("changed", f"CE setup already done as {cfg.role}; {'; '.join(tightened)}")
        return PhaseResult("unchanged", f"CE setup already done as {cfg.role} with these settings (--force runs it again)")

    ctx.progress("checking the GlusterFS volume and its mount", 1, 2)
    changes = prepare_secondary(ctx, facts) if not cfg.is_primary else []
    if cfg.is_primary:
        guard_primary(ctx, facts)
    config_path = os.path.join(ce_dir, CONFIG_FILE)
    write_atomic(config_path, config_text, 0o600)
    ctx.log.info(f"wrote {config_path} (0600; content not logged)")

    ctx.log.info(f"running {' '.join(argv)} in {ce_dir} as {cfg.role}")
    ctx.progress(f"running CE's setup as {cfg.role} (up to {ctx.timeout('setup')} s; its output stays in {ctx.log.path})", 2, 2)
    redact = ce6.output_redactor(answers.secrets())
    try:
        result = ctx.runner.run(argv, cwd=ce_dir, timeout=ctx.timeout("setup"), env=setup_env(ctx, answers), replace_env=True, log_output=False)
    except CommandTimeout:
        raise PhaseError(f"CE's setup did not finish within {ctx.timeout('setup')} s", f"read {ctx.log.path}; raise timeouts.setup") from None
    ctx.log.output("stdout", result.out, redact)
    ctx.log.output("stderr", result.err, redact)
    if not result.ok or SETUP_SUCCESS_TEXT not in result.out:
        last = redact((result.out.strip() or result.err.strip()).splitlines()[-1] if (result.out.strip() or result.err.strip()) else "")
        raise PhaseError(
            f"CE's setup exited {result.rc} without '{SETUP_SUCCESS_TEXT}'; last output: {last[:200]!r}",
            f"read {ctx.log.path} (CE's own checks say what failed; lab nodes may need {setting('allowUndersized')})",
        )
    if "Setting following random" in result.out:
        ctx.log.warn("CE generated a secret although cloudexchange.config had both (value redacted)")
    setup_marker.record(ctx.env.state_dir, inputs.digest, cfg.role, inputs.commit)
    notes = [*(n for n in (kept, checked_out) if n), f"with {python.shown}", *changes]
    if cfg.is_primary:  # CE's setup made and mounted the volume: the primary's token for the secondaries to see
        notes += shared_tokens.mounted(ctx, facts.mount_dir)
    tightened = tighten_all(ctx, facts)
    if tightened:
        notes.append("tightened " + "; ".join(tightened))
    notes.append(service_state(ctx))
    return PhaseResult("changed", f"CE setup completed as {cfg.role}; " + "; ".join(notes))
