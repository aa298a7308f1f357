"""The CrossGuard pack: each rule compliant and not, the adapters, the pack's wiring, and check_run (offline/policies.py) over the real program."""

from __future__ import annotations

import base64
import copy
import dataclasses
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.protobuf import struct_pb2
from pulumi.runtime import proto, set_all_config
from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.policy import _PolicyAnalyzerServicer
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from components import network
from components import nodes as node_components
from offline import harness, policies
from policy import pack, rules
from tests.unit import stacks
from tests.unit.test_aws_side import CE5_CLUSTER_PORTS as CE5_PORTS
from tests.unit.test_aws_side import CE6_CLUSTER_PORTS as CE6_PORTS

ROOT = Path(__file__).resolve().parents[2]
PRIMARY = "i-0123456789abcdef0"
NODE_SG = "sg-0node"
PEM = stacks.FAKE_KEY
PASSWORD = stacks.MAINTENANCE


def secret(value: Any) -> dict[str, Any]:
    return {rules.SECRET_SIG_KEY: rules.SECRET_SIG, "value": value}


def ingress(port: int, to_port: int | None = None, protocol: str = "tcp", **peer: Any) -> dict[str, Any]:
    return {"securityGroupId": NODE_SG, "ipProtocol": protocol, "fromPort": float(port), "toPort": float(to_port or port), **peer}


def command(create: str = "echo ok", **more: Any) -> dict[str, Any]:
    return {"create": create, "connection": {"host": "10.0.1.10", "user": "ubuntu", "privateKey": PEM}, **more}


def instance(**more: Any) -> dict[str, Any]:
    props: dict[str, Any] = {
        "ami": "ami-1", "instanceType": "m5.2xlarge", "tags": {"Name": "ce-2"},
        "metadataOptions": {"httpTokens": "required"},
        "rootBlockDevice": {"volumeSize": 100.0, "encrypted": True},
    }
    props.update(more)
    return props


# ---- ce-data-protected ---------------------------------------------------------------------------

@pytest.mark.parametrize("typ", [rules.AMI_FROM_INSTANCE, rules.EFS])
def test_data_protected_when_protected_and_retained(typ: str) -> None:
    assert rules.check_data_protected(typ, {}, protect=True, retain_on_delete=True) == []


@pytest.mark.parametrize("typ", [rules.AMI_FROM_INSTANCE, rules.EFS])
def test_data_not_protected(typ: str) -> None:
    (problem,) = rules.check_data_protected(typ, {}, protect=False, retain_on_delete=True)
    assert "protect=True" in problem


def test_data_not_retained_is_seen_only_where_visible() -> None:
    (problem,) = rules.check_data_protected(rules.AMI_FROM_INSTANCE, {}, protect=True, retain_on_delete=False)
    assert "retain_on_delete=True" in problem
    # the engine does not pass retain_on_delete: None means "not visible", not "false"
    assert rules.check_data_protected(rules.AMI_FROM_INSTANCE, {}, protect=True, retain_on_delete=None) == []


def test_data_protected_ignores_other_types() -> None:
    assert rules.check_data_protected(rules.INSTANCE, {}, protect=False, retain_on_delete=False) == []


def test_brick_volumes_must_be_retained_but_not_protected() -> None:
    assert rules.check_data_protected(rules.VOLUME, {}, protect=False, retain_on_delete=True) == []
    (problem,) = rules.check_data_protected(rules.VOLUME, {}, protect=False, retain_on_delete=False)
    assert "retain_on_delete=True" in problem and "not protect" in problem
    # protect is never demanded of a volume (it would block a node replacement); unseen retain is not judged
    assert rules.check_data_protected(rules.VOLUME, {}, protect=True, retain_on_delete=None) == []


@pytest.mark.parametrize(("root", "problems"), [
    ({"encrypted": True, "deleteOnTermination": False}, 0),
    ({"encrypted": True, "deleteOnTermination": True}, 1),
    ({"encrypted": True}, 1),  # AWS's default deletes the root volume with the instance
    ({"encrypted": True, "deleteOnTermination": rules.UNKNOWN}, 0),
    (rules.UNKNOWN, 0),
])
def test_instance_root_volume_outlives_the_instance(root: Any, problems: int) -> None:
    found = rules.check_data_protected(rules.INSTANCE, instance(rootBlockDevice=root), protect=False, retain_on_delete=None)
    assert len(found) == problems
    assert all("rootBlockDevice.deleteOnTermination must be False" in p and "MongoDB" in p for p in found)


# ---- ce-imdsv2-required --------------------------------------------------------------------------

def test_imdsv2_required() -> None:
    assert rules.check_imdsv2(rules.INSTANCE, instance()) == []
    assert rules.check_imdsv2(rules.LAUNCH_TEMPLATE, {"metadataOptions": {"httpTokens": "required"}}) == []


@pytest.mark.parametrize("options", [{"httpTokens": "optional"}, {}, None])
def test_imdsv2_missing_or_optional(options: Any) -> None:
    (problem,) = rules.check_imdsv2(rules.INSTANCE, instance(metadataOptions=options))
    assert "httpTokens" in problem and "'required'" in problem


def test_imdsv2_unknown_is_not_judged() -> None:
    assert rules.check_imdsv2(rules.INSTANCE, instance(metadataOptions={"httpTokens": rules.UNKNOWN})) == []


# ---- ce-storage-encrypted ------------------------------------------------------------------------

def test_encrypted_storage_passes() -> None:
    assert rules.check_encrypted(rules.INSTANCE, instance(ebsBlockDevices=[{"deviceName": "/dev/sdf", "encrypted": True}])) == []
    assert rules.check_encrypted(rules.VOLUME, {"size": 100.0, "encrypted": True}) == []
    assert rules.check_encrypted(rules.EFS, {"encrypted": True}) == []


