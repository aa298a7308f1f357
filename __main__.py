"""Pulumi entry point: read the stack's settings, judge the version change, plan the nodes, declare the cluster, export outputs.

Kept thin on purpose; every decision lives in ``components/``.
"""

import pulumi

from components import settings as stack_settings
from components import topology, version_change
from components.cluster import CloudExchangeCluster

try:
    settings = stack_settings.load()
    version_change.check(version_change.deployed_version(), settings.ce_version)
    placement = topology.plan(settings)
except stack_settings.SettingsError as error:
    # a user mistake: one clear message, no traceback, nothing declared
    raise pulumi.RunError(str(error)) from None

cluster = CloudExchangeCluster("ce", settings, placement)
for name, value in cluster.outputs.items():
    pulumi.export(name, value)
