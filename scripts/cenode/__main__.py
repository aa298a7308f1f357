"""``ce-node [--config-dir DIR] [--log-dir DIR] <phase> [options]``: run one node-side phase.

Owns: the command line, loading node.json, the per-phase log file, and the output contract:

* success: exit 0 and ONE stdout line ``<phase>: ok|changed|unchanged <summary>``
  (``inspect --reveal`` prints one JSON line instead, the only stdout that carries secrets);
* failure: exit 1 and ONE stderr line per problem ``ERROR <phase>: <what> - fix: <what to change>``
  (preflight may print several); details are in ``<log-dir>/<phase>.log``;
* usage or setup errors of the tool itself (bad arguments, not root, unreadable node.json): exit 2.

``verify`` hands its options to :func:`cenode.health.main` (0 healthy, 1 not, 2 bad arguments).

Must not touch: anything itself; phases are imported lazily so that wait/preflight/prepare run
on a bare python3 (no pexpect, pymongo or cryptography needed for them).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import traceback
from collections.abc import Callable, Sequence

from . import nodeconfig
from .system import Ctx, NodeEnv, PhaseError, PhaseLog, PhaseResult, Runner, is_root

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

#: phase -> (help, needs node.json)
PHASES: dict[str, tuple[str, bool]] = {
    "wait": ("wait for cloud-init and package-manager locks (bounded)", False),
    "preflight": ("check the node is fit for CE HA; changes nothing", True),
    "prepare": ("install packages, container engine, CE's python pins; disable SELinux", True),
    "mount": ("mount the shared folder (5.x EFS), fstab, docker ordering, CE's shared folders", True),
    "bricks": ("6.x: the brick file system, glusterd's ports, glusterd running", True),
    "fetch-ce": ("CE's repository at the pinned tag in ce_dir", True),
    "backup": ("migrate primary: tarball of ce_dir (5.x: <shared>/backups; 6.x: /var/backups/cloud-exchange-ha)", True),
    "inspect": ("installed CE version and secrets (--reveal prints them as JSON, --check compares)", True),
    "certs": ("copy the standalone's UI and CA certificates into the shared config", True),
    "setup": ("run CE's ./setup (5.x: answering its prompts; 6.x: from cloudexchange.config)", True),
    "gluster-join": ("6.x, on the primary: add member N's brick to CE's GlusterFS volume", True),
    "start": ("CE's ./start, judged by the replica set", True),
    "stop": ("CE's ./stop, judged by the containers left", True),
    "verify": ("cluster health (cenode.health); options after it go to the health check, e.g. --json", False),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ce-node", description="Node-side phases of cloud-exchange-ha (run as root).")
    parser.add_argument("--config-dir", default=nodeconfig.CONFIG_DIR, help="where node.json and secrets.json are (default %(default)s)")
    parser.add_argument("--log-dir", default=nodeconfig.LOG_DIR, help="where <phase>.log is appended (default %(default)s)")
    sub = parser.add_subparsers(dest="phase", metavar="PHASE", required=True)
    for name, (text, _) in PHASES.items():
        phase = sub.add_parser(name, help=text, description=text)
        if name == "wait":
            phase.add_argument("--timeout", type=int, default=None, help="seconds (default: timeouts.wait or 1200)")
        if name == "preflight":
            phase.add_argument("--skip-peers", action="store_true", help="do not probe the other nodes' cluster ports")
        if name == "inspect":
            mode = phase.add_mutually_exclusive_group()
            mode.add_argument("--reveal", action="store_true", help="print ONE JSON line with version and secrets (mark it secret!)")
            mode.add_argument("--check", action="store_true", help="compare the secrets with secrets.json; fail naming the setting")
        if name == "setup":
            phase.add_argument("--force", action="store_true", help="run setup even when it already ran with the same inputs")
        if name == "gluster-join":
            phase.add_argument("--member", type=int, required=True, help="1-based position of the node in cluster_ips (>= 2)")
    return parser


#: phase -> (module under cenode.phases, its entry function, the CLI options it takes);
#: modules are imported only when their phase runs (some need pexpect/pymongo, installed by prepare)
DISPATCH: dict[str, tuple[str, str, Callable[[argparse.Namespace], dict[str, object]]]] = {
    "wait": ("wait", "run", lambda a: {"timeout": a.timeout}),
    "preflight": ("preflight", "run", lambda a: {"skip_peers": a.skip_peers}),
    "prepare": ("prepare", "run", lambda a: {}),
    "mount": ("mount", "run", lambda a: {}),
    "bricks": ("bricks", "run", lambda a: {}),
    "gluster-join": ("gluster_join", "run", lambda a: {"member": a.member}),
    "fetch-ce": ("fetch_ce", "run", lambda a: {}),
    "backup": ("backup", "run", lambda a: {}),
    "inspect": ("inspect_ce", "run", lambda a: {"reveal": a.reveal, "check": a.check}),
    "certs": ("certs", "run", lambda a: {}),
    "setup": ("setup_ce", "run", lambda a: {"force": a.force}),
    "start": ("service", "start", lambda a: {}),
    "stop": ("service", "stop", lambda a: {}),
}


def dispatch(ctx: Ctx, args: argparse.Namespace) -> PhaseResult:
    module_name, function, options = DISPATCH[args.phase]  # argparse only lets known phases through
    module = importlib.import_module(f"{__package__}.phases.{module_name}")
    result: PhaseResult = getattr(module, function)(ctx, **options(args))
    return result


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
) -> int:
    """Run one phase; ``env`` redirects system paths (tests), ``out``/``err`` receive lines."""
    out = out or (lambda line: print(line, flush=True))
    err = err or (lambda line: print(line, file=sys.stderr, flush=True))
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    phase: str = args.phase
    if extra and phase != "verify":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if env is None:
        env = NodeEnv(config_dir=args.config_dir, log_dir=args.log_dir)
    if env.require_root and not is_root():
        err(f"ERROR {phase}: must run as root - fix: run it with sudo")
        return EXIT_USAGE
    if phase == "verify":  # the health check has its own output contract (table or one JSON line)
        from . import health

        return health.main([*extra, "--config-dir", env.config_dir])
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
            if PHASES[phase][1]:
                err(f"ERROR {phase}: {env.config_dir}/node.json is missing - fix: let the program copy the node settings first")
                return EXIT_USAGE
        except (ValueError, TypeError) as exc:  # bad JSON, unknown keys, missing fields
            err(f"ERROR {phase}: {env.config_dir}/node.json is not valid ({exc}) - fix: deploy the bundle and node.json from one program version")
            return EXIT_USAGE
        ctx = Ctx(phase=phase, env=env, log=log, runner=Runner(log), node=node)
        try:
            result = dispatch(ctx, args)
        except PhaseError as exc:
            lines = exc.lines(phase) if hasattr(exc, "lines") else [exc.line(phase)]
            for line in lines:
                log.info(line)
                err(line)
            return EXIT_FAILED
        except Exception as exc:  # noqa: BLE001 - one line out, the traceback into the log
            scrub = _scrubber(env.config_dir)
            log.write(scrub(traceback.format_exc()))
            err(f"ERROR {phase}: internal error {type(exc).__name__}: {scrub(str(exc))[:200]} - fix: see {log.path}")
            return EXIT_FAILED
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
