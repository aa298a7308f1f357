"""The AWS resource graph under mocks: adoption, backup, new nodes, EFS, security groups, outputs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components import release
from offline import harness
from offline.mocks import AwsMocks, AwsWorld
from tests.unit import stacks

INSTANCE = "aws:ec2/instance:Instance"
AMI_BACKUP = "aws:ec2/amiFromInstance:AmiFromInstance"
SG = "aws:ec2/securityGroup:SecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
EFS = "aws:efs/fileSystem:FileSystem"
MOUNT_TARGET = "aws:efs/mountTarget:MountTarget"
ENI = "aws:ec2/networkInterface:NetworkInterface"
EIP = "aws:ec2/eip:Eip"


def run(config: dict[str, Any], world: AwsWorld | None = None, stack: str = "dev") -> harness.Run:
    result = harness.run(config, secret_keys=stacks.SECRET_KEYS, world=world, stack=stack)
    return result


@pytest.fixture(scope="module")
def migrate_run() -> harness.Run:
    result = run(stacks.migrate())
    assert result.error is None, result.error
    return result


@pytest.fixture(scope="module")
def greenfield_run() -> harness.Run:
    result = run(stacks.greenfield())
    assert result.error is None, result.error
    return result


# ---- the adopted primary -----------------------------------------------------------------------


def test_primary_is_never_an_owned_instance(migrate_run: harness.Run) -> None:
    assert [r.name for r in migrate_run.of_type(INSTANCE)] == ["ce-2-vm", "ce-3-vm"]
    owned_ids = {r.inputs.get("instanceId") for r in migrate_run.resources if r.typ == INSTANCE}
    assert "i-0123456789abcdef0" not in owned_ids


def test_only_backup_and_sg_attachment_touch_the_primary(migrate_run: harness.Run) -> None:
    touching = [r for r in migrate_run.resources if "i-0123456789abcdef0" in repr(r.inputs)]
    assert [r.typ for r in touching] == [AMI_BACKUP]
    attachment = migrate_run.named("ce-1-sg")
    assert attachment.inputs["networkInterfaceId"].startswith("eni-")
    assert attachment.depends_on == ["ce-1-backup"], "the backup must be taken before the primary changes"


def test_backup_image_is_protected_retained_and_named_per_stack(migrate_run: harness.Run) -> None:
    (backup,) = migrate_run.of_type(AMI_BACKUP)
    assert backup.protect and backup.retain_on_delete
    assert backup.inputs["name"] == "cloud-exchange-ha-dev-primary-backup"
    assert backup.inputs["sourceInstanceId"] == "i-0123456789abcdef0"
    assert backup.inputs["snapshotWithoutReboot"] is False  # consistent by default
    assert migrate_run.outputs["backupImageId"].startswith("ami-")


def test_backup_name_follows_the_stack_and_no_reboot_is_a_setting() -> None:
    result = run(stacks.migrate(backupReboot=False), stack="prod")
    (backup,) = result.of_type(AMI_BACKUP)
    assert backup.inputs["name"] == "cloud-exchange-ha-prod-primary-backup"
    assert backup.inputs["snapshotWithoutReboot"] is True


def test_new_nodes_copy_the_primarys_type_and_disk() -> None:
    world = AwsWorld(primary_type="m6i.4xlarge", primary_root_gb=150)
    result = run(stacks.migrate(), world=world)
    for node in result.of_type(INSTANCE):
        assert node.inputs["instanceType"] == "m6i.4xlarge"
        assert node.inputs["rootBlockDevice"]["volumeSize"] == 150


def test_instance_type_differing_from_the_primary_is_refused() -> None:
    result = run(stacks.migrate(instanceType="m5.4xlarge"))
    assert result.error and "cloud-exchange-ha:instanceType" in result.error and result.resources == []


# ---- new nodes ---------------------------------------------------------------------------------


def test_new_nodes_are_hardened(greenfield_run: harness.Run) -> None:
    nodes = greenfield_run.of_type(INSTANCE)
    assert len(nodes) == 3
    for node in nodes:
        assert node.inputs["metadataOptions"]["httpTokens"] == "required"
        root = node.inputs["rootBlockDevice"]
        assert root["encrypted"] is True and root["volumeType"] == "gp3"
        assert greenfield_run.of_type(EIP) == [], "no public address unless assignPublicIp"
        assert node.inputs["keyName"] == "ce-test"
        assert node.inputs["ami"] == "ami-0ubuntu00000000001"
        assert "ami" in node.ignore_changes, "a new Canonical image must not replace a node"
        assert node.inputs["instanceType"] == "m5.2xlarge"
        assert node.inputs["tags"]["Project"] == "cloud-exchange-ha"


def test_public_ip_only_when_asked() -> None:
    result = run(stacks.greenfield(assignPublicIp=True))
    eips = result.of_type(EIP)
    assert [e.name for e in eips] == ["ce-1-eip", "ce-2-eip", "ce-3-eip"]
    # on the node's interface, so the public address survives a replaced instance too
    assert [e.inputs["networkInterface"] for e in eips] == [
        "eni-9e2a0921e1950e263", "eni-aa775b7d454044c47", "eni-54d45d74543606cac"]
    assert all(e.inputs["domain"] == "vpc" for e in eips)
    for node in result.of_type(INSTANCE):  # AWS refuses a public IP request on an instance launched on an interface
        assert "associatePublicIpAddress" not in node.inputs


def test_new_nodes_land_in_distinct_zones(greenfield_run: harness.Run) -> None:
    subnets = [n.inputs["subnetId"] for n in greenfield_run.of_type(ENI)]
    assert subnets == ["subnet-0ccccccccccccccc1", "subnet-0ddddddddddddddd2", "subnet-0eeeeeeeeeeeeeee3"]


# ---- a node keeps its address across replacement -----------------------------------------------


def test_each_new_node_owns_a_network_interface_in_its_subnet(migrate_run: harness.Run) -> None:
    enis = migrate_run.of_type(ENI)
    assert [e.name for e in enis] == ["ce-2-eni", "ce-3-eni"], "one per new node, none for the adopted primary"
    assert [e.inputs["subnetId"] for e in enis] == ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0bbbbbbbbbbbbbbb2"]
    for eni in enis:
        assert eni.inputs["securityGroups"] == ["sg-995190f9970346c93"]  # the node security group
        assert eni.inputs["tags"]["Project"] == "cloud-exchange-ha"
        assert eni.inputs["tags"]["Name"] == eni.name
        assert eni.parent == eni.name.removesuffix("-eni"), "declared by its node"
        assert not eni.retain_on_delete and eni.deleted_with is None


def test_the_instance_boots_on_its_nodes_interface_and_is_replaced_delete_first(migrate_run: harness.Run) -> None:
    expected = {"ce-2-vm": "eni-aa775b7d454044c47", "ce-3-vm": "eni-54d45d74543606cac"}
    for vm in migrate_run.of_type(INSTANCE):
        assert vm.inputs["primaryNetworkInterface"] == {"networkInterfaceId": expected[vm.name]}
        # the interface carries subnet, groups and public IP; an instance on one must not set them
        assert not {"subnetId", "vpcSecurityGroupIds", "associatePublicIpAddress"} & set(vm.inputs), vm.name
        assert vm.delete_before_replace, "the old instance holds the interface: it must go before the new one comes"
    assert not any(eni.delete_before_replace for eni in migrate_run.of_type(ENI))


def test_settings_that_would_replace_every_node_are_ignored_after_creation(greenfield_run: harness.Run) -> None:
    for vm in greenfield_run.of_type(INSTANCE):
        assert sorted(vm.ignore_changes) == ["ami", "instanceType", "keyName", "rootBlockDevice.volumeSize"]


def test_a_changed_node_setting_leaves_the_instance_inputs_it_ignores_to_the_engine() -> None:
    """The program still declares the new value (a replaced node gets it); only the engine's diff ignores it."""
    result = run(stacks.greenfield(instanceType="m5.4xlarge", keyPairName="ce-rotated", rootVolumeSizeGb=200))
    for vm in result.of_type(INSTANCE):
        assert (vm.inputs["instanceType"], vm.inputs["keyName"], vm.inputs["rootBlockDevice"]["volumeSize"]) == (
            "m5.4xlarge", "ce-rotated", 200)
        assert sorted(vm.ignore_changes) == ["ami", "instanceType", "keyName", "rootBlockDevice.volumeSize"]


