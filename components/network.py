"""Security groups of the cluster, built from the release line's one port table.

Owns: the node security group and its standalone ingress/egress rules (cluster ports between
members only, the UI port from ``uiCidrs``, SSH from ``sshCidrs`` or the bastion's group), the EFS
security group (2049 from the nodes only), the UI load balancer's group when there is one (the UI
port from ``uiCidrs`` there, and the nodes' UI port from it instead of from ``uiCidrs``), and the
rule table both the resources and the docs use.

Must not touch: instances, storage, the adopted primary's own security groups (the node group is
attached to it by ``nodes.py`` without taking ownership of the instance).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import pulumi
import pulumi_aws as aws

from components.args import NetworkArgs
from scripts.cenode.lines import NFS_PORT, SSH_PORT

#: the other side of a rule: the node group, the EFS group, the bastion's group, or a CIDR
Peer = Literal["nodes", "efs", "bastion", "lb", "cidr"]


@dataclass(frozen=True)
class Rule:
    """One security group rule as data: direction, ports, peer and why."""

    group: Literal["node", "efs", "lb"]
    direction: Literal["ingress", "egress"]
    from_port: int
    to_port: int
    peer: Peer
    cidr: str
    description: str

    @property
    def slug(self) -> str:
        where = self.cidr.replace("/", "_").replace(":", "_") if self.peer == "cidr" else self.peer
        ports = str(self.from_port) if self.from_port == self.to_port else f"{self.from_port}-{self.to_port}"
        return f"{self.group}-{self.direction}-{ports}-{where}"


def rule_table(args: NetworkArgs) -> list[Rule]:
    """Every rule the cluster needs; the single source for resources, docs and tests."""
    rules: list[Rule] = []
    for cluster_port in args.cluster_ports:
        for direction in ("ingress", "egress"):
            rules.append(Rule("node", direction, cluster_port.from_port, cluster_port.to_port, "nodes", "",
                              f"CE cluster: {cluster_port.purpose}"))
    if args.load_balancer:
        # uiCidrs apply at the load balancer; the nodes take the UI (and its health checks) from it only
        for cidr in args.ui_cidrs:
            rules.append(Rule("lb", "ingress", args.ui_port, args.ui_port, "cidr", cidr, "CE UI through the load balancer"))
        rules.append(Rule("lb", "egress", args.ui_port, args.ui_port, "nodes", "", "CE UI and health checks to the nodes"))
        rules.append(Rule("node", "ingress", args.ui_port, args.ui_port, "lb", "", "CE UI and health checks from the load balancer"))
    else:
        for cidr in args.ui_cidrs:
            rules.append(Rule("node", "ingress", args.ui_port, args.ui_port, "cidr", cidr, "CE UI"))
    # the nodes check each other's UI in verify, and CE's UI must be reachable from peers behind a balancer
    rules.append(Rule("node", "ingress", args.ui_port, args.ui_port, "nodes", "", "CE UI between nodes (verify)"))
    rules.append(Rule("node", "egress", args.ui_port, args.ui_port, "nodes", "", "CE UI between nodes (verify)"))
    for cidr in args.ssh_cidrs:
        rules.append(Rule("node", "ingress", SSH_PORT, SSH_PORT, "cidr", cidr, "SSH from admins"))
    if args.bastion_security_group_id:
        rules.append(Rule("node", "ingress", SSH_PORT, SSH_PORT, "bastion", "", "SSH from the bastion"))
    # outbound: package mirrors, Docker Hub, GitHub, the tenant (https, and http for apt/keyserver)
    for port, why in ((443, "HTTPS out: Docker Hub, GitHub, Netskope tenant, packages"), (80, "HTTP out: OS packages")):
        rules.append(Rule("node", "egress", port, port, "cidr", "0.0.0.0/0", why))
    if args.proxy_url:
        proxy_port = _proxy_port(args.proxy_url)
        if proxy_port not in (80, 443):
            rules.append(Rule("node", "egress", proxy_port, proxy_port, "cidr", "0.0.0.0/0", "outbound proxy"))
    if args.nfs_file_system:
        rules.append(Rule("node", "egress", NFS_PORT, NFS_PORT, "efs", "", "NFS to EFS"))
        rules.append(Rule("efs", "ingress", NFS_PORT, NFS_PORT, "nodes", "", "NFS from CE nodes"))
    return rules


def _proxy_port(url: str) -> int:
    from urllib.parse import urlparse

    parsed = urlparse(url)
    return parsed.port or (443 if parsed.scheme == "https" else 80)


class ClusterNetwork(pulumi.ComponentResource):
    """The node and EFS security groups with one standalone resource per rule."""

    node_security_group: aws.ec2.SecurityGroup
    efs_security_group: aws.ec2.SecurityGroup | None
    load_balancer_security_group: aws.ec2.SecurityGroup | None

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cloudexchange:ha:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = args.tags

        def group(suffix: str, description: str) -> aws.ec2.SecurityGroup:
            return aws.ec2.SecurityGroup(f"{name}-{suffix}", vpc_id=args.vpc_id, description=description,
                                         tags={**tags, "Name": f"{name}-{suffix}"}, opts=child)

        self.node_security_group = group("nodes", "Netskope CE HA nodes (managed by cloud-exchange-ha)")
        self.efs_security_group = (
            group("efs", "Netskope CE HA shared folder (EFS), NFS from the nodes only") if args.nfs_file_system else None
        )
        self.load_balancer_security_group = (
            group("lb", "Netskope CE HA UI load balancer, the UI port from uiCidrs only") if args.load_balancer else None
        )
        groups = {"node": self.node_security_group, "efs": self.efs_security_group, "lb": self.load_balancer_security_group}
        for rule in rule_table(args):
            self._declare(name, rule, groups, args, child)
        self.register_outputs(
            {
                "node_security_group_id": self.node_security_group.id,
                "efs_security_group_id": self.efs_security_group.id if self.efs_security_group else None,
                "load_balancer_security_group_id": (
                    self.load_balancer_security_group.id if self.load_balancer_security_group else None
                ),
            }
        )

    @staticmethod
    def _declare(
        name: str,
        rule: Rule,
        groups: dict[str, aws.ec2.SecurityGroup | None],
        args: NetworkArgs,
        opts: pulumi.ResourceOptions,
    ) -> None:
        owner = groups[rule.group]
        assert owner is not None
        peer_group: pulumi.Input[str] | None = None
        if rule.peer in ("nodes", "efs", "lb"):
            group = groups[{"nodes": "node", "efs": "efs", "lb": "lb"}[rule.peer]]
            assert group is not None
            peer_group = group.id
        elif rule.peer == "bastion":
            peer_group = args.bastion_security_group_id
        kwargs: dict[str, Any] = dict(
            security_group_id=owner.id,
            ip_protocol="tcp",
            from_port=rule.from_port,
            to_port=rule.to_port,
            description=rule.description,
            cidr_ipv4=rule.cidr or None,
            referenced_security_group_id=peer_group,
            tags={**args.tags, "Name": f"{name}-{rule.slug}"},
            opts=opts,
        )
        if rule.direction == "ingress":
            aws.vpc.SecurityGroupIngressRule(f"{name}-{rule.slug}", **kwargs)
        else:
            aws.vpc.SecurityGroupEgressRule(f"{name}-{rule.slug}", **kwargs)
