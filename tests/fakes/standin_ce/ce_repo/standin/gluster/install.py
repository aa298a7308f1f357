# TEST DOUBLE of Netskope Cloud Exchange (stand-in for tests): not CE, contains no CE code.
"""TEST-ONLY helper behind ``./standin-install-gluster``: put the GlusterFS stand-in on a host.

Real CE 6.x installs GlusterFS 11 packages itself (docs/ce-facts.md §2.2); the double never installs
packages, so a host that should play a 6.x node runs this first (as root). It writes
``<bin>/gluster`` (a copy of ``standin/gluster/shim.py`` with ``--opt-shared``/``--local-dir``/
``--volume-dir`` baked in), the symlinks ``<bin>/glusterd`` and ``<bin>/glusterfs``, optionally
``<mount helper dir>/mount.glusterfs`` (what ``mount -t glusterfs`` runs) and, when the systemd
unit directory exists, ``glusterd.service`` (``Type=forking``). Existing files that are not the
stand-in (a real GlusterFS) are never overwritten. Real CE has no such helper.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys

SHIM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "shim.py")
MARKER = "TEST DOUBLE of Netskope Cloud Exchange"
LINKS = ("glusterd", "glusterfs")


def shim_text(python: str, opt_shared: str, local_dir: str, volume_dir: str = "") -> str:
    lines = []
    with open(SHIM, encoding="utf-8") as handle:
        for index, line in enumerate(handle.read().splitlines()):
            if index == 0 and line.startswith("#!"):
                line = f"#!{python}"
            elif line.startswith("DEFAULT_OPT_SHARED = "):
                line = f"DEFAULT_OPT_SHARED = {opt_shared!r}"
            elif line.startswith("DEFAULT_LOCAL_DIR = "):
                line = f"DEFAULT_LOCAL_DIR = {local_dir!r}"
            elif line.startswith("DEFAULT_VOLUME_DIR = "):
                line = f"DEFAULT_VOLUME_DIR = {volume_dir!r}"
            lines.append(line)
    return "\n".join(lines) + "\n"


def _is_standin(path: str) -> bool:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return MARKER in handle.read(400)
    except OSError:
        return False


def _check_free(path: str, target: str) -> None:
    """Refuse to replace anything that is not the stand-in (or a link to it)."""
    if not os.path.lexists(path):
        return
    if os.path.islink(path) and os.path.realpath(path) == os.path.realpath(target):
        return
    if not os.path.islink(path) and _is_standin(path):
        return
    raise SystemExit(f"standin-install-gluster: {path} exists and is not the stand-in; refusing to replace it")


def _link(path: str, target: str) -> None:
    _check_free(path, target)
    if os.path.lexists(path):
        os.unlink(path)
    os.symlink(target, path)


def unit_text(bin_dir: str, local_dir: str) -> str:
    return f"""# TEST DOUBLE of Netskope Cloud Exchange (stand-in for tests): GlusterFS stand-in unit.
[Unit]
Description=GlusterFS management daemon (STAND-IN test double)
After=network.target

[Service]
Type=forking
PIDFile={local_dir or "/var/lib/glusterd"}/standin-glusterd.pid
ExecStart={bin_dir}/glusterd
Restart=on-failure

[Install]
WantedBy=multi-user.target
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="TEST-ONLY: install the GlusterFS stand-in (gluster, glusterd, glusterfs)")
    parser.add_argument("--bin-dir", default="/usr/local/sbin")
    parser.add_argument("--mount-helper-dir", default="/sbin", help="where mount(8) looks for mount.glusterfs; '' = skip")
    parser.add_argument("--systemd-dir", default="/etc/systemd/system", help="glusterd.service goes here if the dir exists; '' = skip")
    parser.add_argument("--opt-shared", default="/opt/shared", help="baked into the shim (CE's fixed /opt/shared)")
    parser.add_argument("--local-dir", default="", help="baked into the shim; '' = /var/lib/glusterd and /etc/glusterfs/glusterd.vol")
    parser.add_argument(
        "--volume-dir", default="", help="baked into the shim: the folder every host shares, bind-mounted as the volume; '' = none"
    )
    parser.add_argument("--python", default=sys.executable or shutil.which("python3") or "/usr/bin/python3")
    args = parser.parse_args(argv)

    bin_dir = os.path.abspath(args.bin_dir)
    os.makedirs(bin_dir, exist_ok=True)
    gluster = os.path.join(bin_dir, "gluster")
    _check_free(gluster, gluster)
    tmp = gluster + ".standin-tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(shim_text(args.python, args.opt_shared, args.local_dir, args.volume_dir))
    os.chmod(tmp, 0o755)  # noqa: S103 - an executable in a bin directory
    os.replace(tmp, gluster)
    installed = [gluster]
    for name in LINKS:
        _link(os.path.join(bin_dir, name), gluster)
        installed.append(os.path.join(bin_dir, name))
    if args.mount_helper_dir:
        helper = os.path.join(args.mount_helper_dir, "mount.glusterfs")
        os.makedirs(args.mount_helper_dir, exist_ok=True)
        _link(helper, gluster)
        installed.append(helper)
    if args.systemd_dir and os.path.isdir(args.systemd_dir):
        unit = os.path.join(args.systemd_dir, "glusterd.service")
        _check_free(unit, unit)
        with open(unit, "w", encoding="utf-8") as handle:
            handle.write(unit_text(bin_dir, args.local_dir))
        os.chmod(unit, 0o644)
        installed.append(unit)
        if os.path.isdir("/run/systemd/system") and shutil.which("systemctl") and os.path.abspath(args.systemd_dir) == "/etc/systemd/system":
            subprocess.run(["systemctl", "daemon-reload"], check=False)
    for path in installed:
        print(f"installed {path}")
    print(f"GlusterFS stand-in (TEST DOUBLE) ready; start it with 'systemctl start glusterd' or {bin_dir}/glusterd")
    return 0