def test_node_addresses_come_from_the_interface_not_the_instance(monkeypatch: pytest.MonkeyPatch) -> None:
    real = AwsMocks.new_resource

    def instance_elsewhere(self: AwsMocks, args: Any) -> tuple[str | None, dict[str, Any]]:
        rid, state = real(self, args)
        if args.typ == INSTANCE:
            state["privateIp"] = "10.9.9.9"  # what an instance-owned address would look like after replacement
        return rid, state

    monkeypatch.setattr(AwsMocks, "new_resource", instance_elsewhere)
    result = run(stacks.greenfield())
    assert result.error is None, result.error
    assert [n["privateIp"] for n in result.outputs["nodes"]] == ["10.0.1.10", "10.0.2.10", "10.0.3.10"]
    config = json.loads(result.named("ce-3-steps-config").inputs["stdin"])
    assert config["node_ip"] == "10.0.3.10"
    assert config["cluster_ips"] == ["10.0.1.10", "10.0.2.10", "10.0.3.10"]
    assert "10.9.9.9" not in repr([r.inputs for r in result.resources])


def test_the_adopted_primary_keeps_its_own_address_and_nothing_can_replace_it(migrate_run: harness.Run) -> None:
    owned = {r.name for r in migrate_run.resources if r.custom}
    assert not {"ce-1-vm", "ce-1-eni", "ce-1-eip"} & owned
    assert migrate_run.outputs["nodes"][0] == {"name": "ce-1", "role": "primary", "privateIp": "10.0.1.10"}
    assert json.loads(migrate_run.named("ce-1-steps-config").inputs["stdin"])["node_ip"] == "10.0.1.10"
    # nothing declared under the primary takes a delete-first replacement or an instance id trigger, except its
    # evictions of a replaced secondary, triggered by that secondary's instance, and its verify, by every secondary's
    # (README "Replacing a node")
    under_primary = [r for r in migrate_run.resources if r.parent in ("ce-1", "ce-1-steps")]
    assert under_primary and not [r.name for r in under_primary if r.delete_before_replace]
    evictions = sorted(r.name for r in under_primary if "-steps-evict-" in r.name)
    assert evictions == ["ce-1-steps-evict-ce-2", "ce-1-steps-evict-ce-3"]
    assert all("i-" not in repr(r.inputs.get("triggers")) for r in under_primary if r.name not in [*evictions, "ce-1-steps-verify"])
    secondaries = [migrate_run.named(f"ce-{n}-steps-booted").inputs["triggers"][-1] for n in (2, 3)]
    assert migrate_run.named("ce-1-steps-verify").inputs["triggers"][-2:] == secondaries