def test_instance_root_must_be_declared_and_encrypted() -> None:
    assert "not declared" in rules.check_encrypted(rules.INSTANCE, instance(rootBlockDevice=None))[0]
    assert "rootBlockDevice.encrypted" in rules.check_encrypted(rules.INSTANCE, instance(rootBlockDevice={"encrypted": False}))[0]
    (problem,) = rules.check_encrypted(rules.INSTANCE, instance(ebsBlockDevices=[{"deviceName": "/dev/sdf"}]))
    assert "ebsBlockDevices[0] (/dev/sdf)" in problem


@pytest.mark.parametrize("typ", [rules.VOLUME, rules.EFS])
@pytest.mark.parametrize("value", [False, None])
def test_plain_volume_or_efs(typ: str, value: Any) -> None:
    assert rules.check_encrypted(typ, {"encrypted": value}) != []


def test_unknown_encryption_is_not_judged() -> None:
    assert rules.check_encrypted(rules.VOLUME, {"encrypted": rules.UNKNOWN}) == []
    assert rules.check_encrypted(rules.INSTANCE, instance(rootBlockDevice=rules.UNKNOWN)) == []


# ---- ce-no-public-ssh ----------------------------------------------------------------------------

@pytest.mark.parametrize("typ, props", [
    (rules.INGRESS_RULE, ingress(22, cidrIpv4="0.0.0.0/0")),
    (rules.INGRESS_RULE, ingress(22, cidrIpv6="::/0")),
    (rules.INGRESS_RULE, ingress(0, 1024, cidrIpv4="0.0.0.0/0")),
    (rules.INGRESS_RULE, {"securityGroupId": NODE_SG, "ipProtocol": "-1", "cidrIpv4": "0.0.0.0/0"}),
    (rules.SECURITY_GROUP_RULE, {"type": "ingress", "protocol": "tcp", "fromPort": 22.0, "toPort": 22.0, "cidrBlocks": ["0.0.0.0/0"]}),
    (rules.SECURITY_GROUP_RULE, {"type": "ingress", "protocol": "-1", "fromPort": 0.0, "toPort": 0.0, "ipv6CidrBlocks": ["::/0"]}),
    (rules.SECURITY_GROUP, {"ingress": [{"protocol": "tcp", "fromPort": 20.0, "toPort": 30.0, "cidrBlocks": ["10.0.0.0/8", "0.0.0.0/0"]}]}),
])
def test_public_ssh_is_refused(typ: str, props: dict[str, Any]) -> None:
    (problem,) = rules.check_no_public_ssh(typ, props)
    assert "SSH (22)" in problem


@pytest.mark.parametrize("typ, props", [
    (rules.INGRESS_RULE, ingress(22, cidrIpv4="198.51.100.0/24")),
    (rules.INGRESS_RULE, ingress(22, referencedSecurityGroupId="sg-0bastion")),
    (rules.INGRESS_RULE, ingress(22, protocol="udp", cidrIpv4="0.0.0.0/0")),
    (rules.INGRESS_RULE, ingress(443, cidrIpv4="0.0.0.0/0")),
    (rules.SECURITY_GROUP_RULE, {"type": "egress", "protocol": "-1", "fromPort": 0.0, "toPort": 0.0, "cidrBlocks": ["0.0.0.0/0"]}),
    (rules.SECURITY_GROUP, {"ingress": [{"protocol": "tcp", "fromPort": 22.0, "toPort": 22.0, "cidrBlocks": ["198.51.100.0/24"]}]}),
])
def test_restricted_ssh_passes(typ: str, props: dict[str, Any]) -> None:
    assert rules.check_no_public_ssh(typ, props) == []


# ---- ce-public-sources-narrow ---------------------------------------------------------------------

def sources(*rules_props: tuple[str, dict[str, Any]]) -> list[rules.Resource]:
    return [rules.Resource(rules.INGRESS_RULE, name, props) for name, props in rules_props]


@pytest.mark.parametrize("given, blamed, words", [
    ([("ssh-a", ingress(22, cidrIpv4="0.0.0.0/1")), ("ssh-b", ingress(22, cidrIpv4="128.0.0.0/1"))], {"ssh-a", "ssh-b"},
     "more public addresses than a /16"),
    ([("ssh-a", ingress(22, cidrIpv4="52.0.0.0/16")), ("ssh-b", ingress(22, cidrIpv4="52.2.0.0/16"))], {"ssh-a"},
     "together the ranges open SSH to 131072 public addresses"),
    ([("ssh", ingress(20, 30, cidrIpv4="52.0.0.0/15"))], {"ssh"}, "SSH to more public addresses than a /16"),
    ([("ui", ingress(443, cidrIpv4="0.0.0.0/0"))], {"ui"}, "whole internet"),
    ([("ui-a", ingress(443, cidrIpv4="52.0.0.0/16")), ("ui-b", ingress(443, cidrIpv4="53.0.0.0/16"))], {"ui-a"}, "allowPublicUi"),
    ([("ui6", ingress(443, cidrIpv6="2001:db8::/32"))], {"ui6"}, "IPv6"),
    ([("ui-a", ingress(443, cidrIpv4="10.0.0.0/16")), ("ui-b", ingress(443, cidrIpv4="10.0.0.0/16"))], {"ui-b"}, "declared twice"),
])
def test_wide_public_sources_are_refused(given: list[tuple[str, dict[str, Any]]], blamed: set[str], words: str) -> None:
    found = rules.check_public_sources(sources(*given), rules.Context())
    assert {v.resource for v in found} == blamed and all(v.policy == rules.PUBLIC_SOURCES for v in found), found
    assert any(words in v.message for v in found), found


