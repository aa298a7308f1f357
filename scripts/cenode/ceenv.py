"""Reading an installed CE: its ``.env`` files, its version, and its secrets (docs/ce-facts.md §5.1, §5.2).

Owns: dotenv parsing, the installed-version lookup (INSTALL_VERSION, CORE_TAG, git describe),
finding the secret file (``.env`` LOCATION), and decrypting 5.1.1+ secret values
(AES-256-CBC, key = sha256(CE_SETUP_ID), IV = CE_IV, base64, PKCS#7).

Must not touch: any file (read only). Never logs, prints or passes on the command line a key or a
decrypted value; callers decide what leaves the process. ``cryptography`` is imported only inside
:func:`decrypt_value`, so the rest works on a bare python3.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from dataclasses import dataclass

from . import release

_CORE_TAG = re.compile(r"core\d+-(\d+\.\d+\.\d+)")
_DESCRIBE = re.compile(r"^v?(\d+\.\d+\.\d+)")


def parse_dotenv(text: str, keep_quotes: bool = False) -> dict[str, str]:
    """KEY=VALUE lines as CE writes them; surrounding single or double quotes are removed once
    (unless ``keep_quotes``). A value is everything after the first ``=`` (base64 ends in ``=``).
    """
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, _, value = line.partition("=")
        value = value.strip()
        values[key.strip()] = value if keep_quotes else unquote(value)
    return values


def unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def read_dotenv(path: str, keep_quotes: bool = False) -> dict[str, str]:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return parse_dotenv(handle.read(), keep_quotes)
    except FileNotFoundError:
        return {}


def version_from_env(values: dict[str, str]) -> tuple[release.Version | None, str]:
    """The installed version from ``.env`` values: INSTALL_VERSION first, then CORE_TAG."""
    install = values.get("INSTALL_VERSION", "").strip()
    if install:
        try:
            return release.parse_version(install), "INSTALL_VERSION"
        except ValueError:
            pass
    match = _CORE_TAG.search(values.get("CORE_TAG", ""))
    if match:
        return release.parse_version(match.group(1)), "CORE_TAG"
    return None, ""


def version_from_describe(text: str) -> release.Version | None:
    """``v5.1.2`` or ``v5.1.2-3-gabc123`` (git describe --tags) -> (5, 1, 2)."""
    match = _DESCRIBE.match(text.strip())
    return release.parse_version(match.group(1)) if match else None


@dataclass
class CeFiles:
    """Where an installed CE keeps its env and secrets."""

    ce_dir: str

    @property
    def env_path(self) -> str:
        return os.path.join(self.ce_dir, ".env")

    def env(self) -> dict[str, str]:
        return read_dotenv(self.env_path)

    def shared_env(self, local: dict[str, str]) -> dict[str, str]:
        """``<HA_NFS_DATA_DIRECTORY>/config/.env`` of an HA install, or {}."""
        shared = local.get("HA_NFS_DATA_DIRECTORY", "")
        return read_dotenv(os.path.join(shared, "config", ".env")) if shared else {}

    def secret_path(self, local: dict[str, str]) -> str:
        """``.env`` LOCATION (relative to the CE folder when relative), else ``./.env.keys``."""
        location = local.get("LOCATION", "").strip() or ".env.keys"
        if not os.path.isabs(location):
            location = os.path.normpath(os.path.join(self.ce_dir, location))
        return location


def sha256_key(setup_id: str) -> bytes:
    """CE's AES key: sha256 of CE_SETUP_ID without its quotes (32 raw bytes)."""
    return hashlib.sha256(unquote(setup_id.strip()).encode("utf-8")).digest()


def decrypt_value(ciphertext_b64: str, setup_id: str, iv_hex: str) -> str:
    """Decrypt one ``.env.keys`` value of CE 5.1.1+; ValueError when it is not decryptable."""
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    try:
        raw = base64.b64decode("".join(ciphertext_b64.split()), validate=True)
        iv = bytes.fromhex(unquote(iv_hex.strip()))
    except ValueError as exc:  # binascii.Error is a ValueError
        raise ValueError("value is not base64 / CE_IV is not hex") from exc
    if len(iv) != 16 or not raw or len(raw) % 16:
        raise ValueError("ciphertext or IV has the wrong length")
    try:
        from cryptography.hazmat.backends import default_backend

        backend = default_backend()
    except ImportError:  # pragma: no cover - very new cryptography
        backend = None
    cipher = Cipher(algorithms.AES(sha256_key(setup_id)), modes.CBC(iv), backend=backend)
    decryptor = cipher.decryptor()
    padded = decryptor.update(raw) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        plain = unpadder.update(padded) + unpadder.finalize()
    except ValueError as exc:
        raise ValueError("bad padding: wrong CE_SETUP_ID/CE_IV for this value") from exc
    return plain.decode("utf-8").strip()


def strip_single_quotes(value: str) -> str:
    """MAINTENANCE_PASSWORD is stored in its single-quoted shell form ``'secret'``."""
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1]
    return value


@dataclass
class CeSecrets:
    maintenance_password: str = ""
    jwt_secret: str = ""
    source: str = ""  # where they came from, for the log (never the values)

    def __repr__(self) -> str:
        return f"CeSecrets(maintenance_password={'***' if self.maintenance_password else ''!r}, jwt={'***' if self.jwt_secret else ''!r})"


def _maybe_decrypt(raw: str, keys: dict[str, str]) -> str:
    """Decrypt a raw (still quoted) value when the install has key material (5.1.1+).

    A single-quoted raw value is the plaintext form of 4.x / 5.0.x / 5.1.0 and is returned as is.
    """
    raw = raw.strip()
    if not raw:
        return ""
    setup_id, iv = keys.get("CE_SETUP_ID", ""), keys.get("CE_IV", "")
    if raw.startswith("'") or not setup_id or not iv:
        return unquote(raw) if raw.startswith('"') else raw
    return decrypt_value(unquote(raw), setup_id, iv)


def read_secrets(ce_dir: str) -> CeSecrets:
    """Maintenance password and JWT secret of the CE installed in ``ce_dir`` (docs/ce-facts.md §5.1).

    Raises ValueError (without any secret in the text) when a value cannot be decrypted.
    """
    files = CeFiles(ce_dir)
    local = files.env()
    merged = dict(files.shared_env(local))
    merged.update(local)  # key material and LOCATION: local wins, the shared file fills gaps
    secret_file = files.secret_path(merged)
    keys_file = read_dotenv(secret_file, keep_quotes=True)
    secrets = CeSecrets(source=secret_file if keys_file else files.env_path)

    raw_local = read_dotenv(files.env_path, keep_quotes=True)
    mp = keys_file.get("MAINTENANCE_PASSWORD") or raw_local.get("MAINTENANCE_PASSWORD", "")
    if mp:
        try:
            secrets.maintenance_password = strip_single_quotes(_maybe_decrypt(mp, merged))
        except ValueError as exc:
            raise ValueError(f"MAINTENANCE_PASSWORD in {secret_file} cannot be decrypted: {exc}") from None
    if keys_file.get("JWT_SECRET"):  # 6.1+: encrypted in .env.keys
        try:
            secrets.jwt_secret = _maybe_decrypt(keys_file["JWT_SECRET"], merged)
        except ValueError as exc:
            raise ValueError(f"JWT_SECRET in {secret_file} cannot be decrypted: {exc}") from None
    else:
        secrets.jwt_secret = merged.get("JWT_SECRET", "").strip()
    return secrets
