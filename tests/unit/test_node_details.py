"""The nodes word for word (issue 12): what the program asks AWS about the primary and the image, and every
input and option of the primary's backup and attachment, a new node's interface, address, instance and brick
volume, written out by hand (a changed image name or description replaces the resource).
"""

from __future__ import annotations

from typing import Any

import pytest

from offline import harness
from offline.mocks import AwsMocks, AwsWorld
from tests.unit import stacks

PRIMARY = "i-0123456789abcdef0"
#: the mocks' id of the primary's network interface (derived from its instance id)
PRIMARY_ENI = "eni-57df73291f7c53991"
CANONICAL = "099720109477"
ROLLED_BY_HAND = ["ami", "instanceType", "keyName", "rootBlockDevice.volumeSize"]


def run(config: dict[str, Any], world: AwsWorld | None = None, stack: str = "dev") -> harness.Run:
    result = harness.run(config, secret_keys=stacks.SECRET_KEYS, world=world, stack=stack)
    assert result.error is None, result.error
    return result


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """Every invoke the program makes, with its arguments, in order."""
    calls: list[tuple[str, dict[str, Any]]] = []
    real = AwsMocks.call

    def recording(self: AwsMocks, args: Any) -> Any:
        calls.append((args.token, dict(args.args)))
        return real(self, args)

    monkeypatch.setattr(AwsMocks, "call", recording)
    return calls


@pytest.mark.parametrize(("version", "pattern"), [
    ("v5.1.2", "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-*"),
    ("v6.1.0", "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*"),
])
def test_new_nodes_boot_canonicals_newest_x86_hvm_image_of_the_lines_ubuntu(
        asked: list[tuple[str, dict[str, Any]]], version: str, pattern: str) -> None:
    run(stacks.greenfield(ceVersion=version))
    images = [args for token, args in asked if token == "aws:ec2/getAmi:getAmi"]
    assert images and all(args == images[0] for args in images)
    assert images[0] == {
        "mostRecent": True,
        "owners": [CANONICAL],
        "filters": [{"name": "name", "values": [pattern]}, {"name": "architecture", "values": ["x86_64"]},
                    {"name": "virtualization-type", "values": ["hvm"]}],
    }


def test_the_primary_is_looked_up_by_its_instance_id(asked: list[tuple[str, dict[str, Any]]]) -> None:
    run(stacks.migrate())
    lookups = [args for token, args in asked if token == "aws:ec2/getInstance:getInstance"]
    assert lookups and all(args == {"instanceId": PRIMARY} for args in lookups)


def test_the_primarys_backup_image_is_named_described_and_tagged_for_its_source() -> None:
    result = run(stacks.migrate(tags=["Environment=prod"]), stack="prod")
    component = result.named("ce-1")
    assert (component.typ, component.parent) == ("cloudexchange:ha:PrimaryNode", "ce")
    backup = result.named("ce-1-backup")
    assert backup.parent == "ce-1" and backup.protect and backup.retain_on_delete
    assert backup.inputs == {
        "name": "cloud-exchange-ha-prod-primary-backup",
        "description": f"cloud-exchange-ha: {PRIMARY} before HA cutover (CE v5.1.2)",
        "sourceInstanceId": PRIMARY,
        "snapshotWithoutReboot": False,
        "tags": {"Project": "cloud-exchange-ha", "Environment": "prod", "Name": "ce-1-backup", "SourceInstance": PRIMARY},
    }
    attachment = result.named("ce-1-sg")
    assert attachment.parent == "ce-1" and attachment.depends_on == ["ce-1-backup"]
    assert not attachment.protect and not attachment.retain_on_delete
    assert attachment.inputs == {"networkInterfaceId": PRIMARY_ENI, "securityGroupId": result.outputs["nodeSecurityGroupId"]}


def test_a_new_node_is_its_interface_its_address_and_its_instance_word_for_word() -> None:
    result = run(stacks.greenfield(assignPublicIp=True, tags=["Environment=dev"]))
    tags = {"Project": "cloud-exchange-ha", "Environment": "dev"}
    node_group = result.outputs["nodeSecurityGroupId"]
    component = result.named("ce-2")
    assert (component.typ, component.parent) == ("cloudexchange:ha:NewNode", "ce")
    eni = result.named("ce-2-eni")
    assert eni.parent == "ce-2" and not eni.protect and not eni.retain_on_delete and not eni.delete_before_replace
    assert eni.inputs == {
        "subnetId": "subnet-0ddddddddddddddd2",
        "securityGroups": [node_group],
        "description": "cloud-exchange-ha ce-2: the node's address, kept across instance replacement",
        "tags": {**tags, "Name": "ce-2-eni"},
    }
    eip = result.named("ce-2-eip")
    assert eip.parent == "ce-2" and not eip.protect and not eip.retain_on_delete
    assert eip.inputs == {"domain": "vpc", "networkInterface": "eni-aa775b7d454044c47", "tags": {**tags, "Name": "ce-2-eip"}}
    vm = result.named("ce-2-vm")
    assert vm.parent == "ce-2" and vm.delete_before_replace and not vm.protect and not vm.retain_on_delete
    assert sorted(vm.ignore_changes) == ROLLED_BY_HAND
    assert vm.inputs == {
        "ami": "ami-0ubuntu00000000001",
        "instanceType": "m5.2xlarge",
        "primaryNetworkInterface": {"networkInterfaceId": "eni-aa775b7d454044c47"},
        "keyName": "ce-test",
        "metadataOptions": {"httpTokens": "required", "httpEndpoint": "enabled", "httpPutResponseHopLimit": 2},
        "rootBlockDevice": {"volumeType": "gp3", "volumeSize": 100, "encrypted": True, "deleteOnTermination": False,
                            "tags": {**tags, "Name": "cloud-exchange-ha-dev-ce-2-mongodb"}},
        "tags": {**tags, "Name": "ce-2"},
    }
    assert [n["privateIp"] for n in result.outputs["nodes"]] == ["10.0.1.10", "10.0.2.10", "10.0.3.10"]


