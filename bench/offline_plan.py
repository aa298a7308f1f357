"""Benchmark: wall time of the offline plan for a 3-node and a 7-node cluster (prints numbers only).

Run: .venv/bin/python -m bench.offline_plan [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import time

from offline import harness, plan
from tests.unit import stacks


def config(nodes: int) -> dict[str, object]:
    return stacks.greenfield(nodeCount=nodes, subnetIds=[f"subnet-0{i:x}cccccccccccccc1" for i in range(nodes)])


def measure(nodes: int, repeat: int) -> tuple[float, float, int, int]:
    times = []
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = harness.run(config(nodes), secret_keys=stacks.SECRET_KEYS)
        plan.render(result, "bench", [], [])
        times.append(time.perf_counter() - start)
    assert result is not None and result.error is None, result and result.error
    steps = len([r for r in result.resources if r.typ in plan.REMOTE_TYPES])
    return statistics.median(times), max(times), len(result.resources), steps


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"{'nodes':>5} {'median_s':>9} {'max_s':>7} {'resources':>9} {'remote_steps':>12}")
    for nodes in (3, 5, 7):
        median, worst, resources, steps = measure(nodes, args.repeat)
        print(f"{nodes:>5} {median:>9.3f} {worst:>7.3f} {resources:>9} {steps:>12}")


if __name__ == "__main__":
    main()
