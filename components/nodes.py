"""The cluster's EC2 nodes: the adopted primary with its protected backup AMI, and the new nodes.

Owns: reading the standalone primary (a data source only: nothing here can delete, replace or
stop it; it keeps its own address), attaching the node security group to its network interface,
its backup AMI (``protect`` + ``retain_on_delete``), and the new Ubuntu nodes (IMDSv2, encrypted
gp3 root, no public IP by default) plus, when the line's storage asks for one
(``NodeArgs.brick_volume``), each node's encrypted EBS volume for the GlusterFS bricks.

A new node's address belongs to the node, not to its instance: each new node has its own network
interface (its subnet, the node security group; with ``assignPublicIp`` an Elastic IP on it) that
outlives the instance and is the instance's primary interface. A replaced instance comes back with
the same private address, so no other node's inputs change. Replacement deletes before it creates
(``delete_before_replace``: the interface and the brick volume can be attached to one instance
only), and the settings that would replace every node at once (the AMI, ``keyPairName``,
``instanceType``, ``rootVolumeSizeGb``) are ignored after creation (``ROLLED_BY_HAND``): they are
rolled one node at a time with ``pulumi up --replace`` (README "Rolling a setting node by node").

CE's data on the new nodes outlives a ``pulumi destroy`` and a node replacement: each root volume
(CE's MongoDB, ``data/mongo-data``) has ``delete_on_termination`` off, and each brick volume (with
its attachment) is ``retain_on_delete``; both carry a Name tag naming the project, stack, node and
what they hold (``data_volume_name``), so they can be found and deleted by hand. None of them is
``protect``ed: that would block replacing one dead node (the other nodes still hold the data then).

Must not touch: security group rules (``network.py``), EFS (``storage.py``), anything that runs on
a node (``provisioning.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import release
from components.args import NodeArgs
from components.settings import DEFAULT_INSTANCE_TYPE, DEFAULT_ROOT_GB, PROJECT, Settings


@dataclass(frozen=True)
class PrimaryFacts:
    """What the program reads from the running standalone (read-only)."""

    instance_id: str
    private_ip: str
    subnet_id: str
    availability_zone: str
    instance_type: str
    root_volume_size_gb: int
    network_interface_id: str


def read_primary(instance_id: str) -> PrimaryFacts:
    """Look the standalone up (an invoke: it can never be deleted or replaced by this program)."""
    found = aws.ec2.get_instance(instance_id=instance_id)
    roots = found.root_block_devices
    return PrimaryFacts(
        instance_id=instance_id,
        private_ip=found.private_ip,
        subnet_id=found.subnet_id,
        availability_zone=found.availability_zone,
        instance_type=found.instance_type,
        root_volume_size_gb=int(roots[0].volume_size) if roots else DEFAULT_ROOT_GB,
        network_interface_id=found.network_interface_id,
    )


def ubuntu_ami(line: release.ReleaseLine) -> str:
    """The newest Canonical Ubuntu LTS image for the line, resolved when the program runs."""
    image = aws.ec2.get_ami(
        most_recent=True,
        owners=[release.CANONICAL_OWNER],
        filters=[
            {"name": "name", "values": [release.ubuntu_image_pattern(line)]},
            {"name": "architecture", "values": ["x86_64"]},
            {"name": "virtualization-type", "values": ["hvm"]},
        ],
    )
    return image.id


def backup_image_name(stack: str) -> str:
    """Deterministic per stack: the name forces replacement, so it must never change between runs."""
    return f"cloud-exchange-ha-{stack}-primary-backup"


def backup_options(parent: pulumi.Resource) -> pulumi.ResourceOptions:
    """The backup AMI survives `pulumi destroy` and any replacement attempt (and its snapshots too)."""
    return pulumi.ResourceOptions(parent=parent, protect=True, retain_on_delete=True)


#: instance inputs whose change would replace every node at once (or stop them all, for the type):
#: ignored after creation, so a changed setting reaches a node only when that node is replaced on
#: purpose, one at a time (a new Canonical image never replaces a running node either)
ROLLED_BY_HAND = ["ami", "keyName", "instanceType", "rootBlockDevice.volumeSize"]


def new_node_options(parent: pulumi.Resource) -> pulumi.ResourceOptions:
    """A node's instance is replaced only on purpose, one node at a time, the old one gone first.

    The old instance holds the node's network interface (and brick volume): the new one can only
    be created once the old one is deleted.
    """
    return pulumi.ResourceOptions(parent=parent, ignore_changes=list(ROLLED_BY_HAND), delete_before_replace=True)


#: what a kept volume holds, the last part of its Name tag
MONGODB_DATA = "mongodb"
BRICK_DATA = "glusterfs-bricks"


def data_volume_name(node: str, holds: str) -> str:
    """The Name tag of a volume holding CE data: finds it after its stack is gone, adds no tag key.

    ``cloud-exchange-ha-<stack>-<node>-<what it holds>``, e.g. ``cloud-exchange-ha-dev-ce-2-mongodb``.
    """
    return f"{PROJECT}-{pulumi.get_stack()}-{node}-{holds}"


def kept_data_options(parent: pulumi.Resource) -> pulumi.ResourceOptions:
    """A brick volume and its attachment: left in the account on destroy or replacement, never ``protect``ed.

    ``protect`` would block replacing one dead node; retaining the attachment also means a destroy
    never detaches a mounted brick from a running node (terminating the instance releases it).
    """
    return pulumi.ResourceOptions(parent=parent, retain_on_delete=True)


class PrimaryNode(pulumi.ComponentResource):
    """The adopted standalone: backed up, joined to the node security group, never owned."""

    backup_image: aws.ec2.AmiFromInstance
    facts: PrimaryFacts

    def __init__(
        self,
        name: str,
        args: NodeArgs,
        facts: PrimaryFacts,
        node_security_group_id: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("cloudexchange:ha:PrimaryNode", name, None, opts)
        self.facts = facts
        self.backup_image = aws.ec2.AmiFromInstance(
            f"{name}-backup",
            name=backup_image_name(pulumi.get_stack()),
            description=f"cloud-exchange-ha: {facts.instance_id} before HA cutover (CE {args.ce_version})",
            source_instance_id=facts.instance_id,
            snapshot_without_reboot=not args.backup_reboot,
            tags={**args.tags, "Name": f"{name}-backup", "SourceInstance": facts.instance_id},
            opts=backup_options(self),
        )
        self.security_group_attachment = aws.ec2.NetworkInterfaceSecurityGroupAttachment(
            f"{name}-sg",
            network_interface_id=facts.network_interface_id,
            security_group_id=node_security_group_id,
            # attach only after the backup exists: the image shows the standalone as it was
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.backup_image]),
        )
        self.private_ip: pulumi.Output[str] = pulumi.Output.from_input(facts.private_ip)
        self.register_outputs({"backup_image_id": self.backup_image.id, "private_ip": self.private_ip})


class NewNode(pulumi.ComponentResource):
    """A fresh Ubuntu node for the cluster (a secondary in migrate, any node in greenfield)."""

    instance: aws.ec2.Instance
    private_ip: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: NodeArgs,
        subnet_id: str,
        availability_zone: str,
        image_id: str,
        instance_type: str,
        root_volume_size_gb: int,
        node_security_group_id: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("cloudexchange:ha:NewNode", name, None, opts)
        tags = {**args.tags, "Name": name}
        # the node's address: outlives the instance (the interface of a terminated instance stays)
        self.network_interface = aws.ec2.NetworkInterface(
            f"{name}-eni",
            subnet_id=subnet_id,
            security_groups=[node_security_group_id],
            description=f"cloud-exchange-ha {name}: the node's address, kept across instance replacement",
            tags={**tags, "Name": f"{name}-eni"},
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.public_address: aws.ec2.Eip | None = None
        if args.assign_public_ip:  # an instance launched on an existing interface cannot ask for a public IP itself
            self.public_address = aws.ec2.Eip(
                f"{name}-eip",
                domain="vpc",
                network_interface=self.network_interface.id,
                tags={**tags, "Name": f"{name}-eip"},
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.instance = aws.ec2.Instance(
            f"{name}-vm",
            ami=image_id,
            instance_type=instance_type,
            # subnet, security groups and public IP are the interface's; the instance must not set them
            primary_network_interface=aws.ec2.InstancePrimaryNetworkInterfaceArgs(
                network_interface_id=self.network_interface.id,
            ),
            key_name=args.key_pair_name,
            metadata_options={"http_tokens": "required", "http_endpoint": "enabled", "http_put_response_hop_limit": 2},
            root_block_device={
                "volume_type": "gp3",
                "volume_size": root_volume_size_gb,
                "encrypted": True,
                # CE's MongoDB lives here: a destroy keeps every node's copy (README: what destroy keeps)
                "delete_on_termination": False,
                "tags": {**tags, "Name": data_volume_name(name, MONGODB_DATA)},
            },
            tags=tags,
            volume_tags=None,
            opts=new_node_options(self),
        )
        self.gluster_volume: aws.ebs.Volume | None = None
        self.gluster_attachment: aws.ec2.VolumeAttachment | None = None
        if args.brick_volume is not None:
            self.gluster_volume = aws.ebs.Volume(
                f"{name}-bricks",
                availability_zone=availability_zone,
                size=args.brick_volume.size_gb,
                type="gp3",
                encrypted=True,
                tags={**tags, "Name": data_volume_name(name, BRICK_DATA)},
                # in greenfield the bricks are the only copies of CE's shared data: kept on destroy
                opts=kept_data_options(self),
            )
            self.gluster_attachment = aws.ec2.VolumeAttachment(
                f"{name}-bricks-attach",
                device_name=args.brick_volume.device,
                volume_id=self.gluster_volume.id,
                instance_id=self.instance.id,
                # moves to the replacement instance: detached from the old one first
                opts=pulumi.ResourceOptions.merge(kept_data_options(self), pulumi.ResourceOptions(delete_before_replace=True)),
            )
        self.private_ip = self.network_interface.private_ip
        self.register_outputs({"instance_id": self.instance.id, "network_interface_id": self.network_interface.id,
                               "private_ip": self.private_ip})


def default_instance_type(settings: Settings, primary: PrimaryFacts | None) -> str:
    """Configured type, else the primary's (CE wants identical nodes), else the 8 vCPU default."""
    return settings.instance_type or (primary.instance_type if primary else DEFAULT_INSTANCE_TYPE)


def default_root_size(settings: Settings, primary: PrimaryFacts | None) -> int:
    return settings.root_volume_size_gb or (primary.root_volume_size_gb if primary else DEFAULT_ROOT_GB)
