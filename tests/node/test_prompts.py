"""The 5.x setup driver: prompt table, matching, redaction, and runs against a scripted fake setup."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from scripts.cenode import prompts
from scripts.cenode.prompts import Answers, DriverLimits, SetupDriver, SetupFailed
from scripts.cenode.redaction import RedactingWriter, Redactor
from scripts.cenode.system import PhaseError

JWT = "jwtSecret42"
PASSWORD = "Maint#1pass"

# The prompts exactly as docs/ce-facts.md §1.3/§1.4 (and the stand-in) print them -> answer name
PRIMARY_TEXTS = [
    ("Are you using HTTP(s) proxy for outbound traffic? [y/n]\n> ", "proxy y/n"),
    ("Enter Proxy URL (e.g. http(s)://10.0.0.0:3128)  (Current: )\n> ", "proxy URL"),
    ("Enter proxy username (skip in case of unauthenticated proxy): ", "proxy username"),
    ("Enter proxy password: ", "proxy password"),
    (
        "> Please enter the Netskope Tenant URL (e.g. https://demo.goskope.com)\nPlease Enter 'test' if you do not have any Netskope tenant: ",
        "tenant URL",
    ),
    ("> Do you want to setup HA Parameters? [y/n]: ", "setup HA y/n"),
    ("> Please provide the location of the NFS mount directory (Current: ''): ", "shared folder"),
    ('> Enter comma separated IP list to connect the machines for HA. (Current: ""): ', "HA IP list"),
    ('> Enter ip address of current node. (Current: ""): ', "current node IP"),
    ("One or more prerequisite checks could not be verified. Press Enter to continue", "press Enter"),
    ("Do you want to access CE over HTTP, or HTTPS (HTTPS is recommended)? ", "http or https"),
    ("Do you still want to access CE over HTTP? (y/yes) ", "http confirm"),
    ('> Enter the port on which you want to access the Netskope CE UI (Default: "443"): ', "UI port"),
    ('> Enter the port on which you want to access the Netskope CE UI (Current: "443"): ', "UI port"),
    ("> Enter a JWT Secret which will be used for signing the authentication tokens: ", "JWT secret"),
    (
        "> Enter maintenance password that will be used for RabbitMQ and MongoDB services (This password can be set only once): ",
        "maintenance password",
    ),
    ("> Confirm maintenance password: ", "maintenance password confirmation"),
    ('> Do you want to enable TLSv1.2 along with TLSv1.3 for CE UI (Default: "No"): ', "TLS 1.2"),
    ("> Do you want to provide custom CA certs? (y/n): ", "custom CA certs y/n"),
    ("> Do you want to take backup of .env file? [y/n]: ", "backup .env y/n"),
    ('> Enter the destination path for backup of .env (Current: "./backup"): ', "backup .env path (current)"),
    ("Enter the destination path (e.g. './backup_env'): ", "backup .env path"),
    ("1. 5.1.0\n2. 5.0.1\nSelect the version you want to install (1/2/3): ", "version menu"),
]


def answers(**over: object) -> Answers:
    values: dict[str, object] = {
        "role": "primary",
        "tenant_url": "test",
        "shared_dir": "/mnt/ce-ha",
        "cluster_ips": ["10.0.1.10", "10.0.2.10", "10.0.3.10"],
        "node_ip": "10.0.1.10",
        "jwt_secret": JWT,
        "maintenance_password": PASSWORD,
    }
    values.update(over)
    return Answers(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "name"), PRIMARY_TEXTS)
def test_every_documented_primary_prompt_is_recognised(text: str, name: str) -> None:
    prompt = prompts.waiting_prompt("some earlier output\n" + text, prompts.PRIMARY_PROMPTS)
    assert prompt is not None and prompt.name == name


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ('The HA is enabled. Current HA IP list: 10.0.1.10,10.0.2.10\n> Enter ip address of current node. (Current: ""): ', "current node IP"),
        ("> Do you want to provide custom CA certs? (y/n): ", "custom CA certs y/n"),
        ("One or more prerequisite checks could not be verified. Press Enter to continue", "press Enter"),
    ],
)
def test_secondary_prompts(text: str, name: str) -> None:
    prompt = prompts.waiting_prompt(text, prompts.SECONDARY_PROMPTS)
    assert prompt is not None and prompt.name == name


def test_a_primary_only_prompt_is_unknown_on_a_secondary() -> None:
    assert prompts.waiting_prompt("> Enter a JWT Secret which will be used for signing the tokens: ", prompts.SECONDARY_PROMPTS) is None


def test_prompt_text_followed_by_more_output_is_not_waiting() -> None:
    text = '> Enter ip address of current node. (Current: "10.0.1.10"): \nChecking ports...\n'
    assert prompts.waiting_prompt(text, prompts.PRIMARY_PROMPTS) is None
    # the newest prompt wins when an older one is still in the window
    both = "> Do you want to setup HA Parameters? [y/n]: y\n> Please provide the location of the NFS mount directory (Current: ''): "
    chosen = prompts.waiting_prompt(both, prompts.PRIMARY_PROMPTS)
    assert chosen is not None and chosen.name == "shared folder"


def test_ansi_colours_do_not_hide_a_prompt() -> None:
    text = "\x1b[1;33m> Do you want to setup HA Parameters? [y/n]: \x1b[0m"
    prompt = prompts.waiting_prompt(text, prompts.PRIMARY_PROMPTS)
    assert prompt is not None and prompt.name == "setup HA y/n"


@pytest.mark.parametrize(
    ("text", "looks"),
    [
        ("Do you like pizza? (y/n): ", True),
        ("Enter your favourite colour:", True),
        ("line\n> ", True),
        ("Are you sure?\n", True),
        ("Pulling images... 42%", False),
        ("Please type your name:", True),
        ("Migrating data:", False),
        ("Step 3/7 >", False),
        ("Checking connectivity\n", False),
        ("", False),
    ],
)
def test_looks_like_prompt(text: str, looks: bool) -> None:
    assert prompts.looks_like_prompt(text) is looks


def test_answers_table() -> None:
    a = answers(proxy_url="http://user:p%40ss@proxy.corp:3128", tls12=True, ui_port=8443, ui_protocol="https")
    by_name = {p.name: p for p in prompts.PRIMARY_PROMPTS}
    expect = {
        "proxy y/n": "y",
        "proxy URL": "http://proxy.corp:3128",
        "proxy username": "user",
        "proxy password": "p@ss",
        "tenant URL": "test",
        "setup HA y/n": "y",
        "shared folder": "/mnt/ce-ha",
        "HA IP list": "10.0.1.10,10.0.2.10,10.0.3.10",
        "current node IP": "10.0.1.10",
        "press Enter": "",
        "http or https": "https",
        "UI port": "8443",
        "JWT secret": JWT,
        "maintenance password": PASSWORD,
        "maintenance password confirmation": PASSWORD,
        "TLS 1.2": "yes",
        "custom CA certs y/n": "n",
        "backup .env y/n": "n",
        "backup .env path (current)": "",
    }
    for name, value in expect.items():
        assert by_name[name].answer(a) == value, name
    plain = answers()
    assert by_name["proxy y/n"].answer(plain) == "n" and by_name["TLS 1.2"].answer(plain) == ""
    secret = {p.name for p in prompts.PRIMARY_PROMPTS if p.secret}
    assert secret == {"proxy password", "JWT secret", "maintenance password", "maintenance password confirmation"}
    assert "p@ss" in a.secrets() and "p%40ss" in a.secrets()


@pytest.mark.parametrize(
    ("over", "setting"),
    [
        ({"jwt_secret": ""}, "jwtSecret"),
        ({"jwt_secret": "has space"}, "jwtSecret"),
        ({"jwt_secret": "a&b"}, "jwtSecret"),
        ({"maintenance_password": "it's"}, "maintenancePassword"),
        ({"maintenance_password": "Maint-pass-7431\n"}, "maintenancePassword"),
        ({"jwt_secret": "jwt\rsecret"}, "jwtSecret"),
        ({"node_ip": "10.9.9.9"}, "pulumi up"),
    ],
)
def test_validate_refuses_what_ce_would_reask_forever(over: dict[str, object], setting: str) -> None:
    with pytest.raises(PhaseError) as failed:
        answers(**over).validate()
    assert setting in failed.value.fix


def test_redactor_replaces_every_secret() -> None:
    redact = Redactor([JWT, PASSWORD, ""])
    assert redact(f"a {JWT} b {PASSWORD}{PASSWORD}") == "a *** b ******"
    assert Redactor([])("unchanged") == "unchanged"


def test_redacting_writer_handles_secrets_split_across_chunks() -> None:
    out: list[str] = []
    writer = RedactingWriter(out.append, [JWT])
    for chunk in ["debug: jwt=jwtSec", "ret42 done\nnext ", "line jwt", "Secret42"]:
        writer.write(chunk)
    writer.flush()
    text = "".join(out)
    assert JWT not in text and text == "debug: jwt=*** done\nnext line ***"


def test_redacting_writer_long_lines_without_newline() -> None:
    out: list[str] = []
    writer = RedactingWriter(out.append, [JWT])
    writer.HOLD_LIMIT = 50
    data = "x" * 60 + JWT + "y" * 60
    for i in range(0, len(data), 7):
        writer.write(data[i : i + 7])
    writer.flush()
    assert "".join(out) == "x" * 60 + "***" + "y" * 60
    assert len(out) > 2  # it did not hold everything back


# ----------------------------------------------------------------------------- the driver

FAKE_SETUP = r"""
import getpass, json, os, sys, time
mode = os.environ["FAKE_MODE"]
got = {}

