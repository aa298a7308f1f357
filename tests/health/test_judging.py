"""Judging the answers (``_assess``, pure), the table operators read, and ``--wait``'s re-checks,
each problem, warning and line word for word (issue 12: sharper tests).

Answers are built here by hand for three nodes 10.0.1.10-10.0.3.10 on MongoDB's 27017: members are
named ``<ip>:27017`` (docs/ce-facts.md §6.1) and the set is ``mongo_replica_set`` (docs/ce-facts.md §6.3).
"""

from __future__ import annotations

import pytest

from scripts.cenode import health
from scripts.cenode.health import ClusterHealth, LoadBalancerReport, Member, NodeAddress, NodeReport

A, B, C = "10.0.1.10:27017", "10.0.2.10:27017", "10.0.3.10:27017"
RS = "mongo_replica_set"
NODES = [NodeAddress("10.0.1.10"), NodeAddress("10.0.2.10"), NodeAddress("10.0.3.10")]
HOSTS = (A, B, C)


def up(host: str) -> health._UiAnswer:
    return health._UiAnswer(f"https://{host}:443/", True, 200)


UI = [up("10.0.1.10"), up("10.0.2.10"), up("10.0.3.10")]


def answer(state: str, **fields: object) -> health._MongoAnswer:
    return health._MongoAnswer(state, **fields)  # type: ignore[arg-type]


def member(state: str, me: str, primary: str | None = A, **fields: object) -> health._MongoAnswer:
    return answer(state, set_name=RS, me=me, sees_primary=primary, config_hosts=HOSTS, **fields)


HEALTHY = [member("PRIMARY", A), member("SECONDARY", B), member("SECONDARY", C)]
STATUS = ((A, "PRIMARY", True), (B, "SECONDARY", True), (C, "SECONDARY", True))


def assess(mongo: list[health._MongoAnswer], ui: list[health._UiAnswer] | None = None, **kwargs: object) -> ClusterHealth:
    return health._assess(NODES[: len(mongo)], mongo, ui if ui is not None else UI[: len(mongo)], **kwargs)  # type: ignore[arg-type]


# ---- a healthy set ---------------------------------------------------------------------------


def test_a_healthy_set_from_hello() -> None:
    report = assess(HEALTHY, timeout_s=2.5)
    assert (report.problems, report.warnings, report.notes) == ((), (), ())
    assert (report.set_name, report.primary, report.primary_ip, report.members_source) == (RS, A, "10.0.1.10", "hello")
    assert report.members == (Member(A, "?", None, True), Member(B, "?", None, True), Member(C, "?", None, True))
    assert [(n.node, n.host, n.member, n.set_name, n.sees_primary) for n in report.nodes] == [
        (A, "10.0.1.10", True, RS, A), (B, "10.0.2.10", True, RS, A), (C, "10.0.3.10", True, RS, A)]
    assert report.timeout_s == 2.5 and report.healthy


def test_the_report_as_json_adds_healthy_and_the_primarys_ip() -> None:
    data = assess(HEALTHY).to_dict()
    assert (data["healthy"], data["primary"], data["primary_ip"]) == (True, A, "10.0.1.10")
    assert data["nodes"][1]["mongo_state"] == "SECONDARY"


def test_without_a_primary_its_ip_is_unknown() -> None:
    report = assess([member("SECONDARY", A, None), member("SECONDARY", B, None), member("SECONDARY", C, None)])
    assert (report.primary, report.primary_ip, report.healthy) == (None, None, False)
    assert report.problems == ("no PRIMARY: no node claims to be primary",)


def test_the_answers_must_match_the_nodes() -> None:
    with pytest.raises(ValueError) as caught:
        health._assess(NODES, HEALTHY[:2], UI)
    assert str(caught.value) == "3 nodes but 2 MongoDB and 3 UI answers"
    with pytest.raises(ValueError):
        health._assess(NODES, HEALTHY, UI[:2])


# ---- MongoDB not answering -------------------------------------------------------------------


