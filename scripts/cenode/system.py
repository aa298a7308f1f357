"""Shared plumbing for the node-side phases: paths, logging, running commands, results, errors.

Owns: ``NodeEnv`` (where system files, logs, config and state live, so tests can redirect
them), ``PhaseLog`` (the per-phase log file, through stdlib ``logging``), ``Runner`` (run a
command bounded by a timeout, logged, in a process group of its own that ``cenode.children`` ends
with ce-node), ``Ctx`` (what a phase gets), ``PhaseResult`` / ``PhaseError`` (the one-line outcome),
``/etc/os-release`` parsing and the stack-setting names used in "fix:" hints.

Must not touch: anything on the node by itself; it only does what a phase asks. Runs on a bare
python3 (3.8+): standard library only, nothing 3.10+.
"""

from __future__ import annotations

import datetime
import logging
import os
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from .children import CHILDREN
from .nodeconfig import CONFIG_DIR, LOG_DIR, STATE_DIR

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .lines import GlusterFacts, ReleaseLine
    from .nodeconfig import NodeConfig

PROJECT = "cloud-exchange-ha"

#: defaults (seconds) for ``NodeConfig.timeouts``; node.json may override any key. Each phase's
#: bounds stay below the outer ``timeout`` the Pulumi side wraps it in; both are listed per phase
#: in ``catalogue.PHASES`` (a test checks the sums), so a phase reports its own ERROR line instead
#: of being killed.
DEFAULT_TIMEOUTS: dict[str, int] = {
    "wait": 540,  # cloud-init + package locks
    "apt": 900,  # one apt-get/dnf run
    "upgrade": 1200,  # prepare on a new node: the OS's pending updates (apt-get full-upgrade / dnf upgrade)
    "pip": 600,
    "mount": 300,  # all mount attempts together (a new EFS DNS name can take ~90 s to resolve)
    "git": 240,  # one clone/fetch attempt (3 attempts)
    "backup": 1700,
    "setup": 3300,  # whole ./setup run
    "setup_prompt": 900,  # silence while waiting for the next known prompt
    "setup_unknown_prompt": 120,  # silence after something that looks like an unknown prompt
    "start": 1500,
    "member": 240,  # waiting for the replica-set state after ./start
    "stop": 780,
    "peers": 300,  # preflight: how long unreachable peers are re-probed (they may still be booting)
    "peer_connect": 3,  # one TCP connect in the peer check
    "device": 180,  # bricks: waiting for the attached EBS volume to show up
    "gluster": 120,  # one gluster/glusterd command
    "gluster_peer": 180,  # gluster-join, evict: probe until the new peer is Connected
    "gluster_heal": 300,  # evict: re-reading heal info until a replaced node's brick has nothing pending
    "mongo": 30,  # evict: one round of MongoDB commands (hello on every node, or the reconfig on the primary)
    "rabbitmq": 60,  # evict: one rabbitmqctl / rabbitmq-queues command in the rabbitmq-stats container
    "lock": 30,  # waiting for another phase that changes the node (cenode.nodelock)
    "healthy": 300,  # verify --wait: re-checking until the cluster is healthy (a new member's initial sync)
}


def setting(name: str) -> str:
    """The stack setting a user changes, as ``cloud-exchange-ha:<name>`` (for "fix:" hints)."""
    return f"{PROJECT}:{name}"


class PhaseError(Exception):
    """A failure the user can act on: what is wrong, and what to change."""

    def __init__(self, what: str, fix: str) -> None:
        super().__init__(what)
        self.what = what
        self.fix = fix

    def line(self, phase: str) -> str:
        return f"ERROR {phase}: {one_line(self.what)} - fix: {one_line(self.fix)}"


@dataclass
class PhaseResult:
    """The outcome of a phase that did not fail; ``status`` is ok | changed | unchanged."""

    status: str
    summary: str = ""

    def line(self, phase: str) -> str:
        text = f"{phase}: {self.status}"
        return f"{text} {one_line(self.summary)}" if self.summary else text


def one_line(text: str, limit: int = 400) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