def test_a_6x_nodes_brick_volume_sits_in_its_zone_and_moves_with_the_node() -> None:
    result = run(stacks.greenfield(ceVersion="v6.1.0", tags=["Environment=dev"]), stack="prod")
    tags = {"Project": "cloud-exchange-ha", "Environment": "dev"}
    # the mocks put the greenfield subnets in eu-west-1b, c, d in the order they are first looked up
    zones = {"ce-1": "eu-west-1b", "ce-2": "eu-west-1c", "ce-3": "eu-west-1d"}
    instance_ids = {"ce-1": "i-8b78545fc17288eaa", "ce-2": "i-2d9d061037a6886c0", "ce-3": "i-591b4a66cae4235b8"}
    for node, zone in zones.items():
        volume = result.named(f"{node}-bricks")
        assert volume.parent == node and volume.retain_on_delete and not volume.protect and not volume.delete_before_replace
        assert volume.inputs == {"availabilityZone": zone, "size": 100, "type": "gp3", "encrypted": True,
                                        "tags": {**tags, "Name": f"cloud-exchange-ha-prod-{node}-glusterfs-bricks"}}
        attachment = result.named(f"{node}-bricks-attach")
        assert attachment.parent == node and attachment.retain_on_delete and attachment.delete_before_replace
        assert not attachment.protect
        assert attachment.inputs["deviceName"] == "/dev/sdf" and attachment.inputs["instanceId"] == instance_ids[node]
        assert attachment.inputs["volumeId"].startswith("vol-") and set(attachment.inputs) == {"deviceName", "instanceId", "volumeId"}


def test_a_primary_without_a_listed_root_volume_gives_new_nodes_100_gb(monkeypatch: pytest.MonkeyPatch) -> None:
    real = AwsMocks.call

    def no_root_devices(self: AwsMocks, args: Any) -> Any:
        answer, failures = real(self, args)
        if args.token == "aws:ec2/getInstance:getInstance":
            answer = {**answer, "rootBlockDevices": []}
        return answer, failures

    monkeypatch.setattr(AwsMocks, "call", no_root_devices)
    result = run(stacks.migrate())
    assert {vm.inputs["rootBlockDevice"]["volumeSize"] for vm in result.of_type("aws:ec2/instance:Instance")} == {100}


def test_configured_type_and_size_win_over_the_defaults() -> None:
    result = run(stacks.greenfield(instanceType="m5.4xlarge", rootVolumeSizeGb=180))
    for vm in result.of_type("aws:ec2/instance:Instance"):
        assert (vm.inputs["instanceType"], vm.inputs["rootBlockDevice"]["volumeSize"]) == ("m5.4xlarge", 180)
    sized = run(stacks.migrate(rootVolumeSizeGb=180), world=AwsWorld(primary_root_gb=150))
    assert {vm.inputs["rootBlockDevice"]["volumeSize"] for vm in sized.of_type("aws:ec2/instance:Instance")} == {180}


def test_new_nodes_take_the_primarys_type_and_root_size_and_the_primary_keeps_its_address() -> None:
    world = AwsWorld(primary_type="m6i.4xlarge", primary_root_gb=150, primary_ip="10.0.1.77")
    result = run(stacks.migrate(), world=world)
    for vm in result.of_type("aws:ec2/instance:Instance"):
        assert (vm.inputs["instanceType"], vm.inputs["rootBlockDevice"]["volumeSize"]) == ("m6i.4xlarge", 150)
    assert result.outputs["nodes"][0] == {"name": "ce-1", "role": "primary", "privateIp": "10.0.1.77"}


def test_the_primarys_zone_is_the_one_a_new_node_may_not_share() -> None:
    # the mocks put the first subnet looked up in eu-west-1b: a primary there shares it with ce-2
    result = harness.run(stacks.migrate(), secret_keys=stacks.SECRET_KEYS, world=AwsWorld(primary_zone="eu-west-1b"))
    assert result.error and "eu-west-1b" in result.error and "cloud-exchange-ha:subnetIds" in result.error


def test_behind_a_balancer_the_primary_is_registered_by_its_own_instance_id() -> None:
    result = run(stacks.migrate(loadBalancer="internal"))
    targets = sorted(a.inputs["targetId"] for a in result.of_type("aws:lb/targetGroupAttachment:TargetGroupAttachment"))
    assert targets == sorted([PRIMARY, "i-2d9d061037a6886c0", "i-591b4a66cae4235b8"])
