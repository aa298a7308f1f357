"""Setup's inputs and re-run marker pinned word for word: ``setup_marker``, ``setup_inputs``, ``setup_due`` (issue 12).

The expectations are written here: command lines, file contents and modes, messages, and each digest
computed by hand (HMAC-SHA256 of the canonical JSON spelled out in the test), never read from the
modules' own tables.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from scripts.cenode import setup_due, setup_inputs, setup_marker
from scripts.cenode.prompts import Answers
from scripts.cenode.system import Ctx, PhaseError

from .conftest import FakeRunner, gluster_layout_at
from .test_ce6_units import python_on, six

MakeCtx = Callable[..., "tuple[Ctx, FakeRunner]"]
COMMIT = "89abcdef0123456789abcdef0123456789abcdef"
JWT, PASSWORD = "jwtSecret42", "Maint#1pass"


def hand_digest(key: bytes, canonical: str) -> str:
    return hmac.new(key, canonical.encode("utf-8"), hashlib.sha256).hexdigest()


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def write_secrets(ctx: Ctx, **values: str) -> Path:
    path = Path(ctx.env.config_dir) / "secrets.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(values or {"maintenance_password": PASSWORD, "jwt_secret": JWT}))
    path.chmod(0o600)
    return path


# ---- setup_marker -------------------------------------------------------------------------------


def test_the_marker_key_is_32_random_bytes_in_a_root_only_file_made_once(tmp_path: Path) -> None:
    state = tmp_path / "state" / "nested"
    key = setup_marker.marker_key(str(state))
    path = state / "setup-marker.key"
    assert len(key) == 32 and mode_of(state) == 0o700 and mode_of(path) == 0o600
    text = path.read_text(encoding="utf-8")
    assert len(text) == 64 and bytes.fromhex(text) == key
    assert setup_marker.marker_key(str(state)) == key  # not made again
    assert os.listdir(state) == ["setup-marker.key"]  # no temp file left
    assert setup_marker.marker_key(str(tmp_path / "other")) != key


def test_a_key_file_with_a_trailing_newline_is_read(tmp_path: Path) -> None:
    (tmp_path / "setup-marker.key").write_text("0f" * 32 + "\n")
    assert setup_marker.marker_key(str(tmp_path)) == b"\x0f" * 32


def test_a_second_creator_reads_the_winners_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def lost_the_race(src: str, dst: str) -> None:
        Path(dst).write_text("ab" * 32)  # the other creator linked its key first
        raise FileExistsError(dst)

    monkeypatch.setattr(setup_marker.os, "link", lost_the_race)
    assert setup_marker.marker_key(str(tmp_path)) == b"\xab" * 32
    assert os.listdir(tmp_path) == ["setup-marker.key"]


def test_the_digest_is_an_hmac_sha256_of_the_sorted_json() -> None:
    fields = {"b": [1, "x"], "a": "ü"}
    assert setup_marker.digest(b"k3y", fields) == hand_digest(b"k3y", '{"a": "\\u00fc", "b": [1, "x"]}')


def test_the_marker_file_holds_inputs_role_and_commit_root_only(tmp_path: Path) -> None:
    assert setup_marker.recorded(str(tmp_path)) == ""
    setup_marker.record(str(tmp_path), "d1g35t", "secondary", COMMIT)
    marker = tmp_path / "setup-done.json"
    assert marker.read_text() == f'{{"inputs": "d1g35t", "role": "secondary", "commit": "{COMMIT}"}}\n'
    assert mode_of(marker) == 0o600
    assert setup_marker.recorded(str(tmp_path)) == "d1g35t"
    marker.write_text('{"role": "primary"}')
    assert setup_marker.recorded(str(tmp_path)) == ""


# ---- setup_inputs -------------------------------------------------------------------------------


def test_the_answers_come_from_node_json_and_secrets_json(make_ctx: MakeCtx) -> None:
    ctx, _ = make_ctx("setup", role="secondary", node_ip="127.0.0.22", tenant_url="https://t.goskope.com", ui_protocol="http",
                      ui_port=8443, tls12=True, proxy_url="http://proxy:3128")  # fmt: skip
    write_secrets(ctx)
    assert setup_inputs.answers_for(ctx) == Answers(
        role="secondary", tenant_url="https://t.goskope.com", shared_dir=ctx.cfg.shared_dir,
        cluster_ips=["127.0.0.21", "127.0.0.22", "127.0.0.23"], node_ip="127.0.0.22", ui_protocol="http", ui_port=8443,
        tls12=True, proxy_url="http://proxy:3128", jwt_secret=JWT, maintenance_password=PASSWORD,
    )  # fmt: skip


def test_answers_without_secrets_json_name_the_file_and_the_fix(make_ctx: MakeCtx) -> None:
    ctx, _ = make_ctx("setup")
    with pytest.raises(PhaseError) as refused:
        setup_inputs.answers_for(ctx)
    path = os.path.join(ctx.env.config_dir, "secrets.json")
    assert refused.value.what == f"{path} is missing: the stack's secrets step has not run on this node"
    assert refused.value.fix == "run pulumi up (it writes secrets.json before any phase)"


def test_setups_environment_is_a_plain_root_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/opt/bin:/usr/bin")
    monkeypatch.setenv("PYTHONPATH", "/somewhere/of/ours")
    monkeypatch.setenv("JWT", "never passed on")
    plain = {"HOME": "/root", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TERM": "dumb", "PYTHONUNBUFFERED": "1"}
    assert setup_inputs.child_env() == {"PATH": "/opt/bin:/usr/bin", **plain}
    monkeypatch.delenv("PATH")
    assert setup_inputs.child_env() == {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", **plain}


# ---- setup_due: 5.x -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "undersized", "argv"),
    [
        ("primary", False, ["./setup"]),
        ("primary", True, ["./setup", "--ignore-failures"]),
        ("secondary", False, ["./setup", "--location", "/mnt/ce-ha"]),
        ("secondary", True, ["./setup", "--location", "/mnt/ce-ha", "--ignore-failures"]),
    ],
)
def test_the_5x_command_line(role: str, undersized: bool, argv: list[str]) -> None:
    assert setup_due.setup_argv(role, "/mnt/ce-ha", undersized) == argv


def five_ctx(make_ctx: MakeCtx, **over: Any) -> tuple[Ctx, FakeRunner]:
    ctx, runner = make_ctx("setup", **over)
    write_secrets(ctx)
    runner.on("git", out=COMMIT + "\n")
    return ctx, runner


def test_the_5x_inputs_and_their_digest(make_ctx: MakeCtx) -> None:
    ctx, runner = five_ctx(make_ctx, allow_undersized=True)
    inputs = setup_due.inputs5(ctx)
    assert [call for call in runner.calls if call[0] == "git" and ctx.cfg.ce_dir not in call] == []  # git asked about CE's checkout
    assert inputs.argv == ["./setup", "--ignore-failures"] and inputs.commit == COMMIT
    assert inputs.python is None and inputs.config_text == ""
    assert inputs.answers.jwt_secret == JWT and inputs.answers.node_ip == "127.0.0.21"
    key = bytes.fromhex((Path(ctx.env.state_dir) / "setup-marker.key").read_text())
    canonical = (
        '{"answers": {"cluster_ips": ["127.0.0.21", "127.0.0.22", "127.0.0.23"], "jwt_secret": "jwtSecret42", '
        '"maintenance_password": "Maint#1pass", "node_ip": "127.0.0.21", "proxy_url": "", "role": "primary", '
        f'"shared_dir": "{ctx.cfg.shared_dir}", "tenant_url": "test", "tls12": false, "ui_port": 443, "ui_protocol": "https"}}, '
        f'"argv": ["./setup", "--ignore-failures"], "commit": "{COMMIT}"}}'
    )
    assert inputs.digest == hand_digest(key, canonical)


def test_the_5x_inputs_are_validated(make_ctx: MakeCtx) -> None:
    ctx, _ = five_ctx(make_ctx, node_ip="127.0.0.99")
    with pytest.raises(PhaseError) as refused:
        setup_due.inputs5(ctx)
    assert refused.value.what == "node_ip 127.0.0.99 is not in cluster_ips"


def five_outputs(tmp_path: Path, ip: str = "10.0.0.5") -> tuple[Path, Path]:
    ce_dir, shared = tmp_path / "ce", tmp_path / "shared"
    (shared / "config").mkdir(parents=True)
    ce_dir.mkdir()
    (ce_dir / ".env").write_text(f"HA_IP_LIST=10.0.0.5,10.0.0.6\nHA_CURRENT_NODE={ip}\n")
    (shared / "config" / ".env").write_text("HA_PRIMARY_NODE_IP=10.0.0.5\n")
    (ce_dir / "docker-compose-ha.yml").write_text("services: {}\n")
    return ce_dir, shared


@pytest.mark.parametrize("gone", ["ce/.env", "shared/config/.env", "ce/docker-compose-ha.yml"])
def test_each_5x_output_is_needed(tmp_path: Path, gone: str) -> None:
    ce_dir, shared = five_outputs(tmp_path)
    assert setup_due.outputs_present5(str(ce_dir), str(shared), "10.0.0.5")
    (tmp_path / gone).unlink()
    assert not setup_due.outputs_present5(str(ce_dir), str(shared), "10.0.0.5")


def test_a_5x_env_naming_another_node_is_not_this_nodes_setup(tmp_path: Path) -> None:
    ce_dir, shared = five_outputs(tmp_path, ip="10.0.0.6")
    assert not setup_due.outputs_present5(str(ce_dir), str(shared), "10.0.0.5")


# ---- setup_due: 6.x -----------------------------------------------------------------------------


def six_answers(**over: str) -> Answers:
    values = {"maintenance_password": PASSWORD, "jwt_secret": JWT, **over}
    return Answers("primary", "test", "/opt/shared/data", ["10.0.1.10", "10.0.2.10"], "10.0.1.10", **values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("over", "what", "fix"),
    [
        ({"maintenance_password": ""}, "secrets.json has no maintenancePassword: CE 6.x would generate one and print it (docs/ce-facts.md §9.10)",
         "set cloud-exchange-ha:maintenancePassword"),
        ({"jwt_secret": ""}, "no JWT secret in secrets.json (CE's setup asks for it on every primary run)", "set cloud-exchange-ha:jwtSecret"),
        ({"maintenance_password": "Maint\r1"}, "the maintenance password contains characters CE forbids or its prompt drops ('\\r')",
         "change cloud-exchange-ha:maintenancePassword"),
    ],
)  # fmt: skip
def test_6x_secrets_are_refused_with_what_and_fix(over: dict[str, str], what: str, fix: str) -> None:
    with pytest.raises(PhaseError) as refused:
        setup_due.validate6(six_answers(**over))
    assert (refused.value.what, refused.value.fix) == (what, fix)


def test_6x_secondary_without_a_jwt_secret_is_refused_by_the_6x_check() -> None:
    answers = Answers("secondary", "test", "/opt/shared/data", ["10.0.1.10", "10.0.2.10"], "10.0.2.10", maintenance_password=PASSWORD)
    with pytest.raises(PhaseError) as refused:
        setup_due.validate6(answers)
    assert refused.value.what.startswith("secrets.json has no jwtSecret: ")
    setup_due.validate6(dataclasses.replace(answers, jwt_secret=JWT))


def six_ctx(make_ctx: MakeCtx, tmp_path: Path, **over: Any) -> tuple[Ctx, FakeRunner]:
    ctx, runner = six(make_ctx, tmp_path, "setup", **over)
    write_secrets(ctx)
    python_on(runner)
    runner.on("git", out=COMMIT + "\n")
    return ctx, runner


def expected_config(ctx: Ctx, primary_line: bool, **over: str) -> str:
    values = {"UI_PROTOCOL": "https", "UI_PORT": "443", "TLS_VERSION": '"1.3"', "PROXY_URL": "", "PROXY_USERNAME": "", "PROXY_PASSWORD": "",
              "HA_CURRENT_NODE": ctx.cfg.node_ip, **over}  # fmt: skip
    text = (
        "# written by cloud-exchange-ha before every setup run: edit the stack settings, not this file\n"
        f"UI_PROTOCOL={values['UI_PROTOCOL']}\nUI_PORT={values['UI_PORT']}\nCE_MANAGEMENT_PORT=8000\nTLS_VERSION={values['TLS_VERSION']}\n"
        f"MAINTENANCE_PASSWORD={PASSWORD}\nJWT_SECRET={JWT}\nPROXY_URL={values['PROXY_URL']}\n"
        f"PROXY_USERNAME={values['PROXY_USERNAME']}\nPROXY_PASSWORD={values['PROXY_PASSWORD']}\n"
        f"HA_ENABLED=True\nHA_IP_LIST=127.0.0.21,127.0.0.22,127.0.0.23\nHA_CURRENT_NODE={values['HA_CURRENT_NODE']}\n"
        f"HA_NFS_DATA_DIRECTORY={ctx.cfg.shared_dir}\n"
    )
    if primary_line:
        text += f"HA_PRIMARY_NODE_IP={ctx.cfg.node_ip}\n"
    return text + "GLUSTERFS_BASE_PORT=24009\nGLUSTERFS_MAX_PORT=24029\n"


def test_the_6x_config_of_a_primary_carries_every_setting(make_ctx: MakeCtx, tmp_path: Path) -> None:
    ctx, _ = six_ctx(make_ctx, tmp_path, ui_protocol="http", ui_port=8080, tls12=True, proxy_url="http://u%40x:p%3Aw@proxy.lan:3128/")
    inputs = setup_due.inputs6(ctx, setup_due.gluster.layout(ctx))
    assert inputs.config_text == expected_config(ctx, True, UI_PROTOCOL="http", UI_PORT="8080", TLS_VERSION='"1.2,1.3"',
                                                 PROXY_URL="http://proxy.lan:3128/", PROXY_USERNAME="u@x", PROXY_PASSWORD="p:w")  # fmt: skip


def test_the_6x_inputs_of_a_secondary_and_their_digest(make_ctx: MakeCtx, tmp_path: Path) -> None:
    ctx, runner = six_ctx(make_ctx, tmp_path, role="secondary", node_ip="127.0.0.22", allow_undersized=True)
    inputs = setup_due.inputs6(ctx, setup_due.gluster.layout(ctx))
    assert [call for call in runner.calls if call[0] == "git" and ctx.cfg.ce_dir not in call] == []
    assert inputs.config_text == expected_config(ctx, False)
    assert inputs.argv == ["/usr/bin/python3", "./setup", "--ignore-failures"] and inputs.commit == COMMIT
    assert inputs.python is not None and inputs.python.path == "/usr/bin/python3" and inputs.answers.node_ip == "127.0.0.22"
    key = bytes.fromhex((Path(ctx.env.state_dir) / "setup-marker.key").read_text())
    canonical = json.dumps({"argv": inputs.argv, "commit": COMMIT, "config": inputs.config_text, "role": "secondary"})
    assert inputs.digest == hand_digest(key, canonical)


def test_the_6x_management_port_falls_back_to_8000(make_ctx: MakeCtx, tmp_path: Path) -> None:
    ctx, _ = make_ctx("setup")  # a 5.x line names no management port
    facts = gluster_layout_at(str(tmp_path / "opt"))
    assert setup_due.config_input(ctx, six_answers(), facts).management_port == 8000


@pytest.mark.parametrize(
    ("versions", "found"),
    [
        ({}, "none"),
        ({"python3": ("3.10.12", True), "python3.11": ("3.11.4", False)}, "python3 3.10.12, python3.11 3.11.4 (no venv/ensurepip/pip)"),
    ],
)
def test_6x_setup_without_a_usable_python_says_what_it_found(
    make_ctx: MakeCtx, tmp_path: Path, versions: dict[str, tuple[str, bool]], found: str
) -> None:
    ctx, runner = six(make_ctx, tmp_path, "setup")
    write_secrets(ctx)
    for name, (version, venv) in versions.items():
        runner.tools.add(name)
        runner.on(f"/usr/bin/{name}", "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])", out=f"{version}\n")
        runner.on(f"/usr/bin/{name}", "-c", "import venv, ensurepip", rc=0 if venv else 1)
    with pytest.raises(PhaseError) as refused:
        setup_due.inputs6(ctx, setup_due.gluster.layout(ctx))
    assert refused.value.what == f"no python >= 3.11.0 with venv, ensurepip and pip for CE's setup (found: {found})"
    assert refused.value.fix == "run the prepare phase first (it installs python3-venv and python3-pip)"


def six_outputs(ctx: Ctx) -> dict[str, Path]:
    ce_dir, facts = Path(ctx.cfg.ce_dir), setup_due.gluster.layout(ctx)
    paths = {
        "local .env": ce_dir / ".env", "shared .env": Path(facts.config_dir) / ".env",
        "compose": ce_dir / "docker-compose-ha.yml", "cevenv": ce_dir / ".cevenv" / "bin" / "activate",
    }  # fmt: skip
    for path in paths.values():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
    paths["local .env"].write_text(f"HA_CURRENT_NODE={ctx.cfg.node_ip}\n")
    Path(ctx.env.host_path("/proc/self/mountinfo")).write_text(
        f"99 22 0:60 / {facts.mount_dir} rw - fuse.glusterfs {ctx.cfg.node_ip}:/CloudExchange rw\n"
    )
    return paths


@pytest.mark.parametrize("gone", ["local .env", "shared .env", "compose", "cevenv", "mount"])
def test_each_6x_output_is_needed(make_ctx: MakeCtx, tmp_path: Path, gone: str) -> None:
    ctx, _ = six_ctx(make_ctx, tmp_path)
    paths, facts = six_outputs(ctx), setup_due.gluster.layout(ctx)
    assert setup_due.outputs_present6(ctx, facts)
    if gone == "mount":
        Path(ctx.env.host_path("/proc/self/mountinfo")).write_text("22 1 8:1 / / rw - ext4 /dev/root rw\n")
    elif gone == "local .env":
        paths[gone].write_text("HA_CURRENT_NODE=127.0.0.22\n")
    else:
        paths[gone].unlink()
    assert not setup_due.outputs_present6(ctx, facts)


# ---- setup_due: pending -------------------------------------------------------------------------


def set_up_six(make_ctx: MakeCtx, tmp_path: Path, **over: Any) -> Ctx:
    """A 6.x primary whose setup completed with its current inputs."""
    ctx, _ = six_ctx(make_ctx, tmp_path, **over)
    Path(ctx.cfg.ce_dir).mkdir(parents=True, exist_ok=True)
    (Path(ctx.cfg.ce_dir) / "setup").write_text("")
    six_outputs(ctx)
    inputs = setup_due.inputs6(ctx, setup_due.gluster.layout(ctx))
    setup_marker.record(ctx.env.state_dir, inputs.digest, "primary", COMMIT)
    return ctx


def test_pending_on_6x_says_why(make_ctx: MakeCtx, tmp_path: Path) -> None:
    ctx = set_up_six(make_ctx, tmp_path)
    assert setup_due.pending(ctx) == ""
    (Path(ctx.cfg.ce_dir) / ".cevenv" / "bin" / "activate").unlink()
    assert setup_due.pending(ctx) == "what CE's setup leaves on this node is missing"
    write_secrets(ctx, maintenance_password=PASSWORD, jwt_secret="rotated42")
    assert setup_due.pending(ctx) == "setup's inputs changed since it last completed (CE commit, cluster list, answers or settings)"
    write_secrets(ctx, maintenance_password=PASSWORD)
    assert setup_due.pending(ctx) == "setup would refuse: no JWT secret in secrets.json (CE's setup asks for it on every primary run)"
    (Path(ctx.cfg.ce_dir) / "setup").unlink()
    assert setup_due.pending(ctx) == f"no CE setup script in {ctx.cfg.ce_dir}"
    (Path(ctx.env.state_dir) / "setup-done.json").unlink()
    assert setup_due.pending(ctx) == "CE's setup has not completed here"


def test_a_marker_of_other_inputs_is_not_recorded(make_ctx: MakeCtx, tmp_path: Path) -> None:
    ctx = set_up_six(make_ctx, tmp_path)
    inputs = setup_due.inputs6(ctx, setup_due.gluster.layout(ctx))
    assert setup_due.recorded(ctx, inputs)
    setup_marker.record(ctx.env.state_dir, "0" * 64, "primary", COMMIT)
    assert not setup_due.recorded(ctx, inputs)