def test_nodes_not_answering_are_each_a_problem_with_their_error() -> None:
    report = assess([member("PRIMARY", A), answer("TIMEOUT", error="TCP connect timed out after 5s"),
                     answer("UNREACHABLE", error="connection refused")])
    assert report.problems == (f"{B}: MongoDB not answering (TCP connect timed out after 5s)", f"{C}: MongoDB unreachable (connection refused)")
    assert [n.member for n in report.nodes] == [True, True, True]  # the primary lists them
    assert [(n.mongo_state, n.mongo_error) for n in report.nodes][1:] == [
        ("TIMEOUT", "TCP connect timed out after 5s"), ("UNREACHABLE", "connection refused")]


def test_a_failed_check_is_a_problem() -> None:
    report = assess([member("PRIMARY", A), member("SECONDARY", B), answer("ERROR", error="hello failed with code 13")])
    assert report.problems == (f"{C}: MongoDB check failed (hello failed with code 13)",)


def test_nobody_answering_leaves_membership_unknown() -> None:
    report = assess([answer("TIMEOUT", error="t"), answer("UNREACHABLE", error="u"), answer("ERROR", error="e")])
    assert [n.member for n in report.nodes] == [None, None, None]
    assert (report.set_name, report.members_source, report.members) == (None, "none", ())
    assert report.problems[-1] == "no PRIMARY: no node claims to be primary"


# ---- the set's name and primary --------------------------------------------------------------


def test_different_set_names_are_a_problem_and_the_most_common_wins() -> None:
    report = assess([member("PRIMARY", A), member("SECONDARY", B), answer("SECONDARY", set_name="another", me=C)])
    assert report.set_name == RS
    assert report.problems[0] == "nodes report different replica-set names: another, mongo_replica_set"


def test_two_primaries_are_a_problem_naming_both_and_no_primary_is_chosen() -> None:
    report = assess([member("PRIMARY", A), member("SECONDARY", B), member("PRIMARY", C, C)])
    assert report.problems == (f"2 nodes claim PRIMARY: {A}, {C}",)
    assert report.primary is None


def test_secondaries_naming_another_primary_are_a_warning() -> None:
    report = assess([member("PRIMARY", A), member("SECONDARY", B, C), member("SECONDARY", C, B)])
    assert report.warnings == (f"{B}, {C} name another primary than {A}",)
    assert report.healthy


def test_a_secondary_naming_no_primary_is_no_warning() -> None:
    assert assess([member("PRIMARY", A), member("SECONDARY", B, None), member("SECONDARY", C)]).warnings == ()


# ---- membership ------------------------------------------------------------------------------


def test_a_node_missing_from_the_set_is_a_problem_naming_the_set_and_its_state() -> None:
    two = (A, B)  # the set never got the third node
    report = assess([answer("PRIMARY", set_name=RS, me=A, config_hosts=two), answer("SECONDARY", set_name=RS, me=B, config_hosts=two),
                     answer("NOT_IN_SET")])
    report2 = assess([answer("NOT_IN_SET"), answer("STANDALONE")])
    assert report.problems == (f"{C}: not a member of replica set {RS} (MongoDB says NOT_IN_SET)",)
    assert [n.member for n in report.nodes] == [True, True, False]
    named = assess([answer("PRIMARY", set_name=RS, me=A, config_hosts=two), answer("SECONDARY", set_name=RS, me=B, config_hosts=two),
                    answer("SECONDARY", set_name=RS, me=C, config_hosts=two)])  # C names itself, the set does not list it
    assert [n.member for n in named.nodes] == [True, True, False]
    assert report2.problems == ("no PRIMARY: no node claims to be primary",
                                f"{A}: not a member of replica set (MongoDB says NOT_IN_SET)",
                                f"{B}: not a member of replica set (MongoDB says STANDALONE)")
    assert [n.member for n in report2.nodes] == [False, False]


def test_a_member_listed_under_another_name_counts_by_its_me() -> None:
    hosts = ("ip-10-0-1-10:27017", B, C)
    report = assess([answer("PRIMARY", set_name=RS, me="ip-10-0-1-10:27017", config_hosts=hosts),
                     answer("SECONDARY", set_name=RS, me=B, config_hosts=hosts), answer("SECONDARY", set_name=RS, me=C, config_hosts=hosts)])
    assert [n.member for n in report.nodes] == [True, True, True]
    assert report.warnings == ("ip-10-0-1-10:27017 is a replica-set member (?) but not one of the given nodes",)


