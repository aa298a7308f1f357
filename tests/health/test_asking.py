"""How one node is asked, step by step, with the driver, the socket and HTTP replaced by fakes
(issue 12: sharper tests). Real pymongo against mockupdb is in test_replica_set.py; here every
branch's answer is pinned word for word.

Expected values are written here: MongoDB's user ``root`` and authSource ``admin``
(docs/ce-facts.md §6.3), the error codes MongoDB answers (59 CommandNotFound, 18
AuthenticationFailed, 13 Unauthorized, 94 NotYetInitialized, 76 NoReplicationEnabled), and the
UI's rule "any status below 500 is up" (docs/health.md).
"""

from __future__ import annotations

import http.client
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from pymongo.errors import ExecutionTimeout, NetworkTimeout, OperationFailure, ServerSelectionTimeoutError

from scripts.cenode import health
from scripts.cenode.health import Credentials, NodeAddress

NODE = NodeAddress("10.0.1.10", 27017, 443)


class FakeClient:
    """A pymongo client: each command answers from ``answers`` (a dict, or an exception to raise)."""

    def __init__(self, answers: dict[str, object]) -> None:
        self.answers = answers
        self.asked: list[str] = []
        self.closed = False
        self.admin = self

    def command(self, name: str) -> object:
        self.asked.append(name)
        answer = self.answers[name]
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def close(self) -> None:
        self.closed = True


