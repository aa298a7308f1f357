"""Replay the program's remote steps for real, over SSH, the way pulumi-command would run them.

Owns: taking the ``remote.Command`` / ``remote.CopyToRemote`` resources a mocked run declared
(``offline.harness``), and executing them against real hosts in the dependency order the program
declared, concurrently where the engine would (a step starts when every step it depends on has
finished), with the provider's rules: SSH as the step's ``connection`` says (its user, its private
key, through its ``proxy`` host when it names one: a direct-tcpip channel, like ProxyJump), no PTY, stdin as given, ``create`` runs once and again
only when the step's inputs changed (``offline.rerun``'s rule; the digests are kept in a state
file, like the engine's state), a failed step stops every step that depends on it. Used by the
host tests and the benchmarks only; the offline plan (the product) never connects anywhere.

Must not touch: anything but the hosts named in the steps' connections. Secrets are never
printed: outputs of steps whose stdout/stderr are marked secret are withheld from errors.
"""

from __future__ import annotations

import io
import json
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paramiko

from offline.harness import Declared, Run
from offline.rerun import digest, remote_steps, unwrap


@dataclass
class StepResult:
    name: str
    node: str
    ran: bool
    started: float = 0.0
    ended: float = 0.0
    exit_code: int = 0
    stdout: str = ""

    @property
    def seconds(self) -> float:
        return self.ended - self.started


class StepFailed(Exception):
    pass


@dataclass
class Replay:
    """One replay of a mocked run's remote steps against real hosts."""

    run: Run
    state_file: Path
    timeout: float = 3600.0
    max_parallel: int = 8
    #: opens the TCP connection to (host, port); the test lab opens it inside its own namespace
    connect: Callable[[str, int], socket.socket] | None = None
    results: list[StepResult] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def steps(self) -> dict[str, Declared]:
        return remote_steps(self.run)

    def _load_state(self) -> dict[str, str]:
        if self.state_file.exists():
            return dict(json.loads(self.state_file.read_text()))
        return {}

    def _save(self, state: dict[str, str]) -> None:
        with self._lock:
            self.state_file.write_text(json.dumps(state, indent=1, sort_keys=True))

    def execute(self) -> list[StepResult]:
        """Run every step whose inputs changed; raise StepFailed on the first failure (after draining)."""
        steps = self.steps()
        state = self._load_state()
        done: set[str] = set()
        failed: list[str] = []
        pending = dict(steps)
        running: dict[Future[StepResult], str] = {}
        with ThreadPoolExecutor(max_workers=self.max_parallel) as pool:
            while pending or running:
                ready = [n for n, s in pending.items()
                         if all(d in done or d not in steps for d in s.depends_on) and not failed]
                for name in ready:
                    step = pending.pop(name)
                    if state.get(name) == digest(step):
                        self.results.append(StepResult(name, _node(name), ran=False))
                        done.add(name)
                        continue
                    running[pool.submit(self._run_step, step)] = name
                if ready and not running:
                    continue  # skipped steps may have unblocked others
                if not running:
                    break
                finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for future in finished:
                    name = running.pop(future)
                    try:
                        result = future.result()
                    except StepFailed as error:
                        failed.append(str(error))
                        continue
                    self.results.append(result)
                    done.add(name)
                    state[name] = digest(steps[name])
                    self._save(state)
        if failed:
            raise StepFailed("; ".join(failed))
        return self.results

    # ---- one step ---------------------------------------------------------------------------

    def _client(self, connection: dict[str, Any]) -> _Session:
        """An SSH session to the step's host, through its proxy (bastion) when the connection names one."""
        port = int(connection.get("port") or 22)
        proxy = connection.get("proxy")
        if not proxy:
            sock = self.connect(connection["host"], port) if self.connect else None
            return _Session(_login(connection, port, sock))
        jump = _login(proxy, int(proxy.get("port") or 22),
                      self.connect(proxy["host"], int(proxy.get("port") or 22)) if self.connect else None)
        try:
            channel = jump.get_transport().open_channel(  # type: ignore[union-attr]
                "direct-tcpip", (connection["host"], port), ("127.0.0.1", 0))
            return _Session(_login(connection, port, channel), jump)
        except BaseException:
            jump.close()
            raise

    def _run_step(self, step: Declared) -> StepResult:
        connection = unwrap(step.inputs["connection"])
        result = StepResult(step.name, _node(step.name), ran=True, started=time.monotonic())
        secret_output = "stdout" in step.additional_secret_outputs
        session = self._client(connection)
        client = session.client
        try:
            if step.typ == "command:remote:CopyToRemote":
                sftp = client.open_sftp()
                sftp.putfo(io.BytesIO(str(step.inputs["source"].text).encode()), step.inputs["remotePath"])
                sftp.close()
            else:
                command = unwrap(step.inputs["create"])
                stdin_text = unwrap(step.inputs.get("stdin"))
                channel = client.get_transport().open_session()  # type: ignore[union-attr]
                channel.settimeout(self.timeout)
                channel.exec_command(command)  # no PTY, like the provider
                if stdin_text is not None:
                    channel.sendall(str(stdin_text).encode())
                channel.shutdown_write()
                out = _read_all(channel)
                result.exit_code = channel.recv_exit_status()
                result.stdout = "(secret)" if secret_output else out[-4000:]
                if result.exit_code != 0:
                    shown = "(output is secret)" if secret_output else out[-2000:]
                    raise StepFailed(f"{step.name} exited {result.exit_code}: {shown}")
        finally:
            session.close()
        result.ended = time.monotonic()
        return result


@dataclass
class _Session:
    """An SSH client and, when it went through a bastion, the client to the bastion."""

    client: paramiko.SSHClient
    jump: paramiko.SSHClient | None = None

    def close(self) -> None:
        self.client.close()
        if self.jump is not None:
            self.jump.close()


def _login(connection: dict[str, Any], port: int, sock: Any) -> paramiko.SSHClient:
    """Log in as the connection's user with the connection's private key (the stack's ``sshPrivateKey``)."""
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # noqa: S507 - test hosts made by the test
    client.connect(connection["host"], port=port, username=connection["user"], sock=sock,
                   pkey=_load_key(connection["privateKey"]), timeout=30, allow_agent=False, look_for_keys=False)
    return client


def _read_all(channel: paramiko.Channel) -> str:
    chunks: list[bytes] = []
    while True:
        if channel.recv_ready():
            chunks.append(channel.recv(65536))
        elif channel.recv_stderr_ready():
            chunks.append(channel.recv_stderr(65536))
        elif channel.exit_status_ready() and not channel.recv_ready() and not channel.recv_stderr_ready():
            break
        else:
            time.sleep(0.02)
    return b"".join(chunks).decode(errors="replace")


def _load_key(text: str) -> paramiko.PKey:
    for kind in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return kind.from_private_key(io.StringIO(text))
        except paramiko.SSHException:
            continue
    raise ValueError("sshPrivateKey is not a key paramiko can read")


def _node(name: str) -> str:
    return name.split("-steps-")[0]
