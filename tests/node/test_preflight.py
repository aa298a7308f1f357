"""preflight: each check, the allow_undersized leniency, the migrate-primary version and tree checks."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from scripts.cenode import lines, release
from scripts.cenode.findings import PreflightFailed
from scripts.cenode.installed import check_installed_version, installed_version
from scripts.cenode.phases import preflight
from scripts.cenode.system import Ctx

from .conftest import FakeRunner
from .test_system import DEBIAN_12, UBUNTU_2204

GIB = 1024**3
GB = 1000**3


def cpuinfo(count: int, flags: str = "fpu sse2 avx avx2") -> str:
    return "".join(f"processor\t: {i}\nmodel name\t: x\nflags\t\t: {flags}\n\n" for i in range(count))


def test_cpu_and_avx_parsing() -> None:
    assert preflight.count_cpus(cpuinfo(8)) == 8
    assert preflight.has_avx(cpuinfo(1))
    assert not preflight.has_avx(cpuinfo(1, "fpu sse2 avx512f"))  # only the exact flag counts
    assert preflight.mem_total_bytes("MemTotal:       16365412 kB\nMemFree: 1 kB\n") == 16365412 * 1024


@pytest.mark.parametrize(
    ("cpus", "mem_gib", "disk_gb", "free_gb", "failing"),
    [
        (8, 15.6, 100, 60, []),
        (16, 31.0, 130, 60, []),
        (2, 15.6, 100, 60, ["vCPU"]),
        (12, 64, 200, 100, ["vCPU"]),
        (8, 14.0, 100, 60, ["memory"]),
        (16, 20.0, 100, 60, ["memory", "filesystem"]),  # 16 vCPU needs 28.8 GiB and 108 GB
        (8, 16, 70, 60, ["filesystem"]),
        (8, 16, 100, 10, ["filesystem"]),
    ],
)
def test_check_size(cpus: int, mem_gib: float, disk_gb: int, free_gb: int, failing: list[str]) -> None:
    findings = preflight.check_size(cpus, int(mem_gib * GIB), disk_gb * GB, free_gb * GB, "/opt")
    assert len(findings) == len(failing)
    for word, finding in zip(failing, findings, strict=True):
        assert word in finding.what
    for finding in findings:
        assert "cloud-exchange-ha:" in finding.fix or "free space" in finding.fix


def test_vcpu_failure_names_the_instance_type_setting() -> None:
    (finding,) = preflight.check_size(4, 16 * GIB, 100 * GB, 50 * GB, "/")
    assert finding.fix.startswith("set cloud-exchange-ha:instanceType")


@pytest.mark.parametrize(
    ("os_id", "version", "major", "level"),
    [
        ("ubuntu", "22.04", 5, "ok"),
        ("ubuntu", "20.04", 5, "ok"),
        ("ubuntu", "24.04", 5, "warn"),  # CE 5.x: other Ubuntu versions only warn
        ("rhel", "9.4", 5, "ok"),
        ("rhel", "8.9", 5, "ok"),
        ("rhel", "9.4", 6, "fail"),  # 6.x needs >= 9.5
        ("rhel", "9.6", 6, "ok"),
        ("ubuntu", "24.04", 6, "ok"),
        ("debian", "12", 5, "fail"),
        ("centos", "7", 5, "fail"),
    ],
)
def test_check_os(os_id: str, version: str, major: int, level: str) -> None:
    assert preflight.check_os(os_id, version, lines.LINES[major]).level == level


def test_check_peers_counts_refused_as_reachable() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        open_port = server.getsockname()[1]
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            closed_port = probe.getsockname()[1]  # bound, not listening: connection refused
            ports = (lines.PortRange(open_port, open_port, "x"), lines.PortRange(closed_port, closed_port, "y"))
            assert preflight.check_peers(["127.0.0.1"], ports, timeout=2) == []


def test_check_peers_reports_timeouts_per_peer() -> None:
    def fake(ip: str, port: int, timeout: float) -> str | None:
        return "timeout" if ip == "10.0.0.3" and port in (5672, 27017) else None

    findings = preflight.check_peers(["10.0.0.2", "10.0.0.3"], lines.CE5.cluster_ports, 1, probe=fake)
    assert len(findings) == 1
    assert findings[0].what == "peer 10.0.0.3 unreachable on TCP 5672 (timeout), 27017 (timeout)"
    assert "security group" in findings[0].fix


@pytest.mark.parametrize(
    ("installed", "target", "ok", "words"),
    [
        ((5, 1, 2), (5, 1, 2), True, ""),
        ((6, 1, 0), (6, 1, 0), True, ""),
        # a migrate adopts the installed version: no upgrade (same line or not), no downgrade
        ((5, 1, 1), (5, 1, 2), False, "installed CE 5.1.1 differs from cloud-exchange-ha:ceVersion 5.1.2"),
        ((5, 1, 0), (5, 1, 2), False, "older than 5.1.1"),
        ((4, 2, 0), (5, 1, 2), False, "has no HA"),
        ((5, 1, 2), (6, 1, 0), False, "installed CE 5.1.2 differs from cloud-exchange-ha:ceVersion 6.1.0"),
        ((5, 1, 3), (5, 1, 2), False, "installed CE 5.1.3 differs from cloud-exchange-ha:ceVersion 5.1.2"),
    ],
)
def test_check_installed_version(installed: release.Version, target: release.Version, ok: bool, words: str) -> None:
    findings = check_installed_version(installed, ".env INSTALL_VERSION", target)
    assert all(f.level == "ok" for f in findings) is ok
    assert words in " ".join(f.what for f in findings)


def test_a_version_mismatch_names_the_setting_and_the_installed_version() -> None:
    (finding,) = check_installed_version((5, 1, 1), ".env INSTALL_VERSION", (5, 1, 2))
    assert finding.level == "fail"
    assert "no upgrade or downgrade" in finding.what
    assert finding.fix == "set cloud-exchange-ha:ceVersion to the installed 5.1.1, or upgrade the standalone to 5.1.2 on its own first"


def test_unknown_installed_version_fails() -> None:
    (finding,) = check_installed_version(None, "", (5, 1, 2))
    assert finding.level == "fail" and "ceDir" in finding.fix


def write_host(ctx: Ctx, os_release: str, cpus: int, mem_kib: int) -> None:
    Path(ctx.env.host_path("/etc/os-release")).write_text(os_release)
    Path(ctx.env.host_path("/proc/cpuinfo")).write_text(cpuinfo(cpus))
    Path(ctx.env.host_path("/proc/meminfo")).write_text(f"MemTotal:       {mem_kib} kB\n")


def test_run_passes_on_a_fit_node(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], monkeypatch: pytest.MonkeyPatch) -> None:
    ctx, _ = make_ctx("preflight")
    write_host(ctx, UBUNTU_2204, 8, 16 * 1024 * 1024)
    monkeypatch.setattr(preflight, "disk_of", lambda path: ("/", 100 * GB, 70 * GB))
    result = preflight.run(ctx)  # peers 127.0.0.22/.23: nothing listens -> refused -> reachable
    assert result.status == "ok" and "warning" not in result.summary


def test_run_fails_with_one_line_per_problem(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], monkeypatch: pytest.MonkeyPatch) -> None:
    ctx, _ = make_ctx("preflight")
    write_host(ctx, DEBIAN_12, 2, 4 * 1024 * 1024)
    Path(ctx.env.host_path("/sys/fs/selinux")).mkdir(parents=True)
    Path(ctx.env.host_path("/sys/fs/selinux/enforce")).write_text("0")
    monkeypatch.setattr(preflight, "disk_of", lambda path: ("/", 30 * GB, 10 * GB))
    with pytest.raises(PreflightFailed) as failed:
        preflight.run(ctx, skip_peers=True)
    lines = failed.value.lines("preflight")
    joined = "\n".join(lines)
    assert all(line.startswith("ERROR preflight: ") and " - fix: " in line for line in lines)
    for words in ("OS debian 12", "2 vCPU", "memory", "GB, CE needs", "GB free", "SELinux"):
        assert words in joined
    assert "cloud-exchange-ha:instanceType" in joined and "cloud-exchange-ha:rootVolumeSizeGb" in joined


def test_allow_undersized_turns_size_and_os_into_warnings(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], monkeypatch: pytest.MonkeyPatch) -> None:
    ctx, _ = make_ctx("preflight", allow_undersized=True)
    write_host(ctx, DEBIAN_12, 2, 4 * 1024 * 1024)
    monkeypatch.setattr(preflight, "disk_of", lambda path: ("/", 30 * GB, 10 * GB))
    result = preflight.run(ctx, skip_peers=True)
    assert result.status == "ok" and "warning(s)" in result.summary and "2 vCPU" in result.summary
    # ...but not everything: SELinux stays a failure
    Path(ctx.env.host_path("/sys/fs/selinux")).mkdir(parents=True)
    Path(ctx.env.host_path("/sys/fs/selinux/enforce")).write_text("0")
    with pytest.raises(PreflightFailed):
        preflight.run(ctx, skip_peers=True)


def git(repo: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x", "HOME": str(repo)}
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env).stdout


def make_ce_checkout(path: Path, tag: str, env_text: str = "") -> Path:
    path.mkdir(parents=True)
    git(path, "init", "-q")
    (path / "setup").write_text("#!/bin/sh\n")
    git(path, "add", "setup")
    git(path, "commit", "-qm", "ce")
    git(path, "tag", tag)
    if env_text:
        (path / ".env").write_text(env_text)  # untracked, like CE's
    return path


def test_migrate_primary_checks_version_and_clean_tree(
    make_ctx: Callable[..., tuple[Ctx, FakeRunner]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from .conftest import real_ctx

    ce_dir = make_ce_checkout(tmp_path / "ce", "v5.1.1", 'INSTALL_VERSION="5.1.1"\n')
    ctx, _ = make_ctx("preflight", migrate=True, ce_dir=str(ce_dir), ce_version="v5.1.1")
    real_ctx(ctx)
    write_host(ctx, UBUNTU_2204, 8, 16 * 1024 * 1024)
    monkeypatch.setattr(preflight, "disk_of", lambda path: ("/", 100 * GB, 70 * GB))
    assert preflight.run(ctx, skip_peers=True).status == "ok"

    (ce_dir / "setup").write_text("#!/bin/sh\necho patched\n")  # a modified tracked file
    with pytest.raises(PreflightFailed) as failed:
        preflight.run(ctx, skip_peers=True)
    assert "modified tracked files: setup" in failed.value.lines("preflight")[0]


def test_installed_version_sources(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], tmp_path: Path) -> None:
    from .conftest import real_ctx

    ctx, _ = make_ctx("preflight")
    real_ctx(ctx)
    by_tag = make_ce_checkout(tmp_path / "a", "v5.1.2")
    assert installed_version(ctx, str(by_tag)) == ((5, 1, 2), "git describe")
    by_core = make_ce_checkout(tmp_path / "b", "v5.0.1", "CORE_TAG=netskopetechnicalalliances/cloudexchange:core5-5.1.1\n")
    assert installed_version(ctx, str(by_core)) == ((5, 1, 1), ".env CORE_TAG")
    by_install = make_ce_checkout(tmp_path / "c", "v5.0.1", "INSTALL_VERSION=5.1.2\nCORE_TAG=x:core5-5.1.1\n")
    assert installed_version(ctx, str(by_install)) == ((5, 1, 2), ".env INSTALL_VERSION")


def test_peers_are_reprobed_while_they_boot(make_ctx: Callable[..., tuple[Ctx, FakeRunner]]) -> None:
    ctx, _ = make_ctx("preflight")
    answers = iter(["timeout", "timeout", None])
    seen: list[int] = []

    def booting(ip: str, port: int, timeout: float) -> str | None:
        seen.append(port)
        return next(answers) if port == 27017 else None

    ports = (lines.PortRange(27017, 27017, "mongo"), lines.PortRange(4369, 4369, "epmd"))
    assert preflight.wait_for_peers(ctx, ["10.0.0.2"], ports, probe=booting) == []
    assert seen.count(27017) == 3

    never, _ = make_ctx("preflight", timeouts={"peers": 25})
    findings = preflight.wait_for_peers(never, ["10.0.0.2"], ports, probe=lambda ip, port, timeout: "timeout")
    assert len(findings) == 1 and "27017 (timeout), 4369 (timeout)" in findings[0].what
