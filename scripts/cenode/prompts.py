"""Driving CE 5.x's interactive ``./setup`` by matching its prompt text (docs/ce-facts.md §1.3, §1.4, §1.6).

Owns: the answer tables (primary, secondary), which secrets setup's output must be redacted of
(:meth:`Answers.secrets`, redacted by :mod:`cenode.redaction`), and :class:`SetupDriver`, which runs setup under a pty (pexpect) and answers a prompt
only when setup is waiting on it: the prompt's last line ends the output and setup has been
quiet for a moment. It never feeds answers blindly (docs/ce-facts.md §C2: setup loops forever on EOF).

Bounds: total time, silence while waiting for a known prompt, silence after something that looks
like an unknown prompt, total output, repeated "Invalid input", and how often a prompt may be
asked again (a re-ask means setup rejected the answer). Each bound stops setup with the last
output line shown (redacted) and what to change.

Must not touch: anything but the setup process. Secrets are only ever written to setup's pty,
never to argv, environment, the log or an exception text. ``pexpect`` is imported lazily.
"""

from __future__ import annotations

import os
import re
import time
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from .children import CHILDREN
from .nodeconfig import FORBIDDEN_IN_JWT, FORBIDDEN_IN_PASSWORD, refused_characters
from .redaction import RedactingWriter, Redactor
from .release import SETUP_SUCCESS_TEXT
from .system import PhaseError, setting

ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][A-Za-z0-9]|\x1b[=>]")


def strip_ansi(text: str) -> str:
    return ANSI.sub("", text).replace("\r", "")


# ----------------------------------------------------------------------------- answers


@dataclass
class Answers:
    """Everything CE's setup may ask, from node.json + secrets.json."""

    role: str
    tenant_url: str
    shared_dir: str
    cluster_ips: list[str]
    node_ip: str
    ui_protocol: str = "https"
    ui_port: int = 443
    tls12: bool = False
    proxy_url: str = ""
    jwt_secret: str = field(default="", repr=False)
    maintenance_password: str = field(default="", repr=False)

    @property
    def proxy_parts(self) -> tuple[str, str, str]:
        """(URL without credentials, user, password) of ``proxy_url``."""
        if not self.proxy_url:
            return "", "", ""
        parsed = urllib.parse.urlsplit(self.proxy_url)
        host = parsed.hostname or ""
        netloc = f"[{host}]" if ":" in host else host
        if parsed.port:
            netloc += f":{parsed.port}"
        bare = urllib.parse.urlunsplit((parsed.scheme, netloc, parsed.path, parsed.query, parsed.fragment))
        return bare, urllib.parse.unquote(parsed.username or ""), urllib.parse.unquote(parsed.password or "")

    def secrets(self) -> list[str]:
        values = [self.jwt_secret, self.maintenance_password, self.proxy_parts[2]]
        out = []
        for value in values:
            if value:
                out.append(value)
                quoted = urllib.parse.quote(value, safe="")
                if quoted != value:
                    out.append(quoted)
        return out

    def validate(self) -> None:
        """Fail before setup starts on values CE would reject (and then re-ask forever)."""
        if self.role == "primary" and not self.jwt_secret:
            raise PhaseError("no JWT secret in secrets.json (CE's setup asks for it on every primary run)", f"set {setting('jwtSecret')}")
        for what, value, forbidden, key in (("the JWT secret", self.jwt_secret, FORBIDDEN_IN_JWT, "jwtSecret"),
                                            ("the maintenance password", self.maintenance_password, FORBIDDEN_IN_PASSWORD, "maintenancePassword")):
            bad = refused_characters(value, forbidden)
            if bad:
                raise PhaseError(f"{what} contains characters CE forbids or its prompt drops ({' '.join(map(repr, bad))})", f"change {setting(key)}")
        if self.node_ip not in self.cluster_ips:
            raise PhaseError(f"node_ip {self.node_ip} is not in cluster_ips", "the program built node.json wrongly; re-run pulumi up")


def _need(value: str, name: str) -> str:
    if not value:
        raise PhaseError(f"CE's setup asks for the {name} but secrets.json has none", f"set {setting(name)}")
    return value


@dataclass(frozen=True)
class Prompt:
    """One prompt: ``key`` is a regex for text on the prompt's LAST line."""

    name: str
    key: str
    answer: Callable[[Answers], str]
    secret: bool = False
    fatal: str = ""  # non-empty: this prompt means "stop", with this fix
    max_times: int = 2
    fix: str = ""  # what to change when setup keeps re-asking

    @property
    def pattern(self) -> re.Pattern[str]:
        return re.compile(self.key)