@pytest.mark.parametrize("given, public_ui", [
    ([("ssh", ingress(22, cidrIpv4="10.0.0.0/8")), ("ssh-cgnat", ingress(22, cidrIpv4="100.64.0.0/10"))], False),
    ([("ssh", ingress(22, cidrIpv4="52.0.0.0/17")), ("ssh-2", ingress(22, cidrIpv4="52.0.128.0/17"))], False),
    ([("ssh", ingress(22, cidrIpv4="52.0.0.0/16")), ("ui", ingress(443, cidrIpv4="53.0.0.0/16"))], False),
    ([("ui", ingress(443, cidrIpv4="0.0.0.0/0")), ("ssh", ingress(22, cidrIpv4="198.51.100.0/24"))], True),
    ([("ssh", ingress(22, cidrIpv4="198.51.100.0/24")), ("other-group", {**ingress(22, cidrIpv4="198.51.100.0/24"), "securityGroupId": "sg-1"})],
     False),
    ([("cluster", ingress(27017, cidrIpv4="0.0.0.0/0"))], False),  # ce-cluster-ports-members-only's case, not reported twice
    ([("peer", ingress(443, referencedSecurityGroupId=NODE_SG))], False),
])
def test_narrow_or_allowed_sources_pass(given: list[tuple[str, dict[str, Any]]], public_ui: bool) -> None:
    assert rules.check_public_sources(sources(*given), rules.Context(allow_public_ui=public_ui)) == []


def test_public_ui_opens_the_ui_never_ssh() -> None:
    wide = sources(("ssh", ingress(22, cidrIpv4="0.0.0.0/0")), ("ui", ingress(443, cidrIpv4="0.0.0.0/0")))
    found = rules.check_public_sources(wide, rules.Context(allow_public_ui=True))
    assert [v.resource for v in found] == ["ssh"]


def test_public_sources_adapter_reads_allow_public_ui() -> None:
    ui = policy_resource(rules.INGRESS_RULE, "ui", ingress(443, cidrIpv4="0.0.0.0/0"))
    ((message, urn),) = validate_stack(rules.PUBLIC_SOURCES, [ui], {})
    assert urn == ui.urn and "allowPublicUi" in message
    assert validate_stack(rules.PUBLIC_SOURCES, [ui], {"allowPublicUi": "true"}) == []


def test_settings_and_policy_share_one_width_rule() -> None:
    from components import settings

    assert settings.exposure is rules.exposure


def test_the_pack_imports_its_rules_from_its_own_folder() -> None:
    import subprocess
    import sys

    code = "import sys; sys.path.insert(0, 'policy'); import rules; print(rules.exposure.__name__, rules.PUBLIC_SOURCES in rules.STACK_CHECKS)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["exposure", "True"]


# ---- ce-cluster-ports-members-only ---------------------------------------------------------------

def test_cluster_ports_are_ces_ports_per_line() -> None:
    """CE's ports as the tests write them from docs/ce-facts.md §3.1 and §3.2, not the release lines' table the pack loads."""
    assert set(rules.cluster_ports("v5.1.2")) == CE5_PORTS
    assert set(rules.cluster_ports("v6.1.0")) == CE6_PORTS
    assert set(rules.cluster_ports()) == CE5_PORTS | CE6_PORTS  # every line's when the version is not known
    assert set(rules.cluster_ports("not-a-version")) == CE5_PORTS | CE6_PORTS


@pytest.mark.parametrize("typ, props, expect", [
    (rules.INGRESS_RULE, ingress(27017, cidrIpv4="10.0.0.0/16"), "open to 10.0.0.0/16"),
    (rules.INGRESS_RULE, ingress(24000, 24100, cidrIpv4="10.0.0.0/16"), "24007, 24009-24029"),
    (rules.INGRESS_RULE, {"securityGroupId": NODE_SG, "ipProtocol": "-1", "cidrIpv4": "10.0.0.0/8"}, "27017"),
    (rules.INGRESS_RULE, ingress(5672, prefixListId="pl-123"), "pl-123"),
    (rules.INGRESS_RULE, ingress(27017, referencedSecurityGroupId="sg-0other"), "another group (sg-0other)"),
    (rules.INGRESS_RULE, ingress(27017), "without a referenced security group"),
    (rules.SECURITY_GROUP_RULE, {"type": "ingress", "protocol": "tcp", "fromPort": 4369.0, "toPort": 4369.0, "cidrBlocks": ["10.1.0.0/16"]},
     "open to 10.1.0.0/16"),
    (rules.SECURITY_GROUP, {"ingress": [{"protocol": "tcp", "fromPort": 25672.0, "toPort": 25672.0, "cidrBlocks": ["10.1.0.0/16"]}]},
     "ingress[0]"),
])
def test_cluster_port_from_outside_is_refused(typ: str, props: dict[str, Any], expect: str) -> None:
    problems = rules.check_cluster_ports(typ, props, rules.cluster_ports())
    assert len(problems) == 1 and expect in problems[0], problems


@pytest.mark.parametrize("typ, props", [
    (rules.INGRESS_RULE, ingress(27017, referencedSecurityGroupId=NODE_SG)),
    # during preview both ids of a new group are unknown: a group reference is all that can be judged
    (rules.INGRESS_RULE, {**ingress(27017, referencedSecurityGroupId=rules.UNKNOWN), "securityGroupId": rules.UNKNOWN}),
    (rules.INGRESS_RULE, ingress(443, cidrIpv4="198.51.100.0/24")),
    (rules.INGRESS_RULE, ingress(27017, protocol="udp", cidrIpv4="10.0.0.0/16")),
    (rules.SECURITY_GROUP_RULE, {"type": "ingress", "protocol": "tcp", "fromPort": 4369.0, "toPort": 4369.0, "self": True}),
    (rules.SECURITY_GROUP, {"ingress": [{"protocol": "tcp", "fromPort": 25672.0, "toPort": 25672.0, "self": True}]}),
])
def test_cluster_port_between_members_passes(typ: str, props: dict[str, Any]) -> None:
    assert rules.check_cluster_ports(typ, props, rules.cluster_ports()) == []


