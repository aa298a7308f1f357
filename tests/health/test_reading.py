"""What the check reads and how it names things, word for word: node lists, UI URLs, CE's shared
``.env``, where that file is, hello's states and pymongo's error texts (issue 12: sharper tests).

Every expected value is written here from docs/ce-facts.md §6.1/§6.3 (MongoDB on 27017, ``hello``'s
fields), docs/ce-facts.md §2.2 (6.x's shared config under /opt/shared/data/config) and docs/health.md
(UI on 443, the URL forms), never read from the module.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pymongo.errors import AutoReconnect, NetworkTimeout, PyMongoError, ServerSelectionTimeoutError

from scripts.cenode import health, nodeconfig
from scripts.cenode.health import NodeAddress, default_shared_env_paths, parse_nodes, parse_url, read_ce_primary

# ---- node lists ----------------------------------------------------------------------------


def test_a_list_of_nodes_takes_the_default_ports_and_strips_blanks() -> None:
    assert parse_nodes(["10.0.1.10", " 10.0.2.10:27018 "]) == [
        NodeAddress("10.0.1.10", 27017, 443),
        NodeAddress("10.0.2.10", 27018, 443),
    ]


def test_a_bare_ipv6_address_keeps_the_mongo_port_and_is_bracketed() -> None:
    assert parse_nodes("fd00::10") == [NodeAddress("fd00::10", 27017, 443)]
    assert parse_nodes("fd00::10")[0].mongo_address == "[fd00::10]:27017"
    assert parse_nodes("[fd00::10]")[0].mongo_address == "[fd00::10]:27017"
    assert parse_nodes("[fd00::10]:")[0].mongo_address == "[fd00::10]:27017"


@pytest.mark.parametrize(("spec", "message"), [
    ("10.0.1.10,,10.0.2.10", "empty node in '10.0.1.10,,10.0.2.10'"),
    ("10.0.1.10, ", "empty node in '10.0.1.10, '"),
    (":27017", "bad node ':27017': no address"),
    ("[]:27017", "bad node '[]:27017': no address"),
    ("[fd00::10]27017", "bad node '[fd00::10]27017': expected [address]:port"),
    ("[fd00::10]x]:27017", "bad node '[fd00::10]x]:27017': expected [address]:port"),
    ("10.0.1.10:mongo", "bad node '10.0.1.10:mongo': port 'mongo' is not a number"),
    ("[fd00::10]:x", "bad node '[fd00::10]:x': port 'x' is not a number"),
    ("10.0.1.10:0", "port of '10.0.1.10:0' 0 is outside 1-65535"),
    ("10.0.1.10:65536", "port of '10.0.1.10:65536' 65536 is outside 1-65535"),
    ("10.0.1.10,10.0.1.10:27017,10.0.2.10,10.0.2.10", "node given twice: 10.0.1.10:27017, 10.0.2.10:27017"),
])
def test_malformed_node_lists_are_refused_with_a_message_naming_the_item(spec: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_nodes(spec)
    assert str(caught.value) == message


def test_no_nodes_at_all_is_refused() -> None:
    with pytest.raises(ValueError) as caught:
        parse_nodes([])
    assert str(caught.value) == "no nodes given"


@pytest.mark.parametrize("port", [1, 65535])
def test_ports_at_both_ends_of_the_range_are_accepted(port: int) -> None:
    assert parse_nodes(f"10.0.1.10:{port}", ui_port=port) == [NodeAddress("10.0.1.10", port, port)]


@pytest.mark.parametrize("ui_port", [0, 65536])
def test_a_ui_port_outside_the_range_is_refused(ui_port: int) -> None:
    with pytest.raises(ValueError) as caught:
        parse_nodes("10.0.1.10", ui_port=ui_port)
    assert str(caught.value) == f"UI port {ui_port} is outside 1-65535"


# ---- UI URLs (--url) -------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "parts"), [
    ("  https://ce.example.com/  ", ("https", "ce.example.com", 443)),
    ("http://ce.example.com:8080", ("http", "ce.example.com", 8080)),
    ("http://ce.example.com/", ("http", "ce.example.com", 80)),
])
def test_ui_urls_give_protocol_host_and_port(url: str, parts: tuple[str, str, int]) -> None:
    assert parse_url(url) == parts


@pytest.mark.parametrize("url", ["https://ce.example.com/?tenant=1", "https://ce.example.com/ui", "ftp://ce.example.com", "https:///"])
def test_a_url_that_is_not_the_uis_address_is_refused_with_an_example(url: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_url(url)
    assert str(caught.value) == f"--url {url!r}: give the UI's address, like https://ce.example.com or https://host:8443"


@pytest.mark.parametrize("url", ["https://ce.example.com:99999", "https://ce.example.com:port"])
def test_a_url_with_a_bad_port_says_so(url: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_url(url)
    assert str(caught.value) == f"--url {url!r}: the port is not a number from 1 to 65535"
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


# ---- CE's shared .env -----------------------------------------------------------------------


@pytest.mark.parametrize(("text", "primary"), [
    ("HA_PRIMARY_NODE_IP=10.0.1.10\n", "10.0.1.10"),
    ("export    HA_PRIMARY_NODE_IP='10.0.1.10'\n", "10.0.1.10"),
    ("  HA_PRIMARY_NODE_IP = \"10.0.1.10\"  \n", "10.0.1.10"),
    ("HA_PRIMARY_NODE_IP='10.0.1.10\"\n", "'10.0.1.10\""),  # mismatched quotes are kept
    ("HA_PRIMARY_NODE_IP=\"\n", "\""),  # one quote is not a quoted value
    ("HA_PRIMARY_NODE_IP=XceX\n", "XceX"),  # only ' and " quote
    ("HA_PRIMARY_NODE_IP=''\n", None),
    ("HA_PRIMARY_NODE_IP=\n", None),
    ("HA_PRIMARY_NODE_IP=a=b\n", "a=b"),
    ("HA_PRIMARY_NODE_IP_OLD=10.0.9.9\n#HA_PRIMARY_NODE_IP=10.0.8.8\nHA_PRIMARY_NODE_IP\nHA_PRIMARY_NODE_IP=10.0.2.10\n", "10.0.2.10"),
    ("HA_PRIMARY_NODE_IP=10.0.1.10\nHA_PRIMARY_NODE_IP=10.0.2.10\n", "10.0.1.10"),  # the first one counts
    ("exportHA_PRIMARY_NODE_IP=10.0.1.10\n", None),
])
def test_ce_primary_is_read_as_ce_writes_it(tmp_path: Path, text: str, primary: str | None) -> None:
    env = tmp_path / ".env"
    env.write_text(text, encoding="utf-8")
    assert read_ce_primary(str(env)) == primary


def test_ce_primary_is_read_past_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_bytes(b"BANNER=\xff\xfe caf\xe9\nHA_PRIMARY_NODE_IP=10.0.1.10\n")
    assert read_ce_primary(str(env)) == "10.0.1.10"


def test_ce_primary_of_a_missing_file_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_ce_primary(str(tmp_path / "absent.env"))


def _write_node(config: Path, shared_dir: str) -> None:
    node = nodeconfig.NodeConfig(
        node_name="ce-1", node_ip="10.0.1.10", role="primary", cluster_ips=["10.0.1.10"], ce_version="v5.1.2",
        ce_repo_url="", ce_dir="/opt/ta_cloud_exchange", shared_dir=shared_dir,
    )  # fmt: skip
    (config / "node.json").write_text(node.to_json(), encoding="utf-8")


def test_shared_env_is_looked_for_under_shared_dir_then_where_6x_keeps_it(tmp_path: Path) -> None:
    _write_node(tmp_path, "/mnt/ce-ha")
    assert default_shared_env_paths(str(tmp_path)) == ["/mnt/ce-ha/config/.env", "/opt/shared/data/config/.env"]


def test_shared_env_of_a_6x_node_is_listed_once(tmp_path: Path) -> None:
    _write_node(tmp_path, "/opt/shared/data")
    assert default_shared_env_paths(str(tmp_path)) == ["/opt/shared/data/config/.env"]


def test_shared_env_without_shared_dir_is_the_6x_one(tmp_path: Path) -> None:
    _write_node(tmp_path, "")
    assert default_shared_env_paths(str(tmp_path)) == ["/opt/shared/data/config/.env"]


@pytest.mark.parametrize("content", [None, "{not json", json.dumps({"node_name": "ce-1"}), json.dumps({"bogus": 1})])
def test_shared_env_without_a_usable_node_json_is_the_6x_one(tmp_path: Path, content: str | None) -> None:
    if content is not None:
        (tmp_path / "node.json").write_text(content, encoding="utf-8")
    assert default_shared_env_paths(str(tmp_path)) == ["/opt/shared/data/config/.env"]


# ---- hello's answer --------------------------------------------------------------------------


@pytest.mark.parametrize(("doc", "state"), [
    ({"setName": "mongo_replica_set", "isWritablePrimary": True}, "PRIMARY"),
    ({"setName": "mongo_replica_set", "ismaster": True}, "PRIMARY"),  # isMaster of a server older than 4.4.2
    ({"isWritablePrimary": True}, "STANDALONE"),
    ({"ismaster": True}, "STANDALONE"),
    ({}, "STANDALONE"),
    ({"isreplicaset": True, "secondary": False}, "NOT_IN_SET"),
    ({"setName": "", "isreplicaset": True}, "NOT_IN_SET"),
    ({"setName": "mongo_replica_set", "secondary": True}, "SECONDARY"),
    ({"setName": "mongo_replica_set", "secondary": False, "arbiterOnly": True}, "ARBITER"),
    ({"setName": "mongo_replica_set", "secondary": False}, "OTHER"),
    ({"setName": "", "secondary": True}, "STANDALONE"),
])
def test_states_are_named_from_hello(doc: dict[str, object], state: str) -> None:
    assert health._state_from_hello(doc) == state


# ---- pymongo's errors ------------------------------------------------------------------------


@pytest.mark.parametrize(("exc", "text"), [
    (ServerSelectionTimeoutError("10.0.1.10:27017: timed out, Timeout: 5.0s, Topology Description: <...>, Timeout: x"),
     "10.0.1.10:27017: timed out"),
    (AutoReconnect("connection closed (configured timeouts: socketTimeoutMS: 5000.0ms, connectTimeoutMS: 5000.0ms)"),
     "connection closed"),
    (ServerSelectionTimeoutError("10.0.1.10:27017: timed out (configured timeouts: connectTimeoutMS: 5000.0ms), 10.0.2.10:27017: "
                                 "timed out (configured timeouts: connectTimeoutMS: 5000.0ms), Timeout: 5.0s, Topology Description: <...>"),
     "10.0.1.10:27017: timed out"),  # a text per server pymongo knows: the first one is kept
    (AutoReconnect("  reset by peer  "), "reset by peer"),
    (PyMongoError(""), "PyMongoError"),
    (NetworkTimeout(" , Timeout: 5s"), "NetworkTimeout"),
])
def test_pymongo_errors_are_shortened_to_what_happened(exc: BaseException, text: str) -> None:
    assert health._short_pymongo_error(exc) == text


@pytest.mark.parametrize(("exc", "timeout"), [
    (NetworkTimeout("anything"), True),
    (ServerSelectionTimeoutError("No servers found yet, Timeout: 5s"), True),
    (ServerSelectionTimeoutError("10.0.1.10:27017: Timed Out (configured timeouts: ...)"), True),
    (ServerSelectionTimeoutError("10.0.1.10:27017: [Errno 111] Connection refused"), False),
    (AutoReconnect("timed out"), False),
    (PyMongoError("no servers found yet"), False),
])
def test_a_timeout_is_told_from_an_error_answer(exc: BaseException, timeout: bool) -> None:
    assert health._is_timeout(exc) is timeout
