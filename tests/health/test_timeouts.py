"""A dead node never hangs the check: every wait is bounded and nodes are asked concurrently."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from scripts.cenode import health
from scripts.cenode.health import NodeAddress, check_cluster

from .mockcluster import HANG, LOOPBACK, PRIMARY, SECONDARY, FakeReplicaSet, ui_server

SLACK_S = 3.0  # generous: the check promises timeout + ~1 s; CI machines are slow


class Hangs:
    """The mocks: members that accept TCP and never answer, and a UI that does the same."""

    ONE_MEMBER = [PRIMARY, SECONDARY, HANG]
    FOUR_MEMBERS = [HANG, HANG, HANG, HANG]


@pytest.fixture
def hanging_ui_port() -> Iterator[int]:
    with socket.socket() as listener:
        listener.bind((LOOPBACK, 0))
        listener.listen(16)  # connections complete in the kernel; nobody reads or writes
        yield int(listener.getsockname()[1])


def timed_check(nodes: list[NodeAddress], timeout_s: float) -> tuple[float, health.ClusterHealth]:
    start = time.monotonic()
    report = check_cluster(nodes, timeout_s=timeout_s, ui_protocol="http")
    return time.monotonic() - start, report


def test_hanging_member_returns_within_timeout(ui_port: int) -> None:
    with FakeReplicaSet(Hangs.ONE_MEMBER) as rs:
        elapsed, report = timed_check(rs.nodes(ui_port), timeout_s=1.0)
    assert elapsed < 1.0 + SLACK_S
    assert report.nodes[2].mongo_state == "TIMEOUT"


def test_nodes_are_checked_concurrently(ui_port: int) -> None:
    # One after the other, four hanging members would take at least 4 x 1.5 s = 6 s.
    with FakeReplicaSet(Hangs.FOUR_MEMBERS) as rs:
        elapsed, report = timed_check(rs.nodes(ui_port), timeout_s=1.5)
    assert elapsed < 1.5 + SLACK_S
    assert [n.mongo_state for n in report.nodes] == ["TIMEOUT"] * 4


def test_hanging_ui_returns_within_timeout(hanging_ui_port: int) -> None:
    with FakeReplicaSet([PRIMARY, SECONDARY, SECONDARY]) as rs:
        elapsed, report = timed_check(rs.nodes(hanging_ui_port), timeout_s=1.0)
    assert elapsed < 1.0 + SLACK_S
    assert all(n.ui_error == "no answer within 1s" for n in report.nodes)


def test_stuck_driver_is_cut_off_at_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()

    def never_returns(*args: object) -> None:
        release.wait(30)

    monkeypatch.setattr(health, "_ask_mongo", never_returns)
    try:
        with ui_server() as port:
            elapsed, report = timed_check([NodeAddress(LOOPBACK, 1, port)], timeout_s=0.5)
    finally:
        release.set()
    assert elapsed < 0.5 + SLACK_S
    assert report.nodes[0].mongo_error == "no answer within 0.5s"
