"""Shared storage of a CE 5.x cluster: one encrypted EFS file system, its backups and mount targets.

Owns: the EFS file system (encrypted, deterministic creation token, ``protect``), its backup
policy, and one mount target per availability zone the nodes use, behind the EFS security group.

Must not touch: the nodes or their mounts (the ``mount`` phase on each node does that), and
anything of CE 6.x, whose GlusterFS bricks live on per-node volumes declared in ``nodes.py``.
Changing ``encrypted``, ``kms_key_id``, ``performance_mode`` or ``creation_token`` would create a
new, empty file system: they are fixed here on purpose.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_aws as aws

from components.settings import Settings


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
        settings: Settings,
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
            tags={**settings.tag_map, "Name": f"{name}-fs"},
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
