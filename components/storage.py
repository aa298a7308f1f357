"""The shared storage of each storage kind a release line declares, on the AWS side.

Owns: the table ``KINDS`` keyed by ``ReleaseLine.storage``: what the kind needs from the network
and the nodes, and the resources it declares. ``efs`` (CE 5.x): one encrypted EFS file system
(deterministic creation token, ``protect``), its backup policy and one mount target per
availability zone the nodes use, behind the EFS security group; the nodes mount it in their
``mount`` phase. ``glusterfs`` (CE 6.x): no cluster resource; each new node gets an encrypted EBS
volume for its bricks (declared with the node by ``nodes.py``), and CE's setup builds the volume.

Must not touch: the nodes or their mounts (the node-side phases do that). Changing ``encrypted``,
``kms_key_id``, ``performance_mode`` or ``creation_token`` of the file system would create a new,
empty file system: they are fixed here on purpose.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import pulumi
import pulumi_aws as aws

from components.args import BrickVolume, StorageArgs
from components.network import ClusterNetwork
from components.nodes import NewNode, PrimaryNode
from scripts.cenode.lines import ReleaseLine


def creation_token(stack: str) -> str:
    """Deterministic per stack: a re-run never makes a second file system."""
    return f"cloud-exchange-ha-{stack}-shared"


def data_options(parent: pulumi.Resource) -> pulumi.ResourceOptions:
    """Options of resources that hold CE data: never deleted by an update or a destroy."""
    return pulumi.ResourceOptions(parent=parent, protect=True, retain_on_delete=True)


class SharedStorage(pulumi.ComponentResource):
    """EFS for the 5.x shared folder (config, certificates, plugins, repos, .env.keys)."""

    file_system: aws.efs.FileSystem
    dns_name: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: StorageArgs,
        subnets_by_zone: dict[str, str],
        security_group_id: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("cloudexchange:ha:SharedStorage", name, None, opts)
        self.file_system = aws.efs.FileSystem(
            f"{name}-fs",
            creation_token=creation_token(pulumi.get_stack()),
            encrypted=True,
            performance_mode="generalPurpose",
            throughput_mode="elastic",
            tags={**args.tags, "Name": f"{name}-fs"},
            opts=data_options(self),
        )
        aws.efs.BackupPolicy(
            f"{name}-backup",
            file_system_id=self.file_system.id,
            backup_policy={"status": "ENABLED"},
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.mount_targets: Sequence[aws.efs.MountTarget] = [
            aws.efs.MountTarget(
                f"{name}-mt-{zone}",
                file_system_id=self.file_system.id,
                subnet_id=subnet,
                security_groups=[security_group_id],
                opts=pulumi.ResourceOptions(parent=self),
            )
            for zone, subnet in sorted(subnets_by_zone.items())
        ]
        self.dns_name = self.file_system.dns_name
        self.register_outputs({"file_system_id": self.file_system.id, "dns_name": self.dns_name})


class ClusterStorage(Protocol):
    """A line's shared storage as the cluster sees it."""

    #: node.json's ``shared_source`` (what the mount phase mounts; "" when nothing is mounted)
    shared_source: pulumi.Input[str]
    #: the cluster outputs it fills (``efsId``, ``efsDnsName``)
    outputs: dict[str, pulumi.Input[object] | None]
    #: the components it declared (the destroy guard waits for them)
    components: list[pulumi.Resource]

    def ready_for(self, node: PrimaryNode | NewNode) -> list[pulumi.Resource]:
        """What the node's storage phase waits for."""
        ...

    def brick_volume_id(self, node: PrimaryNode | NewNode) -> pulumi.Input[str]:
        """node.json's ``brick_volume_id`` ("" when the node has none)."""
        ...


class EfsStorage:
    """CE 5.x: one EFS file system for the cluster; every node waits for all its mount targets."""

    def __init__(self, name: str, args: StorageArgs, subnets_by_zone: dict[str, str], network: ClusterNetwork,
                 opts: pulumi.ResourceOptions):
        assert network.efs_security_group is not None  # declared because the kind asks for NFS
        self.shared = SharedStorage(name, args, subnets_by_zone, network.efs_security_group.id, opts=opts)
        self.shared_source: pulumi.Input[str] = self.shared.dns_name.apply(lambda dns: f"{dns}:/")
        self.outputs: dict[str, pulumi.Input[object] | None] = {
            "efsId": self.shared.file_system.id, "efsDnsName": self.shared.dns_name,
        }
        self.components: list[pulumi.Resource] = [self.shared]

    def ready_for(self, node: PrimaryNode | NewNode) -> list[pulumi.Resource]:
        return list(self.shared.mount_targets)

    def brick_volume_id(self, node: PrimaryNode | NewNode) -> pulumi.Input[str]:
        return ""


class GlusterBricks:
    """CE 6.x: nothing cluster-wide; each new node's bricks phase waits for its own volume's attachment."""

    def __init__(self, name: str, args: StorageArgs, subnets_by_zone: dict[str, str], network: ClusterNetwork,
                 opts: pulumi.ResourceOptions):
        self.shared_source: pulumi.Input[str] = ""
        self.outputs: dict[str, pulumi.Input[object] | None] = {"efsId": None, "efsDnsName": None}
        self.components: list[pulumi.Resource] = []

    def ready_for(self, node: PrimaryNode | NewNode) -> list[pulumi.Resource]:
        if isinstance(node, NewNode) and node.gluster_attachment is not None:
            return [node.gluster_attachment]
        return []

    def brick_volume_id(self, node: PrimaryNode | NewNode) -> pulumi.Input[str]:
        if isinstance(node, NewNode) and node.gluster_volume is not None:
            return node.gluster_volume.id
        return ""


@dataclass(frozen=True)
class StorageKind:
    """What one storage kind needs from the network and the nodes, and how it is declared."""

    #: the nodes reach a file system over NFS behind its own security group
    nfs_file_system: bool
    #: each new node's brick volume (None: none), from the line and the configured size
    brick_volume: Callable[[ReleaseLine, int], BrickVolume | None]
    declare: Callable[[str, StorageArgs, dict[str, str], ClusterNetwork, pulumi.ResourceOptions], ClusterStorage]


KINDS: dict[str, StorageKind] = {
    "efs": StorageKind(nfs_file_system=True, brick_volume=lambda line, size: None, declare=EfsStorage),
    "glusterfs": StorageKind(
        nfs_file_system=False,
        brick_volume=lambda line, size: BrickVolume(size_gb=size, device=line.gluster_layout().brick_device),
        declare=GlusterBricks,
    ),
}
