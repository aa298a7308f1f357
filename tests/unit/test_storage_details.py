"""The shared storage word for word (issue 12): the EFS file system's fixed inputs, its backup policy and
mount targets, what each node's storage phase waits for and what its node.json names.

The file system's ``encrypted``, ``performanceMode`` and ``creationToken`` replace it (a new, empty
file system) when they change, so each is pinned here as written by hand.
"""

from __future__ import annotations

import json
from typing import Any

from offline import harness
from tests.unit import stacks

EFS = "aws:efs/fileSystem:FileSystem"
BACKUP = "aws:efs/backupPolicy:BackupPolicy"
MOUNT_TARGET = "aws:efs/mountTarget:MountTarget"
VOLUME = "aws:ebs/volume:Volume"
#: the mocks' subnets of the migrate stack by zone: the primary's, then subnetIds (offline/mocks.py)
MIGRATE_SUBNETS = {"eu-west-1a": "subnet-0primary000000001", "eu-west-1b": "subnet-0aaaaaaaaaaaaaaa1",
                   "eu-west-1c": "subnet-0bbbbbbbbbbbbbbb2"}


def run(config: dict[str, Any], stack: str = "dev") -> harness.Run:
    result = harness.run(config, secret_keys=stacks.SECRET_KEYS, stack=stack)
    assert result.error is None, result.error
    return result


def node_json(result: harness.Run, node: str) -> dict[str, Any]:
    return dict(json.loads(result.named(f"{node}-steps-config").inputs["stdin"]))


def test_the_file_system_is_fixed_encrypted_elastic_and_named_per_stack() -> None:
    result = run(stacks.migrate(tags=["Environment=prod"]), stack="prod")
    (fs,) = result.of_type(EFS)
    assert (fs.name, fs.parent) == ("ce-shared-fs", "ce-shared")
    assert fs.inputs == {
        "creationToken": "cloud-exchange-ha-prod-shared",
        "encrypted": True,
        "performanceMode": "generalPurpose",
        "throughputMode": "elastic",
        "tags": {"Project": "cloud-exchange-ha", "Environment": "prod", "Name": "ce-shared-fs"},
    }
    assert fs.protect and fs.retain_on_delete
    component = result.named("ce-shared")
    assert (component.typ, component.parent) == ("cloudexchange:ha:SharedStorage", "ce")
    assert "ce-shared" in result.named("ce-destroy-guard-check").depends_on, "a destroy is refused before the file system goes"
    assert result.outputs["efsId"].startswith("fs-")
    assert result.outputs["efsDnsName"] == f"{result.outputs['efsId']}.efs.eu-west-1.amazonaws.com"


def test_the_backup_policy_and_the_mount_targets_belong_to_the_file_system() -> None:
    result = run(stacks.migrate())
    efs_id, efs_group = result.outputs["efsId"], result.outputs["efsSecurityGroupId"]
    (policy,) = result.of_type(BACKUP)
    assert (policy.name, policy.parent, policy.inputs) == (
        "ce-shared-backup", "ce-shared", {"fileSystemId": efs_id, "backupPolicy": {"status": "ENABLED"}})
    assert not policy.protect and not policy.retain_on_delete, "only the file system itself holds data"
    targets = {t.name: (t.parent, t.inputs) for t in result.of_type(MOUNT_TARGET)}
    assert targets == {
        f"ce-shared-mt-{zone}": ("ce-shared", {"fileSystemId": efs_id, "subnetId": subnet, "securityGroups": [efs_group]})
        for zone, subnet in MIGRATE_SUBNETS.items()
    }
    assert [t.name for t in result.of_type(MOUNT_TARGET)] == sorted(targets), "declared in zone order"
    assert not any(t.protect or t.retain_on_delete for t in result.of_type(MOUNT_TARGET))


def test_every_5x_node_mounts_the_file_systems_root_once_every_mount_target_exists() -> None:
    result = run(stacks.migrate())
    source = f"{result.outputs['efsDnsName']}:/"
    targets = {f"ce-shared-mt-{zone}" for zone in MIGRATE_SUBNETS}
    for node in ("ce-1", "ce-2", "ce-3"):
        config = node_json(result, node)
        assert (config["shared_source"], config["brick_volume_id"]) == (source, ""), node
        waits = set(result.named(f"{node}-steps-mount").depends_on)
        assert targets <= waits, node
        assert not [w for w in waits if "bricks" in w], node


def test_a_6x_node_waits_for_its_own_brick_volume_only_and_names_it() -> None:
    result = run(stacks.greenfield(ceVersion="v6.1.0", glusterVolumeSizeGb=250))
    assert result.of_type(EFS) == [] and result.of_type(MOUNT_TARGET) == []
    assert (result.outputs["efsId"], result.outputs["efsDnsName"]) == (None, None)
    for node in ("ce-1", "ce-2", "ce-3"):
        volume = result.named(f"{node}-bricks")
        assert (volume.inputs["size"], volume.inputs["type"], volume.inputs["encrypted"]) == (250, "gp3", True)
        attachment = result.named(f"{node}-bricks-attach")
        assert attachment.inputs["deviceName"] == "/dev/sdf"
        config = node_json(result, node)
        assert (config["shared_source"], config["brick_volume_id"]) == ("", attachment.inputs["volumeId"]), node
        assert config["brick_volume_id"].startswith("vol-")
        waits = [w for w in result.named(f"{node}-steps-bricks").depends_on if "bricks" in w or "-mt-" in w]
        assert waits == [f"{node}-bricks-attach"], node


def test_the_adopted_6x_primary_has_no_brick_volume_and_waits_for_none() -> None:
    result = run(stacks.migrate(ceVersion="v6.1.0"))
    assert sorted(v.name for v in result.of_type(VOLUME)) == ["ce-2-bricks", "ce-3-bricks"]
    config = node_json(result, "ce-1")
    assert (config["shared_source"], config["brick_volume_id"]) == ("", "")
    assert not [w for w in result.named("ce-1-steps-bricks").depends_on if "bricks-attach" in w or "-mt-" in w]
