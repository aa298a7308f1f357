"""The guard rails of cloud-exchange-ha as plain functions, shared by the CrossGuard pack and the offline plan.

Owns: what each policy checks, its name, level and the text users see, and ``check_resources``,
which applies every policy to a list of plain resources. Two adapters feed it: ``pack.py`` from the
engine, ``offline/policies.py`` from a recorded offline run of the real program.

Must not touch: Pulumi or the policy SDK (the pack's thin adapters in ``pack.py`` convert the
engine's arguments into the plain values used here), and the project's ``offline`` or
``components`` packages: users install only ``policy/requirements.txt`` for the pack. The one
port table is read by path from the release lines in ``scripts/cenode/lines`` (standard library only).
How wide a source list may open a port is ``exposure.py``, the same function the stack settings apply.

What the real engine shows a policy differs from the offline plan (``docs/policy.md``): the engine
passes ``protect`` but neither ``retain_on_delete`` nor ``deleted_with``, strips the secret marking
from property values, and leaves outputs of resources not yet created unknown during preview
(``UNKNOWN`` here: a rule that cannot see a value does not judge it).
"""

from __future__ import annotations

import base64
import binascii
import importlib.util
import ipaddress
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

if __package__:  # imported as policy.rules (the program's side, tests)
    from . import exposure
else:  # run by the policy host from this folder (it is sys.path[0] there)
    import exposure  # type: ignore[no-redef]

PROJECT = "cloud-exchange-ha"
PACK_NAME = "cloud-exchange-ha-policies"

AMI_FROM_INSTANCE = "aws:ec2/amiFromInstance:AmiFromInstance"
EFS = "aws:efs/fileSystem:FileSystem"
INSTANCE = "aws:ec2/instance:Instance"
INSTANCE_STATE = "aws:ec2/instanceState:InstanceState"
#: what moves or adds an address on an instance: the adopted primary keeps its own
ADDRESS_TYPES = ("aws:ec2/networkInterface:NetworkInterface", "aws:ec2/networkInterfaceAttachment:NetworkInterfaceAttachment",
                 "aws:ec2/eip:Eip", "aws:ec2/eipAssociation:EipAssociation")
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
VOLUME = "aws:ebs/volume:Volume"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
SECURITY_GROUP_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
COMMAND = "command:remote:Command"
LOCAL_COMMAND = "command:local:Command"
#: the one delete script allowed: the destroy guard's (a local command; components/destroy_guard.py). It only reports the
#: applied allowDestroy and exits 0, or prints its refusal and exits 1: nothing but echo, one known variable, single quotes
DESTROY_GUARD_DELETE = re.compile(
    r'if \[ "\$\{CE_HA_ALLOW_DESTROY:-\}" = true \]; then echo "[^"$`\\]*\$\{CE_HA_ALLOW_DESTROY\}"; exit 0; fi; '
    r"echo '[^']*' >&2; exit 1"
)
#: the load balancer types (aws:alb/... are the provider's older names of the same resources)
LOAD_BALANCERS = ("aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer")
LISTENERS = ("aws:lb/listener:Listener", "aws:alb/listener:Listener")
TARGET_GROUPS = ("aws:lb/targetGroup:TargetGroup", "aws:alb/targetGroup:TargetGroup")
DEFAULT_UI_PORT = 443
COMMAND_SCRIPTS = ("create", "update", "delete")

#: stack config keys declared ``secret: true`` in Pulumi.yaml (a test keeps the two in step)
SECRET_CONFIG_KEYS = ("sshPrivateKey", "maintenancePassword", "jwtSecret")
#: shorter secret values are not searched for: they would match ordinary words
MIN_SECRET_LEN = 6
#: in a structured secret (the SSH ``connection`` is secret because its key is), only these fields count
SENSITIVE_FIELD = re.compile(r"(?i)(private_?key|password|passphrase|secret)$")
PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY")
#: base64 of "-----BEGIN": a PEM block shipped base64-encoded inside a command or user data
PRIVATE_KEY_B64 = "LS0tLS1CRUdJTi"
#: Pulumi's marker of a secret value in wire-form inputs (what the offline harness records)
SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d"  # noqa: S105 - a marker, not a secret
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"  # noqa: S105 - a marker, not a secret
#: the policy SDK's placeholders for values unknown during preview (pulumi_policy.proxy)
_UNKNOWN_SENTINELS = frozenset({
    "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7", "3eeb2bf0-c639-47a8-9e75-3b44932eb421",
    "04da6b54-80e4-46f7-96ec-b56ff0331ba9", "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2",
    "030794c1-ac77-496b-92df-f27374a8bd58", "e48ece36-62e2-4504-bad9-02848725956a",
    "dd056dcd-154b-4c76-9bd3-c8f88648b5ff",
})

Level = Literal["mandatory", "advisory"]
PortSpan = tuple[int, int]


class _Unknown:
    """A value the engine does not know yet (preview, output of a resource still to be created)."""

    def __repr__(self) -> str:
        return "<unknown during preview>"


UNKNOWN = _Unknown()


# ---- the one port table ---------------------------------------------------------------------

