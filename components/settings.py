"""Typed, validated stack settings: the only consumer of Pulumi config (read by ``stack_config``).

Owns: the list of settings (read from ``Pulumi.yaml``'s ``config:`` block, the one source of their
names, types, defaults and descriptions), converting raw config strings to typed values, and every
rule a setting must obey. All problems are collected and reported at once, each naming the key as
the user types it (``cloud-exchange-ha:<key>``) and what to change, before any resource exists.

Must not touch: AWS, the network, resources. Secret values live in ``SecretStr`` and are only
unwrapped into ``pulumi.Output.secret`` by the caller; they never reach a message.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

import yaml
from pydantic import BaseModel, ConfigDict, SecretStr, TypeAdapter, ValidationError, field_validator

from components import stack_config, ui_certificate
from components.bundle import INSTALL_DIR
from policy import exposure
from scripts.cenode import lines, release
from scripts.cenode.nodeconfig import CONTROL_CHARACTERS, FORBIDDEN_IN_JWT, FORBIDDEN_IN_PASSWORD, refused_characters

PROJECT = "cloud-exchange-ha"
PROJECT_FILE = Path(__file__).resolve().parent.parent / "Pulumi.yaml"

#: folders the shared folder may be neither nor lie inside: the OS, its state, users' homes and
#: scratch space (an EFS/GlusterFS mount there hides what the system or the SSH user need, and
#: ``mount`` would rewrite their fstab line). ``/lib*`` covers lib32, lib64 and libx32.
SYSTEM_TREES = ("/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/proc", "/root", "/run", "/sbin", "/snap",
                "/sys", "/tmp", "/usr", "/var", "/lost+found")  # noqa: S108 - a folder refused, not used
#: folders that hold other things side by side: a sub-folder is fine (6.x's /opt/shared/data), the
#: folder itself is not (mounting over /opt hides ceDir and the node bundle)
SHARED_PARENTS = ("/opt", "/mnt", "/media", "/srv")
#: AWS tag limits per resource (the program adds Project and Name itself)
MAX_TAGS, MAX_TAG_KEY, MAX_TAG_VALUE = 50, 128, 256
PROGRAM_TAG_KEYS = ("Project", "Name")
#: what to set for a required setting whose plain "is required" would not say enough
REQUIRED_HINTS = {
    "ceVersion": (
        "is not set, and has no default on purpose (a default that changed would silently make an existing cluster an "
        "upgrade): set the version the cluster runs, e.g. pulumi config set ceVersion v5.1.2 for an existing 5.x cluster; "
        "for a new cluster pulumi config set ceVersion v6.1.0 (CE 5.x is end of life on 2026-10-31)"
    ),
}
DEFAULT_INSTANCE_TYPE = "m5.2xlarge"
DEFAULT_ROOT_GB = 100
MIN_ROOT_GB = {8: 80, 16: 120}  # CE's disk check: 90 % of these totals (docs/ce-facts.md §4)
#: vCPU of an instance size suffix on the x86 general/compute/memory families CE runs on
VCPU_BY_SIZE = {
    "medium": 1, "large": 2, "xlarge": 4, "2xlarge": 8, "3xlarge": 12, "4xlarge": 16,
    "6xlarge": 24, "8xlarge": 32, "9xlarge": 36, "12xlarge": 48, "16xlarge": 64,
    "18xlarge": 72, "24xlarge": 96, "32xlarge": 128, "48xlarge": 192, "metal": 0,
}


def key(name: str) -> str:
    """A setting's name as the user types it with ``pulumi config set``."""
    return f"{PROJECT}:{name}"


class Problem(BaseModel):
    """One thing wrong with one setting."""

    model_config = ConfigDict(frozen=True)
    setting: str
    message: str

    def __str__(self) -> str:
        return f"{key(self.setting)}: {self.message}"