def test_cluster_ports_follow_the_line() -> None:
    ui_on_8000 = ingress(8000, cidrIpv4="198.51.100.0/24")
    assert rules.check_cluster_ports(rules.INGRESS_RULE, ui_on_8000, rules.cluster_ports("v5.1.2")) == []
    assert rules.check_cluster_ports(rules.INGRESS_RULE, ui_on_8000, rules.cluster_ports("v6.1.0")) != []


# ---- ce-no-private-key-in-commands -------------------------------------------------------------

@pytest.mark.parametrize("typ, props, field", [
    (rules.COMMAND, command(f"echo '{PEM}' > key"), "create"),
    (rules.COMMAND, command(update="printf '-----BEGIN RSA PRIVATE KEY-----\\nabc' > k"), "update"),
    (rules.COMMAND, command(delete=f"echo {base64.b64encode(PEM.encode()).decode()} | base64 -d > k"), "delete"),
    (rules.INSTANCE, instance(userData=f"#!/bin/sh\ncat > /root/k <<EOF\n{PEM}EOF\n"), "userData"),
    (rules.INSTANCE, instance(userDataBase64=base64.b64encode(f"#!/bin/sh\necho '{PEM}'".encode()).decode()), "userDataBase64"),
])
def test_private_key_in_script_is_refused(typ: str, props: dict[str, Any], field: str) -> None:
    (problem,) = rules.check_no_private_key(typ, props)
    assert problem.startswith(f"{field} contains a private key")


def test_scripts_without_keys_pass() -> None:
    # the connection carries the key (a secret input), which is where it belongs
    assert rules.check_no_private_key(rules.COMMAND, command("sudo timeout 600 /opt/cloud-exchange-ha/ce-node wait")) == []
    assert rules.check_no_private_key(rules.INSTANCE, instance(userData="#!/bin/sh\necho hello\n")) == []


# ---- ce-no-stack-secret-in-commands ------------------------------------------------------------

def wire_resource(typ: str, name: str, inputs: dict[str, Any], **options: Any) -> rules.Resource:
    fields, values = rules.secrets_in_wire_inputs(inputs)
    return rules.Resource(typ, name, rules.unwrap_secrets(inputs), secret_fields=fields, secret_values=values, **options)


def secrets_step() -> rules.Resource:
    document = json.dumps({"maintenance_password": PASSWORD, "jwt_secret": stacks.JWT})
    return wire_resource(rules.COMMAND, "ce-1-steps-secrets", {
        "create": "sudo install -m 0600 /dev/stdin /etc/cloud-exchange-ha/secrets.json",
        "stdin": secret(document),
        "connection": secret({"host": "10.0.1.10", "user": "ubuntu", "privateKey": PEM, "port": 22.0}),
    })


def test_secret_values_are_what_the_markers_hold() -> None:
    fields, values = rules.secrets_in_wire_inputs({"stdin": secret(json.dumps({"a": PASSWORD})), "connection": secret(
        {"host": "10.0.1.10", "user": "ubuntu", "privateKey": PEM, "proxy": {"host": "bastion", "privateKey": "proxy-key-123"}})})
    assert fields == {"stdin", "connection"}
    assert PASSWORD in values and PEM in values and "proxy-key-123" in values
    assert "10.0.1.10" not in values and "ubuntu" not in values and "bastion" not in values


@pytest.mark.parametrize("create", [
    f"echo {PASSWORD} | sudo tee /etc/pw",
    f"echo {base64.b64encode(PASSWORD.encode()).decode()} | base64 -d",
    f"echo {stacks.JWT}",
    f"echo {PEM.splitlines()[1]}",
])
def test_stack_secret_in_command_is_refused(create: str) -> None:
    step = wire_resource(rules.COMMAND, "ce-1-steps-leak", {"create": create})
    (violation,) = rules.check_no_stack_secret([secrets_step(), step])
    assert violation.policy == rules.NO_STACK_SECRET and violation.resource == "ce-1-steps-leak"
    assert "create contains a value that is a secret" in violation.message
    assert PASSWORD not in violation.message and stacks.JWT not in violation.message


def test_stack_secret_in_user_data_is_refused() -> None:
    node = wire_resource(rules.INSTANCE, "ce-2-vm", instance(userDataBase64=base64.b64encode(f"JWT={stacks.JWT}".encode()).decode()))
    (violation,) = rules.check_no_stack_secret([secrets_step(), node])
    assert violation.resource == "ce-2-vm" and violation.message.startswith("userDataBase64")


def test_config_secret_in_command_is_refused() -> None:
    step = rules.Resource(rules.COMMAND, "ce-2-steps-x", {"create": "echo s3cret-from-config"})
    assert rules.check_no_stack_secret([step]) == []
    (violation,) = rules.check_no_stack_secret([step], ["s3cret-from-config"])
    assert violation.resource == "ce-2-steps-x"


def test_secret_marked_command_string_is_refused() -> None:
    step = wire_resource(rules.COMMAND, "ce-2-steps-y", {"create": secret("echo anything")})
    (violation,) = rules.check_no_stack_secret([step])
    assert "create is marked secret" in violation.message


def test_secrets_on_stdin_and_short_values_pass() -> None:
    step = wire_resource(rules.COMMAND, "ce-1-steps-wait", {"create": "sudo timeout 600 ce-node wait; echo ubuntu 10.0.1.10"})
    assert rules.check_no_stack_secret([secrets_step(), step], ["abc"]) == []


# ---- ce-adopted-primary-never-managed -----------------------------------------------------------

