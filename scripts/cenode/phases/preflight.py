"""Phase ``preflight``: is this node fit for CE HA? Changes nothing.

Owns: the checks CE's own setup would fail on (docs/ce-facts.md §4), made early and with a fix each: OS,
vCPU (exactly 8 or 16), memory, disk of the CE folder's filesystem, AVX (6.x), SELinux (on RHEL
reported with what prepare changes and whether a reboot is pending; elsewhere it must be disabled),
python3, peer reachability on the release line's cluster ports (refused = reachable, like CE),
and on the migrate primary the installed CE version and a clean CE git tree.

Must not touch: anything (no package installs, no writes except its log).
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from .. import lines, release, selinux, staged
from ..findings import Finding, PreflightFailed
from ..git import git
from ..installed import check_installed_version, installed_version
from ..system import Ctx, OsInfo, PhaseError, PhaseResult, read_os, read_text, retry, setting

GIB = 1024**3
GB = 1000**3

#: CE's profiles (docs/ce-facts.md §4): vCPU -> minimum RAM bytes (90 % of 16/32 GiB), minimum disk bytes
PROFILES: dict[int, tuple[int, int]] = {
    8: (int(0.9 * 16 * GIB), int(0.9 * 80 * GB)),
    16: (int(0.9 * 32 * GIB), int(0.9 * 120 * GB)),
}
MIN_FREE_DISK = 20 * GB


# ----------------------------------------------------------------------------- pure checks


def count_cpus(cpuinfo: str) -> int:
    return sum(1 for line in cpuinfo.splitlines() if line.split(":")[0].strip() == "processor")


def has_avx(cpuinfo: str) -> bool:
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return "avx" in value.split()
    return False


def mem_total_bytes(meminfo: str) -> int:
    for line in meminfo.splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0


def check_size(cpus: int, mem: int, disk_total: int, disk_free: int, where: str) -> list[Finding]:
    """CPU/RAM/disk against CE's profiles; every failure names the setting to change."""
    out: list[Finding] = []
    if cpus not in PROFILES:
        out.append(
            Finding(
                "fail",
                f"{cpus} vCPU, CE needs exactly 8 or 16",
                f"set {setting('instanceType')} to an 8 or 16 vCPU type (e.g. m6i.2xlarge / m6i.4xlarge)",
                kind="size",
            )
        )
    profile = cpus if cpus in PROFILES else 8
    min_mem, min_disk = PROFILES[profile]
    if mem < min_mem:
        out.append(
            Finding(
                "fail",
                f"memory {mem / GIB:.1f} GiB, CE needs >= {min_mem / GIB:.1f} GiB for {profile} vCPU",
                f"set {setting('instanceType')} to a type with 16 GiB per 8 vCPU (m-family)",
                kind="size",
            )
        )
    if disk_total < min_disk:
        out.append(
            Finding(
                "fail",
                f"filesystem of {where} has {disk_total / GB:.0f} GB, CE needs >= {min_disk / GB:.0f} GB",
                f"raise {setting('rootVolumeSizeGb')} (80 GB for 8 vCPU, 120 GB for 16 vCPU)",
                kind="size",
            )
        )
    if disk_free < MIN_FREE_DISK:
        out.append(
            Finding(
                "fail",
                f"filesystem of {where} has {disk_free / GB:.1f} GB free, CE needs >= 20 GB",
                f"free space on the node or raise {setting('rootVolumeSizeGb')}",
                kind="size",
            )
        )
    return out


def check_os(os_id: str, version_id: str, line: lines.ReleaseLine) -> Finding:
    """Supported (ok), same OS with another version (warn, like CE 5.x), other OS (fail)."""
    version = _vtuple(version_id)
    for sup_id, sup_version in line.supported_os:
        if sup_id != os_id:
            continue
        wanted = _vtuple(sup_version)
        if sup_id == "rhel":
            if version[:1] == wanted[:1] and version >= wanted:
                return Finding("ok", f"OS {os_id} {version_id}")
        elif version == wanted:
            return Finding("ok", f"OS {os_id} {version_id}")
    supported = ", ".join(f"{i} {v}" for i, v in line.supported_os)
    if os_id in {i for i, _ in line.supported_os} and line.other_os_version_warns:
        return Finding("warn", f"OS {os_id} {version_id} is not one CE {line.major}.x recommends ({supported})", kind="os")
    return Finding(
        "fail",
        f"OS {os_id or 'unknown'} {version_id} is not supported by CE {line.major}.x ({supported})",
        "run the nodes on one of those (new nodes: the program picks the image; standalone: upgrade its OS)",
        kind="os",
    )


def _vtuple(text: str) -> tuple[int, ...]:
    out = []
    for piece in text.split("."):
        if not piece.isdigit():
            break
        out.append(int(piece))
    return tuple(out)


def probe_port(ip: str, port: int, timeout: float) -> str | None:
    """None if reachable (connected, or refused like CE counts it), else the reason."""
    try:
        with socket.create_connection((ip, port), timeout=timeout):
            return None
    except ConnectionRefusedError:
        return None
    except TimeoutError:
        return "timeout"
    except OSError as exc:
        return exc.strerror or type(exc).__name__


