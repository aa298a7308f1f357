"""prepare and the package-manager layer: what gets installed, idempotence, pins, SELinux."""

from __future__ import annotations

import hashlib
import http.server
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from scripts.cenode import openpgp, packages
from scripts.cenode.phases import prepare
from scripts.cenode.system import CommandResult, Ctx, PhaseError

from .conftest import FakeRunner
from .test_system import RHEL_94, UBUNTU_2204

#: a real ed25519 public key made with gpg 2 (``gpg --armor --export``); ``gpg --export`` of it (238
#: bytes) has this sha256, and ``gpg --dearmor`` of KEY gives the same bytes
KEY = """-----BEGIN PGP PUBLIC KEY BLOCK-----

mDMEaxEMlxYJKwYBBAHaRw8BAQdA5uroXUNa0ETdZCjOR2SruTPRiaGlEJciZ7a2
RlR18A20JUxhYiBEb2NrZXIgUmVwbyA8bGFiQGV4YW1wbGUuaW52YWxpZD6IkAQT
FggAOBYhBMIBhOpS4KlPsz5d/L8R2WHfdoIHBQJrEQyXAhsDBQsJCAcCBhUKCQgL
AgQWAgMBAh4BAheAAAoJEL8R2WHfdoIHv38A/2aiDzZt5GhTgbZ+xTaK/Zyd4o7l
7qsDSjetY9B4cPJhAQDP+NyKnSrIZKX5d7bS88Z+k7XxHFQpcxHpmtfTcX/TDA==
=7dxO
-----END PGP PUBLIC KEY BLOCK-----
"""
KEY_BINARY_SHA256 = "9efe4127552fc1d7a27ce2bd7bcf3fa055256b83acaf311a622aae5f4228eec1"
KEY_BINARY_LENGTH = 238

# ----------------------------------------------------------------------------- pure parts


def test_parse_dpkg_query_only_counts_installed() -> None:
    text = "git\tii \nzip\trc \nnfs-common\tii \npython3:amd64\tii \ndocker.io\tun \n"
    assert packages.parse_dpkg_query(text) == {"git", "nfs-common", "python3"}


@pytest.mark.parametrize(
    ("text", "candidate"),
    [
        ("docker-compose-v2:\n  Installed: (none)\n  Candidate: 2.24.6+ds1-0ubuntu1~22.04.1\n", "2.24.6+ds1-0ubuntu1~22.04.1"),
        ("docker-compose-v2:\n  Installed: (none)\n  Candidate: (none)\n", None),
        ("", None),  # unknown package: apt-cache policy prints nothing
    ],
)
def test_parse_apt_candidate(text: str, candidate: str | None) -> None:
    assert packages.parse_apt_candidate(text) == candidate


def test_parse_rpm_query() -> None:
    text = "podman\npackage podman-plugins is not installed\ngit\n"
    assert packages.parse_rpm_query(text, ["podman", "podman-plugins", "git"]) == {"podman", "git"}


@pytest.mark.parametrize(
    ("version", "pin", "ok"),
    [
        ("4.7.3", "pymongo>=4.6.3,<=4.7.3", True),
        ("4.7.3.post1", "pymongo>=4.6.3,<=4.7.3", True),
        ("4.8.0", "pymongo>=4.6.3,<=4.7.3", False),
        ("4.20.0", "pymongo>=4.6.3,<=4.7.3", False),
        ("4.6.2", "pymongo>=4.6.3,<=4.7.3", False),
        ("1.0.0", "python-dotenv>=0.20.0,<=1.0.0", True),
        ("1.0", "python-dotenv>=0.20.0,<=1.0.0", True),
        ("1.0.1", "python-dotenv>=0.20.0,<=1.0.0", False),
        ("0.19.2", "python-dotenv>=0.20.0,<=1.0.0", False),
        ("5.4.1", "pyyaml>=6.0.0", False),
        ("6.0.1", "pyyaml>=6.0.0", True),
    ],
)
def test_requirement_satisfaction(version: str, pin: str, ok: bool) -> None:
    name, specs = packages.parse_requirement(pin)
    assert packages.satisfies(version, specs) is ok


RELEASES = ["4.6.2", "4.6.3", "4.7.0", "4.7.3", "4.7.4", "4.8.0", "0.19.2", "0.20.0", "1.0.0", "1.0.1", "5.4.1", "6.0.0", "6.0.1"]


@pytest.mark.parametrize("version", RELEASES)
def test_the_hand_parser_agrees_with_packaging_on_release_versions(version: str) -> None:
    """For plain release numbers the bare-python3 parser and PEP 440 (``packaging``) must agree on CE's pins."""
    from packaging.specifiers import SpecifierSet

    for pin in ("pyyaml>=6.0.0", "python-dotenv>=0.20.0,<=1.0.0", "pymongo>=4.6.3,<=4.7.3"):
        name, specs = packages.parse_requirement(pin)
        assert packages.satisfies(version, specs) is SpecifierSet(pin[len(name):]).contains(version), (pin, version)


