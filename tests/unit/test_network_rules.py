"""The security groups and their rules word for word: names, ports, protocol, peers, descriptions, tags (issue 12).

A rule's resource name is its identity in the stack (a renamed rule is deleted and created again, a
changed group description replaces the group), so both are pinned here, written out by hand. Ports
are CE's (docs/ce-facts.md §3.1, §3.2), not read from the release lines' table. Most cases check the
rule table itself (``rule_table``, no Pulumi); two run the program under mocks for the resources.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from components.args import NetworkArgs
from components.network import rule_table
from components.release import CE5, CE6
from offline import harness
from tests.unit import stacks

SG = "aws:ec2/securityGroup:SecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
ADMINS = "198.51.100.0/24"
BASTION = "sg-0123456789abcdef0"
#: (group, direction, from, to, peer, cidr, description); slug
Row = tuple[tuple[str, str, int, int, str, str, str], str]

ARGS = NetworkArgs(vpc_id="vpc-0123456789abcdef0", tags={"Project": "cloud-exchange-ha"}, cluster_ports=CE5.cluster_ports,
                   ui_port=443, ui_cidrs=(ADMINS,), ssh_cidrs=(ADMINS,), bastion_security_group_id="", proxy_url="",
                   nfs_file_system=True)


def table(args: NetworkArgs) -> list[Row]:
    return [((r.group, r.direction, r.from_port, r.to_port, r.peer, r.cidr, r.description), r.slug) for r in rule_table(args)]


def between_members(port: int, purpose: str, to_port: int | None = None) -> list[Row]:
    ports = str(port) if to_port is None else f"{port}-{to_port}"
    return [(("node", direction, port, to_port or port, "nodes", "", f"CE cluster: {purpose}"), f"node-{direction}-{ports}-nodes")
            for direction in ("ingress", "egress")]


CE5_MEMBERS = (between_members(4369, "RabbitMQ epmd") + between_members(5672, "RabbitMQ AMQP")
               + between_members(15672, "RabbitMQ management HTTP") + between_members(25672, "RabbitMQ Erlang distribution")
               + between_members(35672, "RabbitMQ CLI distribution") + between_members(27017, "MongoDB replica set"))
UI_BETWEEN_NODES = [(("node", "ingress", 443, 443, "nodes", "", "CE UI between nodes (verify)"), "node-ingress-443-nodes"),
                    (("node", "egress", 443, 443, "nodes", "", "CE UI between nodes (verify)"), "node-egress-443-nodes")]
OUT = [(("node", "egress", 443, 443, "cidr", "0.0.0.0/0", "HTTPS out: Docker Hub, GitHub, Netskope tenant, packages"),
        "node-egress-443-0.0.0.0_0"),
       (("node", "egress", 80, 80, "cidr", "0.0.0.0/0", "HTTP out: OS packages"), "node-egress-80-0.0.0.0_0")]
NFS = [(("node", "egress", 2049, 2049, "efs", "", "NFS to EFS"), "node-egress-2049-efs"),
       (("efs", "ingress", 2049, 2049, "nodes", "", "NFS from CE nodes"), "efs-ingress-2049-nodes")]
SSH_FROM_ADMINS = (("node", "ingress", 22, 22, "cidr", ADMINS, "SSH from admins"), "node-ingress-22-198.51.100.0_24")
SSH_FROM_BASTION = (("node", "ingress", 22, 22, "bastion", "", "SSH from the bastion"), "node-ingress-22-bastion")


def test_a_5x_cluster_with_admins_a_bastion_and_a_proxy_has_exactly_these_rules_in_this_order() -> None:
    args = replace(ARGS, ssh_cidrs=(ADMINS, "203.0.113.7/32"), bastion_security_group_id=BASTION,
                   proxy_url="http://proxy.example:3128")
    assert table(args) == CE5_MEMBERS + [
        (("node", "ingress", 443, 443, "cidr", ADMINS, "CE UI"), "node-ingress-443-198.51.100.0_24"),
        *UI_BETWEEN_NODES,
        SSH_FROM_ADMINS,
        (("node", "ingress", 22, 22, "cidr", "203.0.113.7/32", "SSH from admins"), "node-ingress-22-203.0.113.7_32"),
        SSH_FROM_BASTION,
        *OUT,
        (("node", "egress", 3128, 3128, "cidr", "0.0.0.0/0", "outbound proxy"), "node-egress-3128-0.0.0.0_0"),
        *NFS,
    ]


def test_a_6x_cluster_opens_the_brick_range_and_no_nfs() -> None:
    args = replace(ARGS, cluster_ports=CE6.cluster_ports, ui_cidrs=(), ssh_cidrs=(), bastion_security_group_id=BASTION,
                   nfs_file_system=False)
    members = (between_members(4369, "RabbitMQ epmd") + between_members(5671, "RabbitMQ AMQPS")
               + between_members(15671, "RabbitMQ management HTTPS")
               + between_members(25672, "RabbitMQ Erlang distribution (TLS)")
               + between_members(35672, "RabbitMQ CLI distribution") + between_members(27017, "MongoDB replica set")
               + between_members(24007, "glusterd") + between_members(24009, "GlusterFS bricks", 24029)
               + between_members(8000, "CE management server (mTLS)"))
    assert table(args) == members + UI_BETWEEN_NODES + [SSH_FROM_BASTION] + OUT


def test_behind_a_balancer_the_ui_cidrs_move_to_its_group_and_the_nodes_take_the_ui_from_it() -> None:
    args = replace(ARGS, ui_port=8443, ui_cidrs=(ADMINS, "10.20.0.0/16"), load_balancer=True)
    ui = [row for row in table(args) if "UI" in row[0][6]]
    assert ui == [
        (("lb", "ingress", 8443, 8443, "cidr", ADMINS, "CE UI through the load balancer"), "lb-ingress-8443-198.51.100.0_24"),
        (("lb", "ingress", 8443, 8443, "cidr", "10.20.0.0/16", "CE UI through the load balancer"), "lb-ingress-8443-10.20.0.0_16"),
        (("lb", "egress", 8443, 8443, "nodes", "", "CE UI and health checks to the nodes"), "lb-egress-8443-nodes"),
        (("node", "ingress", 8443, 8443, "lb", "", "CE UI and health checks from the load balancer"), "node-ingress-8443-lb"),
        (("node", "ingress", 8443, 8443, "nodes", "", "CE UI between nodes (verify)"), "node-ingress-8443-nodes"),
        (("node", "egress", 8443, 8443, "nodes", "", "CE UI between nodes (verify)"), "node-egress-8443-nodes"),
    ]


@pytest.mark.parametrize(("proxy", "extra"), [
    ("http://proxy.example", []),  # http's own port, 80: already open
    ("https://proxy.example", []),  # https's own port, 443: already open
    ("http://proxy.example:8080", [8080]),
    ("https://proxy.example:8443", [8443]),
    ("http://proxy.example:443", []),
    ("https://proxy.example:80", []),
])
def test_a_proxy_adds_egress_only_on_a_port_not_already_open(proxy: str, extra: list[int]) -> None:
    anywhere = [r.from_port for r in rule_table(replace(ARGS, proxy_url=proxy)) if r.cidr == "0.0.0.0/0"]
    assert anywhere == [443, 80, *extra]
    assert all(r.to_port == r.from_port for r in rule_table(replace(ARGS, proxy_url=proxy)) if r.cidr == "0.0.0.0/0")


# ---- the resources, under mocks ------------------------------------------------------------------


def run(config: dict[str, Any]) -> harness.Run:
    result = harness.run(config, secret_keys=stacks.SECRET_KEYS)
    assert result.error is None, result.error
    return result


def whole(value: Any) -> Any:
    """The mocks hand numbers back as floats; the expectations are written as whole numbers."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def declared(result: harness.Run, roles: dict[str, str]) -> set[tuple[str, str, str, int, int, str, str]]:
    """Each rule resource as (type, name, its group, from, to, peer, description); groups named by role."""
    found = set()
    for typ, direction in ((INGRESS, "in"), (EGRESS, "out")):
        for rule in result.of_type(typ):
            inputs = rule.inputs
            assert inputs["ipProtocol"] == "tcp", rule.name
            assert inputs["tags"] == {"Project": "cloud-exchange-ha", "Environment": "dev", "Name": rule.name}, rule.name
            assert rule.parent == "ce-net" and not rule.protect and not rule.retain_on_delete, rule.name
            # a rule names either a range or a group, and leaves the other out (not even an empty one)
            assert len({"cidrIpv4", "referencedSecurityGroupId"} & set(inputs)) == 1, rule.name
            peer = inputs.get("cidrIpv4") or roles[inputs["referencedSecurityGroupId"]]
            found.add((direction, rule.name, roles[inputs["securityGroupId"]], whole(inputs["fromPort"]),
                       whole(inputs["toPort"]), peer, inputs["description"]))
    return found


