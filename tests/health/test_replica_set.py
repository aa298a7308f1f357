"""The replica-set half of the check against mockupdb members that pymongo really talks to."""

from __future__ import annotations

from collections.abc import Sequence

from scripts.cenode.health import ClusterHealth, Credentials, check_cluster

from .mockcluster import DOWN, HANG, OUTSIDER, PRIMARY, SECONDARY, SET_NAME, FakeReplicaSet


class Clusters:
    """The mocks: one role list per scenario (see mockcluster for what each role does)."""

    HEALTHY = [PRIMARY, SECONDARY, SECONDARY]
    NO_PRIMARY = [SECONDARY, SECONDARY, SECONDARY]
    MEMBER_DOWN = [PRIMARY, SECONDARY, DOWN]
    MEMBER_HANGS = [PRIMARY, SECONDARY, HANG]
    NODE_NOT_IN_SET = [PRIMARY, SECONDARY, OUTSIDER]
    TWO_PRIMARIES = [PRIMARY, PRIMARY, SECONDARY]
    PASSWORD = "replset-test-password"


def check(rs: FakeReplicaSet, ui_port: int, timeout_s: float = 2.0, **kwargs: object) -> ClusterHealth:
    return check_cluster(rs.nodes(ui_port), timeout_s=timeout_s, ui_protocol="http", **kwargs)  # type: ignore[arg-type]


def problems_about(report: ClusterHealth, text: str) -> Sequence[str]:
    return [p for p in report.problems if text in p]


def test_healthy_set_has_no_problems(ui_port: int) -> None:
    with FakeReplicaSet(Clusters.HEALTHY) as rs:
        report = check(rs, ui_port)
    assert report.problems == ()
    assert report.healthy


def test_healthy_set_names_its_primary(ui_port: int) -> None:
    with FakeReplicaSet(Clusters.HEALTHY) as rs:
        report = check(rs, ui_port)
    assert report.primary == rs.members[0].address


def test_healthy_set_reports_the_set_name(ui_port: int) -> None:
    with FakeReplicaSet(Clusters.HEALTHY, set_name="rs-under-test") as rs:
        report = check(rs, ui_port)
    assert report.set_name == "rs-under-test"


def test_healthy_set_reports_each_member_state(ui_port: int) -> None:
    with FakeReplicaSet(Clusters.HEALTHY) as rs:
        report = check(rs, ui_port)
    assert [n.mongo_state for n in report.nodes] == [PRIMARY, SECONDARY, SECONDARY]


def test_healthy_set_has_every_node_a_member(ui_port: int) -> None:
    with FakeReplicaSet(Clusters.HEALTHY) as rs:
        report = check(rs, ui_port)
    assert [n.member for n in report.nodes] == [True, True, True]
    assert [m.name for m in report.members] == [m.address for m in rs.members]


def test_no_primary_is_a_problem(ui_port: int) -> None:
    with FakeReplicaSet(Clusters.NO_PRIMARY) as rs:
        report = check(rs, ui_port)
    assert problems_about(report, "no PRIMARY")
    assert report.primary is None


def test_member_down_is_a_problem_naming_it(ui_port: int) -> None:
    with FakeReplicaSet(Clusters.MEMBER_DOWN) as rs:
        report = check(rs, ui_port)
    assert problems_about(report, f"{rs.members[2].address}: MongoDB unreachable (connection refused)")
    assert report.nodes[2].mongo_state == "UNREACHABLE"


def test_member_down_leaves_the_primary_known(ui_port: int) -> None:
    with FakeReplicaSet(Clusters.MEMBER_DOWN) as rs:
        report = check(rs, ui_port)
    assert report.primary == rs.members[0].address
    assert len(report.problems) == 1


def test_hanging_member_is_reported_not_answering(ui_port: int) -> None:
    with FakeReplicaSet(Clusters.MEMBER_HANGS) as rs:
        report = check(rs, ui_port, timeout_s=1.0)
    assert problems_about(report, f"{rs.members[2].address}: MongoDB not answering")
    assert report.nodes[2].mongo_state == "TIMEOUT"


def test_node_missing_from_the_set_is_a_problem(ui_port: int) -> None:
    with FakeReplicaSet(Clusters.NODE_NOT_IN_SET) as rs:
        report = check(rs, ui_port)
    assert problems_about(report, f"{rs.members[2].address}: not a member of replica set {SET_NAME}")
    assert [n.member for n in report.nodes] == [True, True, False]


def test_two_primaries_is_a_problem_naming_both(ui_port: int) -> None:
    with FakeReplicaSet(Clusters.TWO_PRIMARIES) as rs:
        report = check(rs, ui_port)
    assert problems_about(report, f"2 nodes claim PRIMARY: {rs.members[0].address}, {rs.members[1].address}")
    assert report.primary is None


def test_members_come_from_replsetgetstatus_with_credentials(ui_port: int) -> None:
    with FakeReplicaSet(Clusters.MEMBER_DOWN, password=Clusters.PASSWORD) as rs:
        report = check(rs, ui_port, credentials=Credentials(Clusters.PASSWORD))
    assert report.members_source == "replSetGetStatus"
    assert [m.state for m in report.members] == [PRIMARY, SECONDARY, "(not reachable/healthy)"]


def test_members_come_from_hello_without_credentials(ui_port: int) -> None:
    with FakeReplicaSet(Clusters.HEALTHY, password=Clusters.PASSWORD) as rs:
        report = check(rs, ui_port)
    assert report.members_source == "hello"
    assert report.healthy


def test_wrong_password_is_one_problem(ui_port: int) -> None:
    with FakeReplicaSet(Clusters.HEALTHY, password=Clusters.PASSWORD) as rs:
        report = check(rs, ui_port, credentials=Credentials("not-the-password"))
    assert len(problems_about(report, "authentication as root failed")) == 1
    assert report.primary == rs.members[0].address  # hello still answered


def test_unhealthy_member_state_in_replsetgetstatus_is_a_problem(ui_port: int) -> None:
    class RecoveringSet(FakeReplicaSet):
        def status(self) -> dict[str, object]:
            status = super().status()
            status["members"][1]["stateStr"] = "RECOVERING"  # type: ignore[index]
            return status

    with RecoveringSet(Clusters.HEALTHY, password=Clusters.PASSWORD) as rs:
        report = check(rs, ui_port, credentials=Credentials(Clusters.PASSWORD))
    assert problems_about(report, f"{rs.members[1].address}: the replica set reports it RECOVERING")


def test_ce_primary_other_than_mongo_primary_is_a_warning_only(ui_port: int) -> None:
    with FakeReplicaSet(Clusters.HEALTHY) as rs:
        nodes = rs.nodes(ui_port)
        report = check_cluster(nodes, timeout_s=2.0, ui_protocol="http", ce_primary="127.0.0.2")
    assert report.healthy
    assert [w for w in report.warnings if "HA_PRIMARY_NODE_IP=127.0.0.2" in w]
