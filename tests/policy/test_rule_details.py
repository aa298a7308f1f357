"""The policy rules word for word: each message users read, each boundary, and the value plumbing under the rules.

Complements test_policies.py (each rule compliant and not, the adapters, the program's graph) with
what a rule says exactly, which shapes of an ingress permission it reads, and the loading of the
release lines' port table. Ports are CE's from docs/ce-facts.md §3 (SSH 22, UI 443, MongoDB 27017,
GlusterFS 24007 and 24009-24029, CE management 8000), written here, not read from the module.
"""

from __future__ import annotations

import base64
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from policy import rules

ROOT = Path(__file__).resolve().parents[2]
PRIMARY = "i-0123456789abcdef0"
NODE_SG = "sg-0node"
PEER_SG = "sg-0peer"
UI_HINT = "narrow uiCidrs, or set allowPublicUi true when the UI is meant to be public"
SSH_HINT = "use sshCidrs with your admin networks or bastionSecurityGroupId"
NO_CONFIG: dict[str, Any] = {}


def secret(value: Any) -> dict[str, Any]:
    return {rules.SECRET_SIG_KEY: rules.SECRET_SIG, "value": value}


def remote(name: str, create: str, host: Any = "10.0.1.10", **options: Any) -> rules.Resource:
    return rules.Resource(rules.COMMAND, name, {"create": create, "connection": {"host": host, "user": "ubuntu"}}, **options)


# ---- the release lines' port table, loaded by path ---------------------------------------------