def test_a_5x_stack_declares_its_groups_and_one_resource_per_rule() -> None:
    result = run(stacks.migrate(bastionSecurityGroupId=BASTION, proxyUrl="http://proxy.example:3128", tags=["Environment=dev"]))
    tags = {"Project": "cloud-exchange-ha", "Environment": "dev"}
    component = result.named("ce-net")
    assert (component.typ, component.parent) == ("cloudexchange:ha:Network", "ce"), "a moved component renames every rule"
    groups = {g.name: (g.parent, g.inputs) for g in result.of_type(SG)}
    assert groups == {
        "ce-net-nodes": ("ce-net", {"vpcId": "vpc-0123456789abcdef0", "description": "Netskope CE HA nodes (managed by cloud-exchange-ha)",
                                    "tags": {**tags, "Name": "ce-net-nodes"}}),
        "ce-net-efs": ("ce-net", {"vpcId": "vpc-0123456789abcdef0",
                                  "description": "Netskope CE HA shared folder (EFS), NFS from the nodes only",
                                  "tags": {**tags, "Name": "ce-net-efs"}}),
    }
    nodes, efs = result.outputs["nodeSecurityGroupId"], result.outputs["efsSecurityGroupId"]
    assert nodes.startswith("sg-") and efs.startswith("sg-") and nodes != efs
    found = declared(result, {nodes: "nodes", efs: "efs", BASTION: "bastion"})
    members = {("in" if d == "ingress" else "out", f"ce-net-{slug}", "nodes", low, high, "nodes", why)
               for (_, d, low, high, _, _, why), slug in CE5_MEMBERS}
    assert found == members | {
        ("in", "ce-net-node-ingress-443-198.51.100.0_24", "nodes", 443, 443, ADMINS, "CE UI"),
        ("in", "ce-net-node-ingress-443-nodes", "nodes", 443, 443, "nodes", "CE UI between nodes (verify)"),
        ("out", "ce-net-node-egress-443-nodes", "nodes", 443, 443, "nodes", "CE UI between nodes (verify)"),
        ("in", "ce-net-node-ingress-22-198.51.100.0_24", "nodes", 22, 22, ADMINS, "SSH from admins"),
        ("in", "ce-net-node-ingress-22-bastion", "nodes", 22, 22, "bastion", "SSH from the bastion"),
        ("out", "ce-net-node-egress-443-0.0.0.0_0", "nodes", 443, 443, "0.0.0.0/0",
         "HTTPS out: Docker Hub, GitHub, Netskope tenant, packages"),
        ("out", "ce-net-node-egress-80-0.0.0.0_0", "nodes", 80, 80, "0.0.0.0/0", "HTTP out: OS packages"),
        ("out", "ce-net-node-egress-3128-0.0.0.0_0", "nodes", 3128, 3128, "0.0.0.0/0", "outbound proxy"),
        ("out", "ce-net-node-egress-2049-efs", "nodes", 2049, 2049, "efs", "NFS to EFS"),
        ("in", "ce-net-efs-ingress-2049-nodes", "efs", 2049, 2049, "nodes", "NFS from CE nodes"),
    }