def test_unmet_requirements_uses_the_lookup() -> None:
    installed = {"pyyaml": "6.0.1", "python-dotenv": "0.19.2"}
    unmet = packages.unmet_requirements(["pyyaml>=6.0.0", "python-dotenv>=0.20.0,<=1.0.0", "pymongo>=4.6.3"], lookup=installed.get)
    assert unmet == ["python-dotenv>=0.20.0,<=1.0.0", "pymongo>=4.6.3"]


def test_parse_requirement_rejects_what_it_cannot_check() -> None:
    with pytest.raises(ValueError):
        packages.parse_requirement("pymongo~=4.6")


def test_pep668_flag_follows_the_externally_managed_marker(tmp_path: Path) -> None:
    assert prepare.pep668_flags(str(tmp_path)) == []
    (tmp_path / "EXTERNALLY-MANAGED").write_text("[externally-managed]\n")
    assert prepare.pep668_flags(str(tmp_path)) == ["--break-system-packages"]


def test_parse_tool_version() -> None:
    assert prepare.parse_tool_version("Docker version 24.0.7, build 24.0.7-0ubuntu2~22.04.1") == (24, 0, 7)
    assert prepare.parse_tool_version("Docker Compose version v2.27.1") == (2, 27, 1)
    assert prepare.parse_tool_version("Docker Compose version 2.24.6+ds1-0ubuntu1~22.04.1") == (2, 24, 6)
    assert prepare.parse_tool_version("podman-compose version: 1.0.6\npodman version 4.9.4") == (1, 0, 6)
    assert prepare.parse_tool_version("no digits") is None


def test_docker_source_line_is_always_signed_by_the_keyring() -> None:
    line = prepare.docker_source_line("https://download.docker.com/linux/ubuntu/", "jammy", "amd64")
    assert line == (
        "deb [arch=amd64 signed-by=/etc/apt/keyrings/cloud-exchange-ha-docker.gpg] https://download.docker.com/linux/ubuntu jammy stable\n"
    )
    assert "trusted" not in prepare.docker_source_line("https://mirror.example/docker", "noble", "arm64")


def test_dearmor_gives_what_gpg_dearmor_gives() -> None:
    data = openpgp.dearmor("junk before\n" + KEY.replace("\n", "\r\n"))
    assert len(data) == KEY_BINARY_LENGTH and hashlib.sha256(data).hexdigest() == KEY_BINARY_SHA256
    assert openpgp.dearmor(KEY.replace("\n=7dxO", "")) == data  # the checksum line is optional


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("<html>Not Found</html>", "no ASCII-armored"),
        (KEY.replace("=7dxO", "=AAAA"), "CRC-24"),
        (KEY.replace("mDMEaxEM", "mDMEaxEN"), "CRC-24"),  # one changed character in the key
        (KEY.replace("mDMEaxEM", "m!MEaxEM"), "base64"),
        # a signature packet (tag 2), armored as if it were a key block
        ("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\niQ==\n-----END PGP PUBLIC KEY BLOCK-----\n", "no OpenPGP public key"),
    ],
)
def test_dearmor_refuses_what_is_not_a_public_key(text: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        openpgp.dearmor(text)


# ----------------------------------------------------------------------------- Ubuntu runs

DOCKER_OK = "Docker version 26.1.3, build b72abbb"
COMPOSE_OK = "Docker Compose version v2.27.1"


def ubuntu(ctx: Ctx, runner: FakeRunner, installed: list[str], docker: bool) -> None:
    Path(ctx.env.host_path("/etc/os-release")).write_text(UBUNTU_2204)
    runner.tools.update({"systemctl"} | ({"docker"} if docker else set()))
    runner.on("dpkg-query", out="".join(f"{p}\tii \n" for p in installed))
    runner.on("docker", "--version", out=DOCKER_OK)
    runner.on("docker", "compose", "version", out=COMPOSE_OK)
    runner.on("/usr/bin/systemctl", "is-enabled", out="enabled\n")
    runner.on("/usr/bin/systemctl", "is-active", out="active\n")
    runner.on("dpkg", "--print-architecture", out="amd64\n")
    runner.on("apt-get", "-o", "DPkg::Lock::Timeout=600", "-s", "full-upgrade", out=apt_plan(0))


def apt_plan(upgraded: int, new: int = 0) -> str:
    """What ``apt-get -s full-upgrade`` ends with (Debian 12 / Ubuntu 22.04 wording)."""
    return f"Reading package lists...\nCalculating upgrade...\n{upgraded} upgraded, {new} newly installed, 0 to remove and 0 not upgraded.\n"


@pytest.fixture
def no_pins_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prepare, "unmet_requirements", lambda pins: [])


def installs(runner: FakeRunner) -> list[list[str]]:
    return [call for call in runner.calls if call[:1] == ["apt-get"] and "install" in call]


