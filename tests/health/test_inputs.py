"""What the check reads: node lists, CE's shared .env and the credentials file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scripts.cenode.health import NodeAddress, parse_nodes, read_ce_primary, read_credentials


class Files:
    """The mocks: file contents as CE and the Pulumi side write them."""

    SHARED_ENV = '# CE shared config\nJWT_SECRET=do-not-keep\nexport HA_PRIMARY_NODE_IP="10.0.1.10"\nHA_ENABLED=True\n'
    SHARED_ENV_WITHOUT_PRIMARY = "HA_ENABLED=True\n"
    SECRETS = {"maintenance_password": "file-secret-1234", "jwt_secret": "x"}


def test_node_without_port_gets_mongo_default() -> None:
    assert parse_nodes("10.0.1.10", ui_port=8443) == [NodeAddress("10.0.1.10", 27017, 8443)]


def test_node_with_port_keeps_it() -> None:
    assert parse_nodes("127.0.0.1:27018,127.0.0.1:27019")[1].mongo_address == "127.0.0.1:27019"


def test_ipv6_node_is_bracketed() -> None:
    assert parse_nodes("[::1]:27020")[0].mongo_address == "[::1]:27020"


@pytest.mark.parametrize("spec", ["", "10.0.1.10,,10.0.2.10", "10.0.1.10:x", "10.0.1.10:70000", "10.0.1.10,10.0.1.10:27017"])
def test_malformed_node_lists_are_refused(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_nodes(spec)


def test_ce_primary_is_read_unquoted(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(Files.SHARED_ENV)
    assert read_ce_primary(str(env)) == "10.0.1.10"


def test_ce_primary_absent_is_none(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(Files.SHARED_ENV_WITHOUT_PRIMARY)
    assert read_ce_primary(str(env)) is None


def test_credentials_give_the_password(tmp_path: Path) -> None:
    path = tmp_path / "secrets.json"
    path.write_text(json.dumps(Files.SECRETS))
    credentials = read_credentials(str(path))
    assert credentials is not None and credentials.password == Files.SECRETS["maintenance_password"]


def test_credentials_repr_hides_the_password(tmp_path: Path) -> None:
    path = tmp_path / "secrets.json"
    path.write_text(json.dumps(Files.SECRETS))
    assert Files.SECRETS["maintenance_password"] not in repr(read_credentials(str(path)))


def test_credentials_without_password_are_none(tmp_path: Path) -> None:
    path = tmp_path / "secrets.json"
    path.write_text(json.dumps({"jwt_secret": "x"}))
    assert read_credentials(str(path)) is None


def test_broken_credentials_error_does_not_quote_the_file(tmp_path: Path) -> None:
    path = tmp_path / "secrets.json"
    path.write_text('{"maintenance_password": "half-written-secret')
    with pytest.raises(ValueError) as caught:
        read_credentials(str(path))
    assert "half-written-secret" not in str(caught.value)
