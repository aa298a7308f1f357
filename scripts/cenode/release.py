"""What differs per Netskope CE release line: the one source of truth for those facts.

Owns: version parsing, which line a tag belongs to, the cluster port table, the Python pins,
the container-engine minimums, the storage kind, the setup recipe and its success text.
Everything here comes from ``shared/docs/ce-ha-facts.md`` (section numbers in comments).

Must not touch: anything outside the standard library. This module runs both inside the
Pulumi program (security groups, docs, settings) and on the CE nodes (prepare, preflight),
where nothing but python3 is guaranteed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Literal, Tuple  # noqa: UP035 - Tuple keeps the module importable on python 3.8 nodes

Version = Tuple[int, int, int]  # noqa: UP006 - see the import

#: HA exists from CE 5.0.0 on (facts 5.2: setup compares INSTALL_VERSION < "5.0.0").
HA_MIN_VERSION: Version = (5, 0, 0)
#: 5.0.x and 5.1.0 open setup with a version menu this program does not drive (facts, correction 10).
DRIVER_MIN_VERSION: Version = (5, 1, 1)
#: CE's setup judges success by this text alone; 5.x exits 0 even on failure (facts 1.3, 9.1).
SETUP_SUCCESS_TEXT = "Setup completed successfully"

_TAG = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(?:-beta[.\d]*)?$")


@dataclass(frozen=True)
class PortRange:
    """One cluster port rule: TCP from_port..to_port, and why CE needs it."""

    from_port: int
    to_port: int
    purpose: str

    @property
    def label(self) -> str:
        if self.from_port == self.to_port:
            return str(self.from_port)
        return f"{self.from_port}-{self.to_port}"


@dataclass(frozen=True)
class GlusterFacts:
    """CE 6.x's GlusterFS layout (facts 1.8, 1.9 B, 2.2): fixed by CE under ``/opt/shared``.

    Node-side tests relocate the whole tree with :meth:`at` (CE has no such switch).
    """

    volume: str
    #: CE's fixed base (``is_strict_pathlike`` rejects anything not under /opt/, facts 2.2)
    base_dir: str
    glusterd: PortRange
    bricks: PortRange
    #: where the node's brick EBS volume is attached (the Pulumi side attaches it there)
    brick_device: str = "/dev/sdf"
    glusterd_vol: str = "/etc/glusterfs/glusterd.vol"

    @property
    def brick_fs_dir(self) -> str:
        """Mount point of the dedicated brick file system (facts 2.2: "give /opt/shared/gluster an EBS volume")."""
        return f"{self.base_dir}/gluster"

    @property
    def brick_dir(self) -> str:
        return f"{self.brick_fs_dir}/bricks/1/brick"

    @property
    def mount_dir(self) -> str:
        """The GlusterFS client mount and CE's HA folder (``HA_NFS_DATA_DIRECTORY``)."""
        return f"{self.base_dir}/data"

    @property
    def config_dir(self) -> str:
        """CE's shared config: ``.env``, ``.env.keys``, certificates (facts 2.2, 8)."""
        return f"{self.mount_dir}/config"

    def at(self, base_dir: str) -> GlusterFacts:
        """The same layout under another base (tests)."""
        return replace(self, base_dir=base_dir.rstrip("/") or "/")


@dataclass(frozen=True)
class ReleaseLine:
    """Everything that depends on the CE major version."""

    major: int
    storage: Literal["efs", "glusterfs"]
    setup_mode: Literal["prompts", "config"]
    #: node <-> node TCP ports (facts 3.1 / 3.2); the UI port and NFS are separate rules.
    cluster_ports: tuple[PortRange, ...]
    #: pip requirement strings CE's HA setup checks for (facts 4).
    python_pins: tuple[str, ...]
    docker_min: Version
    compose_min: Version
    podman_min: Version
    podman_compose_min: Version
    python_min: Version
    needs_avx: bool
    #: (os id, minimum version) CE's setup accepts without an OS failure (facts 4).
    supported_os: tuple[tuple[str, str], ...]
    #: Ubuntu LTS series (name, version) new nodes are built from.
    ubuntu_series: tuple[str, str]
    #: path of the shared folder on every node; fixed for 6.x (facts 2.2), default for 5.x.
    default_shared_dir: str
    #: 6.x: CE's GlusterFS facts (None on 5.x)
    gluster: GlusterFacts | None = None
    #: 6.x: CE's management server port (``CE_MANAGEMENT_PORT``, facts 1.7, 3.2)
    management_port: int | None = None


