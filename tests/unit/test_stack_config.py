"""Reading the stack's config: values through pulumi.Config, and the one private listing of set keys.

If a pulumi SDK upgrade moves or empties the in-process config map, the listing tests here fail
(with ``SdkChanged`` naming what to update) instead of unknown keys silently slipping through.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pulumi
import pytest

from components import settings, stack_config
from offline import harness
from tests.unit import stacks

PROJECT = "cloud-exchange-ha"


@pytest.fixture
def clean_config(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """No config from the environment or an earlier run; the in-process map is emptied again afterwards."""
    monkeypatch.delenv("PULUMI_CONFIG", raising=False)
    pulumi.runtime.set_all_config({})
    yield monkeypatch
    pulumi.runtime.set_all_config({})


def test_set_keys_lists_the_in_process_map_and_the_cli_handover(clean_config: pytest.MonkeyPatch) -> None:
    clean_config.setenv("PULUMI_CONFIG", json.dumps({"cloud-exchange-ha:fromCli": "1", "aws:region": "eu-west-1"}))
    pulumi.runtime.set_all_config({"cloud-exchange-ha:inProcess": "2", "other-project:inProcess": "3"})
    assert stack_config.set_keys(PROJECT) == {"fromCli", "inProcess"}


def test_set_keys_is_empty_without_config(clean_config: pytest.MonkeyPatch) -> None:
    assert stack_config.set_keys(PROJECT) == set()


def test_an_sdk_without_the_private_map_fails_loudly(clean_config: pytest.MonkeyPatch) -> None:
    import pulumi.runtime.config as sdk_config

    with pytest.MonkeyPatch.context() as sdk, pytest.raises(stack_config.SdkChanged, match="stack_config.set_keys"):
        sdk.delattr(sdk_config, "CONFIG")
        stack_config.set_keys(PROJECT)


def test_raw_values_reads_named_and_set_keys_and_leaves_unset_ones_out(clean_config: pytest.MonkeyPatch) -> None:
    clean_config.setenv("PULUMI_CONFIG", json.dumps({"cloud-exchange-ha:mode": "migrate", "cloud-exchange-ha:typo": "x"}))
    pulumi.runtime.set_all_config({"cloud-exchange-ha:nodeCount": "5"})
    # a single key handed over in its own variable is found by pulumi.Config when named
    clean_config.setenv("PULUMI_CONFIG_CLOUD_EXCHANGE_HA_VPCID", "vpc-0feedfeedfeedfeed")
    assert stack_config.raw_values(PROJECT, ["mode", "vpcId", "ceVersion"]) == {
        "mode": "migrate", "typo": "x", "nodeCount": "5", "vpcId": "vpc-0feedfeedfeedfeed"}


def test_settings_load_reads_config_the_way_pulumi_up_hands_it_over(clean_config: pytest.MonkeyPatch) -> None:
    subnets = ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0bbbbbbbbbbbbbbb2", "subnet-0ccccccccccccccc3", "subnet-0ddddddddddddddd4"]
    clean_config.setenv("PULUMI_CONFIG", json.dumps(harness.full_config(stacks.migrate(nodeCount=5, subnetIds=subnets))))
    loaded = settings.load()
    assert loaded.mode == "migrate" and loaded.node_count == 5
    assert loaded.subnet_ids[3] == "subnet-0ddddddddddddddd4"
    assert loaded.jwt_secret.get_secret_value() == "jwt-secret-9152"


def test_an_unknown_key_from_the_cli_is_refused(clean_config: pytest.MonkeyPatch) -> None:
    clean_config.setenv("PULUMI_CONFIG", json.dumps(harness.full_config(stacks.migrate(sshCidr="10.0.0.0/8"))))
    with pytest.raises(settings.SettingsError) as caught:
        settings.load()
    assert [str(p) for p in caught.value.problems] == [
        "cloud-exchange-ha:sshCidr: is not a setting of this project; remove it (pulumi config rm ...) or fix its spelling"]


def test_an_unknown_key_under_mocks_stops_the_program_before_any_resource() -> None:
    result = harness.run(stacks.migrate(nodeCnt="3"), secret_keys=stacks.SECRET_KEYS)
    assert result.error is not None and "cloud-exchange-ha:nodeCnt: is not a setting of this project" in result.error
    assert result.resources == []
