# TEST DOUBLE of Netskope Cloud Exchange (stand-in for tests): not CE, contains no CE code.
"""``./cloudexchange.config`` of CE 6.x as docs/ce-facts.md §1.7 describes it (written from that text only).

KEY=VALUE lines, ``#`` comment lines, surrounding quotes stripped, unknown keys warned about and
ignored, an empty value means the default, ``HA_ENABLED`` is true iff ``value.lower() == "true"``,
ports and log sizes are ints. A missing file gives all defaults and a warning.
"""

from __future__ import annotations

import os

CONFIG_FILE = "cloudexchange.config"

Value = str | int | bool
Config = dict[str, Value]

DEFAULTS: Config = {
    "MAINTENANCE_PASSWORD": "",
    "JWT_SECRET": "",
    "TLS_VERSION": "1.3",
    "PROXY_URL": "",
    "PROXY_USERNAME": "",
    "PROXY_PASSWORD": "",
    "UI_PROTOCOL": "https",
    "UI_PORT": 443,
    "CE_MANAGEMENT_PORT": 8000,
    "HA_ENABLED": False,
    "HA_IP_LIST": "",
    "HA_NFS_DATA_DIRECTORY": "",
    "HA_CURRENT_NODE": "",
    "HA_PRIMARY_NODE_IP": "",
    "LOG_FILE_MAX_BYTES": "",  # CE's defaults for the two log keys are not documented
    "LOG_FILE_BACKUP_COUNT": "",
    "CE_SSL_CERTIFICATE_PASSWORD": "",
    "GLUSTERFS_BASE_PORT": 24009,
    "GLUSTERFS_MAX_PORT": 24029,
}
INT_KEYS = ("UI_PORT", "CE_MANAGEMENT_PORT", "LOG_FILE_MAX_BYTES", "LOG_FILE_BACKUP_COUNT", "GLUSTERFS_BASE_PORT", "GLUSTERFS_MAX_PORT")
#: what a successful 6.1 setup blanks in the file (docs/ce-facts.md §1.7; 6.0.x only the first two)
BLANKED_KEYS = ("MAINTENANCE_PASSWORD", "CE_SSL_CERTIFICATE_PASSWORD", "JWT_SECRET")


class ConfigError(Exception):
    """An unusable cloudexchange.config (setup exits 1)."""


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def read_config(path: str = CONFIG_FILE) -> Config:
    config: Config = dict(DEFAULTS)
    if not os.path.isfile(path):
        print(f"Warning: {path} not found; using the default configuration values.")
        return config
    with open(path, encoding="utf-8") as handle:
        for number, raw in enumerate(handle, start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if "=" not in line:
                print(f"Warning: ignoring line {number} of {path} (not KEY=VALUE).")
                continue
            key, _, value = line.partition("=")
            key, value = key.strip(), _unquote(value)
            if key not in DEFAULTS:
                print(f"Warning: unknown key '{key}' in {path} is ignored.")
                continue
            if value == "":
                continue  # empty -> default
            if key == "HA_ENABLED":
                config[key] = value.lower() == "true"
            elif key in INT_KEYS:
                try:
                    config[key] = int(value)
                except ValueError as exc:
                    raise ConfigError(f"Invalid value for {key} in {path}: {value!r} is not a number.") from exc
            else:
                config[key] = value
    if config["UI_PORT"] == config["CE_MANAGEMENT_PORT"]:
        raise ConfigError(f"UI_PORT and CE_MANAGEMENT_PORT must differ (both are {config['UI_PORT']}).")
    return config


def text(config: Config, key: str) -> str:
    value = config[key]
    return value if isinstance(value, str) else str(value)


def blank_secrets(path: str = CONFIG_FILE) -> None:
    """After success: ``KEY=`` for the secret keys, every other line kept as it was."""
    if not os.path.isfile(path):
        return
    with open(path, encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    changed = False
    for index, line in enumerate(lines):
        key = line.strip().partition("=")[0].strip()
        if "=" in line and not line.strip().startswith("#") and key in BLANKED_KEYS and line.strip() != f"{key}=":
            lines[index] = f"{key}="
            changed = True
    if changed:
        mode = os.stat(path).st_mode & 0o7777
        with open(path + ".standin-tmp", "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
        os.chmod(path + ".standin-tmp", mode)
        os.replace(path + ".standin-tmp", path)