@dataclass
class NodeEnv:
    """Where a phase finds the system. Production uses the defaults; a caller may hand in others.

    ``root`` prefixes system files (/proc, /sys, /etc, /var/lib/dpkg); the CE folder and the
    shared folder come from node.json and are used as they are.
    """

    root: str = "/"
    config_dir: str = CONFIG_DIR
    log_dir: str = LOG_DIR
    state_dir: str = STATE_DIR
    require_root: bool = True
    #: CE 6.x's GlusterFS layout; None = the release line's own (CE fixes it under /opt/shared)
    gluster: GlusterFacts | None = None

    def host_path(self, path: str) -> str:
        """``/etc/fstab`` -> ``<root>/etc/fstab``."""
        if self.root in ("", "/"):
            return path
        return os.path.join(self.root, path.lstrip("/"))


class PhaseLog:
    """Appends the details of one phase run to ``<log_dir>/<phase>.log`` (0600, dir 0700).

    A stdlib ``logging`` logger of its own (not in the global registry, not propagating) with one
    handler on that file: ``info``/``warn`` are timestamped records, ``write``/``output`` raw blocks.
    Never give it a secret: everything written here is meant to be read by an operator.
    """

    def __init__(self, log_dir: str, phase: str) -> None:
        os.makedirs(log_dir, mode=0o700, exist_ok=True)
        self.path = os.path.join(log_dir, f"{phase}.log")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._handler = logging.StreamHandler(os.fdopen(fd, "a", encoding="utf-8", errors="replace"))
        self._handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        self._logger = logging.Logger(f"cenode.{phase}", logging.INFO)
        self._logger.propagate = False
        self._logger.addHandler(self._handler)
        self.warnings: list[str] = []
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.write(f"\n===== {stamp} {phase} (pid {os.getpid()}) =====\n")

    def write(self, text: str) -> None:
        """A raw block (no timestamp), e.g. a command's indented output."""
        self._handler.acquire()
        try:
            self._handler.stream.write(text)
            self._handler.flush()
        finally:
            self._handler.release()

    def info(self, message: str) -> None:
        self._logger.info(message)

    def warn(self, message: str) -> None:
        self.warnings.append(message)
        self.info(f"WARNING {message}")

    def output(self, name: str, text: str, redact: Callable[[str], str] | None = None) -> None:
        """A command's ``stdout``/``stderr``, indented; redacted BEFORE a long text is clipped, so a
        secret lying across the cut is never written in part."""
        if text.strip():
            shown = redact(text) if redact is not None else text
            self.write(_indent(_clip(shown), f"  {name}| "))

    def close(self) -> None:
        self._logger.removeHandler(self._handler)
        self._handler.close()
        self._handler.stream.close()


@dataclass
class CommandResult:
    argv: list[str]
    rc: int
    out: str
    err: str

    @property
    def ok(self) -> bool:
        return self.rc == 0

    def tail(self, lines: int = 3) -> str:
        """The last lines of stderr (or stdout), for an error message."""
        text = (self.err.strip() or self.out.strip()).splitlines()
        return " | ".join(text[-lines:])


class CommandTimeout(Exception):
    def __init__(self, argv: Sequence[str], timeout: float) -> None:
        super().__init__(f"{shlex.join(list(argv))} did not finish within {int(timeout)} s")
        self.argv = list(argv)
        self.timeout = timeout


