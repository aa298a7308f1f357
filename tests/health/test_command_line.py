"""``ce-health``'s command line: its options and their help, what it takes from node.json, the notes
and problems about files it could not read, and what ``main`` prints and exits with (issue 12:
sharper tests). The cluster itself is replaced here (``check_cluster``), test_cli.py asks real mocks.

Defaults written here from docs/health.md and README: 5 s per node (``timeouts.health``), UI on 443
over https, ``--wait`` without a number bounded by ``timeouts.healthy`` (300 s), re-checks every 5 s;
files under /etc/cloud-exchange-ha (node.json, secrets.json); CE's key ``HA_PRIMARY_NODE_IP``
(docs/ce-facts.md §6.3).
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from scripts.cenode import health, nodeconfig
from scripts.cenode.health import ClusterHealth, NodeAddress, NodeReport

HAIRPIN = ("--url asked from a cluster node: the load balancer keeps the client's address, so it may send this node's probe back "
           "to this node, which cannot answer it (hairpin); a timeout here is not proof the load balancer is down: run ce-health "
           "--url from outside the nodes")


def write_node(config: Path, **fields: Any) -> None:
    values: dict[str, Any] = {
        "node_name": "ce-1", "node_ip": "10.0.1.10", "role": "primary", "cluster_ips": ["10.0.1.10", "10.0.2.10:27018"],
        "ce_version": "v6.1.0", "ce_repo_url": "", "ce_dir": "/opt/ta_cloud_exchange", "shared_dir": str(config / "shared"),
    }  # fmt: skip
    values.update(fields)
    (config / "node.json").write_text(nodeconfig.NodeConfig(**values).to_json(), encoding="utf-8")


def gather(*argv: str) -> tuple[list[NodeAddress], float, str, Any, str | None, list[str], list[str], Any]:
    args = health._parser().parse_args(list(argv))
    return (*health._gather_inputs(args), args)


# ---- the options -----------------------------------------------------------------------------


def test_every_option_and_its_help() -> None:
    parser = health._parser()
    assert parser.prog == "ce-health"
    assert parser.description == ("Check a Cloud Exchange HA cluster: MongoDB replica set, primary, UI on each node. "
                                  "Exit 0 only when healthy; otherwise one 'problem:' line per problem on stderr.")
    helps = {action.dest: action.help for action in parser._actions}
    assert helps == {
        "help": "show this help message and exit",
        "nodes": "comma-separated ip[:mongo_port] (default port 27017); default: cluster_ips of "
                 "/etc/cloud-exchange-ha/node.json when run on a node",
        "ui_port": "UI port on every node (default: node.json's, else 443)",
        "ui_protocol": "default: node.json's, else https",
        "insecure_ui": "accept the UI's self-signed certificate",
        "url": "the UI through its load balancer, e.g. https://ce.example.com (the stack's uiUrl): reported next to each node; "
               "run it from outside the nodes (a node's own probe may be balanced back to itself and time out)",
        "json": "print the report as one line of JSON",
        "wait": "re-check every 5 s until healthy, for at most SECONDS (without a number: node.json timeouts.healthy, else 300); "
                "the report says how many checks it took",
        "timeout": "seconds per node, all nodes at once (default: node.json timeouts.health, else 5)",
        "shared_env": "CE's shared config .env (default: <shared_dir>/config/.env, then /opt/shared/data/config/.env)",
        "credentials": "root-only JSON with maintenance_password, for replSetGetStatus (default /etc/cloud-exchange-ha/secrets.json)",
        "config_dir": "==SUPPRESS==",
        "log_dir": "==SUPPRESS==",  # ce-node verify passes its own (the 6.x gluster commands' log)
    }  # fmt: skip


def test_option_values_and_defaults() -> None:
    parser = health._parser()
    args = parser.parse_args([])
    assert (args.nodes, args.ui_port, args.ui_protocol, args.insecure_ui, args.url, args.json, args.wait, args.timeout) == (
        None, None, None, False, None, False, None, None)
    assert (args.shared_env, args.credentials, args.config_dir) == (None, None, "/etc/cloud-exchange-ha")
    args = parser.parse_args(["--ui-port", "8443", "--ui-protocol", "http", "--insecure-ui", "--json", "--wait", "30", "--timeout", "2.5"])
    assert (args.ui_port, args.ui_protocol, args.insecure_ui, args.json, args.wait, args.timeout) == (8443, "http", True, True, 30.0, 2.5)
    assert parser.parse_args(["--wait"]).wait == -1.0
    with pytest.raises(SystemExit):
        parser.parse_args(["--ui-protocol", "ftp"])
    assert "[--wait [SECONDS]]" in parser.format_usage()


# ---- what is taken from node.json ------------------------------------------------------------


def test_without_node_json_the_defaults_apply(tmp_path: Path) -> None:
    nodes, timeout, protocol, credentials, _, _, problems, args = gather("--nodes", "10.0.1.10", "--config-dir", str(tmp_path), "--wait")
    assert (nodes, timeout, protocol, credentials, problems) == ([NodeAddress("10.0.1.10", 27017, 443)], 5.0, "https", None, [])
    assert args.wait == 300.0


def test_node_json_gives_nodes_ui_and_timeouts(tmp_path: Path) -> None:
    write_node(tmp_path, ui_protocol="http", ui_port=8443, timeouts={"health": 7, "healthy": 600})
    nodes, timeout, protocol, _, _, _, _, args = gather("--config-dir", str(tmp_path), "--wait")
    assert nodes == [NodeAddress("10.0.1.10", 27017, 8443), NodeAddress("10.0.2.10", 27018, 8443)]
    assert (timeout, protocol, args.wait) == (7.0, "http", 600.0)


def test_node_json_without_timeouts_takes_the_defaults(tmp_path: Path) -> None:
    write_node(tmp_path)
    _, timeout, protocol, _, _, _, _, args = gather("--config-dir", str(tmp_path), "--wait")
    assert (timeout, protocol, args.wait) == (5.0, "https", 300.0)


def test_the_command_line_wins_over_node_json(tmp_path: Path) -> None:
    write_node(tmp_path, ui_protocol="http", ui_port=8443, timeouts={"health": 7})
    nodes, timeout, protocol, _, _, _, _, args = gather(
        "--config-dir", str(tmp_path), "--nodes", "10.0.3.10", "--ui-port", "9443", "--ui-protocol", "https", "--timeout", "2", "--wait", "45")
    assert (nodes, timeout, protocol, args.wait) == ([NodeAddress("10.0.3.10", 27017, 9443)], 2.0, "https", 45.0)


@pytest.mark.parametrize(("argv", "message"), [
    (["--timeout", "0"], "--timeout must be positive"),
    (["--timeout", "-1"], "--timeout must be positive"),
    (["--wait", "-0.5"], "--wait must be zero or more seconds"),
    (["--url", "https://ce.example.com/ui"], "--url 'https://ce.example.com/ui': give the UI's address, like https://ce.example.com or https://host:8443"),
])
def test_bad_values_are_refused(tmp_path: Path, argv: list[str], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        gather("--nodes", "10.0.1.10", "--config-dir", str(tmp_path), *argv)
    assert str(caught.value) == message


def test_no_nodes_and_no_node_json_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError) as caught:
        gather("--config-dir", str(tmp_path))
    assert str(caught.value) == "give --nodes (no node.json here to take the cluster's IPs from)"


def test_wait_zero_is_accepted(tmp_path: Path) -> None:
    assert gather("--nodes", "10.0.1.10", "--config-dir", str(tmp_path), "--wait", "0")[-1].wait == 0.0


def test_url_on_a_node_notes_the_hairpin_and_elsewhere_not(tmp_path: Path) -> None:
    elsewhere = gather("--nodes", "10.0.1.10", "--config-dir", str(tmp_path), "--shared-env", str(tmp_path / "x"), "--url", "https://ce.example.com")
    write_node(tmp_path)
    on_node = gather("--config-dir", str(tmp_path), "--shared-env", str(tmp_path / "x"), "--url", "https://ce.example.com")
    assert HAIRPIN not in elsewhere[5]
    assert on_node[5][0] == HAIRPIN


# ---- credentials -----------------------------------------------------------------------------


def test_credentials_are_read_from_the_config_dir_by_default(tmp_path: Path) -> None:
    (tmp_path / "secrets.json").write_text(json.dumps({"maintenance_password": "s3cret", "jwt_secret": "j"}), encoding="utf-8")
    _, _, _, credentials, _, notes, problems, _ = gather("--nodes", "10.0.1.10", "--config-dir", str(tmp_path))
    assert credentials is not None and credentials.password == "s3cret"
    assert problems == [] and not [n for n in notes if "replSetGetStatus" in n]


def test_credentials_without_a_password_are_a_note(tmp_path: Path) -> None:
    path = tmp_path / "secrets.json"
    path.write_text(json.dumps({"jwt_secret": "j"}), encoding="utf-8")
    _, _, _, credentials, _, notes, problems, _ = gather("--nodes", "10.0.1.10", "--config-dir", str(tmp_path), "--shared-env", str(path))
    assert credentials is None and problems == []
    assert notes[0] == f"replSetGetStatus skipped: no maintenance_password in {path}"


def test_default_credentials_unreadable_are_a_note_saying_why(tmp_path: Path) -> None:
    _, _, _, _, _, notes, problems, _ = gather("--nodes", "10.0.1.10", "--config-dir", str(tmp_path))
    assert problems == []
    assert notes[0] == f"replSetGetStatus skipped: {tmp_path / 'secrets.json'} not readable here (No such file or directory)"


def test_default_credentials_broken_are_a_note_saying_why(tmp_path: Path) -> None:
    (tmp_path / "secrets.json").write_text("{", encoding="utf-8")
    notes = gather("--nodes", "10.0.1.10", "--config-dir", str(tmp_path))[5]
    path = tmp_path / "secrets.json"
    assert notes[0] == f"replSetGetStatus skipped: {path} not readable here ({path} is not valid JSON)"


def test_explicit_credentials_unusable_are_a_problem(tmp_path: Path) -> None:
    missing, broken = tmp_path / "missing.json", tmp_path / "broken.json"
    broken.write_text(json.dumps(["not", "an", "object"]), encoding="utf-8")
    problems = gather("--nodes", "10.0.1.10", "--config-dir", str(tmp_path), "--credentials", str(missing))[6]
    assert problems == [f"credentials file {missing} unusable: No such file or directory"]
    problems = gather("--nodes", "10.0.1.10", "--config-dir", str(tmp_path), "--credentials", str(broken))[6]
    assert problems == [f"credentials file {broken} unusable: {broken} is not a JSON object"]


# ---- CE's primary from the shared .env -------------------------------------------------------


def test_ce_primary_comes_from_shared_dir_per_node_json(tmp_path: Path) -> None:
    write_node(tmp_path)
    (tmp_path / "shared" / "config").mkdir(parents=True)
    (tmp_path / "shared" / "config" / ".env").write_text("HA_PRIMARY_NODE_IP=10.0.2.10\n", encoding="utf-8")
    ce_primary, notes = gather("--config-dir", str(tmp_path))[4:6]
    assert ce_primary == "10.0.2.10"
    assert [n for n in notes if "HA_PRIMARY_NODE_IP" in n] == []


def test_an_env_without_the_key_is_a_note_and_the_search_stops(tmp_path: Path) -> None:
    env = tmp_path / "shared.env"
    env.write_text("HA_ENABLED=True\n", encoding="utf-8")
    ce_primary, notes = gather("--nodes", "10.0.1.10", "--config-dir", str(tmp_path), "--shared-env", str(env))[4:6]
    assert ce_primary is None
    assert notes[1:] == [f"{env} has no HA_PRIMARY_NODE_IP"]


def test_no_readable_env_is_a_note_naming_each_path_tried(tmp_path: Path) -> None:
    write_node(tmp_path)
    (tmp_path / "shared" / "config" / ".env").mkdir(parents=True)  # a folder: "Is a directory"
    ce_primary, notes = gather("--config-dir", str(tmp_path))[4:6]
    assert ce_primary is None
    assert notes[-1] == ("CE's HA_PRIMARY_NODE_IP unknown: shared .env not readable here ("
                         f"{tmp_path / 'shared' / 'config' / '.env'}: Is a directory; "
                         "/opt/shared/data/config/.env: No such file or directory)")


def test_an_error_without_a_reason_is_named_by_its_type(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def unreadable(path: str) -> str:
        raise PermissionError()

    monkeypatch.setattr(health, "read_ce_primary", unreadable)
    notes = gather("--nodes", "10.0.1.10", "--config-dir", str(tmp_path), "--shared-env", "/x/.env")[5]
    assert notes[-1] == "CE's HA_PRIMARY_NODE_IP unknown: shared .env not readable here (/x/.env: PermissionError)"


# ---- main ------------------------------------------------------------------------------------


class Cluster:
    """``check_cluster`` replaced: records how it was called, answers ``report``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, report: ClusterHealth) -> None:
        self.report = report
        self.calls: list[tuple[tuple[NodeAddress, ...], dict[str, Any]]] = []
        monkeypatch.setattr(health, "check_cluster", self)

    def __call__(self, nodes: list[NodeAddress], **kwargs: Any) -> ClusterHealth:
        self.calls.append((tuple(nodes), kwargs))
        return self.report


