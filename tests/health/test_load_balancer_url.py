"""``ce-health --url``: the UI through a load balancer, reported next to each node (issue 16).

The load balancer here is a stand-in: a few lines of asyncio forwarding TCP from its own loopback
port to the UI's, as a Network Load Balancer's TCP listener passes the UI through (TLS included).
A variant accepts connections and never answers, which is what a node sees when the balancer
sends the node's own probe back to it (the hairpin).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.cenode import nodeconfig
from scripts.cenode.health import check_cluster, main, parse_url

from .mockcluster import LOOPBACK, PRIMARY, SECONDARY, FakeReplicaSet, free_port, ui_server


@contextlib.contextmanager
def tcp_forwarder(target_port: int | None) -> Iterator[int]:
    """A TCP passthrough from a fresh loopback port to ``target_port``; None: accept and never answer (the hairpin)."""
    loop = asyncio.new_event_loop()

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if target_port is None:
            await asyncio.sleep(3600)
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(LOOPBACK, target_port)
        except OSError:  # no healthy target: the connection is reset
            writer.close()
            return
        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))

    server = loop.run_until_complete(asyncio.start_server(handle, LOOPBACK, 0))
    port = int(server.sockets[0].getsockname()[1])
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def stop() -> None:
        server.close()
        for task in asyncio.all_tasks():
            if task is not asyncio.current_task():
                task.cancel()

    try:
        yield port
    finally:
        asyncio.run_coroutine_threadsafe(stop(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def args(rs: FakeReplicaSet, ui_port: int, config: Path, *extra: str) -> list[str]:
    return ["--nodes", rs.spec, "--ui-port", str(ui_port), "--timeout", "1", "--config-dir", str(config),
            "--shared-env", str(config / "absent.env"), *extra]


def test_balancer_passing_the_tls_ui_through_is_reported_up(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "etc"
    config.mkdir()
    with ui_server(tls_dir=tmp_path) as ui, tcp_forwarder(ui) as balancer, FakeReplicaSet([PRIMARY, SECONDARY, SECONDARY]) as rs:
        code = main(args(rs, ui, config, "--insecure-ui", "--url", f"https://127.0.0.1:{balancer}"))
        out = capsys.readouterr().out
    assert code == 0, out
    assert f"load balancer  https://127.0.0.1:{balancer}  up (200)" in out
    assert out.index("load balancer") > out.index("NODE")  # reported after the nodes' rows


def test_balancer_json_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "etc"
    config.mkdir()
    with ui_server() as ui, tcp_forwarder(ui) as balancer, FakeReplicaSet([PRIMARY, SECONDARY, SECONDARY]) as rs:
        code = main(args(rs, ui, config, "--ui-protocol", "http", "--json", "--url", f"http://127.0.0.1:{balancer}/"))
        report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert report["load_balancer"] == {"url": f"http://127.0.0.1:{balancer}/", "ok": True, "status": 200, "error": ""}


def test_without_url_there_is_no_balancer_in_the_report() -> None:
    with ui_server() as ui, FakeReplicaSet([PRIMARY, SECONDARY, SECONDARY]) as rs:
        report = check_cluster(rs.nodes(ui), timeout_s=1.0, ui_protocol="http")
    assert report.load_balancer is None and report.healthy


def test_balancer_with_no_target_answering_is_a_problem_while_nodes_are_up() -> None:
    dead = free_port()
    with ui_server() as ui, tcp_forwarder(dead) as balancer, FakeReplicaSet([PRIMARY, SECONDARY, SECONDARY]) as rs:
        report = check_cluster(rs.nodes(ui), timeout_s=1.0, ui_protocol="http", url=f"http://127.0.0.1:{balancer}")
    assert [n.ui_ok for n in report.nodes] == [True, True, True]
    assert report.load_balancer is not None and not report.load_balancer.ok
    assert report.problems == (f"load balancer http://127.0.0.1:{balancer} does not answer ({report.load_balancer.error})",)


def test_nothing_listening_at_the_url_is_refused() -> None:
    port = free_port()
    with ui_server() as ui, FakeReplicaSet([PRIMARY, SECONDARY, SECONDARY]) as rs:
        report = check_cluster(rs.nodes(ui), timeout_s=1.0, ui_protocol="http", url=f"http://127.0.0.1:{port}")
    assert report.problems == (f"load balancer http://127.0.0.1:{port} does not answer (connection refused)",)


def test_hairpin_times_out_within_the_bound_and_is_explained_on_a_node(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "etc"
    config.mkdir()
    with ui_server() as ui, tcp_forwarder(None) as balancer, FakeReplicaSet([PRIMARY, SECONDARY, SECONDARY]) as rs:
        node = nodeconfig.NodeConfig(
            node_name="ce-1", node_ip="127.0.0.1", role="primary", cluster_ips=[m.address for m in rs.members],
            ce_version="v6.1.0", ce_repo_url="", ce_dir="/opt/ta_cloud_exchange", shared_dir=str(tmp_path / "shared"),
            ui_protocol="http", ui_port=ui,
        )  # fmt: skip
        (config / nodeconfig.NODE_FILE).write_text(node.to_json())
        code = main(["--config-dir", str(config), "--shared-env", str(config / "absent.env"), "--timeout", "1",
                     "--url", f"http://127.0.0.1:{balancer}"])
        out, err = capsys.readouterr()
    assert code == 1
    assert f"problem: load balancer http://127.0.0.1:{balancer} does not answer (no answer within 1s)" in err
    assert "note: --url asked from a cluster node" in out and "run ce-health --url from outside the nodes" in out
    assert "DOWN" in out.split("load balancer", 1)[1].splitlines()[0]


@pytest.mark.parametrize("url", ["ce.example.com", "ftp://ce.example.com", "https://ce.example.com/ui", "https://ce.example.com:99999",
                                 "https://:443"])
def test_a_url_that_is_no_ui_address_is_a_usage_error(url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--nodes", "127.0.0.1", "--config-dir", str(tmp_path), "--url", url])
    assert code == 2
    assert f"ce-health: --url {url!r}:" in capsys.readouterr().err


@pytest.mark.parametrize(("url", "parts"), [
    ("https://ce.example.com", ("https", "ce.example.com", 443)),
    ("https://ce.example.com:8443/", ("https", "ce.example.com", 8443)),
    ("http://internal-ce-lb-nlb-0d539189fa.elb.eu-west-1.amazonaws.com", ("http", "internal-ce-lb-nlb-0d539189fa.elb.eu-west-1.amazonaws.com", 80)),
])
def test_ui_urls_parse(url: str, parts: tuple[str, str, int]) -> None:
    assert parse_url(url) == parts