class Driver:
    """Stands in for the TCP probe, ``_client`` and ``pymongo.timeout``; records what was asked."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *clients: FakeClient, connect: BaseException | None = None) -> None:
        self.clients = list(clients)
        self.client_args: list[tuple[NodeAddress, float, Credentials | None]] = []
        self.connects: list[tuple[tuple[str, int], float]] = []
        self.timeouts: list[float] = []
        self.connect_error = connect
        monkeypatch.setattr(health.socket, "create_connection", self._connect)
        monkeypatch.setattr(health, "_client", self._client)
        monkeypatch.setattr(health.pymongo, "timeout", self._timeout)

    def _connect(self, address: tuple[str, int], timeout: float) -> Any:
        self.connects.append((address, timeout))
        if self.connect_error is not None:
            raise self.connect_error
        return FakeClient({})

    def _client(self, node: NodeAddress, budget_s: float, credentials: Credentials | None) -> FakeClient:
        self.client_args.append((node, budget_s, credentials))
        return self.clients.pop(0)

    @contextmanager
    def _timeout(self, seconds: float) -> Iterator[None]:
        self.timeouts.append(seconds)
        yield


HELLO = {
    "setName": "mongo_replica_set", "isWritablePrimary": False, "secondary": True, "me": "10.0.1.10:27017",
    "primary": "10.0.2.10:27017", "hosts": ["10.0.2.10:27017", "10.0.1.10:27017"], "passives": ["10.0.3.10:27017"],
    "arbiters": ["10.0.4.10:27017"],
}  # fmt: skip


# ---- the client ----------------------------------------------------------------------------


def test_the_client_connects_directly_without_retries_within_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[tuple[tuple[object, ...], dict[str, object]]] = []
    monkeypatch.setattr(health.pymongo, "MongoClient", lambda *a, **k: made.append((a, k)))
    health._client(NodeAddress("10.0.1.10", 27018), 2.5, None)
    assert made == [(("10.0.1.10", 27018), {
        "directConnection": True, "connect": False, "serverSelectionTimeoutMS": 2500, "connectTimeoutMS": 2500,
        "socketTimeoutMS": 2500, "retryReads": False, "retryWrites": False, "appname": "ce-health",
    })]  # fmt: skip


def test_the_client_logs_in_as_root_on_admin_with_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[dict[str, object]] = []
    monkeypatch.setattr(health.pymongo, "MongoClient", lambda *a, **k: made.append(k))
    health._client(NODE, 0.0001, Credentials("s3cret"))
    assert made[0]["username"] == "root" and made[0]["password"] == "s3cret" and made[0]["authSource"] == "admin"
    assert made[0]["serverSelectionTimeoutMS"] == 1  # never 0, which pymongo would take as "no wait"
    assert made[0]["connectTimeoutMS"] == 1 and made[0]["socketTimeoutMS"] == 1


# ---- hello -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("error", "state", "text"), [
    (ConnectionRefusedError(111, "Connection refused"), "UNREACHABLE", "connection refused"),
    (TimeoutError("timed out"), "TIMEOUT", "TCP connect timed out after 2.5s"),
    (OSError(113, "No route to host"), "UNREACHABLE", "No route to host"),
    (OSError("no errno"), "UNREACHABLE", "OSError"),
])
def test_the_tcp_probe_tells_refused_from_unroutable(monkeypatch: pytest.MonkeyPatch, error: BaseException, state: str, text: str) -> None:
    driver = Driver(monkeypatch, connect=error)
    answer = health._ask_mongo(NODE, 2.5)
    assert (answer.state, answer.error) == (state, text)
    assert driver.connects == [(("10.0.1.10", 27017), 2.5)]
    assert driver.client_args == []


def test_hello_gives_state_set_name_primary_and_every_listed_host(monkeypatch: pytest.MonkeyPatch) -> None:
    client = FakeClient({"hello": HELLO})
    driver = Driver(monkeypatch, client)
    answer = health._ask_mongo(NODE, 2.5)
    assert answer == health._MongoAnswer(
        state="SECONDARY", set_name="mongo_replica_set", me="10.0.1.10:27017", sees_primary="10.0.2.10:27017",
        config_hosts=("10.0.2.10:27017", "10.0.1.10:27017", "10.0.3.10:27017", "10.0.4.10:27017"),
    )  # fmt: skip
    assert client.asked == ["hello"] and client.closed
    assert driver.client_args == [(NODE, 2.5, None)]  # hello never logs in
    assert len(driver.timeouts) == 1 and 2.0 < driver.timeouts[0] <= 2.5


@pytest.mark.parametrize(("now", "bound"), [((100.0, 100.2), 0.3), ((100.0, 101.0), 0.001)])
def test_hello_is_bounded_by_what_is_left_and_never_by_nothing(monkeypatch: pytest.MonkeyPatch, now: tuple[float, float], bound: float) -> None:
    """A 0.5 s check asked 0.2 s late has 0.3 s for hello; one asked after its deadline 1 ms (pymongo refuses 0)."""
    driver = Driver(monkeypatch, FakeClient({"hello": HELLO}))
    clock = iter(now)
    monkeypatch.setattr(health, "time", type("Clock", (), {"monotonic": staticmethod(lambda: next(clock))}))
    health._ask_mongo(NODE, 0.5)
    assert driver.timeouts == [pytest.approx(bound)]


def test_hello_with_empty_fields_leaves_them_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    Driver(monkeypatch, FakeClient({"hello": {"setName": "", "me": "", "primary": "", "hosts": None, "isreplicaset": True}}))
    answer = health._ask_mongo(NODE, 2.5)
    assert answer == health._MongoAnswer(state="NOT_IN_SET")


def test_a_server_without_hello_is_asked_ismaster(monkeypatch: pytest.MonkeyPatch) -> None:
    client = FakeClient({"hello": OperationFailure("no such command: 'hello'", code=59),
                         "isMaster": {"setName": "mongo_replica_set", "ismaster": True}})
    Driver(monkeypatch, client)
    assert health._ask_mongo(NODE, 2.5).state == "PRIMARY"
    assert client.asked == ["hello", "isMaster"]


@pytest.mark.parametrize(("error", "state", "text"), [
    (OperationFailure("not authorized", code=13), "ERROR", "hello failed with code 13"),
    (ExecutionTimeout("operation exceeded time limit", code=50), "TIMEOUT", "hello did not complete within 2.5s"),
    (NetworkTimeout("10.0.1.10:27017: timed out"), "TIMEOUT", "accepts TCP but did not answer hello within 2.5s"),
    (ServerSelectionTimeoutError("No servers found yet, Timeout: 2.5s"), "TIMEOUT", "accepts TCP but did not answer hello within 2.5s"),
    (ServerSelectionTimeoutError("10.0.1.10:27017: [Errno 104] Connection reset by peer, Timeout: 2.5s, Topology: x"),
     "UNREACHABLE", "10.0.1.10:27017: [Errno 104] Connection reset by peer"),
])
def test_hello_failures_are_named(monkeypatch: pytest.MonkeyPatch, error: BaseException, state: str, text: str) -> None:
    client = FakeClient({"hello": error})
    Driver(monkeypatch, client)
    answer = health._ask_mongo(NODE, 2.5)
    assert (answer.state, answer.error) == (state, text)
    assert client.closed and client.asked == ["hello"]


def test_ismaster_failing_too_is_an_error_with_its_code(monkeypatch: pytest.MonkeyPatch) -> None:
    client = FakeClient({"hello": OperationFailure("no such command", code=59), "isMaster": OperationFailure("denied", code=13)})
    Driver(monkeypatch, client)
    assert health._ask_mongo(NODE, 2.5).error == "hello failed with code 13"


def test_with_credentials_replsetgetstatus_follows_hello_within_the_same_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    status = {"members": [{"name": "10.0.1.10:27017", "stateStr": "PRIMARY", "health": 1}]}
    credentials = Credentials("s3cret")
    driver = Driver(monkeypatch, FakeClient({"hello": {"setName": "rs", "ismaster": True}}), FakeClient({"replSetGetStatus": status}))
    answer = health._ask_mongo(NODE, 2.5, credentials)
    assert answer.state == "PRIMARY" and answer.status_members == (("10.0.1.10:27017", "PRIMARY", True),)
    (_, first, _), (node, left, creds) = driver.client_args
    assert (first, node, creds) == (2.5, NODE, credentials)
    assert 2.0 < left <= 2.5  # what is left of the one deadline, not a second 2.5 s


# ---- replSetGetStatus ------------------------------------------------------------------------


class Clock:
    """``health.time`` with a monotonic clock the test sets."""

    def __init__(self, now: float) -> None:
        self.now = now

    def monotonic(self) -> float:
        return self.now


def status_of(monkeypatch: pytest.MonkeyPatch, answer: object, left: float = 2.0) -> tuple[dict[str, Any], Driver, FakeClient]:
    client = FakeClient({"replSetGetStatus": answer})
    driver = Driver(monkeypatch, client)
    monkeypatch.setattr(health, "time", Clock(100.0))
    return health._replset_status(NODE, 100.0 + left, Credentials("s3cret")), driver, client


@pytest.mark.parametrize("left", [0.0, -0.5])
def test_no_time_left_skips_replsetgetstatus_with_a_note(monkeypatch: pytest.MonkeyPatch, left: float) -> None:
    fields, driver, _ = status_of(monkeypatch, {}, left)
    assert fields == {"status_note": "10.0.1.10:27017: no time left for replSetGetStatus"}
    assert driver.client_args == []


def test_replsetgetstatus_lists_each_member_name_state_and_health(monkeypatch: pytest.MonkeyPatch) -> None:
    status = {"members": [
        {"name": "10.0.1.10:27017", "stateStr": "PRIMARY", "health": 1},
        {"name": "10.0.2.10:27017", "stateStr": "(not reachable/healthy)", "health": 0},
        {"stateStr": "SECONDARY"},
        {"name": "10.0.4.10:27017", "health": 1.0},
    ]}  # fmt: skip
    fields, driver, client = status_of(monkeypatch, status, 1.5)
    assert fields == {"status_members": (
        ("10.0.1.10:27017", "PRIMARY", True),
        ("10.0.2.10:27017", "(not reachable/healthy)", False),
        ("?", "SECONDARY", True),  # a member without health counts as up
        ("10.0.4.10:27017", "?", True),
    )}  # fmt: skip
    assert driver.client_args == [(NODE, 1.5, driver.client_args[0][2])] and driver.timeouts == [1.5]
    assert client.closed


def test_half_a_second_left_is_still_used(monkeypatch: pytest.MonkeyPatch) -> None:
    fields, driver, _ = status_of(monkeypatch, {"members": []}, 0.5)
    assert fields == {"status_members": ()}
    assert driver.timeouts == [0.5] and driver.client_args[0][1] == 0.5


def test_credentials_never_show_the_password() -> None:
    assert repr(Credentials("s3cret")) == "Credentials(***)"


def test_replsetgetstatus_without_members_lists_none(monkeypatch: pytest.MonkeyPatch) -> None:
    assert status_of(monkeypatch, {"members": None})[0] == {"status_members": ()}
    assert status_of(monkeypatch, {})[0] == {"status_members": ()}


@pytest.mark.parametrize(("error", "fields"), [
    (OperationFailure("Authentication failed.", code=18),
     {"status_problem": "authentication as root failed (wrong maintenance password?)"}),
    (OperationFailure("requires authentication", code=13), {"status_problem": "root is not authorized to run replSetGetStatus"}),
    (OperationFailure("no replset config", code=94), {"status_note": "10.0.1.10:27017: replSetGetStatus: replica set not initialized on this node"}),
    (OperationFailure("not running with --replSet", code=76), {"status_note": "10.0.1.10:27017: replSetGetStatus: mongod runs without --replSet"}),
    (OperationFailure("interrupted", code=11601), {"status_note": "10.0.1.10:27017: replSetGetStatus: error code 11601"}),
    (OperationFailure("odd", code=None), {"status_note": "10.0.1.10:27017: replSetGetStatus: error code None"}),
    (NetworkTimeout("timed out"), {"status_note": "10.0.1.10:27017: replSetGetStatus: no answer in the 2.0s left"}),
    (ServerSelectionTimeoutError("10.0.1.10:27017: [Errno 104] Connection reset by peer, Timeout: 2s"),
     {"status_note": "10.0.1.10:27017: replSetGetStatus: 10.0.1.10:27017: [Errno 104] Connection reset by peer"}),
    (KeyError("ok"), {"status_note": "10.0.1.10:27017: replSetGetStatus: KeyError"}),
])
def test_replsetgetstatus_failures_are_a_problem_or_a_note(monkeypatch: pytest.MonkeyPatch, error: BaseException, fields: dict[str, str]) -> None:
    got, _, client = status_of(monkeypatch, error)
    assert got == fields
    assert client.closed


# ---- the UI ----------------------------------------------------------------------------------


class FakeHttp:
    """``http.client``'s connections: record how they were made, answer ``status`` or raise ``error``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, status: int = 200, error: BaseException | None = None) -> None:
        self.status, self.error = status, error
        self.made: list[tuple[str, str, int, float, ssl.SSLContext | None]] = []
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.closed = 0
        monkeypatch.setattr(health.http.client, "HTTPSConnection", self._https)
        monkeypatch.setattr(health.http.client, "HTTPConnection", self._http)

    def _https(self, host: str, port: int, timeout: float, context: ssl.SSLContext) -> FakeHttp:
        self.made.append(("https", host, port, timeout, context))
        return self

    def _http(self, host: str, port: int, timeout: float) -> FakeHttp:
        self.made.append(("http", host, port, timeout, None))
        return self

    def request(self, method: str, path: str, headers: dict[str, str]) -> None:
        self.requests.append((method, path, headers))
        if self.error is not None:
            raise self.error

    def getresponse(self) -> FakeHttp:
        return self

    def close(self) -> None:
        self.closed += 1