NODE = NodeReport("10.0.1.10:27017", "10.0.1.10", "PRIMARY", True, "mongo_replica_set", "10.0.1.10:27017", "",
                  "https://10.0.1.10:443/", True, 200, "")
HEALTHY = ClusterHealth("mongo_replica_set", "10.0.1.10:27017", None, (NODE,), (), "hello", (), elapsed_s=0.5)


def main(tmp_path: Path, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = health.main(["--config-dir", str(tmp_path), "--shared-env", str(tmp_path / "absent.env"), *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_main_passes_every_option_to_the_check(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = Cluster(monkeypatch, HEALTHY)
    (tmp_path / "secrets.json").write_text(json.dumps({"maintenance_password": "s3cret"}), encoding="utf-8")
    code, _, err = main(tmp_path, capsys, "--nodes", "10.0.1.10", "--timeout", "2", "--ui-protocol", "http", "--insecure-ui",
                        "--url", "https://ce.example.com")
    (nodes, kwargs), = cluster.calls
    assert (code, err, nodes) == (0, "", (NodeAddress("10.0.1.10", 27017, 443),))
    credentials = kwargs.pop("credentials")
    assert credentials.password == "s3cret"
    assert kwargs == {"timeout_s": 2.0, "ui_protocol": "http", "insecure_ui": True, "ce_primary": None, "url": "https://ce.example.com",
                      "problems": [], "notes": [f"CE's HA_PRIMARY_NODE_IP unknown: shared .env not readable here ({tmp_path / 'absent.env'}: "
                                                "No such file or directory)"]}


def test_main_prints_the_table_and_exits_0_when_healthy(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    Cluster(monkeypatch, HEALTHY)
    code, out, err = main(tmp_path, capsys, "--nodes", "10.0.1.10")
    assert (code, err) == (0, "")
    assert out == health.render_table(HEALTHY) + "\n"
    assert out.endswith("HEALTHY (1 nodes, 0.5s)\n")


def test_main_prints_sorted_json_and_one_stderr_line_per_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    Cluster(monkeypatch, replace(HEALTHY, problems=("first problem", "second problem")))
    code, out, err = main(tmp_path, capsys, "--nodes", "10.0.1.10", "--json")
    assert code == 1
    assert err == "problem: first problem\nproblem: second problem\n"
    assert out.startswith('{"ce_primary": null, "checks": 1, "elapsed_s": 0.5, "healthy": false, ')
    assert json.loads(out)["problems"] == ["first problem", "second problem"]


def test_main_with_wait_re_checks_and_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    Cluster(monkeypatch, HEALTHY)
    code, out, _ = main(tmp_path, capsys, "--nodes", "10.0.1.10", "--wait", "0", "--json")
    report = json.loads(out)
    assert (code, report["checks"], report["notes"][-1]) == (0, 1, "healthy at the first check")


def test_main_hides_the_password_in_what_it_prints(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    Cluster(monkeypatch, replace(HEALTHY, problems=("refused s3cret-pw",), set_name="s3cret-pw"))
    (tmp_path / "secrets.json").write_text(json.dumps({"maintenance_password": "s3cret-pw"}), encoding="utf-8")
    code, out, err = main(tmp_path, capsys, "--nodes", "10.0.1.10")
    assert code == 1 and "s3cret" not in out + err
    assert err == "problem: refused ***\n" and "replica set  ***" in out


@pytest.mark.parametrize(("argv", "message"), [
    (["--nodes", "10.0.1.10:x"], "ce-health: bad node '10.0.1.10:x': port 'x' is not a number\n"),
    (["--nodes", "10.0.1.10", "--timeout", "0"], "ce-health: --timeout must be positive\n"),
])
def test_main_exits_2_on_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                       argv: list[str], message: str) -> None:
    cluster = Cluster(monkeypatch, HEALTHY)
    code, out, err = main(tmp_path, capsys, *argv)
    assert (code, out, err, cluster.calls) == (2, "", message, [])


FAKE_GLUSTER = '''#!/usr/bin/env python3
import os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_GLUSTER_LOG"], "a") as log:
    log.write(" ".join(args) + "\\n")
bricks = "".join(f"<brick>{ip}:/opt/shared/gluster/bricks/1/brick<name>{ip}:/opt/shared/gluster/bricks/1/brick</name></brick>"
                 for ip in ("10.0.1.10", "10.0.2.10"))
head = "<cliOutput><opRet>0</opRet><opErrno>0</opErrno><opErrstr/>"
if "heal" in args:
    print("".join(f"Brick {ip}:/opt/shared/gluster/bricks/1/brick\\nStatus: Connected\\nNumber of entries: {n}\\n\\n"
                  for ip, n in (("10.0.1.10", 0), ("10.0.2.10", os.environ["FAKE_GLUSTER_PENDING"]))))
elif "peer" in args:
    print(head + "<peerStatus><peer><hostname>10.0.2.10</hostname><connected>1</connected>"
          "<stateStr>Peer in Cluster</stateStr></peer></peerStatus></cliOutput>")
else:
    print(head + "<volInfo><volumes><volume><name>CloudExchange</name><statusStr>Started</statusStr><brickCount>2</brickCount>"
          "<replicaCount>2</replicaCount><typeStr>Replicate</typeStr><bricks>" + bricks + "</bricks></volume></volumes></volInfo></cliOutput>")
'''


FAKE_DOCKER = '''#!/usr/bin/env python3
import json, os, sys
args = sys.argv[1:]
if args[:1] == ["ps"]:
    print("ta_cloud_exchange_mongodb-primary_1\\nta_cloud_exchange_rabbitmq-stats_1")
elif args[:2] == ["exec", "ta_cloud_exchange_rabbitmq-stats_1"] and args[2:4] == ["rabbitmqctl", "cluster_status"]:
    running = os.environ["FAKE_RABBIT_RUNNING"].split(",")
    print(json.dumps({"disk_nodes": running, "running_nodes": running}))
else:
    sys.exit(64)
'''


def fake_tool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, text: str) -> None:
    """``name`` on PATH, ahead of the machine's own (a docker CLI may be installed here)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / name).write_text(text)
    (bin_dir / name).chmod(0o755)
    if not os.environ["PATH"].startswith(f"{bin_dir}:"):
        monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")


def test_on_a_node_verify_also_judges_rabbitmq_and_waits_for_a_member_to_join(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    Cluster(monkeypatch, HEALTHY)
    write_node(tmp_path, ce_version="v5.1.2", cluster_ips=["10.0.1.10", "10.0.2.10"])
    fake_tool(tmp_path, monkeypatch, "docker", FAKE_DOCKER)
    monkeypatch.setenv("FAKE_RABBIT_RUNNING", "rabbit@10.0.1.10,rabbit@10.0.2.10")
    logs = tmp_path / "logs"
    code, out, err = main(tmp_path, capsys, "--json", "--log-dir", str(logs))
    assert (code, err) == (0, "")
    assert "RabbitMQ: every node (2) a running member of CE's RabbitMQ cluster" in json.loads(out)["notes"]
    assert "$ docker ps --format '{{.Names}}'" in (logs / "health-rabbitmq.log").read_text()  # started by the node agent's runner

    monkeypatch.setenv("FAKE_RABBIT_RUNNING", "rabbit@10.0.1.10")  # ce-2's start has not joined RabbitMQ yet
    code, out, err = main(tmp_path, capsys, "--json", "--wait", "0", "--log-dir", str(logs))
    assert code == 1 and err == "problem: RabbitMQ: rabbit@10.0.2.10 is not a running member of CE's RabbitMQ cluster\n"
    assert json.loads(out)["healthy"] is False
    assert main(tmp_path, capsys, "--nodes", "10.0.1.10", "--log-dir", str(logs))[0] == 0  # --nodes: not node.json's cluster


def test_on_a_6x_node_verify_also_judges_glusterfs_and_waits_for_the_heal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    Cluster(monkeypatch, HEALTHY)
    node = nodeconfig.NodeConfig(node_name="ce-1", node_ip="10.0.1.10", role="primary", cluster_ips=["10.0.1.10", "10.0.2.10"],
                                 ce_version="v6.1.0", ce_repo_url="file:///x", ce_dir="/opt/ce", shared_dir="/opt/shared/data")
    (tmp_path / "node.json").write_text(node.to_json(), encoding="utf-8")
    fake_tool(tmp_path, monkeypatch, "gluster", FAKE_GLUSTER)
    fake_tool(tmp_path, monkeypatch, "docker", FAKE_DOCKER)
    monkeypatch.setenv("FAKE_RABBIT_RUNNING", "rabbit@10.0.1.10,rabbit@10.0.2.10")
    log = tmp_path / "gluster.log"
    monkeypatch.setenv("FAKE_GLUSTER_LOG", str(log))
    monkeypatch.setenv("FAKE_GLUSTER_PENDING", "0")
    logs = tmp_path / "logs"
    code, out, err = main(tmp_path, capsys, "--json", "--log-dir", str(logs))
    assert (code, err) == (0, "")
    assert "GlusterFS: CloudExchange has one brick per node (2), every peer Connected, nothing to heal" in json.loads(out)["notes"]
    assert "$ gluster --mode=script --xml peer status" in (logs / "health-gluster.log").read_text()  # started by the node agent's runner
    assert log.read_text().splitlines() == ["--mode=script --xml volume info CloudExchange", "--mode=script --xml peer status",
                                            "--mode=script volume heal CloudExchange info"]

    monkeypatch.setenv("FAKE_GLUSTER_PENDING", "4")  # the heal has not finished: unhealthy, and --wait re-checks it
    code, out, err = main(tmp_path, capsys, "--json", "--wait", "0", "--log-dir", str(logs))
    assert code == 1 and err == "problem: GlusterFS: 10.0.2.10:/opt/shared/gluster/bricks/1/brick has 4 entries to heal\n"
    assert json.loads(out)["healthy"] is False

    log.unlink()  # --nodes: another cluster than node.json's, nothing of GlusterFS is asked
    assert main(tmp_path, capsys, "--nodes", "10.0.1.10", "--log-dir", str(logs))[0] == 0 and not log.exists()
    (tmp_path / "a-file").write_text("")  # a log folder it cannot make (as for an operator without sudo): said, not guessed
    code, out, err = main(tmp_path, capsys, "--log-dir", str(tmp_path / "a-file" / "logs"))
    assert code == 1 and "GlusterFS not checked: its log" in err and "run it with sudo" in err
    assert "RabbitMQ not checked: its log" in err