def test_second_run_installs_nothing_and_skips_apt_update(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], no_pins_missing: None) -> None:
    ctx, runner = make_ctx("prepare")
    ubuntu(ctx, runner, prepare.APT_BASE, docker=True)
    result = prepare.run(ctx)
    assert result.status == "unchanged"
    assert not runner.ran("apt-get") and not runner.ran("apt-cache")


def test_fresh_ubuntu_installs_missing_packages_docker_io_and_compose_v2(
    make_ctx: Callable[..., tuple[Ctx, FakeRunner]], no_pins_missing: None
) -> None:
    ctx, runner = make_ctx("prepare")
    ubuntu(ctx, runner, ["python3", "openssl", "ca-certificates"], docker=False)
    runner.on("apt-cache", "policy", "docker-compose-v2", out="  Candidate: 2.24.6\n")
    runner.on("apt-get", "-o", "DPkg::Lock::Timeout=600", "-y", action=lambda argv: runner.tools.add("docker"))
    runner.on("/usr/bin/systemctl", "is-active", out="inactive\n")
    result = prepare.run(ctx)
    assert result.status == "changed"
    assert [c for c in runner.calls if c[:1] == ["apt-get"] and c[-1] == "update"] == [["apt-get", "-o", "DPkg::Lock::Timeout=600", "update"]]
    (install,) = installs(runner)
    # written out, not read from prepare.APT_BASE: what CE's setup and the phases need on Ubuntu (prepare's
    # docstring; pip + setuptools for CE's pkg_resources pin check, docs/ce-facts.md §4), minus what the host has
    wanted = ["docker-compose-v2", "docker.io", "git", "nfs-common", "python3-cryptography", "python3-pexpect",
              "python3-pip", "python3-setuptools", "zip"]
    assert install[install.index("install") + 1 :] == wanted
    assert runner.ran("/usr/bin/systemctl", "enable", "--now", "docker.service")


FULL_UPGRADE = [
    "apt-get", "-o", "DPkg::Lock::Timeout=600", "-y",
    "-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold", "full-upgrade",
]  # fmt: skip


def apt_steps(runner: FakeRunner) -> list[str]:
    """The apt-get runs in order, named by their action (update, -s full-upgrade, full-upgrade, install)."""
    named = []
    for call in runner.calls:
        if call[:1] == ["apt-get"]:
            action = next(part for part in call[1:] if part in ("update", "full-upgrade", "install"))
            named.append(f"-s {action}" if "-s" in call else action)
    return named


def test_a_new_node_gets_the_os_updates_before_docker_is_installed(
    make_ctx: Callable[..., tuple[Ctx, FakeRunner]], no_pins_missing: None
) -> None:
    ctx, runner = make_ctx("prepare", role="secondary")
    ubuntu(ctx, runner, ["python3"], docker=False)
    runner.on("apt-get", "-o", "DPkg::Lock::Timeout=600", "-s", "full-upgrade", out=apt_plan(37, 2))
    runner.on("apt-cache", "policy", "docker-compose-v2", out="  Candidate: 2.24.6\n")
    runner.on(*FULL_UPGRADE[:-1], "install", action=lambda argv: runner.tools.add("docker"))
    result = prepare.run(ctx)
    assert apt_steps(runner) == ["update", "-s full-upgrade", "full-upgrade", "install"]
    upgrade = runner.calls.index(FULL_UPGRADE)
    (install,) = installs(runner)
    assert "docker.io" in install and upgrade < runner.calls.index(install)
    assert runner.envs[upgrade]["DEBIAN_FRONTEND"] == "noninteractive"
    assert "OS updates (39 package(s))" in result.summary


def test_nothing_pending_runs_no_upgrade(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], no_pins_missing: None) -> None:
    ctx, runner = make_ctx("prepare")
    ubuntu(ctx, runner, ["python3"], docker=False)
    runner.on("apt-cache", "policy", "docker-compose-v2", out="  Candidate: 2.24.6\n")
    prepare.run(ctx)
    assert apt_steps(runner) == ["update", "-s full-upgrade", "install"]
    assert "OS updates" not in prepare.run(ctx).summary


def test_a_node_whose_engine_runs_gets_no_os_update(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], no_pins_missing: None) -> None:
    """A re-run on a member (every node at once) must not upgrade Docker under CE's containers."""
    ctx, runner = make_ctx("prepare", role="secondary")
    ubuntu(ctx, runner, ["python3"], docker=True)
    runner.on("apt-get", "-o", "DPkg::Lock::Timeout=600", "-s", "full-upgrade", out=apt_plan(12))
    prepare.run(ctx)
    assert apt_steps(runner) == ["update", "install"]  # the missing base packages only