class SettingsError(Exception):
    """Every problem with the stack's settings, for one clear message."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        lines = [f"  - {problem}" for problem in problems]
        super().__init__(
            f"{len(problems)} stack setting(s) need attention (nothing was created):\n" + "\n".join(lines)
        )


class Settings(BaseModel):
    """The whole stack configuration, typed. Field names are the config keys in snake case."""

    model_config = ConfigDict(frozen=True)

    mode: Literal["migrate", "greenfield"]
    primary_instance_id: str
    vpc_id: str
    subnet_ids: list[str]
    allow_same_zone: bool
    node_count: int
    instance_type: str
    root_volume_size_gb: int
    ce_version: str
    ce_repo_url: str
    ce_dir: str
    ssh_user: str
    ssh_private_key: SecretStr
    key_pair_name: str
    bastion_host: str
    bastion_user: str
    bastion_security_group_id: str
    ssh_cidrs: list[str]
    ui_cidrs: list[str]
    allow_public_ui: bool
    load_balancer: Literal["none", "internal", "internet-facing"]
    load_balancer_subnet_ids: list[str]
    ui_dns_name: str
    hosted_zone_id: str
    shared_dir: str
    maintenance_password: SecretStr
    jwt_secret: SecretStr
    ui_protocol: Literal["https", "http"]
    ui_port: int
    tls12: bool
    proxy_url: str
    tenant_url: str
    ui_certificate_file: str
    ui_certificate_key_file: str
    backup_reboot: bool
    backup_tarball: bool
    allow_destroy: bool
    allow_undersized: bool
    assign_public_ip: bool
    docker_repo_url: str
    pip_index_url: str
    gluster_volume_size_gb: int
    tags: list[str]

    @field_validator("ce_version")
    @classmethod
    def _tag_spelling(cls, value: str) -> str:
        """Trimmed and spelled as CE's repository spells the tag (``release.tag_name``)."""
        try:
            return release.tag_name(value)
        except ValueError:
            return value.strip()

    # ---- derived facts, one place each -------------------------------------------------------
    @property
    def version(self) -> release.Version:
        return release.parse_version(self.ce_version)

    @property
    def line(self) -> lines.ReleaseLine:
        return lines.line_for(self.version)

    @property
    def effective_shared_dir(self) -> str:
        return self.shared_dir or self.line.default_shared_dir

    @property
    def new_node_count(self) -> int:
        return self.node_count - 1 if self.mode == "migrate" else self.node_count

    @property
    def tag_map(self) -> dict[str, str]:
        pairs = (entry.split("=", 1) for entry in self.tags)
        return {"Project": PROJECT, **{k.strip(): v.strip() for k, v in pairs}}

    @property
    def effective_bastion_user(self) -> str:
        return self.bastion_user or self.ssh_user


# ---- the schema, from Pulumi.yaml -------------------------------------------------------------


@cache
def schema(project_file: Path = PROJECT_FILE) -> dict[str, dict[str, Any]]:
    """``Pulumi.yaml``'s config block: key -> {type, description, default?, secret?}."""
    with open(project_file, encoding="utf-8") as handle:
        return dict(yaml.safe_load(handle)["config"])


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def camel(field: str) -> str:
    head, *rest = field.split("_")
    return head + "".join(part.capitalize() for part in rest)


# ---- raw strings -> typed values --------------------------------------------------------------


def _coerce(name: str, spec: Mapping[str, Any], raw: Any) -> Any:
    """Convert one raw config value (a string from the engine, or already typed) by its schema type."""
    kind = spec.get("type", "string")
    if kind == "string" or raw is None:
        return raw
    if isinstance(raw, str):
        if kind == "boolean":
            lowered = raw.strip().lower()
            if lowered not in ("true", "false"):
                raise ValueError("must be true or false")
            return lowered == "true"
        if kind == "integer":
            try:
                return int(raw.strip())
            except ValueError:
                raise ValueError("must be a whole number") from None
        if kind == "array":
            try:
                value = json.loads(raw)
            except json.JSONDecodeError:
                raise ValueError(
                    f"must be a list; set it with: pulumi config set --path '{name}[0]' VALUE"
                ) from None
            if not isinstance(value, list):
                raise ValueError(f"must be a list; set it with: pulumi config set --path '{name}[0]' VALUE")
            return value
    return raw


