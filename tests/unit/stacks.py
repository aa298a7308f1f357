"""Valid stack configurations the unit tests start from (secrets are obviously fake)."""

from __future__ import annotations

from typing import Any

FAKE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nZmFrZS1rZXktZm9yLXRlc3RzLW9ubHk=\n-----END OPENSSH PRIVATE KEY-----\n"
MAINTENANCE = "Maint-pass-7431"
JWT = "jwt-secret-9152"
SECRET_KEYS = ["sshPrivateKey", "maintenancePassword", "jwtSecret"]


def migrate(**overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "mode": "migrate",
        "primaryInstanceId": "i-0123456789abcdef0",
        "vpcId": "vpc-0123456789abcdef0",
        "subnetIds": ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0bbbbbbbbbbbbbbb2"],
        "ceVersion": "v5.1.2",  # explicit: ceVersion has no default (a stack must say what it runs)
        "keyPairName": "ce-test",
        "sshCidrs": ["198.51.100.0/24"],
        "uiCidrs": ["198.51.100.0/24"],
        "sshPrivateKey": FAKE_KEY,
        "maintenancePassword": MAINTENANCE,
        "jwtSecret": JWT,
    }
    config.update(overrides)
    return config


def greenfield(**overrides: Any) -> dict[str, Any]:
    config = migrate(
        mode="greenfield",
        primaryInstanceId="",
        subnetIds=["subnet-0ccccccccccccccc1", "subnet-0ddddddddddddddd2", "subnet-0eeeeeeeeeeeeeee3"],
    )
    config.update(overrides)
    return config
