# TEST DOUBLE of Netskope Cloud Exchange (stand-in for tests): not CE, contains no CE code.
"""TEST-ONLY helper behind ``./standin-install-standalone``: a standalone stand-in CE on a host.

Runs this checkout's ``./setup`` without a terminal (own session, pipes: getpass falls back to
stdin) and answers by prompt text, HA = "n". Secrets come from a root-only JSON file shaped like
cloud-exchange-ha's ``secrets.json``: ``{"maintenance_password": ..., "jwt_secret": ...}``.
Result: ``.env`` (INSTALL_VERSION, CORE_TAG, IS_MPASS_CONFIGURED, LOCATION=./.env.keys, ...),
``./.env.keys`` and ``data/ssl_certs/cte_cert*``. ``--start`` then runs ``./start``.

6.x checkouts have no prompts: the helper writes a standalone ``cloudexchange.config`` (HA off,
the given secrets, protocol, port) and runs ``./setup``; the result also has ``JWT_SECRET``
inside ``.env.keys``, ``data/ssl_certs/mongodb_rabbitmq_certs/`` and ``data/{custom_plugins,plugins,repos}``.
Real CE has no such helper.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import stat
import subprocess
import sys
import time

from standin import common
from standin.config6 import CONFIG_FILE
from standin.setup_flow import SUCCESS_TEXT

SILENCE_LIMIT_S = 30.0
TOTAL_LIMIT_S = 600.0
OUTPUT_LIMIT = 5 * 1024 * 1024


def answers(args: argparse.Namespace, secrets: dict[str, str]) -> list[tuple[str, str]]:
    """(prompt text, answer); the earliest match in the pending output wins."""
    return [
        ("Select the version you want to install", "1"),
        ("Are you using HTTP(s) proxy for outbound traffic?", "n"),
        ("Please Enter 'test' if you do not have any Netskope tenant", args.tenant),
        ("Do you want to setup HA Parameters?", "n"),
        ("Press Enter to continue", ""),
        ("Do you want to access CE over HTTP, or HTTPS", args.protocol),
        ("Do you still want to access CE over HTTP?", "y"),
        ("Enter the port on which you want to access the Netskope CE UI", args.ui_port),
        ("Enter a JWT Secret", secrets["jwt_secret"]),
        ("Enter maintenance password", secrets["maintenance_password"]),
        ("Confirm maintenance password", secrets["maintenance_password"]),
        ("Do you want to enable TLSv1.2", ""),
        ("Do you want to provide custom CA certs?", "n"),
        ("Do you want to take backup of .env file?", "n"),
        ("Enter the destination path for backup of .env", ""),
    ]


def load_secrets(path: str) -> dict[str, str]:
    info = os.stat(path)
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SystemExit(f"{path} must be readable by its owner only (chmod 600)")
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    missing = [key for key in ("maintenance_password", "jwt_secret") if not data.get(key)]
    if missing:
        raise SystemExit(f"{path} lacks {', '.join(missing)}")
    return {"maintenance_password": str(data["maintenance_password"]), "jwt_secret": str(data["jwt_secret"])}


def write_standalone_config(args: argparse.Namespace, secrets: dict[str, str]) -> None:
    """6.x: the whole answer set is the config file (docs/ce-facts.md §1.7); setup blanks the secrets again."""
    lines = [
        "# TEST DOUBLE of Netskope Cloud Exchange (stand-in): written by standin-install-standalone",
        f"UI_PROTOCOL={args.protocol}",
        f"UI_PORT={args.ui_port}",
        f"MAINTENANCE_PASSWORD={secrets['maintenance_password']}",
        f"JWT_SECRET={secrets['jwt_secret']}",
        "HA_ENABLED=False",
    ]
    descriptor = os.open(CONFIG_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")


def drive_setup(flags: list[str], rules: list[tuple[str, str]]) -> tuple[int, str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        [sys.executable, "./setup", *flags],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True, env=env,
    )  # fmt: skip
    assert process.stdin is not None and process.stdout is not None
    transcript = ""
    pending = ""
    started = last_output = time.monotonic()
    fd = process.stdout.fileno()
    while True:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            text = chunk.decode("utf-8", errors="replace")
            sys.stdout.write(text)
            sys.stdout.flush()
            transcript += text
            pending += text
            last_output = time.monotonic()
            while True:
                found = [(pending.find(prompt), prompt, answer) for prompt, answer in rules if prompt in pending]
                if not found:
                    break
                position, prompt, answer = min(found)
                pending = pending[position + len(prompt) :]
                process.stdin.write((answer + "\n").encode("utf-8"))
                process.stdin.flush()
        now = time.monotonic()
        if len(transcript) > OUTPUT_LIMIT or now - started > TOTAL_LIMIT_S or now - last_output > SILENCE_LIMIT_S:
            process.kill()
            process.wait()
            return 1, transcript + f"\nSTAND-IN HELPER: gave up (unanswered prompt?): {pending[-200:]!r}\n"
    return process.wait(), transcript


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="TEST-ONLY: install a standalone stand-in CE in this checkout")
    parser.add_argument("--secrets", required=True, help="root-only JSON with maintenance_password and jwt_secret")
    parser.add_argument("--tenant", default="test")
    parser.add_argument("--protocol", default="https", choices=("http", "https"))
    parser.add_argument("--ui-port", default="", help="empty = setup's default/current")
    parser.add_argument("--ignore-failures", action="store_true")
    parser.add_argument("--start", action="store_true", help="run ./start afterwards")
    args = parser.parse_args(argv)
    secrets = load_secrets(args.secrets)
    flags = ["--ignore-failures"] if args.ignore_failures else []
    if common.is_v6():
        write_standalone_config(args, secrets)
    code, transcript = drive_setup(flags, answers(args, secrets))
    if SUCCESS_TEXT.rstrip(".") not in transcript:
        print(f"standin-install-standalone: setup did not succeed (exit {code})", file=sys.stderr)
        return 1
    if args.start:
        return subprocess.run([sys.executable, "./start"], check=False).returncode
    return 0
