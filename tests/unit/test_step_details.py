"""The remote steps word for word (issue 12): every input and option of one node's steps, written out by hand.

For a new 5.x secondary (ce-2 of a migrate behind a balancer), the adopted primary, and a 6.x
greenfield behind a bastion: the SSH connection, each command string, its stdin, triggers, waits,
timeouts, logging, secret outputs and owner; node.json and the cutover revision as documents; the
stack outputs with the verify report read back; the balancer's targets; the destroy guard's waits.
Instance, volume and group ids are the mocks' (derived from resource names, as in
tests/unit/test_provisioning.py).

One program run per test and no shared (module-scoped) runs: mutmut 3 ties a function to the tests
that called it, and a shared run's calls belong to the first test that used it only, so the other
tests would never be run against a mutant.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pulumi
import pytest
from pydantic import SecretStr

from components import bundle as node_bundle
from components import cluster, provisioning
from components.args import StepsArgs
from offline import harness
from offline.mocks import AwsMocks
from tests.unit import stacks

KEY = stacks.FAKE_KEY
SECRET = harness.SECRET_SIG
IDS = {"ce-1": "i-8b78545fc17288eaa", "ce-2": "i-2d9d061037a6886c0", "ce-3": "i-591b4a66cae4235b8"}
IPS = ["10.0.1.10", "10.0.2.10", "10.0.3.10"]
ENTRY = "/opt/cloud-exchange-ha/ce-node"
BUNDLE = node_bundle.build()


def run(config: dict[str, Any]) -> harness.Run:
    result = harness.run(config, secret_keys=stacks.SECRET_KEYS)
    assert result.error is None, result.error
    return result


PRIMARY = "i-0123456789abcdef0"
REPORT = '{"primary_ip": "10.0.2.10", "members": ["10.0.1.10", "10.0.2.10"]}'


def migrate_run(monkeypatch: pytest.MonkeyPatch) -> harness.Run:
    """A migrate behind an internal balancer that may be destroyed, whose verify step printed REPORT as its last JSON line."""
    real = AwsMocks.new_resource

    def verified(self: AwsMocks, args: Any) -> tuple[str | None, dict[str, Any]]:
        rid, state = real(self, args)
        if args.name == "ce-1-steps-verify":
            state["stdout"] = f"progress verify: checking\n{REPORT}\nverify: ok\n"
        return rid, state

    monkeypatch.setattr(AwsMocks, "new_resource", verified)
    return run(stacks.migrate(loadBalancer="internal", allowDestroy=True))


def six_run() -> harness.Run:
    """A 6.x greenfield behind a bastion with every node setting away from its default."""
    return run(stacks.greenfield(
        ceVersion="v6.1.0", bastionHost="bastion.example.internal", bastionUser="jump", proxyUrl="http://proxy.lan:3128", uiPort=8443,
        tls12=True, tenantUrl="https://t.goskope.com", allowUndersized=True, pipIndexUrl="http://mirror/simple/", dockerRepoUrl="os",
        instanceType="m5.4xlarge", rootVolumeSizeGb=180, glusterVolumeSizeGb=120,
    ))  # fmt: skip


def revision(version: str, shared_dir: str, proxy: str = "", tenant: str = "test", ui: str = '["https", 443, false]') -> str:
    """What every cutover step re-runs on, spelled out (keys sorted, as json.dumps(sort_keys=True) writes them)."""
    ips = ", ".join(f'"{ip}"' for ip in IPS)
    return (f'{{"ce_version": "{version}", "cluster_ips": [{ips}], "proxy": "{proxy}", "shared_dir": "{shared_dir}", '
            f'"tenant": "{tenant}", "ui": {ui}}}')  # fmt: skip


def plain(step: harness.Declared) -> dict[str, Any]:
    """A command's inputs without the connection (checked on its own)."""
    return {key: value for key, value in step.inputs.items() if key != "connection"}


# ---- the connection ------------------------------------------------------------------------------


def check_the_ssh_connection(migrate_run: harness.Run) -> None:
    connection = migrate_run.named("ce-2-steps-booted").inputs["connection"]
    assert connection[SECRET] == "1b47061264138c4ac30d75fd1eb44270"
    assert connection["value"] == {"host": "10.0.2.10", "user": "ubuntu", "privateKey": KEY, "dialErrorLimit": 30, "perDialTimeout": 15,
                                   "port": 22}  # fmt: skip


