# TEST DOUBLE of Netskope Cloud Exchange (stand-in for tests): not CE, contains no CE code.
"""The stand-in ``./start_management_server``: what the ``cloud-exchange`` unit runs (docs/ce-facts.md §1.7, §2.2).

CE's management server (HTTPS/mTLS API on CE_MANAGEMENT_PORT) is NOT simulated. What is: at
start, on a 6.x HA node, glusterd is started and the volume mounted (the stand-in client) if
needed, as CE's script does at boot; then the process waits for SIGTERM so that
``systemctl is-active cloud-exchange`` reports active.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess

from standin import common

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def ensure_volume(env: dict[str, str]) -> None:
    data = env.get("HA_NFS_DATA_DIRECTORY", "")
    if not data or common.volume_mounted(data):
        return
    if not (shutil.which("glusterd") and shutil.which("glusterfs")):
        print("GlusterFS is not installed; the shared volume cannot be mounted.", flush=True)
        return
    subprocess.run(["glusterd"], check=False)
    node = env.get("HA_CURRENT_NODE", "")
    result = subprocess.run(
        ["glusterfs", f"--volfile-server={node}", f"--volfile-id={common.GLUSTER_VOLUME}", data], capture_output=True, text=True, check=False
    )
    print(f"Mounting {common.GLUSTER_VOLUME} at {data}: exit {result.returncode} {result.stdout}{result.stderr}".strip(), flush=True)


def main() -> int:
    os.chdir(REPO_ROOT)
    env = common.read_env(".env")
    if env.get("ENV_FILE"):
        ensure_volume(env)
    print("Management server stand-in running (no API is served: TEST DOUBLE).", flush=True)
    stop = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop)
    signal.sigwait(stop)
    return 0
