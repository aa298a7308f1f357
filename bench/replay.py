"""Benchmark: replay `migrate` on fresh booted hosts and print where the time goes (root only).

Prints total wall time, the cutover window (the first cutover step's start to the last one's end:
the CE primary's stop, setup and start, CE's planned downtime; the secondaries' joins and verify
run after it, while CE serves), and how much of the preparation ran in parallel (sum of preparation step times divided
by the wall time they spanned; 1.0 = strictly one after another). Then a second, unchanged replay.

Run: sudo .venv/bin/python -m bench.replay [--mode migrate|greenfield]
"""

from __future__ import annotations

import argparse
import time

from tests.hosts.replay import StepResult
from tests.hosts.replay_support import start_flow, window_steps


def window_seconds(cutover: list[StepResult]) -> float:
    """The cutover window: the first cutover step's start to the last one's end (CE's downtime)."""
    return max(r.ended for r in cutover) - min(r.started for r in cutover) if cutover else 0.0


def summary(results: list[StepResult]) -> dict[str, float]:
    ran = [r for r in results if r.ran]
    cutover = window_steps(results)
    prep = [r for r in ran if r not in cutover]
    window = window_seconds(cutover)
    prep_span = max(r.ended for r in prep) - min(r.started for r in prep) if prep else 0.0
    prep_work = sum(r.seconds for r in prep)
    return {
        "steps_run": float(len(ran)),
        "cutover_window_s": window,
        "preparation_span_s": prep_span,
        "preparation_step_time_s": prep_work,
        "preparation_parallelism": prep_work / prep_span if prep_span else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=["migrate", "greenfield"], default="migrate")
    args = parser.parse_args()
    t0 = time.monotonic()
    flow = start_flow(args.mode)
    try:
        setup_s = time.monotonic() - t0
        result = flow.run_program()
        t1 = time.monotonic()
        first = flow.replay(result)
        first_s = time.monotonic() - t1
        t2 = time.monotonic()
        second = flow.replay(flow.run_program(), state_file=first.state_file)
        second_s = time.monotonic() - t2
    finally:
        flow.lab.teardown()
    print(f"mode: {args.mode}")
    print(f"lab + stand-in setup: {setup_s:8.1f} s")
    print(f"first replay total:   {first_s:8.1f} s")
    for key, value in summary(first.results).items():
        print(f"  {key:<24}{value:8.1f}")
    print(f"second replay total:  {second_s:8.1f} s  (steps run: {sum(r.ran for r in second.results)})")


if __name__ == "__main__":
    main()