CE5 = ReleaseLine(
    major=5,
    storage="efs",
    setup_mode="prompts",
    cluster_ports=(
        PortRange(4369, 4369, "RabbitMQ epmd"),
        PortRange(5672, 5672, "RabbitMQ AMQP"),
        PortRange(15672, 15672, "RabbitMQ management HTTP"),
        PortRange(25672, 25672, "RabbitMQ Erlang distribution"),
        PortRange(35672, 35672, "RabbitMQ CLI distribution"),
        PortRange(27017, 27017, "MongoDB replica set"),
    ),
    python_pins=("pyyaml>=6.0.0", "python-dotenv>=0.20.0,<=1.0.0", "pymongo>=4.6.3,<=4.7.3"),
    docker_min=(25, 0, 3),
    compose_min=(2, 16, 0),
    podman_min=(3, 4, 2),
    podman_compose_min=(1, 0, 3),
    python_min=(3, 6, 0),
    needs_avx=False,
    supported_os=(("ubuntu", "20.04"), ("ubuntu", "22.04"), ("rhel", "8"), ("rhel", "9")),
    ubuntu_series=("jammy", "22.04"),
    default_shared_dir="/mnt/ce-ha",
)

#: 6.x cluster ports that other 6.x facts refer to (facts 3.2): defined once, used in the table below
GLUSTERD_PORTS = PortRange(24007, 24007, "glusterd")
GLUSTER_BRICK_PORTS = PortRange(24009, 24029, "GlusterFS bricks")
CE6_MANAGEMENT_PORTS = PortRange(8000, 8000, "CE management server (mTLS)")
CE6_GLUSTER = GlusterFacts(volume="CloudExchange", base_dir="/opt/shared", glusterd=GLUSTERD_PORTS, bricks=GLUSTER_BRICK_PORTS)

CE6 = ReleaseLine(
    major=6,
    storage="glusterfs",
    setup_mode="config",
    cluster_ports=(
        PortRange(4369, 4369, "RabbitMQ epmd"),
        PortRange(5671, 5671, "RabbitMQ AMQPS"),
        PortRange(15671, 15671, "RabbitMQ management HTTPS"),
        PortRange(25672, 25672, "RabbitMQ Erlang distribution (TLS)"),
        PortRange(35672, 35672, "RabbitMQ CLI distribution"),
        PortRange(27017, 27017, "MongoDB replica set"),
        GLUSTERD_PORTS,
        GLUSTER_BRICK_PORTS,
        CE6_MANAGEMENT_PORTS,
    ),
    python_pins=("pyyaml>=6.0.0", "python-dotenv>=0.20.0,<=1.0.0", "pymongo>=4.6.3,<=4.7.3"),
    docker_min=(28, 4, 0),
    compose_min=(2, 39, 4),
    podman_min=(4, 9, 0),
    podman_compose_min=(1, 5, 0),
    python_min=(3, 11, 0),
    needs_avx=True,
    supported_os=(("ubuntu", "22.04"), ("ubuntu", "24.04"), ("rhel", "9.5")),
    ubuntu_series=("noble", "24.04"),
    default_shared_dir=CE6_GLUSTER.mount_dir,
    gluster=CE6_GLUSTER,
    management_port=CE6_MANAGEMENT_PORTS.from_port,
)

LINES: dict[int, ReleaseLine] = {5: CE5, 6: CE6}

#: ports every node serves to people, not to peers
NFS_PORT = 2049
SSH_PORT = 22


def parse_version(tag: str) -> Version:
    """``v5.1.2`` / ``5.1.2`` / ``v6.0.0-beta.1`` -> (major, minor, patch); ValueError otherwise."""
    match = _TAG.match(tag.strip())
    if not match:
        raise ValueError(f"{tag!r} is not a CE version tag like v5.1.2")
    major, minor, patch = (int(part) for part in match.groups())
    return (major, minor, patch)


def format_version(version: Version) -> str:
    return ".".join(str(part) for part in version)


def line_for(version: Version) -> ReleaseLine:
    """The release line of a version; KeyError for a major this program does not know."""
    return LINES[version[0]]


def satisfies(installed: Version, minimum: Version) -> bool:
    return installed >= minimum