def check_the_bastion(six_run: harness.Run) -> None:
    connection = six_run.named("ce-3-steps-join-start").inputs["connection"]["value"]
    assert connection["proxy"] == {"host": "bastion.example.internal", "user": "jump", "privateKey": KEY, "dialErrorLimit": 30,
                                   "perDialTimeout": 15, "port": 22}  # fmt: skip
    assert {k: v for k, v in connection.items() if k != "proxy"} == {
        "host": "10.0.3.10", "user": "ubuntu", "privateKey": KEY, "dialErrorLimit": 30, "perDialTimeout": 15, "port": 22,
    }  # fmt: skip


# ---- one new 5.x node's own steps ----------------------------------------------------------------


def check_a_new_nodes_first_steps(migrate_run: harness.Run) -> None:
    short, digest, ce2 = BUNDLE.short, BUNDLE.digest, IDS["ce-2"]
    booted = migrate_run.named("ce-2-steps-booted")
    assert plain(booted) == {
        "create": "if ! sudo -n true 2>/dev/null; then echo 'ERROR booted: ce-2 (10.0.2.10): ubuntu logged in over SSH but sudo asks "
                  "for a password - fix: give sshUser passwordless sudo on the node' >&2; exit 1; fi; "
                  "echo 'booted: ce-2 (10.0.2.10) reachable over SSH as ubuntu'",
        "triggers": [ce2], "logging": "stdoutAndStderr", "addPreviousOutputInEnv": False,
    }  # fmt: skip
    assert (booted.parent, booted.depends_on, booted.deleted_with) == ("ce-2-steps", ["ce-net", "ce-2-vm"], "ce-2-vm")

    copy = migrate_run.named("ce-2-steps-bundle")
    assert copy.typ == "command:remote:CopyToRemote"
    assert (copy.parent, copy.depends_on, copy.deleted_with) == ("ce-2-steps", ["ce-2-steps-booted"], "ce-2-vm")
    assert copy.additional_secret_outputs == ["connection"]  # the bundle is no secret
    assert copy.inputs["remotePath"] == f".cloud-exchange-ha-{short}.b64" and copy.inputs["triggers"] == [digest, ce2]
    source = copy.inputs["source"]
    assert isinstance(source, pulumi.StringAsset) and source.text == BUNDLE.as_base64

    staged, new, old, home = f".cloud-exchange-ha-{short}.b64", "/opt/cloud-exchange-ha.new", "/opt/cloud-exchange-ha.old", "/opt/cloud-exchange-ha"
    install = migrate_run.named("ce-2-steps-install")
    assert plain(install) == {
        "create": f"set -e; base64 -d {staged} > {staged}.tgz; "
                  f"sudo rm -rf {new} && sudo mkdir -p {new} && sudo tar -xzf {staged}.tgz -C {new}; "
                  f"sudo rm -rf {old}; if [ -d {home} ]; then sudo mv {home} {old}; fi; "
                  f"sudo mv {new} {home} && sudo rm -rf {old} {staged}.tgz; "
                  f"echo 'bundle: installed {short}'",
        "triggers": [digest, ce2], "logging": "stdoutAndStderr", "addPreviousOutputInEnv": False,
    }  # fmt: skip
    assert install.depends_on == ["ce-2-steps-bundle"]

    config = migrate_run.named("ce-2-steps-config")
    assert plain(config) == {
        "create": "sudo install -D -m 0644 -o root -g root /dev/stdin /etc/cloud-exchange-ha/node.json && echo 'config: written'",
        "stdin": config.inputs["stdin"], "triggers": [ce2], "logging": "stdoutAndStderr", "addPreviousOutputInEnv": False,
    }  # fmt: skip
    secrets = migrate_run.named("ce-2-steps-secrets")
    assert plain(secrets) == {
        "create": "sudo install -D -m 0600 -o root -g root /dev/stdin /etc/cloud-exchange-ha/secrets.json && echo 'secrets: written'",
        "stdin": {SECRET: "1b47061264138c4ac30d75fd1eb44270",
                  "value": '{"maintenance_password": "Maint-pass-7431", "jwt_secret": "jwt-secret-9152"}'},
        "triggers": [ce2], "logging": "none", "addPreviousOutputInEnv": False,
    }  # fmt: skip
    assert config.depends_on == secrets.depends_on == ["ce-2-steps-install"]
    assert config.additional_secret_outputs == ["connection"] and secrets.additional_secret_outputs == ["stdout", "stderr", "connection"]
    for step in (booted, copy, install, config, secrets):
        assert step.custom_timeouts == {"create": "915s", "update": "915s"}, step.name
        assert step.parent == "ce-2-steps" and step.deleted_with == "ce-2-vm", step.name


