"""The UI half of the check: HTTPS with a self-signed certificate made by the test, on loopback."""

from __future__ import annotations

from pathlib import Path

from scripts.cenode.health import ClusterHealth, check_cluster

from .mockcluster import PRIMARY, SECONDARY, FakeReplicaSet, free_port, ui_server


class Uis:
    """The mocks: a healthy replica set, so only the UI can make the check fail."""

    ROLES = [PRIMARY, SECONDARY, SECONDARY]


def check(ui_port: int, protocol: str = "https", insecure: bool = False) -> ClusterHealth:
    with FakeReplicaSet(Uis.ROLES) as rs:
        return check_cluster(rs.nodes(ui_port), timeout_s=2.0, ui_protocol=protocol, insecure_ui=insecure)


def test_self_signed_ui_is_accepted_with_insecure_flag(tmp_path: Path) -> None:
    with ui_server(tls_dir=tmp_path) as port:
        report = check(port, insecure=True)
    assert [n.ui_ok for n in report.nodes] == [True, True, True]
    assert report.healthy


def test_self_signed_ui_is_refused_without_insecure_flag(tmp_path: Path) -> None:
    with ui_server(tls_dir=tmp_path) as port:
        report = check(port, insecure=False)
    assert [n.ui_ok for n in report.nodes] == [False, False, False]
    assert all("certificate not trusted (self-signed certificate)" in n.ui_error for n in report.nodes)


def test_refused_certificate_is_one_problem_per_node(tmp_path: Path) -> None:
    with ui_server(tls_dir=tmp_path) as port:
        report = check(port, insecure=False)
    assert len([p for p in report.problems if "UI https://127.0.0.1:" in p]) == 3


def test_ui_down_is_a_problem() -> None:
    port = free_port()  # nothing listens there
    report = check(port, insecure=True)
    assert f"UI https://127.0.0.1:{port}/ down (connection refused)" in report.problems[0]
    assert not report.healthy


def test_plain_http_ui_answers() -> None:
    with ui_server() as port:
        report = check(port, protocol="http")
    assert [n.ui_status for n in report.nodes] == [200, 200, 200]


def test_ui_server_error_counts_as_down() -> None:
    with ui_server(status=503) as port:
        report = check(port, protocol="http")
    assert [n.ui_ok for n in report.nodes] == [False, False, False]
    assert "down (HTTP 503)" in report.problems[0]


def test_ui_redirect_counts_as_up() -> None:
    with ui_server(status=302) as port:
        report = check(port, protocol="http")
    assert report.healthy
