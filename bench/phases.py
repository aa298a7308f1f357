"""How long each node-side phase takes on the lab hosts: first run (converging) and second run
(nothing to do), for a whole 5.x migrate on 3 booted hosts with the stand-in CE.

    sudo .venv/bin/python -m bench.phases            # table: phase, node, first s, second s
    sudo .venv/bin/python -m bench.phases --json     # one JSON object

Uses tests/hosts/nodes.py (the same shipping and command strings as the Pulumi program) and the
lab of tests/hosts/lab (root, systemd-nspawn, debootstrap: .ci/hosts-deps.sh). "second" of
backup and stop is a run right after the first (the tree / CE state unchanged); of the other
preparation phases the re-run a new bundle causes; of setup/start the cutover run again.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tests.hosts import nodes
from tests.hosts.lab import Lab, LabConfig


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args()

    waves: dict[str, float] = {}
    with Lab(LabConfig()) as lab, tempfile.TemporaryDirectory(prefix="cehl-bench-phases-") as tmp:
        bare = nodes.make_standin_repo(Path(tmp) / "repo")
        flow = nodes.Flow(lab, [lab["ce-1"], lab["ce-2"], lab["ce-3"]], lab.serve_dir(bare, "ta_cloud_exchange.git"), nodes.Secrets.new())

        def timed(name: str, step: Callable[[], object]) -> None:
            t0 = time.monotonic()
            step()
            waves[name] = round(time.monotonic() - t0, 2)
            bad = [r for r in flow.runs if r.rc != 0]
            if bad:
                raise SystemExit(f"{name} failed:\n" + "\n".join(map(str, bad)))

        timed("standalone install (ce-1)", flow.standalone)
        timed("ship bundle + settings (3 nodes)", flow.ship_all)
        timed("preparation, first (3 nodes in parallel)", lambda: flow.preparation("first", repeat=("backup",)))
        timed("preparation, second", lambda: flow.preparation("second", [p for p in nodes.PREPARATION if p != "backup"]))
        timed("stand-in runtime (secondaries)", flow.standin_runtime)
        timed("stop, first + again", lambda: (flow.run(flow.primary, "stop", "first"), flow.run(flow.primary, "stop", "first again")))
        timed("cutover setup+start, first", lambda: flow.cutover("first", stop=False))
        timed("verify, first", lambda: flow.verify("first"))
        timed("cutover setup+start, second", lambda: flow.cutover("second", stop=False))
        timed("verify, second", lambda: flow.verify("second"))

    rows = []
    seen: list[tuple[str, str]] = []
    for run in flow.runs:
        if (run.phase, run.host) not in seen:
            seen.append((run.phase, run.host))
    for phase, host in seen:
        first = [r.seconds for r in flow.runs if (r.phase, r.host) == (phase, host) and r.wave == "first"]
        second = [r.seconds for r in flow.runs if (r.phase, r.host) == (phase, host) and r.wave in ("second", "first again")]
        rows.append({"phase": phase, "node": host, "first_s": first[0] if first else None, "second_s": second[0] if second else None})
    if args.json:
        print(json.dumps({"phases": rows, "waves_s": waves, "lab": lab.timings}))
        return 0
    print(f"{'phase':28} {'node':6} {'first s':>8} {'second s':>9}")
    for row in rows:
        first_s = "-" if row["first_s"] is None else f"{row['first_s']:.2f}"
        second_s = "-" if row["second_s"] is None else f"{row['second_s']:.2f}"
        print(f"{row['phase']:28} {row['node']:6} {first_s:>8} {second_s:>9}")
    print()
    for name, seconds in waves.items():
        print(f"{name:42} {seconds:8.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