def check_node_json(migrate_run: harness.Run) -> None:
    assert json.loads(migrate_run.named("ce-2-steps-config").inputs["stdin"]) == {
        "node_name": "ce-2", "node_ip": "10.0.2.10", "role": "secondary", "cluster_ips": IPS, "ce_version": "v5.1.2",
        "ce_repo_url": "https://github.com/netskopeoss/ta_cloud_exchange.git", "ce_dir": "/opt/ta_cloud_exchange",
        "shared_dir": "/mnt/ce-ha", "shared_source": "fs-bff6a8f2748bb25bc.efs.eu-west-1.amazonaws.com:/",
        "nfs_options": "nfsvers=4.1,rsize=1048576,wsize=1048576,hard,timeo=600,retrans=2,noresvport",
        "ui_protocol": "https", "ui_port": 443, "tls12": False, "tenant_url": "test", "proxy_url": "", "migrate": False,
        "allow_undersized": False, "docker_repo_url": "https://download.docker.com/linux/ubuntu", "pip_index_url": "",
        "brick_volume_id": "", "timeouts": {},
    }  # fmt: skip
    primary = json.loads(migrate_run.named("ce-1-steps-config").inputs["stdin"])
    assert (primary["node_name"], primary["node_ip"], primary["role"], primary["migrate"]) == ("ce-1", "10.0.1.10", "primary", True)


def check_a_new_nodes_preparation(migrate_run: harness.Run) -> None:
    node_json = migrate_run.named("ce-2-steps-config").inputs["stdin"]
    waits = {"wait": [], "preflight": ["ce-2-steps-wait"], "prepare": ["ce-2-steps-preflight"],
             "mount": ["ce-2-steps-prepare", "ce-shared-mt-eu-west-1a", "ce-shared-mt-eu-west-1b", "ce-shared-mt-eu-west-1c"],
             "fetch-ce": ["ce-2-steps-mount"], "certs": ["ce-2-steps-fetch-ce"]}  # fmt: skip
    outer = {"wait": 600, "preflight": 600, "prepare": 3000, "mount": 600, "fetch-ce": 900, "certs": 600}
    for phase, after in waits.items():
        step = migrate_run.named(f"ce-2-steps-{phase}")
        assert plain(step) == {
            "create": f"sudo timeout {outer[phase]} {ENTRY} {phase}", "triggers": [BUNDLE.digest, node_json, IDS["ce-2"]],
            "logging": "stdoutAndStderr", "addPreviousOutputInEnv": False,
        }, phase  # fmt: skip
        assert step.depends_on == ["ce-2-steps-config", "ce-2-steps-secrets", *after], phase
        limit = f"{615 + outer[phase] + 60}s"
        assert step.custom_timeouts == {"create": limit, "update": limit} and step.additional_secret_outputs == ["connection"], phase
    assert "ce-2-steps-inspect-check" not in {r.name for r in migrate_run.resources}  # the adopted primary's only


def check_a_new_nodes_cutover_steps(migrate_run: harness.Run) -> None:
    cutover = revision("v5.1.2", "/mnt/ce-ha")
    steps = {
        "drain-stop": ("stop --role secondary", 900, ["ce-1-steps-drain-backup"]),
        "drain-backup": ("backup --stopped-member", 1800, ["ce-2-steps-drain-stop"]),
        "cutover-stop": ("stop --role primary", 900, ["ce-1-steps-cutover-start"]),
        "cutover-setup": ("setup --role primary", 3600, ["ce-2-steps-cutover-stop"]),
        "cutover-start": ("start --role primary", 1800, ["ce-2-steps-cutover-setup"]),
        "join-setup": ("setup --role secondary", 3600, ["ce-1-steps-join-start"]),
        "join-start": ("start --role secondary", 1800, ["ce-2-steps-join-setup"]),
    }
    for name, (args, outer, after) in steps.items():
        step = migrate_run.named(f"ce-2-steps-{name}")
        hidden = args.startswith("setup")
        assert plain(step) == {
            "create": f"sudo timeout {outer} {ENTRY} {args}", "triggers": [cutover, IDS["ce-2"]],
            "logging": "none" if hidden else "stdoutAndStderr", "addPreviousOutputInEnv": False,
        }, name  # fmt: skip
        assert step.depends_on == ["ce-2-steps-config", "ce-2-steps-secrets", *after], name
        assert step.additional_secret_outputs == (["stdout", "stderr", "connection"] if hidden else ["connection"]), name
        assert step.deleted_with == "ce-2-vm" and step.parent == "ce-2-steps", name


