"""Command line, run from tests/hosts as root:

``python -m lab up``: start a lab, print how to reach it, tear it down on Enter or Ctrl-C.
``python -m lab down``: tear down labs whose owning process is gone (a killed test run);
``python -m lab down LAB_DIR ...``: tear down those labs from their state.json, owner or not.
``python -m lab prune``: delete cache entries (image, apt repo, wheelhouse) the default config does not use.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from .lab import Lab, LabConfig, LabState, prune_cache, reap_stale_labs, teardown_state


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab")
    sub = parser.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="start a lab and keep it until Enter / Ctrl-C")
    up.add_argument("--hosts", default="ce-1,ce-2,ce-3")
    down = sub.add_parser("down", help="tear down labs from their state.json")
    down.add_argument("dirs", nargs="*", type=Path)
    sub.add_parser("prune", help="delete cache entries the default config does not use")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    if args.cmd == "up":
        lab = Lab(LabConfig(hosts=tuple(args.hosts.split(","))))
        with lab:
            for h in lab:
                print(f"{h.name}\t{h.ip}")
            print(f"apt: {lab.apt_url}\npip: {lab.pip_index_url}\nshared: {lab.shared_dir}")
            print(f"ssh: {lab.shell_hint()}")
            print(f"timings: {lab.timings}")
            try:
                input("Enter tears the lab down> ")
            except (EOFError, KeyboardInterrupt):
                pass
        return 0

    if args.cmd == "prune":
        for path in prune_cache(LabConfig()):
            print(f"removed {path}")
        return 0

    if not args.dirs:
        for d in reap_stale_labs():
            print(f"{d}: removed (owner gone)")
        return 0
    rc = 0
    for d in args.dirs:
        problems = teardown_state(LabState.load(d))
        print(f"{d}: {'removed' if not problems else problems}")
        rc |= bool(problems)
    return rc


if __name__ == "__main__":
    sys.exit(main())