def _bare(value: str) -> Callable[[Answers], str]:
    return lambda _a: value


P_VERSION_MENU = Prompt(
    "version menu",
    r"Select the version you want to install",
    _bare(""),
    fatal=f"this CE checkout is 5.1.0 or older (its setup opens with a version menu); set {setting('ceVersion')} to v5.1.1 or later",
)
P_PROXY = Prompt(
    "proxy y/n", r"Are you using HTTP\(s\) proxy for outbound traffic\?", lambda a: "y" if a.proxy_url else "n", fix=f"check {setting('proxyUrl')}"
)
P_PROXY_URL = Prompt("proxy URL", r"Enter Proxy URL", lambda a: a.proxy_parts[0], fix=f"set {setting('proxyUrl')} to http(s)://host:port")
P_PROXY_USER = Prompt("proxy username", r"Enter proxy username", lambda a: a.proxy_parts[1])
P_PROXY_PASSWORD = Prompt("proxy password", r"Enter proxy password", lambda a: a.proxy_parts[2], secret=True)
P_TENANT = Prompt(
    "tenant URL",
    r"Please Enter 'test' if you do not have any Netskope tenant",
    lambda a: a.tenant_url,
    fix=f"set {setting('tenantUrl')} to https://<tenant>.goskope.com (reachable from the node) or test",
)
P_HA = Prompt("setup HA y/n", r"Do you want to setup HA Parameters\?", _bare("y"))
P_NFS = Prompt(
    "shared folder",
    r"Please provide the location of the NFS mount directory",
    lambda a: a.shared_dir,
    fix="run the mount phase first: the shared folder must exist on this node",
)
P_IP_LIST = Prompt("HA IP list", r"Enter comma separated IP list to connect the machines for HA", lambda a: ",".join(a.cluster_ips))
P_NODE_IP = Prompt(
    "current node IP",
    r"Enter ip address of current node",
    lambda a: a.node_ip,
    fix="the node's IP must be in the HA IP list the primary's setup wrote (run setup on the primary with all nodes first)",
)
P_PRESS_ENTER = Prompt("press Enter", r"Press Enter to continue", _bare(""))
P_HTTP_OR_HTTPS = Prompt(
    "http or https", r"Do you want to access CE over HTTP, or HTTPS", lambda a: a.ui_protocol, fix=f"set {setting('uiProtocol')} to https or http"
)
P_HTTP_CONFIRM = Prompt("http confirm", r"Do you still want to access CE over HTTP\?", _bare("y"))
P_UI_PORT = Prompt(
    "UI port",
    r"Enter the port on which you want to access the Netskope CE UI",
    lambda a: str(a.ui_port),
    max_times=3,
    fix=f"the port is in use on the node: free it or set {setting('uiPort')}",
)
P_JWT = Prompt(
    "JWT secret",
    r"Enter a JWT Secret which will be used for signing",
    lambda a: _need(a.jwt_secret, "jwtSecret"),
    secret=True,
    fix=f"change {setting('jwtSecret')} (CE rejected it)",
)
P_MP = Prompt(
    "maintenance password",
    r"Enter maintenance password that will be used for RabbitMQ and MongoDB",
    lambda a: _need(a.maintenance_password, "maintenancePassword"),
    secret=True,
    fix=f"change {setting('maintenancePassword')} (CE rejected it)",
)
P_MP_CONFIRM = Prompt(
    "maintenance password confirmation",
    r"Confirm maintenance password",
    lambda a: _need(a.maintenance_password, "maintenancePassword"),
    secret=True,
)
P_TLS12 = Prompt(
    "TLS 1.2", r"Do you want to enable TLSv1\.2 along with TLSv1\.3", lambda a: "yes" if a.tls12 else "", fix=f"check {setting('tls12')}"
)
P_CA = Prompt("custom CA certs y/n", r"Do you want to provide custom CA certs\?", _bare("n"))
P_ENV_BACKUP = Prompt("backup .env y/n", r"Do you want to take backup of \.env file\?", _bare("n"))
P_ENV_BACKUP_CURRENT = Prompt("backup .env path (current)", r"Enter the destination path for backup of \.env", _bare(""))
P_ENV_BACKUP_PATH = Prompt("backup .env path", r"Enter the destination path \(e\.g\.", _bare("./backup_env"))  # docs/ce-facts.md §C3