def test_a_6x_stack_behind_a_balancer_declares_the_balancers_group_and_no_efs_group() -> None:
    result = run(stacks.greenfield(ceVersion="v6.1.0", loadBalancer="internal", tags=["Environment=dev"]))
    assert [g.name for g in result.of_type(SG)] == ["ce-net-nodes", "ce-net-lb"]
    assert result.outputs["efsSecurityGroupId"] is None
    group = result.named("ce-net-lb")
    assert (group.parent, group.inputs) == ("ce-net", {
        "vpcId": "vpc-0123456789abcdef0", "description": "Netskope CE HA UI load balancer, the UI port from uiCidrs only",
        "tags": {"Project": "cloud-exchange-ha", "Environment": "dev", "Name": "ce-net-lb"}})
    nodes = result.outputs["nodeSecurityGroupId"]
    (lb,) = [r.inputs["securityGroupId"] for r in result.of_type(EGRESS) if r.name == "ce-net-lb-egress-443-nodes"]
    found = declared(result, {nodes: "nodes", lb: "lb"})
    ui = {row for row in found if row[3] == 443 and row[5] != "0.0.0.0/0"}
    assert ui == {
        ("in", "ce-net-lb-ingress-443-198.51.100.0_24", "lb", 443, 443, ADMINS, "CE UI through the load balancer"),
        ("out", "ce-net-lb-egress-443-nodes", "lb", 443, 443, "nodes", "CE UI and health checks to the nodes"),
        ("in", "ce-net-node-ingress-443-lb", "nodes", 443, 443, "lb", "CE UI and health checks from the load balancer"),
        ("in", "ce-net-node-ingress-443-nodes", "nodes", 443, 443, "nodes", "CE UI between nodes (verify)"),
        ("out", "ce-net-node-egress-443-nodes", "nodes", 443, 443, "nodes", "CE UI between nodes (verify)"),
    }
    assert ("in", "ce-net-node-ingress-24009-24029-nodes", "nodes", 24009, 24029, "nodes", "CE cluster: GlusterFS bricks") in found