def test_two_nodes_in_one_zone_are_refused_naming_subnet_ids() -> None:
    world = AwsWorld(subnets={"subnet-0aaaaaaaaaaaaaaa1": ("eu-west-1a", "vpc-0123456789abcdef0")})
    result = run(stacks.migrate(), world=world)  # the primary is in eu-west-1a too
    assert result.error and "cloud-exchange-ha:subnetIds" in result.error and "eu-west-1a" in result.error
    assert result.resources == []
    allowed = run(stacks.migrate(allowSameZone=True), world=AwsWorld(
        subnets={"subnet-0aaaaaaaaaaaaaaa1": ("eu-west-1a", "vpc-0123456789abcdef0")}))
    assert allowed.error is None


def test_subnet_outside_the_vpc_is_refused() -> None:
    world = AwsWorld(subnets={"subnet-0aaaaaaaaaaaaaaa1": ("eu-west-1b", "vpc-0ffffffffffffffff")})
    result = run(stacks.migrate(), world=world)
    assert result.error and "subnet-0aaaaaaaaaaaaaaa1" in result.error and "vpcId" in result.error


def test_ubuntu_image_matches_the_release_line() -> None:
    assert "jammy-22.04" in release.ubuntu_image_pattern(release.CE5)
    assert "noble-24.04" in release.ubuntu_image_pattern(release.CE6)