def _typed(raw: Mapping[str, Any], problems: list[Problem]) -> dict[str, Any]:
    """Apply schema defaults and types; report missing required keys and bad types."""
    values: dict[str, Any] = {}
    fields = Settings.model_fields
    for name, spec in schema().items():
        value = raw.get(name)
        if value is None:
            if "default" in spec:
                value = spec["default"]
            else:
                how = "--secret " if spec.get("secret") else ""
                problems.append(Problem(setting=name, message=REQUIRED_HINTS.get(
                    name, f"is required; set it with: pulumi config set {how}{name} ...")))
                continue
        try:
            value = _coerce(name, spec, value)
            annotation: Any = fields[snake(name)].annotation
            values[snake(name)] = TypeAdapter(annotation).validate_python(value, strict=False)
        except ValueError as error:
            problems.append(Problem(setting=name, message=_first_line(error, spec)))
    unknown = sorted(set(raw) - set(schema()))
    for name in unknown:
        problems.append(Problem(setting=name, message="is not a setting of this project; remove it (pulumi config rm ...) or fix its spelling"))
    return values


def _first_line(error: ValueError, spec: Mapping[str, Any]) -> str:
    if isinstance(error, ValidationError):
        detail = error.errors()[0]
        expected = spec.get("type", "string")
        if detail["type"] == "literal_error":
            return f"is {detail['input']!r}; {detail['msg'].lower()}"
        return f"must be of type {expected}: {detail['msg'].lower()}"
    return str(error)


# ---- rules ------------------------------------------------------------------------------------

Rule = Callable[[dict[str, Any]], list[Problem]]
RULES: list[tuple[tuple[str, ...], Rule]] = []


def rule(*needs: str) -> Callable[[Rule], Rule]:
    """Register a rule that runs when every field it needs converted cleanly."""

    def register(function: Rule) -> Rule:
        RULES.append((needs, function))
        return function

    return register


def _p(setting: str, message: str) -> list[Problem]:
    return [Problem(setting=setting, message=message)]


@rule("mode", "primary_instance_id")
def _primary(v: dict[str, Any]) -> list[Problem]:
    pid = v["primary_instance_id"]
    if v["mode"] == "migrate" and not pid:
        return _p("primaryInstanceId", "is required in migrate mode: the id (i-...) of the running standalone CE instance")
    if v["mode"] == "greenfield" and pid:
        return _p("primaryInstanceId", "must be empty in greenfield mode (nothing is adopted); unset it or use mode migrate")
    if pid and not re.fullmatch(r"i-[0-9a-f]{8}([0-9a-f]{9})?", pid):
        return _p("primaryInstanceId", f"{pid!r} is not an EC2 instance id like i-0123456789abcdef0")
    return []


@rule("vpc_id")
def _vpc(v: dict[str, Any]) -> list[Problem]:
    if not re.fullmatch(r"vpc-[0-9a-f]{8}([0-9a-f]{9})?", v["vpc_id"]):
        return _p("vpcId", f"{v['vpc_id']!r} is not a VPC id; set the VPC of the cluster (vpc-...)")
    return []


@rule("node_count")
def _count(v: dict[str, Any]) -> list[Problem]:
    n = v["node_count"]
    if n < 3 or n > 7 or n % 2 == 0:
        return _p("nodeCount", f"is {n}; use an odd number from 3 to 7 so the MongoDB replica set keeps a majority")
    return []


@rule("mode", "subnet_ids", "node_count", "allow_same_zone")
def _subnets(v: dict[str, Any]) -> list[Problem]:
    subnets: list[str] = v["subnet_ids"]
    wanted = v["node_count"] - 1 if v["mode"] == "migrate" else v["node_count"]
    problems = []
    bad = [s for s in subnets if not re.fullmatch(r"subnet-[0-9a-f]{8}([0-9a-f]{9})?", s)]
    if bad:
        problems += _p("subnetIds", f"{bad} are not subnet ids (subnet-...)")
    if len(subnets) != wanted:
        problems += _p(
            "subnetIds",
            f"has {len(subnets)} subnet(s); {v['mode']} with nodeCount {v['node_count']} needs {wanted}, "
            "one per new node, each in its own availability zone",
        )
    if len(set(subnets)) != len(subnets) and not v["allow_same_zone"]:
        problems += _p("subnetIds", "lists a subnet twice, which puts two nodes in one zone; list distinct subnets or set allowSameZone true")
    return problems


