"""The whole CE HA cluster: wires network, storage, nodes, the node-side phases and the UI's load balancer.

Owns: which components exist for a mode, what depends on what, and the cluster's outputs. The
release line chosen by the settings supplies its storage kind (``storage.KINDS``) and its plan
(``scripts/cenode/lines``): this module walks the plan the same way for every line, builds each
component's Args once (``args.py``), and never asks which line it is on. "What runs on a node" is
in ``scripts/cenode``; the remote steps themselves are declared by ``provisioning.py``.

Must not touch: settings validation (``settings.py``/``topology.py`` finish before this runs).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass

import pulumi
import pulumi_command as command

from components import args as cluster_args
from components import bundle as node_bundle
from components import storage
from components.args import StepsArgs
from components.destroy_guard import DestroyGuard
from components.loadbalancer import Target, UiLoadBalancer
from components.network import ClusterNetwork
from components.nodes import NewNode, PrimaryNode
from components.provisioning import NodeSteps
from components.settings import Settings
from components.topology import Topology
from scripts.cenode.lines import Plan, Step
from scripts.cenode.nodeconfig import NodeConfig


@dataclass
class NodeHandle:
    """A node as the rest of the program sees it: name, address, role, and its instance if new."""

    name: str
    private_ip: pulumi.Output[str]
    role: str  # "primary" | "secondary"
    component: PrimaryNode | NewNode


class CloudExchangeCluster(pulumi.ComponentResource):
    """Three (or nodeCount) CE nodes forming one HA cluster."""

    def __init__(self, name: str, settings: Settings, topology: Topology, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cloudexchange:ha:Cluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        line = settings.line
        kind = storage.KINDS[line.storage]
        args = cluster_args.from_settings(
            settings, nfs_file_system=kind.nfs_file_system, brick_volume=kind.brick_volume(line, settings.gluster_volume_size_gb)
        )
        self.network = ClusterNetwork(f"{name}-net", args.network, opts=child)
        self.storage = kind.declare(f"{name}-shared", args.storage, topology.subnets_by_zone, self.network, child)
        self.nodes: list[NodeHandle] = []
        self.primary: PrimaryNode | None = None
        for index, placement in enumerate(topology.placements):
            role = "primary" if index == 0 else "secondary"
            component: PrimaryNode | NewNode
            if placement.adopted:
                assert topology.primary is not None
                component = self.primary = PrimaryNode(
                    placement.name, args.node, topology.primary, self.network.node_security_group.id, opts=child
                )
            else:
                assert topology.image_id is not None
                component = NewNode(
                    placement.name,
                    args.node,
                    subnet_id=placement.subnet_id,
                    availability_zone=placement.availability_zone,
                    image_id=topology.image_id,
                    instance_type=topology.instance_type,
                    root_volume_size_gb=topology.root_volume_size_gb,
                    node_security_group_id=self.network.node_security_group.id,
                    opts=child,
                )
            # a new node's address is its network interface's (NewNode.private_ip), never its instance's:
            # a replaced instance leaves cluster_ips, and so every other node's inputs, unchanged
            self.nodes.append(NodeHandle(placement.name, component.private_ip, role, component))
        self.node_steps: list[NodeSteps] = []
        self.verify = self._provision(settings, line.plan, args.steps)
        self.load_balancer: UiLoadBalancer | None = None
        if args.load_balancer is not None:
            assert self.network.load_balancer_security_group is not None
            self.load_balancer = UiLoadBalancer(
                f"{name}-lb", args.load_balancer,
                subnet_ids=list(topology.load_balancer_subnet_ids or topology.subnets_by_zone.values()),
                security_group_id=self.network.load_balancer_security_group.id,
                targets=[Target(n.name, n.component.instance.id if isinstance(n.component, NewNode) else n.component.facts.instance_id)
                         for n in self.nodes],
                opts=child,
            )
        if settings.mode == "migrate":
            # declared last and after everything else: a destroy reaches it first and stops there
            self.destroy_guard = DestroyGuard(
                f"{name}-destroy-guard", settings.allow_destroy,
                after=[self.network, *self.storage.components, *(n.component for n in self.nodes), *self.node_steps,
                       *([self.load_balancer] if self.load_balancer else [])],
                opts=child,
            )
        self.outputs: dict[str, pulumi.Input[object]] = {
            "ceVersion": settings.ce_version,
            "releaseLine": line.name,
            "nodes": [{"name": n.name, "role": n.role, "privateIp": n.private_ip} for n in self.nodes],
            "nodeSecurityGroupId": self.network.node_security_group.id,
            "backupImageId": self.primary.backup_image.id if self.primary else None,
            **self.storage.outputs,
            "efsSecurityGroupId": self.network.efs_security_group.id if self.network.efs_security_group else None,
            "verifiedPrimary": self.verify.stdout.apply(lambda out: _report(out).get("primary_ip")),
            "verifiedMembers": self.verify.stdout.apply(lambda out: _report(out).get("members", [])),
            "uiUrl": self.load_balancer.ui_url if self.load_balancer else None,
            "loadBalancerDnsName": self.load_balancer.dns_name if self.load_balancer else None,
        }
        self.register_outputs(self.outputs)

    # ---- what depends on what: the line's plan, walked in order ------------------------------

    def _provision(self, settings: Settings, plan: Plan, args: StepsArgs) -> command.remote.Command:
        """Prepare every node (in parallel), then the drain, the window, each secondary's join and the check, strictly in sequence."""
        bundle = node_bundle.build()
        ips = [node.private_ip for node in self.nodes]
        cutover_revision = pulumi.Output.all(*ips).apply(lambda all_ips: json.dumps({
            "ce_version": settings.ce_version, "cluster_ips": all_ips, "ui": [settings.ui_protocol, settings.ui_port, settings.tls12],
            "proxy": settings.proxy_url, "tenant": settings.tenant_url, "shared_dir": settings.effective_shared_dir,
        }, sort_keys=True))
        steps: list[NodeSteps] = []
        prepared: list[pulumi.Resource] = []
        for node in self.nodes:
            adopted = isinstance(node.component, PrimaryNode)
            node_json = pulumi.Output.all(
                node.private_ip, self.storage.shared_source, self.storage.brick_volume_id(node.component), *ips
            ).apply(functools.partial(_node_json, settings, node, adopted))
            after: list[pulumi.Resource] = [self.network]
            if adopted:
                assert self.primary is not None
                # nothing touches the standalone before its backup image exists
                after += [self.primary.backup_image, self.primary.security_group_attachment]
            # the instance's id is a trigger of every step on the node (NodeSteps): a replacement VM runs them
            # again; the eviction of its dead predecessor, run on a survivor, takes the same id (below)
            instance = node.component.instance if isinstance(node.component, NewNode) else None
            node_steps = NodeSteps(
                f"{node.name}-steps", args, node.private_ip, node_json, bundle, after, instance,
                opts=pulumi.ResourceOptions(parent=self),
            )
            steps.append(node_steps)
            self.node_steps.append(node_steps)
            revisions: dict[str, list[pulumi.Input[object]]] = {
                "node": [bundle.digest, node_json], "cutover": [cutover_revision], "bundle": [bundle.digest],
            }
            chain: list[pulumi.Resource] = []
            for step in plan.preparation:
                if not _runs_on(step, adopted, settings.backup_tarball):
                    continue
                waits = [*chain, *self.storage.ready_for(node.component)] if step.after_storage else chain
                chain = [node_steps.phase(step.phase, args=step.args, after=waits, triggers=_triggers(step, revisions),
                                          step=step.name or None)]
            prepared += chain
        healed = self._replacement(plan, steps, prepared)
        # each other node stops if its setup is due, then the window (CE's primary's stop, setup, start: CE is
        # down only there), then each secondary joins while CE serves, then the check; strictly one step at a
        # time. Stages run on every node in turn act only where CE's primary flag gives the node their --role.
        primary = steps[0]
        # every created node's instance: a replaced VM makes the check run again (the adopted primary is never replaced)
        members: list[pulumi.Input[object]] = [n.component.instance.id for n in self.nodes if isinstance(n.component, NewNode)]
        cutover: dict[str, list[pulumi.Input[object]]] = {"node": [], "cutover": [cutover_revision], "bundle": [bundle.digest],
                                                           "members": members}
        last: list[pulumi.Resource] = [*prepared, *healed]
        command_run: command.remote.Command | None = None
        in_order = list(enumerate(zip(self.nodes, steps, strict=True), start=1))
        for stage in plan.ordered:
            for member, (node, node_steps) in in_order if stage.each_node else in_order[:1]:
                for step in stage.steps:
                    if step.on_primary and member == 1:  # the primary's own part needs no step on itself
                        continue
                    runner = primary if step.on_primary else node_steps
                    command_run = runner.phase(step.phase, args=step.args.format(member=member), after=last,
                                               triggers=_triggers(step, cutover), step=step.name.format(node=node.name) or None)
                    last = [command_run]
        assert command_run is not None and plan.check.steps[-1].phase == "verify", "a line's plan ends with verify"
        return command_run


    def _replacement(self, plan: Plan, steps: list[NodeSteps], prepared: list[pulumi.Resource]) -> list[pulumi.Resource]:
        """For each new node, on a survivor: the plan's replacement steps (evict its dead predecessor).

        The survivor is the first other node in the cluster's order: the program must reach it over
        SSH anyway, and with it down as well no majority would be left to evict from (3 nodes). Only
        the new node's instance id triggers them, so they run when that node is replaced (and once at
        the first deployment, where they find no replica set and change nothing); the survivor's own
        replacement does not re-run them. They run after every node's preparation and before the
        cutover, so the new node's setup and start join a cluster that no longer lists it.
        """
        healed: list[pulumi.Resource] = []
        for index, node in enumerate(self.nodes):
            if not isinstance(node.component, NewNode) or len(self.nodes) < 2:
                continue
            survivor = steps[1 if index == 0 else 0]
            for step in plan.replacement:
                args = pulumi.Output.from_input(node.private_ip).apply(functools.partial(_about, step.args))
                healed.append(survivor.phase(step.phase, args=args, after=prepared, triggers=[node.component.instance.id],
                                             step=step.step_name.format(node=node.name), about_this_node=False))
        return healed