def test_the_primarys_member_list_leads_and_other_sets_are_ignored() -> None:
    report = assess([
        answer("SECONDARY", set_name=RS, me=A, config_hosts=(A, B)),
        answer("PRIMARY", set_name=RS, me=B, config_hosts=(B, A, C)),
        answer("SECONDARY", set_name="stray", me=C, config_hosts=("10.9.9.9:27017",)),
    ])  # fmt: skip
    assert [m.name for m in report.members] == [B, A, C]
    assert [n.member for n in report.nodes] == [True, True, True]


def test_an_arbiter_or_recovering_node_is_a_problem_without_replsetgetstatus() -> None:
    report = assess([member("PRIMARY", A), member("ARBITER", B), member("OTHER", C)])
    assert report.problems == (f"{B}: MongoDB state ARBITER, expected PRIMARY or SECONDARY",
                               f"{C}: MongoDB state OTHER, expected PRIMARY or SECONDARY")


def test_with_replsetgetstatus_the_sets_own_view_judges_the_states() -> None:
    status = ((A, "PRIMARY", True), (B, "ARBITER", True), (C, "RECOVERING", True))
    report = assess([member("PRIMARY", A, status_members=status), member("ARBITER", B), member("OTHER", C)])
    assert report.members_source == "replSetGetStatus"
    assert report.members == (Member(A, "PRIMARY", True, True), Member(B, "ARBITER", True, True), Member(C, "RECOVERING", True, True))
    assert report.problems == (f"{B}: the replica set reports it ARBITER", f"{C}: the replica set reports it RECOVERING")
    assert [n.member for n in report.nodes] == [True, True, True]
    left_out = assess([member("PRIMARY", A, status_members=STATUS[:2]), member("SECONDARY", B), member("SECONDARY", C)])
    assert [n.member for n in left_out.nodes] == [True, True, False]  # the set's own list decides, not hello's


def test_a_member_down_is_reported_once_not_again_by_the_sets_view() -> None:
    status = ((A, "PRIMARY", True), (B, "SECONDARY", True), (C, "(not reachable/healthy)", False))
    report = assess([member("PRIMARY", A, status_members=status), member("SECONDARY", B), answer("UNREACHABLE", error="connection refused")])
    assert report.problems == (f"{C}: MongoDB unreachable (connection refused)",)


def test_the_primarys_replsetgetstatus_is_preferred() -> None:
    stale = ((A, "SECONDARY", True), (B, "SECONDARY", True), (C, "SECONDARY", True))
    report = assess([member("SECONDARY", A, B, status_members=stale), member("PRIMARY", B, B, status_members=(
        (A, "SECONDARY", True), (B, "PRIMARY", True), (C, "SECONDARY", True))), member("SECONDARY", C, B)])
    assert [m.state for m in report.members] == ["SECONDARY", "PRIMARY", "SECONDARY"]


def test_without_the_primarys_status_the_first_node_with_one_is_used() -> None:
    report = assess([member("PRIMARY", A), member("SECONDARY", B), member("SECONDARY", C, status_members=STATUS)])
    assert report.members_source == "replSetGetStatus" and [m.state for m in report.members] == ["PRIMARY", "SECONDARY", "SECONDARY"]


def test_a_member_outside_the_given_nodes_is_a_warning_with_its_state() -> None:
    status = (*STATUS, ("10.0.4.10:27017", "SECONDARY", True))
    report = assess([member("PRIMARY", A, status_members=status), member("SECONDARY", B), member("SECONDARY", C)])
    assert report.warnings == ("10.0.4.10:27017 is a replica-set member (SECONDARY) but not one of the given nodes",)
    assert report.healthy


def test_a_primary_the_set_names_outside_the_given_nodes_is_said() -> None:
    status = (("10.0.4.10:27017", "PRIMARY", True), (A, "SECONDARY", True), (B, "SECONDARY", True))
    report = assess([member("SECONDARY", A, status_members=status), member("SECONDARY", B)])
    assert "no PRIMARY: no node claims to be primary (the set names 10.0.4.10:27017, which is not a given node)" in report.problems


