"""The whole CE HA cluster: wires network, storage, nodes and the node-side phases in order.

Owns: which components exist for a mode and release line, what depends on what, and the
cluster's outputs. "What depends on what" is read here; "what runs on a node" is in
``scripts/cenode``; the remote steps themselves are declared by ``provisioning.py``.

Must not touch: settings validation (``settings.py``/``topology.py`` finish before this runs).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components import release
from components.network import ClusterNetwork
from components.nodes import NewNode, PrimaryNode
from components.settings import Settings
from components.storage import SharedStorage
from components.topology import Topology


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
        self.outputs: dict[str, pulumi.Input[object]] = {
            "ceVersion": settings.ce_version,
            "releaseLine": f"{settings.line.major}.x",
            "nodes": [{"name": n.name, "role": n.role, "privateIp": n.private_ip} for n in self.nodes],
            "nodeSecurityGroupId": self.network.node_security_group.id,
            "backupImageId": self.primary.backup_image.id if self.primary else None,
            "efsId": self.storage.file_system.id if self.storage else None,
            "efsDnsName": self.storage.dns_name if self.storage else None,
            "efsSecurityGroupId": self.network.efs_security_group.id if self.network.efs_security_group else None,
        }
        self.register_outputs(self.outputs)