def _about(template: str, address: str) -> str:
    """A replacement step's arguments for the node at ``address``."""
    return template.format(address=address)


def _runs_on(step: Step, adopted: bool, backup_tarball: bool) -> bool:
    """Whether a node runs a preparation step: every node, or only the adopted primary (with a tarball wanted)."""
    return {"every": True, "adopted": adopted, "adopted-tarball": adopted and backup_tarball}[step.only]


def _triggers(step: Step, revisions: dict[str, list[pulumi.Input[object]]]) -> list[pulumi.Input[object]]:
    """What makes the step run again, in the order its revisions name them."""
    return [value for revision in step.revisions for value in revisions[revision]]


def _node_json(settings: Settings, node: NodeHandle, adopted: bool, values: list[str]) -> str:
    """node.json of one node, from its address, the shared folder source and every node's address."""
    ip, shared_source, brick_volume_id, ips = values[0], values[1], values[2], values[3:]
    return NodeConfig(
        node_name=node.name,
        node_ip=ip,
        role=node.role,
        cluster_ips=list(ips),
        ce_version=settings.ce_version,
        ce_repo_url=settings.ce_repo_url,
        ce_dir=settings.ce_dir,
        shared_dir=settings.effective_shared_dir,
        shared_source=shared_source,
        ui_protocol=settings.ui_protocol,
        ui_port=settings.ui_port,
        tls12=settings.tls12,
        tenant_url=settings.tenant_url,
        proxy_url=settings.proxy_url,
        migrate=adopted,
        allow_undersized=settings.allow_undersized,
        docker_repo_url="" if settings.docker_repo_url == "os" else settings.docker_repo_url,
        pip_index_url=settings.pip_index_url,
        brick_volume_id=brick_volume_id,
    ).to_json()


def _report(stdout: str) -> dict[str, object]:
    """The verify step's JSON report (its last line); empty during preview."""
    for line in reversed((stdout or "").strip().splitlines()):
        if line.startswith("{"):
            value = json.loads(line)
            return value if isinstance(value, dict) else {}
    return {}
