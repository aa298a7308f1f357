"""Where every node goes, decided from the settings and read-only AWS look-ups, before any resource.

Owns: reading the adopted primary and the configured subnets, checking that they belong to the
VPC and spread the nodes over distinct availability zones, checking the instance type with AWS's
own description of it (vCPU count and architecture, for the new nodes and the adopted primary),
and naming the nodes in cutover order (primary first). Problems are reported as
``SettingsError`` naming the setting to change.

Must not touch: resources. Only invokes (data sources), which declare nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi_aws as aws

from components import nodes
from components.settings import Problem, Settings, SettingsError

#: CE's setup accepts exactly these vCPU counts (docs/ce-facts.md §4) on x86-64 (the new nodes boot Canonical's amd64 image)
CE_VCPUS = (8, 16)
CE_ARCHITECTURE = "x86_64"


@dataclass(frozen=True)
class Placement:
    """One node's place: its name, subnet and zone, and whether it is the adopted primary."""

    name: str
    subnet_id: str
    availability_zone: str
    adopted: bool


@dataclass(frozen=True)
class Topology:
    placements: list[Placement]
    primary: nodes.PrimaryFacts | None
    image_id: str | None
    instance_type: str
    root_volume_size_gb: int
    #: the UI load balancer's subnets, one per node zone (empty: loadBalancer none)
    load_balancer_subnet_ids: tuple[str, ...] = ()

    @property
    def subnets_by_zone(self) -> dict[str, str]:
        """One subnet per zone used by the nodes (EFS wants one mount target per zone)."""
        chosen: dict[str, str] = {}
        for placement in self.placements:
            chosen.setdefault(placement.availability_zone, placement.subnet_id)
        return chosen


def node_name(prefix: str, index: int) -> str:
    return f"{prefix}-{index + 1}"


def sizing_problems(settings: Settings, instance_type: str, setting: str, subject: str, fix: str) -> list[Problem]:
    """CE's sizing rule checked against AWS's description of the type (not a table of names).

    ``allowUndersized`` (lab only) lifts the vCPU count, never the architecture.
    """
    try:
        described = aws.ec2.get_instance_type(instance_type=instance_type)
    except Exception as error:  # noqa: BLE001 - any failed look-up is the same user-facing problem
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        return [Problem(setting=setting, message=f"AWS could not describe instance type {instance_type!r} ({first}); "
                                                 "use a type offered in this region")]
    problems = []
    what = f"{subject} {instance_type}".strip()
    architectures = list(described.supported_architectures or [])
    if CE_ARCHITECTURE not in architectures:
        problems.append(Problem(setting=setting, message=(
            f"{what} ({'/'.join(architectures) or 'architecture unknown'}); CE and the nodes' image need {CE_ARCHITECTURE}: {fix}")))
    vcpus = described.default_vcpus
    if vcpus not in CE_VCPUS and not settings.allow_undersized:
        problems.append(Problem(setting=setting, message=(
            f"{what} with {vcpus} vCPU; CE's setup accepts exactly 8 or 16 vCPU: {fix}")))
    return problems