# ---- EFS ---------------------------------------------------------------------------------------


def test_efs_is_encrypted_protected_deterministic_and_backed_up(migrate_run: harness.Run) -> None:
    (fs,) = migrate_run.of_type(EFS)
    assert fs.inputs["encrypted"] is True
    assert fs.inputs["creationToken"] == "cloud-exchange-ha-dev-shared"
    assert fs.protect and fs.retain_on_delete
    (policy,) = migrate_run.of_type("aws:efs/backupPolicy:BackupPolicy")
    assert policy.inputs["backupPolicy"]["status"] == "ENABLED"


def test_one_mount_target_per_zone_behind_the_efs_group(migrate_run: harness.Run) -> None:
    targets = migrate_run.of_type(MOUNT_TARGET)
    assert sorted(t.name for t in targets) == ["ce-shared-mt-eu-west-1a", "ce-shared-mt-eu-west-1b", "ce-shared-mt-eu-west-1c"]
    efs_group = sg_id(migrate_run, "ce-net-efs")
    assert all(t.inputs["securityGroups"] == [efs_group] for t in targets)


def test_no_efs_for_the_6x_line() -> None:
    result = run(stacks.greenfield(ceVersion="v6.1.0"))
    assert result.of_type(EFS) == [] and result.outputs["efsId"] is None
    volumes = result.of_type("aws:ebs/volume:Volume")
    assert len(volumes) == 3 and all(v.inputs["encrypted"] for v in volumes)


# ---- CE's data outlives a destroy ----------------------------------------------------------------

VOLUME = "aws:ebs/volume:Volume"
ATTACHMENT = "aws:ec2/volumeAttachment:VolumeAttachment"


@pytest.mark.parametrize("config", [stacks.greenfield(), stacks.migrate(), stacks.greenfield(ceVersion="v6.1.0")])
def test_root_volumes_holding_mongodb_are_kept_and_named_for_their_stack_and_node(config: dict[str, Any]) -> None:
    result = run(config, stack="prod")
    nodes = result.of_type(INSTANCE)
    assert nodes
    for node in nodes:
        root = node.inputs["rootBlockDevice"]
        assert root["deleteOnTermination"] is False, node.name
        name = node.name.removesuffix("-vm")
        assert root["tags"]["Name"] == f"cloud-exchange-ha-prod-{name}-mongodb"
        assert root["tags"]["Project"] == "cloud-exchange-ha"
        assert node.inputs["tags"]["Name"] == name, "the instance keeps its own name"
        # the instance itself is not protected or retained: a dead node can be replaced
        assert not node.protect and not node.retain_on_delete


def test_brick_volumes_and_attachments_are_retained_not_protected() -> None:
    result = run(stacks.greenfield(ceVersion="v6.1.0"))
    volumes, attachments = result.of_type(VOLUME), result.of_type(ATTACHMENT)
    assert sorted(v.name for v in volumes) == ["ce-1-bricks", "ce-2-bricks", "ce-3-bricks"]
    assert sorted(a.name for a in attachments) == ["ce-1-bricks-attach", "ce-2-bricks-attach", "ce-3-bricks-attach"]
    for resource in volumes + attachments:
        assert resource.retain_on_delete is True, resource.name
        assert resource.protect is False, f"{resource.name}: protect would block replacing a dead node"
    assert result.named("ce-2-bricks").inputs["tags"]["Name"] == "cloud-exchange-ha-dev-ce-2-glusterfs-bricks"


def test_the_data_policy_passes_the_programs_own_data_volumes() -> None:
    from offline import policies
    from policy import rules as policy_rules

    for config in (stacks.greenfield(ceVersion="v6.1.0"), stacks.migrate()):
        found = [v for v in policies.check_run(run(config), config) if v.policy == policy_rules.DATA_PROTECTED]
        assert found == []


# ---- security groups ---------------------------------------------------------------------------


def sg_id(result: harness.Run, name: str) -> str:
    return str(result.outputs["nodeSecurityGroupId"] if name == "ce-net-nodes" else result.outputs["efsSecurityGroupId"])