def vcpu_of(instance_type: str) -> int | None:
    """vCPU count of an instance type by its size suffix; None when the name is not family.size."""
    if "." not in instance_type:
        return None
    return VCPU_BY_SIZE.get(instance_type.split(".", 1)[1])


@rule("instance_type", "allow_undersized")
def _instance(v: dict[str, Any]) -> list[Problem]:
    """A first check by the size in the name; ``topology`` then asks AWS (vCPU and architecture)."""
    itype = v["instance_type"]
    if not itype:
        return []
    vcpu = vcpu_of(itype)
    if vcpu is None:
        return _p("instanceType", f"{itype!r} is not an EC2 instance type like m5.2xlarge")
    if vcpu not in (8, 16) and not v["allow_undersized"]:
        return _p(
            "instanceType",
            f"{itype} has {vcpu} vCPU; CE's setup accepts exactly 8 or 16 vCPU: use e.g. m5.2xlarge (8) or m5.4xlarge (16)",
        )
    return []


@rule("root_volume_size_gb", "instance_type", "allow_undersized")
def _root(v: dict[str, Any]) -> list[Problem]:
    size = v["root_volume_size_gb"]
    if size == 0:
        return []
    need = MIN_ROOT_GB.get(vcpu_of(v["instance_type"] or DEFAULT_INSTANCE_TYPE) or 8, 80)
    if size < need and not v["allow_undersized"]:
        return _p("rootVolumeSizeGb", f"is {size}; CE needs at least {need} GB for this instance size")
    if size > 16384:
        return _p("rootVolumeSizeGb", f"is {size}; gp3 volumes are at most 16384 GB")
    return []


@rule("ce_version")
def _version(v: dict[str, Any]) -> list[Problem]:
    tag = v["ce_version"]
    try:
        version = release.parse_version(tag)
    except ValueError as error:
        return _p("ceVersion", f"{error}")
    if version < release.HA_MIN_VERSION:
        return _p("ceVersion", f"{tag} predates HA, which starts at CE 5.0.0: upgrade the standalone and use v5.1.2 or later")
    if version < release.DRIVER_MIN_VERSION:
        return _p(
            "ceVersion",
            f"{tag} opens setup with a version menu this program does not drive: upgrade CE to v5.1.2 first "
            f"(minimum {release.format_version(release.DRIVER_MIN_VERSION)})",
        )
    try:
        lines.line_for(version)
    except KeyError:
        return _p("ceVersion", f"{tag} is on CE {version[0]}.x, which this program does not know; lines known: "
                  + ", ".join(line.name for line in lines.LINES.values()))
    return []


def _url_safety(setting: str, url: str) -> list[Problem]:
    """No option-looking value and no credentials in a URL that lands in state, node.json, argv and logs."""
    if url.startswith("-"):
        return _p(setting, f"{url!r} starts with '-', which git, apt and pip would read as an option; give the URL itself")
    parsed = urlparse(url)
    if parsed.password is not None or (parsed.scheme in ("http", "https") and parsed.username):
        return _p(setting, "carries credentials (user:password@ or token@), which would land in plain state, node.json, the "
                           "command line and logs: remove them (mirrors that need a token are not supported yet, see the "
                           "README's Security model)")
    return []


@rule("ce_repo_url")
def _repo(v: dict[str, Any]) -> list[Problem]:
    url = v["ce_repo_url"]
    unsafe = _url_safety("ceRepoUrl", url)
    if unsafe:
        return unsafe
    parsed = urlparse(url)
    if parsed.scheme in ("https", "http", "ssh", "git", "file") and (parsed.netloc or parsed.scheme == "file"):
        return []
    if re.fullmatch(r"[\w.-]+@[\w.-]+:[\w./-]+", url):  # scp-like git@host:org/repo.git
        return []
    return _p("ceRepoUrl", f"{url!r} is not a git URL (https://..., ssh://..., git@host:org/repo.git)")


def _abs_path(setting: str, path: str) -> list[Problem]:
    if not path.startswith("/") or any(ch in path for ch in " '\"\\$`;&|"):
        return _p(setting, f"{path!r} must be an absolute path without spaces, quotes or shell characters")
    return []


@rule("ce_dir")
def _ce_dir(v: dict[str, Any]) -> list[Problem]:
    return _abs_path("ceDir", v["ce_dir"])


