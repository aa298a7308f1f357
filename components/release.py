"""Pulumi-side view of a CE release line: which image new nodes boot and what storage they get.

Owns: the AWS facts that follow from the line (Canonical's Ubuntu image name pattern, whether EFS
or per-node Gluster EBS volumes are declared). The per-line CE facts themselves (ports, pins,
minimum versions) live in ``scripts/cenode/release.py``, because nodes need them too; this module
re-exports them so the Pulumi side has one import.

Must not touch: resources. Pure data and small functions.
"""

from __future__ import annotations

from scripts.cenode.release import (
    CE5,
    CE6,
    CE6_GLUSTER,
    HA_MIN_VERSION,
    LINES,
    NFS_PORT,
    SSH_PORT,
    PortRange,
    ReleaseLine,
    format_version,
    line_for,
    parse_version,
)

#: Canonical's AWS account, owner of the official Ubuntu images
CANONICAL_OWNER = "099720109477"

_UBUNTU_IMAGE = {
    "jammy": "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-*",
    "noble": "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*",
}


def ubuntu_image_pattern(line: ReleaseLine) -> str:
    """AMI name pattern of the Ubuntu LTS release new nodes of this line boot from."""
    return _UBUNTU_IMAGE[line.ubuntu_series[0]]


def uses_efs(line: ReleaseLine) -> bool:
    return line.storage == "efs"


def uses_gluster_volume(line: ReleaseLine) -> bool:
    return line.storage == "glusterfs"


__all__ = [
    "CANONICAL_OWNER", "CE5", "CE6", "CE6_GLUSTER", "HA_MIN_VERSION", "LINES", "NFS_PORT", "SSH_PORT", "PortRange",
    "ReleaseLine", "format_version", "line_for", "parse_version", "ubuntu_image_pattern", "uses_efs",
    "uses_gluster_volume",
]
