"""ceenv + inspect: CE's .env files, version sources, secret decryption, the three output modes.

The encrypted values are made with the openssl CLI the way CE 5.1.1+ does (docs/ce-facts.md §5.1):
``echo "'<password>'" | openssl enc -aes-256-cbc -K sha256(CE_SETUP_ID) -iv CE_IV -a -A``.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from scripts.cenode import ceenv
from scripts.cenode.__main__ import main
from scripts.cenode.phases import inspect_ce
from scripts.cenode.system import Ctx, NodeEnv, PhaseError

from .conftest import FakeRunner, make_node

SETUP_ID = "3f2c6a9e-1b2d-4c5e-8f90-a1b2c3d4e5f6"
IV = "00112233445566778899aabbccddeeff"
PASSWORD = "Maint#1pass"
JWT = "jwtSecret42"


def openssl_encrypt(plaintext: str, setup_id: str = SETUP_ID, iv: str = IV) -> str:
    key = hashlib.sha256(setup_id.encode()).hexdigest()
    result = subprocess.run(
        ["openssl", "enc", "-aes-256-cbc", "-K", key, "-iv", iv, "-a", "-A"], input=plaintext.encode(), capture_output=True, check=True
    )
    return result.stdout.decode().strip()


def test_parse_dotenv_keeps_base64_padding_and_strips_quotes() -> None:
    text = "A=1\n# c\nB=\"two words\"\nC='x'\nD=abc==\nexport E=e\nbroken line\nF=\n"
    assert ceenv.parse_dotenv(text) == {"A": "1", "B": "two words", "C": "x", "D": "abc==", "E": "e", "F": ""}
    assert ceenv.parse_dotenv("C='x'\n", keep_quotes=True) == {"C": "'x'"}


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"INSTALL_VERSION": "5.1.2"}, ((5, 1, 2), "INSTALL_VERSION")),
        ({"INSTALL_VERSION": "v5.1.1"}, ((5, 1, 1), "INSTALL_VERSION")),
        ({"CORE_TAG": "netskopetechnicalalliances/cloudexchange:core5-5.1.2"}, ((5, 1, 2), "CORE_TAG")),
        ({"INSTALL_VERSION": "garbage", "CORE_TAG": "x:core4-4.2.0"}, ((4, 2, 0), "CORE_TAG")),
        ({"CORE_TAG": "crestsystems/cloudexchange:core-latest"}, (None, "")),
        ({}, (None, "")),
    ],
)
def test_version_from_env(values: dict[str, str], expected: tuple[object, str]) -> None:
    assert ceenv.version_from_env(values) == expected


def test_version_from_describe() -> None:
    assert ceenv.version_from_describe("v5.1.2\n") == (5, 1, 2)
    assert ceenv.version_from_describe("v5.1.1-3-gabc1234") == (5, 1, 1)
    assert ceenv.version_from_describe("abc1234") is None


def test_decrypt_matches_openssl_including_echo_newline() -> None:
    value = openssl_encrypt(f"'{PASSWORD}'\n")  # 5.1.x: echo "..." adds a newline
    assert ceenv.decrypt_value(value, f'"{SETUP_ID}"', IV) == f"'{PASSWORD}'"
    assert ceenv.decrypt_value(openssl_encrypt("bare"), SETUP_ID, IV) == "bare"  # 6.x: no newline


def test_decrypt_with_the_wrong_key_fails_without_showing_anything() -> None:
    value = openssl_encrypt(f"'{PASSWORD}'\n")
    with pytest.raises(ValueError) as failed:
        ceenv.decrypt_value(value, "another-setup-id", IV)
    assert PASSWORD not in str(failed.value) and SETUP_ID not in str(failed.value)
    with pytest.raises(ValueError):
        ceenv.decrypt_value("not base64!", SETUP_ID, IV)
    with pytest.raises(ValueError):
        ceenv.decrypt_value(value, SETUP_ID, "zz")


def install_512(ce_dir: Path, keys_location: str = "./.env.keys") -> Path:
    """A CE 5.1.2 standalone's files: plaintext JWT in .env, encrypted secrets in .env.keys."""
    ce_dir.mkdir(parents=True, exist_ok=True)
    (ce_dir / ".env").write_text(
        f"INSTALL_VERSION=5.1.2\nCORE_TAG=netskopetechnicalalliances/cloudexchange:core5-5.1.2\nJWT_SECRET={JWT}\n"
        f'CE_SETUP_ID="{SETUP_ID}"\nCE_HEX_CODE=abcdef\nCE_IV={IV}\nLOCATION={keys_location}\nIS_MPASS_CONFIGURED=True\n'
    )
    keys = Path(keys_location) if os.path.isabs(keys_location) else ce_dir / keys_location
    keys.parent.mkdir(parents=True, exist_ok=True)
    keys.write_text(
        f"MAINTENANCE_PASSWORD={openssl_encrypt(chr(39) + PASSWORD + chr(39) + chr(10))}\n"
        f"MONGO_INITDB_ROOT_PASSWORD={openssl_encrypt(PASSWORD + chr(10))}\n"
    )
    keys.chmod(0o400)
    return ce_dir


