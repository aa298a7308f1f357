"""What each component needs from the stack's settings, typed, built in one place.

Owns: ``NetworkArgs`` (security groups), ``StorageArgs`` (the line's shared storage), ``NodeArgs``
(instances, the backup image, per-node volumes), ``StepsArgs`` (reaching a node and the secrets
it is handed) and ``LoadBalancerArgs`` (the UI's load balancer, when there is one), and
``from_settings`` that derives them from ``Settings`` and the release line.
A component sees only its Args, never the whole ``Settings``.

Must not touch: resources, validation (``settings.py`` has finished when these are built).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import SecretStr

from components.settings import Settings
from scripts.cenode.lines import PortRange


@dataclass(frozen=True)
class NetworkArgs:
    vpc_id: str
    tags: dict[str, str]
    #: node <-> node ports of the release line
    cluster_ports: tuple[PortRange, ...]
    ui_port: int
    ui_cidrs: tuple[str, ...]
    ssh_cidrs: tuple[str, ...]
    bastion_security_group_id: str
    proxy_url: str
    #: the nodes reach a shared file system over NFS behind its own security group (EFS)
    nfs_file_system: bool
    #: the UI is reached through a load balancer: uiCidrs apply at its group, the nodes accept the UI from it
    load_balancer: bool = False


@dataclass(frozen=True)
class LoadBalancerArgs:
    """The UI's load balancer: where it lives, who may reach it, and its optional DNS name."""

    scheme: Literal["internal", "internet-facing"]
    vpc_id: str
    tags: dict[str, str]
    ui_protocol: str
    ui_port: int
    #: internet-facing: its own public subnets; internal: empty (the nodes' subnets are used)
    subnet_ids: tuple[str, ...]
    ui_dns_name: str
    hosted_zone_id: str


@dataclass(frozen=True)
class StorageArgs:
    tags: dict[str, str]
    #: size of each node's brick volume (GlusterFS lines)
    brick_volume_gb: int


@dataclass(frozen=True)
class BrickVolume:
    """Each new node's encrypted EBS volume for its GlusterFS bricks, and where it is attached."""

    size_gb: int
    #: the bricks phase looks for the same name (on Nitro instances under /dev/disk/by-id by volume id)
    device: str


@dataclass(frozen=True)
class NodeArgs:
    tags: dict[str, str]
    key_pair_name: str
    assign_public_ip: bool
    ce_version: str
    backup_reboot: bool
    #: the line's per-node brick volume; None: the line's storage needs none
    brick_volume: BrickVolume | None


@dataclass(frozen=True)
class StepsArgs:
    ssh_user: str
    ssh_private_key: SecretStr
    bastion_host: str
    bastion_user: str
    maintenance_password: SecretStr
    jwt_secret: SecretStr
    ui_certificate_file: str
    ui_certificate_key_file: str


@dataclass(frozen=True)
class ClusterArgs:
    network: NetworkArgs
    storage: StorageArgs
    node: NodeArgs
    steps: StepsArgs
    #: None: loadBalancer none (each node's own address)
    load_balancer: LoadBalancerArgs | None = None


def from_settings(settings: Settings, *, nfs_file_system: bool, brick_volume: BrickVolume | None) -> ClusterArgs:
    """Every component's Args; the keywords come from the line's storage kind (``components.storage``)."""
    line = settings.line
    tags = settings.tag_map
    return ClusterArgs(
        network=NetworkArgs(
            vpc_id=settings.vpc_id,
            tags=tags,
            cluster_ports=line.cluster_ports,
            ui_port=settings.ui_port,
            ui_cidrs=tuple(settings.ui_cidrs),
            ssh_cidrs=tuple(settings.ssh_cidrs),
            bastion_security_group_id=settings.bastion_security_group_id,
            proxy_url=settings.proxy_url,
            nfs_file_system=nfs_file_system,
            load_balancer=settings.load_balancer != "none",
        ),
        storage=StorageArgs(tags=tags, brick_volume_gb=settings.gluster_volume_size_gb),
        node=NodeArgs(
            tags=tags,
            key_pair_name=settings.key_pair_name,
            assign_public_ip=settings.assign_public_ip,
            ce_version=settings.ce_version,
            backup_reboot=settings.backup_reboot,
            brick_volume=brick_volume,
        ),
        steps=StepsArgs(
            ssh_user=settings.ssh_user,
            ssh_private_key=settings.ssh_private_key,
            bastion_host=settings.bastion_host,
            bastion_user=settings.effective_bastion_user,
            maintenance_password=settings.maintenance_password,
            jwt_secret=settings.jwt_secret,
            ui_certificate_file=settings.ui_certificate_file,
            ui_certificate_key_file=settings.ui_certificate_key_file,
        ),
        load_balancer=None if settings.load_balancer == "none" else LoadBalancerArgs(
            scheme=settings.load_balancer,
            vpc_id=settings.vpc_id,
            tags=tags,
            ui_protocol=settings.ui_protocol,
            ui_port=settings.ui_port,
            subnet_ids=tuple(settings.load_balancer_subnet_ids),
            ui_dns_name=settings.ui_dns_name,
            hosted_zone_id=settings.hosted_zone_id,
        ),
    )
