"""SSH to a lab host the way Pulumi's ``remote.Command`` / ``remote.CopyToRemote`` do it.

Owns the paramiko client of one host: public-key login as ``ubuntu``, commands run with
``exec_command`` and NO PTY (stdin, if given, is written and then closed; without it the command
sees EOF at once, as with the command provider), files copied over SFTP as that same user. The
socket comes from a factory, so the lab can open it inside its infra network namespace.
"""

from __future__ import annotations

import io
import os
import select
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import paramiko


class CommandTimeout(TimeoutError):
    """The remote command did not finish in time; partial output is attached."""

    def __init__(self, cmd: str, timeout: float, stdout: str, stderr: str) -> None:
        super().__init__(f"{cmd!r} did not finish within {timeout}s")
        self.stdout = stdout
        self.stderr = stderr


class SSH:
    """A lazily connected paramiko client to ``user@ip`` using ``key_path``."""

    def __init__(
        self,
        ip: str,
        key_path: Path,
        sock_factory: Callable[[], object],
        user: str = "ubuntu",
        known_hosts: Path | None = None,
    ) -> None:
        self.ip = ip
        self.user = user
        self.key_path = key_path
        self._sock_factory = sock_factory
        self._known_hosts = known_hosts
        self._client: paramiko.SSHClient | None = None
        self._lock = threading.Lock()

    # -- connection -------------------------------------------------------------------------
    def connect(self, timeout: float = 10.0) -> paramiko.SSHClient:
        with self._lock:
            if self._client is not None:
                transport = self._client.get_transport()
                if transport is not None and transport.is_active():
                    return self._client
                self._client.close()
                self._client = None
            client = paramiko.SSHClient()
            # host keys are made at each boot (ssh-keygen -A): trust on first use, recorded in known_hosts
            client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # noqa: S507
            sock = self._sock_factory()
            try:
                client.connect(
                    self.ip,
                    username=self.user,
                    pkey=paramiko.Ed25519Key.from_private_key_file(str(self.key_path)),
                    sock=sock,  # type: ignore[arg-type]
                    allow_agent=False,
                    look_for_keys=False,
                    timeout=timeout,
                    banner_timeout=timeout,
                    auth_timeout=timeout,
                )
            except BaseException:
                client.close()
                close = getattr(sock, "close", None)
                if close is not None:
                    close()
                raise
            if self._known_hosts is not None:
                self._remember_host_key(client)
            self._client = client
            return client

    def _remember_host_key(self, client: paramiko.SSHClient) -> None:
        assert self._known_hosts is not None
        transport = client.get_transport()
        if transport is None:
            return
        key = transport.get_remote_server_key()
        line = f"{self.ip} {key.get_name()} {key.get_base64()}\n"
        existing = self._known_hosts.read_text() if self._known_hosts.exists() else ""
        kept = [ln for ln in existing.splitlines(keepends=True) if not ln.startswith(f"{self.ip} ")]
        self._known_hosts.write_text("".join(kept) + line)

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    # -- commands ---------------------------------------------------------------------------
    def run(
        self,
        cmd: str,
        stdin: str | bytes | None = None,
        timeout: float = 300.0,
        env: Mapping[str, str] | None = None,
    ) -> tuple[int, str, str]:
        """Run ``cmd`` through the login user's shell, no PTY; return ``(rc, stdout, stderr)``.

        ``env`` is sent as SSH "env" requests, exactly like Pulumi's ``environment``: the host's
        sshd accepts only what its AcceptEnv allows (Debian: LANG, LC_*), the rest is dropped.
        Raises CommandTimeout (with the partial output) after ``timeout`` seconds.
        """
        client = self.connect()
        transport = client.get_transport()
        assert transport is not None
        chan = transport.open_session(timeout=30)
        try:
            if env:
                for k, v in env.items():
                    try:
                        chan.set_environment_variable(k, v)
                    except paramiko.SSHException:
                        pass
            chan.exec_command(cmd)
            data = stdin.encode() if isinstance(stdin, str) else (stdin or b"")
            writer_error: list[BaseException] = []

            def write_stdin() -> None:
                try:
                    if data:
                        chan.sendall(data)
                    chan.shutdown_write()
                except (OSError, EOFError, paramiko.SSHException) as exc:
                    writer_error.append(exc)

            writer = threading.Thread(target=write_stdin, daemon=True)
            writer.start()
            out, err = bytearray(), bytearray()
            deadline = time.monotonic() + timeout
            while True:
                got = False
                while chan.recv_ready():
                    out += chan.recv(65536)
                    got = True
                while chan.recv_stderr_ready():
                    err += chan.recv_stderr(65536)
                    got = True
                if chan.exit_status_ready() and not chan.recv_ready() and not chan.recv_stderr_ready():
                    break
                if time.monotonic() > deadline:
                    raise CommandTimeout(cmd, timeout, out.decode(errors="replace"), err.decode(errors="replace"))
                if not got:
                    select.select([chan], [], [], 0.05)
            rc = chan.recv_exit_status()
            writer.join(timeout=5)
            return rc, out.decode(errors="replace"), err.decode(errors="replace")
        finally:
            chan.close()

    # -- files ------------------------------------------------------------------------------
    def put(self, local: str | os.PathLike[str] | bytes, remote_path: str, mode: int | None = None) -> None:
        """Copy a local file (path) or ``bytes`` to ``remote_path`` over SFTP as the login user."""
        client = self.connect()
        with client.open_sftp() as sftp:
            if isinstance(local, bytes):
                sftp.putfo(io.BytesIO(local), remote_path)
            else:
                sftp.put(os.fspath(local), remote_path)
            if mode is not None:
                sftp.chmod(remote_path, mode)

    def get(self, remote_path: str) -> bytes:
        """Read ``remote_path`` over SFTP as the login user."""
        client = self.connect()
        with client.open_sftp() as sftp:
            buf = io.BytesIO()
            sftp.getfo(remote_path, buf)
            return buf.getvalue()