class Runner:
    """Runs commands without a shell, bounded by a timeout, logging command and output.

    The one place the node agent starts a command (besides pexpect's pty for CE 5.x's setup,
    ``prompts.SetupDriver.spawn``): each in a session of its own, registered in
    ``children.CHILDREN`` while it runs, so that ce-node ending on SIGTERM ends it too.

    Never pass a secret in ``argv`` or ``env``: both are logged (argv) or visible in /proc.
    ``input_text`` is sent on stdin and is not logged.
    """

    def __init__(self, log: PhaseLog) -> None:
        self.log = log

    def which(self, name: str) -> str | None:
        return shutil.which(name, path=os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"))

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float = 600,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        input_text: str | None = None,
        log_output: bool = True,
        replace_env: bool = False,
    ) -> CommandResult:
        """``replace_env``: ``env`` is the whole environment (plus the locale), not added to ours."""
        argv = [str(part) for part in argv]
        self.log.info(f"$ {shlex.join(argv)}" + (f"  (cwd {cwd})" if cwd else ""))
        full_env = {} if replace_env and env is not None else dict(os.environ)
        full_env.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        full_env["LC_ALL"] = "C.UTF-8"
        full_env["LANG"] = "C.UTF-8"
        if env:
            full_env.update(env)
        started = time.monotonic()
        try:
            proc = subprocess.Popen(
                argv,
                cwd=cwd,
                env=full_env,
                stdin=subprocess.PIPE if input_text is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            self.log.info(f"  cannot start: {exc}")
            return CommandResult(argv, 127, "", str(exc))
        CHILDREN.started(proc.pid)  # its own group: ended with ce-node (cenode.children)
        try:
            out_b, err_b = proc.communicate(input=input_text.encode() if input_text is not None else None, timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            self.log.info(f"  TIMEOUT after {int(timeout)} s, killed")
            raise CommandTimeout(argv, timeout) from None
        finally:
            CHILDREN.finished(proc.pid)
        out = out_b.decode("utf-8", "replace")
        err = err_b.decode("utf-8", "replace")
        if log_output:
            self.log.output("stdout", out)
            self.log.output("stderr", err)
        self.log.info(f"  rc={proc.returncode} ({time.monotonic() - started:.1f} s)")
        return CommandResult(argv, proc.returncode, out, err)


def never_raising(runner: Runner, timeout_s: int) -> Callable[[Sequence[str]], CommandResult]:
    """``runner.run`` bounded by ``timeout_s``, for a read-only check: a hang is a failed result (exit 124), never an
    exception (the health check's node checks, ``cenode.storage_health`` and ``cenode.broker_health``)."""

    def run(argv: Sequence[str]) -> CommandResult:
        try:
            return runner.run(list(argv), timeout=timeout_s)
        except CommandTimeout as exc:
            return CommandResult(list(argv), 124, "", str(exc))

    return run


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


#: the last characters of a command's output kept in the phase log
LOGGED_OUTPUT_LIMIT = 200_000


def _clip(text: str, limit: int = LOGGED_OUTPUT_LIMIT) -> str:
    return text if len(text) <= limit else "...(clipped)...\n" + text[-limit:]


def _indent(text: str, prefix: str) -> str:
    return "".join(prefix + line + "\n" for line in text.rstrip("\n").splitlines())


T = TypeVar("T")


def retry(
    action: Callable[[], T],
    *,
    should_retry: Callable[[T], bool],
    log: PhaseLog,
    what: str,
    delay: float,
    attempts: int | None = None,
    budget: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    on_retry: Callable[[T, int], None] | None = None,
) -> T:
    """The one retry loop of the node agent: call ``action`` until ``should_retry(result)`` is false,
    at most ``attempts`` times and/or (``budget``) until ``budget`` seconds have passed, waiting
    ``delay`` seconds between calls; returns the last result (the caller decides what a failure says).

    ``on_retry(result, attempt)`` runs before each wait (e.g. a progress line); without it, the wait is logged.
    """
    if attempts is None and budget is None:
        raise ValueError("retry needs attempts or a budget (it is always bounded)")
    deadline = clock() + budget if budget is not None else None
    result = action()
    attempt = 1
    while should_retry(result):
        if attempts is not None and attempt >= attempts:
            break
        if deadline is not None and clock() >= deadline:
            break
        if on_retry is not None:
            on_retry(result, attempt)
        else:
            log.info(f"{what}: attempt {attempt} failed, retrying in {delay:.0f} s")
        sleep(delay)
        result = action()
        attempt += 1
    return result


#: how a progress line starts: ``progress <phase>: <what> (<n>/<m>)`` (the summary line never does)
PROGRESS_PREFIX = "progress "


def progress_line(phase: str, what: str, step: int | None = None, of: int | None = None) -> str:
    counted = f" ({step}/{of})" if step is not None and of is not None else ""
    return f"{PROGRESS_PREFIX}{phase}: {one_line(what, 160)}{counted}"


@dataclass
class Ctx:
    """What a phase gets: its name, paths, log, command runner and the node's settings.

    ``report`` receives the phase's progress lines as they happen (the CLI prints them on stderr);
    by default nobody does.
    """

    phase: str
    env: NodeEnv
    log: PhaseLog
    runner: Runner
    node: NodeConfig | None = None
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    report: Callable[[str], None] | None = None

    def progress(self, what: str, step: int | None = None, of: int | None = None) -> None:
        """Say what the phase does now (``step`` of ``of``); never pass a secret. Also logged."""
        line = progress_line(self.phase, what, step, of)
        self.log.info(line)
        if self.report is not None:
            self.report(line)

    @property
    def cfg(self) -> NodeConfig:
        if self.node is None:
            raise PhaseError(
                f"{os.path.join(self.env.config_dir, 'node.json')} is missing",
                "let the Pulumi program copy the node settings before this phase (provisioning order)",
            )
        return self.node

    def timeout(self, key: str) -> int:
        if self.node is not None and key in self.node.timeouts:
            return int(self.node.timeouts[key])
        return DEFAULT_TIMEOUTS[key]

    @property
    def line(self) -> ReleaseLine:
        """The node's CE release line (``lines.for_version`` of node.json's ``ce_version``)."""
        from . import lines

        try:
            return lines.for_version(self.cfg.ce_version)
        except (ValueError, KeyError) as exc:
            raise PhaseError(
                f"CE version {self.cfg.ce_version!r} is not a supported tag ({exc})",
                f"set {setting('ceVersion')} to a tag like v5.1.2",
            ) from None


# ----------------------------------------------------------------------------- os-release


@dataclass(frozen=True)
class OsInfo:
    id: str
    version_id: str
    id_like: tuple[str, ...]
    codename: str
    pretty: str

    @property
    def family(self) -> str:
        """``debian`` (apt), ``rhel`` (dnf/yum) or ``unknown``."""
        ids = {self.id, *self.id_like}
        if ids & {"debian", "ubuntu"}:
            return "debian"
        if ids & {"rhel", "centos", "fedora", "rocky", "almalinux", "ol"}:
            return "rhel"
        return "unknown"

    @property
    def version_tuple(self) -> tuple[int, ...]:
        parts = []
        for piece in self.version_id.split("."):
            digits = "".join(ch for ch in piece if ch.isdigit())
            if not digits:
                break
            parts.append(int(digits))
        return tuple(parts)


def parse_os_release(text: str) -> OsInfo:
    """Parse ``/etc/os-release`` (shell-style KEY=value, optional quotes)."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        try:
            parts = shlex.split(value)
            value = parts[0] if parts else ""
        except ValueError:
            value = value.strip("\"'")
        values[key.strip()] = value
    return OsInfo(
        id=values.get("ID", "").lower(),
        version_id=values.get("VERSION_ID", ""),
        id_like=tuple(values.get("ID_LIKE", "").lower().split()),
        codename=values.get("VERSION_CODENAME", "") or values.get("UBUNTU_CODENAME", ""),
        pretty=values.get("PRETTY_NAME", ""),
    )


def read_os(env: NodeEnv) -> OsInfo:
    for candidate in ("/etc/os-release", "/usr/lib/os-release"):
        path = env.host_path(candidate)
        if os.path.exists(path):
            with open(path, encoding="utf-8") as handle:
                return parse_os_release(handle.read())
    raise PhaseError("no /etc/os-release on this node", "run CE nodes on Ubuntu or RHEL")


def read_text(path: str, default: str | None = None) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except FileNotFoundError:
        if default is None:
            raise
        return default


def read_bytes(path: str) -> bytes | None:
    """A file's bytes, None when it does not exist."""
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def write_atomic(path: str, text: str | bytes, mode: int = 0o644) -> None:
    """Write ``text`` (UTF-8, or bytes as they are) to ``path`` through a temp file + rename (keeps no partial file)."""
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".{os.path.basename(path)}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    data = text.encode("utf-8") if isinstance(text, str) else text
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def is_root() -> bool:
    return os.geteuid() == 0