def _within(path: str, tree: str) -> bool:
    """``path`` is ``tree`` or lies inside it (both normalized absolute paths)."""
    return tree == "/" or path == tree or path.startswith(tree + "/")


def system_tree(path: str) -> str | None:
    """The system folder ``path`` is or lies in (``/`` itself included), else None."""
    if path == "/":
        return "/"
    top = "/" + path.split("/")[1]
    if top in SYSTEM_TREES or top.startswith("/lib"):
        return top
    return path if path in SHARED_PARENTS else None


@rule("shared_dir", "ce_version", "ce_dir")
def _shared(v: dict[str, Any]) -> list[Problem]:
    path = v["shared_dir"]
    try:
        line: lines.ReleaseLine | None = lines.for_version(v["ce_version"])
    except (ValueError, KeyError):
        line = None
    if not path:
        return _shared_overlaps("ceDir", line.default_shared_dir, v["ce_dir"]) if line else []
    problems = _abs_path("sharedDir", path)
    if problems:
        return problems
    if ".." in path.split("/"):
        return _p("sharedDir", f"{path!r} contains '..'; write the folder's real absolute path")
    if line is not None and line.fixed_shared_dir and path != line.default_shared_dir:
        return _p("sharedDir", f"CE {line.name} fixes the shared folder at {line.default_shared_dir}; unset sharedDir")
    shared = posixpath.normpath(path)
    tree = system_tree(shared)
    if tree is not None:
        where = "is the root folder" if tree == "/" else (f"is {tree}" if shared == tree else f"lies inside {tree}")
        return _p("sharedDir", f"{path} {where}; the share would be mounted over a folder the system needs: "
                               f"use a folder of its own such as {lines.CE5.default_shared_dir} (the default)")
    return _shared_overlaps("sharedDir", shared, v["ce_dir"])


def _shared_overlaps(blamed: str, shared: str, ce_dir: str) -> list[Problem]:
    """The shared folder must neither be, contain nor lie inside CE's checkout or the node bundle's folder."""
    shared = posixpath.normpath(shared)
    for name, other in (("ceDir", posixpath.normpath(ce_dir)), ("the node bundle's folder", INSTALL_DIR)):
        if not other.startswith("/"):
            continue
        if _within(shared, other) or _within(other, shared):
            relation = "is" if shared == other else ("lies inside" if _within(shared, other) else "contains")
            fix = (f"set sharedDir to a folder apart from both (e.g. {lines.CE5.default_shared_dir})" if blamed == "sharedDir"
                   else f"move ceDir out of the shared folder {shared}")
            return _p(blamed, f"the shared folder {shared} {relation} {name} {other}: mounting the share there would hide "
                              f"the files already in it (and back up the empty share); {fix}")
    return []


@rule("ssh_user")
def _user(v: dict[str, Any]) -> list[Problem]:
    if not re.fullmatch(r"[a-z_][a-z0-9_-]{0,31}", v["ssh_user"]):
        return _p("sshUser", f"{v['ssh_user']!r} is not a Linux user name")
    return []


@rule("ssh_private_key")
def _key(v: dict[str, Any]) -> list[Problem]:
    text = v["ssh_private_key"].get_secret_value()
    if not re.search(r"-----BEGIN [A-Z ]*PRIVATE KEY-----", text):
        return _p("sshPrivateKey", "is not a PEM private key; set it with: pulumi config set --secret sshPrivateKey < key.pem")
    return []


@rule("key_pair_name")
def _key_pair(v: dict[str, Any]) -> list[Problem]:
    if not v["key_pair_name"]:
        return _p("keyPairName", "is required: the EC2 key pair (public half of sshPrivateKey) for the new nodes")
    return []


@rule("ssh_cidrs", "bastion_security_group_id", "bastion_host")
def _ssh(v: dict[str, Any]) -> list[Problem]:
    problems = [Problem(setting="sshCidrs", message=m) for m in exposure.cidr_problems(
        v["ssh_cidrs"], what="SSH", hint="list your admin networks or reach the nodes through a bastion (bastionSecurityGroupId)")]
    if not v["ssh_cidrs"] and not v["bastion_security_group_id"]:
        problems += _p("sshCidrs", "is empty and no bastionSecurityGroupId is set: nothing could reach the nodes to configure them")
    sg = v["bastion_security_group_id"]
    if sg and not re.fullmatch(r"sg-[0-9a-f]{8}([0-9a-f]{9})?", sg):
        problems += _p("bastionSecurityGroupId", f"{sg!r} is not a security group id (sg-...)")
    host = v["bastion_host"]
    if host and not re.fullmatch(r"[A-Za-z0-9.:-]+", host):
        problems += _p("bastionHost", f"{host!r} is not a host name or IP address")
    return problems