#: the primary's prompts (docs/ce-facts.md §1.3, in setup's order; matching does not depend on the order)
PRIMARY_PROMPTS: tuple[Prompt, ...] = (
    P_VERSION_MENU,
    P_PROXY,
    P_PROXY_URL,
    P_PROXY_USER,
    P_PROXY_PASSWORD,
    P_TENANT,
    P_HA,
    P_NFS,
    P_IP_LIST,
    P_NODE_IP,
    P_PRESS_ENTER,
    P_HTTP_CONFIRM,
    P_HTTP_OR_HTTPS,
    P_UI_PORT,
    P_JWT,
    P_MP,
    P_MP_CONFIRM,
    P_TLS12,
    P_CA,
    P_ENV_BACKUP,
    P_ENV_BACKUP_CURRENT,
    P_ENV_BACKUP_PATH,
)
#: a secondary's prompts (docs/ce-facts.md §1.4); anything else on a secondary is unexpected and stops setup
SECONDARY_PROMPTS: tuple[Prompt, ...] = (
    P_VERSION_MENU,
    P_NODE_IP,
    P_PRESS_ENTER,
    P_CA,
    P_ENV_BACKUP,
    P_ENV_BACKUP_CURRENT,
    P_ENV_BACKUP_PATH,
)

#: the rest of the output after a prompt's key: the rest of its line, then at most "\n> "
_PROMPT_END = re.compile(r"[^\n]*(\n[ \t>]*)?\Z")
_YES_NO = re.compile(r"\[y/n\]|\(y/n\)|\(y/yes\)|\?\s*\Z", re.IGNORECASE)
_ASKING = re.compile(r"\b(enter|please|provide|select|choose|type|input|confirm|password|do you|would you|press)\b", re.IGNORECASE)


def waiting_prompt(output: str, table: Sequence[Prompt]) -> Prompt | None:
    """The prompt setup is waiting on: its key on the last line(s) and nothing after but "> "."""
    tail = strip_ansi(output)[-4000:]
    best: tuple[int, Prompt] | None = None
    for prompt in table:
        last = None
        for match in prompt.pattern.finditer(tail):
            last = match
        if last is None or not _PROMPT_END.match(tail, last.end()):
            continue
        if best is None or last.start() > best[0]:
            best = (last.start(), prompt)
    return best[1] if best else None


def looks_like_prompt(output: str) -> bool:
    """Does the output end like a question? A last line that is only ``>``, ends in ``?`` or has
    a y/n marker, or ends in ``:``/``>`` and asks (enter, please, select, ...). A silent progress
    line like ``Migrating data:`` is not a question."""
    lines = strip_ansi(output)[-400:].split("\n")
    last = lines[-1].strip()
    if not last:
        filled = [line.strip() for line in lines if line.strip()]
        return bool(filled) and bool(_YES_NO.search(filled[-1]))
    if last == ">" or _YES_NO.search(last):
        return True
    return last.endswith((":", ">")) and bool(_ASKING.search(last))


def last_line(output: str) -> str:
    lines = [line.strip() for line in strip_ansi(output).split("\n") if line.strip()]
    return lines[-1] if lines else "(no output)"


# ----------------------------------------------------------------------------- the driver


class Child(Protocol):  # the part of pexpect.spawn the driver uses
    logfile_read: Any

    def read_nonblocking(self, size: int, timeout: float) -> str: ...
    def sendline(self, s: str) -> int: ...
    def isalive(self) -> bool: ...
    def close(self, force: bool = ...) -> None: ...


@dataclass
class DriverLimits:
    total: float = 3600
    prompt_silence: float = 900
    unknown_prompt_silence: float = 60
    settle: float = 0.4  # quiet time before the output is read as "waiting on a prompt"
    max_output: int = 50 * 1024 * 1024
    max_invalid: int = 5


@dataclass
class DriverResult:
    success: bool
    exit_status: int | None
    answered: list[str]
    last_line: str


class SetupFailed(PhaseError):
    pass


