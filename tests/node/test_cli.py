"""The entry point: output contract, exit codes, secret scrubbing, the bash launcher and the bundle,
and that the node code runs on the pythons of the supported OSes without its optional modules."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.cenode import __main__ as cli
from scripts.cenode import lines
from scripts.cenode.system import NodeEnv, PhaseError, PhaseResult

from .conftest import REPO, make_node

SCRIPTS = REPO / "scripts"
SECRET = "jwtSecret42"


def run(env: NodeEnv, *argv: str) -> tuple[int, list[str], list[str]]:
    out: list[str] = []
    err: list[str] = []
    return cli.main(list(argv), env=env, out=out.append, err=err.append), out, err


def with_node(env: NodeEnv, tmp_path: Path) -> None:
    os.makedirs(env.config_dir, exist_ok=True)
    (Path(env.config_dir) / "node.json").write_text(make_node(tmp_path).to_json())
    secrets = Path(env.config_dir) / "secrets.json"
    secrets.write_text(json.dumps({"maintenance_password": "Maint1pass", "jwt_secret": SECRET}))
    secrets.chmod(0o600)


def test_missing_node_json_is_a_usage_error(node_env: NodeEnv) -> None:
    code, out, err = run(node_env, "preflight")
    expected = f"ERROR preflight: {node_env.config_dir}/node.json is missing - fix: let the program copy the node settings first"
    assert code == 2 and out == [] and err == [expected]


def test_wait_needs_no_node_json(node_env: NodeEnv) -> None:
    code, out, _ = run(node_env, "wait", "--timeout", "5")
    assert code == 0 and len(out) == 1 and out[0].startswith("wait: ok")


def test_node_json_from_another_program_version_is_refused(node_env: NodeEnv, tmp_path: Path) -> None:
    with_node(node_env, tmp_path)
    path = Path(node_env.config_dir) / "node.json"
    data = json.loads(path.read_text())
    data["brand_new_field"] = 1
    path.write_text(json.dumps(data))
    code, _, err = run(node_env, "certs")
    assert code == 2 and "unknown keys" in err[0]


def test_phase_error_is_one_stderr_line_and_exit_1(node_env: NodeEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with_node(node_env, tmp_path)

    def failing(ctx: object, args: object) -> PhaseResult:
        raise PhaseError("the disk is\nfull", "grow it")

    monkeypatch.setattr(cli, "dispatch", failing)
    code, out, err = run(node_env, "backup")
    assert (code, out, err) == (1, [], ["ERROR backup: the disk is full - fix: grow it"])
    assert "ERROR backup: the disk is full" in (Path(node_env.log_dir) / "backup.log").read_text()


def test_success_is_one_stdout_line(node_env: NodeEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with_node(node_env, tmp_path)
    monkeypatch.setattr(cli, "dispatch", lambda ctx, args: PhaseResult("changed", "did\nthings"))
    assert run(node_env, "certs") == (0, ["certs: changed did things"], [])


def test_internal_errors_are_scrubbed_of_secrets(node_env: NodeEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with_node(node_env, tmp_path)

    def boom(ctx: object, args: object) -> PhaseResult:
        raise RuntimeError(f"unexpected value {SECRET} in a library message")

    monkeypatch.setattr(cli, "dispatch", boom)
    code, _, err = run(node_env, "setup")
    assert code == 1 and err[0].startswith("ERROR setup: internal error RuntimeError: unexpected value *** in")
    log = (Path(node_env.log_dir) / "setup.log").read_text()
    assert "Traceback" in log and SECRET not in log


def test_not_root_is_refused(node_env: NodeEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    node_env.require_root = True
    monkeypatch.setattr(cli, "is_root", lambda: False)
    code, _, err = run(node_env, "wait")
    assert code == 2 and err == ["ERROR wait: must run as root - fix: run it with sudo"]


def test_bad_arguments_exit_2(node_env: NodeEnv) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["inspect", "--reveal", "--check"], env=node_env)
    assert exited.value.code == 2
    with pytest.raises(SystemExit):
        cli.main(["no-such-phase"], env=node_env)


def test_launcher_runs_from_the_installed_bundle_layout(tmp_path: Path) -> None:
    """/opt/cloud-exchange-ha/{ce-node,cenode/}, called through a symlink from another folder."""
    bundle = tmp_path / "opt" / "cloud-exchange-ha"
    bundle.mkdir(parents=True)
    shutil.copy2(SCRIPTS / "ce-node", bundle / "ce-node")
    shutil.copytree(SCRIPTS / "cenode", bundle / "cenode", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "ce-node").symlink_to(bundle / "ce-node")
    env = {"PATH": f"{os.path.dirname(sys.executable)}:/usr/bin:/bin", "PYTHONPATH": "/nonexistent"}
    helped = subprocess.run([str(tmp_path / "bin" / "ce-node"), "--help"], cwd="/", env=env, capture_output=True, text=True)
    assert helped.returncode == 0 and "fetch-ce" in helped.stdout
    missing = subprocess.run(
        [str(tmp_path / "bin" / "ce-node"), "--config-dir", str(tmp_path / "etc"), "--log-dir", str(tmp_path / "log"), "certs"],
        cwd="/", env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert missing.returncode == 2 and missing.stdout == ""
    assert missing.stderr.strip().splitlines() == [
        f"ERROR certs: {tmp_path / 'etc'}/node.json is missing - fix: let the program copy the node settings first"
        if os.geteuid() == 0
        else "ERROR certs: must run as root - fix: run it with sudo"
    ]
    assert not list(bundle.rglob("__pycache__"))  # PYTHONDONTWRITEBYTECODE: the bundle stays as copied


def test_launcher_is_shellcheck_clean() -> None:
    shellcheck = shutil.which("shellcheck") or str(Path(sys.executable).parent / "shellcheck")
    if not os.path.exists(shellcheck):
        pytest.skip("shellcheck not installed")
    result = subprocess.run([shellcheck, str(SCRIPTS / "ce-node")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


NODE_MODULES = [
    "cenode.__main__", "cenode.phases.wait", "cenode.phases.preflight", "cenode.phases.prepare", "cenode.phases.mount",
    "cenode.phases.fetch_ce", "cenode.phases.backup", "cenode.phases.inspect_ce", "cenode.phases.certs",
    "cenode.phases.setup_ce", "cenode.phases.service", "cenode.prompts", "cenode.ceenv", "cenode.packages",
    "cenode.catalogue", "cenode.lines", "cenode.lines.ce5", "cenode.lines.ce6",
]  # fmt: skip


def test_phases_import_on_a_bare_python3() -> None:
    """wait/preflight/prepare run before pexpect/pymongo/cryptography exist: nothing imports them eagerly."""
    code = (
        "import sys\n"
        "for name in ('pexpect', 'pymongo', 'cryptography'):\n"
        "    sys.modules[name] = None\n"
        f"for module in {NODE_MODULES!r}:\n"
        "    __import__(module)\n"
        "from cenode.__main__ import main\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], env={"PYTHONPATH": str(SCRIPTS), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True)
    assert result.stdout.strip() == "ok", result.stderr


def _python(version: str) -> str | None:
    """A working python<version> (pyenv shims on PATH may not be able to run it)."""
    candidates = [str(p) for p in sorted(Path("/root/.pyenv/versions").glob(f"{version}.*/bin/python{version}"))]
    candidates += [p for p in (shutil.which(f"python{version}"), f"/usr/bin/python{version}") if p]
    for candidate in candidates:
        try:
            if subprocess.run([candidate, "--version"], capture_output=True, timeout=10).returncode == 0:
                return candidate
        except OSError:
            continue
    return None


@pytest.mark.parametrize("version", ["3.8", "3.9", "3.10"])  # Ubuntu 20.04 (the floor), RHEL 9, Ubuntu 22.04
def test_node_code_runs_on_the_os_pythons(version: str, tmp_path: Path) -> None:
    python = _python(version)
    if python is None:
        pytest.skip(f"no python{version} on this machine")
    code = f"import sys\nfor module in {NODE_MODULES!r}:\n    __import__(module)\nprint('ok')\n"
    env = {"PYTHONPATH": str(SCRIPTS), "PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run([python, "-c", code], env=env, capture_output=True, text=True)
    assert result.stdout.strip() == "ok", result.stderr
    waited = subprocess.run(
        [python, "-m", "cenode", "--config-dir", str(tmp_path / "etc"), "--log-dir", str(tmp_path / "log"), "preflight"],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert waited.returncode == 2 and waited.stderr.startswith("ERROR preflight: "), waited.stderr


def test_verify_hands_its_options_to_the_health_check(node_env: NodeEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    from scripts.cenode import health

    seen: list[tuple[list[str], object]] = []

    def fake_main(argv: list[str], gluster: object = None) -> int:
        seen.append((list(argv), gluster))
        return 1

    monkeypatch.setattr(health, "main", fake_main)
    node_env.gluster = dataclasses.replace(lines.CE6_GLUSTER, base_dir="/tmp/elsewhere")
    assert cli.main(["verify", "--json", "--insecure-ui"], env=node_env) == 1
    assert seen == [(["--json", "--insecure-ui", "--config-dir", node_env.config_dir, "--log-dir", node_env.log_dir],
                     node_env.gluster)]  # where the env keeps its logs, and its GlusterFS paths
    with pytest.raises(SystemExit):
        cli.main(["wait", "--json"], env=node_env)  # other phases keep strict arguments
