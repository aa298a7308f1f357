"""Phases ``start`` and ``stop``: CE's ``./start`` / ``./stop``, bounded, judged by cluster state.

Owns: deciding whether to run them (start: not when this node already is a healthy replica-set
member; stop: not when none of CE's containers run, nor, unless ``--force``, when the setup that
follows would change nothing here (``cenode.setup_due``) and this node is a healthy member: a re-run
of the cutover with the same inputs leaves CE running; nor while SELinux is still enabled, which CE's
setup refuses: a RHEL node waiting for its reboot; nor, on a secondary and unless ``--force``, while
CE's primary is not a healthy member), running them with a timeout, and judging the
outcome by what MongoDB's ``hello`` on this node says (docs/ce-facts.md §6.1, §6.3, §9.8: ``./start`` exits
non-zero on a node that already is a member) or by the containers left running (docs/ce-facts.md §9.9:
``./stop`` exits 0 without stopping when ``replica_set --remove`` fails). On the primary, before
anything, the tokens its release line wants seen (5.x: every node's in the shared folder,
``cenode.shared_tokens``): stop is the cutover's first step, so a node that sees another folder
fails it while CE still runs.

Before ``./start`` runs, the CE primary flag and the replica set are checked together
(``roles.check``): a flag naming a dead node or a node that must start first is refused, not run
into. The node's role is the one the flag gives it (``runtime_role`` in the catalogue).

Must not touch: other nodes (the cutover order, primary first, is the Pulumi side's), CE's files.
``pymongo`` (CE's pin, installed by prepare) is imported only in ``ce_runtime.hello``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import roles, selinux, setup_due, shared_tokens
from ..ce_runtime import MONGO_PORT, describe, hello, local_hello, running, running_containers
from ..system import CommandTimeout, Ctx, PhaseError, PhaseResult, read_os, retry, setting

if TYPE_CHECKING:
    from typing_extensions import TypeAlias  # typing.TypeAlias is 3.10+; only the type checker imports this

def is_member(doc: dict[str, Any] | None, node_ip: str) -> bool:
    """This node is listed in its replica set's hosts."""
    if not doc or not doc.get("setName"):
        return False
    me = f"{node_ip}:{MONGO_PORT}"
    return me in doc.get("hosts", []) or doc.get("me") == me


def is_healthy_member(doc: dict[str, Any] | None, node_ip: str) -> bool:
    """A member that is PRIMARY or SECONDARY now (after a failover the CE primary may be SECONDARY)."""
    return is_member(doc, node_ip) and bool(doc and (doc.get("isWritablePrimary") or doc.get("ismaster") or doc.get("secondary")))


def started_as_expected(doc: dict[str, Any] | None, node_ip: str, role: str) -> bool:
    if role == "primary":
        return is_member(doc, node_ip) and bool(doc and (doc.get("isWritablePrimary") or doc.get("ismaster")))
    return is_healthy_member(doc, node_ip)


Probe: TypeAlias = "Callable[[], dict[str, Any] | None]"  # a string: python 3.8 cannot subscript abc.Callable


def wait_for_state(ctx: Ctx, role: str, node_ip: str, probe: Probe) -> dict[str, Any] | None:
    def waiting(doc: dict[str, Any] | None, attempt: int) -> None:
        if attempt == 1:
            ctx.progress(f"waiting up to {ctx.timeout('member')} s for this node to be {'PRIMARY' if role == 'primary' else 'a member'}")
        ctx.log.info(f"replica set: {describe(doc)}")

    return retry(
        probe,
        should_retry=lambda doc: not started_as_expected(doc, node_ip, role),
        log=ctx.log,
        what="replica-set state",
        delay=5,
        budget=ctx.timeout("member"),
        sleep=ctx.sleep,
        clock=ctx.clock,
        on_retry=waiting,
    )


def start(ctx: Ctx, probe: Probe | None = None, ask: roles.Ask | None = None) -> PhaseResult:
    cfg = ctx.cfg
    probe = probe or (lambda: hello(cfg.node_ip))
    before = probe()
    ctx.log.info(f"before start: {describe(before)}")
    if is_healthy_member(before, cfg.node_ip):
        return PhaseResult("unchanged", f"already a healthy member: {describe(before)}")
    if not os.path.isfile(os.path.join(cfg.ce_dir, "start")):
        raise PhaseError(f"no CE start script in {cfg.ce_dir}", "run the fetch-ce and setup phases first")
    if roles.read_flag(cfg) is not None:  # check, then act: CE's ./start follows the flag (docs/ce-lifecycle.md §1.2, §7)
        found = roles.discover(cfg, ask or hello)
        ctx.log.info(f"roles: {found.describe()}")
        roles.check(found, cfg, starting=cfg.node_ip)
    note = ""
    ctx.progress(f"running CE's ./start (up to {ctx.timeout('start')} s)")
    try:
        result = ctx.runner.run(["./start"], cwd=cfg.ce_dir, timeout=ctx.timeout("start"))
        if not result.ok:
            said = result.tail(1)  # e.g. 6.x: ".cevenv/bin/activate: No such file or directory"
            note = f" (./start exited {result.rc}{': ' + said[:160] if said else ''}; judged by the replica set instead)"
    except CommandTimeout:
        note = f" (./start did not return within {ctx.timeout('start')} s and was stopped)"
    after = wait_for_state(ctx, cfg.role, cfg.node_ip, probe)
    ctx.log.info(f"after start: {describe(after)}{note}")
    if not started_as_expected(after, cfg.node_ip, cfg.role):
        wanted = "the writable PRIMARY" if cfg.is_primary else f"a member listed in hosts as {cfg.node_ip}:{MONGO_PORT}"
        fix = (
            f"read {ctx.log.path}; secondaries start only after the primary's start returned"
            if not cfg.is_primary
            else f"read {ctx.log.path} and CE's container logs (docker logs ..._mongodb-primary_1)"
        )
        raise PhaseError(f"after ./start this node is not {wanted}: {describe(after)}{note}", fix)
    return PhaseResult("changed", f"started: {describe(after)}{note}")