def _load_lines() -> ModuleType:
    """``scripts/cenode/lines`` by path (``CE_HA_CENODE_DIR`` overrides ``scripts/cenode``): stdlib only.

    The node agent's package is loaded under a private name, so nothing of the project lands on
    ``sys.path``; only the modules ``lines`` needs are executed (it imports stdlib-only siblings).
    """
    folder = Path(os.environ.get("CE_HA_CENODE_DIR") or Path(__file__).resolve().parent.parent / "scripts" / "cenode")
    if not (folder / "lines" / "__init__.py").is_file():
        raise ImportError(f"{PACK_NAME}: the CE release lines {folder / 'lines'} are missing; run the pack from the "
                          "cloud-exchange-ha repository (policy/ next to scripts/) or set CE_HA_CENODE_DIR to scripts/cenode")
    name = "_cloud_exchange_ha_cenode"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, folder / "__init__.py", submodule_search_locations=[str(folder)])
        assert spec is not None and spec.loader is not None
        package = importlib.util.module_from_spec(spec)
        sys.modules[name] = package  # dataclasses look their module up while the class is built
        spec.loader.exec_module(package)
    return importlib.import_module(f"{name}.lines")


lines = _load_lines()
#: SSH, from the release lines' table like the cluster ports
SSH_PORT: int = lines.SSH_PORT


def cluster_ports(ce_version: str | None = None) -> tuple[PortSpan, ...]:
    """TCP spans of the line of ``ce_version``; every line's ports when the version is unknown or unparsable."""
    chosen = list(lines.LINES.values())
    if ce_version:
        try:
            chosen = [lines.for_version(ce_version)]
        except (ValueError, KeyError):
            pass
    spans = {(p.from_port, p.to_port) for line in chosen for p in line.cluster_ports}
    return tuple(sorted(spans))


# ---- values -----------------------------------------------------------------------------------

def _proxy_target(value: Any) -> Any:
    """The policy SDK wraps props in read proxies that raise on unknowns; reach the raw container."""
    if isinstance(value, dict | list | str | bytes) or not isinstance(value, Mapping | Sequence):
        return value
    try:
        return value["__target"]  # type: ignore[index,call-overload]
    except (KeyError, TypeError, IndexError):
        return value


def plain(value: Any) -> Any:
    """Plain dicts/lists of the engine's (or the harness's) props; unknowns become ``UNKNOWN``."""
    value = _proxy_target(value)
    if isinstance(value, str):
        return UNKNOWN if value in _UNKNOWN_SENTINELS else value
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, bytes):
        return [plain(v) for v in value]
    return value


def is_secret(value: Any) -> bool:
    return isinstance(value, Mapping) and value.get(SECRET_SIG_KEY) == SECRET_SIG and "value" in value


def unwrap_secrets(value: Any) -> Any:
    """Wire-form inputs with every secret marker replaced by its value."""
    if is_secret(value):
        return unwrap_secrets(value["value"])
    if isinstance(value, Mapping):
        return {k: unwrap_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap_secrets(v) for v in value]
    return value


def _strings(value: Any) -> Iterator[str]:
    """Every string leaf (secret markers unwrapped)."""
    value = unwrap_secrets(value)
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _number(value: Any) -> int | None:
    if isinstance(value, bool) or value is UNKNOWN or value is None:
        return None
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def _get(props: Mapping[str, Any], *path: str | int) -> Any:
    value: Any = props
    for key in path:
        if isinstance(value, Mapping):
            value = value.get(key)  # type: ignore[call-overload]
        elif isinstance(value, list) and isinstance(key, int) and key < len(value):
            value = value[key]
        else:
            return None
    return value