def migrate_graph(**booted_options: Any) -> list[rules.Resource]:
    ami = rules.Resource(rules.AMI_FROM_INSTANCE, "ce-1-backup", {"sourceInstanceId": PRIMARY}, protect=True, retain_on_delete=True)
    booted = rules.Resource(rules.COMMAND, "ce-1-steps-booted", command("echo booted"), depends_on=("ce-1-backup",), **booted_options)
    later = rules.Resource(rules.COMMAND, "ce-1-steps-wait", command("ce-node wait"), depends_on=("ce-1-steps-booted",))
    vm = rules.Resource(rules.INSTANCE, "ce-2-vm", instance())
    node_step = rules.Resource(rules.COMMAND, "ce-2-steps-booted", {**command(), "connection": {"host": "10.0.2.10"}}, deleted_with="ce-2-vm")
    return [ami, booted, later, vm, node_step]


def test_primary_untouched_passes() -> None:
    graph = migrate_graph()
    assert [r.name for r in rules.steps_on_primary(graph, rules.Context())] == ["ce-1-steps-booted", "ce-1-steps-wait"]
    assert rules.check_primary_not_managed(graph, rules.Context()) == []


@pytest.mark.parametrize("extra", [
    rules.Resource(rules.INSTANCE, "adopted", instance(tags={"Name": f"ce-1 ({PRIMARY})"})),
    rules.Resource(rules.INSTANCE, f"vm-{PRIMARY}", instance()),
    rules.Resource(rules.INSTANCE_STATE, "stop-it", {"instanceId": PRIMARY, "state": "stopped"}),
])
def test_primary_as_a_managed_resource_is_refused(extra: rules.Resource) -> None:
    (violation,) = rules.check_primary_not_managed([*migrate_graph(), extra], rules.Context())
    assert violation.resource == extra.name and PRIMARY in violation.message


@pytest.mark.parametrize("extra", [
    rules.Resource("aws:ec2/eip:Eip", "ce-1-eip", {"domain": "vpc", "instance": PRIMARY}),
    rules.Resource("aws:ec2/networkInterfaceAttachment:NetworkInterfaceAttachment", "ce-1-eni-attach",
                   {"instanceId": PRIMARY, "networkInterfaceId": "eni-0123", "deviceIndex": 1}),
    rules.Resource("aws:ec2/networkInterface:NetworkInterface", "ce-1-eni",
                   {"subnetId": "subnet-0primary", "attachments": [{"instance": PRIMARY, "deviceIndex": 1}]}),
])
def test_an_address_moved_onto_the_primary_is_refused(extra: rules.Resource) -> None:
    (violation,) = rules.check_primary_not_managed([*migrate_graph(), extra], rules.Context())
    assert violation.resource == extra.name and PRIMARY in violation.message and "own addresses" in violation.message


def test_the_new_nodes_own_interfaces_and_addresses_pass() -> None:
    eni = rules.Resource("aws:ec2/networkInterface:NetworkInterface", "ce-2-eni",
                         {"subnetId": "subnet-0aaa", "securityGroups": ["sg-0nodes"], "tags": {"Name": "ce-2-eni", "From": PRIMARY}})
    eip = rules.Resource("aws:ec2/eip:Eip", "ce-2-eip", {"domain": "vpc", "networkInterface": "eni-0ce2"})
    assert rules.check_primary_not_managed([*migrate_graph(), eni, eip], rules.Context()) == []


def test_extra_tags_citing_the_primary_pass() -> None:
    # the tags setting puts extra tags on every resource; one may cite the primary without managing it
    node = rules.Resource(rules.INSTANCE, "ce-2-vm", instance(tags={"Name": "ce-2", "MigratedFrom": PRIMARY}))
    assert rules.check_primary_not_managed([*migrate_graph(), node], rules.Context()) == []


def test_primary_id_from_config_alone() -> None:
    adopted = rules.Resource(rules.INSTANCE, "adopted", instance(tags={"Name": "i-0fromconfig0"}))
    assert rules.check_primary_not_managed([adopted], rules.Context()) == []
    assert rules.check_primary_not_managed([adopted], rules.Context(primary_instance_ids=frozenset({"i-0fromconfig0"}))) != []


def test_delete_script_is_refused() -> None:
    graph = migrate_graph()
    graph[2] = dataclasses.replace(graph[2], props={**graph[2].props, "delete": "sudo systemctl stop docker"})
    (violation,) = rules.check_primary_not_managed(graph, rules.Context())
    assert violation.resource == "ce-1-steps-wait" and "delete script" in violation.message


def test_primary_step_deleted_with_is_refused_where_visible() -> None:
    (violation,) = rules.check_primary_not_managed(migrate_graph(deleted_with="ce-1-sg"), rules.Context())
    assert violation.resource == "ce-1-steps-booted" and "deleted_with ce-1-sg" in violation.message
    # the engine does not pass deleted_with to policies
    assert rules.check_primary_not_managed(migrate_graph(deleted_with="ce-1-sg", full_options=False), rules.Context()) == []


# ---- the adapters (stub engine arguments) ----------------------------------------------------------

def options(protect: bool = False) -> PolicyResourceOptions:
    return PolicyResourceOptions(protect, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None)


def validate_resource(name: str, typ: str, props: Mapping[str, Any], protect: bool = False,
                      config: dict[str, Any] | None = None) -> list[str]:
    reported: list[str] = []
    args = ResourceValidationArgs(typ, props, f"urn:pulumi:dev::cloud-exchange-ha::{typ}::x", "x", options(protect), None, {})

    def report(message: str, urn: str | None = None) -> None:
        reported.append(message)

    pack.resource_validator(name, get=(config or {}).get)(args, report)
    return reported