def check_peers(
    peers: Sequence[str],
    ports: Sequence[lines.PortRange],
    timeout: float,
    probe: Callable[[str, int, float], str | None] = probe_port,
) -> list[Finding]:
    targets = [(ip, port) for ip in peers for rng in ports for port in range(rng.from_port, rng.to_port + 1)]
    if not targets:
        return []
    with ThreadPoolExecutor(max_workers=min(32, len(targets))) as pool:
        results = list(pool.map(lambda t: probe(t[0], t[1], timeout), targets))
    bad: dict[str, list[str]] = {}
    for (ip, port), reason in zip(targets, results):
        if reason is not None:
            bad.setdefault(ip, []).append(f"{port} ({reason})")
    return [
        Finding(
            "fail",
            f"peer {ip} unreachable on TCP {', '.join(items)}",
            "start that node and allow the cluster ports between the nodes' security groups",
        )
        for ip, items in sorted(bad.items())
    ]


def wait_for_peers(
    ctx: Ctx, peers: Sequence[str], ports: Sequence[lines.PortRange], probe: Callable[[str, int, float], str | None] = probe_port
) -> list[Finding]:
    """The peer check, repeated every 10 s for ``timeouts.peers`` while peers are still booting."""
    return retry(
        lambda: check_peers(peers, ports, ctx.timeout("peer_connect"), probe=probe),
        should_retry=bool,
        log=ctx.log,
        what="peer check",
        delay=10,
        budget=ctx.timeout("peers"),
        sleep=ctx.sleep,
        clock=ctx.clock,
        on_retry=lambda findings, _: ctx.log.info(f"waiting for peers: {'; '.join(f.what for f in findings)}"),
    )


# ----------------------------------------------------------------------------- node probes


def dirty_files(ctx: Ctx, ce_dir: str) -> list[str]:
    """Tracked files with content changes, as CE's ``git diff -G.`` sees them."""
    result = ctx.runner.run(git(ce_dir, "diff", "-G.", "--name-only"), timeout=120)
    if not result.ok:
        raise PhaseError(f"git diff failed in {ce_dir}: {result.tail()}", f"check {setting('ceDir')} is a git checkout of CE")
    return [line for line in result.out.splitlines() if line.strip()]


def check_selinux(ctx: Ctx, osinfo: OsInfo) -> Finding:
    """CE's setup refuses SELinux enabled, permissive too (docs/ce-facts.md §4). On RHEL ``prepare``
    disables it (permissive at once, disabled from the next boot): reported here, not a failure,
    with whether a reboot is pending. Elsewhere prepare does not touch it: a failure."""
    state = selinux.read_state(ctx, osinfo)
    if not state.enabled:
        return Finding("ok", "SELinux disabled")
    if osinfo.family != "rhel":
        return Finding(
            "fail",
            f"SELinux is {state.mode.lower()} (CE needs it disabled, permissive is not enough)",
            "disable SELinux on this node and reboot it (prepare does so on RHEL only)",
        )
    if state.reboot_pending:
        return Finding(
            "warn",
            f"{state.describe()}; CE keeps running meanwhile (permissive), but CE's setup refuses SELinux "
            "until the reboot: the cutover's stop waits for it",
        )
    return Finding(
        "warn",
        f"SELinux is {state.mode.lower()}: prepare makes it permissive at once (CE keeps running) and disabled from the next boot "
        f"({' and '.join(state.boot_missing)}); a reboot is then pending (CE's setup refuses SELinux, permissive too: "
        "the cutover's stop waits for it)",
    )


def disk_of(path: str) -> tuple[str, int, int]:
    probe = path
    while not os.path.exists(probe) and probe not in ("/", ""):
        probe = os.path.dirname(probe)
    st = os.statvfs(probe or "/")
    return probe, st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize


def collect(ctx: Ctx, skip_peers: bool = False) -> list[Finding]:
    cfg = ctx.cfg
    line = ctx.line
    findings: list[Finding] = []
    osinfo = read_os(ctx.env)
    findings.append(check_os(osinfo.id, osinfo.version_id, line))

    cpuinfo = read_text(ctx.env.host_path("/proc/cpuinfo"), default="")
    cpus = count_cpus(cpuinfo) or (os.cpu_count() or 0)
    mem = mem_total_bytes(read_text(ctx.env.host_path("/proc/meminfo"), default=""))
    where, total, free = disk_of(cfg.ce_dir)
    size = check_size(cpus, mem, total, free, where)
    findings.extend(size or [Finding("ok", f"{cpus} vCPU, {mem / GIB:.1f} GiB, {where}: {total / GB:.0f} GB / {free / GB:.0f} GB free")])
    if line.needs_avx and not has_avx(cpuinfo):
        findings.append(
            Finding("fail", "CPU has no AVX, CE 6.x needs it", f"set {setting('instanceType')} to a current x86 type (m6i, m7i)", kind="size")
        )
    findings.append(check_selinux(ctx, osinfo))
    python_check = PYTHON_CHECKS[line.setup_python]
    findings.extend(python_check(ctx, line, osinfo.id, osinfo.version_id))
    peers = [ip for ip in cfg.cluster_ips if ip != cfg.node_ip]
    if cfg.node_ip not in cfg.cluster_ips:
        findings.append(
            Finding("fail", f"node_ip {cfg.node_ip} is not in cluster_ips {cfg.cluster_ips}", "the program built node.json wrongly; re-run pulumi up")
        )
    if not skip_peers:
        findings.extend(wait_for_peers(ctx, peers, line.cluster_ports))
    if cfg.adopted:
        target = release.parse_version(cfg.ce_version)
        if not os.path.isdir(cfg.ce_dir):
            findings.append(
                Finding("fail", f"{cfg.ce_dir} does not exist on the standalone", f"set {setting('ceDir')} to its ta_cloud_exchange folder")
            )
        else:
            version, source = installed_version(ctx, cfg.ce_dir)
            findings.extend(check_installed_version(version, source, target, set_up=staged.set_up_here(ctx)))
            if os.path.isdir(os.path.join(cfg.ce_dir, ".git")):
                dirty = dirty_files(ctx, cfg.ce_dir)
                if dirty:
                    findings.append(
                        Finding(
                            "fail",
                            f"CE checkout has modified tracked files: {', '.join(dirty[:5])}{' ...' if len(dirty) > 5 else ''}",
                            f"commit/revert them in {cfg.ce_dir} (git stash) - CE's setup refuses a dirty tree",
                        )
                    )
            else:
                findings.append(Finding("fail", f"{cfg.ce_dir} is not a git checkout", "re-clone CE with git (CE's setup and upgrades need it)"))
    return findings


def check_system_python(ctx: Ctx, line: lines.ReleaseLine, os_id: str, version_id: str) -> list[Finding]:
    """CE 5.x's setup runs in the system python3: this one, at least ``python_min``."""
    py = sys.version_info[:3]
    if tuple(py) >= line.python_min:
        return []
    return [
        Finding(
            "fail",
            f"python3 is {'.'.join(map(str, py))}, CE {line.major}.x needs >= {release.format_version(line.python_min)}",
            "install a newer python3 as the system python3",
        )
    ]


def check_ce_python(ctx: Ctx, line: lines.ReleaseLine, os_id: str, version_id: str) -> list[Finding]:
    """CE 6.x's setup builds its own venv: it needs an interpreter of its own (docs/ce-facts.md §1.7, §4)."""
    return [check_python6(ctx, line, os_id, version_id)]


def check_python6(ctx: Ctx, line: lines.ReleaseLine, os_id: str, version_id: str) -> Finding:
    """An interpreter >= python_min with venv, ensurepip and pip (CE 6.x's ensure_environment).

    What prepare installs (python3-venv, python3-pip; python3.11 on Ubuntu 22.04) is not a failure
    here, preflight runs before prepare.
    """
    from .. import ce6

    wanted = release.format_version(line.python_min)
    best, seen = ce6.find_python(ctx, line.python_min)
    if best is None:
        shown = ", ".join(p.shown for p in seen) or "none"
        if (os_id, version_id) == ("ubuntu", "22.04"):
            return Finding("ok", f"python {shown} < {wanted}: prepare installs python3.11")
        return Finding(
            "fail",
            f"no python >= {wanted} for CE {line.major}.x (found {shown})",
            f"install python {wanted} or later (new nodes: the program's Ubuntu {line.ubuntu_series[1]} image has it)",
        )
    if not best.usable:
        missing = [n for n, ok in (("venv/ensurepip", best.venv), ("pip", best.pip)) if not ok]
        return Finding("ok", f"{best.shown} lacks {' and '.join(missing)}: prepare installs python3-venv and python3-pip")
    return Finding("ok", f"{best.shown} with venv, ensurepip and pip")


def run(ctx: Ctx, skip_peers: bool = False) -> PhaseResult:
    findings = collect(ctx, skip_peers=skip_peers)
    lenient = ctx.cfg.allow_undersized
    failures: list[Finding] = []
    warnings: list[Finding] = []
    for finding in findings:
        ctx.log.info(f"[{finding.level}] {finding.line()}")
        if finding.level == "warn":
            warnings.append(finding)
        elif finding.level == "fail":
            # allow_undersized (lab only) turns size and OS failures into warnings, as CE's
            # --ignore-failures (which setup then gets) does.
            if lenient and finding.kind in ("size", "os"):
                warnings.append(finding)
            else:
                failures.append(finding)
    for warning in warnings:
        ctx.log.warn(warning.what)
    if failures:
        raise PreflightFailed(failures)
    summary = f"{len(findings) - len(warnings)} checks passed"
    if warnings:
        summary += f", {len(warnings)} warning(s): " + "; ".join(w.what for w in warnings)
    return PhaseResult("ok", summary)


#: which python check fits the python CE's setup runs with (``line.setup_python``)
PYTHON_CHECKS: dict[str, Callable[[Ctx, lines.ReleaseLine, str, str], list[Finding]]] = {
    "system": check_system_python,
    "ce-venv": check_ce_python,
}