def test_the_ui_is_asked_get_slash_as_ce_health(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeHttp(monkeypatch, 200)
    answer = health._ask_ui(NodeAddress("10.0.1.10", 27017, 8443), "http", False, 2.5)
    assert answer == health._UiAnswer("http://10.0.1.10:8443/", True, 200)
    assert fake.made == [("http", "10.0.1.10", 8443, 2.5, None)]
    assert fake.requests == [("GET", "/", {"User-Agent": "ce-health"})]
    assert fake.closed == 1


def test_https_checks_the_certificate_unless_insecure(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeHttp(monkeypatch, 200)
    health._ask_ui(NODE, "https", False, 2.5)
    health._ask_ui(NODE, "https", True, 2.5)
    (_, _, _, _, strict), (_, _, _, _, lax) = fake.made
    assert strict is not None and (strict.check_hostname, strict.verify_mode) == (True, ssl.CERT_REQUIRED)
    assert lax is not None and (lax.check_hostname, lax.verify_mode) == (False, ssl.CERT_NONE)
    assert [m[:4] for m in fake.made] == [("https", "10.0.1.10", 443, 2.5)] * 2


def test_an_ipv6_ui_url_is_bracketed(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeHttp(monkeypatch, 204)
    assert health._ask_ui(NodeAddress("fd00::10", 27017, 443), "https", True, 1.0).url == "https://[fd00::10]:443/"


@pytest.mark.parametrize(("status", "ok", "error"), [(499, True, ""), (500, False, "HTTP 500"), (302, True, "")])
def test_the_ui_is_up_below_500(monkeypatch: pytest.MonkeyPatch, status: int, ok: bool, error: str) -> None:
    FakeHttp(monkeypatch, status)
    assert health._ask_ui(NODE, "http", False, 2.5) == health._UiAnswer("http://10.0.1.10:443/", ok, status, error)


def _cert_error(message: str | None) -> ssl.SSLCertVerificationError:
    error = ssl.SSLCertVerificationError(1, "certificate verify failed")
    error.verify_message = message  # type: ignore[assignment]
    return error


@pytest.mark.parametrize(("error", "text"), [
    (_cert_error("self-signed certificate"), "certificate not trusted (self-signed certificate); --insecure-ui accepts it"),
    (_cert_error(None), "certificate not trusted (verification failed); --insecure-ui accepts it"),
    (ConnectionRefusedError(111, "Connection refused"), "connection refused"),
    (TimeoutError("timed out"), "no answer within 2.5s"),
    (http.client.RemoteDisconnected("Remote end closed connection without response"), "Remote end closed connection without response"),
    (OSError(), "OSError"),
])
def test_ui_failures_are_named(monkeypatch: pytest.MonkeyPatch, error: BaseException, text: str) -> None:
    fake = FakeHttp(monkeypatch, error=error)
    assert health._ask_ui(NODE, "https", False, 2.5) == health._UiAnswer("https://10.0.1.10:443/", False, None, text)
    assert fake.closed == 1


def test_the_load_balancer_is_asked_at_its_url(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeHttp(monkeypatch, 200)
    assert health._ask_url("https://ce.example.com", True, 2.5) == health._UiAnswer("https://ce.example.com:443/", True, 200)
    assert fake.made[0][:4] == ("https", "ce.example.com", 443, 2.5)


# ---- all nodes at once -----------------------------------------------------------------------


def test_tasks_run_at_once_in_named_daemon_threads_and_keep_their_order() -> None:
    started = threading.Barrier(3, timeout=5)  # all three must be running together to pass it

    def task(index: int) -> Callable[[], str]:
        def run() -> str:
            started.wait()
            thread = threading.current_thread()
            return f"{index} {thread.name} {thread.daemon}"
        return run

    results = health._run_bounded([task(0), task(1), task(2)], time.monotonic() + 5)
    assert results == ["0 ce-health-0 True", "1 ce-health-1 True", "2 ce-health-2 True"]


def test_a_task_that_raises_gives_its_exception_and_one_past_the_deadline_none() -> None:
    release = threading.Event()
    error = RuntimeError("boom")

    def raises() -> None:
        raise error

    def stuck() -> str:
        release.wait(10)
        return "late"

    start = time.monotonic()
    try:
        results = health._run_bounded([raises, stuck], start + 0.3)
    finally:
        release.set()
    assert results == [error, None]
    assert time.monotonic() - start < 2.0


def test_a_deadline_already_past_waits_for_nothing() -> None:
    release = threading.Event()
    start = time.monotonic()
    try:
        results = health._run_bounded([lambda: release.wait(10)], start - 10)
    finally:
        release.set()
    assert results == [None]
    assert time.monotonic() - start < 0.5


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"timeout_s": 0}, "timeout must be positive"),
    ({"timeout_s": -1.0}, "timeout must be positive"),
    ({"ui_protocol": "ftp"}, "UI protocol must be http or https, not 'ftp'"),
    ({"url": "ce.example.com"}, "--url 'ce.example.com': give the UI's address, like https://ce.example.com or https://host:8443"),
])
def test_check_cluster_refuses_bad_arguments_before_asking(monkeypatch: pytest.MonkeyPatch, kwargs: dict[str, Any], message: str) -> None:
    monkeypatch.setattr(health, "_run_bounded", lambda *a: pytest.fail("asked"))
    with pytest.raises(ValueError) as caught:
        health.check_cluster([NODE], **kwargs)
    assert str(caught.value) == message