@pytest.mark.parametrize("docker", [True, False])
def test_the_adopted_primary_never_gets_os_updates(
    make_ctx: Callable[..., tuple[Ctx, FakeRunner]], no_pins_missing: None, docker: bool
) -> None:
    ctx, runner = make_ctx("prepare", migrate=True, role="primary")
    ubuntu(ctx, runner, prepare.APT_BASE, docker=docker)
    runner.on("apt-get", "-o", "DPkg::Lock::Timeout=600", "-s", "full-upgrade", out=apt_plan(12))
    runner.on("apt-cache", "policy", "docker-compose-v2", out="  Candidate: 2.24.6\n")
    prepare.run(ctx)
    assert "full-upgrade" not in apt_steps(runner) and "-s full-upgrade" not in apt_steps(runner)
    assert "adopted primary: no OS update" in (Path(ctx.env.log_dir) / "prepare.log").read_text()


def test_a_failed_os_update_stops_before_docker(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], no_pins_missing: None) -> None:
    ctx, runner = make_ctx("prepare")
    ubuntu(ctx, runner, ["python3"], docker=False)
    runner.on("apt-get", "-o", "DPkg::Lock::Timeout=600", "-s", "full-upgrade", out=apt_plan(3))
    runner.on(*FULL_UPGRADE, rc=100, err="E: Sub-process /usr/bin/dpkg returned an error code (1)")
    with pytest.raises(PhaseError) as failed:
        prepare.run(ctx)
    assert failed.value.what == "apt-get full-upgrade failed: E: Sub-process /usr/bin/dpkg returned an error code (1)"
    assert not installs(runner)


@pytest.mark.parametrize(
    ("text", "count"),
    [
        (apt_plan(0), 0),
        (apt_plan(37, 2), 39),
        ("Calculating upgrade...\n1 upgraded, 0 newly installed, 1 to remove and 5 not upgraded.\n", 2),
        ("E: Could not get lock /var/lib/dpkg/lock-frontend\n", None),
    ],
)
def test_parse_apt_plan(text: str, count: int | None) -> None:
    assert packages.parse_apt_plan(text) == count


def test_parse_dnf_check_update() -> None:
    text = (
        "\nkernel.x86_64                 5.14.0-503.15.1.el9_5       rhel-9-for-x86_64-baseos-rpms\n"
        "openssl.x86_64            1:3.2.2-6.el9_5           rhel-9-for-x86_64-baseos-rpms\n"
        "Obsoleting Packages\ngrub2-tools.x86_64    1:2.06-92.el9    rhel-9-for-x86_64-baseos-rpms\n"
    )
    assert packages.parse_dnf_check_update(text) == 2


def test_no_compose_package_names_the_docker_repo_setting(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], no_pins_missing: None) -> None:
    ctx, runner = make_ctx("prepare")
    ubuntu(ctx, runner, prepare.APT_BASE, docker=False)
    with pytest.raises(PhaseError) as failed:
        prepare.run(ctx)
    assert "compose v2" in failed.value.what and "cloud-exchange-ha:dockerRepoUrl" in failed.value.fix
    assert not installs(runner)


def test_transient_apt_failures_are_retried_a_bounded_number_of_times(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], no_pins_missing: None) -> None:
    ctx, runner = make_ctx("prepare")
    ubuntu(ctx, runner, [], docker=True)
    runner.on("apt-get", "-o", "DPkg::Lock::Timeout=600", "update", rc=100, err="E: Failed to fetch http://archive/x  Temporary failure resolving")
    with pytest.raises(PhaseError) as failed:
        prepare.run(ctx)
    assert "apt-get update failed" in failed.value.what
    assert len([c for c in runner.calls if c[-1] == "update"]) == 3


def test_permanent_apt_failure_is_not_retried(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], no_pins_missing: None) -> None:
    ctx, runner = make_ctx("prepare")
    ubuntu(ctx, runner, [], docker=True)
    runner.on("apt-get", "-o", "DPkg::Lock::Timeout=600", "-y", rc=100, err="E: Unable to locate package zip")
    with pytest.raises(PhaseError):
        prepare.run(ctx)
    assert len(installs(runner)) == 1


def test_too_old_docker_fails_unless_undersized_lab(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], no_pins_missing: None) -> None:
    ctx, runner = make_ctx("prepare")
    ubuntu(ctx, runner, prepare.APT_BASE, docker=True)
    runner.on("docker", "--version", out="Docker version 24.0.7, build x")
    with pytest.raises(PhaseError) as failed:
        prepare.run(ctx)
    assert "24.0.7 is older" in failed.value.what and "dockerRepoUrl" in failed.value.fix
    lab, lab_runner = make_ctx("prepare", allow_undersized=True)
    ubuntu(lab, lab_runner, prepare.APT_BASE, docker=True)
    lab_runner.on("docker", "--version", out="Docker version 24.0.7, build x")
    assert "warning: Docker 24.0.7" in prepare.run(lab).summary


