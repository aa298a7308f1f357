"""system.py: os-release parsing, output lines, the command runner, retries, path redirection."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from scripts.cenode.system import (
    CommandTimeout,
    NodeEnv,
    PhaseError,
    PhaseLog,
    PhaseResult,
    Runner,
    parse_os_release,
    retry,
    setting,
    write_atomic,
)

UBUNTU_2204 = """PRETTY_NAME="Ubuntu 22.04.4 LTS"
NAME="Ubuntu"
VERSION_ID="22.04"
VERSION="22.04.4 LTS (Jammy Jellyfish)"
VERSION_CODENAME=jammy
ID=ubuntu
ID_LIKE=debian
UBUNTU_CODENAME=jammy
"""
DEBIAN_12 = """PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION_CODENAME=bookworm
ID=debian
"""
RHEL_94 = """NAME="Red Hat Enterprise Linux"
VERSION="9.4 (Plow)"
ID="rhel"
ID_LIKE="fedora"
VERSION_ID="9.4"
PRETTY_NAME="Red Hat Enterprise Linux 9.4 (Plow)"
# a comment
"""
ROCKY_8 = 'NAME="Rocky Linux"\nID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="8.9"\n'


@pytest.mark.parametrize(
    ("text", "os_id", "version", "family", "codename"),
    [
        (UBUNTU_2204, "ubuntu", "22.04", "debian", "jammy"),
        (DEBIAN_12, "debian", "12", "debian", "bookworm"),
        (RHEL_94, "rhel", "9.4", "rhel", ""),
        (ROCKY_8, "rocky", "8.9", "rhel", ""),
        ("ID=alpine\nVERSION_ID=3.19.1\n", "alpine", "3.19.1", "unknown", ""),
    ],
)
def test_parse_os_release(text: str, os_id: str, version: str, family: str, codename: str) -> None:
    info = parse_os_release(text)
    assert (info.id, info.version_id, info.family, info.codename) == (os_id, version, family, codename)


def test_os_version_tuple() -> None:
    assert parse_os_release(RHEL_94).version_tuple == (9, 4)
    assert parse_os_release(UBUNTU_2204).version_tuple == (22, 4)


def test_result_and_error_lines_are_single_lines() -> None:
    assert PhaseResult("changed", "a\nb   c").line("mount") == "mount: changed a b c"
    assert PhaseResult("unchanged").line("stop") == "stop: unchanged"
    error = PhaseError("disk\ntoo small", f"set {setting('rootVolumeSizeGb')}")
    assert error.line("preflight") == "ERROR preflight: disk too small - fix: set cloud-exchange-ha:rootVolumeSizeGb"


def test_host_path_redirects_only_with_a_root(tmp_path: Path) -> None:
    assert NodeEnv().host_path("/etc/fstab") == "/etc/fstab"
    assert NodeEnv(root=str(tmp_path)).host_path("/etc/fstab") == str(tmp_path / "etc" / "fstab")


def test_phase_log_is_private_and_appends(tmp_path: Path) -> None:
    for _ in range(2):
        log = PhaseLog(str(tmp_path / "logs"), "mount")
        log.info("hello")
        log.close()
    path = tmp_path / "logs" / "mount.log"
    assert path.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "logs").stat().st_mode & 0o777 == 0o700
    assert path.read_text().count("hello") == 2


def test_runner_logs_command_output_and_rc(tmp_path: Path) -> None:
    log = PhaseLog(str(tmp_path), "t")
    result = Runner(log).run(["sh", "-c", "echo out; echo err >&2; exit 3"], timeout=10)
    log.close()
    assert (result.rc, result.out.strip(), result.err.strip()) == (3, "out", "err")
    assert result.tail() == "err"
    text = (tmp_path / "t.log").read_text()
    assert "$ sh -c 'echo out; echo err >&2; exit 3'" in text and "stdout| out" in text and "rc=3" in text


def test_runner_input_is_not_logged(tmp_path: Path) -> None:
    log = PhaseLog(str(tmp_path), "t")
    result = Runner(log).run(["cat"], timeout=10, input_text="s3cret-input", log_output=False)
    log.close()
    assert result.out == "s3cret-input"
    assert "s3cret-input" not in (tmp_path / "t.log").read_text()


def test_runner_timeout_kills_the_whole_group(tmp_path: Path) -> None:
    log = PhaseLog(str(tmp_path), "t")
    marker = tmp_path / "survived"
    started = time.monotonic()
    with pytest.raises(CommandTimeout):
        Runner(log).run(["sh", "-c", f"(sleep 3; touch {marker}) & sleep 30"], timeout=1)
    log.close()
    assert time.monotonic() - started < 15
    time.sleep(3.5)
    assert not marker.exists(), "the background child of the timed-out command kept running"


def test_runner_missing_program_is_rc_127(tmp_path: Path) -> None:
    log = PhaseLog(str(tmp_path), "t")
    assert Runner(log).run(["/nonexistent/prog"], timeout=5).rc == 127
    log.close()


def test_retry_is_bounded_and_stops_on_success(tmp_path: Path) -> None:
    log = PhaseLog(str(tmp_path), "t")
    seen: list[int] = []
    slept: list[float] = []

    def action() -> int:
        seen.append(1)
        return len(seen)

    assert retry(action, attempts=3, delay=5, should_retry=lambda n: True, log=log, what="x", sleep=slept.append) == 3
    assert slept == [5, 5]
    seen.clear()
    assert retry(action, attempts=5, delay=1, should_retry=lambda n: n < 2, log=log, what="x", sleep=slept.append) == 2
    log.close()


def test_retry_with_a_time_budget_stops_when_it_is_spent(tmp_path: Path) -> None:
    log = PhaseLog(str(tmp_path), "t")
    now = [100.0]
    calls: list[float] = []
    told: list[int] = []

    def action() -> bool:
        calls.append(now[0])
        return False

    def sleep(seconds: float) -> None:
        now[0] += seconds

    last = retry(action, should_retry=lambda ok: not ok, log=log, what="x", delay=10, budget=25, sleep=sleep,
                 clock=lambda: now[0], on_retry=lambda _, attempt: told.append(attempt))  # fmt: skip
    assert last is False and calls == [100.0, 110.0, 120.0, 130.0] and told == [1, 2, 3]
    with pytest.raises(ValueError):
        retry(action, should_retry=lambda ok: not ok, log=log, what="x", delay=1)
    log.close()


def test_write_atomic_sets_mode_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "d" / "f"
    write_atomic(str(target), "x\n", 0o600)
    write_atomic(str(target), "y\n", 0o640)
    assert target.read_text() == "y\n"
    assert target.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in target.parent.iterdir()) == ["f"]