def test_nodes_are_given_the_timeout_plus_one_second(monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/health.md: whatever has not answered after timeout + 1 s is reported as not answering."""
    seen: list[tuple[int, float]] = []
    real = health._run_bounded

    def recording(tasks: list[Callable[[], object]], deadline: float) -> list[object]:
        seen.append((len(tasks), deadline - time.monotonic()))
        return real(tasks, deadline)

    asked: list[tuple[object, ...]] = []

    def ask_mongo(node: NodeAddress, timeout_s: float, credentials: object) -> health._MongoAnswer:
        asked.append(("mongo", node.host, timeout_s, credentials))
        return health._MongoAnswer("PRIMARY", set_name="rs")

    def ask_ui(node: NodeAddress, protocol: str, insecure: bool, timeout_s: float) -> health._UiAnswer:
        asked.append(("ui", node.host, protocol, insecure, timeout_s))
        return health._UiAnswer("u", True, 200)

    def ask_url(url: str, insecure: bool, timeout_s: float) -> health._UiAnswer:
        asked.append(("url", url, insecure, timeout_s))
        return health._UiAnswer(url, True, 200)

    monkeypatch.setattr(health, "_run_bounded", recording)
    monkeypatch.setattr(health, "_ask_mongo", ask_mongo)
    monkeypatch.setattr(health, "_ask_ui", ask_ui)
    monkeypatch.setattr(health, "_ask_url", ask_url)
    report = health.check_cluster([NODE, NodeAddress("10.0.2.10")], timeout_s=2.5, url="https://ce.example.com")
    (count, left), = seen
    assert count == 5  # MongoDB and UI of two nodes, and the load balancer
    assert 3.0 < left <= 3.5
    assert sorted(asked, key=str) == sorted([  # by default: https, certificates checked, no credentials
        ("mongo", "10.0.1.10", 2.5, None), ("ui", "10.0.1.10", "https", False, 2.5),
        ("mongo", "10.0.2.10", 2.5, None), ("ui", "10.0.2.10", "https", False, 2.5),
        ("url", "https://ce.example.com", False, 2.5)], key=str)
    assert report.timeout_s == 2.5
    assert report.load_balancer == health.LoadBalancerReport("https://ce.example.com", True, 200, "")


def _answers(monkeypatch: pytest.MonkeyPatch, results: list[object]) -> None:
    monkeypatch.setattr(health, "_run_bounded", lambda tasks, deadline: results)


def test_each_nodes_answers_are_paired_with_that_node(monkeypatch: pytest.MonkeyPatch) -> None:
    _answers(monkeypatch, [
        health._MongoAnswer("PRIMARY", set_name="rs", config_hosts=("10.0.1.10:27017", "10.0.2.10:27017")),
        health._UiAnswer("https://10.0.1.10:443/", True, 200),
        health._MongoAnswer("SECONDARY", set_name="rs", config_hosts=("10.0.1.10:27017", "10.0.2.10:27017")),
        health._UiAnswer("https://10.0.2.10:443/", False, 503, "HTTP 503"),
    ])  # fmt: skip
    report = health.check_cluster([NODE, NodeAddress("10.0.2.10")], timeout_s=1.0)
    assert [(n.node, n.mongo_state, n.ui_status) for n in report.nodes] == [
        ("10.0.1.10:27017", "PRIMARY", 200), ("10.0.2.10:27017", "SECONDARY", 503)]
    assert report.problems == ("10.0.2.10:27017: UI https://10.0.2.10:443/ down (HTTP 503)",)


def test_nodes_that_never_answered_or_raised_are_reported_so(monkeypatch: pytest.MonkeyPatch) -> None:
    _answers(monkeypatch, [None, RuntimeError("driver broke"), ValueError("odd reply"), None])
    report = health.check_cluster([NODE, NodeAddress("10.0.2.10", 27018, 8443)], timeout_s=1.5, ui_protocol="http")
    first, second = report.nodes
    assert (first.mongo_state, first.mongo_error) == ("TIMEOUT", "no answer within 1.5s")
    assert (first.ui_url, first.ui_ok, first.ui_error) == ("http://10.0.1.10:443/", False, "check failed: RuntimeError")
    assert (second.mongo_state, second.mongo_error) == ("ERROR", "check failed: ValueError: odd reply")
    assert (second.ui_url, second.ui_ok, second.ui_error) == ("http://10.0.2.10:8443/", False, "no answer within 1.5s")
    assert "10.0.2.10:27018: UI http://10.0.2.10:8443/ down (no answer within 1.5s)" in report.problems


@pytest.mark.parametrize(("result", "error"), [
    (None, "no answer within 1.5s"),
    (RuntimeError("boom"), "check failed: RuntimeError"),
    (health._UiAnswer("https://ce.example.com:443/", False, 502, "HTTP 502"), "HTTP 502"),
])
def test_a_load_balancer_not_answering_is_a_problem_after_the_nodes(monkeypatch: pytest.MonkeyPatch, result: object, error: str) -> None:
    _answers(monkeypatch, [health._MongoAnswer("SECONDARY", set_name="rs"), health._UiAnswer("https://10.0.1.10:443/", True, 200), result])
    report = health.check_cluster([NODE], timeout_s=1.5, url="https://ce.example.com", problems=("given first",), notes=("a note",))
    assert report.load_balancer is not None
    assert (report.load_balancer.url, report.load_balancer.ok, report.load_balancer.error) == ("https://ce.example.com", False, error)
    assert report.problems == ("given first", "no PRIMARY: no node claims to be primary",
                               f"load balancer https://ce.example.com does not answer ({error})")
    assert report.notes == ("a note",)


def test_every_text_of_the_report_is_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    _answers(monkeypatch, [
        health._MongoAnswer("PRIMARY", set_name="rs", status_problem="refused s3cret-pw", status_note="note s3cret-pw"),
        health._UiAnswer("https://10.0.1.10:443/", True, 200),
        health._UiAnswer("https://ce.example.com:443/", False, None, "reset s3cret-pw"),
    ])  # fmt: skip
    report = health.check_cluster([NODE], timeout_s=1.0, credentials=Credentials("s3cret-pw"), url="https://ce.example.com",
                                  problems=("given s3cret-pw",), notes=("noted s3cret-pw",))
    assert report.problems == ("given ***", "replSetGetStatus on 10.0.1.10:27017: refused ***",
                               "load balancer https://ce.example.com does not answer (reset ***)")
    assert report.notes == ("noted ***", "note ***")


def test_error_texts_are_cut_after_redaction(monkeypatch: pytest.MonkeyPatch) -> None:
    _answers(monkeypatch, [
        health._MongoAnswer("UNREACHABLE", "e" * 250, status_note="n" * 350),
        health._UiAnswer("https://10.0.1.10:443/", False, None, "u" * 250),
        health._UiAnswer("https://ce.example.com:443/", False, None, "b" * 250),
    ])  # fmt: skip
    report = health.check_cluster([NODE], timeout_s=1.0, url="https://ce.example.com")
    node = report.nodes[0]
    assert (len(node.mongo_error), len(node.ui_error)) == (200, 200)
    assert report.load_balancer is not None and len(report.load_balancer.error) == 200
    assert report.notes == ("n" * 300,)  # a note is "<address>: replSetGetStatus: <error>", 100 more


def test_a_raising_check_is_cut_to_200_characters(monkeypatch: pytest.MonkeyPatch) -> None:
    _answers(monkeypatch, [RuntimeError("x" * 300), RuntimeError("y" * 300)])
    report = health.check_cluster([NODE], timeout_s=1.0)
    assert report.nodes[0].mongo_error == "check failed: RuntimeError: " + "x" * 172
    assert report.nodes[0].ui_error == "check failed: RuntimeError"


def test_elapsed_time_is_measured_to_the_millisecond(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([100.0, 100.12345])  # when the check starts, when it ends
    deadlines: list[float] = []

    def asked(tasks: object, deadline: float) -> list[object]:
        deadlines.append(deadline)
        return [health._MongoAnswer("PRIMARY", set_name="rs"), health._UiAnswer("u", True, 200)]

    monkeypatch.setattr(health, "_run_bounded", asked)
    monkeypatch.setattr(health, "time", type("Clock", (), {"monotonic": staticmethod(lambda: next(clock))}))
    assert health.check_cluster([NODE], timeout_s=1.5).elapsed_s == 0.123
    assert deadlines == [102.5]  # start + timeout + 1 s