def plan(settings: Settings, prefix: str = "ce") -> Topology:
    """Look up the primary and subnets, check placement rules, and name the nodes."""
    problems: list[Problem] = []
    primary = nodes.read_primary(settings.primary_instance_id) if settings.mode == "migrate" else None
    placements: list[Placement] = []
    if primary:
        primary_subnet = aws.ec2.get_subnet(id=primary.subnet_id)
        if primary_subnet.vpc_id != settings.vpc_id:
            problems.append(Problem(setting="vpcId", message=(
                f"is {settings.vpc_id} but the primary {primary.instance_id} is in {primary_subnet.vpc_id}; "
                "set vpcId to the primary's VPC")))
        placements.append(Placement(node_name(prefix, 0), primary.subnet_id, primary.availability_zone, adopted=True))
    for subnet_id in settings.subnet_ids:
        subnet = aws.ec2.get_subnet(id=subnet_id)
        if subnet.vpc_id != settings.vpc_id:
            problems.append(Problem(setting="subnetIds", message=(
                f"{subnet_id} is in {subnet.vpc_id}, not in vpcId {settings.vpc_id}; list subnets of that VPC")))
        placements.append(Placement(node_name(prefix, len(placements)), subnet_id, subnet.availability_zone, adopted=False))
    zones = [p.availability_zone for p in placements]
    if len(set(zones)) != len(zones) and not settings.allow_same_zone:
        shared = sorted({z for z in zones if zones.count(z) > 1})
        problems.append(Problem(setting="subnetIds", message=(
            f"puts more than one node in {', '.join(shared)} (zones: {', '.join(zones)}); pick subnets in distinct "
            "availability zones (the primary's zone counts in migrate), or set allowSameZone true")))
    load_balancer_subnets = _load_balancer_subnets(settings, sorted(set(zones)), problems)
    instance_type = nodes.default_instance_type(settings, primary)
    if primary and settings.instance_type and settings.instance_type != primary.instance_type:
        problems.append(Problem(setting="instanceType", message=(
            f"is {settings.instance_type} but the primary is {primary.instance_type}; CE wants identical nodes: "
            "unset instanceType (the primary's is used) or resize the primary first")))
    elif primary:
        problems += sizing_problems(settings, primary.instance_type, "primaryInstanceId",
                                    f"the standalone {primary.instance_id} is", "resize the standalone before migrating")
    elif settings.new_node_count:
        problems += sizing_problems(settings, instance_type, "instanceType", "", "use e.g. m5.2xlarge (8) or m5.4xlarge (16)")
    if problems:
        raise SettingsError(problems)
    image_id = nodes.ubuntu_ami(settings.line) if settings.new_node_count else None
    return Topology(
        placements=placements,
        primary=primary,
        image_id=image_id,
        instance_type=instance_type,
        root_volume_size_gb=nodes.default_root_size(settings, primary),
        load_balancer_subnet_ids=load_balancer_subnets,
    )


def _load_balancer_subnets(settings: Settings, node_zones: list[str], problems: list[Problem]) -> tuple[str, ...]:
    """The load balancer's subnets: the nodes' own (internal), or loadBalancerSubnetIds (internet-facing).

    A Network Load Balancer sends traffic only to targets in the zones it has a subnet in, so an
    internet-facing one needs exactly one subnet in each node zone, in the cluster's VPC.
    """
    if settings.load_balancer != "internet-facing":
        return ()
    zones: dict[str, list[str]] = {}
    for subnet_id in settings.load_balancer_subnet_ids:
        subnet = aws.ec2.get_subnet(id=subnet_id)
        if subnet.vpc_id != settings.vpc_id:
            problems.append(Problem(setting="loadBalancerSubnetIds", message=(
                f"{subnet_id} is in {subnet.vpc_id}, not in vpcId {settings.vpc_id}; list public subnets of that VPC")))
        zones.setdefault(subnet.availability_zone, []).append(subnet_id)
    twice = sorted(zone for zone, ids in zones.items() if len(ids) > 1)
    missing = [zone for zone in node_zones if zone not in zones]
    extra = sorted(zone for zone in zones if zone not in node_zones)
    if twice:
        problems.append(Problem(setting="loadBalancerSubnetIds", message=(
            f"lists more than one subnet in {', '.join(twice)}; a load balancer takes one subnet per availability zone")))
    if missing:
        problems.append(Problem(setting="loadBalancerSubnetIds", message=(
            f"has no subnet in {', '.join(missing)}, where nodes run; the load balancer would never send them traffic: "
            "list one public subnet in each node zone")))
    if extra:
        problems.append(Problem(setting="loadBalancerSubnetIds", message=(
            f"lists subnets in {', '.join(extra)}, where no node runs; list one public subnet in each node zone "
            f"({', '.join(node_zones)})")))
    return tuple(settings.load_balancer_subnet_ids)
