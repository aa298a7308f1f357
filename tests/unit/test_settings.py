"""Settings: every rule with a valid and an invalid case; errors name the key and the fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from components import settings as s
from tests.unit import stacks


def problems(config: dict[str, Any]) -> list[s.Problem]:
    with pytest.raises(s.SettingsError) as caught:
        s.parse(config)
    return caught.value.problems


def keys(config: dict[str, Any]) -> set[str]:
    return {p.setting for p in problems(config)}


def test_valid_migrate_and_greenfield_parse() -> None:
    assert s.parse(stacks.migrate()).mode == "migrate"
    parsed = s.parse(stacks.greenfield())
    assert parsed.mode == "greenfield"
    assert parsed.new_node_count == 3


def test_defaults_come_from_pulumi_yaml() -> None:
    parsed = s.parse(stacks.migrate())
    spec = s.schema()
    # the values themselves as the README's settings table documents them, so a wrong default in Pulumi.yaml fails too
    assert parsed.ui_port == spec["uiPort"]["default"] == 443
    assert parsed.ssh_user == spec["sshUser"]["default"] == "ubuntu"
    assert parsed.backup_reboot is spec["backupReboot"]["default"] is True
    assert "default" not in spec["ceVersion"]  # a stack says which CE it runs


def test_every_pulumi_yaml_key_is_a_settings_field_and_back() -> None:
    from_yaml = {s.snake(k) for k in s.schema()}
    assert from_yaml == set(s.Settings.model_fields)


def test_every_key_has_type_description_and_default_or_secret() -> None:
    for name, spec in s.schema().items():
        assert spec.get("type") in ("string", "integer", "boolean", "array"), name
        assert spec.get("description"), name
    required = {name for name, spec in s.schema().items() if "default" not in spec and not spec.get("secret")}
    assert required == {"ceVersion"}  # a stack says which CE it runs; nothing else is required without a default


def test_ce_version_has_no_default_and_its_absence_is_one_clear_error() -> None:
    config = stacks.migrate()
    del config["ceVersion"]
    with pytest.raises(s.SettingsError) as caught:
        s.parse(config)
    assert [p.setting for p in caught.value.problems] == ["ceVersion"]
    text = str(caught.value)
    assert "cloud-exchange-ha:ceVersion: is not set" in text
    assert "v5.1.2 for an existing 5.x cluster" in text and "pulumi config set ceVersion v6.1.0" in text
    assert "2026-10-31" in text


def test_secrets_are_secret_in_schema() -> None:
    secret = {k for k, v in s.schema().items() if v.get("secret")}
    assert secret == {"sshPrivateKey", "maintenancePassword", "jwtSecret"}


def test_raw_strings_from_the_engine_are_typed() -> None:
    raw = stacks.migrate(uiPort="8443", tls12="true", subnetIds='["subnet-0aaaaaaaaaaaaaaa1","subnet-0bbbbbbbbbbbbbbb2"]')
    parsed = s.parse(raw)
    assert parsed.ui_port == 8443 and parsed.tls12 is True
    assert parsed.subnet_ids == ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0bbbbbbbbbbbbbbb2"]


@pytest.mark.parametrize(
    ("overrides", "key", "words"),
    [
        ({"mode": "lift-and-shift"}, "mode", "migrate"),
        ({"primaryInstanceId": ""}, "primaryInstanceId", "required in migrate"),
        ({"primaryInstanceId": "instance-1"}, "primaryInstanceId", "not an EC2 instance id"),
        ({"vpcId": "vpc-1"}, "vpcId", "not a VPC id"),
        ({"subnetIds": ["subnet-0aaaaaaaaaaaaaaa1"]}, "subnetIds", "needs 2"),
        ({"subnetIds": ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa1"]}, "subnetIds", "allowSameZone"),
        ({"subnetIds": ["net-1", "subnet-0aaaaaaaaaaaaaaa1"]}, "subnetIds", "not subnet ids"),
        ({"nodeCount": 4}, "nodeCount", "odd number"),
        ({"nodeCount": 9}, "nodeCount", "odd number"),
        ({"instanceType": "m5.xlarge"}, "instanceType", "exactly 8 or 16"),
        ({"instanceType": "m5.8xlarge"}, "instanceType", "exactly 8 or 16"),
        ({"instanceType": "bigbox"}, "instanceType", "not an EC2 instance type"),
        ({"rootVolumeSizeGb": 60}, "rootVolumeSizeGb", "at least 80"),
        ({"instanceType": "m5.4xlarge", "rootVolumeSizeGb": 100}, "rootVolumeSizeGb", "at least 120"),
        ({"ceVersion": "v4.2.0"}, "ceVersion", "5.0.0"),
        ({"ceVersion": "v5.1.0"}, "ceVersion", "version menu"),
        ({"ceVersion": "latest"}, "ceVersion", "not a CE version tag"),
        ({"ceVersion": "v7.0.0"}, "ceVersion", "does not know"),
        ({"ceRepoUrl": "not a url"}, "ceRepoUrl", "not a git URL"),
        ({"ceDir": "relative/dir"}, "ceDir", "absolute path"),
        ({"sharedDir": "/mnt/my dir"}, "sharedDir", "absolute path"),
        ({"ceVersion": "v6.1.0", "sharedDir": "/mnt/ce-ha"}, "sharedDir", "/opt/shared/data"),
        ({"sshUser": "Root User"}, "sshUser", "not a Linux user"),
        ({"sshPrivateKey": "hunter2"}, "sshPrivateKey", "PEM"),
        ({"keyPairName": ""}, "keyPairName", "required"),
        ({"sshCidrs": ["0.0.0.0/0"]}, "sshCidrs", "whole internet"),
        ({"sshCidrs": ["10.0.0.1/8"]}, "sshCidrs", "host bits"),
        ({"sshCidrs": []}, "sshCidrs", "bastionSecurityGroupId"),
        ({"bastionSecurityGroupId": "group-1"}, "bastionSecurityGroupId", "sg-"),
        ({"uiCidrs": ["everyone"]}, "uiCidrs", "not a CIDR"),
        ({"maintenancePassword": "has space"}, "maintenancePassword", "refuses"),
        ({"maintenancePassword": "slash/y"}, "maintenancePassword", "refuses"),
        ({"jwtSecret": "a&b"}, "jwtSecret", "refuses"),
        ({"jwtSecret": "what?"}, "jwtSecret", "refuses"),
        ({"jwtSecret": ""}, "jwtSecret", "empty"),
        ({"uiPort": 70000}, "uiPort", "1 to 65535"),
        ({"uiPort": 8000}, "uiPort", "management"),
        ({"uiPort": "http"}, "uiPort", "whole number"),
        ({"uiProtocol": "ftp"}, "uiProtocol", "https"),
        ({"uiProtocol": "http", "tls12": True}, "tls12", "https"),
        ({"tls12": "maybe"}, "tls12", "true or false"),
        ({"proxyUrl": "proxy.local:3128"}, "proxyUrl", "http(s)://host:port"),
        ({"proxyUrl": "http://user:pw@proxy.local:3128"}, "proxyUrl", "password"),
        ({"tenantUrl": "http://demo.goskope.com"}, "tenantUrl", "https"),
        ({"tenantUrl": "https://demo.goskope.com/login"}, "tenantUrl", "without a path"),
        ({"uiCertificateFile": "/nope.pem"}, "uiCertificateFile", "together"),
        ({"glusterVolumeSizeGb": 5}, "glusterVolumeSizeGb", "between 20"),
        ({"tags": ["Owner"]}, "tags", "Key=Value"),
        ({"tags": ["aws:owner=me"]}, "tags", "reserved"),
        ({"dockerRepoUrl": "ftp://mirror"}, "dockerRepoUrl", "https URL"),
        ({"dockerRepoUrl": "http://mirror.example/docker"}, "dockerRepoUrl", "https URL"),
        ({"subnetIds": "subnet-0aaaaaaaaaaaaaaa1"}, "subnetIds", "must be a list"),
        ({"unknownSetting": "x"}, "unknownSetting", "not a setting"),
    ],
)
def test_each_rule_rejects_bad_input_naming_the_key(overrides: dict[str, Any], key: str, words: str) -> None:
    found = problems(stacks.migrate(**overrides))
    messages = [p.message for p in found if p.setting == key]
    assert messages, f"no problem reported for {key}: {found}"
    assert any(words in m for m in messages), messages
    assert all(str(p).startswith(f"cloud-exchange-ha:{p.setting}: ") for p in found)


@pytest.mark.parametrize(
    "overrides",
    [
        {"instanceType": "m5.4xlarge", "rootVolumeSizeGb": 120},
        {"instanceType": "m5.xlarge", "rootVolumeSizeGb": 40, "allowUndersized": True},
        {"subnetIds": ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa1"], "allowSameZone": True},
        {"sshCidrs": [], "bastionSecurityGroupId": "sg-0123456789abcdef0"},
        {"uiCidrs": ["0.0.0.0/0"], "allowPublicUi": True},
        {"ceVersion": "v6.1.0"},
        {"ceVersion": "v5.1.1"},
        {"proxyUrl": "http://proxy.example:3128"},
        {"uiProtocol": "http"},
        {"tags": ["Owner=secops", "CostCenter=42"]},
        {"ceRepoUrl": "git@git.example.com:mirror/ta_cloud_exchange.git"},
        {"dockerRepoUrl": "os"},
        {"dockerRepoUrl": "https://mirror.example.com/docker/ubuntu"},
    ],
)
def test_valid_variants_pass(overrides: dict[str, Any]) -> None:
    s.parse(stacks.migrate(**overrides))


def test_greenfield_rejects_a_primary_and_wants_node_count_subnets() -> None:
    assert "primaryInstanceId" in keys(stacks.greenfield(primaryInstanceId="i-0123456789abcdef0"))
    assert "subnetIds" in keys(stacks.greenfield(subnetIds=["subnet-0ccccccccccccccc1"]))
    assert s.parse(stacks.greenfield(nodeCount=5, subnetIds=[f"subnet-0{i}cccccccccccccc1" for i in range(5)])).node_count == 5


def test_all_problems_are_reported_at_once() -> None:
    found = problems(stacks.migrate(vpcId="x", nodeCount=2, jwtSecret="a b", sshCidrs=["0.0.0.0/0"]))
    assert {"vpcId", "nodeCount", "jwtSecret", "sshCidrs"} <= {p.setting for p in found}


def test_missing_secret_tells_how_to_set_it_as_secret() -> None:
    config = stacks.migrate()
    del config["jwtSecret"]
    (problem,) = [p for p in problems(config) if p.setting == "jwtSecret"]
    assert "pulumi config set --secret jwtSecret" in problem.message


def test_secret_values_never_appear_in_errors_or_repr() -> None:
    bad_password = "bad pass'word"
    found = problems(stacks.migrate(maintenancePassword=bad_password, jwtSecret="x/y z"))
    text = str(s.SettingsError(found))
    assert bad_password not in text and "x/y z" not in text
    parsed = s.parse(stacks.migrate())
    assert stacks.MAINTENANCE not in repr(parsed) and stacks.JWT not in repr(parsed)
    assert stacks.FAKE_KEY.splitlines()[1] not in repr(parsed)


def test_derived_values() -> None:
    parsed = s.parse(stacks.migrate(tags=["Owner=secops"]))
    assert parsed.line.major == 5
    assert parsed.effective_shared_dir == "/mnt/ce-ha"
    assert parsed.tag_map == {"Project": "cloud-exchange-ha", "Owner": "secops"}
    six = s.parse(stacks.migrate(ceVersion="v6.1.0"))
    assert six.line.storage == "glusterfs" and six.effective_shared_dir == "/opt/shared/data"


def test_stack_files_in_the_repo_are_valid_once_secrets_are_set() -> None:
    root = Path(__file__).resolve().parents[2]
    for stack_file in sorted(root.glob("Pulumi.*.yaml")):
        config = yaml.safe_load(stack_file.read_text())["config"]
        raw = {k.split(":", 1)[1]: v for k, v in config.items() if k.startswith("cloud-exchange-ha:")}
        raw.update(sshPrivateKey=stacks.FAKE_KEY, maintenancePassword=stacks.MAINTENANCE, jwtSecret=stacks.JWT)
        s.parse(raw)


def test_a_ui_certificate_is_for_5x_greenfield_only(tmp_path: Path) -> None:
    cert, key = tmp_path / "ui.crt", tmp_path / "ui.key"
    cert.write_text("cert")
    key.write_text("key")
    both = {"uiCertificateFile": str(cert), "uiCertificateKeyFile": str(key)}
    s.parse(stacks.greenfield(**both))
    assert "uiCertificateFile" in keys(stacks.greenfield(ceVersion="v6.1.0", **both))
    assert "uiCertificateFile" in keys(stacks.migrate(**both))


# ---- harmful settings (issue 13): each refused with the key and the fix, nothing declared -------------


def only_problem_of(config: dict[str, Any], key: str) -> str:
    """The problems of a config broken in one setting, all blamed on that setting (others stay valid)."""
    found = problems(config)
    assert found and {p.setting for p in found} == {key}, found
    return "\n".join(p.message for p in found)


@pytest.mark.parametrize(
    ("overrides", "key", "words"),
    [
        # sharedDir: the root, system trees, ceDir and the node bundle's folder
        ({"sharedDir": "/"}, "sharedDir", "is the root folder"),
        ({"sharedDir": "/etc"}, "sharedDir", "is /etc"),
        ({"sharedDir": "/var/lib/ce"}, "sharedDir", "lies inside /var"),
        ({"sharedDir": "/home/ubuntu/share"}, "sharedDir", "lies inside /home"),
        ({"sharedDir": "/tmp"}, "sharedDir", "folder the system needs"),
        ({"sharedDir": "/lib64/x"}, "sharedDir", "lies inside /lib64"),
        ({"sharedDir": "/opt"}, "sharedDir", "is /opt"),
        ({"sharedDir": "/mnt"}, "sharedDir", "is /mnt"),
        ({"sharedDir": "/opt/ta_cloud_exchange"}, "sharedDir", "is ceDir /opt/ta_cloud_exchange"),
        ({"sharedDir": "/opt/ta_cloud_exchange/data"}, "sharedDir", "lies inside ceDir"),
        ({"sharedDir": "/srv/ce", "ceDir": "/srv/ce/ta_cloud_exchange"}, "sharedDir", "contains ceDir"),
        ({"sharedDir": "/opt/cloud-exchange-ha"}, "sharedDir", "is the node bundle's folder /opt/cloud-exchange-ha"),
        ({"sharedDir": "/mnt/../etc"}, "sharedDir", "'..'"),
        ({"ceVersion": "v6.1.0", "ceDir": "/opt/shared/data/ta_cloud_exchange"}, "ceDir", "move ceDir out of the shared folder"),
        # proxyUrl: a port that is not a number or out of range
        ({"proxyUrl": "http://proxy.example:http"}, "proxyUrl", "not a number from 1 to 65535"),
        ({"proxyUrl": "http://proxy.example:70000"}, "proxyUrl", "not a number from 1 to 65535"),
        ({"proxyUrl": "http://proxy.example:0"}, "proxyUrl", "not a number from 1 to 65535"),
        # sshCidrs / uiCidrs: wide public ranges alone or together, IPv6, duplicates
        ({"sshCidrs": ["0.0.0.0/1", "128.0.0.0/1"]}, "sshCidrs", "more public addresses than a /16"),
        ({"sshCidrs": ["52.0.0.0/15"]}, "sshCidrs", "more public addresses than a /16"),
        ({"sshCidrs": ["52.0.0.0/16", "52.2.0.0/16"]}, "sshCidrs", "together the ranges open SSH to 131072 public addresses"),
        ({"sshCidrs": ["2001:db8::/32"]}, "sshCidrs", "IPv6"),
        ({"sshCidrs": ["198.51.100.0/24", "198.51.100.0/24"]}, "sshCidrs", "twice"),
        ({"uiCidrs": ["0.0.0.0/0"]}, "uiCidrs", "allowPublicUi true"),
        ({"uiCidrs": ["64.0.0.0/2"]}, "uiCidrs", "allowPublicUi true"),
        ({"uiCidrs": ["::/0"], "allowPublicUi": True}, "uiCidrs", "IPv4 only"),
        ({"uiCidrs": ["10.1.0.0/16", "10.1.0.0/16"], "allowPublicUi": True}, "uiCidrs", "twice"),
        # uiPort: SSH, NFS and the line's cluster ports
        ({"uiPort": 22}, "uiPort", "SSH"),
        ({"uiPort": 2049}, "uiPort", "NFS"),
        ({"uiPort": 27017}, "uiPort", "cluster port (MongoDB replica set)"),
        ({"uiPort": 5672}, "uiPort", "CE 5.x cluster port"),
        ({"uiPort": 24015, "ceVersion": "v6.1.0"}, "uiPort", "CE 6.x cluster port (GlusterFS bricks)"),
        # mirrors and the CE repository: no credentials, nothing git/apt/pip would read as an option
        ({"ceRepoUrl": "https://user:token@git.example.com/ce.git"}, "ceRepoUrl", "credentials"),
        ({"ceRepoUrl": "https://ghp_secrettoken@github.com/netskopeoss/ta_cloud_exchange.git"}, "ceRepoUrl", "credentials"),
        ({"ceRepoUrl": "ssh://git:pw@git.example.com/ce.git"}, "ceRepoUrl", "credentials"),
        ({"ceRepoUrl": "-oProxyCommand@x:y"}, "ceRepoUrl", "starts with '-'"),
        ({"ceRepoUrl": "--upload-pack=touch /tmp/x"}, "ceRepoUrl", "starts with '-'"),
        ({"pipIndexUrl": "https://__token__:abc@pypi.example/simple"}, "pipIndexUrl", "not supported yet"),
        ({"pipIndexUrl": "--extra-index-url=https://evil.example"}, "pipIndexUrl", "option"),
        ({"dockerRepoUrl": "https://u:p@mirror.example/docker"}, "dockerRepoUrl", "credentials"),
        ({"dockerRepoUrl": "-https://mirror.example"}, "dockerRepoUrl", "starts with '-'"),
        # secrets: control characters CE's prompt drops
        ({"maintenancePassword": "Maint-pass-7431\n"}, "maintenancePassword", "control character"),
        ({"maintenancePassword": "Maint\r-pass"}, "maintenancePassword", "control character"),
        ({"jwtSecret": "jwt-secret\x00x"}, "jwtSecret", "control character"),
        ({"jwtSecret": "jwt-secret\x7f"}, "jwtSecret", "control character"),
        # ceVersion: a tag or one clear error
        ({"ceVersion": "v5.1.2-rc1"}, "ceVersion", "not a CE version tag"),
        ({"ceVersion": "5.1"}, "ceVersion", "not a CE version tag"),
        ({"ceVersion": "v5.1.2 main"}, "ceVersion", "not a CE version tag"),
        # tags: AWS's limits
        ({"tags": ["k" * 129 + "=v"]}, "tags", "longer than AWS's 128 characters"),
        ({"tags": ["Owner=" + "v" * 257]}, "tags", "longer than AWS's 256 characters"),
        ({"tags": [f"Key{i}=v" for i in range(49)]}, "tags", "51 tags"),
        ({"tags": ["AWS:thing=x"]}, "tags", "reserved"),
    ],
)
def test_harmful_settings_are_refused_alone_naming_the_key_and_the_fix(overrides: dict[str, Any], key: str, words: str) -> None:
    message = only_problem_of(stacks.migrate(**overrides), key)
    assert words in message, message


def test_harmful_settings_declare_nothing_and_print_no_traceback() -> None:
    from offline import harness

    for overrides in ({"proxyUrl": "http://proxy.example:http"}, {"sharedDir": "/"}, {"uiPort": 27017},
                      {"sshCidrs": ["0.0.0.0/1", "128.0.0.0/1"]}, {"uiCidrs": ["2001:db8::/32"]},
                      {"uiCidrs": ["10.1.0.0/16", "10.1.0.0/16"]}, {"jwtSecret": "jwt-secret-9152\n"}):
        run = harness.run(stacks.migrate(**overrides), secret_keys=stacks.SECRET_KEYS)
        assert run.error is not None and "Traceback" not in run.error, (overrides, run.error)
        assert run.resources == [], overrides
        (blamed,) = overrides
        assert f"cloud-exchange-ha:{blamed}: " in run.error


@pytest.mark.parametrize(
    "overrides",
    [
        {"sharedDir": "/mnt/ce-ha"},
        {"sharedDir": "/data/ce-shared"},
        {"sharedDir": "/opt/ce-shared"},
        {"sharedDir": "/mnt/ce-ha/"},
        {"ceVersion": "v6.1.0", "sharedDir": "/opt/shared/data"},
        {"proxyUrl": "https://proxy.example:8443"},
        {"proxyUrl": "http://proxy.example"},
        {"sshCidrs": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"]},
        {"sshCidrs": ["52.0.0.0/16"]},
        {"sshCidrs": ["52.0.0.0/17", "52.0.128.0/17"]},
        {"sshCidrs": ["52.0.0.0/16", "10.0.0.0/8"]},
        {"uiCidrs": ["0.0.0.0/1", "128.0.0.0/1"], "allowPublicUi": True},
        {"uiCidrs": ["10.0.0.0/8"]},
        {"uiPort": 8443},
        {"uiPort": 27017 + 1},
        {"ceRepoUrl": "ssh://git@git.example.com/mirror/ce.git"},
        {"pipIndexUrl": "https://pypi.mirror.example/simple"},
        {"maintenancePassword": "Maint-pass-with.dots_and-dashes"},
        {"tags": [f"Key{i}=v" for i in range(48)]},
        {"tags": ["k" * 128 + "=" + "v" * 256]},
    ],
)
def test_harmless_neighbours_of_the_harmful_settings_pass(overrides: dict[str, Any]) -> None:
    s.parse(stacks.migrate(**overrides))


@pytest.mark.parametrize(
    ("given", "tag"),
    [("v5.1.2", "v5.1.2"), ("5.1.2", "v5.1.2"), (" v5.1.2\n", "v5.1.2"), ("v5.1.1", "5.1.1"), ("5.1.1", "5.1.1"),
     ("6.1.0", "v6.1.0"), ("v6.0.0-beta.1", "v6.0.0-beta.1")],
)
def test_ce_version_is_trimmed_and_spelled_as_ces_tags_are(given: str, tag: str) -> None:
    assert s.parse(stacks.migrate(ceVersion=given)).ce_version == tag


def test_allow_public_ui_defaults_to_false() -> None:
    assert s.parse(stacks.migrate()).allow_public_ui is False
    assert s.schema()["allowPublicUi"]["type"] == "boolean"


# ---- instanceType as AWS describes it (aws.ec2.get_instance_type), new nodes and the adopted primary ----


def program_error(config: dict[str, Any], **world: Any) -> str:
    from offline import harness
    from offline.mocks import AwsWorld

    run = harness.run(config, secret_keys=stacks.SECRET_KEYS, world=AwsWorld(**world))
    assert run.error is not None and "Traceback" not in run.error, run.error
    assert run.resources == [], "a resource was declared despite a refused instance type"
    return run.error


def test_an_arm_instance_type_is_refused_although_its_size_has_8_vcpu() -> None:
    error = program_error(stacks.greenfield(instanceType="m7g.2xlarge"))
    assert "cloud-exchange-ha:instanceType: m7g.2xlarge (arm64); CE and the nodes' image need x86_64" in error


def test_aws_vcpu_count_decides_not_the_size_name() -> None:
    # a type whose name says 2xlarge but which AWS describes with 4 vCPU
    error = program_error(stacks.greenfield(instanceType="m5.2xlarge"), instance_types={"m5.2xlarge": (4, ("x86_64",))})
    assert "cloud-exchange-ha:instanceType: m5.2xlarge with 4 vCPU; CE's setup accepts exactly 8 or 16 vCPU" in error


def test_a_type_aws_does_not_know_is_one_clear_error() -> None:
    error = program_error(stacks.greenfield(instanceType="m5.2xlarge"), instance_types={})
    assert "cloud-exchange-ha:instanceType: AWS could not describe instance type 'm5.2xlarge'" in error


@pytest.mark.parametrize(("primary_type", "words"), [
    ("m5.xlarge", "m5.xlarge with 4 vCPU"),
    ("m5.8xlarge", "m5.8xlarge with 32 vCPU"),
    ("m6g.2xlarge", "m6g.2xlarge (arm64)"),
])
def test_the_adopted_primary_is_sized_by_aws_before_anything_changes(primary_type: str, words: str) -> None:
    error = program_error(stacks.migrate(), primary_type=primary_type)
    assert f"cloud-exchange-ha:primaryInstanceId: the standalone i-0123456789abcdef0 is {words}" in error
    assert "resize the standalone" in error


def test_lab_sizing_lifts_the_vcpu_count_never_the_architecture() -> None:
    from offline import harness
    from offline.mocks import AwsWorld

    lab = harness.run(stacks.migrate(allowUndersized=True), secret_keys=stacks.SECRET_KEYS, world=AwsWorld(primary_type="m5.xlarge"))
    assert lab.error is None and lab.resources
    assert "(arm64)" in program_error(stacks.migrate(allowUndersized=True), primary_type="m6g.2xlarge")


@pytest.mark.parametrize("config", [stacks.greenfield(instanceType="m6i.4xlarge", rootVolumeSizeGb=120), stacks.greenfield(),
                                    stacks.migrate()])
def test_x86_types_with_8_or_16_vcpu_pass(config: dict[str, Any]) -> None:
    from offline import harness

    assert harness.run(config, secret_keys=stacks.SECRET_KEYS).error is None


# ---- word for word (issue 12): the messages, conversions and helpers outside the rules -------------


def test_the_error_lists_every_problem_on_its_own_line_under_a_count() -> None:
    error = s.SettingsError([s.Problem(setting="nodeCount", message="is 4"), s.Problem(setting="vpcId", message="is empty")])
    assert str(error) == ("2 stack setting(s) need attention (nothing was created):\n"
                          "  - cloud-exchange-ha:nodeCount: is 4\n"
                          "  - cloud-exchange-ha:vpcId: is empty")


def test_snake_and_camel_turn_a_config_key_into_its_field_and_back() -> None:
    assert s.snake("primaryInstanceId") == "primary_instance_id"
    assert s.camel("primary_instance_id") == "primaryInstanceId"
    assert s.camel("tls12") == "tls12" and s.camel("root_volume_size_gb") == "rootVolumeSizeGb"
    assert {s.camel(field) for field in s.Settings.model_fields} == set(s.schema())


@pytest.mark.parametrize(("raw", "expected"), [("true", True), ("false", False), (" False ", False), ("TRUE", True)])
def test_a_boolean_from_the_engine_is_true_or_false_in_any_case(raw: str, expected: bool) -> None:
    assert s.parse(stacks.migrate(tls12=raw, allowSameZone=raw)).tls12 is expected


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"tls12": "maybe"}, "cloud-exchange-ha:tls12: must be true or false"),
        ({"uiPort": "http"}, "cloud-exchange-ha:uiPort: must be a whole number"),
        # not JSON, and JSON that is not a list
        ({"subnetIds": "subnet-0aaaaaaaaaaaaaaa1"},
         "cloud-exchange-ha:subnetIds: must be a list; set it with: pulumi config set --path 'subnetIds[0]' VALUE"),
        ({"sshCidrs": '{"cidr": "10.0.0.0/8"}'},
         "cloud-exchange-ha:sshCidrs: must be a list; set it with: pulumi config set --path 'sshCidrs[0]' VALUE"),
        # pydantic's own words, lower case, after what the setting is or must be
        ({"mode": "lift-and-shift"}, "cloud-exchange-ha:mode: is 'lift-and-shift'; input should be 'migrate' or 'greenfield'"),
        ({"subnetIds": '[1, "subnet-0aaaaaaaaaaaaaaa1"]'},
         "cloud-exchange-ha:subnetIds: must be of type array: input should be a valid string"),
    ],
)
def test_values_of_the_wrong_type_are_refused_word_for_word(overrides: dict[str, Any], message: str) -> None:
    assert [str(p) for p in problems(stacks.migrate(**overrides))] == [message]


def test_every_missing_required_key_is_reported_along_with_the_other_problems() -> None:
    config = stacks.migrate(glusterVolumeSizeGb=5)
    for name in ("ceVersion", "sshPrivateKey", "jwtSecret"):
        del config[name]
    found = {p.setting: p.message for p in problems(config)}
    assert set(found) == {"ceVersion", "sshPrivateKey", "jwtSecret", "glusterVolumeSizeGb"}
    assert found["sshPrivateKey"] == "is required; set it with: pulumi config set --secret sshPrivateKey ..."
    assert found["jwtSecret"] == "is required; set it with: pulumi config set --secret jwtSecret ..."


def test_a_required_setting_without_a_hint_says_how_to_set_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # Pulumi.yaml's only required plain setting (ceVersion) has its own hint: a schema with one more shows the plain one
    monkeypatch.setattr(s, "schema", lambda: {"vpcId": {"type": "string"}, "jwtSecret": {"type": "string", "secret": True}})
    assert [str(p) for p in problems({})] == [
        "cloud-exchange-ha:vpcId: is required; set it with: pulumi config set vpcId ...",
        "cloud-exchange-ha:jwtSecret: is required; set it with: pulumi config set --secret jwtSecret ..."]


def test_a_rule_is_registered_with_the_fields_it_needs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(s, "RULES", [])

    def check(v: dict[str, Any]) -> list[s.Problem]:
        return []

    assert s.rule("mode", "vpc_id")(check) is check
    assert s.RULES == [(("mode", "vpc_id"), check)]


@pytest.mark.parametrize(("instance_type", "vcpu"), [
    ("m5.2xlarge", 8), ("c6i.4xlarge", 16), ("m5.metal", 0), ("bigbox", None), ("m5.2xlarge.metal", None), ("m5.huge", None),
])
def test_vcpu_of_reads_the_size_after_the_first_dot(instance_type: str, vcpu: int | None) -> None:
    assert s.vcpu_of(instance_type) == vcpu


def test_credentials_in_a_url_are_refused_word_for_word() -> None:
    # http with a token and no password too: the token alone is the secret
    message = only_problem_of(stacks.migrate(pipIndexUrl="http://token@pypi.example/simple"), "pipIndexUrl")
    assert message == ("carries credentials (user:password@ or token@), which would land in plain state, node.json, the command "
                       "line and logs: remove them (mirrors that need a token are not supported yet, see the README's Security "
                       "model)")


def test_a_folder_with_capital_letters_is_a_valid_path() -> None:
    assert s.parse(stacks.migrate(ceDir="/srv/CE-X/ta_cloud_exchange")).ce_dir == "/srv/CE-X/ta_cloud_exchange"


@pytest.mark.parametrize(
    ("overrides", "key", "message"),
    [
        ({"sharedDir": "/opt/ta_cloud_exchange"}, "sharedDir",
         "the shared folder /opt/ta_cloud_exchange is ceDir /opt/ta_cloud_exchange: mounting the share there would hide the "
         "files already in it (and back up the empty share); set sharedDir to a folder apart from both (e.g. /mnt/ce-ha)"),
        # ceDir the root folder: the default shared folder lies inside it
        ({"ceDir": "/"}, "ceDir",
         "the shared folder /mnt/ce-ha lies inside ceDir /: mounting the share there would hide the files already in it "
         "(and back up the empty share); move ceDir out of the shared folder /mnt/ce-ha"),
    ],
)
def test_a_shared_folder_over_ce_dir_is_refused_word_for_word(overrides: dict[str, Any], key: str, message: str) -> None:
    assert only_problem_of(stacks.migrate(**overrides), key) == message


def test_a_relative_ce_dir_still_lets_the_node_bundles_folder_be_checked() -> None:
    found = {p.setting: p.message for p in problems(stacks.migrate(ceDir="relative/dir", sharedDir="/opt/cloud-exchange-ha"))}
    assert set(found) == {"ceDir", "sharedDir"}
    assert "is the node bundle's folder /opt/cloud-exchange-ha" in found["sharedDir"]


@pytest.mark.parametrize(
    ("overrides", "key", "message"),
    [
        # the characters CE refuses as Pulumi.yaml lists them: \ / ' " and spaces; for the JWT secret also ? and &
        # (its tab is a control character, reported as one)
        ({"maintenancePassword": "has space"}, "maintenancePassword",
         """contains a character CE refuses; do not use any of '\\\\' '/' "'" '"' ' '"""),
        ({"jwtSecret": "what?"}, "jwtSecret", """contains a character CE refuses; do not use any of '\\\\' '/' ' ' "'" '"' '?' '&'"""),
        ({"jwtSecret": "tab\there"}, "jwtSecret",
         "contains a control character (newline, carriage return, tab, NUL ...), which CE's prompt drops, so CE would store "
         "another value than the stack: set it again without them (pulumi config set --secret jwtSecret)"),
    ],
)
def test_refused_characters_in_secrets_are_named_word_for_word(overrides: dict[str, Any], key: str, message: str) -> None:
    assert only_problem_of(stacks.migrate(**overrides), key) == message


def messages(config: dict[str, Any]) -> list[str]:
    return [str(p) for p in problems(config)]


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (stacks.migrate(primaryInstanceId=""),
         ["cloud-exchange-ha:primaryInstanceId: is required in migrate mode: the id (i-...) of the running standalone CE instance"]),
        (stacks.greenfield(primaryInstanceId="i-0123456789abcdef0"),
         ["cloud-exchange-ha:primaryInstanceId: must be empty in greenfield mode (nothing is adopted); unset it or use mode migrate"]),
        (stacks.migrate(primaryInstanceId="i-0123456789abcdef"),
         ["cloud-exchange-ha:primaryInstanceId: 'i-0123456789abcdef' is not an EC2 instance id like i-0123456789abcdef0"]),
        (stacks.migrate(vpcId="vpc-0123456"),
         ["cloud-exchange-ha:vpcId: 'vpc-0123456' is not a VPC id; set the VPC of the cluster (vpc-...)"]),
        (stacks.migrate(subnetIds=["net-1", "net-1", "subnet-0aaaaaaaaaaaaaaa1"]),
         ["cloud-exchange-ha:subnetIds: ['net-1', 'net-1'] are not subnet ids (subnet-...)",
          "cloud-exchange-ha:subnetIds: has 3 subnet(s); migrate with nodeCount 3 needs 2, one per new node, each in its own "
          "availability zone",
          "cloud-exchange-ha:subnetIds: lists a subnet twice, which puts two nodes in one zone; list distinct subnets or set "
          "allowSameZone true"]),
        (stacks.migrate(instanceType="bigbox"),
         ["cloud-exchange-ha:instanceType: 'bigbox' is not an EC2 instance type like m5.2xlarge"]),
        (stacks.migrate(instanceType="m5.xlarge", rootVolumeSizeGb=79),
         ["cloud-exchange-ha:instanceType: m5.xlarge has 4 vCPU; CE's setup accepts exactly 8 or 16 vCPU: use e.g. m5.2xlarge (8) "
          "or m5.4xlarge (16)",
          "cloud-exchange-ha:rootVolumeSizeGb: is 79; CE needs at least 80 GB for this instance size"]),
        (stacks.migrate(rootVolumeSizeGb=79), ["cloud-exchange-ha:rootVolumeSizeGb: is 79; CE needs at least 80 GB for this instance size"]),
        (stacks.migrate(instanceType="m5.4xlarge", rootVolumeSizeGb=119),
         ["cloud-exchange-ha:rootVolumeSizeGb: is 119; CE needs at least 120 GB for this instance size"]),
        (stacks.migrate(rootVolumeSizeGb=16385), ["cloud-exchange-ha:rootVolumeSizeGb: is 16385; gp3 volumes are at most 16384 GB"]),
        (stacks.migrate(ceVersion="v4.2.0"),
         ["cloud-exchange-ha:ceVersion: v4.2.0 predates HA, which starts at CE 5.0.0: upgrade the standalone and use v5.1.2 or later"]),
        (stacks.migrate(ceVersion="v5.0.0"),
         ["cloud-exchange-ha:ceVersion: v5.0.0 opens setup with a version menu this program does not drive: upgrade CE to v5.1.2 "
          "first (minimum 5.1.1)"]),
        (stacks.migrate(ceVersion="v7.0.0"),
         ["cloud-exchange-ha:ceVersion: v7.0.0 is on CE 7.x, which this program does not know; lines known: 5.x, 6.x"]),
        (stacks.migrate(ceRepoUrl="ftp://git.example.com/ce.git"),
         ["cloud-exchange-ha:ceRepoUrl: 'ftp://git.example.com/ce.git' is not a git URL (https://..., ssh://..., git@host:org/repo.git)"]),
        (stacks.migrate(ceRepoUrl="https:///ce.git"),
         ["cloud-exchange-ha:ceRepoUrl: 'https:///ce.git' is not a git URL (https://..., ssh://..., git@host:org/repo.git)"]),
        (stacks.migrate(ceDir="/opt/ce;x"),
         ["cloud-exchange-ha:ceDir: '/opt/ce;x' must be an absolute path without spaces, quotes or shell characters"]),
        (stacks.migrate(sharedDir="/mnt/../etc"),
         ["cloud-exchange-ha:sharedDir: '/mnt/../etc' contains '..'; write the folder's real absolute path"]),
        (stacks.migrate(ceVersion="v6.1.0", sharedDir="/mnt/ce-ha"),
         ["cloud-exchange-ha:sharedDir: CE 6.x fixes the shared folder at /opt/shared/data; unset sharedDir"]),
        (stacks.migrate(sharedDir="/"),
         ["cloud-exchange-ha:sharedDir: / is the root folder; the share would be mounted over a folder the system needs: use a "
          "folder of its own such as /mnt/ce-ha (the default)"]),
        (stacks.migrate(sharedDir="/media"),
         ["cloud-exchange-ha:sharedDir: /media is /media; the share would be mounted over a folder the system needs: use a folder "
          "of its own such as /mnt/ce-ha (the default)"]),
        (stacks.migrate(sharedDir="/lib32/x"),
         ["cloud-exchange-ha:sharedDir: /lib32/x lies inside /lib32; the share would be mounted over a folder the system needs: "
          "use a folder of its own such as /mnt/ce-ha (the default)"]),
        (stacks.migrate(ceVersion="v6.1.0", ceDir="/opt/shared/data/ta_cloud_exchange"),
         ["cloud-exchange-ha:ceDir: the shared folder /opt/shared/data contains ceDir /opt/shared/data/ta_cloud_exchange: mounting "
          "the share there would hide the files already in it (and back up the empty share); move ceDir out of the shared "
          "folder /opt/shared/data"]),
        (stacks.migrate(sharedDir="/srv/ce", ceDir="/srv/ce/ta_cloud_exchange"),
         ["cloud-exchange-ha:sharedDir: the shared folder /srv/ce contains ceDir /srv/ce/ta_cloud_exchange: mounting the share "
          "there would hide the files already in it (and back up the empty share); set sharedDir to a folder apart from both "
          "(e.g. /mnt/ce-ha)"]),
        (stacks.migrate(sshUser="u" * 33), [f"cloud-exchange-ha:sshUser: '{'u' * 33}' is not a Linux user name"]),
        (stacks.migrate(sshUser="9lives"), ["cloud-exchange-ha:sshUser: '9lives' is not a Linux user name"]),
        (stacks.migrate(sshPrivateKey="hunter2"),
         ["cloud-exchange-ha:sshPrivateKey: is not a PEM private key; set it with: pulumi config set --secret sshPrivateKey < key.pem"]),
        (stacks.migrate(keyPairName=""),
         ["cloud-exchange-ha:keyPairName: is required: the EC2 key pair (public half of sshPrivateKey) for the new nodes"]),
        (stacks.migrate(sshCidrs=[]),
         ["cloud-exchange-ha:sshCidrs: is empty and no bastionSecurityGroupId is set: nothing could reach the nodes to configure them"]),
        (stacks.migrate(sshCidrs=["0.0.0.0/0"]),
         ["cloud-exchange-ha:sshCidrs: 0.0.0.0/0 opens SSH to the whole internet; list your admin networks or reach the nodes "
          "through a bastion (bastionSecurityGroupId)"]),
        (stacks.migrate(bastionSecurityGroupId="group-1"),
         ["cloud-exchange-ha:bastionSecurityGroupId: 'group-1' is not a security group id (sg-...)"]),
        (stacks.migrate(bastionHost="bastion host"), ["cloud-exchange-ha:bastionHost: 'bastion host' is not a host name or IP address"]),
        (stacks.migrate(sshCidrs=["0.0.0.0/0"], bastionSecurityGroupId="group-1", bastionHost="bastion host"),
         ["cloud-exchange-ha:sshCidrs: 0.0.0.0/0 opens SSH to the whole internet; list your admin networks or reach the nodes "
          "through a bastion (bastionSecurityGroupId)",
          "cloud-exchange-ha:bastionSecurityGroupId: 'group-1' is not a security group id (sg-...)",
          "cloud-exchange-ha:bastionHost: 'bastion host' is not a host name or IP address"]),
        # a sharedDir is judged without a line when ceVersion has its own error
        (stacks.migrate(ceVersion="latest", sharedDir="/mnt/ce-ha"), ["cloud-exchange-ha:ceVersion: 'latest' is not a CE version tag like v5.1.2"]),
        (stacks.migrate(uiCidrs=["0.0.0.0/0"]),
         ["cloud-exchange-ha:uiCidrs: 0.0.0.0/0 opens the CE UI to the whole internet; list the networks of the UI's users, or set "
          "allowPublicUi true when the UI is meant to be public"]),
        (stacks.migrate(loadBalancer="internet-facing", uiCidrs=[]),
         ["cloud-exchange-ha:loadBalancerSubnetIds: is required with loadBalancer internet-facing: public subnets of the load "
          "balancer, one in each availability zone of the nodes",
          "cloud-exchange-ha:uiCidrs: is empty; an internet-facing load balancer needs the networks of the UI's users listed "
          "explicitly (0.0.0.0/0 only together with allowPublicUi true)"]),
        (stacks.migrate(loadBalancer="internal", loadBalancerSubnetIds=["subnet-0aaaaaaaaaaaaaaa1", "net-2"]),
         ["cloud-exchange-ha:loadBalancerSubnetIds: ['net-2'] are not subnet ids (subnet-...)",
          "cloud-exchange-ha:loadBalancerSubnetIds: is only used with loadBalancer internet-facing (it is internal); unset it (an "
          "internal load balancer uses the nodes' subnets)"]),
        (stacks.migrate(loadBalancer="internal", uiDnsName="CE.example.com", hostedZoneId="z123"),
         ["cloud-exchange-ha:uiDnsName: 'CE.example.com' is not a DNS name like ce.example.com (lower case, no scheme, port or "
          "trailing dot)",
          "cloud-exchange-ha:hostedZoneId: 'z123' is not a Route 53 hosted zone id like Z0123456789ABCDEFGHIJ"]),
        (stacks.migrate(loadBalancer="internal", uiDnsName="ce.example.com"),
         ["cloud-exchange-ha:hostedZoneId: is required with uiDnsName: the Route 53 hosted zone that holds it"]),
        (stacks.migrate(loadBalancer="internal", hostedZoneId="Z0123456789ABCDEFGHIJ"),
         ["cloud-exchange-ha:uiDnsName: is required with hostedZoneId: the name of the CE UI in that zone"]),
        (stacks.migrate(uiDnsName="ce.example.com", hostedZoneId="Z0123456789ABCDEFGHIJ"),
         ["cloud-exchange-ha:uiDnsName: names the load balancer, and loadBalancer is none: set loadBalancer internal (or "
          "internet-facing), or unset uiDnsName and hostedZoneId"]),
        (stacks.migrate(maintenancePassword=""),
         ["cloud-exchange-ha:maintenancePassword: is empty; set it with: pulumi config set --secret maintenancePassword ..."]),
        (stacks.migrate(uiPort=0), ["cloud-exchange-ha:uiPort: is 0; use a TCP port from 1 to 65535 (443 for https)"]),
        (stacks.migrate(uiPort=65536), ["cloud-exchange-ha:uiPort: is 65536; use a TCP port from 1 to 65535 (443 for https)"]),
        (stacks.migrate(uiPort=8000), ["cloud-exchange-ha:uiPort: 8000 is CE's management port; pick another UI port"]),
        (stacks.migrate(uiPort=22), ["cloud-exchange-ha:uiPort: 22 is SSH; pick another UI port (443 for https)"]),
        (stacks.migrate(uiPort=2049), ["cloud-exchange-ha:uiPort: 2049 is NFS (the shared folder); pick another UI port (443 for https)"]),
        (stacks.migrate(uiPort=27017),
         ["cloud-exchange-ha:uiPort: 27017 is a CE 5.x cluster port (MongoDB replica set); opening it to uiCidrs would expose it: "
          "pick another UI port (443 for https)"]),
        # a ceVersion without a line: the port is judged against every line meanwhile
        (stacks.migrate(uiPort=24015, ceVersion="latest"),
         ["cloud-exchange-ha:ceVersion: 'latest' is not a CE version tag like v5.1.2",
          "cloud-exchange-ha:uiPort: 24015 is a CE 6.x cluster port (GlusterFS bricks); opening it to uiCidrs would expose it: "
          "pick another UI port (443 for https)"]),
        (stacks.migrate(uiProtocol="http", tls12=True),
         ["cloud-exchange-ha:tls12: has no meaning with uiProtocol http; unset it or use https"]),
        (stacks.migrate(proxyUrl="socks5://proxy:1080"), ["cloud-exchange-ha:proxyUrl: 'socks5://proxy:1080' must look like http(s)://host:port"]),
        (stacks.migrate(proxyUrl="http://proxy:3128/x"), ["cloud-exchange-ha:proxyUrl: 'http://proxy:3128/x' must look like http(s)://host:port"]),
        (stacks.migrate(proxyUrl="http://u:p@proxy:3128"),
         ["cloud-exchange-ha:proxyUrl: must not carry a password; CE asks proxy credentials separately"]),
        (stacks.migrate(proxyUrl="http://proxy:0"),
         ["cloud-exchange-ha:proxyUrl: 'http://proxy:0' has a port that is not a number from 1 to 65535; write it as "
          "http(s)://host:port"]),
        (stacks.migrate(tenantUrl="https://demo.goskope.com/?x=1"),
         ["cloud-exchange-ha:tenantUrl: 'https://demo.goskope.com/?x=1' must be https://<tenant>.goskope.com without a path, or test"]),
        (stacks.migrate(uiCertificateKeyFile="/nope.key"),
         ["cloud-exchange-ha:uiCertificateFile: and uiCertificateKeyFile go together; set both or neither"]),
        (stacks.greenfield(uiCertificateFile="/nope.crt", uiCertificateKeyFile="/nope.key"),
         ["cloud-exchange-ha:uiCertificateFile: '/nope.crt' is not a readable file",
          "cloud-exchange-ha:uiCertificateKeyFile: '/nope.key' is not a readable file"]),
        (stacks.migrate(uiCertificateFile="/nope.crt", uiCertificateKeyFile="/nope.key"),
         ["cloud-exchange-ha:uiCertificateFile: '/nope.crt' is not a readable file",
          "cloud-exchange-ha:uiCertificateKeyFile: '/nope.key' is not a readable file",
          "cloud-exchange-ha:uiCertificateFile: migrate keeps the standalone's UI certificate; unset it"]),
        (stacks.greenfield(ceVersion="v6.1.0", uiCertificateFile="/nope.crt", uiCertificateKeyFile="/nope.key"),
         ["cloud-exchange-ha:uiCertificateFile: '/nope.crt' is not a readable file",
          "cloud-exchange-ha:uiCertificateKeyFile: '/nope.key' is not a readable file",
          "cloud-exchange-ha:uiCertificateFile: is not supported for CE 6.x yet; unset it and install the certificate with CE's "
          "own tools"]),
        (stacks.migrate(glusterVolumeSizeGb=19), ["cloud-exchange-ha:glusterVolumeSizeGb: must be between 20 and 16384 GB"]),
        (stacks.migrate(glusterVolumeSizeGb=16385), ["cloud-exchange-ha:glusterVolumeSizeGb: must be between 20 and 16384 GB"]),
        (stacks.migrate(tags=["=v", "Owner"]), ["cloud-exchange-ha:tags: ['=v', 'Owner'] are not Key=Value entries"]),
        (stacks.migrate(tags=["aws:x=1", "k" * 129 + "=v", "Owner=" + "v" * 257] + [f"K{i}=v" for i in range(49)]),
         ["cloud-exchange-ha:tags: keys starting with aws: are reserved by AWS",
          "cloud-exchange-ha:tags: keys ['kkkkkkkkkkkkkkkkkkkk...'] are longer than AWS's 128 characters; shorten them",
          "cloud-exchange-ha:tags: the values of ['Owner'] are longer than AWS's 256 characters; shorten them",
          "cloud-exchange-ha:tags: gives resources 54 tags with the program's own Project and Name; AWS allows 50 per resource: "
          "drop 4"]),
        (stacks.migrate(dockerRepoUrl="http://mirror.example/docker", pipIndexUrl="ftp://pypi.example/simple"),
         ["cloud-exchange-ha:dockerRepoUrl: 'http://mirror.example/docker' must be an https URL (its signing key is fetched from "
          "<url>/gpg) or os",
          "cloud-exchange-ha:pipIndexUrl: 'ftp://pypi.example/simple' must be an http(s) URL"]),
        (stacks.migrate(dockerRepoUrl="https:///docker", pipIndexUrl="os"),
         ["cloud-exchange-ha:dockerRepoUrl: 'https:///docker' must be an https URL (its signing key is fetched from <url>/gpg) or os",
          "cloud-exchange-ha:pipIndexUrl: 'os' must be an http(s) URL"]),
    ],
)
def test_each_rule_reports_its_problems_word_for_word(config: dict[str, Any], expected: list[str]) -> None:
    assert messages(config) == expected


@pytest.mark.parametrize(
    "config",
    [
        stacks.migrate(primaryInstanceId="i-01234567"),
        stacks.migrate(vpcId="vpc-01234567"),
        stacks.migrate(nodeCount=7, subnetIds=[f"subnet-0{i}aaaaaaaaaaaaaa1" for i in range(6)]),
        stacks.greenfield(nodeCount=7, subnetIds=[f"subnet-0{i}aaaaaaaaaaaaaa1" for i in range(7)]),
        stacks.migrate(rootVolumeSizeGb=80),
        stacks.migrate(instanceType="m5.2xlarge", rootVolumeSizeGb=16384),
        stacks.migrate(instanceType="m5.xlarge", rootVolumeSizeGb=8, allowUndersized=True),
        stacks.migrate(ceRepoUrl="http://git.example.com/ce.git"),
        stacks.migrate(ceRepoUrl="git://git.example.com/ce.git"),
        stacks.migrate(ceRepoUrl="file:///srv/git/ce.git"),
        stacks.migrate(sshUser="_svc"),
        stacks.migrate(sshUser="a" * 32),
        stacks.migrate(sshUser="ce-admin_2"),
        stacks.migrate(bastionHost="Bastion-1.Example.com", bastionSecurityGroupId="sg-01234567"),
        stacks.migrate(bastionHost="fe80::1"),
        stacks.migrate(uiPort=1),
        stacks.migrate(uiPort=65535),
        stacks.migrate(uiPort=24015),  # a 6.x cluster port (GlusterFS bricks) is free on a 5.x stack
        stacks.migrate(proxyUrl="http://proxy.example:65535/"),
        stacks.migrate(tenantUrl="https://demo.goskope.com"),
        stacks.migrate(tenantUrl="https://demo.goskope.com/"),
        stacks.migrate(glusterVolumeSizeGb=20),
        stacks.migrate(glusterVolumeSizeGb=16384),
        stacks.migrate(tags=["aws=1", " Owner = secops "]),
        stacks.migrate(pipIndexUrl="http://pypi.mirror.example/simple"),
        stacks.migrate(loadBalancer="internet-facing", loadBalancerSubnetIds=["subnet-0aaaaaaaaaaaaaaa1"]),
        stacks.migrate(loadBalancer="internal", uiDnsName="ce.example.com", hostedZoneId="Z0123456789ABCDEFGHIJ"),
    ],
)
def test_the_edges_of_each_rule_pass(config: dict[str, Any]) -> None:
    s.parse(config)


def test_derived_values_of_a_stack_with_a_bastion_and_spaced_tags() -> None:
    parsed = s.parse(stacks.greenfield(tags=[" Owner = secops ", "Note=a=b"], bastionHost="bastion.example.com"))
    assert parsed.tag_map == {"Project": "cloud-exchange-ha", "Owner": "secops", "Note": "a=b"}
    assert parsed.effective_bastion_user == "ubuntu" and parsed.new_node_count == 3
    assert s.parse(stacks.migrate(bastionUser="jump")).effective_bastion_user == "jump"
    assert s.parse(stacks.migrate()).new_node_count == 2


def test_the_ui_certificate_names_rule_word_for_word(tmp_path: Path) -> None:
    from tests.unit.test_load_balancer import certificate

    zone = "Z0123456789ABCDEFGHIJ"

    def with_cert(cert: tuple[str, str], **more: Any) -> dict[str, Any]:
        return stacks.greenfield(uiCertificateFile=cert[0], uiCertificateKeyFile=cert[1], **more)

    covering = certificate(tmp_path, "ce.example.com")
    s.parse(with_cert(covering))  # no balancer: no name needed
    s.parse(with_cert(covering, loadBalancer="internal", uiDnsName="ce.example.com", hostedZoneId=zone))
    assert messages(with_cert(covering, loadBalancer="internal")) == [
        "cloud-exchange-ha:uiDnsName: is required with uiCertificateFile and a load balancer: the name users browse to, which "
        "the certificate must cover (the load balancer's own DNS name is only known after it exists)"]
    other = certificate(tmp_path, "a.example.org", "b.example.org")
    assert messages(with_cert(other, loadBalancer="internet-facing", loadBalancerSubnetIds=["subnet-0aaaaaaaaaaaaaaa1"],
                              uiDnsName="ce.example.com", hostedZoneId=zone)) == [
        "cloud-exchange-ha:uiCertificateFile: does not cover uiDnsName ce.example.com (its subjectAltName lists a.example.org, "
        "b.example.org); use a certificate issued for that name, or set uiDnsName to a name it covers"]
    assert messages(with_cert(certificate(tmp_path), loadBalancer="internal", uiDnsName="ce.example.com", hostedZoneId=zone)) == [
        "cloud-exchange-ha:uiCertificateFile: does not cover uiDnsName ce.example.com (its subjectAltName lists no DNS names); "
        "use a certificate issued for that name, or set uiDnsName to a name it covers"]
    (tmp_path / "text.pem").write_text("not a certificate")
    text = (str(tmp_path / "text.pem"), covering[1])
    assert messages(with_cert(text, loadBalancer="internal", uiDnsName="ce.example.com", hostedZoneId=zone)) == [
        f"cloud-exchange-ha:uiCertificateFile: '{tmp_path}/text.pem' is not a PEM certificate"]
