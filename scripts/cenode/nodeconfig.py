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

    @property
    def adopted(self) -> bool:
        """The running standalone the migrate adopts (its CE keeps serving until the cutover)."""
        return self.migrate and self.is_primary

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NodeConfig:
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"node.json has unknown keys {unknown}: the bundle and the program disagree")
        return cls(**data)


#: characters CE rejects in the maintenance password / the JWT secret (docs/ce-facts.md §1.3 #10, #11); the
#: stack settings refuse them (components/settings.py) and the setup phases check them again
FORBIDDEN_IN_PASSWORD = ("\\", "/", "'", '"', " ")
FORBIDDEN_IN_JWT = ("\\", "/", " ", "'", '"', "?", "&", "\t")
#: control characters (C0, DEL, C1): CE's prompt drops or mangles them (a trailing newline is lost),
#: so CE would store another secret than the stack holds; refused in both secrets like the above
CONTROL_CHARACTERS = frozenset(chr(code) for code in [*range(0x20), *range(0x7F, 0xA0)])


def refused_characters(value: str, forbidden: tuple[str, ...]) -> list[str]:
    """The characters of a secret that CE forbids (``forbidden``) or that its prompt drops (control characters)."""
    return sorted({ch for ch in value if ch in forbidden or ch in CONTROL_CHARACTERS})


@dataclass(frozen=True)
class NodeSecrets:
    """The shape of ``secrets.json``: secrets for CE's setup; read only by root, never logged.

    The Pulumi side builds one and sends :meth:`to_json` on stdin (``provisioning.secrets_document``);
    every node-side reader goes through :func:`read_secrets` / :func:`load_secrets`.
    """

    maintenance_password: str = ""
    jwt_secret: str = ""
    ui_certificate: str = ""  # PEM from cloud-exchange-ha:uiCertificateFile (greenfield, 5.x)
    ui_certificate_key: str = ""  # its private key

    def __repr__(self) -> str:  # never print a secret by accident
        return "NodeSecrets(***)"

    def secret_values(self) -> list[str]:
        """The values no log line or message may contain (the certificate itself is public)."""
        return [v for v in (self.maintenance_password, self.jwt_secret, self.ui_certificate_key) if v]

    def to_json(self) -> str:
        """The file's text; optional fields left empty are left out."""
        document = {"maintenance_password": self.maintenance_password, "jwt_secret": self.jwt_secret}
        if self.ui_certificate or self.ui_certificate_key:
            document.update(ui_certificate=self.ui_certificate, ui_certificate_key=self.ui_certificate_key)
        return json.dumps(document)

    @classmethod
    def from_dict(cls, data: object, where: str = SECRETS_FILE) -> NodeSecrets:
        """Checked like node.json; messages name keys only, never a value."""
        if not isinstance(data, dict):
            raise TypeError(f"{where} is not a JSON object")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{where} has unknown keys {unknown}: the bundle and the program disagree")
        for key, value in data.items():
            if not isinstance(value, str):
                raise TypeError(f"{where}: {key} is not a string")
        return cls(**data)


def load_node(config_dir: str = CONFIG_DIR) -> NodeConfig:
    with open(os.path.join(config_dir, NODE_FILE), encoding="utf-8") as handle:
        return NodeConfig.from_dict(json.load(handle))


def read_secrets(path: str) -> NodeSecrets:
    """Read a secrets file. Raises OSError (missing, not root), ValueError/TypeError (not the
    schema); no message contains the file's content."""
    with open(path, encoding="utf-8") as handle:
        try:
            data = json.load(handle)
        except ValueError:
            raise ValueError(f"{path} is not valid JSON") from None
    return NodeSecrets.from_dict(data, path)


def load_secrets(config_dir: str = CONFIG_DIR) -> NodeSecrets:
    """``<config_dir>/secrets.json``; empty secrets when the file is not there (yet)."""
    path = os.path.join(config_dir, SECRETS_FILE)
    if not os.path.exists(path):
        return NodeSecrets()
    return read_secrets(path)