class SetupDriver:
    def __init__(
        self,
        argv: Sequence[str],
        cwd: str,
        table: Sequence[Prompt],
        answers: Answers,
        log: Callable[[str], None],
        limits: DriverLimits | None = None,
        env: dict[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_answer: Callable[[int], None] | None = None,
    ) -> None:
        """``on_answer(n)`` is told how many prompts are answered so far (never which answer)."""
        self.argv = list(argv)
        self.on_answer = on_answer
        self.cwd = cwd
        self.table = table
        self.answers = answers
        self.log = log
        self.limits = limits or DriverLimits()
        self.env = env
        self.clock = clock
        self.redact = Redactor(answers.secrets())

    def spawn(self) -> Child:
        import pexpect

        program = self.argv[0]
        if "/" in program and not os.path.isabs(program):
            program = os.path.join(self.cwd, program)  # pexpect resolves ./x against our cwd, not setup's
        child = pexpect.spawn(
            program,
            self.argv[1:],
            cwd=self.cwd,
            env=self.env,
            encoding="utf-8",
            codec_errors="replace",
            echo=False,
            dimensions=(50, 250),
            timeout=None,
        )
        CHILDREN.started(child.pid)  # pexpect's pty fork makes it a session leader: ended with ce-node
        return child  # type: ignore[no-any-return]

    def fail(self, child: Child, what: str, fix: str, output: str) -> SetupFailed:
        try:
            child.close(force=True)
        except Exception as exc:  # noqa: BLE001 - closing a dying child must not hide the real error
            self.log(f"closing setup: {type(exc).__name__}")
        shown = self.redact.tail(last_line(output), 200)
        return SetupFailed(f"{what}; last output: {shown!r}", fix)

    def run(self) -> DriverResult:
        child = self.spawn()
        try:
            return self.drive(child)
        finally:
            CHILDREN.finished(getattr(child, "pid", None))

    def drive(self, child: Child) -> DriverResult:
        import pexpect

        limits = self.limits
        writer = RedactingWriter(lambda text: self.log(text.rstrip("\n")) if text.strip() else None, self.answers.secrets())
        child.logfile_read = writer
        start = last_output = self.clock()
        window = ""  # output since the last answer (its tail)
        recent = ""  # the last output regardless of answers, for messages
        total = 0
        invalid = 0
        success = False
        answered: list[str] = []
        counts: dict[str, int] = {}
        try:
            while True:
                try:
                    chunk: str | None = child.read_nonblocking(65536, timeout=limits.settle)
                except pexpect.TIMEOUT:
                    chunk = None
                except pexpect.EOF:
                    break
                now = self.clock()
                if now - start > limits.total:
                    raise self.fail(child, f"setup did not finish within {int(limits.total)} s", "raise timeouts.setup; read the log", recent)
                if chunk:
                    total += len(chunk)
                    window = (window + chunk)[-65536:]
                    recent = (recent + chunk)[-8192:]
                    last_output = now
                    if SETUP_SUCCESS_TEXT in strip_ansi(recent):
                        success = True
                    invalid += strip_ansi(chunk).count("Invalid input")
                    if total > limits.max_output:
                        raise self.fail(child, f"setup printed more than {limits.max_output // 2**20} MiB (looping?)", "read the log", recent)
                    if invalid > limits.max_invalid:
                        raise self.fail(child, "setup keeps printing 'Invalid input'", "look at the setup log: an answer does not fit", recent)
                    continue
                prompt = waiting_prompt(window, self.table)
                if prompt is not None:
                    if prompt.fatal:
                        raise self.fail(child, f"setup asked '{prompt.name}'", prompt.fatal, window)
                    counts[prompt.name] = counts.get(prompt.name, 0) + 1
                    if counts[prompt.name] > prompt.max_times:
                        raise self.fail(
                            child,
                            f"setup asked '{prompt.name}' {counts[prompt.name]} times (it rejected the answer)",
                            prompt.fix or "look at the setup log",
                            window,
                        )
                    try:
                        answer = prompt.answer(self.answers)
                    except PhaseError:
                        child.close(force=True)
                        raise
                    shown = "***" if prompt.secret else repr(answer)
                    self.log(f"[driver] answering '{prompt.name}': {shown}")
                    child.sendline(answer)
                    answered.append(prompt.name)
                    if self.on_answer is not None:
                        self.on_answer(len(answered))
                    window = ""
                    last_output = now
                    continue
                silent = now - last_output
                if silent > limits.unknown_prompt_silence and looks_like_prompt(window):
                    raise self.fail(
                        child,
                        f"setup asks something this driver does not know (silent {int(silent)} s)",
                        "add the prompt to scripts/cenode/prompts.py (or fix the node state that causes it)",
                        window,
                    )
                if silent > limits.prompt_silence:
                    raise self.fail(child, f"setup printed nothing for {int(silent)} s", "raise timeouts.setup_prompt; read the log", recent)
        finally:
            writer.flush()
        child.close()
        status = getattr(child, "exitstatus", None)
        self.log(f"[driver] setup exited with {status}; success text {'seen' if success else 'NOT seen'}")
        return DriverResult(success, status, answered, self.redact(last_line(recent)))
