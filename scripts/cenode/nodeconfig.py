"""The contract between the Pulumi program and the node-side phases: one node's settings.

Owns: the shape of ``/etc/cloud-exchange-ha/node.json`` (non-secret) and
``/etc/cloud-exchange-ha/secrets.json`` (root-only, 0600), and reading them.
The Pulumi side writes these files (``components/provisioning.py``); every phase reads them.

Must not touch: anything on the node besides reading those two files. Secrets never appear in
``node.json``, argv or the environment.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any

CONFIG_DIR = "/etc/cloud-exchange-ha"
NODE_FILE = "node.json"
SECRETS_FILE = "secrets.json"
LOG_DIR = "/var/log/cloud-exchange-ha"
STATE_DIR = "/var/lib/cloud-exchange-ha"


@dataclass(frozen=True)
class NodeConfig:
    """What one node needs to know; identical on every node except ``node_name``/``node_ip``/``role``."""

    node_name: str
    node_ip: str
    role: str  # "primary" | "secondary"
    cluster_ips: list[str]  # primary first, then the secondaries in cutover order
    ce_version: str  # tag, e.g. "v5.1.2"
    ce_repo_url: str
    ce_dir: str  # the ta_cloud_exchange checkout, e.g. /opt/ta_cloud_exchange
    shared_dir: str  # e.g. /mnt/ce-ha (5.x) or /opt/shared/data (6.x)
    shared_source: str = ""  # NFS source "fs-123.efs.eu-west-1.amazonaws.com:/" (5.x)
    nfs_options: str = "nfsvers=4.1,rsize=1048576,wsize=1048576,hard,timeo=600,retrans=2,noresvport"
    ui_protocol: str = "https"
    ui_port: int = 443
    tls12: bool = False
    tenant_url: str = "test"
    proxy_url: str = ""
    migrate: bool = False  # True on an adopted standalone primary
    allow_undersized: bool = False  # lab only: preflight warns, setup gets --ignore-failures
    docker_repo_url: str = ""  # "" = the OS's own packages; else an apt/dnf repo base URL
    pip_index_url: str = ""  # "" = PyPI; else a mirror's simple index
    brick_volume_id: str = ""  # 6.x: EBS volume id for the GlusterFS bricks ("" = bricks on the root disk)
    timeouts: dict[str, int] = field(default_factory=dict)

    @property
    def primary_ip(self) -> str:
        return self.cluster_ips[0]

    @property
    def is_primary(self) -> bool:
        return self.role == "primary"

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NodeConfig:
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"node.json has unknown keys {unknown}: the bundle and the program disagree")
        return cls(**data)


@dataclass(frozen=True)
class NodeSecrets:
    """Secrets for CE's setup; read only by root, never logged."""

    maintenance_password: str = ""
    jwt_secret: str = ""
    ui_certificate: str = ""  # PEM from cloud-exchange-ha:uiCertificateFile (greenfield, 5.x)
    ui_certificate_key: str = ""  # its private key

    def __repr__(self) -> str:  # never print a secret by accident
        return "NodeSecrets(***)"


def load_node(config_dir: str = CONFIG_DIR) -> NodeConfig:
    with open(os.path.join(config_dir, NODE_FILE), encoding="utf-8") as handle:
        return NodeConfig.from_dict(json.load(handle))


def load_secrets(config_dir: str = CONFIG_DIR) -> NodeSecrets:
    path = os.path.join(config_dir, SECRETS_FILE)
    if not os.path.exists(path):
        return NodeSecrets()
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    return NodeSecrets(
        maintenance_password=data.get("maintenance_password", ""),
        jwt_secret=data.get("jwt_secret", ""),
        ui_certificate=data.get("ui_certificate", ""),
        ui_certificate_key=data.get("ui_certificate_key", ""),
    )