def ask(name, text, secret=False):
    value = getpass.getpass(text) if secret else input(text)
    got[name] = value
    return value

print("=" * 20 + "\nFake CE setup\n" + "=" * 20, flush=True)
if mode == "menu":
    print("1. 5.1.0")
    ask("menu", "Select the version you want to install (1/2/3): ")
if mode == "unknown":
    ask("pizza", "Do you like pizza? (y/n): ")
if mode == "flood":
    while True:
        print("x" * 1000)
if mode == "invalid":
    while True:
        print("Invalid input")
if mode == "silent":
    time.sleep(60)
if mode in ("primary", "reask", "nosuccess"):
    print("Are you using HTTP(s) proxy for outbound traffic? [y/n]")
    ask("proxy", "> ")
    print("> Please enter the Netskope Tenant URL (e.g. https://demo.goskope.com)")
    ask("tenant", "Please Enter 'test' if you do not have any Netskope tenant: ")
    if mode == "nosuccess":
        print("HTTP Error 404: tenant not reachable")
        sys.exit(0)
    ask("ha", "> Do you want to setup HA Parameters? [y/n]: ")
    ask("nfs", "> Please provide the location of the NFS mount directory (Current: ''): ")
    ask("ips", '> Enter comma separated IP list to connect the machines for HA. (Current: ""): ')
    ask("me", '> Enter ip address of current node. (Current: ""): ')
    print("Checking prerequisites...", flush=True)
    time.sleep(1.0)
    print("  CPU   FAIL\n  Tenant COULDN'T VERIFY")
    ask("enter", "One or more prerequisite checks could not be verified. Press Enter to continue", secret=True)
    ask("proto", "Do you want to access CE over HTTP, or HTTPS (HTTPS is recommended)? ")
    port = ask("port", '> Enter the port on which you want to access the Netskope CE UI (Default: "443"): ')
    while mode == "reask":
        print(f"Port {port} is already in use.")
        port = ask("port", '> Enter the port on which you want to access the Netskope CE UI (Default: "443"): ')
    jwt = ask("jwt", "> Enter a JWT Secret which will be used for signing the authentication tokens: ", secret=True)
    print("debug: the JWT is " + jwt)
    ask("mp", "> Enter maintenance password that will be used for RabbitMQ and MongoDB services (This password can be set only once): ", secret=True)
    ask("mp2", "> Confirm maintenance password: ", secret=True)
    ask("tls", '> Do you want to enable TLSv1.2 along with TLSv1.3 for CE UI (Default: "No"): ')
    ask("ca", "> Do you want to provide custom CA certs? (y/n): ")
    ask("backup", "> Do you want to take backup of .env file? [y/n]: ")
