"""The whole CE HA cluster: wires network, storage, nodes and the node-side phases in order.

Owns: which components exist for a mode and release line, what depends on what, and the
cluster's outputs. "What depends on what" is read here; "what runs on a node" is in
``scripts/cenode``; the remote steps themselves are declared by ``provisioning.py``.

Must not touch: settings validation (``settings.py``/``topology.py`` finish before this runs).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass

import pulumi
import pulumi_command as command

from components import bundle as node_bundle
from components import release
from components.network import ClusterNetwork
from components.nodes import NewNode, PrimaryNode
from components.provisioning import NodeSteps
from components.settings import Settings
from components.storage import SharedStorage
from components.topology import Topology
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
        self.network = ClusterNetwork(f"{name}-net", settings, opts=child)
        self.storage: SharedStorage | None = None
        if release.uses_efs(settings.line):
            assert self.network.efs_security_group is not None
            self.storage = SharedStorage(
                f"{name}-shared",
                settings,
                topology.subnets_by_zone,
                self.network.efs_security_group.id,
                opts=child,
            )
        self.nodes: list[NodeHandle] = []
        self.primary: PrimaryNode | None = None
        for index, placement in enumerate(topology.placements):
            role = "primary" if index == 0 else "secondary"
            component: PrimaryNode | NewNode
            if placement.adopted:
                assert topology.primary is not None
                component = self.primary = PrimaryNode(
                    placement.name, settings, topology.primary, self.network.node_security_group.id, opts=child
                )
            else:
                assert topology.image_id is not None
                component = NewNode(
                    placement.name,
                    settings,
                    subnet_id=placement.subnet_id,
                    availability_zone=placement.availability_zone,
                    image_id=topology.image_id,
                    instance_type=topology.instance_type,
                    root_volume_size_gb=topology.root_volume_size_gb,
                    node_security_group_id=self.network.node_security_group.id,
                    opts=child,
                )
            self.nodes.append(NodeHandle(placement.name, component.private_ip, role, component))
        self.verify = self._provision(settings)
        self.outputs: dict[str, pulumi.Input[object]] = {
            "ceVersion": settings.ce_version,
            "releaseLine": f"{settings.line.major}.x",
            "nodes": [{"name": n.name, "role": n.role, "privateIp": n.private_ip} for n in self.nodes],
            "nodeSecurityGroupId": self.network.node_security_group.id,
            "backupImageId": self.primary.backup_image.id if self.primary else None,
            "efsId": self.storage.file_system.id if self.storage else None,
            "efsDnsName": self.storage.dns_name if self.storage else None,
            "efsSecurityGroupId": self.network.efs_security_group.id if self.network.efs_security_group else None,
            "verifiedPrimary": self.verify.stdout.apply(lambda out: _report(out).get("primary_ip")),
            "verifiedMembers": self.verify.stdout.apply(lambda out: _report(out).get("members", [])),
        }
        self.register_outputs(self.outputs)

    # ---- what depends on what: the phases, in order ------------------------------------------

    def _provision(self, settings: Settings) -> command.remote.Command:
        """Prepare every node (in parallel), then the cutover (strictly sequential), then verify."""
        bundle = node_bundle.build()
        ips = [node.private_ip for node in self.nodes]
        shared_source = self.storage.dns_name.apply(lambda dns: f"{dns}:/") if self.storage else ""
        prep_revision = [bundle.digest]
        cutover_revision = pulumi.Output.all(*ips).apply(lambda all_ips: json.dumps({
            "ce_version": settings.ce_version, "cluster_ips": all_ips, "ui": [settings.ui_protocol, settings.ui_port, settings.tls12],
            "proxy": settings.proxy_url, "tenant": settings.tenant_url, "shared_dir": settings.effective_shared_dir,
        }, sort_keys=True))
        storage_ready: list[pulumi.Resource] = list(self.storage.mount_targets) if self.storage else []
        steps: list[NodeSteps] = []
        prepared: list[pulumi.Resource] = []
        for node in self.nodes:
            adopted = isinstance(node.component, PrimaryNode)
            bricks = node.component.gluster_volume if isinstance(node.component, NewNode) else None
            node_json = pulumi.Output.all(node.private_ip, shared_source, bricks.id if bricks else "", *ips).apply(
                functools.partial(_node_json, settings, node, adopted)
            )
            after: list[pulumi.Resource] = [self.network]
            if adopted:
                assert self.primary is not None
                # nothing touches the standalone before its backup image exists
                after += [self.primary.backup_image, self.primary.security_group_attachment]
            instance = node.component.instance if isinstance(node.component, NewNode) else None
            node_steps = NodeSteps(
                f"{node.name}-steps", settings, node.private_ip, node_json, bundle, after, instance,
                opts=pulumi.ResourceOptions(parent=self),
            )
            steps.append(node_steps)
            revision = [*prep_revision, node_json]
            chain = node_steps.phase("wait", after=[], triggers=revision)
            chain = node_steps.phase("preflight", after=[chain], triggers=revision)
            chain = node_steps.phase("prepare", after=[chain], triggers=revision)
            if adopted:  # after prepare, which installs the decryption it needs; long before the cutover
                chain = node_steps.phase("inspect", args="--check", after=[chain], triggers=revision, step="inspect-check")
            if release.uses_efs(settings.line):
                chain = node_steps.phase("mount", after=[chain, *storage_ready], triggers=revision)
            else:  # 6.x: the node's brick volume, glusterd; CE's setup builds the volume in the cutover
                attached = [node.component.gluster_attachment] if isinstance(node.component, NewNode) and \
                    node.component.gluster_attachment else []
                chain = node_steps.phase("bricks", after=[chain, *attached], triggers=revision)
            if adopted and settings.backup_tarball:
                chain = node_steps.phase("backup", after=[chain], triggers=[cutover_revision])
            chain = node_steps.phase("fetch-ce", after=[chain], triggers=revision)
            chain = node_steps.phase("certs", after=[chain], triggers=revision)
            prepared.append(chain)
        # cutover: the only window in which CE is down; strictly one step at a time
        primary = steps[0]
        chain = primary.phase("stop", after=prepared, triggers=[cutover_revision], step="cutover-stop")
        for member, node_steps in enumerate(steps, start=1):
            if member > 1 and not release.uses_efs(settings.line):
                # 6.x: the primary adds this node's brick to the volume before the node's own setup
                chain = primary.phase("gluster-join", args=f"--member {member}", after=[chain], triggers=[cutover_revision],
                                      step=f"cutover-join-{node_steps.node_name.removesuffix('-steps')}")
            chain = node_steps.phase("setup", after=[chain], triggers=[cutover_revision], step="cutover-setup", secret_output=True)
        for node_steps in steps:
            chain = node_steps.phase("start", after=[chain], triggers=[cutover_revision], step="cutover-start")
        return primary.phase("verify", args="--json --insecure-ui", after=[chain], triggers=[cutover_revision, bundle.digest])


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