def test_read_secrets_512(tmp_path: Path) -> None:
    found = ceenv.read_secrets(str(install_512(tmp_path / "ce")))
    assert (found.maintenance_password, found.jwt_secret) == (PASSWORD, JWT)
    assert PASSWORD not in repr(found) and JWT not in repr(found)


def test_read_secrets_with_location_outside_the_folder(tmp_path: Path) -> None:
    found = ceenv.read_secrets(str(install_512(tmp_path / "ce", str(tmp_path / "etc" / ".env.keys"))))
    assert found.maintenance_password == PASSWORD and found.source == str(tmp_path / "etc" / ".env.keys")


def test_read_secrets_plaintext_50(tmp_path: Path) -> None:
    ce_dir = tmp_path / "ce"
    ce_dir.mkdir()
    (ce_dir / ".env").write_text(f"INSTALL_VERSION=5.0.1\nJWT_SECRET='{JWT}'\nLOCATION=.env.keys\n")
    (ce_dir / ".env.keys").write_text(f"MAINTENANCE_PASSWORD='{PASSWORD}'\n")
    found = ceenv.read_secrets(str(ce_dir))
    assert (found.maintenance_password, found.jwt_secret) == (PASSWORD, JWT)


def test_read_secrets_61_jwt_in_keys(tmp_path: Path) -> None:
    ce_dir = tmp_path / "ce"
    shared = tmp_path / "shared"
    (shared / "config").mkdir(parents=True)
    ce_dir.mkdir()
    (ce_dir / ".env").write_text(f'HA_NFS_DATA_DIRECTORY={shared}\nCE_SETUP_ID="{SETUP_ID}"\nCE_IV={IV}\nLOCATION={shared}/config/.env.keys\n')
    (shared / "config" / ".env").write_text("INSTALL_VERSION=6.1.0\n")
    (shared / "config" / ".env.keys").write_text(f"MAINTENANCE_PASSWORD={openssl_encrypt(repr(PASSWORD))}\nJWT_SECRET={openssl_encrypt(JWT)}\n")
    found = ceenv.read_secrets(str(ce_dir))
    assert (found.maintenance_password, found.jwt_secret) == (PASSWORD, JWT)


def write_secrets(env: NodeEnv, mp: str, jwt: str) -> None:
    os.makedirs(env.config_dir, exist_ok=True)
    path = Path(env.config_dir) / "secrets.json"
    path.write_text(json.dumps({"maintenance_password": mp, "jwt_secret": jwt}))
    path.chmod(0o600)


def inspect_run(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], tmp_path: Path, **kwargs: bool) -> tuple[Ctx, str]:
    ctx, _ = make_ctx("inspect", ce_dir=str(install_512(tmp_path / "ce")))
    result = inspect_ce.run(ctx, **kwargs)
    ctx.log.close()
    return ctx, result.line("inspect") if result.status != "reveal" else result.summary


def log_text(ctx: Ctx) -> str:
    return Path(ctx.log.path).read_text()


def test_inspect_plain_says_found_and_shows_no_secret(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], tmp_path: Path) -> None:
    ctx, line = inspect_run(make_ctx, tmp_path)
    assert line == "inspect: ok ce_version=5.1.2 maintenance_password=found jwt_secret=found"
    for text in (line, log_text(ctx)):
        assert PASSWORD not in text and JWT not in text and SETUP_ID not in text


def test_inspect_reveal_is_one_json_line(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], tmp_path: Path) -> None:
    ctx, line = inspect_run(make_ctx, tmp_path, reveal=True)
    assert json.loads(line) == {"ce_version": "5.1.2", "maintenance_password": PASSWORD, "jwt_secret": JWT}
    assert "\n" not in line
    assert PASSWORD not in log_text(ctx) and JWT not in log_text(ctx)


