"""Remote steps under mocks: order, parallelism, re-run triggers, secrets, destroy safety."""

from __future__ import annotations

from pathlib import Path

import pytest

from components import bundle as node_bundle
from components import provisioning
from offline import harness
from tests.unit import stacks

COMMAND = "command:remote:Command"
COPY = "command:remote:CopyToRemote"
SECRETS = [stacks.MAINTENANCE, stacks.JWT, stacks.FAKE_KEY, *stacks.FAKE_KEY.splitlines()[1:2]]


@pytest.fixture(scope="module")
def migrate_run() -> harness.Run:
    result = harness.run(stacks.migrate(), secret_keys=stacks.SECRET_KEYS)
    assert result.error is None, result.error
    return result


@pytest.fixture(scope="module")
def greenfield_run() -> harness.Run:
    result = harness.run(stacks.greenfield(), secret_keys=stacks.SECRET_KEYS)
    assert result.error is None, result.error
    return result


def ancestors(result: harness.Run, name: str) -> set[str]:
    """Everything a resource waits for, through depends_on (the engine's order)."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        for dep in result.named(todo.pop()).depends_on:
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def commands(result: harness.Run) -> list[harness.Declared]:
    return result.of_type(COMMAND)


# ---- order -------------------------------------------------------------------------------------


PREP = ["wait", "preflight", "prepare", "mount", "fetch-ce", "certs"]


@pytest.mark.parametrize("node", ["ce-1", "ce-2", "ce-3"])
def test_each_node_prepares_in_phase_order_after_it_booted(migrate_run: harness.Run, node: str) -> None:
    for earlier, later in zip(PREP, PREP[1:], strict=False):
        assert f"{node}-steps-{earlier}" in ancestors(migrate_run, f"{node}-steps-{later}")
    assert f"{node}-steps-booted" in ancestors(migrate_run, f"{node}-steps-wait")


def test_every_step_waits_for_boot_and_the_bundle(migrate_run: harness.Run) -> None:
    for step in commands(migrate_run):
        node = step.name.split("-steps-")[0]
        if not step.name.endswith("-booted"):
            assert f"{node}-steps-booted" in ancestors(migrate_run, step.name), step.name
        if step.name.split("-steps-")[1] not in ("booted", "install"):
            assert f"{node}-steps-install" in ancestors(migrate_run, step.name), step.name


def test_nothing_runs_on_the_primary_before_its_backup_image(migrate_run: harness.Run) -> None:
    assert {"ce-1-backup", "ce-1-sg"} <= set(migrate_run.named("ce-1-steps-booted").depends_on)


def test_secondaries_prepare_in_parallel_with_the_backup_and_each_other(migrate_run: harness.Run) -> None:
    for node in ("ce-2", "ce-3"):
        waits_for = ancestors(migrate_run, f"{node}-steps-certs")
        assert "ce-1-backup" not in waits_for
        assert not any(n.startswith("ce-1-steps") for n in waits_for)
        other = "ce-3" if node == "ce-2" else "ce-2"
        assert not any(n.startswith(f"{other}-steps") for n in waits_for)


def test_primary_checks_secrets_and_backs_up_before_cutover(migrate_run: harness.Run) -> None:
    before_stop = ancestors(migrate_run, "ce-1-steps-cutover-stop")
    assert {"ce-1-steps-inspect-check", "ce-1-steps-backup"} <= before_stop
    check = migrate_run.named("ce-1-steps-inspect-check")
    assert check.inputs["create"].endswith("ce-node inspect --check")


def test_cutover_starts_only_after_every_node_is_prepared(migrate_run: harness.Run) -> None:
    before_stop = ancestors(migrate_run, "ce-1-steps-cutover-stop")
    assert {f"ce-{i}-steps-certs" for i in (1, 2, 3)} <= before_stop


def test_cutover_is_strictly_sequential_in_ces_order(migrate_run: harness.Run) -> None:
    # each node's drain, then the window: the CE primary's stop, setup, start; then each secondary sets up and joins
    # in turn. Every node runs these steps in turn; only the holder of the role their --role names acts (node side)
    order = ["ce-1-steps-drain-stop", "ce-1-steps-drain-backup", "ce-2-steps-drain-stop", "ce-2-steps-drain-backup",
             "ce-3-steps-drain-stop", "ce-3-steps-drain-backup",
             "ce-1-steps-cutover-stop", "ce-1-steps-cutover-setup", "ce-1-steps-cutover-start",
             "ce-2-steps-cutover-stop", "ce-2-steps-cutover-setup", "ce-2-steps-cutover-start",
             "ce-3-steps-cutover-stop", "ce-3-steps-cutover-setup", "ce-3-steps-cutover-start",
             "ce-1-steps-join-setup", "ce-1-steps-join-start",
             "ce-2-steps-join-setup", "ce-2-steps-join-start", "ce-3-steps-join-setup", "ce-3-steps-join-start",
             "ce-1-steps-verify"]
    # each waits for exactly the one before it (besides its node's own config and secrets)
    for earlier, later in zip(order, order[1:], strict=False):
        waits = [d for d in migrate_run.named(later).depends_on if "-steps-" in d and not d.endswith(("-config", "-secrets"))]
        assert waits == [earlier], (later, waits)
    cutover = {n for n in order}
    # no prep step waits for any cutover step: CE is down only during the cutover
    for step in commands(migrate_run):
        if step.name not in cutover:
            assert not (ancestors(migrate_run, step.name) & cutover), step.name


def test_greenfield_has_the_same_cutover_without_backup_or_inspect(greenfield_run: harness.Run) -> None:
    names = {c.name for c in commands(greenfield_run)}
    assert "ce-1-steps-backup" not in names and "ce-1-steps-inspect-check" not in names
    assert greenfield_run.named("ce-1-steps-cutover-start").depends_on[-1] == "ce-1-steps-cutover-setup"
    assert "ce-3-steps-cutover-start" in greenfield_run.named("ce-1-steps-join-setup").depends_on
    assert "ce-1-steps-join-start" in greenfield_run.named("ce-2-steps-join-setup").depends_on
    assert "ce-2-steps-join-start" in greenfield_run.named("ce-3-steps-join-setup").depends_on
    for name in ("drain-stop", "cutover-stop", "cutover-setup", "cutover-start", "join-setup", "join-start"):
        role = "--role primary" if name.startswith("cutover-") else "--role secondary"
        for node in ("ce-1", "ce-2", "ce-3"):
            assert greenfield_run.named(f"{node}-steps-{name}").inputs["create"].endswith(role), (node, name)


def test_mount_waits_for_the_efs_mount_targets(migrate_run: harness.Run) -> None:
    assert {"ce-shared-mt-eu-west-1a", "ce-shared-mt-eu-west-1b"} <= set(migrate_run.named("ce-2-steps-mount").depends_on)


# ---- commands ----------------------------------------------------------------------------------


def test_phase_commands_run_the_installed_entry_point_under_a_timeout(migrate_run: harness.Run) -> None:
    prepare = migrate_run.named("ce-2-steps-prepare").inputs["create"]
    # prepare's outer timeout is 3000 s (50 min: the OS updates of a new node); the bundle is installed at /opt/cloud-exchange-ha
    # (README, "Phases, the downtime window, and re-runs")
    assert prepare == "sudo timeout 3000 /opt/cloud-exchange-ha/ce-node prepare"


def test_no_previous_output_in_env_and_no_delete_scripts(migrate_run: harness.Run) -> None:
    for step in commands(migrate_run):
        assert step.inputs["addPreviousOutputInEnv"] is False, step.name
        assert "delete" not in step.inputs, step.name


def test_commands_on_new_nodes_go_with_their_instance(migrate_run: harness.Run) -> None:
    for step in commands(migrate_run) + migrate_run.of_type(COPY):
        node = step.name.split("-steps-")[0]
        if node == "ce-1":
            assert step.deleted_with is None, step.name  # the adopted primary is not ours to delete
        else:
            assert step.deleted_with == f"{node}-vm", step.name


def test_connection_retries_while_booting_for_ten_minutes_at_most(migrate_run: harness.Run) -> None:
    conn = migrate_run.named("ce-2-steps-booted").inputs["connection"]["value"]
    assert conn["user"] == "ubuntu"
    # the provider gives up at the 31st attempt: 31 attempts of at most 15 s, 30 pauses of at most 5 s
    assert (conn["dialErrorLimit"], conn["perDialTimeout"]) == (30, 15)


def test_bastion_becomes_the_ssh_proxy_with_the_same_bounded_dialing() -> None:
    result = harness.run(stacks.greenfield(bastionHost="bastion.example.internal", bastionUser="jump"),
                         secret_keys=stacks.SECRET_KEYS)
    proxy = result.named("ce-1-steps-booted").inputs["connection"]["value"]["proxy"]
    assert proxy["host"] == "bastion.example.internal" and proxy["user"] == "jump"
    assert (proxy["dialErrorLimit"], proxy["perDialTimeout"]) == (30, 15)


def test_the_dial_budget_is_about_ten_minutes() -> None:
    assert provisioning.DIAL_BUDGET_S == 31 * 15 + 30 * 5 == 615


@pytest.mark.parametrize(("step", "seconds"), [
    # dial budget (615) + the phase's outer timeout from the catalogue + 60 s of session slack
    ("ce-2-steps-wait", 1275),
    ("ce-2-steps-prepare", 3675),
    ("ce-2-steps-fetch-ce", 1575),
    ("ce-1-steps-backup", 2475),
    ("ce-3-steps-join-setup", 4275),
    ("ce-1-steps-cutover-stop", 1575),
    ("ce-2-steps-join-start", 2475),
    ("ce-1-steps-verify", 1275),
    # steps that are not phases: dial budget + 300 s
    ("ce-2-steps-booted", 915),
    ("ce-2-steps-bundle", 915),
    ("ce-2-steps-install", 915),
    ("ce-2-steps-config", 915),
    ("ce-2-steps-secrets", 915),
])
def test_every_step_has_a_custom_timeout_that_fits_its_phase_and_the_dial(
        migrate_run: harness.Run, step: str, seconds: int) -> None:
    assert migrate_run.named(step).custom_timeouts == {"create": f"{seconds}s", "update": f"{seconds}s"}


def test_no_remote_step_is_left_without_a_bound(migrate_run: harness.Run, six_run: harness.Run) -> None:
    for result in (migrate_run, six_run):
        for step in commands(result) + result.of_type(COPY):
            assert set(step.custom_timeouts) == {"create", "update"}, step.name
            assert step.inputs["connection"]["value"]["dialErrorLimit"] > 0, step.name


def test_the_first_probe_names_the_node_and_its_address(migrate_run: harness.Run) -> None:
    probe = migrate_run.named("ce-3-steps-booted").inputs["create"]
    assert "booted: ce-3 (10.0.3.10) reachable over SSH as ubuntu" in probe
    assert "ERROR booted: ce-3 (10.0.3.10): ubuntu logged in over SSH but sudo asks for a password" in probe
    assert "sudo -n true" in probe
    assert "10.0.1.10" in migrate_run.named("ce-1-steps-booted").inputs["create"]


def test_bundle_is_shipped_by_copy_then_installed_atomically(migrate_run: harness.Run) -> None:
    copy = migrate_run.named("ce-2-steps-bundle")
    bundle = node_bundle.build()
    assert copy.inputs["remotePath"] == f".cloud-exchange-ha-{bundle.short}.b64"  # the user's home, not /tmp
    assert copy.inputs["triggers"] == [bundle.digest, "i-2d9d061037a6886c0"]  # and again on a replacement VM
    assert migrate_run.named("ce-1-steps-bundle").inputs["triggers"] == [bundle.digest]
    install = migrate_run.named("ce-2-steps-install").inputs["create"]
    assert "/opt/cloud-exchange-ha.new" in install and "mv" in install


def test_node_json_carries_the_cluster_in_cutover_order(migrate_run: harness.Run) -> None:
    import json

    config = json.loads(migrate_run.named("ce-3-steps-config").inputs["stdin"])
    assert config["cluster_ips"] == ["10.0.1.10", "10.0.2.10", "10.0.3.10"]
    assert config["node_ip"] == "10.0.3.10" and config["role"] == "secondary"
    assert config["shared_source"].endswith(".amazonaws.com:/")
    assert config["docker_repo_url"] == "https://download.docker.com/linux/ubuntu"
    os_packages = harness.run(stacks.migrate(dockerRepoUrl="os"), secret_keys=stacks.SECRET_KEYS)
    assert json.loads(os_packages.named("ce-3-steps-config").inputs["stdin"])["docker_repo_url"] == ""
    primary = json.loads(migrate_run.named("ce-1-steps-config").inputs["stdin"])
    assert primary["role"] == "primary" and primary["migrate"] is True


# ---- secrets -----------------------------------------------------------------------------------


def test_no_secret_appears_outside_a_secret_in_any_input(migrate_run: harness.Run, greenfield_run: harness.Run) -> None:
    assert harness.plain_leaks(migrate_run, SECRETS) == []
    assert harness.plain_leaks(greenfield_run, SECRETS) == []


def test_the_leak_scan_finds_a_planted_secret(migrate_run: harness.Run) -> None:
    planted = harness.Run(resources=[harness.Declared(typ=COMMAND, name="x", custom=True, parent=None,
                                                      inputs={"create": f"echo {stacks.JWT}"})],
                          outputs={}, error=None, mocks=migrate_run.mocks)
    assert harness.plain_leaks(planted, SECRETS) == ["x.create"]


def test_secrets_travel_on_stdin_of_a_silent_step(migrate_run: harness.Run) -> None:
    step = migrate_run.named("ce-2-steps-secrets")
    assert "/dev/stdin" in step.inputs["create"] and "0600" in step.inputs["create"]
    assert stacks.JWT in step.inputs["stdin"]["value"]  # inside the secret wrapper
    assert step.inputs["logging"] == "none"
    assert {"stdout", "stderr"} <= set(step.additional_secret_outputs)


def test_setup_steps_hide_their_output(migrate_run: harness.Run) -> None:
    for name in ("ce-1-steps-cutover-setup", "ce-2-steps-join-setup", "ce-3-steps-join-setup"):
        step = migrate_run.named(name)
        assert {"stdout", "stderr"} <= set(step.additional_secret_outputs) and step.inputs["logging"] == "none"


# ---- re-runs -----------------------------------------------------------------------------------


def triggers(result: harness.Run) -> dict[str, object]:
    return {c.name: c.inputs.get("triggers") for c in commands(result)}


def test_same_config_gives_identical_inputs(migrate_run: harness.Run) -> None:
    again = harness.run(stacks.migrate(), secret_keys=stacks.SECRET_KEYS)
    assert {c.name: c.inputs for c in commands(again)} == {c.name: c.inputs for c in commands(migrate_run)}


def test_a_new_ce_version_reruns_fetch_and_cutover(migrate_run: harness.Run) -> None:
    newer = harness.run(stacks.migrate(ceVersion="v5.1.3"), secret_keys=stacks.SECRET_KEYS)
    before, after = triggers(migrate_run), triggers(newer)
    changed = {name for name in before if before[name] != after[name]}
    assert {"ce-1-steps-fetch-ce", "ce-1-steps-cutover-stop", "ce-3-steps-join-start", "ce-1-steps-verify"} <= changed
    assert "ce-2-steps-booted" not in changed


def test_a_new_bundle_reruns_preparation_but_not_the_cutover(monkeypatch: pytest.MonkeyPatch, migrate_run: harness.Run) -> None:
    real = node_bundle.build()
    monkeypatch.setattr(node_bundle, "build", lambda: node_bundle.Bundle(real.archive + b"x", "f" * 64))
    changed_run = harness.run(stacks.migrate(), secret_keys=stacks.SECRET_KEYS)
    before, after = triggers(migrate_run), triggers(changed_run)
    changed = {name for name in before if before[name] != after[name]}
    assert {"ce-2-steps-prepare", "ce-1-steps-install", "ce-1-steps-verify"} <= changed
    assert not {n for n in changed if "cutover" in n or "-join-" in n}, "a script change must not take CE down again"


# ---- a replaced node ---------------------------------------------------------------------------

#: the mocks' ids of the new nodes' instances (ids are derived from the resource name)
INSTANCE_IDS = {"ce-2": "i-2d9d061037a6886c0", "ce-3": "i-591b4a66cae4235b8"}


@pytest.mark.parametrize("node", ["ce-2", "ce-3"])
def test_every_step_on_a_new_node_has_its_instance_id_as_a_trigger(migrate_run: harness.Run, node: str) -> None:
    """Its address survives a replacement, so only the new instance's id makes the new VM run the node's steps."""
    on_node = [r for r in migrate_run.resources if r.typ in (COMMAND, COPY) and r.parent == f"{node}-steps"]
    assert {r.name for r in on_node} >= {f"{node}-steps-{s}" for s in (
        "booted", "bundle", "install", "config", "secrets", *PREP, "join-setup", "join-start")}
    for step in on_node:
        assert INSTANCE_IDS[node] in step.inputs["triggers"], step.name
        assert [i for i in INSTANCE_IDS.values() if i in step.inputs["triggers"]] == [INSTANCE_IDS[node]], step.name
    assert f"{node}-vm" in migrate_run.named(f"{node}-steps-booted").depends_on, "the first step waits for the VM"


def test_steps_on_the_adopted_primary_have_no_instance_trigger(migrate_run: harness.Run) -> None:
    on_primary = [r for r in migrate_run.resources if r.typ in (COMMAND, COPY) and r.parent == "ce-1-steps"]
    assert len(on_primary) > 10
    # an eviction is about the evicted node; verify checks every member, so any secondary's new instance re-runs it
    about_itself = [r for r in on_primary if "-steps-evict-" not in r.name and r.name != "ce-1-steps-verify"]
    assert not [r.name for r in about_itself if any(str(t).startswith("i-") for t in r.inputs.get("triggers") or [])]


def test_a_replaced_instance_reruns_only_that_nodes_steps(monkeypatch: pytest.MonkeyPatch, migrate_run: harness.Run) -> None:
    """ce-3's instance comes back with a new id and the same address: only ce-3's steps change."""
    from offline.mocks import AwsMocks

    real = AwsMocks.new_resource

    def replaced(self: AwsMocks, args: object) -> tuple[str | None, dict[str, object]]:
        rid, state = real(self, args)  # type: ignore[arg-type]
        return ("i-0replacement00003" if getattr(args, "name", "") == "ce-3-vm" else rid), state

    monkeypatch.setattr(AwsMocks, "new_resource", replaced)
    again = harness.run(stacks.migrate(), secret_keys=stacks.SECRET_KEYS)
    before, after = triggers(migrate_run), triggers(again)
    changed = {name for name in before if before[name] != after[name]}
    assert changed and {n.split("-steps-")[0] for n in changed if n not in ("ce-1-steps-evict-ce-3", "ce-1-steps-verify")} == {"ce-3"}
    assert "ce-1-steps-evict-ce-3" in changed  # the survivor evicts ce-3's dead predecessor (tests/unit/test_replacement.py)
    assert "ce-1-steps-verify" in changed  # and the check runs again: the new member must be healthy
    assert {"ce-3-steps-booted", "ce-3-steps-wait", "ce-3-steps-config", "ce-3-steps-join-setup"} <= changed
    assert again.named("ce-3-steps-bundle").inputs["triggers"][-1] == "i-0replacement00003"
    assert again.named("ce-3-steps-config").inputs["stdin"] == migrate_run.named("ce-3-steps-config").inputs["stdin"]


def test_6x_brick_attachment_moves_to_a_replacement_detached_first(six_run: harness.Run) -> None:
    attachments = six_run.of_type("aws:ec2/volumeAttachment:VolumeAttachment")
    assert [a.name for a in attachments] == ["ce-1-bricks-attach", "ce-2-bricks-attach", "ce-3-bricks-attach"]
    assert all(a.delete_before_replace for a in attachments)


# ---- CE 6.x ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def six_run() -> harness.Run:
    result = harness.run(stacks.greenfield(ceVersion="v6.1.0"), secret_keys=stacks.SECRET_KEYS)
    assert result.error is None, result.error
    return result


def test_6x_prepares_bricks_instead_of_an_efs_mount(six_run: harness.Run) -> None:
    names = {c.name for c in commands(six_run)}
    assert "ce-2-steps-mount" not in names
    bricks = six_run.named("ce-2-steps-bricks")
    assert bricks.inputs["create"].endswith("ce-node bricks")
    assert "ce-2-bricks-attach" in bricks.depends_on, "the brick volume must be attached first"
    assert "ce-2-steps-prepare" in ancestors(six_run, "ce-2-steps-bricks")
    assert "ce-2-steps-bricks" in ancestors(six_run, "ce-2-steps-fetch-ce")


def test_6x_node_json_names_the_brick_volume(six_run: harness.Run) -> None:
    import json

    config = json.loads(six_run.named("ce-3-steps-config").inputs["stdin"])
    assert config["brick_volume_id"].startswith("vol-") and config["shared_dir"] == "/opt/shared/data"


def test_6x_primary_adds_each_brick_before_that_nodes_setup(six_run: harness.Run) -> None:
    # the window ends with the primary's start; each brick is added while CE serves, before that node's setup
    order = ["ce-3-steps-cutover-start", "ce-1-steps-join-setup", "ce-1-steps-join-start",
             "ce-1-steps-join-brick-ce-2", "ce-2-steps-join-setup", "ce-2-steps-join-start",
             "ce-1-steps-join-brick-ce-3", "ce-3-steps-join-setup", "ce-3-steps-join-start", "ce-1-steps-verify"]
    assert "ce-1-steps-join-brick-ce-1" not in {c.name for c in commands(six_run)}  # the primary's brick is its setup's
    for earlier, later in zip(order, order[1:], strict=False):
        assert earlier in six_run.named(later).depends_on, (earlier, later)
    assert six_run.named("ce-1-steps-join-brick-ce-2").inputs["create"].endswith("ce-node gluster-join --member 2")
    assert six_run.named("ce-1-steps-join-brick-ce-3").inputs["create"].endswith("ce-node gluster-join --member 3")


def test_5x_has_no_gluster_steps(migrate_run: harness.Run) -> None:
    assert not [c.name for c in commands(migrate_run) if "brick" in c.name or "gluster" in c.inputs.get("create", "")]


def test_a_configured_ui_certificate_travels_only_inside_the_secret(tmp_path: Path) -> None:
    import json

    cert, key = tmp_path / "ui.crt", tmp_path / "ui.key"
    cert.write_text("-----BEGIN CERTIFICATE-----\nY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n")
    key_body = "a2V5LW1hdGVyaWFsLW9ubHktaW4tdGhlLXNlY3JldA=="
    key.write_text(f"-----BEGIN PRIVATE KEY-----\n{key_body}\n-----END PRIVATE KEY-----\n")
    result = harness.run(stacks.greenfield(uiCertificateFile=str(cert), uiCertificateKeyFile=str(key)),
                         secret_keys=stacks.SECRET_KEYS)
    assert result.error is None, result.error
    document = json.loads(result.named("ce-1-steps-secrets").inputs["stdin"]["value"])
    assert key_body in document["ui_certificate_key"] and "Y2VydGlmaWNhdGU=" in document["ui_certificate"]
    assert harness.plain_leaks(result, [key_body]) == []


@pytest.mark.parametrize(("sudo_exit", "code", "stream", "message"), [
    (0, 0, "stdout", "booted: ce-2 (10.0.2.10) reachable over SSH as ubuntu"),
    (1, 1, "stderr", "ERROR booted: ce-2 (10.0.2.10): ubuntu logged in over SSH but sudo asks for a password - fix: "
                     "give sshUser passwordless sudo on the node"),
])
def test_the_probe_fails_naming_the_node_when_sudo_wants_a_password(
        tmp_path: Path, sudo_exit: int, code: int, stream: str, message: str) -> None:
    import os
    import subprocess

    fake_sudo = tmp_path / "sudo"
    fake_sudo.write_text(f"#!/bin/sh\nexit {sudo_exit}\n")
    fake_sudo.chmod(0o755)
    ran = subprocess.run(["/bin/sh", "-c", provisioning.booted_command("ce-2", "10.0.2.10", "ubuntu")],
                         capture_output=True, text=True, env={**os.environ, "PATH": f"{tmp_path}:/usr/bin:/bin"}, check=False)
    assert ran.returncode == code
    assert getattr(ran, stream).strip() == message


def test_every_phase_on_every_node_runs_after_that_nodes_secrets_and_config_are_written(
    migrate_run: harness.Run, greenfield_run: harness.Run, six_run: harness.Run
) -> None:
    for result in (migrate_run, greenfield_run, six_run):
        phases = [step for step in commands(result) if "/ce-node " in str(step.inputs["create"])]
        nodes = {step.name.split("-steps-")[0] for step in phases}
        assert nodes == {"ce-1", "ce-2", "ce-3"} and len(phases) >= 3 * 6  # wait .. certs on each node at least
        for step in phases:
            node = step.name.split("-steps-")[0]
            assert {f"{node}-steps-secrets", f"{node}-steps-config"} <= ancestors(result, step.name), step.name