def rules(result: harness.Run, typ: str, group: str) -> list[dict[str, Any]]:
    gid = sg_id(result, group)
    return [r.inputs for r in result.of_type(typ) if r.inputs["securityGroupId"] == gid]


def test_no_ingress_from_anywhere_unless_the_user_listed_it(migrate_run: harness.Run) -> None:
    ingress = [r.inputs for r in migrate_run.of_type(INGRESS)]
    assert not [r for r in ingress if r.get("cidrIpv4") == "0.0.0.0/0"]
    opened = run(stacks.migrate(uiCidrs=["0.0.0.0/0"], allowPublicUi=True))
    world = [r.inputs for r in opened.of_type(INGRESS) if r.inputs.get("cidrIpv4") == "0.0.0.0/0"]
    assert [(r["fromPort"], r["description"]) for r in world] == [(443, "CE UI")]


def test_ssh_only_from_admin_cidrs_or_the_bastion() -> None:
    result = run(stacks.migrate(sshCidrs=["198.51.100.0/24"], bastionSecurityGroupId="sg-0123456789abcdef0"))
    ssh = [r.inputs for r in result.of_type(INGRESS) if r.inputs["fromPort"] == 22]
    sources = {(r.get("cidrIpv4"), r.get("referencedSecurityGroupId")) for r in ssh}
    assert sources == {("198.51.100.0/24", None), (None, "sg-0123456789abcdef0")}


def test_efs_accepts_nfs_from_the_nodes_only(migrate_run: harness.Run) -> None:
    (only,) = rules(migrate_run, INGRESS, "ce-net-efs")
    assert (only["fromPort"], only["toPort"]) == (2049, 2049)
    assert only["referencedSecurityGroupId"] == sg_id(migrate_run, "ce-net-nodes")
    assert only.get("cidrIpv4") is None


def test_egress_is_explicit_and_groups_have_no_inline_rules(migrate_run: harness.Run) -> None:
    egress = rules(migrate_run, EGRESS, "ce-net-nodes")
    assert {(r["fromPort"], r.get("cidrIpv4")) for r in egress} >= {(443, "0.0.0.0/0"), (80, "0.0.0.0/0")}
    for group in migrate_run.of_type(SG):
        assert "ingress" not in group.inputs and "egress" not in group.inputs


def test_rule_names_are_unique_and_described(migrate_run: harness.Run) -> None:
    rule_resources = migrate_run.of_type(INGRESS) + migrate_run.of_type(EGRESS)
    names = [r.name for r in rule_resources]
    assert len(names) == len(set(names))
    assert all(r.inputs.get("description") for r in rule_resources)


def test_the_primary_gets_the_node_group(migrate_run: harness.Run) -> None:
    attachment = migrate_run.named("ce-1-sg")
    assert attachment.inputs["securityGroupId"] == sg_id(migrate_run, "ce-net-nodes")


# ---- tags, parents, outputs --------------------------------------------------------------------


TAGGABLE = {INSTANCE, AMI_BACKUP, SG, INGRESS, EGRESS, EFS, "aws:ebs/volume:Volume"}


def test_every_taggable_resource_carries_the_stack_tags() -> None:
    result = run(stacks.migrate(tags=["Environment=dev"]))
    for resource in result.resources:
        if resource.typ in TAGGABLE:
            assert resource.inputs["tags"]["Environment"] == "dev", resource.name
            assert resource.inputs["tags"]["Project"] == "cloud-exchange-ha", resource.name


def test_every_resource_has_a_parent_component(migrate_run: harness.Run) -> None:
    for resource in migrate_run.resources:
        if resource.name != "ce":
            assert resource.parent, resource.name
        if resource.custom:
            assert migrate_run.named(resource.parent or "").typ.startswith("cloudexchange:ha:"), resource.name


def test_outputs_name_nodes_ips_backup_efs_and_groups(migrate_run: harness.Run) -> None:
    out = migrate_run.outputs
    assert out["nodes"] == [
        {"name": "ce-1", "role": "primary", "privateIp": "10.0.1.10"},
        {"name": "ce-2", "role": "secondary", "privateIp": "10.0.2.10"},
        {"name": "ce-3", "role": "secondary", "privateIp": "10.0.3.10"},
    ]
    assert out["efsId"].startswith("fs-") and out["efsDnsName"].endswith(".amazonaws.com")
    assert out["nodeSecurityGroupId"].startswith("sg-") and out["efsSecurityGroupId"].startswith("sg-")


