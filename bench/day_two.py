"""Benchmark: day-two operations replayed on booted hosts: steps run, CE downtime per node, time to healthy (root only).

Boots ONE lab (five hosts) and, on fresh hosts in it, replays:

* first migrate of 5 nodes, then (a) ``sshPrivateKey`` rotated on that 5.x migrate cluster;
* (b) a 3-node 5.x greenfield cluster whose host 3 is powered off and replaced (``--replace``);
* first migrate of 3 nodes;
* (c) a 3-node 5.x greenfield on 5.1.1 upgraded to v5.1.2 (its window, and what the lab served inside it);
* (d) in a second lab (6.x: the GlusterFS stand-in), a 3-node 6.x greenfield on v6.0.1 upgraded to v6.1.0.

The window of (c) and (d) includes the primary's window copy (README "Upgrading CE"): in the lab, CE's folder is
small, so the copy takes well under a second; on a real node it takes about CE's folder size over the disk's
write speed. ``--only upgrades`` runs (c) and (d) alone.

Measured per scenario: the steps the replay ran; CE downtime on each node, from a thread per node
that polls the stand-in's mongod (its pid alive, tests/hosts/rerun_probe.py) every 0.5 s from the
replay's start until the cluster is healthy (bench/downtime.py: counted once the node was seen up;
the goal for (a) and (b) is 0 s on every survivor); time to healthy: the replay's start until
``ce-node verify`` on ce-1 reports healthy with every member. For the first migrates also the
cutover window (bench/replay.py: its steps, and its seconds, which is CE's planned downtime; the
standalone's measured downtime on ce-1 should match it). Prints numbers; asserts no timing.

Run: flock /tmp/cehost.lock sudo .venv/bin/python -m bench.day_two [--only upgrades]
"""

from __future__ import annotations

import argparse
import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.downtime import Sample, seconds_down
from bench.replay import window_seconds
from tests.hosts import rerun_probe
from tests.hosts.lab import Host, Lab, LabConfig
from tests.hosts.nodes import ce6_lab_config
from tests.hosts.replay import Replay
from tests.hosts.replay_checks import lab_requests
from tests.hosts.replay_support import (
    CE_DIR,
    Flow,
    flow_on,
    fresh_hosts,
    install_docker_shim,
    node_report,
    replace_host,
    window_steps,
)

POLL_S = 0.5
HEALTHY_TIMEOUT_S = 300.0


class Watch:
    """One polling thread per host: (time, stand-in mongod pid or None) every POLL_S; failed polls skipped."""

    def __init__(self, hosts: list[Host]) -> None:
        self.samples: dict[str, list[Sample]] = {h.name: [] for h in hosts}
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._poll, args=(h,), daemon=True) for h in hosts]
        for thread in self._threads:
            thread.start()

    def _poll(self, host: Host) -> None:
        while not self._stop.is_set():
            try:
                pid = rerun_probe.standin_ce(host, CE_DIR).mongod_pid
            except Exception:  # noqa: BLE001 - an SSH hiccup is no sample, not downtime
                pid = -1
            if pid != -1:
                self.samples[host.name].append((time.monotonic(), pid))
            self._stop.wait(POLL_S)

    def stop(self) -> dict[str, float]:
        """Stop polling; seconds down per host."""
        self._stop.set()
        for thread in self._threads:
            thread.join()
        return {name: seconds_down(samples) for name, samples in self.samples.items()}


@dataclass
class Row:
    scenario: str
    steps_run: int = 0
    window_steps: int | None = None
    window_s: float | None = None
    down_s: dict[str, float] = field(default_factory=dict)
    healthy_s: float | None = None
    note: str = ""


def until_healthy(host: Host, members: int, since: float) -> float | None:
    """Seconds from ``since`` until ``ce-node verify`` on the host says healthy with ``members`` members."""
    deadline = time.monotonic() + HEALTHY_TIMEOUT_S
    while time.monotonic() < deadline:
        code, report = node_report(host)
        if code == 0 and report.get("healthy") is True and len(report.get("members", [])) == members:
            return time.monotonic() - since
        time.sleep(POLL_S)
    return None


def measured(row: Row, flow: Flow, watched: list[Host], run: Callable[[], Replay]) -> Replay:
    """Run one replay under a Watch of ``watched``; fill the row's steps, downtime and time to healthy."""
    watch = Watch(watched)
    t0 = time.monotonic()
    try:
        replay = run()
        row.healthy_s = until_healthy(flow.hosts[0], len(flow.hosts), t0)
    finally:
        row.down_s = watch.stop()
    row.steps_run = sum(r.ran for r in replay.results)
    return replay


def first_migrate(lab: Lab, nodes: int) -> tuple[Row, Flow, Replay]:
    overrides: dict[str, Any] = {}
    if nodes != 3:
        overrides = {"nodeCount": nodes, "subnetIds": [f"subnet-0{i:x}cccccccccccccc1" for i in range(1, nodes)]}
    flow = flow_on(lab, "migrate", **overrides)
    row = Row(f"first migrate, {nodes} nodes", note="downtime: ce-1 is the standalone")
    replay = measured(row, flow, flow.hosts, lambda: flow.replay(flow.run_program()))
    cutover = window_steps(replay.results)
    row.window_steps, row.window_s = len(cutover), window_seconds(cutover)
    return row, flow, replay