# ---- the adopted primary's steps -----------------------------------------------------------------


def check_the_adopted_primarys_steps(migrate_run: harness.Run) -> None:
    cutover = revision("v5.1.2", "/mnt/ce-ha")
    booted = migrate_run.named("ce-1-steps-booted")
    assert booted.depends_on == ["ce-net", "ce-1-backup", "ce-1-sg"] and "triggers" not in booted.inputs
    assert migrate_run.named("ce-1-steps-bundle").inputs["triggers"] == [BUNDLE.digest]
    check = migrate_run.named("ce-1-steps-inspect-check")
    assert check.inputs["create"] == f"sudo timeout 600 {ENTRY} inspect --check" and check.depends_on[-1] == "ce-1-steps-prepare"
    backup = migrate_run.named("ce-1-steps-backup")
    assert plain(backup) == {"create": f"sudo timeout 1800 {ENTRY} backup", "triggers": [cutover], "logging": "stdoutAndStderr",
                             "addPreviousOutputInEnv": False}  # fmt: skip
    assert backup.depends_on == ["ce-1-steps-config", "ce-1-steps-secrets", "ce-1-steps-mount"]
    assert migrate_run.named("ce-1-steps-fetch-ce").depends_on[-1] == "ce-1-steps-backup"
    verify = migrate_run.named("ce-1-steps-verify")
    secondaries = [migrate_run.named(f"ce-{n}-steps-booted").inputs["triggers"][-1] for n in (2, 3)]  # their instance ids
    assert all(str(vm).startswith("i-") for vm in secondaries)
    assert plain(verify) == {"create": f"sudo timeout 600 {ENTRY} verify --json --insecure-ui --wait",
                             "triggers": [cutover, BUNDLE.digest, *secondaries],
                             "logging": "stdoutAndStderr", "addPreviousOutputInEnv": False}  # fmt: skip
    assert verify.depends_on == ["ce-1-steps-config", "ce-1-steps-secrets", "ce-3-steps-join-start"]
    for step in (booted, check, backup, verify):
        assert step.deleted_with is None and step.parent == "ce-1-steps", step.name
    steps = migrate_run.named("ce-1-steps")
    assert (steps.typ, steps.parent) == ("cloudexchange:ha:NodeSteps", "ce")


def check_the_evictions(migrate_run: harness.Run) -> None:
    prepared = ["ce-1-steps-certs", "ce-2-steps-certs", "ce-3-steps-certs"]
    for node, ip in (("ce-2", "10.0.2.10"), ("ce-3", "10.0.3.10")):
        evict = migrate_run.named(f"ce-1-steps-evict-{node}")
        assert plain(evict) == {"create": f"sudo timeout 2700 {ENTRY} evict --address {ip} --if-dead", "triggers": [IDS[node]],
                                "logging": "stdoutAndStderr", "addPreviousOutputInEnv": False}, node  # fmt: skip
        assert evict.depends_on == ["ce-1-steps-config", "ce-1-steps-secrets", *prepared] and evict.parent == "ce-1-steps"
    assert "ce-2-steps-evict-ce-1" not in {r.name for r in migrate_run.resources}  # the adopted primary is not replaced
    assert migrate_run.named("ce-1-steps-drain-stop").depends_on == [
        "ce-1-steps-config", "ce-1-steps-secrets", *prepared, "ce-1-steps-evict-ce-2", "ce-1-steps-evict-ce-3",
    ]  # fmt: skip


# ---- 6.x, greenfield -----------------------------------------------------------------------------