def test_replsetgetstatus_problems_are_grouped_by_reason_and_notes_kept() -> None:
    report = assess([
        member("PRIMARY", A, status_problem="authentication as root failed (wrong maintenance password?)"),
        member("SECONDARY", B, status_note=f"{B}: replSetGetStatus: error code 11601"),
        member("SECONDARY", C, status_problem="authentication as root failed (wrong maintenance password?)"),
    ])  # fmt: skip
    assert report.problems == (f"replSetGetStatus on {A}, {C}: authentication as root failed (wrong maintenance password?)",)
    assert report.notes == (f"{B}: replSetGetStatus: error code 11601",)


def test_a_ui_down_is_a_problem_naming_its_url_and_error() -> None:
    ui = [up("10.0.1.10"), health._UiAnswer("https://10.0.2.10:443/", False, None, "connection refused"), up("10.0.3.10")]
    report = assess(HEALTHY, ui)
    assert report.problems == (f"{B}: UI https://10.0.2.10:443/ down (connection refused)",)
    assert [(n.ui_url, n.ui_ok, n.ui_status, n.ui_error) for n in report.nodes][1] == ("https://10.0.2.10:443/", False, None, "connection refused")


# ---- CE's own primary (docs/ce-facts.md §6.2) -------------------------------------------------


def test_ce_naming_another_node_than_mongodb_is_a_warning_to_start_that_node_first() -> None:
    report = assess(HEALTHY, ce_primary="10.0.2.10")
    assert report.ce_primary == "10.0.2.10"
    assert report.warnings == ("CE's HA_PRIMARY_NODE_IP=10.0.2.10 but the MongoDB PRIMARY is 10.0.1.10: "
                               "after a full stop, start the node CE names first (docs/ce-facts.md §6.2)",)
    assert report.healthy


def test_ce_naming_no_given_node_is_a_warning() -> None:
    assert assess(HEALTHY, ce_primary="10.0.9.9").warnings == ("CE's HA_PRIMARY_NODE_IP=10.0.9.9 is none of the given nodes",)


def test_ce_agreeing_with_mongodb_or_no_mongodb_primary_gives_no_warning() -> None:
    assert assess(HEALTHY, ce_primary="10.0.1.10").warnings == ()
    no_primary = [member("SECONDARY", A, None), member("SECONDARY", B, None), member("SECONDARY", C, None)]
    assert assess(no_primary, ce_primary="10.0.2.10").warnings == ()


# ---- the table -------------------------------------------------------------------------------


def node_report(node: str, state: str, member: bool | None, ui_ok: bool, ui_status: int | None) -> NodeReport:
    return NodeReport(node, node.split(":")[0], state, member, RS, None, "", f"https://{node}/", ui_ok, ui_status, "")


def test_the_table_of_an_unhealthy_cluster_word_for_word() -> None:
    report = ClusterHealth(
        set_name=RS, primary=A, ce_primary="10.0.2.10",
        nodes=(node_report(A, "PRIMARY", True, True, 200), node_report(B, "SECONDARY", None, False, 503),
               node_report("10.0.30.100:27017", "NOT_IN_SET", False, False, None)),
        members=(Member(A, "PRIMARY", True, True), Member(B, "?", None, True)), members_source="replSetGetStatus",
        problems=("one", "two"), warnings=("w1",), notes=("n1", "n2"), elapsed_s=1.26,
        load_balancer=LoadBalancerReport("https://ce.example.com", False, 502, "HTTP 502"),
    )  # fmt: skip
    assert health.render_table(report).splitlines() == [
        "replica set  mongo_replica_set",
        "primary      10.0.1.10:27017 (MongoDB)",
        "CE primary   10.0.2.10 (HA_PRIMARY_NODE_IP)",
        "NODE               MONGODB     MEMBER  UI",
        "10.0.1.10:27017    PRIMARY     yes     up (200)",
        "10.0.2.10:27017    SECONDARY   ?       DOWN (503)",
        "10.0.30.100:27017  NOT_IN_SET  NO      DOWN",
        "load balancer  https://ce.example.com  DOWN (502)",
        "members (replSetGetStatus): 10.0.1.10:27017 PRIMARY, 10.0.2.10:27017",
        "warning: w1",
        "note: n1",
        "note: n2",
        "UNHEALTHY: 2 problem(s) (3 nodes, 1.3s)",
    ]