@pytest.mark.parametrize("name, typ, bad, good", [
    (rules.IMDSV2, rules.INSTANCE, instance(metadataOptions={"httpTokens": "optional"}), instance()),
    (rules.ENCRYPTED, rules.VOLUME, {"encrypted": False}, {"encrypted": True}),
    (rules.NO_PUBLIC_SSH, rules.INGRESS_RULE, ingress(22, cidrIpv4="0.0.0.0/0"), ingress(22, cidrIpv4="198.51.100.0/24")),
    (rules.CLUSTER_PORTS, rules.INGRESS_RULE, ingress(27017, cidrIpv4="10.0.0.0/16"), ingress(27017, referencedSecurityGroupId=NODE_SG)),
    (rules.NO_PRIVATE_KEY, rules.COMMAND, command(f"echo '{PEM}'"), command()),
])
def test_resource_adapter_reports_rule_messages(name: str, typ: str, bad: dict[str, Any], good: dict[str, Any]) -> None:
    assert validate_resource(name, typ, unknown_checking_proxy(bad)) != []
    assert validate_resource(name, typ, unknown_checking_proxy(good)) == []


def test_data_protected_adapter_checks_protect_only() -> None:
    assert validate_resource(rules.DATA_PROTECTED, rules.EFS, {"encrypted": True}, protect=True) == []
    assert validate_resource(rules.DATA_PROTECTED, rules.EFS, {"encrypted": True}, protect=False) != []


def test_cluster_port_adapter_reads_the_ce_version() -> None:
    ui_on_8000 = ingress(8000, cidrIpv4="198.51.100.0/24")
    assert validate_resource(rules.CLUSTER_PORTS, rules.INGRESS_RULE, ui_on_8000, config={"ceVersion": "v5.1.2"}) == []
    assert validate_resource(rules.CLUSTER_PORTS, rules.INGRESS_RULE, ui_on_8000, config={"ceVersion": "v6.1.0"}) != []


def test_adapter_survives_unknowns_in_preview() -> None:
    props = unknown_checking_proxy({"metadataOptions": {"httpTokens": UNKNOWN_STRING_VALUE}, "rootBlockDevice": UNKNOWN_STRING_VALUE})
    assert rules.plain(props) == {"metadataOptions": {"httpTokens": rules.UNKNOWN}, "rootBlockDevice": rules.UNKNOWN}
    for name in (rules.IMDSV2, rules.ENCRYPTED):
        assert validate_resource(name, rules.INSTANCE, props) == []


def policy_resource(typ: str, name: str, props: dict[str, Any], dependencies: list[PolicyResource] | None = None) -> PolicyResource:
    return PolicyResource(typ, unknown_checking_proxy(props), f"urn:pulumi:dev::cloud-exchange-ha::{typ}::{name}", name, options(),
                          None, None, dependencies or [], {})


def validate_stack(name: str, resources: list[PolicyResource], config: dict[str, Any],
                   policy_config: dict[str, Any] | None = None) -> list[tuple[str, str | None]]:
    reported: list[tuple[str, str | None]] = []

    def report(message: str, urn: str | None = None) -> None:
        reported.append((message, urn))

    pack.stack_validator(name, get=config.get)(StackValidationArgs(resources, policy_config), report)
    return reported


def test_stack_adapter_finds_config_secrets_in_commands() -> None:
    leak = policy_resource(rules.COMMAND, "ce-2-steps-leak", command(f"echo {PASSWORD}"))
    ok = policy_resource(rules.COMMAND, "ce-2-steps-ok", command())
    assert validate_stack(rules.NO_STACK_SECRET, [ok], {"maintenancePassword": PASSWORD}) == []
    ((message, urn),) = validate_stack(rules.NO_STACK_SECRET, [ok, leak], {"maintenancePassword": PASSWORD})
    assert urn == leak.urn and "secret" in message
    # a policy config naming other secret keys replaces the default list
    assert validate_stack(rules.NO_STACK_SECRET, [leak], {"maintenancePassword": PASSWORD}, {"secretConfigKeys": ["jwtSecret"]}) == []


def test_stack_adapter_knows_the_primary_from_config() -> None:
    adopted = policy_resource(rules.INSTANCE, "adopted", instance(tags={"Name": PRIMARY}))
    assert validate_stack(rules.PRIMARY_NOT_MANAGED, [adopted], {}) == []
    ((_, urn),) = validate_stack(rules.PRIMARY_NOT_MANAGED, [adopted], {"primaryInstanceId": PRIMARY})
    assert urn == adopted.urn
    assert validate_stack(rules.PRIMARY_NOT_MANAGED, [adopted], {}, {"primaryInstanceId": PRIMARY}) != []


def test_stack_adapter_uses_engine_dependencies() -> None:
    ami = policy_resource(rules.AMI_FROM_INSTANCE, "ce-1-backup", {"sourceInstanceId": PRIMARY})
    booted = policy_resource(rules.COMMAND, "ce-1-steps-booted", command("echo booted"), dependencies=[ami])
    (resource,) = [pack.resource_of(r) for r in [booted]]
    assert resource.depends_on == ("ce-1-backup",) and resource.full_options is False
    assert [r.name for r in rules.steps_on_primary([pack.resource_of(ami), resource], rules.Context())] == ["ce-1-steps-booted"]


# ---- the pack as the policy host serves it -------------------------------------------------------

def test_pack_has_one_policy_per_rule() -> None:
    built = pack.policies()
    assert [p.name for p in built] == [s.name for s in rules.POLICIES]
    assert len({p.name for p in built}) == len(built) == len(rules.RESOURCE_CHECKS) + len(rules.STACK_CHECKS)
    for policy, spec in zip(built, rules.POLICIES, strict=True):
        assert isinstance(policy, ResourceValidationPolicy if spec.kind == "resource" else StackValidationPolicy)
        assert policy.description == spec.description and len(spec.description) > 40
        assert policy.enforcement_level is EnforcementLevel.MANDATORY, spec.name  # docs/policy.md: "All are mandatory"


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[_PolicyAnalyzerServicer]:
    """The SDK's own analyzer service over our policies, with the stack config the engine would pass."""
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps({
        "cloud-exchange-ha:primaryInstanceId": PRIMARY, "cloud-exchange-ha:maintenancePassword": PASSWORD}))
    for key in ("PULUMI_PROJECT", "PULUMI_STACK", "PULUMI_DRY_RUN"):
        monkeypatch.delenv(key, raising=False)
    yield _PolicyAnalyzerServicer(rules.PACK_NAME, "0.1.0", pack.policies(), pack.LEVELS["mandatory"])
    set_all_config({})


