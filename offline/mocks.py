"""Pulumi mocks that answer like AWS would for this program, deterministically.

Owns: answers to the look-ups the program makes (the adopted instance, subnets, Canonical's AMI,
instance type descriptions, the stack's own previous outputs)
and plausible computed state for declared resources (ids, the nodes' private IPs on their network
interfaces and instances, Elastic IPs, the EFS DNS name, the load balancer's DNS name, zone and ARNs).
Tests and the offline plan configure it (zones, addresses, which nodes' instances are replacements);
nothing here talks to a network.

Must not touch: the program's decisions; the mocks only answer.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

import pulumi

#: vCPU per size and the families offered, like ec2:DescribeInstanceTypes answers for them
_SIZES = {"large": 2, "xlarge": 4, "2xlarge": 8, "4xlarge": 16, "8xlarge": 32}
_X86_FAMILIES = ("m5", "m5a", "m5n", "m6i", "m6a", "m7i", "m7a", "c5", "c5a", "c6i", "c6a", "c7i", "r5", "r5a", "r6i", "r6a", "r7i",
                 "t3", "t3a")
_ARM_FAMILIES = ("m6g", "m7g", "c6g", "c7g", "r6g", "r7g", "t4g")


def default_instance_types() -> dict[str, tuple[int, tuple[str, ...]]]:
    """instance type -> (default vCPU, supported architectures)."""
    table: dict[str, tuple[int, tuple[str, ...]]] = {}
    for families, architectures in ((_X86_FAMILIES, ("i386", "x86_64")), (_ARM_FAMILIES, ("arm64",))):
        for family in families:
            for size, vcpus in _SIZES.items():
                table[f"{family}.{size}"] = (vcpus, architectures)
    return table


def fake_id(prefix: str, seed: str, length: int = 17) -> str:
    return f"{prefix}-{hashlib.sha256(seed.encode()).hexdigest()[:length]}"


@dataclass
class AwsWorld:
    """The fake AWS account the program looks at."""

    region: str = "eu-west-1"
    vpc_id: str = "vpc-0123456789abcdef0"
    primary_instance_id: str = "i-0123456789abcdef0"
    primary_ip: str = "10.0.1.10"
    primary_subnet: str = "subnet-0primary000000001"
    primary_zone: str = "eu-west-1a"
    primary_type: str = "m5.2xlarge"
    primary_root_gb: int = 100
    #: subnet id -> (zone, vpc); subnets not listed get zones b, c, d... in order of first look-up
    subnets: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: private IP per new node name (e.g. "ce-2"): its network interface's, which its instance
    #: reports too; unlisted ones get 10.0.<node number>.10.
    #: By name, not by call order: the engine registers resources concurrently.
    node_ips: dict[str, str] = field(default_factory=dict)
    ubuntu_image_id: str = "ami-0ubuntu00000000001"
    #: the canonical hosted zone of Network Load Balancers in the region (what an alias record points into)
    load_balancer_zone_id: str = "Z2IFOLAFXWLO4F"
    #: the ``ceVersion`` output the stack exported last (what ``pulumi:pulumi:readStackOutputs`` answers); None: the
    #: stack has never been deployed
    deployed_ce_version: str | None = None
    #: how many members the stack's ``nodes`` output listed last (``ce-1``, ``ce-2``, ...); None: the stack has never
    #: been deployed
    deployed_node_count: int | None = None
    #: what aws.ec2.get_instance_type answers; a type not listed fails like AWS does
    instance_types: dict[str, tuple[int, tuple[str, ...]]] = field(default_factory=default_instance_types)
    #: nodes (e.g. "ce-2") whose instance is a replacement: it gets another id than the one a run
    #: without it gives, as a replaced VM does (its address stays: the network interface is kept)
    replaced_nodes: frozenset[str] = frozenset()

    def node_of(self, resource_name: str) -> str:
        """The node a resource belongs to ("ce-2-eni", "ce-2-vm": node "ce-2")."""
        return re.sub(r"-(vm|eni|eip)$", "", resource_name)

    def node_ip(self, resource_name: str) -> str:
        """The private address of the node a resource belongs to."""
        node = self.node_of(resource_name)
        if node in self.node_ips:
            return self.node_ips[node]
        number = re.search(r"-(\d+)$", node)
        return f"10.0.{number.group(1) if number else 99}.10"

    def subnet(self, subnet_id: str) -> tuple[str, str]:
        if subnet_id == self.primary_subnet:
            return (self.primary_zone, self.vpc_id)
        if subnet_id not in self.subnets:
            letters = "bcdefgh"
            used = len([s for s in self.subnets if s != self.primary_subnet])
            self.subnets[subnet_id] = (f"{self.region}{letters[used % len(letters)]}", self.vpc_id)
        return self.subnets[subnet_id]


class AwsMocks(pulumi.runtime.Mocks):
    """Answers invokes from an AwsWorld; remembers every declared resource's inputs."""

    def __init__(self, world: AwsWorld | None = None):
        self.world = world or AwsWorld()
        self.declared: list[tuple[str, str, dict[str, Any]]] = []
        #: the stacks whose outputs the program read back, in order
        self.stacks_read: list[str] = []

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        w = self.world
        if args.token == "pulumi:pulumi:readStackOutputs":  # the engine's reader of a stack's outputs
            self.stacks_read.append(args.args["name"])
            outputs: dict[str, Any] = {} if w.deployed_ce_version is None else {"ceVersion": w.deployed_ce_version}
            if w.deployed_node_count is not None:
                outputs["nodes"] = [{"name": f"ce-{n}", "role": "primary" if n == 1 else "secondary",
                                     "privateIp": f"10.0.{n}.10"} for n in range(1, w.deployed_node_count + 1)]
            return ({"name": args.args["name"], "outputs": outputs, "secretOutputNames": []}, [])
        if args.token == "aws:ec2/getInstance:getInstance":
            return ({
                "id": w.primary_instance_id,
                "instanceId": w.primary_instance_id,
                "privateIp": w.primary_ip,
                "subnetId": w.primary_subnet,
                "availabilityZone": w.primary_zone,
                "instanceType": w.primary_type,
                "rootBlockDevices": [{"volumeSize": w.primary_root_gb, "volumeType": "gp3", "encrypted": True}],
                "networkInterfaceId": fake_id("eni", w.primary_instance_id),
                "ami": "ami-0standalone0000001",
            }, [])
        if args.token == "aws:ec2/getSubnet:getSubnet":
            zone, vpc = w.subnet(args.args["id"])
            return ({"id": args.args["id"], "availabilityZone": zone, "vpcId": vpc}, [])
        if args.token == "aws:ec2/getInstanceType:getInstanceType":
            name = args.args["instanceType"]
            if name not in w.instance_types:  # AWS: InvalidInstanceType
                return ({}, [("instanceType", f"The following supplied instance types do not exist: [{name}]")])
            vcpus, architectures = w.instance_types[name]
            return ({"id": name, "instanceType": name, "defaultVcpus": vcpus, "supportedArchitectures": list(architectures)}, [])
        if args.token == "aws:ec2/getAmi:getAmi":
            return ({"id": w.ubuntu_image_id, "name": "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-20261101"}, [])
        return ({}, [])

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        inputs = dict(args.inputs)
        self.declared.append((args.typ, args.name, inputs))
        state = dict(inputs)
        rid = fake_id(_ID_PREFIX.get(args.typ, "id"), args.name)
        if args.typ == "aws:ec2/instance:Instance":
            if self.world.node_of(args.name) in self.world.replaced_nodes:
                rid = fake_id("i", f"{args.name} replacement")
            state["privateIp"] = self.world.node_ip(args.name)
            state["arn"] = f"arn:aws:ec2:{self.world.region}:123456789012:instance/{rid}"
        elif args.typ == "aws:ec2/networkInterface:NetworkInterface":
            state["privateIp"] = self.world.node_ip(args.name)
        elif args.typ == "aws:ec2/eip:Eip":
            state["publicIp"] = "203.0.113." + self.world.node_ip(args.name).split(".")[2]  # documentation range
        elif args.typ == "aws:efs/fileSystem:FileSystem":
            state["dnsName"] = f"{rid}.efs.{self.world.region}.amazonaws.com"
        elif args.typ == "aws:lb/loadBalancer:LoadBalancer":
            scheme = "internal-" if inputs.get("internal") else ""
            state["arn"] = f"arn:aws:elasticloadbalancing:{self.world.region}:123456789012:loadbalancer/net/{args.name}/{rid[4:20]}"
            state["dnsName"] = f"{scheme}{args.name}-{rid[4:14]}.elb.{self.world.region}.amazonaws.com"
            state["zoneId"] = self.world.load_balancer_zone_id
        elif args.typ in ("aws:lb/targetGroup:TargetGroup", "aws:lb/listener:Listener"):
            kind = "targetgroup" if args.typ.endswith("TargetGroup") else "listener/net"
            state["arn"] = f"arn:aws:elasticloadbalancing:{self.world.region}:123456789012:{kind}/{args.name}/{rid[3:19]}"
        return (rid, state)


_ID_PREFIX = {
    "aws:ec2/instance:Instance": "i",
    "aws:ec2/networkInterface:NetworkInterface": "eni",
    "aws:ec2/eip:Eip": "eipalloc",
    "aws:ec2/securityGroup:SecurityGroup": "sg",
    "aws:ec2/amiFromInstance:AmiFromInstance": "ami",
    "aws:efs/fileSystem:FileSystem": "fs",
    "aws:efs/mountTarget:MountTarget": "fsmt",
    "aws:ebs/volume:Volume": "vol",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": "sgr",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": "sgr",
    "aws:lb/loadBalancer:LoadBalancer": "nlb",
    "aws:lb/targetGroup:TargetGroup": "tg",
    "aws:lb/listener:Listener": "lsn",
}