def test_inspect_check(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], node_env: NodeEnv, tmp_path: Path) -> None:
    write_secrets(node_env, PASSWORD, JWT)
    ctx, line = inspect_run(make_ctx, tmp_path, check=True)
    assert line == "inspect: ok CE 5.1.2: maintenance password and JWT secret match the stack"

    write_secrets(node_env, "stackPassword", JWT)
    with pytest.raises(PhaseError) as failed:
        inspect_run(make_ctx, tmp_path, check=True)
    text = failed.value.line("inspect")
    assert "cloud-exchange-ha:maintenancePassword" in text and "jwtSecret" not in text
    assert PASSWORD not in text and "stackPassword" not in text

    write_secrets(node_env, "stackPassword", "otherJwt")
    with pytest.raises(PhaseError) as failed:
        inspect_run(make_ctx, tmp_path, check=True)
    assert "cloud-exchange-ha:maintenancePassword" in failed.value.fix and "cloud-exchange-ha:jwtSecret" in failed.value.fix


def test_inspect_broken_key_material_fails_cleanly(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], tmp_path: Path) -> None:
    ce_dir = install_512(tmp_path / "ce")
    env = (ce_dir / ".env").read_text().replace(SETUP_ID, "replaced-setup-id")
    (ce_dir / ".env").write_text(env)
    ctx, _ = make_ctx("inspect", ce_dir=str(ce_dir))
    with pytest.raises(PhaseError) as failed:
        inspect_ce.run(ctx, reveal=True)
    assert "MAINTENANCE_PASSWORD" in failed.value.what and PASSWORD not in failed.value.line("inspect")


def test_cli_reveal_prints_only_json_and_check_prints_no_secret(node_env: NodeEnv, tmp_path: Path) -> None:
    """Through the entry point: stdout/stderr contracts of inspect."""
    node = make_node(tmp_path, ce_dir=str(install_512(tmp_path / "ce")))
    os.makedirs(node_env.config_dir, exist_ok=True)
    (Path(node_env.config_dir) / "node.json").write_text(node.to_json())
    out: list[str] = []
    err: list[str] = []
    assert main(["inspect", "--reveal"], env=node_env, out=out.append, err=err.append) == 0
    assert len(out) == 1 and json.loads(out[0])["jwt_secret"] == JWT and err == []

    write_secrets(node_env, "wrongPassword", JWT)
    out.clear()
    assert main(["inspect", "--check"], env=node_env, out=out.append, err=err.append) == 1
    assert out == [] and len(err) == 1 and err[0].startswith("ERROR inspect: ")
    assert PASSWORD not in err[0] and "wrongPassword" not in err[0]
    logs = "".join(p.read_text() for p in Path(node_env.log_dir).iterdir())
    assert PASSWORD not in logs and JWT not in logs and "wrongPassword" not in logs


@pytest.mark.parametrize(
    ("installed", "wanted", "says"),
    [
        ("5.1.0", "v5.1.2", "older than 5.1.1"),
        ("4.2.0", "v5.1.2", "has no HA"),
        ("5.1.2", "v5.1.1", "installed CE 5.1.2 differs from cloud-exchange-ha:ceVersion 5.1.1"),
        ("5.1.1", "v5.1.2", "installed CE 5.1.1 differs from cloud-exchange-ha:ceVersion 5.1.2"),
    ],
)
def test_inspect_check_refuses_a_version_it_cannot_migrate(
    make_ctx: Callable[..., tuple[Ctx, FakeRunner]], node_env: NodeEnv, tmp_path: Path, installed: str, wanted: str, says: str
) -> None:
    write_secrets(node_env, PASSWORD, JWT)
    ce_dir = install_512(tmp_path / "ce")
    env = (ce_dir / ".env").read_text().replace("INSTALL_VERSION=5.1.2", f"INSTALL_VERSION={installed}")
    (ce_dir / ".env").write_text(env)
    ctx, _ = make_ctx("inspect", ce_dir=str(ce_dir), ce_version=wanted)
    with pytest.raises(PhaseError) as failed:
        inspect_ce.run(ctx, check=True)
    lines = failed.value.lines("inspect")  # type: ignore[attr-defined]
    assert any(says in line for line in lines) and all(line.startswith("ERROR inspect: ") and "- fix: " in line for line in lines)
    assert not any(PASSWORD in line or JWT in line for line in lines)