@rule("ui_cidrs", "allow_public_ui")
def _ui_cidrs(v: dict[str, Any]) -> list[Problem]:
    return [Problem(setting="uiCidrs", message=m) for m in exposure.cidr_problems(
        v["ui_cidrs"], allow_public=v["allow_public_ui"], what="the CE UI",
        hint="list the networks of the UI's users, or set allowPublicUi true when the UI is meant to be public")]


@rule("load_balancer", "load_balancer_subnet_ids", "ui_cidrs")
def _load_balancer(v: dict[str, Any]) -> list[Problem]:
    mode, subnets = v["load_balancer"], v["load_balancer_subnet_ids"]
    problems = []
    bad = [s for s in subnets if not re.fullmatch(r"subnet-[0-9a-f]{8}([0-9a-f]{9})?", s)]
    if bad:
        problems += _p("loadBalancerSubnetIds", f"{bad} are not subnet ids (subnet-...)")
    if mode == "internet-facing":
        if not subnets:
            problems += _p("loadBalancerSubnetIds", "is required with loadBalancer internet-facing: public subnets of the "
                                                    "load balancer, one in each availability zone of the nodes")
        if not v["ui_cidrs"]:
            problems += _p("uiCidrs", "is empty; an internet-facing load balancer needs the networks of the UI's users listed "
                                      "explicitly (0.0.0.0/0 only together with allowPublicUi true)")
    elif subnets:
        problems += _p("loadBalancerSubnetIds", f"is only used with loadBalancer internet-facing (it is {mode}); unset it "
                                                "(an internal load balancer uses the nodes' subnets)")
    return problems


@rule("load_balancer", "ui_dns_name", "hosted_zone_id")
def _ui_dns(v: dict[str, Any]) -> list[Problem]:
    name, zone = v["ui_dns_name"], v["hosted_zone_id"]
    problems = []
    if name and not re.fullmatch(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}", name):
        problems += _p("uiDnsName", f"{name!r} is not a DNS name like ce.example.com (lower case, no scheme, port or trailing dot)")
    if zone and not re.fullmatch(r"Z[A-Z0-9]{1,31}", zone):
        problems += _p("hostedZoneId", f"{zone!r} is not a Route 53 hosted zone id like Z0123456789ABCDEFGHIJ")
    if name and not zone:
        problems += _p("hostedZoneId", "is required with uiDnsName: the Route 53 hosted zone that holds it")
    if zone and not name:
        problems += _p("uiDnsName", "is required with hostedZoneId: the name of the CE UI in that zone")
    if (name or zone) and v["load_balancer"] == "none":
        problems += _p("uiDnsName", "names the load balancer, and loadBalancer is none: set loadBalancer internal "
                                    "(or internet-facing), or unset uiDnsName and hostedZoneId")
    return problems


@rule("load_balancer", "ui_dns_name", "ui_certificate_file")
def _ui_certificate_names(v: dict[str, Any]) -> list[Problem]:
    """With a load balancer, users browse to uiDnsName: the UI certificate must carry that name."""
    cert, name = v["ui_certificate_file"], v["ui_dns_name"]
    if not cert or v["load_balancer"] == "none" or not Path(cert).is_file():
        return []  # no certificate, no balancer, or _certs reports the unreadable file
    if not name:
        return _p("uiDnsName", "is required with uiCertificateFile and a load balancer: the name users browse to, which the "
                               "certificate must cover (the load balancer's own DNS name is only known after it exists)")
    try:
        names = ui_certificate.dns_names(cert)
    except ValueError:
        return _p("uiCertificateFile", f"{cert!r} is not a PEM certificate")
    if not ui_certificate.covered_by(names, name):
        listed = ", ".join(names) if names else "no DNS names"
        return _p("uiCertificateFile", f"does not cover uiDnsName {name} (its subjectAltName lists {listed}); use a "
                                       "certificate issued for that name, or set uiDnsName to a name it covers")
    return []


