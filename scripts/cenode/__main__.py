"""``ce-node [--config-dir DIR] [--log-dir DIR] <phase> [options]``: run one node-side phase.

Owns: the command line, loading node.json, the per-phase log file, and the output contract:

* success: exit 0 and ONE stdout line ``<phase>: ok|changed|unchanged <summary>``
  (``inspect --reveal`` prints one JSON line instead, the only stdout that carries secrets);
* failure: exit 1 and ONE stderr line per problem ``ERROR <phase>: <what> - fix: <what to change>``
  (preflight may print several); details are in ``<log-dir>/<phase>.log``;
* usage or setup errors of the tool itself (bad arguments, not root, unreadable node.json): exit 2;
* ended by SIGTERM (the Pulumi step's outer ``timeout N`` ran out): every command the phase started
  is ended with its process group (``cenode.children``), then exit 1 and ONE line
  ``ERROR <phase>: ended by SIGTERM after ... (the step's outer bound is timeout N s) ...``;
* progress: while it runs, a phase that takes more than a few seconds prints short lines on
  stderr, each starting with ``progress <phase>: `` (what it does now, ``(n/m)`` when counted),
  e.g. ``progress prepare: installing packages (1/6)``. They carry no secret (they pass the same
  redactor as error texts), are also in the log, and are not part of the result: the summary (or
  ERROR) lines above stay as they are. ``pulumi up`` shows them as the step runs, except for steps
  whose output is secret (``setup`` in the cutover, ``inspect --reveal``): those are silent, as the
  offline plan marks them.

``verify`` hands its options to :func:`cenode.health.main` (0 healthy, 1 not, 2 bad arguments).

The phases, their options and where each is implemented come from ``catalogue.PHASES``; a phase
the catalogue marks per-line runs what the node's release line names (``ctx.line.phases``); a
phase that changes the node runs holding the node-wide lock (``nodelock``); a phase marked
``runtime_role`` gets node.json with the role CE's primary flag gives the node (``roles``) and, with
``--role``, acts only where the node has that role (the plan runs such steps on every node in turn).

Must not touch: anything itself; phases are imported lazily so that wait/preflight/prepare run
on a bare python3 (no pexpect, pymongo or cryptography needed for them).
"""

from __future__ import annotations

import argparse
import importlib
import json
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from . import catalogue, ce_runtime, children, lines, nodeconfig, roles, setup_marker
from .nodelock import NodeLock
from .system import Ctx, NodeEnv, PhaseError, PhaseLog, PhaseResult, Runner, is_root, setting

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

def build_parser() -> argparse.ArgumentParser:
    """``ce-node``'s command line, one sub-command per phase of the catalogue."""
    parser = argparse.ArgumentParser(prog="ce-node", description="Node-side phases of cloud-exchange-ha (run as root).")
    parser.add_argument("--config-dir", default=nodeconfig.CONFIG_DIR, help="where node.json and secrets.json are (default %(default)s)")
    parser.add_argument("--log-dir", default=nodeconfig.LOG_DIR, help="where <phase>.log is appended (default %(default)s)")
    sub = parser.add_subparsers(dest="phase", metavar="PHASE", required=True)
    for entry in catalogue.PHASES.values():
        phase = sub.add_parser(entry.name, help=entry.help, description=entry.help)
        groups: dict[str, argparse._MutuallyExclusiveGroup] = {}
        for option in entry.all_options:
            target: argparse._ActionsContainer = phase
            if option.exclusive:
                if option.exclusive not in groups:
                    groups[option.exclusive] = phase.add_mutually_exclusive_group()
                target = groups[option.exclusive]
            target.add_argument(option.flag, **option.argparse_kwargs())
    return parser


def implementation(ctx: Ctx, entry: catalogue.Phase) -> Callable[..., PhaseResult] | PhaseResult:
    """The phase's entry function (imported now), or the result of a per-line phase the node's line does without."""
    chosen: lines.PhaseTarget = entry.implementation
    if chosen is catalogue.PER_LINE:
        line = ctx.line
        if entry.name not in line.phases:
            raise PhaseError(f"CE {line.name} has no {entry.name} phase",
                             f"this phase is for another release line than {setting('ceVersion')} {ctx.cfg.ce_version}")
        chosen = line.phases[entry.name]
    if isinstance(chosen, lines.NotNeeded):
        return PhaseResult("unchanged", chosen.why)
    module = importlib.import_module(f"{__package__}.{chosen.module}")
    function: Callable[..., PhaseResult] = getattr(module, chosen.function)
    return function


def dispatch(ctx: Ctx, args: argparse.Namespace) -> PhaseResult:
    entry = catalogue.PHASES[args.phase]  # argparse only lets known phases through
    run = implementation(ctx, entry)
    if isinstance(run, PhaseResult):
        return run
    return run(ctx, **{option.dest: getattr(args, option.dest) for option in entry.options})


def role_gate(wanted: str | None, role: str, why: str) -> PhaseResult | None:
    """``--role``: unchanged where the node's CE role is not the one the step is for (None: act)."""
    if wanted is None or wanted == role:
        return None
    if wanted not in catalogue.ROLES:
        raise PhaseError(f"--role {wanted}: not a CE role", f"use one of {', '.join(catalogue.ROLES)}")
    return PhaseResult("unchanged", f"for the CE {wanted} only, and this node is the CE {role} ({why})")