@pytest.fixture
def unloaded_lines(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No copy of the node agent's package loaded yet, and no CE_HA_CENODE_DIR (both restored afterwards)."""
    for key in [k for k in sys.modules if k.split(".")[0] == "_cloud_exchange_ha_cenode"]:
        monkeypatch.delitem(sys.modules, key)
    monkeypatch.delenv("CE_HA_CENODE_DIR", raising=False)
    yield


def test_the_release_lines_load_from_scripts_cenode_under_a_private_name(unloaded_lines: None) -> None:
    loaded = rules._load_lines()
    assert loaded.__name__ == "_cloud_exchange_ha_cenode.lines"
    assert Path(loaded.__file__ or "") == ROOT / "scripts" / "cenode" / "lines" / "__init__.py"
    assert loaded.SSH_PORT == 22
    package = sys.modules["_cloud_exchange_ha_cenode"]
    assert Path(package.__file__ or "") == ROOT / "scripts" / "cenode" / "__init__.py"
    assert list(package.__path__) == [str(ROOT / "scripts" / "cenode")]
    assert "scripts" not in {Path(p).name for p in sys.path}


def test_missing_release_lines_are_named_with_the_way_out(unloaded_lines: None, monkeypatch: pytest.MonkeyPatch,
                                                          tmp_path: Path) -> None:
    monkeypatch.setenv("CE_HA_CENODE_DIR", str(tmp_path))
    with pytest.raises(ImportError) as raised:
        rules._load_lines()
    assert str(raised.value) == (
        f"cloud-exchange-ha-policies: the CE release lines {tmp_path / 'lines'} are missing; run the pack from the "
        "cloud-exchange-ha repository (policy/ next to scripts/) or set CE_HA_CENODE_DIR to scripts/cenode")


# ---- values ---------------------------------------------------------------------------------------

def test_unknown_values_show_as_unknown_during_preview() -> None:
    assert repr(rules.UNKNOWN) == "<unknown during preview>"


def test_plain_values() -> None:
    sentinel = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
    assert rules.plain(("a", sentinel, {"k": (sentinel,)})) == ["a", rules.UNKNOWN, {"k": [rules.UNKNOWN]}]
    assert rules.plain({"__target": [1]}) == {"__target": [1]}  # a plain dict is never taken for a proxy
    assert rules.plain(b"bytes") == b"bytes"


def test_secret_markers_are_unwrapped_in_lists() -> None:
    assert rules.unwrap_secrets([secret("pw-one"), "plain", [secret({"k": secret("v")})]]) == ["pw-one", "plain", [{"k": "v"}]]


def test_path_lookup() -> None:
    props = {"a": [{"b": 5}, "x"], "s": "text"}
    assert rules._get(props, "a", 0, "b") == 5
    assert rules._get(props, "a", 1) == "x"
    assert rules._get(props, "a", 2) is None
    assert rules._get(props, "s", 0) is None  # a string is not a list
    assert rules._get(props, "a", "b") is None


def test_strict_base64_with_whitespace_and_replaced_bytes() -> None:
    assert rules._b64decode("aGVs\nbG8=") == "hello"
    assert rules._b64decode("aGVs bG8=") == "hello"
    assert rules._b64decode("aGVsbG8=!") is None
    assert rules._b64decode("@@@@aGVsbG8=") is None
    assert rules._b64decode(base64.b64encode(b"\xff ok").decode()) == "\ufffd ok"


# ---- the stack's configuration ---------------------------------------------------------------------

def test_context_from_the_stack_config() -> None:
    config = {"loadBalancer": " internal ", "uiPort": "8443", "allowPublicUi": False, "ceVersion": "v5.1.2",
              "sshPrivateKey": "", "maintenancePassword": 12345678, "jwtSecret": "jwt-secret-9152"}
    context = rules.context_from_config(config.get)
    assert context.load_balancer == "internal"
    assert context.ui_port == 8443
    assert context.allow_public_ui is False
    assert context.config_secrets == ("jwt-secret-9152",)
    assert (27017, 27017) in context.cluster_ports and (24007, 24007) not in context.cluster_ports


def test_context_defaults() -> None:
    context = rules.context_from_config({"loadBalancer": "  ", "uiPort": True}.get)
    assert context.load_balancer == "none"
    assert context.ui_port == 443
    assert rules.context_from_config(NO_CONFIG.get).load_balancer == "none"
    assert rules.context_from_config(NO_CONFIG.get).ui_port == 443
    assert rules.context_from_config({"allowPublicUi": " TRUE "}.get).allow_public_ui is True
    assert rules.context_from_config({"allowPublicUi": True}.get).allow_public_ui is True
    assert rules.context_from_config({"loadBalancer": "internet-facing"}.get).load_balancer == "internet-facing"


def test_a_version_that_is_not_text_means_every_line() -> None:
    every = rules.context_from_config(NO_CONFIG.get).cluster_ports
    assert rules.context_from_config({"ceVersion": 6.1}.get).cluster_ports == every
    assert {(24007, 24007), (27017, 27017), (5672, 5672)} <= set(every)


# ---- ce-data-protected ---------------------------------------------------------------------------

def test_data_protected_messages() -> None:
    instance = {"rootBlockDevice": {"encrypted": True, "deleteOnTermination": True}}
    assert rules.check_data_protected(rules.INSTANCE, instance, protect=False, retain_on_delete=None) == [
        "rootBlockDevice.deleteOnTermination must be False: the root volume holds this node's copy of CE's MongoDB, "
        "and a destroy would delete every copy"]
    assert rules.check_data_protected(rules.VOLUME, {}, protect=False, retain_on_delete=False) == [
        "an EBS volume (a 6.x brick: in greenfield the only copies of CE's shared data) must be declared with "
        "retain_on_delete=True so it outlives the stack (not protect: that would block replacing a dead node)"]
    assert rules.check_data_protected(rules.AMI_FROM_INSTANCE, {}, protect=False, retain_on_delete=False) == [
        "the backup AMI (deleting it deletes its snapshots) must be declared with protect=True",
        "the backup AMI (deleting it deletes its snapshots) must be declared with retain_on_delete=True so it outlives the stack"]
    assert rules.check_data_protected(rules.EFS, {}, protect=False, retain_on_delete=False) == [
        "the shared EFS file system (CE's config, certificates, .env.keys, tarball backups) must be declared with protect=True",
        "the shared EFS file system (CE's config, certificates, .env.keys, tarball backups) must be declared with "
        "retain_on_delete=True so it outlives the stack"]


def test_check_resources_reports_each_rule_message() -> None:
    brick = rules.Resource(rules.VOLUME, "ce-2-brick", {"encrypted": True}, retain_on_delete=False)
    assert rules.check_resources([brick], rules.Context()) == [rules.Violation(
        rules.DATA_PROTECTED, "ce-2-brick",
        "an EBS volume (a 6.x brick: in greenfield the only copies of CE's shared data) must be declared with "
        "retain_on_delete=True so it outlives the stack (not protect: that would block replacing a dead node)")]


# ---- ce-imdsv2-required / ce-storage-encrypted ---------------------------------------------------

def test_imdsv2_options_that_are_not_a_map() -> None:
    assert rules.check_imdsv2(rules.INSTANCE, {"metadataOptions": ["required"]}) == [
        "metadataOptions.httpTokens is None, must be 'required' (IMDSv2 only)"]


def test_encryption_messages() -> None:
    assert rules.check_encrypted(rules.INSTANCE, {}) == [
        "rootBlockDevice is not declared: set rootBlockDevice.encrypted=True (the image's default may be plain)"]
    assert rules.check_encrypted(rules.INSTANCE, {"rootBlockDevice": {"encrypted": False}, "ebsBlockDevices": [
        {"deviceName": "/dev/sdf", "encrypted": True}, {"encrypted": False}, {"deviceName": "/dev/sdh"}]}) == [
        "rootBlockDevice.encrypted must be True", "ebsBlockDevices[1] (?).encrypted must be True",
        "ebsBlockDevices[2] (/dev/sdh).encrypted must be True"]
    assert rules.check_encrypted(rules.VOLUME, {"encrypted": False}) == ["encrypted must be True (is False)"]
    assert rules.check_encrypted(rules.EFS, {}) == ["encrypted must be True (is None)"]


# ---- ingress permissions: the three resource shapes -------------------------------------------

def test_a_standalone_ingress_rule() -> None:
    props = {"securityGroupId": NODE_SG, "ipProtocol": "TCP", "fromPort": 24009.0, "toPort": 24029.0, "cidrIpv4": "10.0.0.0/16",
             "cidrIpv6": "fd00::/8", "prefixListId": "pl-1", "referencedSecurityGroupId": PEER_SG}
    assert rules.ingress_permissions(rules.INGRESS_RULE, props) == [
        rules.Ingress("rule", "tcp", 24009, 24029, ("10.0.0.0/16", "fd00::/8"), ("pl-1",), (PEER_SG,), NODE_SG)]
    bare = {"securityGroupId": NODE_SG, "fromPort": 443.0, "toPort": 443.0, "cidrIpv4": ""}
    assert rules.ingress_permissions(rules.INGRESS_RULE, bare) == [rules.Ingress("rule", "", 443, 443, (), (), (), NODE_SG)]


def test_a_legacy_security_group_rule() -> None:
    props = {"type": "ingress", "securityGroupId": NODE_SG, "protocol": "tcp", "fromPort": 5000.0, "toPort": 5100.0,
             "cidrBlocks": ["10.0.0.0/16", "", 5, None], "ipv6CidrBlocks": ["fd00::/8"], "prefixListIds": ["pl-1"],
             "sourceSecurityGroupId": PEER_SG}
    assert rules.ingress_permissions(rules.SECURITY_GROUP_RULE, props) == [
        rules.Ingress("rule", "tcp", 5000, 5100, ("10.0.0.0/16", "fd00::/8"), ("pl-1",), (PEER_SG,), NODE_SG)]


@pytest.mark.parametrize(("peer", "groups"), [
    ({"sourceSecurityGroupId": NODE_SG}, ("self",)),  # the group itself, named by id
    ({"self": True}, ("self",)),
    ({"self": False}, ()),
    ({}, ()),
])
def test_a_legacy_rules_peer(peer: dict[str, Any], groups: tuple[str, ...]) -> None:
    props = {"type": "ingress", "securityGroupId": NODE_SG, "fromPort": 27017.0, "toPort": 27017.0, **peer}
    assert rules.ingress_permissions(rules.SECURITY_GROUP_RULE, props) == [rules.Ingress("rule", "", 27017, 27017, (), (), groups, NODE_SG)]


def test_inline_ingress_of_a_security_group() -> None:
    props = {"ingress": [
        None,
        {"protocol": "TCP", "fromPort": 8000.0, "toPort": 8000.0, "cidrBlocks": ["10.0.0.0/16"], "ipv6CidrBlocks": ["fd00::/8"],
         "prefixListIds": ["pl-1"], "securityGroups": [PEER_SG], "self": True},
        {"fromPort": 22.0, "toPort": 22.0},
        {"protocol": "-1", "fromPort": 22.0, "toPort": 22.0},
    ]}
    assert rules.ingress_permissions(rules.SECURITY_GROUP, props) == [
        rules.Ingress("ingress[1]", "tcp", 8000, 8000, ("10.0.0.0/16", "fd00::/8"), ("pl-1",), ("self", PEER_SG)),
        rules.Ingress("ingress[2]", "", 22, 22, (), (), ()),
        rules.Ingress("ingress[3]", "-1", 0, 65535, (), (), ()),
    ]


@pytest.mark.parametrize(("protocol", "ports", "span"), [
    ("tcp", {"fromPort": 443.0}, (443, 443)),
    ("tcp", {"toPort": 443.0}, (443, 443)),
    ("tcp", {}, (0, 65535)),  # not given (or unknown): the widest
    ("-1", {"fromPort": 22.0, "toPort": 22.0}, (0, 65535)),
    ("all", {"fromPort": 22.0, "toPort": 22.0}, (0, 65535)),
    ("icmp", {"fromPort": -1.0, "toPort": -1.0}, (0, 65535)),
    ("icmp", {"fromPort": 8.0, "toPort": -1.0}, (8, -1)),  # echo request, every code: not "all ports"
])
def test_port_spans(protocol: str, ports: dict[str, float], span: tuple[int, int]) -> None:
    for typ, props in ((rules.INGRESS_RULE, {"ipProtocol": protocol, **ports}),
                       (rules.SECURITY_GROUP_RULE, {"type": "ingress", "protocol": protocol, **ports}),
                       (rules.SECURITY_GROUP, {"ingress": [{"protocol": protocol, **ports}]})):
        (rule,) = rules.ingress_permissions(typ, props)
        assert (rule.from_port, rule.to_port) == span, typ


# ---- ce-no-public-ssh ------------------------------------------------------------------------------

def test_public_ssh_messages() -> None:
    rule = {"securityGroupId": NODE_SG, "ipProtocol": "tcp", "fromPort": 22.0, "toPort": 22.0, "cidrIpv4": "0.0.0.0/0"}
    assert rules.check_no_public_ssh(rules.INGRESS_RULE, rule) == [
        "rule: ports 22 include SSH (22) and are open to 0.0.0.0/0; use sshCidrs or bastionSecurityGroupId"]
    group = {"ingress": [{"protocol": "6", "fromPort": 20.0, "toPort": 30.0, "cidrBlocks": ["10.0.0.0/0", "bogus", "0.0.0.0/1"]}]}
    assert rules.check_no_public_ssh(rules.SECURITY_GROUP, group) == [
        "ingress[0]: ports 20-30 include SSH (22) and are open to 10.0.0.0/0; use sshCidrs or bastionSecurityGroupId"]
    every = {"securityGroupId": NODE_SG, "ipProtocol": "all", "fromPort": 443.0, "toPort": 443.0, "cidrIpv6": "::/0"}
    assert rules.check_no_public_ssh(rules.INGRESS_RULE, every) == [
        "rule: ports 0-65535 include SSH (22) and are open to ::/0; use sshCidrs or bastionSecurityGroupId"]
    assert rules.check_no_public_ssh(rules.INGRESS_RULE, {**rule, "ipProtocol": "17"}) == []


# ---- ce-cluster-ports-members-only -----------------------------------------------------------------

def test_cluster_port_messages() -> None:
    ports = rules.cluster_ports()
    group = {"ingress": [
        {"protocol": "udp", "fromPort": 27017.0, "toPort": 27017.0, "cidrBlocks": ["10.0.0.0/16"]},
        {"protocol": "tcp", "fromPort": 443.0, "toPort": 443.0, "cidrBlocks": ["10.0.0.0/16"]},
        {"protocol": "tcp", "fromPort": 27017.0, "toPort": 27017.0, "cidrBlocks": ["10.0.0.0/16", "10.1.0.0/16"], "prefixListIds": ["pl-1"]},
    ]}
    assert rules.check_cluster_ports(rules.SECURITY_GROUP, group, ports) == [
        "ingress[2]: CE cluster port(s) 27017 open to 10.0.0.0/16, 10.1.0.0/16, pl-1; cluster ports are for cluster members only "
        "(reference the node security group itself)"]
    rule = {"securityGroupId": NODE_SG, "ipProtocol": "tcp", "fromPort": 24000.0, "toPort": 24100.0}
    assert rules.check_cluster_ports(rules.INGRESS_RULE, {**rule, "referencedSecurityGroupId": PEER_SG}, ports) == [
        f"rule: CE cluster port(s) 24007, 24009-24029 opened to another group ({PEER_SG}); only the node group itself may reach them"]
    assert rules.check_cluster_ports(rules.INGRESS_RULE, rule, ports) == [
        "rule: CE cluster port(s) 24007, 24009-24029 without a referenced security group"]


# ---- ce-public-sources-narrow -------------------------------------------------------------------------

def ingress(name: str, port: int, cidr: str, to_port: int | None = None) -> rules.Resource:
    return rules.Resource(rules.INGRESS_RULE, name, {"securityGroupId": NODE_SG, "ipProtocol": "tcp", "fromPort": float(port),
                                                     "toPort": float(to_port or port), "cidrIpv4": cidr})


def test_public_sources_messages() -> None:
    found = rules.check_public_sources([ingress("ssh", 22, "0.0.0.0/0"), ingress("ui", 443, "0.0.0.0/0"),
                                        ingress("web", 80, "52.0.0.0/15", 81)], rules.Context())
    assert found == [
        rules.Violation(rules.PUBLIC_SOURCES, "ssh", f"rule: 0.0.0.0/0 opens SSH to the whole internet; {SSH_HINT}"),
        rules.Violation(rules.PUBLIC_SOURCES, "ui", f"rule: 0.0.0.0/0 opens port(s) 443 to the whole internet; {UI_HINT}"),
        rules.Violation(rules.PUBLIC_SOURCES, "web", f"rule: 52.0.0.0/15 opens port(s) 80-81 to more public addresses than a /16; {UI_HINT}"),
    ]


def test_public_sources_union_messages() -> None:
    found = rules.check_public_sources([ingress("ssh-a", 22, "52.0.0.0/16"), ingress("ssh-b", 22, "52.2.0.0/16"),
                                        ingress("ui-a", 443, "53.0.0.0/16"), ingress("ui-b", 443, "54.0.0.0/16")], rules.Context())
    assert found == [
        rules.Violation(rules.PUBLIC_SOURCES, "ssh-a", "together the ranges open SSH to 131072 public addresses (about a /15), "
                        "more than a /16; narrow sshCidrs"),
        rules.Violation(rules.PUBLIC_SOURCES, "ui-a", "together the ranges open the nodes' other ports to 131072 public addresses "
                        "(about a /15), more than a /16; narrow uiCidrs or set allowPublicUi true"),
    ]


def test_each_permission_is_judged_after_a_duplicate_or_a_cluster_port() -> None:
    group = rules.Resource(rules.SECURITY_GROUP, "ce-sg", {"ingress": [
        {"protocol": "tcp", "fromPort": 27017.0, "toPort": 27017.0, "cidrBlocks": ["0.0.0.0/0"]},  # ce-cluster-ports-members-only's
        {"protocol": "tcp", "fromPort": 443.0, "toPort": 443.0, "cidrBlocks": ["10.0.0.0/16", "10.0.0.0/16", "0.0.0.0/0"]},
    ]})
    assert rules.check_public_sources([group], rules.Context()) == [
        rules.Violation(rules.PUBLIC_SOURCES, "ce-sg", "ingress[1]: 10.0.0.0/16 on port(s) 443 is declared twice; declare it once"),
        rules.Violation(rules.PUBLIC_SOURCES, "ce-sg", f"ingress[1]: 0.0.0.0/0 opens port(s) 443 to the whole internet; {UI_HINT}"),
    ]


def test_the_same_source_in_two_groups_is_no_duplicate() -> None:
    groups = [rules.Resource(rules.SECURITY_GROUP, name, {"ingress": [
        {"protocol": "tcp", "fromPort": 443.0, "toPort": 443.0, "cidrBlocks": ["198.51.100.0/24"]}]}) for name in ("sg-a", "sg-b")]
    assert rules.check_public_sources(groups, rules.Context()) == []


# ---- ce-no-stack-secret-in-commands -------------------------------------------------------------

def test_needles_of_a_secret() -> None:
    pem = "-----BEGIN TEST PRIVATE KEY-----\n" + "A" * 16 + "\n" + "B" * 15 + "\n-----END TEST PRIVATE KEY-----"
    assert rules.secret_needles(["abcde", pem, "abcdef", "  ab  "]) == [
        pem, base64.b64encode(pem.encode()).decode(), "A" * 16, "abcdef", "YWJjZGVm"]


def test_sensitive_fields_anywhere_in_the_props() -> None:
    props = {"connection": {"host": "10.0.1.10", "privateKey": "key-material"}, "environment": [{"PASSWORD": ["pw-1", "pw-2"]}],
             "other": "not-a-secret"}
    assert rules.sensitive_fields(props) == ["key-material", "pw-1", "pw-2"]


def test_what_counts_inside_a_secret_marker() -> None:
    fields, values = rules.secrets_in_wire_inputs({
        "connection": secret({"hosts": ["10.0.1.10", ["10.0.1.11"]], "privateKey": "key-material", "jump": {"password": "pw-jump"}}),
        "stdin": secret(["pw-one", {"token": "not-a-field-name"}, ["pw-two"]]),
        "environment": [secret("pw-three")],
        "plain": "10.0.1.12",
    })
    assert fields == {"connection", "stdin"}
    assert values == ("key-material", "pw-jump", "pw-one", "pw-two", "pw-three")


def test_a_secret_field_of_any_resource_is_a_stack_secret() -> None:
    holder = rules.Resource(rules.COMMAND, "ce-1-steps-login", {"create": "login", "environment": {"password": "hunter2-pw"}})
    leak = remote("ce-1-steps-leak", "echo hunter2-pw")
    assert rules.check_no_stack_secret([holder, leak]) == [rules.Violation(
        rules.NO_STACK_SECRET, "ce-1-steps-leak", "create contains a value that is a secret in this stack, in plain text "
        "(pulumi-command prints it on failure, state keeps it); pass it on stdin or in a root-only file")]


def test_a_six_character_secret_is_searched() -> None:
    leak = remote("ce-1-steps-leak", "echo abcdef")
    assert [v.resource for v in rules.check_no_stack_secret([leak], ["abc", "abcdef"])] == ["ce-1-steps-leak"]
    assert rules.check_no_stack_secret([leak], ["abcde"]) == []


def test_every_secret_marked_script_is_named() -> None:
    step = rules.Resource(rules.COMMAND, "ce-2-steps-y", {"create": "echo a", "delete": "echo b"}, secret_fields=frozenset({"create", "delete"}))
    assert rules.check_no_stack_secret([step]) == [rules.Violation(
        rules.NO_STACK_SECRET, "ce-2-steps-y", f"{key} is marked secret, so a secret went into it; pulumi-command prints the command on "
        "failure: pass secrets on stdin instead") for key in ("create", "delete")]


def test_user_data_that_is_not_utf8_is_still_searched() -> None:
    data = base64.b64encode(b"\xff\xfe#!/bin/sh\nJWT=jwt-secret-9152\n").decode()
    node = rules.Resource(rules.INSTANCE, "ce-2-vm", {"userDataBase64": data})
    assert [v.resource for v in rules.check_no_stack_secret([node], ["jwt-secret-9152"])] == ["ce-2-vm"]


# ---- ce-adopted-primary-never-managed --------------------------------------------------------------

def backup() -> rules.Resource:
    return rules.Resource(rules.AMI_FROM_INSTANCE, "ce-1-backup", {"sourceInstanceId": PRIMARY})


def test_primary_messages() -> None:
    found = rules.check_primary_not_managed([
        backup(),
        rules.Resource(rules.INSTANCE, "adopted", {"tags": {"Name": PRIMARY}}),
        rules.Resource("aws:ec2/eip:Eip", "ce-1-eip", {"instance": PRIMARY}),
        remote("ce-1-steps-booted", "echo booted", depends_on=("ce-1-backup",), deleted_with="ce-1-sg"),
        rules.Resource(rules.LOCAL_COMMAND, "cleanup", {"create": "true", "delete": "rm -rf /tmp/x"}),
    ], rules.Context())
    assert found == [
        rules.Violation(rules.PRIMARY_NOT_MANAGED, "adopted", f"aws:ec2/instance:Instance refers to the adopted primary {PRIMARY}: "
                        "it is only read (aws.ec2.get_instance), never managed, stopped or replaced"),
        rules.Violation(rules.PRIMARY_NOT_MANAGED, "ce-1-eip", f"aws:ec2/eip:Eip attaches to the adopted primary {PRIMARY}: "
                        "the primary keeps its own addresses; only the new nodes have interfaces of this stack"),
        rules.Violation(rules.PRIMARY_NOT_MANAGED, "cleanup", "command:local:Command has a delete script: pulumi destroy would run it "
                        "(over SSH destructively on the adopted primary, or against a host already gone)"),
        rules.Violation(rules.PRIMARY_NOT_MANAGED, "ce-1-steps-booted", "step on the adopted primary is deleted_with ce-1-sg: the primary "
                        "is not a resource of this stack, nothing here may stand for its lifetime"),
    ]


def test_tags_unknown_in_preview_are_not_judged() -> None:
    node = rules.Resource(rules.INSTANCE, "ce-2-vm", {"tags": rules.UNKNOWN, "tagsAll": "not-a-map"})
    assert rules.check_primary_not_managed([backup(), node], rules.Context()) == []


def test_steps_whose_host_is_unknown_are_not_taken_for_the_primary() -> None:
    booted = remote("ce-1-steps-booted", "echo booted", host=rules.UNKNOWN, depends_on=("ce-1-backup",))
    other = remote("ce-2-steps-booted", "echo booted", host=rules.UNKNOWN, deleted_with="ce-2-vm")
    assert rules.steps_on_primary([backup(), booted, other], rules.Context()) == []
    assert rules.check_primary_not_managed([backup(), booted, other], rules.Context()) == []


def test_only_a_backup_ami_marks_the_primarys_host() -> None:
    # a resource that merely carries the primary's id is no backup: steps waiting for it are not on the primary
    copy = rules.Resource("aws:ec2/amiCopy:AmiCopy", "ce-1-copy", {"sourceInstanceId": PRIMARY})
    step = remote("ce-2-steps-booted", "echo booted", host="10.0.2.10", depends_on=("ce-1-copy",))
    assert rules.steps_on_primary([backup(), copy, step], rules.Context()) == []


def test_the_primary_is_named_by_backup_amis_only() -> None:
    copy = rules.Resource("aws:ec2/amiCopy:AmiCopy", "copy", {"sourceInstanceId": "i-0notabackup00"})
    unknown = rules.Resource(rules.AMI_FROM_INSTANCE, "ce-1-backup-2", {"sourceInstanceId": rules.UNKNOWN})
    empty = rules.Resource(rules.AMI_FROM_INSTANCE, "ce-1-backup-3", {"sourceInstanceId": ""})
    context = rules.Context(primary_instance_ids=frozenset({"i-0fromconfig0"}))
    assert rules.primary_ids([copy, unknown, empty], context) == {"i-0fromconfig0"}
    assert rules.primary_ids([backup(), copy], rules.Context()) == {PRIMARY}


# ---- the load balancer policies ---------------------------------------------------------------------

LB = "aws:lb/loadBalancer:LoadBalancer"
LISTENER = "aws:lb/listener:Listener"
TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"


@pytest.mark.parametrize(("props", "shown"), [({"internal": False}, "False"), ({}, "None")])
def test_load_balancer_scheme_message(props: dict[str, Any], shown: str) -> None:
    assert rules.check_load_balancer_scheme(LB, props, "none") == [
        f"is internet-facing (internal={shown}) but the stack's loadBalancer is 'none': declare it internal, "
        "or set loadBalancer internet-facing when the UI is meant to be reached from the internet"]
    assert rules.check_load_balancer_scheme(LB, props, "internet-facing") == []
    assert rules.check_load_balancer_scheme(LB, props, "INTERNET-FACING") != []


def test_an_internal_balancer_passes_whatever_the_stack_says() -> None:
    assert rules.check_load_balancer_scheme(LB, {"internal": True}, "internal") == []
    assert rules.check_load_balancer_scheme(LB, {"internal": rules.UNKNOWN}, "internal") == []


def test_listener_messages() -> None:
    assert rules.check_listener_ui_port(LISTENER, {"port": 80.0, "protocol": "TCP"}, 443) == [
        "listens on port 80; the load balancer forwards only the CE UI port 443 (uiPort)"]
    assert rules.check_listener_ui_port(LISTENER, {"port": "http", "protocol": "TLS"}, 443) == [
        "listens on port 'http'; the load balancer forwards only the CE UI port 443 (uiPort)",
        "protocol is 'TLS'; the UI passes through as TCP so CE terminates TLS with its own certificate"]
    assert rules.check_listener_ui_port(LISTENER, {"protocol": "tcp"}, 8443) == [
        "listens on port None; the load balancer forwards only the CE UI port 8443 (uiPort)",
        "protocol is 'tcp'; the UI passes through as TCP so CE terminates TLS with its own certificate"]
    assert rules.check_listener_ui_port(LISTENER, {"port": rules.UNKNOWN, "protocol": "TCP"}, 443) == []
    assert rules.check_listener_ui_port(LISTENER, {"port": 443.0, "protocol": rules.UNKNOWN}, 443) == []
    assert rules.check_listener_ui_port(LISTENER, {"port": "443", "protocol": "TCP"}, 443) == []


def test_health_check_messages() -> None:
    missing = "has no health check; declare healthCheck with protocol HTTPS (HTTP with uiProtocol http) on the UI port"
    assert rules.check_health_checked(TARGET_GROUP, {"port": 443.0}) == [missing]
    assert rules.check_health_checked(TARGET_GROUP, {"healthCheck": {"enabled": False, "protocol": "HTTPS"}}) == [missing]
    assert rules.check_health_checked(TARGET_GROUP, {"healthCheck": {"enabled": True, "protocol": "TCP"}}) == [
        "health check protocol is 'TCP'; check CE's UI with HTTPS (HTTP with uiProtocol http), not just an open port"]
    assert rules.check_health_checked(TARGET_GROUP, {"healthCheck": {"protocol": "https"}}) == [
        "health check protocol is 'https'; check CE's UI with HTTPS (HTTP with uiProtocol http), not just an open port"]
    assert rules.check_health_checked(TARGET_GROUP, {"healthCheck": {"enabled": True}}) == [
        "health check protocol is None; check CE's UI with HTTPS (HTTP with uiProtocol http), not just an open port"]


@pytest.mark.parametrize("check", [{"protocol": "HTTPS"}, {"enabled": True, "protocol": "HTTP"}, {"protocol": rules.UNKNOWN}])
def test_an_http_health_check_passes(check: dict[str, Any]) -> None:
    assert rules.check_health_checked(TARGET_GROUP, {"healthCheck": check}) == []
    assert rules.check_health_checked(TARGET_GROUP, {"healthCheck": rules.UNKNOWN}) == []