def _forbidden(setting: str, secret: SecretStr, forbidden: tuple[str, ...]) -> list[Problem]:
    value = secret.get_secret_value()
    if not value:
        return _p(setting, f"is empty; set it with: pulumi config set --secret {setting} ...")
    bad = refused_characters(value, forbidden)
    if any(ch in CONTROL_CHARACTERS for ch in bad):
        return _p(setting, "contains a control character (newline, carriage return, tab, NUL ...), which CE's prompt drops, so CE "
                           f"would store another value than the stack: set it again without them (pulumi config set --secret {setting})")
    if bad:
        shown = " ".join(repr(ch) for ch in forbidden if ch not in CONTROL_CHARACTERS)
        return _p(setting, f"contains a character CE refuses; do not use any of {shown}")
    return []


@rule("maintenance_password")
def _mpass(v: dict[str, Any]) -> list[Problem]:
    return _forbidden("maintenancePassword", v["maintenance_password"], FORBIDDEN_IN_PASSWORD)


@rule("jwt_secret")
def _jwt(v: dict[str, Any]) -> list[Problem]:
    return _forbidden("jwtSecret", v["jwt_secret"], FORBIDDEN_IN_JWT)


@rule("ui_port", "ui_protocol", "ce_version")
def _ui_port(v: dict[str, Any]) -> list[Problem]:
    port = v["ui_port"]
    if not 1 <= port <= 65535:
        return _p("uiPort", f"is {port}; use a TCP port from 1 to 65535 (443 for https)")
    if port == 8000:
        return _p("uiPort", "8000 is CE's management port; pick another UI port")
    if port == lines.SSH_PORT:
        return _p("uiPort", "22 is SSH; pick another UI port (443 for https)")
    if port == lines.NFS_PORT:
        return _p("uiPort", "2049 is NFS (the shared folder); pick another UI port (443 for https)")
    try:
        judged = [lines.for_version(v["ce_version"])]
    except (ValueError, KeyError):
        judged = list(lines.LINES.values())  # ceVersion has its own error; judge against every line meanwhile
    for line in judged:
        for cluster_port in line.cluster_ports:
            if cluster_port.from_port <= port <= cluster_port.to_port:
                return _p("uiPort", f"{port} is a CE {line.name} cluster port ({cluster_port.purpose}); opening it to uiCidrs "
                                    "would expose it: pick another UI port (443 for https)")
    return []


@rule("ui_protocol", "tls12")
def _tls(v: dict[str, Any]) -> list[Problem]:
    if v["ui_protocol"] == "http" and v["tls12"]:
        return _p("tls12", "has no meaning with uiProtocol http; unset it or use https")
    return []


@rule("proxy_url")
def _proxy(v: dict[str, Any]) -> list[Problem]:
    url = v["proxy_url"]
    if not url:
        return []
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname or parsed.path not in ("", "/"):
        return _p("proxyUrl", f"{url!r} must look like http(s)://host:port")
    if parsed.password:
        return _p("proxyUrl", "must not carry a password; CE asks proxy credentials separately")
    try:
        port = parsed.port
    except ValueError:
        port = 0
    if port == 0:
        return _p("proxyUrl", f"{url!r} has a port that is not a number from 1 to 65535; write it as http(s)://host:port")
    return []


@rule("tenant_url")
def _tenant(v: dict[str, Any]) -> list[Problem]:
    url = v["tenant_url"]
    if url == "test":
        return []
    parsed = urlparse(url)
    if parsed.scheme != "https" or not parsed.hostname or parsed.path not in ("", "/") or parsed.query:
        return _p("tenantUrl", f"{url!r} must be https://<tenant>.goskope.com without a path, or test")
    return []