def _b64decode(text: str) -> str | None:
    try:
        return base64.b64decode("".join(text.split()), validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return None


# ---- what the plain functions work on -----------------------------------------------------------

@dataclass(frozen=True)
class Resource:
    """One resource as a rule sees it, from the engine (``pack.py``) or an offline run (``offline/policies.py``)."""

    typ: str
    name: str
    #: plain values: secret markers removed, unknowns as ``UNKNOWN``
    props: Mapping[str, Any] = field(default_factory=dict)
    protect: bool = False
    retain_on_delete: bool = False
    deleted_with: str | None = None
    #: False in the real engine: it passes neither retain_on_delete nor deleted_with to policies
    full_options: bool = True
    depends_on: tuple[str, ...] = ()
    #: top-level inputs marked secret, and the values inside them (offline only: the engine strips the marking)
    secret_fields: frozenset[str] = frozenset()
    secret_values: tuple[str, ...] = ()
    urn: str | None = None


@dataclass(frozen=True)
class Context:
    """What rules need from the stack's configuration (engine: stack config; offline: the config dict)."""

    primary_instance_ids: frozenset[str] = frozenset()
    cluster_ports: tuple[PortSpan, ...] = field(default_factory=cluster_ports)
    #: values of the secret config keys (engine: decrypted in PULUMI_CONFIG; offline: the run's config)
    config_secrets: tuple[str, ...] = ()
    #: the stack's allowPublicUi: ports other than SSH may then be open to wide public ranges
    allow_public_ui: bool = False
    #: the stack's loadBalancer (none, internal, internet-facing): only internet-facing allows a public one
    load_balancer: str = "none"
    #: the stack's uiPort: the one port a load balancer listens on
    ui_port: int = DEFAULT_UI_PORT


def context_from_config(get: Callable[[str], Any], secret_keys: Iterable[str] = SECRET_CONFIG_KEYS,
                        primary_instance_id: str | None = None) -> Context:
    """A Context from a config getter over bare keys (``primaryInstanceId``, ``ceVersion``, secrets)."""
    primary = primary_instance_id or get("primaryInstanceId")
    version = get("ceVersion")
    secrets = tuple(str(v) for v in (get(k) for k in secret_keys) if isinstance(v, str) and v)
    public_ui = get("allowPublicUi")
    scheme = get("loadBalancer")
    return Context(
        primary_instance_ids=frozenset({primary} if isinstance(primary, str) and primary else set()),
        cluster_ports=cluster_ports(version if isinstance(version, str) else None),
        config_secrets=secrets,
        allow_public_ui=public_ui is True or (isinstance(public_ui, str) and public_ui.strip().lower() == "true"),
        load_balancer=scheme.strip() if isinstance(scheme, str) and scheme.strip() else "none",
        ui_port=_number(get("uiPort")) or DEFAULT_UI_PORT,
    )


@dataclass(frozen=True)
class Violation:
    """One finding: which policy, which resource (its Pulumi name), and what is wrong."""

    policy: str
    resource: str
    message: str

    def __str__(self) -> str:
        return f"[{self.policy}] {self.resource}: {self.message}"


# ---- plain validators (simple inputs, one list of messages out) ---------------------------------

def check_data_protected(typ: str, props: Mapping[str, Any], *, protect: bool, retain_on_delete: bool | None) -> list[str]:
    """Every volume that holds CE data outlives the stack (retain_on_delete: None where it is not visible).

    Backup AMI and EFS: protect and retain_on_delete. EBS volumes (6.x bricks, the only copies of
    the shared data in greenfield): retain_on_delete, not protect (it would block replacing a dead
    node). Instances: the root volume (CE's MongoDB) is not deleted on termination.
    """
    if typ == INSTANCE:
        root = props.get("rootBlockDevice")
        keep = root.get("deleteOnTermination") if isinstance(root, Mapping) else UNKNOWN  # undeclared: ce-storage-encrypted
        if keep is UNKNOWN or keep is False:
            return []
        return ["rootBlockDevice.deleteOnTermination must be False: the root volume holds this node's copy of CE's MongoDB, "
                "and a destroy would delete every copy"]
    if typ == VOLUME:
        if retain_on_delete is False:
            return ["an EBS volume (a 6.x brick: in greenfield the only copies of CE's shared data) must be declared with "
                    "retain_on_delete=True so it outlives the stack (not protect: that would block replacing a dead node)"]
        return []
    what = {AMI_FROM_INSTANCE: "the backup AMI (deleting it deletes its snapshots)",
            EFS: "the shared EFS file system (CE's config, certificates, .env.keys, tarball backups)"}.get(typ)
    if what is None:
        return []
    problems = []
    if not protect:
        problems.append(f"{what} must be declared with protect=True")
    if retain_on_delete is False:
        problems.append(f"{what} must be declared with retain_on_delete=True so it outlives the stack")
    return problems


def check_imdsv2(typ: str, props: Mapping[str, Any]) -> list[str]:
    """Every instance (and launch template) requires IMDSv2 session tokens."""
    if typ not in (INSTANCE, LAUNCH_TEMPLATE):
        return []
    tokens = _get(props, "metadataOptions", "httpTokens")
    if tokens is UNKNOWN or tokens == "required":
        return []
    return [f"metadataOptions.httpTokens is {tokens!r}, must be 'required' (IMDSv2 only)"]


def check_load_balancer_scheme(typ: str, props: Mapping[str, Any], scheme: str) -> list[str]:
    """A load balancer is internal unless the stack says loadBalancer internet-facing (AWS's default is internet-facing)."""
    if typ not in LOAD_BALANCERS:
        return []
    internal = props.get("internal")
    if internal is UNKNOWN or internal is True or scheme == "internet-facing":
        return []
    return [f"is internet-facing (internal={internal!r}) but the stack's loadBalancer is {scheme!r}: declare it internal, "
            "or set loadBalancer internet-facing when the UI is meant to be reached from the internet"]


def check_listener_ui_port(typ: str, props: Mapping[str, Any], ui_port: int) -> list[str]:
    """A listener forwards the CE UI port only, as TCP (passthrough: CE terminates TLS itself)."""
    if typ not in LISTENERS:
        return []
    problems = []
    port, protocol = props.get("port"), props.get("protocol")
    if port is not UNKNOWN and _number(port) != ui_port:
        shown = _number(port)
        problems.append(f"listens on port {shown if shown is not None else repr(port)}; the load balancer forwards only "
                        f"the CE UI port {ui_port} (uiPort)")
    if protocol is not UNKNOWN and protocol != "TCP":
        problems.append(f"protocol is {protocol!r}; the UI passes through as TCP so CE terminates TLS with its own certificate")
    return problems


def check_health_checked(typ: str, props: Mapping[str, Any]) -> list[str]:
    """A target group checks CE's UI over HTTP(S): a TCP check would keep a node whose UI is down in rotation."""
    if typ not in TARGET_GROUPS:
        return []
    check = props.get("healthCheck")
    if check is UNKNOWN:
        return []
    if not isinstance(check, Mapping) or check.get("enabled") is False:
        return ["has no health check; declare healthCheck with protocol HTTPS (HTTP with uiProtocol http) on the UI port"]
    protocol = check.get("protocol")
    if protocol is not UNKNOWN and protocol not in ("HTTP", "HTTPS"):
        return [f"health check protocol is {protocol!r}; check CE's UI with HTTPS (HTTP with uiProtocol http), not just "
                "an open port"]
    return []


def check_encrypted(typ: str, props: Mapping[str, Any]) -> list[str]:
    """Instance root and extra EBS devices, EBS volumes and EFS are encrypted."""
    def bad(value: Any) -> bool:
        return value is not UNKNOWN and value is not True

    if typ == INSTANCE:
        problems = []
        root = props.get("rootBlockDevice")
        if root is UNKNOWN:
            pass
        elif not isinstance(root, Mapping):
            problems.append("rootBlockDevice is not declared: set rootBlockDevice.encrypted=True (the image's default may be plain)")
        elif bad(root.get("encrypted")):
            problems.append("rootBlockDevice.encrypted must be True")
        devices = props.get("ebsBlockDevices")
        for index, device in enumerate(devices if isinstance(devices, list) else []):
            if isinstance(device, Mapping) and bad(device.get("encrypted")):
                problems.append(f"ebsBlockDevices[{index}] ({device.get('deviceName', '?')}).encrypted must be True")
        return problems
    if typ in (VOLUME, EFS) and bad(props.get("encrypted")):
        return [f"encrypted must be True (is {props.get('encrypted')!r})"]
    return []


@dataclass(frozen=True)
class Ingress:
    """One ingress permission, whatever resource shape it came from."""

    where: str
    protocol: str
    from_port: int
    to_port: int
    cidrs: tuple[str, ...]
    prefix_lists: tuple[str, ...]
    #: referenced security groups ("self" for a self reference; UNKNOWN while the id is not known)
    groups: tuple[Any, ...]
    #: the group the rule belongs to, when the shape names it
    owner: Any = None


def _ports(protocol: str, from_port: Any, to_port: Any) -> tuple[int, int]:
    if protocol in ("-1", "all"):
        return 0, 65535
    low, high = _number(from_port), _number(to_port)
    if low is None and high is None:
        return 0, 65535  # unknown during preview, or not given: assume the widest
    low = high if low is None else low
    high = low if high is None else high
    assert low is not None and high is not None
    if low == -1 and high == -1:
        return 0, 65535
    return low, high


def _texts(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,) if value else ()
    if isinstance(value, list):
        return tuple(v for v in value if isinstance(v, str) and v)
    return ()


def ingress_permissions(typ: str, props: Mapping[str, Any]) -> list[Ingress]:
    """The ingress permissions of a standalone ingress rule, a legacy rule, or a group's inline rules."""
    found: list[Ingress] = []
    groups: tuple[Any, ...]
    if typ == INGRESS_RULE:
        protocol = str(props.get("ipProtocol", "")).lower()
        low, high = _ports(protocol, props.get("fromPort"), props.get("toPort"))
        ref = props.get("referencedSecurityGroupId")
        groups = () if ref is None else ("self" if ref == props.get("securityGroupId") and isinstance(ref, str) else ref,)
        found.append(Ingress("rule", protocol, low, high, _texts(props.get("cidrIpv4")) + _texts(props.get("cidrIpv6")),
                             _texts(props.get("prefixListId")), groups, props.get("securityGroupId")))
    elif typ == SECURITY_GROUP_RULE and props.get("type") == "ingress":
        protocol = str(props.get("protocol", "")).lower()
        low, high = _ports(protocol, props.get("fromPort"), props.get("toPort"))
        source = props.get("sourceSecurityGroupId")
        groups = ("self",) if props.get("self") is True else (() if source is None else (source,))
        if source is not None and source == props.get("securityGroupId") and isinstance(source, str):
            groups = ("self",)
        found.append(Ingress("rule", protocol, low, high, _texts(props.get("cidrBlocks")) + _texts(props.get("ipv6CidrBlocks")),
                             _texts(props.get("prefixListIds")), groups, props.get("securityGroupId")))
    elif typ == SECURITY_GROUP:
        inline = props.get("ingress")
        for index, rule in enumerate(inline if isinstance(inline, list) else []):
            if not isinstance(rule, Mapping):
                continue
            protocol = str(rule.get("protocol", "")).lower()
            low, high = _ports(protocol, rule.get("fromPort"), rule.get("toPort"))
            groups = (("self",) if rule.get("self") is True else ()) + _texts(rule.get("securityGroups"))
            found.append(Ingress(f"ingress[{index}]", protocol, low, high,
                                 _texts(rule.get("cidrBlocks")) + _texts(rule.get("ipv6CidrBlocks")),
                                 _texts(rule.get("prefixListIds")), groups))
    return found


def _tcp(protocol: str) -> bool:
    return protocol in ("tcp", "6", "-1", "all")


def _whole_internet(cidr: str) -> bool:
    try:
        return ipaddress.ip_network(cidr, strict=False).prefixlen == 0
    except ValueError:
        return False


def _span(low: int, high: int) -> str:
    return str(low) if low == high else f"{low}-{high}"


def check_no_public_ssh(typ: str, props: Mapping[str, Any]) -> list[str]:
    """No ingress covering TCP 22 from 0.0.0.0/0 or ::/0."""
    problems = []
    for rule in ingress_permissions(typ, props):
        if _tcp(rule.protocol) and rule.from_port <= SSH_PORT <= rule.to_port:
            for cidr in rule.cidrs:
                if _whole_internet(cidr):
                    problems.append(f"{rule.where}: ports {_span(rule.from_port, rule.to_port)} include SSH (22) and are open to {cidr}; "
                                    "use sshCidrs or bastionSecurityGroupId")
    return problems


def check_cluster_ports(typ: str, props: Mapping[str, Any], ports: Sequence[PortSpan]) -> list[str]:
    """Ingress on a CE cluster port comes from a security group (the node group itself), never a CIDR."""
    problems = []
    for rule in ingress_permissions(typ, props):
        if not _tcp(rule.protocol):
            continue
        hit = [(low, high) for low, high in ports if low <= rule.to_port and rule.from_port <= high]
        if not hit:
            continue
        names = ", ".join(_span(low, high) for low, high in hit)
        if rule.cidrs or rule.prefix_lists:
            sources = ", ".join(rule.cidrs + rule.prefix_lists)
            problems.append(f"{rule.where}: CE cluster port(s) {names} open to {sources}; cluster ports are for cluster members only "
                            "(reference the node security group itself)")
        elif not rule.groups:
            problems.append(f"{rule.where}: CE cluster port(s) {names} without a referenced security group")
        else:
            others = [g for g in rule.groups if g != "self" and isinstance(g, str) and isinstance(rule.owner, str)]
            if others:
                problems.append(f"{rule.where}: CE cluster port(s) {names} opened to another group ({', '.join(others)}); "
                                "only the node group itself may reach them")
    return problems


def check_public_sources(resources: Sequence[Resource], context: Context) -> list[Violation]:
    """Ingress CIDRs, per resource and together: SSH within a /16 of public addresses, other ports too unless allowPublicUi.

    The rule of the sshCidrs/uiCidrs settings (``exposure``): no malformed or IPv6 source, no
    permission declared twice, no public range wider than a /16 alone or as the union of a port
    class (SSH; every other port). Cluster ports have their own policy and are left to it.
    """
    name = PUBLIC_SOURCES
    violations: list[Violation] = []
    classes: dict[str, list[tuple[str, str]]] = {"SSH": [], "other": []}
    seen: set[tuple[Any, str, int, int, str]] = set()
    for resource in resources:
        for rule in ingress_permissions(resource.typ, resource.props):
            ssh = _tcp(rule.protocol) and rule.from_port <= SSH_PORT <= rule.to_port
            if not ssh and any(low <= rule.to_port and rule.from_port <= high for low, high in context.cluster_ports):
                continue
            kind = "SSH" if ssh else "other"
            allow_public = context.allow_public_ui and not ssh
            what = "SSH" if ssh else f"port(s) {_span(rule.from_port, rule.to_port)}"
            hint = ("use sshCidrs with your admin networks or bastionSecurityGroupId" if ssh
                    else "narrow uiCidrs, or set allowPublicUi true when the UI is meant to be public")
            for cidr in rule.cidrs:
                key = (rule.owner if isinstance(rule.owner, str) else resource.name, rule.protocol, rule.from_port, rule.to_port, cidr)
                if key in seen:
                    violations.append(Violation(name, resource.name, f"{rule.where}: {cidr} on {what} is declared twice; declare it once"))
                    continue
                seen.add(key)
                problem = exposure.single_problem(cidr, allow_public=allow_public, what=what, hint=hint)
                if problem:
                    violations.append(Violation(name, resource.name, f"{rule.where}: {problem}"))
                elif not allow_public:
                    classes[kind].append((resource.name, cidr))
    for kind, found in classes.items():
        union = exposure.union_problem(dict.fromkeys(c for _, c in found),
                                       what="SSH" if kind == "SSH" else "the nodes' other ports",
                                       hint="narrow sshCidrs" if kind == "SSH" else "narrow uiCidrs or set allowPublicUi true")
        if union:
            violations.append(Violation(name, found[0][0], union))
    return violations


def _script_texts(typ: str, props: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(field, text) of every command string and user data, base64 user data decoded too."""
    texts: list[tuple[str, str]] = []
    if typ == COMMAND:
        for key in COMMAND_SCRIPTS:
            value = props.get(key)
            if isinstance(value, str):
                texts.append((key, value))
    elif typ in (INSTANCE, LAUNCH_TEMPLATE):
        for key in ("userData", "userDataBase64"):
            value = props.get(key)
            if not isinstance(value, str):
                continue
            texts.append((key, value))
            if key == "userDataBase64" or typ == LAUNCH_TEMPLATE:
                decoded = _b64decode(value)
                if decoded:
                    texts.append((key, decoded))
    return texts


def check_no_private_key(typ: str, props: Mapping[str, Any]) -> list[str]:
    """No PEM private key (plain or base64) in a remote command string or in user data."""
    problems = []
    for key in dict.fromkeys(k for k, text in _script_texts(typ, props) if PRIVATE_KEY.search(text) or PRIVATE_KEY_B64 in text):
        problems.append(f"{key} contains a private key; send keys on stdin or in a root-only file (CopyToRemote), never in {key}")
    return problems


def secret_needles(values: Iterable[str]) -> list[str]:
    """The strings to look for: each secret, its base64, and the body lines of a PEM block."""
    needles: dict[str, None] = {}
    for value in values:
        if len(value.strip()) < MIN_SECRET_LEN:
            continue
        needles[value] = None
        needles[base64.b64encode(value.encode()).decode()] = None
        if "\n" in value.strip():
            for line in value.splitlines():
                line = line.strip()
                if len(line) >= 16 and not line.startswith("-----"):
                    needles[line] = None
    return list(needles)


def secrets_in_wire_inputs(inputs: Mapping[str, Any]) -> tuple[frozenset[str], tuple[str, ...]]:
    """Top-level inputs marked secret, and the secret strings inside any marker (offline view).

    A string marked secret counts whole (and, when it is JSON, each of its strings); inside a
    structured secret only fields named like a key, password, passphrase or secret count (the SSH
    ``connection`` is secret because of its ``privateKey``, not because of ``host`` or ``user``).
    """
    fields = frozenset(k for k, v in inputs.items() if is_secret(v))
    found: list[str] = []

    def secret(value: Any, structured: bool) -> None:
        if isinstance(value, str):
            found.append(value)
            try:
                parsed = json.loads(value)
            except ValueError:
                return
            if isinstance(parsed, dict | list):
                found.extend(_strings(parsed))
        elif isinstance(value, Mapping):
            for k, v in value.items():
                if SENSITIVE_FIELD.search(str(k)):
                    found.extend(_strings(v))
                elif isinstance(v, Mapping | list):
                    secret(v, True)
        elif isinstance(value, list):
            for v in value:
                if not (structured and isinstance(v, str)):
                    secret(v, structured)

    def walk(value: Any) -> None:
        if is_secret(value):
            secret(unwrap_secrets(value["value"]), False)
        elif isinstance(value, Mapping):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(inputs)
    return fields, tuple(dict.fromkeys(found))


def sensitive_fields(props: Mapping[str, Any]) -> list[str]:
    """Strings under fields named like a key, password, passphrase or secret (the engine's only clue)."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, Mapping):
            for k, v in value.items():
                if SENSITIVE_FIELD.search(str(k)):
                    found.extend(_strings(v))
                else:
                    walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(props)
    return found


def check_no_stack_secret(resources: Sequence[Resource], extra_secrets: Iterable[str] = ()) -> list[Violation]:
    """No value that is a secret elsewhere in the stack appears in plain in a command string or user data."""
    name = NO_STACK_SECRET
    values: list[str] = list(extra_secrets)
    for resource in resources:
        values.extend(resource.secret_values)
        values.extend(sensitive_fields(resource.props))
    needles = secret_needles(values)
    violations = []
    for resource in resources:
        texts = _script_texts(resource.typ, resource.props)
        for key in dict.fromkeys(k for k, _ in texts):
            if key in resource.secret_fields:
                violations.append(Violation(name, resource.name, f"{key} is marked secret, so a secret went into it; pulumi-command "
                                            "prints the command on failure: pass secrets on stdin instead"))
                continue
            if any(needle in text for k, text in texts if k == key for needle in needles):
                violations.append(Violation(name, resource.name, f"{key} contains a value that is a secret in this stack, in plain "
                                            "text (pulumi-command prints it on failure, state keeps it); pass it on stdin or in a root-only file"))
    return violations


_TAG_MAPS = frozenset({"tags", "tagsAll", "volumeTags"})


def _identifying_strings(value: Any) -> Iterator[str]:
    """String properties that could name an instance; of tag maps only ``Name`` (extra tags may cite the primary)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if key in _TAG_MAPS:
                if isinstance(item, Mapping) and isinstance(item.get("Name"), str):
                    yield item["Name"]
            else:
                yield from _identifying_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _identifying_strings(item)


def _host(resource: Resource) -> str | None:
    host = _get(resource.props, "connection", "host")
    return host if isinstance(host, str) else None


def primary_ids(resources: Sequence[Resource], context: Context) -> frozenset[str]:
    """The adopted primary: from the config, and from every backup AMI's sourceInstanceId."""
    ids = set(context.primary_instance_ids)
    for resource in resources:
        source = resource.props.get("sourceInstanceId") if resource.typ == AMI_FROM_INSTANCE else None
        if isinstance(source, str) and source:
            ids.add(source)
    return frozenset(ids)


def steps_on_primary(resources: Sequence[Resource], context: Context) -> list[Resource]:
    """Remote steps whose SSH host is the primary's: the host of any step that waits for its backup AMI."""
    ids = primary_ids(resources, context)
    backups = {r.name for r in resources if r.typ == AMI_FROM_INSTANCE and r.props.get("sourceInstanceId") in ids}
    hosts = {_host(r) for r in resources if r.typ.startswith("command:remote:") and backups & set(r.depends_on)} - {None}
    return [r for r in resources if r.typ.startswith("command:remote:") and _host(r) in hosts]


def check_primary_not_managed(resources: Sequence[Resource], context: Context) -> list[Violation]:
    """The adopted primary is read, never owned, stopped, or the target of a destructive step."""
    name = PRIMARY_NOT_MANAGED
    ids = primary_ids(resources, context)
    violations = []
    for resource in resources:
        if resource.typ in (INSTANCE, INSTANCE_STATE) and ids:
            named = sorted(i for i in ids if i in resource.name or any(i in s for s in _identifying_strings(resource.props)))
            if named:
                violations.append(Violation(name, resource.name, f"{resource.typ} refers to the adopted primary {named[0]}: "
                                            "it is only read (aws.ec2.get_instance), never managed, stopped or replaced"))
        if resource.typ in ADDRESS_TYPES and ids:
            named = sorted(i for i in ids if any(i in s for s in _identifying_strings(resource.props)))
            if named:
                violations.append(Violation(name, resource.name, f"{resource.typ} attaches to the adopted primary {named[0]}: "
                                            "the primary keeps its own addresses; only the new nodes have interfaces of this stack"))
        if resource.typ in (COMMAND, LOCAL_COMMAND):
            delete = resource.props.get("delete")
            guard = resource.typ == LOCAL_COMMAND and isinstance(delete, str) and DESTROY_GUARD_DELETE.fullmatch(delete) is not None
            if not guard and (delete is UNKNOWN or (isinstance(delete, str) and delete.strip())):
                violations.append(Violation(name, resource.name, f"{resource.typ} has a delete script: pulumi destroy would run it "
                                            "(over SSH destructively on the adopted primary, or against a host already gone)"))
    for step in steps_on_primary(resources, context):
        if step.full_options and step.deleted_with:
            violations.append(Violation(name, step.name, f"step on the adopted primary is deleted_with {step.deleted_with}: the primary "
                                        "is not a resource of this stack, nothing here may stand for its lifetime"))
    return violations


# ---- the policies: names, levels, what users read ----------------------------------------------

DATA_PROTECTED = "ce-data-protected"
PRIMARY_NOT_MANAGED = "ce-adopted-primary-never-managed"
IMDSV2 = "ce-imdsv2-required"
ENCRYPTED = "ce-storage-encrypted"
NO_PUBLIC_SSH = "ce-no-public-ssh"
PUBLIC_SOURCES = "ce-public-sources-narrow"
CLUSTER_PORTS = "ce-cluster-ports-members-only"
NO_PRIVATE_KEY = "ce-no-private-key-in-commands"
NO_STACK_SECRET = "ce-no-stack-secret-in-commands"  # noqa: S105 - a policy name
LB_SCHEME = "ce-load-balancer-internal-unless-asked"
LB_LISTENER = "ce-load-balancer-ui-port-only"
LB_HEALTH = "ce-load-balancer-health-checked"


@dataclass(frozen=True)
class PolicySpec:
    name: str
    kind: Literal["resource", "stack"]
    level: Level
    description: str


POLICIES: tuple[PolicySpec, ...] = (
    PolicySpec(DATA_PROTECTED, "resource", "mandatory",
               "Every volume that holds CE data outlives the stack. The backup AMI of the adopted primary (aws:ec2/amiFromInstance) "
               "and the EFS shared folder (aws:efs/fileSystem) are declared protect=True and retain_on_delete=True: deleting an "
               "AmiFromInstance deletes its snapshots, and a replaced EFS is a new, empty file system. Every aws:ebs/volume (the "
               "6.x GlusterFS bricks) is retain_on_delete=True, not protect (that would block replacing a dead node). Every "
               "aws:ec2/instance has rootBlockDevice.deleteOnTermination=False (the root volume holds the node's MongoDB). The "
               "engine passes protect to policies but not retain_on_delete, so pulumi preview checks protect and the root volume "
               "only; the offline plan (make plan) checks all."),
    PolicySpec(PRIMARY_NOT_MANAGED, "stack", "mandatory",
               "The adopted standalone primary is only read, never managed: no aws:ec2/instance or aws:ec2/instanceState may name "
               "its id (stack config primaryInstanceId, this policy's primaryInstanceId, or the backup AMI's sourceInstanceId), no "
               "network interface, interface attachment, Elastic IP or EIP association may attach to it (it keeps its own addresses), no "
               "command:remote:Command or command:local:Command may have a delete script (but the destroy guard's local one, which "
               "only reports allowDestroy or refuses), and no remote step on the primary may be "
               "deleted_with another resource. The engine passes neither deleted_with nor an import id to policies: those are checked "
               "offline only."),
    PolicySpec(IMDSV2, "resource", "mandatory",
               "Every EC2 instance (and launch template) requires IMDSv2: metadataOptions.httpTokens = 'required'."),
    PolicySpec(ENCRYPTED, "resource", "mandatory",
               "Storage is encrypted: every instance's root block device (declared, encrypted=True) and extra EBS block devices, "
               "every aws:ebs/volume and every aws:efs/fileSystem. Values unknown during preview are not judged."),
    PolicySpec(NO_PUBLIC_SSH, "resource", "mandatory",
               "No ingress opens TCP 22 (or a range or all-protocols rule covering it) to 0.0.0.0/0 or ::/0, in "
               "aws:vpc/securityGroupIngressRule, aws:ec2/securityGroupRule or a security group's inline ingress."),
    PolicySpec(PUBLIC_SOURCES, "stack", "mandatory",
               "Ingress sources are IPv4 CIDRs, each permission declared once, and public ranges (outside RFC 1918, 100.64.0.0/10 "
               "and the other special-purpose ranges) reach at most a /16 worth of addresses, per rule and as the union of every rule "
               "(0.0.0.0/1 + 128.0.0.0/1 counts as the whole internet): for SSH always, for every other port (the CE UI) unless the "
               "stack sets allowPublicUi true. Cluster ports are judged by ce-cluster-ports-members-only. The same rule as the "
               "sshCidrs/uiCidrs settings (policy/exposure.py)."),
    PolicySpec(CLUSTER_PORTS, "resource", "mandatory",
               "Ingress on a CE cluster port (RabbitMQ, MongoDB, GlusterFS, CE management; the port table of "
               "scripts/cenode/lines for the stack's ceVersion, every line's ports when unknown) references a security group, "
               "the node group itself when its id is known, never a CIDR or prefix list."),
    PolicySpec(NO_PRIVATE_KEY, "resource", "mandatory",
               "No private key (-----BEGIN ... PRIVATE KEY-----, plain or base64) in a command:remote:Command create/update/delete "
               "string or in instance user data: pulumi-command prints the command on failure and state keeps it. Send keys on stdin "
               "or in a root-only file."),
    PolicySpec(NO_STACK_SECRET, "stack", "mandatory",
               "No secret of this stack appears in plain in a command:remote:Command create/update/delete string or in instance user "
               "data. Secrets are the stack's secret config values (sshPrivateKey, maintenancePassword, jwtSecret: the engine gives "
               "the pack the decrypted config), fields named like a key, password or secret, and (offline only, the engine strips "
               "the marking) every value inside a secret-marked input. Values shorter than 6 characters are not searched."),
    PolicySpec(LB_SCHEME, "resource", "mandatory",
               "A load balancer (aws:lb/loadBalancer) is declared internal=True unless the stack sets loadBalancer "
               "internet-facing (AWS makes a load balancer internet-facing when internal is not set)."),
    PolicySpec(LB_LISTENER, "resource", "mandatory",
               "A load balancer listener (aws:lb/listener) listens on the stack's uiPort (default 443) and nothing else, "
               "with protocol TCP: the UI passes through and CE terminates TLS with its own certificate."),
    PolicySpec(LB_HEALTH, "resource", "mandatory",
               "A target group (aws:lb/targetGroup) declares an enabled health check over HTTP or HTTPS (CE's UI answering, "
               "not just an open port), so a dead node leaves rotation."),
)

SPECS = {spec.name: spec for spec in POLICIES}

ResourceCheck = Callable[[Resource, Context], list[str]]
StackCheck = Callable[[Sequence[Resource], Context], list[Violation]]

#: one entry point per policy with a uniform signature: what both adapters (the pack's and the offline plan's) call
RESOURCE_CHECKS: dict[str, ResourceCheck] = {
    DATA_PROTECTED: lambda r, c: check_data_protected(r.typ, r.props, protect=r.protect,
                                                      retain_on_delete=r.retain_on_delete if r.full_options else None),
    IMDSV2: lambda r, c: check_imdsv2(r.typ, r.props),
    ENCRYPTED: lambda r, c: check_encrypted(r.typ, r.props),
    NO_PUBLIC_SSH: lambda r, c: check_no_public_ssh(r.typ, r.props),
    CLUSTER_PORTS: lambda r, c: check_cluster_ports(r.typ, r.props, c.cluster_ports),
    NO_PRIVATE_KEY: lambda r, c: check_no_private_key(r.typ, r.props),
    LB_SCHEME: lambda r, c: check_load_balancer_scheme(r.typ, r.props, c.load_balancer),
    LB_LISTENER: lambda r, c: check_listener_ui_port(r.typ, r.props, c.ui_port),
    LB_HEALTH: lambda r, c: check_health_checked(r.typ, r.props),
}
STACK_CHECKS: dict[str, StackCheck] = {
    PRIMARY_NOT_MANAGED: check_primary_not_managed,
    NO_STACK_SECRET: lambda resources, c: check_no_stack_secret(resources, c.config_secrets),
    PUBLIC_SOURCES: check_public_sources,
}


def check_resources(resources: Sequence[Resource], context: Context) -> list[Violation]:
    """Every policy over a list of resources (the offline plan's path; the engine calls the same checks one by one)."""
    violations = [Violation(name, resource.name, message)
                  for resource in resources for name, check in RESOURCE_CHECKS.items() for message in check(resource, context)]
    for check_stack in STACK_CHECKS.values():
        violations.extend(check_stack(resources, context))
    order = {spec.name: index for index, spec in enumerate(POLICIES)}
    return sorted(violations, key=lambda v: order[v.policy])
