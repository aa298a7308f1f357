"""How long the real-host test lab takes: image (cold/cached), mirror, hosts to ssh-ready, teardown.

    sudo .venv/bin/python -m bench.lab_boot            # uses the normal cache (cached if present)
    sudo .venv/bin/python -m bench.lab_boot --cold     # a throw-away cache: cold image, mirror, wheels

Needs what the lab needs (root, debootstrap, systemd-nspawn: .ci/hosts-deps.sh).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from tests.hosts.lab import CACHE_ROOT, Lab, LabConfig, build_apt_repo, build_image, build_wheelhouse
from tests.hosts.lab._util import rmtree


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", action="store_true", help="build everything in a throw-away cache")
    parser.add_argument("--hosts", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of lines")
    args = parser.parse_args()

    cache = Path(tempfile.mkdtemp(prefix="cehl-bench-", dir="/var/tmp")) if args.cold else CACHE_ROOT
    config = LabConfig(hosts=tuple(f"ce-{i}" for i in range(1, args.hosts + 1)), cache_root=cache)
    results: dict[str, float | str] = {"cache": str(cache)}
    lab: Lab | None = None
    try:
        t0 = time.monotonic()
        image = build_image(config.image, cache)
        results["image_build_s" + ("_cached" if image.cached else "_cold")] = round(time.monotonic() - t0, 2)
        t0 = time.monotonic()
        build_image(config.image, cache)
        results["image_build_s_cached"] = round(time.monotonic() - t0, 3)

        t0 = time.monotonic()
        repo = build_apt_repo(image, config.apt_packages, config.extra_debs, config.compose_spec, cache)
        results["apt_mirror_s" + ("_cached" if repo.cached else "_cold")] = round(time.monotonic() - t0, 2)
        results["apt_mirror_debs"] = repo.files
        t0 = time.monotonic()
        wheels = build_wheelhouse(config.pip_requirements, config.host_python, cache)
        results["wheelhouse_s" + ("_cached" if wheels.cached else "_cold")] = round(time.monotonic() - t0, 2)

        lab = Lab(config)
        t0 = time.monotonic()
        lab.start()
        results["lab_start_total_s_cached_caches"] = round(time.monotonic() - t0, 2)
        results[f"boot_{args.hosts}_hosts_to_ssh_ready_s"] = lab.timings["boot_to_ssh"]
        results["network_and_http_s"] = lab.timings["network_and_http"]
        t0 = time.monotonic()
        rc = [h.run("true")[0] for h in lab]
        results[f"one_ssh_command_on_{args.hosts}_hosts_s"] = round(time.monotonic() - t0, 3)
        assert rc == [0] * args.hosts
        t0 = time.monotonic()
        lab.teardown()
        results["teardown_s"] = round(time.monotonic() - t0, 2)
    finally:
        if lab is not None:
            lab.teardown()  # no-op when already torn down
        if args.cold:
            rmtree(cache)

    if args.json:
        print(json.dumps(results))
    else:
        for k, v in results.items():
            print(f"{k:40} {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
