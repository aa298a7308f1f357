"""Wall time of the cluster health check: a healthy set vs one whose member hangs, per timeout.

    .venv/bin/python -m bench.health_timeout            # timeouts 1, 2, 5 s
    .venv/bin/python -m bench.health_timeout --timeouts 1 3

Everything runs on 127.0.0.1: mockupdb members (tests/health/mockcluster.py) and a plain HTTP UI.
The hanging member accepts TCP and never answers; the check should return in about the timeout.
"""

from __future__ import annotations

import argparse
import sys
import time

from scripts.cenode.health import check_cluster
from tests.health.mockcluster import HANG, PRIMARY, SECONDARY, FakeReplicaSet, ui_server

SCENARIOS = {
    "healthy": [PRIMARY, SECONDARY, SECONDARY],
    "one member hangs": [PRIMARY, SECONDARY, HANG],
    "all members hang": [HANG, HANG, HANG],
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeouts", type=float, nargs="+", default=[1.0, 2.0, 5.0])
    args = parser.parse_args()
    print(f"{'timeout':>8}  {'scenario':<18}  {'wall':>7}  {'over timeout':>12}  verdict")
    with ui_server() as ui_port:
        for timeout in args.timeouts:
            for name, roles in SCENARIOS.items():
                with FakeReplicaSet(roles) as rs:
                    start = time.monotonic()
                    report = check_cluster(rs.nodes(ui_port), timeout_s=timeout, ui_protocol="http")
                    wall = time.monotonic() - start
                verdict = "healthy" if report.healthy else f"{len(report.problems)} problem(s)"
                print(f"{timeout:>7g}s  {name:<18}  {wall:>6.3f}s  {wall - timeout:>+11.3f}s  {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