@rule("ui_certificate_file", "ui_certificate_key_file", "mode", "ce_version")
def _certs(v: dict[str, Any]) -> list[Problem]:
    cert, cert_key = v["ui_certificate_file"], v["ui_certificate_key_file"]
    if bool(cert) != bool(cert_key):
        return _p("uiCertificateFile", "and uiCertificateKeyFile go together; set both or neither")
    problems = []
    for name, path in (("uiCertificateFile", cert), ("uiCertificateKeyFile", cert_key)):
        if path and not Path(path).is_file():
            problems += _p(name, f"{path!r} is not a readable file")
    if cert and v["mode"] == "migrate":
        problems += _p("uiCertificateFile", "migrate keeps the standalone's UI certificate; unset it")
    try:
        line: lines.ReleaseLine | None = lines.for_version(v["ce_version"])
    except (ValueError, KeyError):  # the ceVersion rule reports it
        line = None
    if cert and line and not line.takes_configured_ui_certificate:
        problems += _p("uiCertificateFile", f"is not supported for CE {line.name} yet; unset it and install the certificate with CE's own tools")
    return problems


@rule("gluster_volume_size_gb")
def _gluster(v: dict[str, Any]) -> list[Problem]:
    if not 20 <= v["gluster_volume_size_gb"] <= 16384:
        return _p("glusterVolumeSizeGb", "must be between 20 and 16384 GB")
    return []


@rule("tags")
def _tags(v: dict[str, Any]) -> list[Problem]:
    bad = [t for t in v["tags"] if "=" not in t or not t.split("=", 1)[0].strip()]
    if bad:
        return _p("tags", f"{bad} are not Key=Value entries")
    pairs = [(k.strip(), value.strip()) for k, value in (t.split("=", 1) for t in v["tags"])]
    problems = []
    if any(k.lower().startswith("aws:") for k, _ in pairs):
        problems += _p("tags", "keys starting with aws: are reserved by AWS")
    long_keys = [k[:20] + "..." for k, _ in pairs if len(k) > MAX_TAG_KEY]
    if long_keys:
        problems += _p("tags", f"keys {long_keys} are longer than AWS's {MAX_TAG_KEY} characters; shorten them")
    long_values = [k for k, value in pairs if len(value) > MAX_TAG_VALUE]
    if long_values:
        problems += _p("tags", f"the values of {long_values} are longer than AWS's {MAX_TAG_VALUE} characters; shorten them")
    total = len({*PROGRAM_TAG_KEYS, *(k for k, _ in pairs)})
    if total > MAX_TAGS:
        problems += _p("tags", f"gives resources {total} tags with the program's own {' and '.join(PROGRAM_TAG_KEYS)}; AWS allows "
                               f"{MAX_TAGS} per resource: drop {total - MAX_TAGS}")
    return problems


@rule("docker_repo_url", "pip_index_url")
def _mirrors(v: dict[str, Any]) -> list[Problem]:
    problems = []
    for name, field in (("dockerRepoUrl", "docker_repo_url"), ("pipIndexUrl", "pip_index_url")):
        url = v[field]
        if field == "docker_repo_url" and url == "os":
            continue
        unsafe = _url_safety(name, url)
        if unsafe:
            problems += unsafe
            continue
        if url and name == "dockerRepoUrl" and (urlparse(url).scheme != "https" or not urlparse(url).netloc):
            # the nodes fetch the repo's signing key from <url>/gpg: only over https (never an unsigned repo)
            problems += _p(name, f"{url!r} must be an https URL (its signing key is fetched from <url>/gpg) or os")
        elif url and (urlparse(url).scheme not in ("http", "https") or not urlparse(url).netloc):
            problems += _p(name, f"{url!r} must be an http(s) URL")
    return problems


# ---- entry points -----------------------------------------------------------------------------


def parse(raw: Mapping[str, Any]) -> Settings:
    """Raw config (key -> string or typed value, keys without the project prefix) -> Settings.

    Raises SettingsError listing every problem found.
    """
    problems: list[Problem] = []
    values = _typed(raw, problems)
    for needs, check in RULES:
        if all(field in values for field in needs):
            problems += check(values)
    if problems:
        raise SettingsError(problems)
    return Settings(**values)


def raw_from_pulumi() -> dict[str, Any]:
    """The stack's config values for this project, as the engine hands them to the program."""
    return stack_config.raw_values(PROJECT, schema())


def load() -> Settings:
    """Settings of the running stack; raises SettingsError before any resource is declared."""
    return parse(raw_from_pulumi())