def wire(typ: str, name: str, props: dict[str, Any], protect: bool = False) -> dict[str, Any]:
    struct = struct_pb2.Struct()
    struct.update(props)
    return {"type": typ, "name": name, "urn": f"urn:pulumi:dev::cloud-exchange-ha::{typ}::{name}", "properties": struct,
            "options": proto.AnalyzerResourceOptions(protect=protect)}


def test_served_resource_policies(served: _PolicyAnalyzerServicer) -> None:
    efs = served.Analyze(proto.AnalyzeRequest(**wire(rules.EFS, "fs", {"encrypted": False})), None)
    assert sorted(d.policyName for d in efs.diagnostics) == [rules.DATA_PROTECTED, rules.ENCRYPTED]
    # secret marking and preview unknowns arrive as the engine sends them
    node = served.Analyze(proto.AnalyzeRequest(**wire(rules.INSTANCE, "ce-2-vm", {
        "userData": secret(f"#!/bin/sh\necho '{PEM}'"), "rootBlockDevice": UNKNOWN_STRING_VALUE,
        "metadataOptions": {"httpTokens": "required"}})), None)
    assert [d.policyName for d in node.diagnostics] == [rules.NO_PRIVATE_KEY]


def test_served_stack_policies_read_the_stack_config(served: _PolicyAnalyzerServicer) -> None:
    adopted = proto.AnalyzerResource(**wire(rules.INSTANCE, "adopted", instance(tags={"Name": PRIMARY})))
    leak = proto.AnalyzerResource(**wire(rules.COMMAND, "leak", command(f"echo {PASSWORD}")))
    response = served.AnalyzeStack(proto.AnalyzeStackRequest(resources=[adopted, leak]), None)
    found = sorted((d.policyName, d.urn.rsplit("::", 1)[1]) for d in response.diagnostics)
    assert found == [(rules.PRIMARY_NOT_MANAGED, "adopted"), (rules.NO_STACK_SECRET, "leak")]
    assert all(PASSWORD not in d.message for d in response.diagnostics)


def test_pack_files() -> None:
    manifest = yaml.safe_load((ROOT / "policy" / "PulumiPolicy.yaml").read_text(encoding="utf-8"))
    assert manifest["runtime"]["name"] == "python" and manifest["runtime"]["options"]["virtualenv"] == ".venv"
    pins = (ROOT / "policy" / "requirements.txt").read_text(encoding="utf-8")
    assert "pulumi-policy==1.21.0" in pins
    main = (ROOT / "policy" / "__main__.py").read_text(encoding="utf-8")
    assert "PolicyPack(" in main and "rules.PACK_NAME" in main and rules.PACK_NAME == "cloud-exchange-ha-policies"
    for module in ("__main__.py", "pack.py", "rules.py", "exposure.py"):
        text = (ROOT / "policy" / module).read_text(encoding="utf-8")
        assert "from offline" not in text and "import offline" not in text and "import components" not in text
        assert "from components" not in text


def test_secret_config_keys_match_the_project_schema() -> None:
    schema = yaml.safe_load((ROOT / "Pulumi.yaml").read_text(encoding="utf-8"))["config"]
    in_schema = {k for k, v in schema.items() if isinstance(v, dict) and v.get("secret")}
    assert set(rules.SECRET_CONFIG_KEYS) == in_schema == {"sshPrivateKey", "maintenancePassword", "jwtSecret"}  # docs/policy.md: three


# ---- check_run over the real program's mocked graph ----------------------------------------------

def program(config: dict[str, Any]) -> harness.Run:
    result = harness.run(config, secret_keys=stacks.SECRET_KEYS)
    assert result.error is None, result.error
    return result


@pytest.fixture(scope="module")
def migrate_run() -> harness.Run:
    return program(stacks.migrate())


@pytest.mark.parametrize("config", [stacks.migrate(), stacks.greenfield(), stacks.migrate(ceVersion="v6.1.0")],
                         ids=["migrate", "greenfield", "migrate-v6"])
def test_the_program_passes_every_policy(config: dict[str, Any]) -> None:
    result = program(config)
    assert policies.check_run(result) == []
    assert policies.check_run(result, config) == []


def test_check_run_on_the_migrate_graph(migrate_run: harness.Run) -> None:
    assert policies.check_run(migrate_run, stacks.migrate()) == []
    resources = [policies.from_declared(d) for d in migrate_run.resources]
    assert rules.primary_ids(resources, rules.Context()) == {PRIMARY}
    on_primary = {r.name for r in rules.steps_on_primary(resources, rules.Context())}
    assert "ce-1-steps-cutover-setup" in on_primary and not any(n.startswith("ce-2") for n in on_primary)


def edited(result: harness.Run, name: str, **changes: Any) -> harness.Run:
    """The run with one resource's inputs or options changed (a copy; the fixture stays clean)."""
    declared = []
    for item in result.resources:
        if item.name == name:
            inputs = copy.deepcopy(item.inputs)
            inputs.update(changes.pop("inputs", {}))
            item = dataclasses.replace(item, inputs=inputs, **changes)
        declared.append(item)
    return harness.Run(resources=declared, outputs=result.outputs, error=result.error, mocks=result.mocks)