def check_the_6x_steps(six_run: harness.Run) -> None:
    cutover = revision("v6.1.0", "/opt/shared/data", proxy="http://proxy.lan:3128", tenant="https://t.goskope.com", ui='["https", 8443, true]')
    assert six_run.named("ce-1-steps-booted").depends_on == ["ce-net", "ce-1-vm"]
    bricks = six_run.named("ce-2-steps-bricks")
    assert bricks.inputs["create"] == f"sudo timeout 600 {ENTRY} bricks"
    assert bricks.depends_on == ["ce-2-steps-config", "ce-2-steps-secrets", "ce-2-steps-prepare", "ce-2-bricks-attach"]
    join = six_run.named("ce-1-steps-join-brick-ce-3")
    assert plain(join) == {"create": f"sudo timeout 600 {ENTRY} gluster-join --member 3", "triggers": [cutover, IDS["ce-1"]],
                           "logging": "stdoutAndStderr", "addPreviousOutputInEnv": False}  # fmt: skip
    assert join.depends_on == ["ce-1-steps-config", "ce-1-steps-secrets", "ce-2-steps-join-start"] and join.deleted_with == "ce-1-vm"
    evict = six_run.named("ce-2-steps-evict-ce-1")  # the primary is new too: the next node evicts its predecessor
    assert plain(evict) == {"create": f"sudo timeout 2700 {ENTRY} evict --address 10.0.1.10 --if-dead", "triggers": [IDS["ce-1"]],
                            "logging": "stdoutAndStderr", "addPreviousOutputInEnv": False}  # fmt: skip
    assert evict.parent == "ce-2-steps" and evict.deleted_with == "ce-2-vm"
    node_json = json.loads(six_run.named("ce-3-steps-config").inputs["stdin"])
    assert node_json == {
        "node_name": "ce-3", "node_ip": "10.0.3.10", "role": "secondary", "cluster_ips": IPS, "ce_version": "v6.1.0",
        "ce_repo_url": "https://github.com/netskopeoss/ta_cloud_exchange.git", "ce_dir": "/opt/ta_cloud_exchange",
        "shared_dir": "/opt/shared/data", "shared_source": "",
        "nfs_options": "nfsvers=4.1,rsize=1048576,wsize=1048576,hard,timeo=600,retrans=2,noresvport",
        "ui_protocol": "https", "ui_port": 8443, "tls12": True, "tenant_url": "https://t.goskope.com", "proxy_url": "http://proxy.lan:3128",
        "migrate": False, "allow_undersized": True, "docker_repo_url": "", "pip_index_url": "http://mirror/simple/",
        "brick_volume_id": six_run.named("ce-3-bricks-attach").inputs["volumeId"], "timeouts": {},
    }  # fmt: skip
    assert node_json["brick_volume_id"].startswith("vol-")
    vm = six_run.named("ce-2-vm")
    assert (vm.inputs["ami"], vm.inputs["instanceType"], vm.inputs["rootBlockDevice"]["volumeSize"]) == ("ami-0ubuntu00000000001", "m5.4xlarge", 180)
    assert six_run.named("ce-2-bricks").inputs["size"] == 120
    assert six_run.named("ce-2-eni").inputs["securityGroups"] == ["sg-995190f9970346c93"]


def check_every_6x_step_in_declaration_order(six_run: harness.Run) -> None:
    prepare = ["booted", "install", "config", "secrets", "wait", "preflight", "prepare", "bricks", "fetch-ce", "certs"]
    names = [f"{node}-steps-{step}" for node in ("ce-1", "ce-2", "ce-3") for step in prepare]
    names += ["ce-2-steps-evict-ce-1", "ce-1-steps-evict-ce-2", "ce-1-steps-evict-ce-3"]
    names += [f"{node}-steps-drain-{step}" for node in ("ce-1", "ce-2", "ce-3") for step in ("stop", "backup")]
    names += [f"{node}-steps-cutover-{step}" for node in ("ce-1", "ce-2", "ce-3") for step in ("stop", "setup", "start")]
    names += ["ce-1-steps-join-setup", "ce-1-steps-join-start", "ce-1-steps-join-brick-ce-2", "ce-2-steps-join-setup", "ce-2-steps-join-start",
              "ce-1-steps-join-brick-ce-3", "ce-3-steps-join-setup", "ce-3-steps-join-start", "ce-1-steps-verify"]  # fmt: skip
    assert [c.name for c in six_run.of_type("command:remote:Command")] == names


