"""Pulumi entry point: read the stack's settings, judge them against what the stack deployed, plan the nodes, declare the
cluster, export outputs.

Kept thin on purpose; every decision lives in ``components/``.
"""

import pulumi

from components import cluster_size, deployed, topology, version_change
from components import settings as stack_settings
from components.cluster import CloudExchangeCluster

try:
    settings = stack_settings.load()
    last = deployed.outputs(judged=("ceVersion", cluster_size.SETTING))
    version_change.check(version_change.deployed_version(last), settings.ce_version)
    cluster_size.check(cluster_size.deployed_count(last), settings.node_count)
    placement = topology.plan(settings)
except stack_settings.SettingsError as error:
    # a user mistake: one clear message, no traceback, nothing declared
    raise pulumi.RunError(str(error)) from None

cluster = CloudExchangeCluster("ce", settings, placement)
for name, value in cluster.outputs.items():
    pulumi.export(name, value)