def rotated_key(flow: Flow, first: Replay) -> Row:
    key = rerun_probe.new_key_pair("ce-ha-day-two-bench")
    for host in flow.hosts:
        rerun_probe.authorize(host, key)
    changed = dataclasses.replace(flow, overrides={**flow.overrides, "sshPrivateKey": key.private})
    row = Row(f"(a) rotated sshPrivateKey, {len(flow.hosts)}-node migrate")
    measured(row, flow, flow.hosts, lambda: changed.replay(changed.run_program(), state_file=first.state_file))
    return row


def replaced_host_3(lab: Lab) -> Row:
    fresh_hosts(lab, 3)
    flow = flow_on(lab, "greenfield")
    first = flow.replay(flow.run_program())
    install_docker_shim(flow.hosts[0])
    replace_host(flow, "ce-3")
    changed = dataclasses.replace(flow, replaced_nodes=frozenset({"ce-3"}))
    row = Row("(b) host 3 replaced, 3-node greenfield", note="ce-3 is the new host")
    measured(row, flow, flow.hosts[:2], lambda: changed.replay(changed.run_program(), state_file=first.state_file))
    return row


def upgraded_within_5x(lab: Lab) -> Row:
    """(c) a 3-node 5.x greenfield on 5.1.1 upgraded to v5.1.2 (docs/ce-lifecycle.md §2; README "Upgrading CE")."""
    fresh_hosts(lab, 3)
    return upgraded(lab, "(c)", "5.1.1", "v5.1.2")


def upgraded_within_6x() -> Row:
    """(d) a 3-node 6.x greenfield on v6.0.1 upgraded to v6.1.0, in a lab of its own (the GlusterFS stand-in)."""
    lab = Lab(ce6_lab_config()).start()
    try:
        return upgraded(lab, "(d)", "v6.0.1", "v6.1.0")
    finally:
        lab.teardown()


def upgraded(lab: Lab, label: str, deployed: str, wanted: str) -> Row:
    """A 3-node greenfield on ``deployed`` upgraded to ``wanted``: steps, window, downtime, lab requests inside the window."""
    flow = flow_on(lab, "greenfield", deployed)
    first = flow.replay(flow.run_program())
    install_docker_shim(flow.hosts[0])
    changed = dataclasses.replace(flow, version=wanted, deployed_version=deployed)
    row = Row(f"{label} upgrade {deployed} -> {wanted}, 3-node greenfield", note="the secondaries are down from their drain to their join")
    replay = measured(row, flow, flow.hosts, lambda: changed.replay(changed.run_program(), state_file=first.state_file))
    window = window_steps(replay.results)
    row.window_steps, row.window_s = len(window), window_seconds(window)
    to_wall = time.time() - time.monotonic()
    start, end = min(r.started for r in window) + to_wall, max(r.ended for r in window) + to_wall
    served = [what for when, client, what in lab_requests(flow) if start - 1 <= when <= end]
    row.note += f"; lab http requests inside the window: {len(served)}"
    return row


def table(rows: list[Row]) -> str:
    def num(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    lines = ["scenario | steps run | steps in window | window (s) | CE downtime per survivor (s) | time to healthy (s)",
             "---|---|---|---|---|---"]
    for row in rows:
        down = ", ".join(f"{name} {seconds:.1f}" for name, seconds in row.down_s.items()) or "-"
        window_steps = "-" if row.window_steps is None else str(row.window_steps)
        note = f" ({row.note})" if row.note else ""
        lines.append(f"{row.scenario}{note} | {row.steps_run} | {window_steps} | {num(row.window_s)} | {down} | {num(row.healthy_s)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("upgrades",), help="run the upgrade scenarios (c) and (d) only")
    only = parser.parse_args(argv).only
    rows: list[Row] = []
    t0 = time.monotonic()
    lab = Lab(LabConfig(hosts=tuple(f"ce-{i}" for i in range(1, 6)))).start()
    boot_s = time.monotonic() - t0
    try:
        steps: list[tuple[str, Callable[[], None]]] = []

        def five() -> None:
            row, flow, first = first_migrate(lab, 5)
            rows.append(row)
            rows.append(rotated_key(flow, first))

        def three() -> None:
            fresh_hosts(lab, 3)
            rows.append(first_migrate(lab, 3)[0])

        if only is None:
            steps = [("5-node migrate and rotation", five), ("replaced host 3", lambda: rows.append(replaced_host_3(lab))),
                     ("3-node migrate", three)]
        steps.append(("5.x upgrade", lambda: rows.append(upgraded_within_5x(lab))))
        for name, step in steps:
            run_one(rows, name, step)
    finally:
        lab.teardown()
    run_one(rows, "6.x upgrade", lambda: rows.append(upgraded_within_6x()))  # one lab up at a time
    print(f"lab boot (5 hosts): {boot_s:.1f} s; total {time.monotonic() - t0:.0f} s")
    print(table(rows))


def run_one(rows: list[Row], name: str, step: Callable[[], None]) -> None:
    began = time.monotonic()
    try:
        step()
    except Exception as error:  # noqa: BLE001 - one failed scenario still prints the others
        rows.append(Row(name, note=f"FAILED: {str(error)[-300:]}"))
    print(f"# {name}: {time.monotonic() - began:.0f} s", flush=True)


if __name__ == "__main__":
    main()