def check_each_6x_node_names_its_own_brick_volume(six_run: harness.Run) -> None:
    volumes = [json.loads(six_run.named(f"{node}-steps-config").inputs["stdin"])["brick_volume_id"] for node in ("ce-1", "ce-2", "ce-3")]
    attached = [six_run.named(f"{node}-bricks-attach").inputs["volumeId"] for node in ("ce-1", "ce-2", "ce-3")]
    assert volumes == attached and len(set(volumes)) == 3


# ---- the cluster's outputs, balancer and guard --------------------------------------------------

NODES = [{"name": "ce-1", "role": "primary", "privateIp": "10.0.1.10"}, {"name": "ce-2", "role": "secondary", "privateIp": "10.0.2.10"},
         {"name": "ce-3", "role": "secondary", "privateIp": "10.0.3.10"}]  # fmt: skip


def check_the_migrate_outputs(migrate_run: harness.Run) -> None:
    dns = "internal-ce-lb-nlb-0d539189fa.elb.eu-west-1.amazonaws.com"
    assert migrate_run.outputs == {
        "ceVersion": "v5.1.2", "releaseLine": "5.x", "nodes": NODES, "nodeSecurityGroupId": "sg-995190f9970346c93",
        "backupImageId": "ami-9eec44e79f0016db9", "efsId": "fs-bff6a8f2748bb25bc",
        "efsDnsName": "fs-bff6a8f2748bb25bc.efs.eu-west-1.amazonaws.com", "efsSecurityGroupId": "sg-ee2455bd197d515f4",
        "verifiedPrimary": "10.0.2.10", "verifiedMembers": ["10.0.1.10", "10.0.2.10"],  # the verify step's report (REPORT)
        "uiUrl": f"https://{dns}", "loadBalancerDnsName": dns,
    }  # fmt: skip


def check_the_balancer_targets(migrate_run: harness.Run) -> None:
    attachments = migrate_run.of_type("aws:lb/targetGroupAttachment:TargetGroupAttachment")
    assert [(a.name, a.inputs["targetId"]) for a in attachments] == [
        ("ce-lb-ce-1", PRIMARY), ("ce-lb-ce-2", IDS["ce-2"]), ("ce-lb-ce-3", IDS["ce-3"]),
    ]  # fmt: skip


def check_the_components(migrate_run: harness.Run) -> None:
    assert [(r.name, r.typ, r.parent) for r in migrate_run.resources if r.parent in ("ce", None)] == [
        ("ce", "cloudexchange:ha:Cluster", None), ("ce-net", "cloudexchange:ha:Network", "ce"),
        ("ce-shared", "cloudexchange:ha:SharedStorage", "ce"), ("ce-1", "cloudexchange:ha:PrimaryNode", "ce"),
        ("ce-2", "cloudexchange:ha:NewNode", "ce"), ("ce-3", "cloudexchange:ha:NewNode", "ce"),
        ("ce-1-steps", "cloudexchange:ha:NodeSteps", "ce"), ("ce-2-steps", "cloudexchange:ha:NodeSteps", "ce"),
        ("ce-3-steps", "cloudexchange:ha:NodeSteps", "ce"), ("ce-lb", "cloudexchange:ha:LoadBalancer", "ce"),
        ("ce-destroy-guard", "cloudexchange:ha:DestroyGuard", "ce"),
    ]  # fmt: skip
    balancer = migrate_run.named("ce-lb-nlb").inputs
    # the primary's subnet (the mocks') and the two configured ones; the balancer's own group
    assert balancer["subnets"] == ["subnet-0primary000000001", "subnet-0aaaaaaaaaaaaaaa1", "subnet-0bbbbbbbbbbbbbbb2"]
    assert balancer["securityGroups"] == ["sg-f3645b68c3b6b44c9"]


def check_the_destroy_guard(migrate_run: harness.Run) -> None:
    assert migrate_run.named("ce-destroy-guard-check").inputs["environment"] == {"CE_HA_ALLOW_DESTROY": "true"}  # allowDestroy: true
    assert migrate_run.named("ce-destroy-guard-check").depends_on == [
        "ce-net", "ce-shared", "ce-1", "ce-2", "ce-3", "ce-1-steps", "ce-2-steps", "ce-3-steps", "ce-lb",
    ]  # fmt: skip