def test_greenfield_has_no_backup_and_no_attachment(greenfield_run: harness.Run) -> None:
    assert greenfield_run.of_type(AMI_BACKUP) == []
    assert greenfield_run.outputs["backupImageId"] is None
    assert not [r for r in greenfield_run.resources if r.typ.endswith("NetworkInterfaceSecurityGroupAttachment")]


# ---- egress and the UI port, against CE's own port lists (docs/ce-facts.md §3.1, §3.2) ----------
#: written from CE's facts, not read from the release lines' table: a wrong table must fail here
CE5_CLUSTER_PORTS = {(4369, 4369), (5672, 5672), (15672, 15672), (25672, 25672), (35672, 35672), (27017, 27017)}
CE6_CLUSTER_PORTS = {(4369, 4369), (5671, 5671), (15671, 15671), (25672, 25672), (35672, 35672), (27017, 27017),
                     (24007, 24007), (24009, 24029), (8000, 8000)}


def between_members(result: harness.Run, typ: str) -> set[tuple[int, int]]:
    node_group = sg_id(result, "ce-net-nodes")
    return {(r["fromPort"], r["toPort"]) for r in rules(result, typ, "ce-net-nodes") if r.get("referencedSecurityGroupId") == node_group}


@pytest.mark.parametrize(("version", "cluster"), [("v5.1.2", CE5_CLUSTER_PORTS), ("v6.1.0", CE6_CLUSTER_PORTS)])
def test_members_reach_each_others_cluster_ports_both_ways(version: str, cluster: set[tuple[int, int]]) -> None:
    result = run(stacks.greenfield(ceVersion=version))
    assert between_members(result, INGRESS) == cluster | {(443, 443)}  # + the UI, checked between nodes by verify
    assert between_members(result, EGRESS) == cluster | {(443, 443)}


def test_nodes_send_nfs_to_the_efs_group_only(migrate_run: harness.Run) -> None:
    efs_group = sg_id(migrate_run, "ce-net-efs")
    nfs = [r for r in rules(migrate_run, EGRESS, "ce-net-nodes") if r["fromPort"] == 2049]
    assert [(r["toPort"], r.get("referencedSecurityGroupId"), r.get("cidrIpv4")) for r in nfs] == [(2049, efs_group, None)]


def test_a_proxy_on_its_own_port_gets_egress_and_a_proxy_on_443_adds_none() -> None:
    def to_anywhere(result: harness.Run) -> list[int]:
        return sorted(r["fromPort"] for r in rules(result, EGRESS, "ce-net-nodes") if r.get("cidrIpv4") == "0.0.0.0/0")

    assert to_anywhere(run(stacks.migrate())) == [80, 443]
    proxied = run(stacks.migrate(proxyUrl="http://proxy.example:3128"))
    assert proxied.error is None, proxied.error
    assert to_anywhere(proxied) == [80, 443, 3128]
    assert to_anywhere(run(stacks.migrate(proxyUrl="https://proxy.example:443"))) == [80, 443]


def test_every_ui_rule_follows_ui_port() -> None:
    result = run(stacks.migrate(uiPort=8443))
    assert result.error is None, result.error
    ui_rules = [r.inputs for r in result.of_type(INGRESS) + result.of_type(EGRESS) if "UI" in r.inputs["description"]]
    assert len(ui_rules) == 3  # from uiCidrs, between nodes in and out
    assert {(r["fromPort"], r["toPort"]) for r in ui_rules} == {(8443, 8443)}
    from_users = [r for r in rules(result, INGRESS, "ce-net-nodes") if r.get("cidrIpv4") == "198.51.100.0/24" and r["fromPort"] != 22]
    assert [(r["fromPort"], r["toPort"]) for r in from_users] == [(8443, 8443)]
    assert (8443, 8443) in between_members(result, INGRESS) and (443, 443) not in between_members(result, INGRESS)
