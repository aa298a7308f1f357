"""``main(argv)``: the table, the JSON, exit codes, files read on a node, and no secret in output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from scripts.cenode import health, nodeconfig, system
from scripts.cenode.health import main

from .mockcluster import DOWN, HANG, OUTSIDER, PRIMARY, SECONDARY, FakeReplicaSet, ui_server

REPO = Path(__file__).resolve().parents[2]


class Node:
    """The mocks: files a CE node holds, written under a test directory instead of /etc."""

    PASSWORD = "Pa55-never-print-me-7f3a"
    JWT = "jwt-never-print-me-91c2"

    @staticmethod
    def config_dir(tmp_path: Path, password: str | None = None) -> Path:
        config = tmp_path / "etc"
        config.mkdir()
        if password is not None:
            secrets = config / nodeconfig.SECRETS_FILE
            secrets.write_text(json.dumps({"maintenance_password": password, "jwt_secret": Node.JWT}))
            secrets.chmod(0o600)
        return config

    @staticmethod
    def shared_env(tmp_path: Path, primary_ip: str) -> Path:
        env = tmp_path / "shared.env"
        env.write_text(f"JWT_SECRET={Node.JWT}\nHA_IP_LIST=127.0.0.1\nHA_PRIMARY_NODE_IP='{primary_ip}'\n")
        return env


def run(argv: list[str], config_dir: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main([*argv, "--config-dir", str(config_dir), "--shared-env", str(config_dir / "absent.env")])
    out, err = capsys.readouterr()
    return code, out, err


def base_args(rs: FakeReplicaSet, ui_port: int, *extra: str) -> list[str]:
    return ["--nodes", rs.spec, "--ui-protocol", "http", "--ui-port", str(ui_port), "--timeout", "2", *extra]


def test_healthy_cluster_exits_zero(tmp_path: Path, ui_port: int, capsys: pytest.CaptureFixture[str]) -> None:
    with FakeReplicaSet([PRIMARY, SECONDARY, SECONDARY]) as rs:
        code, out, err = run(base_args(rs, ui_port), Node.config_dir(tmp_path), capsys)
    assert (code, err) == (0, "")
    assert "HEALTHY (3 nodes" in out


def test_table_shows_each_node_state(tmp_path: Path, ui_port: int, capsys: pytest.CaptureFixture[str]) -> None:
    with FakeReplicaSet([PRIMARY, SECONDARY, DOWN]) as rs:
        _, out, _ = run(base_args(rs, ui_port), Node.config_dir(tmp_path), capsys)
    rows = [line.split()[:3] for line in out.splitlines() if line.startswith("127.0.0.1:")]
    assert rows == [
        [rs.members[0].address, "PRIMARY", "yes"],
        [rs.members[1].address, "SECONDARY", "yes"],
        [rs.members[2].address, "UNREACHABLE", "yes"],
    ]


def test_unhealthy_exits_one_with_one_stderr_line_per_problem(tmp_path: Path, ui_port: int, capsys: pytest.CaptureFixture[str]) -> None:
    with FakeReplicaSet([SECONDARY, SECONDARY, DOWN]) as rs:
        code, _, err = run(base_args(rs, ui_port), Node.config_dir(tmp_path), capsys)
    assert code == 1
    assert err.splitlines() == [
        f"problem: {rs.members[2].address}: MongoDB unreachable (connection refused)",
        "problem: no PRIMARY: no node claims to be primary",
    ]


def test_json_reports_primary_and_members(tmp_path: Path, ui_port: int, capsys: pytest.CaptureFixture[str]) -> None:
    with FakeReplicaSet([SECONDARY, PRIMARY, SECONDARY]) as rs:
        _, out, _ = run(base_args(rs, ui_port, "--json"), Node.config_dir(tmp_path), capsys)
    report = json.loads(out)
    assert (report["healthy"], report["primary"], report["primary_ip"]) == (True, rs.members[1].address, "127.0.0.1")
    assert [m["name"] for m in report["members"]] == [m.address for m in rs.members]


def test_json_is_printed_when_unhealthy_too(tmp_path: Path, ui_port: int, capsys: pytest.CaptureFixture[str]) -> None:
    with FakeReplicaSet([PRIMARY, SECONDARY, DOWN]) as rs:
        code, out, _ = run(base_args(rs, ui_port, "--json"), Node.config_dir(tmp_path), capsys)
    assert code == 1
    assert json.loads(out)["problems"] == [f"{rs.members[2].address}: MongoDB unreachable (connection refused)"]


def test_ce_primary_is_read_from_the_shared_env(tmp_path: Path, ui_port: int, capsys: pytest.CaptureFixture[str]) -> None:
    env = Node.shared_env(tmp_path, "127.0.0.1")
    with FakeReplicaSet([PRIMARY, SECONDARY, SECONDARY]) as rs:
        main([*base_args(rs, ui_port, "--json"), "--config-dir", str(Node.config_dir(tmp_path)), "--shared-env", str(env)])
    report = json.loads(capsys.readouterr().out)
    assert report["ce_primary"] == "127.0.0.1"


def test_ce_primary_is_unknown_without_the_shared_env(tmp_path: Path, ui_port: int, capsys: pytest.CaptureFixture[str]) -> None:
    with FakeReplicaSet([PRIMARY, SECONDARY, SECONDARY]) as rs:
        code, out, _ = run(base_args(rs, ui_port), Node.config_dir(tmp_path), capsys)
    assert code == 0
    assert "CE primary   unknown" in out


def test_secrets_never_appear_in_human_output(tmp_path: Path, ui_port: int, capsys: pytest.CaptureFixture[str]) -> None:
    config = Node.config_dir(tmp_path, Node.PASSWORD)
    env = Node.shared_env(tmp_path, "127.0.0.1")
    with FakeReplicaSet([PRIMARY, SECONDARY, HANG], password=Node.PASSWORD) as rs:
        code = main([*base_args(rs, ui_port), "--timeout", "1", "--config-dir", str(config), "--shared-env", str(env)])
    out, err = capsys.readouterr()
    assert code == 1  # the hanging node: the output is full of error texts
    assert "replSetGetStatus" in out  # the credentials were really used
    assert Node.PASSWORD not in out + err
    assert Node.JWT not in out + err


def test_secrets_never_appear_in_json_output(tmp_path: Path, ui_port: int, capsys: pytest.CaptureFixture[str]) -> None:
    config = Node.config_dir(tmp_path, Node.PASSWORD)
    env = Node.shared_env(tmp_path, "127.0.0.1")
    with FakeReplicaSet([PRIMARY, SECONDARY, DOWN], password=Node.PASSWORD) as rs:
        main([*base_args(rs, ui_port, "--json"), "--config-dir", str(config), "--shared-env", str(env)])
    out, err = capsys.readouterr()
    assert json.loads(out)["members_source"] == "replSetGetStatus"
    assert Node.PASSWORD not in out + err
    assert Node.JWT not in out + err


def test_wrong_password_is_reported_without_either_password(tmp_path: Path, ui_port: int, capsys: pytest.CaptureFixture[str]) -> None:
    config = Node.config_dir(tmp_path, "wrong-" + Node.PASSWORD)
    with FakeReplicaSet([PRIMARY, SECONDARY, SECONDARY], password=Node.PASSWORD) as rs:
        code, out, err = run(base_args(rs, ui_port, "--json"), config, capsys)
    assert code == 1
    assert "authentication as root failed" in err
    assert Node.PASSWORD not in out + err


def test_explicit_unreadable_credentials_are_a_problem(tmp_path: Path, ui_port: int, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "no-such-secrets.json"
    with FakeReplicaSet([PRIMARY, SECONDARY, SECONDARY]) as rs:
        code, _, err = run(base_args(rs, ui_port, "--credentials", str(missing)), Node.config_dir(tmp_path), capsys)
    assert code == 1
    assert f"problem: credentials file {missing} unusable" in err


def test_default_credentials_absent_is_only_a_note(tmp_path: Path, ui_port: int, capsys: pytest.CaptureFixture[str]) -> None:
    with FakeReplicaSet([PRIMARY, SECONDARY, SECONDARY]) as rs:
        code, out, _ = run(base_args(rs, ui_port), Node.config_dir(tmp_path), capsys)
    assert code == 0
    assert "note: replSetGetStatus skipped" in out


def test_nodes_default_to_node_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = Node.config_dir(tmp_path)
    with ui_server() as port, FakeReplicaSet([PRIMARY, SECONDARY, SECONDARY]) as rs:
        node = nodeconfig.NodeConfig(
            node_name="ce-1", node_ip="127.0.0.1", role="primary", cluster_ips=[m.address for m in rs.members],
            ce_version="v5.1.2", ce_repo_url="", ce_dir="/opt/ta_cloud_exchange", shared_dir=str(tmp_path / "shared"),
            ui_protocol="http", ui_port=port,
        )  # fmt: skip
        (config / nodeconfig.NODE_FILE).write_text(node.to_json())
        code = main(["--config-dir", str(config), "--json", "--timeout", "2"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert [n["node"] for n in report["nodes"]] == [m.address for m in rs.members]


def test_no_nodes_anywhere_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--config-dir", str(Node.config_dir(tmp_path))])
    assert code == 2
    assert "give --nodes" in capsys.readouterr().err


def test_malformed_node_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--nodes", "127.0.0.1:mongo", "--config-dir", str(Node.config_dir(tmp_path))])
    assert code == 2
    assert "is not a number" in capsys.readouterr().err


def test_launcher_runs_the_module(tmp_path: Path, ui_port: int) -> None:
    with FakeReplicaSet([PRIMARY, SECONDARY, DOWN]) as rs:
        done = subprocess.run(
            [str(REPO / "ce-health"), *base_args(rs, ui_port), "--config-dir", str(Node.config_dir(tmp_path))],
            capture_output=True, text=True, timeout=30, env={**os.environ, "PYTHONPATH": ""}, check=False,
        )  # fmt: skip
    assert done.returncode == 1
    assert f"problem: {rs.members[2].address}: MongoDB unreachable" in done.stderr
    assert "PRIMARY" in done.stdout


def test_module_runs_with_python_dash_m(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cenode.health", "--help"],
        cwd=REPO / "scripts", capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 0
    assert "--insecure-ui" in done.stdout


def test_json_is_one_line_for_the_verify_step(tmp_path: Path, ui_port: int, capsys: pytest.CaptureFixture[str]) -> None:
    with FakeReplicaSet([PRIMARY, SECONDARY, SECONDARY]) as rs:
        _, out, _ = run(base_args(rs, ui_port, "--json"), Node.config_dir(tmp_path), capsys)
    assert len(out.splitlines()) == 1
    assert json.loads(out.splitlines()[-1])["primary"] == rs.members[0].address


# ---- --wait: verify re-checks until the cluster is healthy (a new member's initial sync), bounded ----


def test_wait_re_checks_until_a_joining_member_becomes_secondary(
        tmp_path: Path, ui_port: int, capsys: pytest.CaptureFixture[str]) -> None:
    """A member still outside the set (its join not done) makes the first checks unhealthy; once it is
    SECONDARY, --wait ends healthy and says how many checks it took."""
    with FakeReplicaSet([PRIMARY, SECONDARY, OUTSIDER]) as rs:
        joining = rs.members[2]
        timer = threading.Timer(2.5, lambda: setattr(joining, "role", SECONDARY))
        timer.start()
        try:
            code, out, err = run(base_args(rs, ui_port, "--wait", "30", "--json"), Node.config_dir(tmp_path), capsys)
        finally:
            timer.cancel()
    report = json.loads(out.strip().splitlines()[-1])
    assert (code, err) == (0, "")
    assert report["healthy"] is True and report["checks"] == 2  # at 0 s (unhealthy), at 5 s (healthy)
    assert 4.5 <= report["waited_s"] < 30
    assert f"healthy after 2 check(s) in {round(report['waited_s'])} s" in report["notes"]


def test_wait_gives_up_after_its_bound_and_reports_the_last_problems(
        tmp_path: Path, ui_port: int, capsys: pytest.CaptureFixture[str]) -> None:
    with FakeReplicaSet([PRIMARY, SECONDARY, DOWN]) as rs:
        started = time.monotonic()
        code, out, err = run(base_args(rs, ui_port, "--wait", "6", "--json"), Node.config_dir(tmp_path), capsys)
        took = time.monotonic() - started
    report = json.loads(out.strip().splitlines()[-1])
    assert code == 1
    assert report["checks"] == 3  # at 0 s, 5 s and 6 s: the last sleep is cut to the bound
    assert any(note.startswith("still unhealthy after 3 check(s) over 6 s (--wait 6)") for note in report["notes"])
    assert err.splitlines() == [f"problem: {rs.members[2].address}: MongoDB unreachable (connection refused)"]
    assert took < 6 + 3 * 2 + 2  # the bound plus at most one check's own timeout (2 s) per check


def test_wait_without_a_number_on_a_healthy_cluster_checks_once(
        tmp_path: Path, ui_port: int, capsys: pytest.CaptureFixture[str]) -> None:
    config = Node.config_dir(tmp_path)
    with FakeReplicaSet([PRIMARY, SECONDARY, SECONDARY]) as rs:
        code, out, _ = run(base_args(rs, ui_port, "--json", "--wait"), config, capsys)
    report = json.loads(out.strip().splitlines()[-1])
    assert code == 0 and report["checks"] == 1 and "healthy at the first check" in report["notes"]


def test_wait_checks_every_5_s_up_to_its_bound() -> None:
    """300 s of waiting: a check at 0, 5, ..., 300 s, and the default bound (timeouts.healthy) is 300 s."""
    seen: list[float] = []

    def never_healthy() -> health.ClusterHealth:
        return health.ClusterHealth(None, None, None, (), (), "none", ("no PRIMARY",))

    def sleep(seconds: float) -> None:  # the clock moves only while waiting (checks take no time here)
        seen.append(seconds)

    report = health.wait_until_healthy(never_healthy, 300, clock=lambda: sum(seen), sleep=sleep)
    assert report.checks == 61 and report.waited_s == 300.0  # a check every 5 s from 0 s to 300 s
    assert set(seen) == {5.0} and len(seen) == 60
    assert system.DEFAULT_TIMEOUTS["healthy"] == 300