def check_the_6x_outputs(six_run: harness.Run) -> None:
    assert six_run.outputs == {
        "ceVersion": "v6.1.0", "releaseLine": "6.x", "nodes": NODES, "nodeSecurityGroupId": "sg-995190f9970346c93",
        "backupImageId": None, "efsId": None, "efsDnsName": None, "efsSecurityGroupId": None,
        "verifiedPrimary": None, "verifiedMembers": [], "uiUrl": None, "loadBalancerDnsName": None,
    }  # fmt: skip
    assert "ce-destroy-guard" not in {r.name for r in six_run.resources}  # a greenfield has nothing to protect


# ---- the tests: one program run each ---------------------------------------------------------------


def test_a_migrate_behind_a_balancer_word_for_word(monkeypatch: pytest.MonkeyPatch) -> None:
    result = migrate_run(monkeypatch)
    check_the_ssh_connection(result)
    check_a_new_nodes_first_steps(result)
    check_node_json(result)
    check_a_new_nodes_preparation(result)
    check_a_new_nodes_cutover_steps(result)
    check_the_adopted_primarys_steps(result)
    check_the_evictions(result)
    check_the_migrate_outputs(result)
    check_the_balancer_targets(result)
    check_the_components(result)
    check_the_destroy_guard(result)


def test_a_6x_greenfield_behind_a_bastion_word_for_word() -> None:
    result = six_run()
    check_the_bastion(result)
    check_the_6x_steps(result)
    check_every_6x_step_in_declaration_order(result)
    check_each_6x_node_names_its_own_brick_volume(result)
    check_the_6x_outputs(result)


@pytest.mark.parametrize(
    ("stdout", "report"),
    [
        ("", {}),
        ("verify: ok\n", {}),
        ('{"primary_ip": "10.0.1.10"}\nprogress\n', {"primary_ip": "10.0.1.10"}),
        ('{"primary_ip": "old"}\n{"primary_ip": "new"}\n', {"primary_ip": "new"}),  # the last report line wins
        ("[1, 2]\n", {}),
        ("  \n", {}),
    ],
    ids=["empty", "no-json", "json-then-text", "last-wins", "json-not-an-object", "blank"],
)
def test_the_verify_report_is_its_last_json_object_line(stdout: str, report: dict[str, object]) -> None:
    assert cluster._report(stdout) == report


# ---- without a program run -------------------------------------------------------------------------


def test_a_phase_command_without_arguments_ends_with_the_phase() -> None:
    assert provisioning.phase_command("wait") == "sudo timeout 600 /opt/cloud-exchange-ha/ce-node wait"
    assert provisioning.phase_command("inspect", "--check") == "sudo timeout 600 /opt/cloud-exchange-ha/ce-node inspect --check"


def secrets_json(cert: str = "", key: str = "") -> tuple[str, bool]:
    """``secrets_document`` of these settings: (the document, whether it is a Pulumi secret)."""
    args = StepsArgs(ssh_user="ubuntu", ssh_private_key=SecretStr(KEY), bastion_host="", bastion_user="",
                     maintenance_password=SecretStr("Mp-1"), jwt_secret=SecretStr("Jwt-2"), ui_certificate_file=cert,
                     ui_certificate_key_file=key)  # fmt: skip

    async def resolved() -> tuple[str, bool]:
        document = provisioning.secrets_document(args)
        return await document.future() or "", await document.is_secret()

    loop = asyncio.new_event_loop()  # not asyncio.run: it leaves the thread without a loop for the program runs after it
    try:
        return loop.run_until_complete(resolved())
    finally:
        loop.close()


def test_secrets_json_carries_the_ui_certificate_only_when_one_is_configured(tmp_path: Path) -> None:
    assert secrets_json() == ('{"maintenance_password": "Mp-1", "jwt_secret": "Jwt-2"}', True)
    cert, key = tmp_path / "ui.crt", tmp_path / "ui.key"
    cert.write_text("-----BEGIN CERTIFICATE-----\nQ0VSVA==\n-----END CERTIFICATE-----\n")
    key.write_text("-----BEGIN PRIVATE KEY-----\nS0VZ\n-----END PRIVATE KEY-----\n")
    document, secret = secrets_json(str(cert), str(key))
    assert secret and json.loads(document) == {
        "maintenance_password": "Mp-1", "jwt_secret": "Jwt-2",
        "ui_certificate": "-----BEGIN CERTIFICATE-----\nQ0VSVA==\n-----END CERTIFICATE-----\n",
        "ui_certificate_key": "-----BEGIN PRIVATE KEY-----\nS0VZ\n-----END PRIVATE KEY-----\n",
    }  # fmt: skip