def test_existing_engine_is_never_replaced(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], no_pins_missing: None) -> None:
    """A migrating standalone runs CE on whatever Docker it has: prepare must not swap it."""
    ctx, runner = make_ctx("prepare", docker_repo_url="https://download.docker.com/linux/ubuntu")
    ubuntu(ctx, runner, ["zip"], docker=True)  # docker from anywhere, compose works
    prepare.run(ctx)
    (install,) = installs(runner)
    assert not {"docker-ce", "docker.io", "docker-compose-plugin"} & set(install)
    assert not Path(ctx.env.host_path(prepare.DOCKER_SOURCE)).exists()


@pytest.fixture
def key_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An https repo on 127.0.0.1 (certificate trusted through SSL_CERT_FILE, as a node trusts its CAs):
    /repo/gpg the key, /damaged/gpg a changed key, /html/gpg a web page, anything else 404."""
    from tests.health.mockcluster import write_self_signed

    bodies = {"/repo/gpg": KEY, "/damaged/gpg": KEY.replace("mDMEaxEM", "mDMEaxEN"), "/html/gpg": "<html>Not Found</html>"}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            body = bodies.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.end_headers()
            self.wfile.write((body or "").encode())

        def log_message(self, *args: object) -> None:
            pass

    cert, key = write_self_signed(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_docker_repo_is_written_signed_by_its_key_fetched_over_https(
    make_ctx: Callable[..., tuple[Ctx, FakeRunner]], no_pins_missing: None, key_server: str
) -> None:
    ctx, runner = make_ctx("prepare", docker_repo_url=f"{key_server}/repo/")
    ubuntu(ctx, runner, prepare.APT_BASE, docker=False)
    runner.on("apt-get", "-o", "DPkg::Lock::Timeout=600", "-y", action=lambda argv: runner.tools.add("docker"))
    result = prepare.run(ctx)
    source = Path(ctx.env.host_path("/etc/apt/sources.list.d/cloud-exchange-ha-docker.list"))
    assert source.read_text() == f"deb [arch=amd64 signed-by=/etc/apt/keyrings/cloud-exchange-ha-docker.gpg] {key_server}/repo jammy stable\n"
    keyring = Path(ctx.env.host_path("/etc/apt/keyrings/cloud-exchange-ha-docker.gpg")).read_bytes()
    assert hashlib.sha256(keyring).hexdigest() == KEY_BINARY_SHA256  # dearmored, as gpg --dearmor writes it
    (install,) = installs(runner)
    assert install[install.index("install") + 1 :] == ["containerd.io", "docker-ce", "docker-ce-cli", "docker-compose-plugin"]
    assert "docker repo" in result.summary


def refused_docker_repo(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], url: str) -> tuple[str, Ctx, FakeRunner]:
    ctx, runner = make_ctx("prepare", docker_repo_url=url)
    ubuntu(ctx, runner, prepare.APT_BASE, docker=False)
    with pytest.raises(PhaseError) as failed:
        prepare.run(ctx)
    return failed.value.line("prepare"), ctx, runner


FIX = (
    " - fix: set cloud-exchange-ha:dockerRepoUrl to an https repository that serves its signing key at <url>/gpg "
    "(Docker's: https://download.docker.com/linux/ubuntu, or a mirror of it), or to os for the OS's own packages"
)


@pytest.mark.parametrize(
    ("path", "what"),
    [
        ("/unsigned", "cannot fetch the Docker repo's signing key {url}/unsigned/gpg (HTTP 404)"),
        ("/html", "{url}/html/gpg is not the Docker repo's signing key (no ASCII-armored OpenPGP public key block)"),
        ("/damaged", "{url}/damaged/gpg is not the Docker repo's signing key (the key block's CRC-24 checksum does not match (damaged in transit?))"),
    ],
)
def test_no_key_no_docker_source_one_line_naming_the_setting(
    make_ctx: Callable[..., tuple[Ctx, FakeRunner]], no_pins_missing: None, key_server: str, path: str, what: str
) -> None:
    line, ctx, runner = refused_docker_repo(make_ctx, key_server + path)
    assert line == "ERROR prepare: " + what.format(url=key_server) + FIX
    assert not Path(ctx.env.host_path(prepare.DOCKER_SOURCE)).exists()
    assert not Path(ctx.env.host_path(prepare.DOCKER_KEYRING)).exists()
    assert not installs(runner)


def test_an_http_docker_repo_is_refused_before_anything_is_fetched(
    make_ctx: Callable[..., tuple[Ctx, FakeRunner]], no_pins_missing: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    fetched: list[str] = []
    monkeypatch.setattr(prepare.Prepare, "fetch_key", lambda self, url: fetched.append(url))
    line, ctx, runner = refused_docker_repo(make_ctx, "http://mirror.example/docker")
    assert line == (
        "ERROR prepare: cloud-exchange-ha:dockerRepoUrl http://mirror.example/docker is not https: "
        "the Docker repo's signing key must come over https" + FIX
    )
    assert fetched == [] and not Path(ctx.env.host_path(prepare.DOCKER_SOURCE)).exists() and not installs(runner)


def test_an_unreachable_key_is_retried_then_named(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], no_pins_missing: None) -> None:
    with socket.socket() as unused:  # a port nothing listens on: connection refused
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    line, ctx, _ = refused_docker_repo(make_ctx, f"https://127.0.0.1:{port}/docker")
    assert line.startswith(f"ERROR prepare: cannot fetch the Docker repo's signing key https://127.0.0.1:{port}/docker/gpg (")
    assert line.endswith(FIX) and "Connection refused" in line
    assert (Path(ctx.env.log_dir) / "prepare.log").read_text().count("attempt") == 2  # 3 tries, 2 waits


def test_an_unsigned_docker_source_left_by_an_earlier_version_is_rewritten_signed(
    make_ctx: Callable[..., tuple[Ctx, FakeRunner]], no_pins_missing: None, key_server: str
) -> None:
    ctx, runner = make_ctx("prepare", docker_repo_url=f"{key_server}/repo")
    ubuntu(ctx, runner, prepare.APT_BASE, docker=True)  # the engine is there: nothing is installed
    source = Path(ctx.env.host_path(prepare.DOCKER_SOURCE))
    source.parent.mkdir(parents=True)
    source.write_text(f"deb [arch=amd64 trusted=yes] {key_server}/repo jammy stable\n")
    result = prepare.run(ctx)
    assert source.read_text() == f"deb [arch=amd64 signed-by=/etc/apt/keyrings/cloud-exchange-ha-docker.gpg] {key_server}/repo jammy stable\n"
    assert result.status == "changed" and "docker repo signed" in result.summary and not installs(runner)
    again, again_runner = make_ctx("prepare", docker_repo_url=f"{key_server}/repo")
    ubuntu(again, again_runner, prepare.APT_BASE, docker=True)
    assert prepare.run(again).status == "unchanged"


def test_rhel_writes_no_repository_and_never_skips_gpg_checks(
    make_ctx: Callable[..., tuple[Ctx, FakeRunner]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """RHEL: CE runs on Podman from the OS's own repositories (dnf checks them, gpgcheck=1 as shipped);
    dockerRepoUrl is not used there, so prepare adds no repository and never passes --nogpgcheck."""
    ctx, runner = make_ctx("prepare", docker_repo_url="https://download.docker.com/linux/ubuntu")
    rhel(ctx, runner, "Disabled", "selinux=0")
    runner.tools.discard("podman-compose")  # engine incomplete: dnf installs
    runner.on("rpm", "-q", out="\n".join(prepare.DNF_BASE + ["python3-pexpect", "podman"]) + "\n")
    monkeypatch.setattr(prepare, "unmet_requirements", lambda pins: [])
    prepare.run(ctx)
    assert runner.ran("dnf", "-y", "install")
    assert not any("--nogpgcheck" in call or any("gpgcheck=0" in part for part in call) for call in runner.calls)
    assert not (Path(ctx.env.root) / "etc" / "yum.repos.d").exists()


def test_pins_are_installed_with_root_pip_flags(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], monkeypatch: pytest.MonkeyPatch) -> None:
    ctx, runner = make_ctx("prepare", pip_index_url="http://127.0.0.1:1/simple")
    ubuntu(ctx, runner, prepare.APT_BASE, docker=True)
    answers = [["pymongo>=4.6.3,<=4.7.3"], []]
    monkeypatch.setattr(prepare, "unmet_requirements", lambda pins: answers.pop(0))
    monkeypatch.setattr(prepare, "pep668_flags", lambda: ["--break-system-packages"])

    def pip(argv: list[str]) -> CommandResult:
        if "--ignore-installed" in argv:
            return CommandResult(argv, 0, "Successfully installed pymongo-4.7.3", "")
        return CommandResult(argv, 1, "", "ERROR: Cannot uninstall 'PyYAML'. It is a distutils installed project")

    runner.on("python3", "-m", "pip", "install", action=pip)
    assert prepare.run(ctx).status == "changed"
    pip_calls = [c for c in runner.calls if c[:3] == ["python3", "-m", "pip"]]
    first = pip_calls[0]
    assert "--break-system-packages" in first and first[first.index("--index-url") + 1] == "http://127.0.0.1:1/simple"
    assert first[-1] == "pymongo>=4.6.3,<=4.7.3"
    assert len(pip_calls) == 2 and "--ignore-installed" in pip_calls[1] and "--ignore-installed" not in first


def test_pins_success_is_verified_the_way_ce_checks(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], monkeypatch: pytest.MonkeyPatch) -> None:
    ctx, runner = make_ctx("prepare")
    ubuntu(ctx, runner, prepare.APT_BASE, docker=True)
    answers = [["pyyaml>=6.0.0"], []]
    monkeypatch.setattr(prepare, "unmet_requirements", lambda pins: answers.pop(0))
    monkeypatch.setattr(prepare, "pep668_flags", lambda: [])
    result = prepare.run(ctx)
    assert result.status == "changed" and "pip pins: pyyaml>=6.0.0" in result.summary
    check = [c for c in runner.calls if c[:2] == ["python3", "-c"]]
    assert check and "pkg_resources.require" in check[0][2]
    assert not any("--break-system-packages" in c for c in runner.calls)


# ----------------------------------------------------------------------------- RHEL


def rhel(ctx: Ctx, runner: FakeRunner, getenforce: str, grub_args: str, os_release: str = RHEL_94, config: str | None = None) -> None:
    """A RHEL node with every rpm; ``getenforce``'s answer, the kernels' arguments (``grubby --info=ALL``), /etc/selinux/config."""
    Path(ctx.env.host_path("/etc/os-release")).write_text(os_release)
    runner.tools.update({"dnf", "podman", "podman-compose", "getenforce", "grubby"})
    every = prepare.DNF_BASE + ["python3-pexpect", "podman", "podman-plugins", "podman-compose"]
    runner.on("rpm", "-q", out="\n".join(every) + "\n")
    runner.on("podman", "--version", out="podman version 4.9.4")
    runner.on("podman-compose", "--version", out="podman-compose version: 1.0.6\npodman version 4.9.4")
    runner.on("getenforce", out=getenforce + "\n")
    runner.on("grubby", "--info=ALL", out=grubby_info(grub_args))
    if config is not None:
        path = Path(ctx.env.host_path("/etc/selinux/config"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(config)


def grubby_info(extra_args: str) -> str:
    """``grubby --info=ALL`` on a RHEL 9 node with two kernels."""
    return "".join(
        f'index={i}\nkernel="/boot/vmlinuz-5.14.0-{v}.el9_4.x86_64"\nargs="ro crashkernel=1G-4G:192M {extra_args}"\nroot="/dev/xfs"\n'
        for i, v in enumerate(("427.42.1", "427.13.1"))
    )


RHEL_810 = 'NAME="Red Hat Enterprise Linux"\nID="rhel"\nID_LIKE="fedora"\nVERSION_ID="8.10"\nPRETTY_NAME="Red Hat Enterprise Linux 8.10 (Ootpa)"\n'
ENFORCING_CONFIG = "# This file controls the state of SELinux on the system.\nSELINUX=enforcing\nSELINUXTYPE=targeted\n"
DISABLED_CONFIG = "# This file controls the state of SELinux on the system.\nSELINUX=disabled\nSELINUXTYPE=targeted\n"
REBOOT_PENDING = (
    "REBOOT PENDING: SELinux is permissive until the node reboots, disabled after; CE keeps running meanwhile, "
    "but CE's setup refuses SELinux until then (the cutover's stop waits for the reboot)"
)


def test_rhel_9_enforcing_becomes_permissive_now_and_disabled_from_the_next_boot(
    make_ctx: Callable[..., tuple[Ctx, FakeRunner]], no_pins_missing: None
) -> None:
    ctx, runner = make_ctx("prepare", migrate=True)  # the adopted RHEL standalone
    rhel(ctx, runner, "Enforcing", "", config=ENFORCING_CONFIG)
    result = prepare.run(ctx)
    assert result.status == "changed"
    assert Path(ctx.env.host_path("/etc/selinux/config")).read_text() == DISABLED_CONFIG
    changes = [c for c in runner.calls if c[0] in ("setenforce", "grubby") and c[1] != "--info=ALL"]
    assert changes == [["grubby", "--update-kernel", "ALL", "--args", "selinux=0"], ["setenforce", "0"]]
    assert "SELINUX=disabled (next boot); kernel argument selinux=0 (next boot); setenforce 0 (permissive now)" in result.summary
    assert result.summary.endswith(REBOOT_PENDING)
    assert not runner.ran("dnf")  # all rpms present: no package manager run

    # the second run (permissive, before the reboot) changes nothing and still says the reboot is pending
    again, again_runner = make_ctx("prepare", migrate=True)
    rhel(again, again_runner, "Permissive", "selinux=0", config=DISABLED_CONFIG)
    second = prepare.run(again)
    assert second.status == "unchanged" and second.summary == REBOOT_PENDING
    assert not again_runner.ran("setenforce") and not again_runner.ran("grubby", "--update-kernel")

    # after the reboot: disabled, nothing to do, nothing pending
    booted, booted_runner = make_ctx("prepare", migrate=True)
    rhel(booted, booted_runner, "Disabled", "selinux=0", config=DISABLED_CONFIG)
    third = prepare.run(booted)
    assert third.status == "unchanged" and "REBOOT" not in third.summary
    assert not booted_runner.ran("setenforce") and not booted_runner.ran("grubby", "--update-kernel")


def test_rhel_8_needs_no_kernel_argument(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], no_pins_missing: None) -> None:
    ctx, runner = make_ctx("prepare", migrate=True)
    rhel(ctx, runner, "Enforcing", "", os_release=RHEL_810, config=ENFORCING_CONFIG)
    result = prepare.run(ctx)
    assert Path(ctx.env.host_path("/etc/selinux/config")).read_text() == DISABLED_CONFIG
    assert runner.ran("setenforce", "0") and not runner.ran("grubby")
    assert result.summary.startswith("SELINUX=disabled (next boot); setenforce 0 (permissive now)")
    again, again_runner = make_ctx("prepare", migrate=True)
    rhel(again, again_runner, "Permissive", "", os_release=RHEL_810, config=DISABLED_CONFIG)
    second = prepare.run(again)
    assert second.status == "unchanged" and second.summary == REBOOT_PENDING and not again_runner.ran("grubby")


def test_rhel_9_permissive_with_the_config_done_still_gets_the_kernel_argument(
    make_ctx: Callable[..., tuple[Ctx, FakeRunner]], no_pins_missing: None
) -> None:
    """Someone set SELINUX=disabled by hand and rebooted: RHEL 9 ignores that, SELinux is still on."""
    ctx, runner = make_ctx("prepare", migrate=True)
    rhel(ctx, runner, "Permissive", "", config=DISABLED_CONFIG)
    result = prepare.run(ctx)
    assert runner.ran("grubby", "--update-kernel", "ALL", "--args", "selinux=0") and not runner.ran("setenforce")
    assert result.summary == "kernel argument selinux=0 (next boot); " + REBOOT_PENDING


@pytest.mark.parametrize(
    ("grubby", "what"),
    [
        (
            {"rc": 1, "err": "grubby fatal error: unable to find a suitable template"},
            "grubby failed: grubby fatal error: unable to find a suitable template",
        ),
        (None, "RHEL 9.4 needs the kernel argument selinux=0 to disable SELinux, and grubby is missing"),
    ],
)
def test_rhel_9_without_the_kernel_argument_fails_naming_it(
    make_ctx: Callable[..., tuple[Ctx, FakeRunner]], no_pins_missing: None, grubby: dict[str, Any] | None, what: str
) -> None:
    ctx, runner = make_ctx("prepare", migrate=True)
    rhel(ctx, runner, "Enforcing", "", config=ENFORCING_CONFIG)
    if grubby is None:
        runner.tools.discard("grubby")
    else:
        runner.on("grubby", "--update-kernel", **grubby)
    with pytest.raises(PhaseError) as failed:
        prepare.run(ctx)
    assert failed.value.line("prepare") == (
        f"ERROR prepare: {what} - fix: add selinux=0 to the kernel command line by hand (grubby --update-kernel ALL --args selinux=0)"
    )


def test_a_new_rhel_node_gets_dnf_upgrade_before_podman(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], no_pins_missing: None) -> None:
    ctx, runner = make_ctx("prepare", role="secondary")
    rhel(ctx, runner, "Disabled", "selinux=0")
    runner.tools.discard("podman")
    runner.on("rpm", "-q", out="\n".join(prepare.DNF_BASE + ["python3-pexpect"]) + "\n")
    runner.on("dnf", "-q", "check-update", rc=100, out="openssl.x86_64   1:3.2.2-6.el9_5   rhel-9-baseos\n")
    prepare.run(ctx)
    dnf = [c[1:3] for c in runner.calls if c[:1] == ["dnf"] and c[1] in ("-y", "-q")]
    assert dnf[:3] == [["-y", "makecache"], ["-q", "check-update"], ["-y", "upgrade"]]
    assert dnf.index(["-y", "upgrade"]) < dnf.index(["-y", "install"])
    adopted, adopted_runner = make_ctx("prepare", migrate=True)
    rhel(adopted, adopted_runner, "Disabled", "selinux=0")
    prepare.run(adopted)
    assert not adopted_runner.ran("dnf", "-y", "upgrade") and not adopted_runner.ran("dnf", "-q", "check-update")


def test_rhel_falls_back_to_pip_for_missing_python_rpms(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], monkeypatch: pytest.MonkeyPatch) -> None:
    ctx, runner = make_ctx("prepare")
    rhel(ctx, runner, "Disabled", "selinux=0")
    runner.on("rpm", "-q", out="\n".join(prepare.DNF_BASE + ["podman", "podman-compose"]) + "\n")  # no python3-pexpect rpm
    runner.on("dnf", "-q", "info", "python3-pexpect", rc=1)
    monkeypatch.setattr(prepare, "unmet_requirements", lambda pins: list(pins) if pins == ["pexpect"] else [])
    result = prepare.run(ctx)
    assert runner.ran("dnf", "-y", "makecache")
    assert any(c[:4] == ["python3", "-m", "pip", "install"] and c[-1] == "pexpect" for c in runner.calls)
    assert "pip fallback: pexpect" in result.summary