def nothing_to_redo(ctx: Ctx, probe: Probe) -> str:
    """Why CE may keep running through this cutover ("" when it must stop), logged either way.

    Only when the setup that follows would change nothing here (``setup_due.pending``: same CE
    commit, cluster list, answers, outputs present) and this node is a healthy member: its mongod
    PRIMARY or SECONDARY and listed in its replica set, none of CE's containers stopped.
    """
    cfg = ctx.cfg
    why = setup_due.pending(ctx)
    if why:
        ctx.log.info(f"stopping: {why}")
        return ""
    doc = probe()
    if not is_healthy_member(doc, cfg.node_ip):
        ctx.log.info(f"stopping: setup would change nothing but this node is not a healthy member ({describe(doc)})")
        return ""
    running_now = running_containers(ctx, cfg.ce_dir)
    stopped = [name for name in running_containers(ctx, cfg.ce_dir, every=True) if name not in running_now]
    if stopped:
        ctx.log.info(f"stopping: setup would change nothing but CE's containers {', '.join(stopped)} are not running")
        return ""
    return f"setup would change nothing here and this node is a healthy member: {describe(doc)}"


def refuse_while_selinux_enabled(ctx: Ctx) -> None:
    """CE's setup, which follows stop in the cutover, refuses SELinux enabled (permissive too, docs/ce-facts.md §4):
    CE is not stopped for a setup that cannot run. Typically a RHEL standalone after prepare, before its reboot."""
    if selinux.current_mode(ctx) == selinux.DISABLED:
        return
    state = selinux.read_state(ctx, read_os(ctx.env))
    fix = "reboot the node (CE keeps running until then), then run pulumi up again"
    if state.boot_missing:
        fix = "run prepare (it disables SELinux from the next boot), reboot the node, then run pulumi up again"
    raise PhaseError(f"{state.describe()}: CE's setup would refuse it, so CE is left running", fix)


def refuse_unless_the_primary_serves(ctx: Ctx, ask: roles.Ask) -> None:
    """A secondary stops (CE's order: before the primary, docs/ce-lifecycle.md §1.2) only while CE's primary serves as a healthy
    member and MongoDB has one PRIMARY: else its stop would take the cluster down or below a majority, and an upgrade or a
    re-run that begins by stopping it must not begin on an unhealthy cluster."""
    cfg = ctx.cfg
    found = roles.discover(cfg, ask)
    ctx.log.info(f"roles before a secondary's stop: {found.describe()}")
    if found.flag is not None and not found.is_healthy(found.flag):
        raise PhaseError(f"CE's primary {found.flag} is not a healthy member [{found.describe()}]: this secondary keeps running",
                         "heal the cluster first (ce-health on a node says what is wrong; a dead primary: replace it), then run again")
    if found.mongo_primary is None:
        raise PhaseError(f"no single MongoDB PRIMARY [{found.describe()}]: this secondary keeps running",
                         "heal the cluster first (ce-health on a node says what is wrong), then run again")


def stop(ctx: Ctx, probe: Probe | None = None, force: bool = False, ask: roles.Ask | None = None) -> PhaseResult:
    cfg = ctx.cfg
    shared_tokens.before_cutover(ctx, cfg.shared_dir)  # 5.x primary: every node sees this folder, before CE goes down
    probe = probe or (lambda: local_hello(cfg.node_ip))
    before = running(ctx, probe)
    if not before:
        return PhaseResult("unchanged", "CE is not running here (no container, mongod not answering)")
    kept = "" if force else nothing_to_redo(ctx, probe)
    if kept:
        return PhaseResult("unchanged", f"CE left running ({kept}; --force stops it)")
    refuse_while_selinux_enabled(ctx)
    if not force and not cfg.is_primary:
        refuse_unless_the_primary_serves(ctx, ask or hello)
    ctx.log.info(f"running before stop: {', '.join(before)}")
    if not os.path.isfile(os.path.join(cfg.ce_dir, "stop")):
        raise PhaseError(f"no CE stop script in {cfg.ce_dir}", f"check {setting('ceDir')} is the CE folder that runs here")
    ctx.progress(f"running CE's ./stop (up to {ctx.timeout('stop')} s): {', '.join(before)}")
    try:
        result = ctx.runner.run(["./stop"], cwd=cfg.ce_dir, timeout=ctx.timeout("stop"))
    except CommandTimeout:
        raise PhaseError(f"./stop did not finish within {ctx.timeout('stop')} s", f"read {ctx.log.path}; raise timeouts.stop") from None
    left = running(ctx, probe)
    if left:
        raise PhaseError(
            f"./stop (exit {result.rc}) left CE running: {', '.join(left)}",
            f"read {ctx.log.path} (replica_set --remove failed?); stop the secondaries before the primary",
        )
    return PhaseResult("changed", f"stopped: {', '.join(before)}")
