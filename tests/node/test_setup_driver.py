"""The 5.x setup driver's loop and its bounds, exactly at and just past each limit.

The loop (``SetupDriver.drive``) is played against a scripted stand-in for pexpect's child with a
clock the script sets, so limits are hit at exact times and sizes; ``spawn`` is checked against a
real child program that reports how it was started (cwd, arguments, terminal, echo, bad bytes).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pexpect
import pytest

from scripts.cenode import prompts
from scripts.cenode.prompts import Answers, DriverLimits, DriverResult, SetupDriver, SetupFailed
from scripts.cenode.system import PhaseError

JWT = "jwtSecret42"
PASSWORD = "Maint#1pass"
HA = "> Do you want to setup HA Parameters? [y/n]: "
CA = "> Do you want to provide custom CA certs? (y/n): "
PIZZA = "Do you like pizza? (y/n): "
QUIET = None  # nothing within the settle time
END = "EOF"


def answers(**over: object) -> Answers:
    values: dict[str, object] = {
        "role": "primary",
        "tenant_url": "test",
        "shared_dir": "/mnt/ce-ha",
        "cluster_ips": ["10.0.1.10", "10.0.2.10"],
        "node_ip": "10.0.1.10",
        "jwt_secret": JWT,
        "maintenance_password": PASSWORD,
    }
    values.update(over)
    return Answers(**values)  # type: ignore[arg-type]


class ScriptedChild:
    """Stands in for ``pexpect.spawn``: each read plays one ``(time, output)`` event; output
    QUIET is a read timeout, END the end of output. Records answers sent and every close."""

    def __init__(self, events: list[tuple[float, str | None]], close_error: Exception | None = None) -> None:
        self.events = list(events)
        self.now = 0.0
        self.logfile_read: object = None
        self.sent: list[str] = []
        self.closes: list[bool] = []
        self.close_error = close_error

    def read_nonblocking(self, size: int, timeout: float) -> str:
        self.now, output = self.events.pop(0)
        if output == END:
            raise pexpect.EOF("end of output")
        if output is None:
            raise pexpect.TIMEOUT("quiet")
        self.logfile_read.write(output)  # type: ignore[attr-defined]
        return output

    def sendline(self, s: str) -> int:
        self.sent.append(s)
        return len(s) + 1

    def isalive(self) -> bool:
        return bool(self.events)

    def close(self, force: bool = False) -> None:
        self.closes.append(force)
        if self.close_error is not None:
            raise self.close_error


def drive(
    child: ScriptedChild,
    limits: DriverLimits,
    a: Answers | None = None,
    log: list[str] | None = None,
    told: list[int] | None = None,
) -> DriverResult:
    lines = log if log is not None else []
    on_answer = told.append if told is not None else None
    driver = SetupDriver(["./setup"], "/nonexistent", prompts.PRIMARY_PROMPTS, a or answers(), lines.append, limits,
                         clock=lambda: child.now, on_answer=on_answer)
    return driver.drive(child)  # type: ignore[arg-type]


def limits(**over: float) -> DriverLimits:
    bounds = DriverLimits(total=1000, prompt_silence=100, unknown_prompt_silence=50, settle=0.2, max_output=10**6, max_invalid=5)
    for key, value in over.items():
        setattr(bounds, key, value)
    return bounds


def failure(child: ScriptedChild, bounds: DriverLimits, log: list[str] | None = None) -> SetupFailed:
    with pytest.raises(SetupFailed) as failed:
        drive(child, bounds, log=log)
    assert child.closes == [True], "a failed setup is killed"
    return failed.value


# ----------------------------------------------------------------------------- answering and logging


def test_answers_waiting_prompts_logs_non_blank_lines_and_reports_success() -> None:
    child = ScriptedChild([
        (0.0, "Fake setup\n"), (0.1, "\n"), (0.2, "  \n"), (0.3, "port in use  \n"), (0.4, "MAX\n"),
        (0.5, HA), (1.0, QUIET), (1.2, QUIET), (1.5, "\n" + CA), (2.0, QUIET),
        (2.5, "\nSetup completed successfully...\n"), (3.0, END),
    ])  # fmt: skip
    child.exitstatus = 0  # type: ignore[attr-defined]
    log: list[str] = []
    told: list[int] = []
    result = drive(child, limits(), log=log, told=told)
    assert result == DriverResult(True, 0, ["setup HA y/n", "custom CA certs y/n"], "Setup completed successfully...")
    assert child.sent == ["y", "n"] and told == [1, 2] and child.closes == [False]
    assert log == [
        "Fake setup",
        "port in use  ",
        "MAX",
        "[driver] answering 'setup HA y/n': 'y'",
        HA,
        "[driver] answering 'custom CA certs y/n': 'n'",
        CA + "\nSetup completed successfully...",  # one write up to its last newline
        "[driver] setup exited with 0; success text seen",
    ]


def test_end_without_success_text_is_no_success() -> None:
    log: list[str] = []
    result = drive(ScriptedChild([(0.0, "Setup failed: tenant\n"), (1.0, END)]), limits(), log=log)
    assert result == DriverResult(False, None, [], "Setup failed: tenant")  # this child has no exit status
    assert log[-1] == "[driver] setup exited with None; success text NOT seen"


def test_the_result_shows_the_last_8191_characters_of_a_long_last_line() -> None:
    result = drive(ScriptedChild([(0.0, "z" * 9000 + "\n"), (1.0, END)]), limits())
    assert result.last_line == "z" * 8191  # the last 8192 characters of output, minus the newline


def test_a_prompt_may_be_asked_twice() -> None:
    child = ScriptedChild([(0.0, HA), (0.5, QUIET), (1.0, "\n" + HA), (1.5, QUIET), (2.0, END)])
    assert drive(child, limits()).answered == ["setup HA y/n", "setup HA y/n"]
    assert child.sent == ["y", "y"]


def test_a_prompt_asked_a_third_time_stops_setup() -> None:
    child = ScriptedChild([(0.0, HA), (0.5, QUIET), (1.0, "\n" + HA), (1.5, QUIET), (2.0, "\n" + HA), (2.5, QUIET)])
    failed = failure(child, limits())
    assert failed.what == "setup asked 'setup HA y/n' 3 times (it rejected the answer); last output: '> Do you want to setup HA Parameters? [y/n]:'"
    assert failed.fix == "look at the setup log"
    assert child.sent == ["y", "y"]


def test_a_fatal_prompt_stops_setup_with_its_fix() -> None:
    child = ScriptedChild([(0.0, "Select the version you want to install (1/2/3): "), (0.5, QUIET)])
    failed = failure(child, limits())
    assert failed.what == "setup asked 'version menu'; last output: 'Select the version you want to install (1/2/3):'"
    assert "cloud-exchange-ha:ceVersion" in failed.fix and child.sent == []


def test_a_missing_secret_kills_setup_and_names_the_setting() -> None:
    child = ScriptedChild([(0.0, "> Confirm maintenance password: "), (0.5, QUIET)])
    with pytest.raises(PhaseError) as failed:
        drive(child, limits(), a=answers(maintenance_password=""))
    assert failed.value.what == "CE's setup asks for the maintenancePassword but secrets.json has none"
    assert failed.value.fix == "set cloud-exchange-ha:maintenancePassword"
    assert child.closes == [True] and child.sent == []


def test_a_failing_close_is_logged_and_the_failure_still_raised() -> None:
    child = ScriptedChild([(0.0, "Select the version you want to install (1/2/3): "), (0.5, QUIET)], close_error=OSError("gone"))
    log: list[str] = []
    failure(child, limits(), log=log)
    assert "closing setup: OSError" in log


# ----------------------------------------------------------------------------- bounds, at and past each limit


def test_total_time_exactly_reached_is_allowed() -> None:
    result = drive(ScriptedChild([(10.0, QUIET), (11.0, END)]), limits(total=10))
    assert result.success is False and result.answered == []


def test_total_time_exceeded_stops_setup() -> None:
    failed = failure(ScriptedChild([(10.5, QUIET)]), limits(total=10))
    assert failed.what == "setup did not finish within 10 s; last output: '(no output)'"
    assert failed.fix == "raise timeouts.setup; read the log"


def test_output_exactly_at_the_limit_is_allowed() -> None:
    result = drive(ScriptedChild([(0.0, "x" * (3 * 1024 * 1024)), (1.0, END)]), limits(max_output=3 * 1024 * 1024))
    assert result.success is False


def test_output_past_the_limit_stops_setup() -> None:
    child = ScriptedChild([(0.0, "x" * (3 * 1024 * 1024)), (0.1, "y\n")])
    failed = failure(child, limits(max_output=3 * 1024 * 1024))
    assert failed.what == "setup printed more than 3 MiB (looping?); last output: '" + "x" * 199 + "y'"
    assert failed.fix == "read the log"


def test_invalid_input_up_to_the_limit_is_allowed() -> None:
    result = drive(ScriptedChild([(0.0, "Invalid input\n"), (0.1, "Invalid input\n"), (1.0, END)]), limits(max_invalid=2))
    assert result.success is False


def test_invalid_input_past_the_limit_stops_setup_counting_across_chunks() -> None:
    child = ScriptedChild([(0.0, "Invalid input\n"), (0.1, "Invalid input\n"), (0.2, "Invalid input\n")])
    failed = failure(child, limits(max_invalid=2))
    assert failed.what == "setup keeps printing 'Invalid input'; last output: 'Invalid input'"
    assert failed.fix == "look at the setup log: an answer does not fit"


def test_unknown_prompt_silent_exactly_the_limit_is_allowed() -> None:
    result = drive(ScriptedChild([(0.0, PIZZA), (5.0, QUIET), (6.0, END)]), limits(unknown_prompt_silence=5))
    assert result.answered == []


def test_unknown_prompt_silent_past_the_limit_stops_setup() -> None:
    failed = failure(ScriptedChild([(0.0, PIZZA), (5.5, QUIET)]), limits(unknown_prompt_silence=5))
    assert failed.what == "setup asks something this driver does not know (silent 5 s); last output: 'Do you like pizza? (y/n):'"
    assert failed.fix == "add the prompt to scripts/cenode/prompts.py (or fix the node state that causes it)"


def test_silence_after_an_answer_counts_from_the_answer() -> None:
    # answered at 0.5; quiet at 0.7 (nothing waiting); the unknown prompt at 1.0 is silent 5.5 s at 6.5
    child = ScriptedChild([(0.0, HA), (0.5, QUIET), (0.7, QUIET), (1.0, PIZZA), (6.5, QUIET)])
    failed = failure(child, limits(unknown_prompt_silence=5))
    assert failed.what == "setup asks something this driver does not know (silent 5 s); last output: 'Do you like pizza? (y/n):'"
    assert child.sent == ["y"]


def test_silence_exactly_the_limit_is_allowed() -> None:
    result = drive(ScriptedChild([(0.0, "Pulling images...\n"), (7.0, QUIET), (8.0, END)]), limits(prompt_silence=7))
    assert result.last_line == "Pulling images..."


def test_silence_past_the_limit_stops_setup() -> None:
    failed = failure(ScriptedChild([(0.0, "Pulling images...\n"), (7.5, QUIET)]), limits(prompt_silence=7))
    assert failed.what == "setup printed nothing for 7 s; last output: 'Pulling images...'"
    assert failed.fix == "raise timeouts.setup_prompt; read the log"


# ----------------------------------------------------------------------------- spawn: a real child program

PROBE = r"""
import os, sys, termios
size = os.get_terminal_size(1)
echo = "on" if termios.tcgetattr(0)[3] & termios.ECHO else "off"
print(f"cwd={os.getcwd()} args={sys.argv[1:]} size={size.lines}x{size.columns} echo={echo} mode={os.environ.get('PROBE_MODE')}", flush=True)
sys.stdout.buffer.write(b"bad byte \xff here\n")
sys.stdout.flush()
print("Setup completed successfully")
"""


def test_spawn_runs_a_program_from_path_in_setups_folder_with_its_arguments(tmp_path: Path) -> None:
    (tmp_path / "probe.py").write_text(PROBE)
    python = Path(sys.executable)
    env = {"PATH": f"{python.parent}:{os.environ['PATH']}", "PROBE_MODE": "m1"}
    log: list[str] = []
    driver = SetupDriver([python.name, "probe.py", "one", "two"], str(tmp_path), prompts.PRIMARY_PROMPTS, answers(), log.append,
                         DriverLimits(total=30, prompt_silence=10, unknown_prompt_silence=5, settle=0.2), env=env)
    result = driver.run()
    assert result.success and result.exit_status == 0
    lines = [line.rstrip("\r") for entry in log if not entry.startswith("[driver]") for line in entry.split("\n")]  # a pty ends lines in \r\n
    assert lines == [
        f"cwd={os.path.realpath(tmp_path)} args=['one', 'two'] size=50x250 echo=off mode=m1",
        "bad byte \ufffd here",
        "Setup completed successfully",
    ]