if mode == "secondary":
    print("The HA is enabled. Current HA IP list: 10.0.1.10,10.0.2.10,10.0.3.10")
    ask("me", '> Enter ip address of current node. (Current: ""): ')
    ask("ca", "> Do you want to provide custom CA certs? (y/n): ")
    ask("backup", "> Do you want to take backup of .env file? [y/n]: ")
with open(os.environ["FAKE_OUT"], "w") as handle:
    json.dump(got, handle)
print("Setup completed successfully...")
print("Execute this command in primary node to start the CE")
"""


@pytest.fixture
def fake_setup(tmp_path: Path) -> Path:
    script = tmp_path / "setup"
    script.write_text(f"#!{sys.executable}\n{FAKE_SETUP}")
    script.chmod(0o755)
    return script


def drive(
    tmp_path: Path,
    mode: str,
    a: Answers | None = None,
    table: tuple[prompts.Prompt, ...] = prompts.PRIMARY_PROMPTS,
    limits: dict[str, float] | None = None,
) -> tuple[prompts.DriverResult, dict[str, str], str]:
    log: list[str] = []
    env = {"PATH": os.environ["PATH"], "FAKE_MODE": mode, "FAKE_OUT": str(tmp_path / "got.json")}
    bounds = DriverLimits(total=30, prompt_silence=10, unknown_prompt_silence=2, settle=0.2)
    for key, value in (limits or {}).items():
        setattr(bounds, key, value)
    driver = SetupDriver(["./setup"], str(tmp_path), table, a or answers(), log.append, bounds, env=env)
    try:
        result = driver.run()
    finally:
        (tmp_path / "driver.log").write_text("\n".join(log))
    got_path = tmp_path / "got.json"
    got = json.loads(got_path.read_text()) if got_path.exists() else {}
    return result, got, "\n".join(log)


def test_primary_run_answers_by_prompt_text_and_redacts(tmp_path: Path, fake_setup: Path) -> None:
    result, got, log = drive(tmp_path, "primary")
    assert result.success and result.exit_status == 0
    assert got == {
        "proxy": "n", "tenant": "test", "ha": "y", "nfs": "/mnt/ce-ha", "ips": "10.0.1.10,10.0.2.10,10.0.3.10",
        "me": "10.0.1.10", "enter": "", "proto": "https", "port": "443", "jwt": JWT, "mp": PASSWORD, "mp2": PASSWORD,
        "tls": "", "ca": "n", "backup": "n",
    }  # fmt: skip
    assert JWT not in log and PASSWORD not in log
    assert "debug: the JWT is ***" in log
    assert "answering 'JWT secret': ***" in log and "answering 'shared folder': '/mnt/ce-ha'" in log


def test_secondary_run(tmp_path: Path, fake_setup: Path) -> None:
    result, got, _ = drive(tmp_path, "secondary", answers(role="secondary", node_ip="10.0.2.10"), prompts.SECONDARY_PROMPTS)
    assert result.success and got == {"me": "10.0.2.10", "ca": "n", "backup": "n"}


def test_unknown_prompt_stops_with_the_prompt_shown(tmp_path: Path, fake_setup: Path) -> None:
    started = time.monotonic()
    with pytest.raises(SetupFailed) as failed:
        drive(tmp_path, "unknown")
    assert "does not know" in failed.value.what and "Do you like pizza? (y/n):" in failed.value.what
    assert time.monotonic() - started < 15


def test_rejected_answer_is_not_repeated_forever(tmp_path: Path, fake_setup: Path) -> None:
    with pytest.raises(SetupFailed) as failed:
        drive(tmp_path, "reask")
    assert "'UI port' 4 times" in failed.value.what and "cloud-exchange-ha:uiPort" in failed.value.fix


def test_version_menu_is_refused(tmp_path: Path, fake_setup: Path) -> None:
    with pytest.raises(SetupFailed) as failed:
        drive(tmp_path, "menu")
    assert "cloud-exchange-ha:ceVersion" in failed.value.fix


def test_missing_success_text_is_failure(tmp_path: Path, fake_setup: Path) -> None:
    result, _, _ = drive(tmp_path, "nosuccess")
    assert not result.success and result.exit_status == 0 and "404" in result.last_line


@pytest.mark.parametrize(
    ("mode", "limits", "words"),
    [
        ("flood", {"max_output": 200_000}, "MiB"),
        ("invalid", {"max_output": 10**9}, "Invalid input"),
        ("silent", {"prompt_silence": 2}, "printed nothing"),
        ("silent", {"total": 2, "prompt_silence": 100}, "did not finish"),
    ],
)
def test_runaway_setup_is_bounded(tmp_path: Path, fake_setup: Path, mode: str, limits: dict[str, float], words: str) -> None:
    started = time.monotonic()
    with pytest.raises(SetupFailed) as failed:
        drive(tmp_path, mode, limits=limits)
    assert words in failed.value.what
    assert time.monotonic() - started < 20


def test_a_secret_needed_but_missing_names_the_setting(tmp_path: Path, fake_setup: Path) -> None:
    with pytest.raises(PhaseError) as failed:
        drive(tmp_path, "primary", answers(maintenance_password=""))
    assert "cloud-exchange-ha:maintenancePassword" in failed.value.fix


# ----------------------------------------------------------------------------- text helpers, exactly


def test_strip_ansi_removes_colours_and_carriage_returns() -> None:
    assert prompts.strip_ansi("\x1b[1;33mEnter\x1b[0m it:\r\n\x1b(Bdone\r") == "Enter it:\ndone"


def test_last_line_is_the_last_non_blank_line() -> None:
    assert prompts.last_line("first\n  second  \r\n \n") == "second"
    assert prompts.last_line("") == "(no output)"
    assert prompts.last_line(" \n\r\n") == "(no output)"


def test_a_prompt_is_found_in_the_last_4000_characters_only() -> None:
    key = "Press Enter to continue"
    found = prompts.waiting_prompt(key + " " * (4000 - len(key)), prompts.PRIMARY_PROMPTS)
    assert found is not None and found.name == "press Enter"
    assert prompts.waiting_prompt(key + " " * (4001 - len(key)), prompts.PRIMARY_PROMPTS) is None


def test_of_prompts_matching_at_once_the_later_start_wins_then_the_first_in_the_table() -> None:
    later_start = (prompts.Prompt("long", r"Enter the port", prompts._bare("1")), prompts.Prompt("short", r"port", prompts._bare("2")))
    chosen = prompts.waiting_prompt("Enter the port: ", later_start)
    assert chosen is not None and chosen.name == "short"
    same_start = (prompts.Prompt("first", r"Enter the", prompts._bare("1")), prompts.Prompt("second", r"Enter", prompts._bare("2")))
    chosen = prompts.waiting_prompt("Enter the name: ", same_start)
    assert chosen is not None and chosen.name == "first"


def test_looks_like_prompt_reads_the_last_400_characters_and_a_closing_angle() -> None:
    assert prompts.looks_like_prompt("Enter" + " " * 394 + ":")  # 400 characters
    assert not prompts.looks_like_prompt("Enter" + " " * 395 + ":")  # 401: "Enter" is cut
    assert prompts.looks_like_prompt("Please choose one >")


def test_secrets_include_the_url_quoted_form_with_slashes_quoted() -> None:
    a = answers(proxy_url="http://user:p%2Fss@proxy.corp:3128")
    assert a.secrets() == [JWT, PASSWORD, "Maint%231pass", "p/ss", "p%2Fss"]


@pytest.mark.parametrize(
    ("over", "what", "fix"),
    [
        ({"jwt_secret": ""}, "no JWT secret in secrets.json (CE's setup asks for it on every primary run)", "set cloud-exchange-ha:jwtSecret"),
        ({"jwt_secret": "a b&c"}, "the JWT secret contains characters CE forbids or its prompt drops (' ' '&')",
         "change cloud-exchange-ha:jwtSecret"),
        ({"maintenance_password": "it's"}, "the maintenance password contains characters CE forbids or its prompt drops (\"'\")",
         "change cloud-exchange-ha:maintenancePassword"),
        ({"node_ip": "10.9.9.9"}, "node_ip 10.9.9.9 is not in cluster_ips", "the program built node.json wrongly; re-run pulumi up"),
    ],
)
def test_validate_says_what_and_what_to_change(over: dict[str, object], what: str, fix: str) -> None:
    with pytest.raises(PhaseError) as failed:
        answers(**over).validate()
    assert (failed.value.what, failed.value.fix) == (what, fix)


def test_a_fixed_answer_ignores_the_nodes_values() -> None:
    assert prompts._bare("n")(answers()) == "n" and prompts._bare("")(answers(role="secondary")) == ""


def test_a_secondary_needs_no_jwt_secret() -> None:
    answers(role="secondary", jwt_secret="", node_ip="10.0.2.10").validate()