def test_the_table_of_a_healthy_cluster_with_little_known() -> None:
    report = ClusterHealth(None, None, None, (node_report(A, "PRIMARY", True, True, 200),), (), "none", (), elapsed_s=0.04,
                           load_balancer=LoadBalancerReport("https://ce.example.com", True, 200, ""))
    assert health.render_table(report).splitlines() == [
        "replica set  -",
        "primary      NONE (MongoDB)",
        "CE primary   unknown",
        "NODE             MONGODB  MEMBER  UI",
        "10.0.1.10:27017  PRIMARY  yes     up (200)",
        "load balancer  https://ce.example.com  up (200)",
        "HEALTHY (1 nodes, 0.0s)",
    ]


def test_a_balancer_down_without_a_status_is_just_down() -> None:
    report = ClusterHealth(None, None, None, (), (), "none", ("x",), load_balancer=LoadBalancerReport("http://lb", False, None, "refused"))
    assert "load balancer  http://lb  DOWN" in health.render_table(report).splitlines()


# ---- --wait ----------------------------------------------------------------------------------


class Checks:
    """Reports that turn healthy at check ``healthy_at`` (0: never); time passes only in ``sleep``."""

    def __init__(self, healthy_at: int) -> None:
        self.healthy_at, self.count, self.slept = healthy_at, 0, [0.0]

    def check(self) -> ClusterHealth:
        self.count += 1
        problems = () if self.count == self.healthy_at else ("no PRIMARY",)
        return ClusterHealth(None, None, None, (), (), "none", problems, notes=("from the check",))

    def clock(self) -> float:
        return sum(self.slept) + 0.0004  # a check's own time, rounded away in waited_s

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


def wait(checks: Checks, wait_s: float) -> ClusterHealth:
    return health.wait_until_healthy(checks.check, wait_s, clock=checks.clock, sleep=checks.sleep)


def test_healthy_at_once_is_one_check() -> None:
    checks = Checks(healthy_at=1)
    report = wait(checks, 300)
    assert (report.checks, report.waited_s, report.notes) == (1, 0.0, ("from the check", "healthy at the first check"))
    assert checks.slept == [0.0]


def test_healthy_at_the_third_check_says_after_how_long() -> None:
    checks = Checks(healthy_at=3)
    report = wait(checks, 300)
    assert (report.checks, report.waited_s, report.notes[-1]) == (3, 10.0, "healthy after 3 check(s) in 10 s")
    assert checks.slept[1:] == [5.0, 5.0]  # docs/health.md: re-checked every 5 s


def test_the_last_sleep_is_cut_to_the_bound_and_the_bound_is_said() -> None:
    checks = Checks(healthy_at=0)
    report = wait(checks, 12)
    assert checks.slept[1:] == [5.0, 5.0, 2.0]
    assert (report.checks, report.healthy) == (4, False)
    assert report.notes[-1] == "still unhealthy after 4 check(s) over 12 s (--wait 12)"


def test_a_check_landing_on_the_bound_is_the_last() -> None:
    checks = Checks(healthy_at=0)
    assert wait(checks, 10).checks == 3  # at 0, 5 and 10 s


def test_wait_zero_checks_once() -> None:
    checks = Checks(healthy_at=0)
    report = wait(checks, 0)
    assert (report.checks, report.notes[-1]) == (1, "still unhealthy after 1 check(s) over 0 s (--wait 0)")


def test_the_time_waited_is_kept_to_the_millisecond() -> None:
    times = iter([100.0, 105.12345])  # the first check starts at 100 s, the second ends 5.12345 s later

    def check() -> ClusterHealth:
        return ClusterHealth(None, None, None, (), (), "none", ())

    report = health.wait_until_healthy(check, 300, clock=lambda: next(times), sleep=lambda s: None)
    assert (report.checks, report.waited_s, report.notes) == (1, 5.123, ("healthy at the first check",))