def ended_line(phase: str, entry: catalogue.Phase, ended: children.Ended, seconds: float, log_path: str) -> str:
    """The one line of a phase ended by a signal: which phase, the step's outer timeout, what was ended."""
    name = signal.Signals(ended.signum).name
    groups = f"ended {len(ended.groups)} command process group(s) it had started" if ended.groups else "no command was running"
    return (
        f"ERROR {phase}: ended by {name} after {seconds:.0f} s (the step's outer bound is timeout {entry.outer_s} s); {groups} - fix: "
        f"read {log_path} for the step that hung, then run it again (the phase finishes what it began)"
    )


def _handle_sigterm(handler: Any) -> Any:
    """Install ``handler`` for SIGTERM (only the main thread may); returns the one it replaces."""
    if handler is None or threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, handler)


def _scrubber(config_dir: str) -> Callable[[str], str]:
    """Removes the node's secrets from a text (for unexpected exceptions' messages)."""
    from .redaction import Redactor

    try:
        found = nodeconfig.load_secrets(config_dir)
    except (OSError, ValueError, TypeError):
        return lambda text: text
    return Redactor(found.secret_values())


def main(
    argv: Sequence[str] | None = None,
    env: NodeEnv | None = None,
    out: Callable[[str], None] | None = None,
    err: Callable[[str], None] | None = None,
    progress: Callable[[str], None] | None = None,
) -> int:
    """Run one phase; ``env`` redirects system paths, ``out``/``err``/``progress`` receive lines."""
    out = out or (lambda line: print(line, flush=True))
    err = err or (lambda line: print(line, file=sys.stderr, flush=True))
    progress = progress or (lambda line: print(line, file=sys.stderr, flush=True))
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    phase: str = args.phase
    entry = catalogue.PHASES[phase]
    if extra and not entry.passes_extra_args:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if env is None:
        env = NodeEnv(config_dir=args.config_dir, log_dir=args.log_dir)
    if env.require_root and not is_root():
        err(f"ERROR {phase}: must run as root - fix: run it with sudo")
        return EXIT_USAGE
    if entry.passes_extra_args:  # verify: the health check has its own output contract (table or one JSON line)
        health = importlib.import_module(f"{__package__}.{entry.implementation.module}")
        code: int = getattr(health, entry.implementation.function)([*extra, "--config-dir", env.config_dir, "--log-dir", env.log_dir],
                                                                        gluster=env.gluster)
        return code
    try:
        log = PhaseLog(env.log_dir, phase)
    except OSError as exc:
        err(f"ERROR {phase}: cannot write the log in {env.log_dir}: {exc.strerror} - fix: check the disk and permissions")
        return EXIT_USAGE
    try:
        node = None
        try:
            node = nodeconfig.load_node(env.config_dir)
        except FileNotFoundError:
            if entry.needs_node:
                err(f"ERROR {phase}: {env.config_dir}/node.json is missing - fix: let the program copy the node settings first")
                return EXIT_USAGE
        except (ValueError, TypeError) as exc:  # bad JSON, unknown keys, missing fields
            err(f"ERROR {phase}: {env.config_dir}/node.json is not valid ({exc}) - fix: deploy the bundle and node.json from one program version")
            return EXIT_USAGE
        scrub = _scrubber(env.config_dir)
        ctx = Ctx(phase=phase, env=env, log=log, runner=Runner(log), node=node, report=lambda line: progress(scrub(line)))
        lock = NodeLock(env.state_dir, phase, ctx.timeout("lock")) if entry.changes_node else None
        started = time.monotonic()
        previous = _handle_sigterm(children.on_sigterm(children.CHILDREN))
        try:
            if lock is not None:  # one change at a time per node: a second caller waits, then fails naming the holder
                lock.acquire()
            gated: PhaseResult | None = None
            if entry.runtime_role and ctx.node is not None:  # the CE primary flag, not the program's node order
                # 6.x: the flag is in the GlusterFS volume, which a node never set up (a new VM) mounts only in its own setup
                fresh = ctx.line.gluster is not None and not setup_marker.recorded(env.state_dir)
                ask = ce_runtime.hello if fresh else None
                ctx.node, why = roles.with_runtime_role(ctx.node, ask)
                log.info(f"role: {why}")
                gated = role_gate(args.acting_role, ctx.node.role, why)
            result = gated or dispatch(ctx, args)
        except children.Ended as ended:  # the outer `timeout N` (or someone) ended the phase: its commands are ended too
            line = ended_line(phase, entry, ended, time.monotonic() - started, log.path)
            log.info(line)
            err(line)
            return EXIT_FAILED
        except PhaseError as exc:
            lines = exc.lines(phase) if hasattr(exc, "lines") else [exc.line(phase)]
            for line in lines:
                log.info(line)
                err(line)
            return EXIT_FAILED
        except Exception as exc:  # noqa: BLE001 - one line out, the traceback into the log
            log.write(scrub(traceback.format_exc()))
            err(f"ERROR {phase}: internal error {type(exc).__name__}: {scrub(str(exc))[:200]} - fix: see {log.path}")
            return EXIT_FAILED
        finally:
            if lock is not None:
                lock.release()
            _handle_sigterm(previous)
        if result.status == "reveal":  # inspect --reveal: the JSON line, nothing else
            json.loads(result.summary)  # a broken line must never reach the Pulumi side
            out(result.summary)
            log.info("inspect: revealed version and secrets on stdout (values not logged)")
            return EXIT_OK
        line = result.line(phase)
        log.info(line)
        out(line)
        return EXIT_OK
    finally:
        log.close()


if __name__ == "__main__":
    sys.exit(main())
