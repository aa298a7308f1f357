"""One address for the CE UI: a Network Load Balancer across the nodes, and its optional DNS name.

Owns: the load balancer (internal in the nodes' subnets, or internet-facing in its own), its TCP
listener on the UI port (passthrough: CE terminates TLS with its own certificate, the load
balancer holds none), the target group with its health check, one target per node (the adopted
primary included, by instance id: it is only registered, never managed), the Route 53 alias
record when ``uiDnsName`` is set, and the ``uiUrl``/``loadBalancerDnsName`` values.

Must not touch: security groups (``network.py`` owns the load balancer's group and its rules),
the nodes themselves, settings validation. Nothing here holds data: no protection, so
``pulumi destroy`` removes it all.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.args import LoadBalancerArgs

#: health check timing. A dead node fails its checks from the moment it dies: after UNHEALTHY_THRESHOLD
#: failed checks INTERVAL_S apart it leaves rotation, i.e. within 2 x 10 s = 20 s, plus at most one
#: TIMEOUT_S (6 s) for the last check to give up: about 26 s, inside the 30 s aimed at. A node comes
#: back after HEALTHY_THRESHOLD good checks (3 x 10 s = 30 s), so a flapping node is not rushed back.
INTERVAL_S = 10
TIMEOUT_S = 6
UNHEALTHY_THRESHOLD = 2
HEALTHY_THRESHOLD = 3
#: CE's UI answers / with its page (200) or a redirect to it; anything else is not a working UI
HEALTHY_CODES = "200-399"
#: connections still open to a target being removed (replaced node, destroy) get this long to finish
DEREGISTRATION_DELAY_S = 30


@dataclass(frozen=True)
class Target:
    """A node as the load balancer sees it: its name and instance id."""

    name: str
    instance_id: pulumi.Input[str]


def ui_url(protocol: str, host: str, port: int) -> str:
    """The UI's address; the port is left out when it is the protocol's own (443 for https, 80 for http)."""
    default = {"https": 443, "http": 80}[protocol]
    return f"{protocol}://{host}" if port == default else f"{protocol}://{host}:{port}"


class UiLoadBalancer(pulumi.ComponentResource):
    """The Network Load Balancer in front of every node's UI."""

    def __init__(
        self,
        name: str,
        args: LoadBalancerArgs,
        *,
        subnet_ids: list[str],
        security_group_id: pulumi.Input[str],
        targets: list[Target],
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("cloudexchange:ha:LoadBalancer", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = args.tags
        self.load_balancer = aws.lb.LoadBalancer(
            f"{name}-nlb",
            load_balancer_type="network",
            internal=args.scheme == "internal",
            subnets=subnet_ids,
            security_groups=[security_group_id],
            enable_cross_zone_load_balancing=True,
            enable_deletion_protection=False,
            ip_address_type="ipv4",
            tags={**tags, "Name": f"{name}-nlb"},
            opts=child,
        )
        self.target_group = aws.lb.TargetGroup(
            f"{name}-nodes",
            port=args.ui_port,
            protocol="TCP",
            target_type="instance",
            vpc_id=args.vpc_id,
            # instance targets see the user's own address; see the README on probing from a node (hairpin)
            preserve_client_ip="true",
            deregistration_delay=DEREGISTRATION_DELAY_S,
            health_check=aws.lb.TargetGroupHealthCheckArgs(
                enabled=True,
                protocol="HTTPS" if args.ui_protocol == "https" else "HTTP",
                port="traffic-port",
                path="/",
                matcher=HEALTHY_CODES,
                interval=INTERVAL_S,
                timeout=TIMEOUT_S,
                healthy_threshold=HEALTHY_THRESHOLD,
                unhealthy_threshold=UNHEALTHY_THRESHOLD,
            ),
            tags={**tags, "Name": f"{name}-nodes"},
            opts=child,
        )
        self.listener = aws.lb.Listener(
            f"{name}-ui",
            load_balancer_arn=self.load_balancer.arn,
            port=args.ui_port,
            protocol="TCP",
            default_actions=[aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=self.target_group.arn)],
            tags={**tags, "Name": f"{name}-ui"},
            opts=child,
        )
        self.attachments = [
            aws.lb.TargetGroupAttachment(
                f"{name}-{target.name}",
                target_group_arn=self.target_group.arn,
                target_id=target.instance_id,
                port=args.ui_port,
                opts=child,
            )
            for target in targets
        ]
        self.record: aws.route53.Record | None = None
        host: pulumi.Input[str] = self.load_balancer.dns_name
        if args.ui_dns_name:
            self.record = aws.route53.Record(
                f"{name}-dns",
                zone_id=args.hosted_zone_id,
                name=args.ui_dns_name,
                type="A",
                aliases=[aws.route53.RecordAliasArgs(
                    name=self.load_balancer.dns_name, zone_id=self.load_balancer.zone_id, evaluate_target_health=True,
                )],
                opts=child,
            )
            host = args.ui_dns_name
        self.dns_name = self.load_balancer.dns_name
        self.ui_url = pulumi.Output.from_input(host).apply(lambda h: ui_url(args.ui_protocol, h, args.ui_port))
        self.register_outputs({"dns_name": self.dns_name, "ui_url": self.ui_url})