@pytest.mark.parametrize("name, changes, policy", [
    ("ce-1-backup", {"retain_on_delete": False}, rules.DATA_PROTECTED),
    ("ce-2-vm", {"inputs": {"metadataOptions": {"httpTokens": "optional"}}}, rules.IMDSV2),
    ("ce-shared-fs", {"inputs": {"encrypted": False}}, rules.ENCRYPTED),
    ("ce-net-node-ingress-27017-nodes", {"inputs": {"referencedSecurityGroupId": None, "cidrIpv4": "10.0.0.0/8"}}, rules.CLUSTER_PORTS),
    ("ce-net-node-ingress-22-198.51.100.0_24", {"inputs": {"cidrIpv4": "0.0.0.0/0"}}, rules.NO_PUBLIC_SSH),
    ("ce-net-node-ingress-443-198.51.100.0_24", {"inputs": {"cidrIpv4": "64.0.0.0/2"}}, rules.PUBLIC_SOURCES),
    ("ce-1-steps-booted", {"deleted_with": "ce-1-sg"}, rules.PRIMARY_NOT_MANAGED),
    ("ce-2-steps-wait", {"inputs": {"delete": "sudo rm -rf /opt/ta_cloud_exchange"}}, rules.PRIMARY_NOT_MANAGED),
    ("ce-2-steps-prepare", {"inputs": {"create": f"echo {stacks.JWT} > /tmp/jwt"}}, rules.NO_STACK_SECRET),
    ("ce-3-steps-certs", {"inputs": {"update": f"echo '{PEM}' > k"}}, rules.NO_PRIVATE_KEY),
])
def test_check_run_finds_a_broken_graph(migrate_run: harness.Run, name: str, changes: dict[str, Any], policy: str) -> None:
    violations = policies.check_run(edited(migrate_run, name, **changes))
    assert [(v.policy, v.resource) for v in violations if v.policy == policy] == [(policy, name)], violations
    assert all(stacks.JWT not in str(v) and PEM not in str(v) for v in violations)


@pytest.fixture(scope="module")
def broken_program_run() -> harness.Run:
    """The real program with two component decisions undone: an unretained backup AMI and SSH open to the world."""
    with pytest.MonkeyPatch.context() as patch:
        unretained = node_components.backup_options

        def no_retain(parent: Any) -> Any:
            opts = unretained(parent)
            opts.retain_on_delete = False
            return opts

        table = network.rule_table
        patch.setattr(node_components, "backup_options", no_retain)
        patch.setattr(network, "rule_table", lambda settings: [
            *table(settings), network.Rule("node", "ingress", 22, 22, "cidr", "0.0.0.0/0", "SSH from anywhere")])
        return program(stacks.migrate())


def test_check_run_sees_options_the_engine_hides(broken_program_run: harness.Run) -> None:
    found = {(v.policy, v.resource) for v in policies.check_run(broken_program_run)}
    assert (rules.DATA_PROTECTED, "ce-1-backup") in found


def test_check_run_sees_a_public_ssh_rule(broken_program_run: harness.Run) -> None:
    found = {(v.policy, v.resource) for v in policies.check_run(broken_program_run)}
    assert (rules.NO_PUBLIC_SSH, "ce-net-node-ingress-22-0.0.0.0_0") in found


@pytest.mark.parametrize("typ", [rules.COMMAND, "command:local:Command"])
@pytest.mark.parametrize("delete", ["sudo rm -rf /opt/ta_cloud_exchange", "x", rules.UNKNOWN])
def test_any_delete_script_on_a_command_is_refused(typ: str, delete: object) -> None:
    # on any step, not only the primary's: destroy runs it against whatever host is left (or none)
    step = rules.Resource(typ, "ce-2-steps-x", {**command("echo create"), "delete": delete})
    (violation,) = rules.check_primary_not_managed([step], rules.Context())
    assert violation.resource == "ce-2-steps-x" and "delete script" in violation.message


@pytest.mark.parametrize("delete", [None, "", "  \n"])
def test_an_absent_or_blank_delete_script_passes(delete: object) -> None:
    step = rules.Resource(rules.COMMAND, "ce-2-steps-x", {**command("echo create"), "delete": delete})
    assert rules.check_primary_not_managed([step], rules.Context()) == []


def test_the_destroy_guards_delete_is_the_one_allowed() -> None:
    from components import destroy_guard

    def violations(typ: str, delete: str) -> list[rules.Violation]:
        return rules.check_primary_not_managed([rules.Resource(typ, "ce-destroy-guard-check", {"create": "echo", "delete": delete})], rules.Context())

    real = destroy_guard.delete_script()
    assert violations("command:local:Command", real) == []
    assert violations(rules.COMMAND, real) != []  # on a node it is not the guard
    refusal = "echo 'ERROR destroy guard: refused' >&2; exit 1"
    state = 'echo "destroy guard: allowDestroy=${CE_HA_ALLOW_DESTROY}"'
    assert violations("command:local:Command", f'if [ "${{CE_HA_ALLOW_DESTROY:-}}" = true ]; then {state}; exit 0; fi; {refusal}') == []
    for smuggled in (
        real + "; rm -rf /tmp/x",
        real.replace("exit 1", "rm -rf ~"),
        f'if [ "${{CE_HA_ALLOW_DESTROY:-}}" = true ]; then echo "$(rm -rf ~)${{CE_HA_ALLOW_DESTROY}}"; exit 0; fi; {refusal}',
        f'if [ "${{CE_HA_ALLOW_DESTROY:-}}" = true ]; then {state}; exit 0; fi; echo \'x\' >&2; rm -rf ~; exit 1',
        f'if [ "${{OTHER:-}}" = true ]; then {state}; exit 0; fi; {refusal}',
    ):
        assert violations("command:local:Command", smuggled) != [], smuggled
