"""Pulumi-side view of a CE release line: which image new nodes of the line boot.

Owns: Canonical's Ubuntu image name pattern per Ubuntu series a line declares. The per-line CE
facts themselves (ports, pins, minimum versions, storage kind, plan) live in
``scripts/cenode/lines``, because nodes need them too; this module re-exports what the Pulumi
side reads so it has one import. What differs per storage kind on AWS is in ``storage.py``.

Must not touch: resources. Pure data and small functions.
"""

from __future__ import annotations

from scripts.cenode.lines import CE5, CE6, CE6_GLUSTER, LINES, NFS_PORT, SSH_PORT, PortRange, ReleaseLine, for_version, line_for
from scripts.cenode.release import HA_MIN_VERSION, format_version, parse_version

#: Canonical's AWS account, owner of the official Ubuntu images
CANONICAL_OWNER = "099720109477"

_UBUNTU_IMAGE = {
    "jammy": "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-*",
    "noble": "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*",
}


def ubuntu_image_pattern(line: ReleaseLine) -> str:
    """AMI name pattern of the Ubuntu LTS release new nodes of this line boot from."""
    return _UBUNTU_IMAGE[line.ubuntu_series[0]]


__all__ = [
    "CANONICAL_OWNER", "CE5", "CE6", "CE6_GLUSTER", "HA_MIN_VERSION", "LINES", "NFS_PORT", "SSH_PORT", "PortRange",
    "ReleaseLine", "for_version", "format_version", "line_for", "parse_version", "ubuntu_image_pattern",
]
