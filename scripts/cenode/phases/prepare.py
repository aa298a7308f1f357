"""Phase ``prepare``: OS updates (new nodes), packages, container engine with compose, CE's Python pins, SELinux off.

Owns: the OS's pending updates on a new node before its container engine is installed (never on
the adopted primary, never once an engine runs), installing what CE's setup and our phases need
(docker + compose on Debian/Ubuntu, the podman stack on RHEL, python3 + pip, git, zip, the NFS
client, python3-pexpect, python3-cryptography, openssl), the optional Docker apt repo
(``docker_repo_url``: https only, always ``signed-by`` its key from ``<url>/gpg``, never
``trusted=yes``; RHEL adds no repo), root's pip install of the line's ``python_pins`` into the
system python CE's setup runs with, enabling the docker service, and on RHEL SELinux permissive
at once and disabled from the next boot (``cenode.selinux``: config file, ``setenforce 0``,
``selinux=0`` on RHEL 9 and later).

Idempotent: asks dpkg-query/rpm and pip metadata first; when nothing is missing it runs no
package manager at all. Never replaces an engine that is already installed (a migrating
standalone keeps serving on it); a too-old one is reported instead.

Must not touch: CE's folder, the shared folder, CE's containers.
"""

from __future__ import annotations

import os
import re
import sysconfig
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence

from .. import openpgp, release, selinux
from ..packages import PIP_TRANSIENT, Apt, Dnf, PackageManager, unmet_requirements
from ..system import CommandResult, Ctx, OsInfo, PhaseError, PhaseResult, read_bytes, read_os, read_text, retry, setting, write_atomic

DOCKER_SOURCE = "/etc/apt/sources.list.d/cloud-exchange-ha-docker.list"
#: the Docker repo's signing key, dearmored (``openpgp.dearmor``), named by the source's ``signed-by=``
DOCKER_KEYRING = "/etc/apt/keyrings/cloud-exchange-ha-docker.gpg"

APT_BASE = [
    "python3", "python3-pip", "python3-setuptools", "git", "zip", "nfs-common",
    "python3-pexpect", "python3-cryptography", "openssl", "ca-certificates",
]  # fmt: skip
APT_DOCKER_REPO = ["docker-ce", "docker-ce-cli", "containerd.io", "docker-compose-plugin"]
#: compose v2 plugin packages of the OS archives, best first (Ubuntu 22.04+, Docker's repo, Debian 13)
APT_COMPOSE_CANDIDATES = ["docker-compose-v2", "docker-compose-plugin", "docker-compose"]
DNF_BASE = ["python3", "python3-pip", "python3-setuptools", "git", "zip", "nfs-utils", "python3-cryptography", "openssl"]
DNF_ENGINE = ["podman"]
#: rpm -> pip fallback when the rpm has no candidate (EPEL not enabled)
DNF_PIP_FALLBACK = {"python3-pexpect": "pexpect", "podman-compose": "podman-compose"}

_VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)")


def parse_tool_version(text: str) -> release.Version | None:
    """First x.y.z in ``docker --version`` / ``docker compose version`` / ``podman --version``."""
    match = _VERSION.search(text)
    if not match:
        return None
    major, minor, patch = (int(part) for part in match.groups())
    return (major, minor, patch)


def pep668_flags(stdlib_dir: str | None = None) -> list[str]:
    """``--break-system-packages`` where the system python is marked EXTERNALLY-MANAGED
    (Debian 12, Ubuntu 23.04+), nothing where it is not (Ubuntu 22.04, whose pip lacks the flag)."""
    stdlib_dir = stdlib_dir or sysconfig.get_path("stdlib")
    return ["--break-system-packages"] if os.path.exists(os.path.join(stdlib_dir, "EXTERNALLY-MANAGED")) else []


def docker_source_line(url: str, codename: str, arch: str) -> str:
    """The Docker apt source: always ``signed-by`` its key (never ``trusted=yes``)."""
    return f"deb [arch={arch} signed-by={DOCKER_KEYRING}] {url.rstrip('/')} {codename} stable\n"


#: what the fix says when the Docker repo's key cannot be had
DOCKER_REPO_FIX = (
    f"set {setting('dockerRepoUrl')} to an https repository that serves its signing key at <url>/gpg "
    "(Docker's: https://download.docker.com/linux/ubuntu, or a mirror of it), or to os for the OS's own packages"
)


class PermanentFailure(str):
    """A fetch answer that retrying will not change (HTTP 4xx)."""


#: how prepare's progress lines name a release line's extra steps (``ReleaseLine.prepare_extras``)
EXTRA_STEPS_SHOWN = {"python": "a python for CE's setup", "glusterfs": "GlusterFS"}


class Prepare:
    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx
        self.cfg = ctx.cfg
        self.line = ctx.line
        #: how CE's setup checks the pins, per ``line.setup_python`` (6.x pip-installs them into its own .cevenv, docs/ce-facts.md §4)
        self.check_pins: dict[str, Callable[[Sequence[str]], None]] = {
            "system": self.check_pins_like_setup, "ce-venv": lambda pins: None,
        }
        #: what a line's ``prepare_extras`` name
        self.extras: dict[str, Callable[[], None]] = {"python": self.ensure_python6, "glusterfs": self.ensure_gluster}
        self.os: OsInfo = read_os(ctx.env)
        self.changes: list[str] = []
        self.notes: list[str] = []
        self.pm: PackageManager
        if self.os.family == "debian":
            self.pm = Apt(ctx)
        elif self.os.family == "rhel":
            self.pm = Dnf(ctx)
        else:
            raise PhaseError(
                f"OS {self.os.id} {self.os.version_id} has no supported package manager",
                "run CE nodes on Ubuntu or RHEL",
            )

    # -- engine -------------------------------------------------------------------------------

    def engine_ok(self) -> bool:
        """Is a container engine with compose usable already (whatever installed it)?"""
        run = self.ctx.runner.run
        if self.os.family == "debian":
            if not self.ctx.runner.which("docker"):
                return False
            return run(["docker", "compose", "version"], timeout=60).ok
        if not self.ctx.runner.which("podman"):
            return False
        return bool(self.ctx.runner.which("podman-compose"))

    def check_engine_versions(self) -> None:
        run = self.ctx.runner.run
        if self.os.family == "debian":
            checks = [
                ("Docker", ["docker", "--version"], self.line.docker_min),
                ("docker compose", ["docker", "compose", "version"], self.line.compose_min),
            ]
        else:
            checks = [
                ("Podman", ["podman", "--version"], self.line.podman_min),
                ("podman-compose", ["podman-compose", "--version"], self.line.podman_compose_min),
            ]
        for label, argv, minimum in checks:
            result = run(argv, timeout=60)
            version = parse_tool_version(result.out + result.err) if result.ok else None
            if version is None:
                raise PhaseError(
                    f"{label} is not usable after install ({result.tail() or 'no version'})",
                    f"set {setting('dockerRepoUrl')} to Docker's apt repo (https://download.docker.com/linux/ubuntu) or a mirror of it",
                )
            if version < minimum:
                what = f"{label} {release.format_version(version)} is older than CE {self.line.major}.x needs ({release.format_version(minimum)})"
                if self.cfg.allow_undersized:
                    self.ctx.log.warn(what)
                    self.notes.append(f"warning: {what}")
                else:
                    raise PhaseError(
                        what,
                        f"set {setting('dockerRepoUrl')} to Docker's repo for a fresh node; on the standalone upgrade the engine first",
                    )

    def setup_docker_repo(self) -> bool:
        """Write the Docker apt source and its key for ``docker_repo_url``; True when changed.

        The key comes over https from ``<url>/gpg`` (where Docker documents it), dearmored into
        ``DOCKER_KEYRING``; the source names it with ``signed-by=``. No key, no source: an
        unsigned Docker repo is never written."""
        url = self.cfg.docker_repo_url.rstrip("/")
        if urllib.parse.urlsplit(url).scheme != "https":
            raise PhaseError(f"{setting('dockerRepoUrl')} {url} is not https: the Docker repo's signing key must come over https", DOCKER_REPO_FIX)
        arch_result = self.ctx.runner.run(["dpkg", "--print-architecture"], timeout=30)
        arch = arch_result.out.strip() or "amd64"
        codename = self.os.codename
        if not codename:
            raise PhaseError("os-release has no VERSION_CODENAME for the Docker repo", f"set {setting('dockerRepoUrl')} to os")
        key = self.fetch_key(f"{url}/gpg")
        changed = False
        keyring = self.ctx.env.host_path(DOCKER_KEYRING)
        if read_bytes(keyring) != key:
            write_atomic(keyring, key, 0o644)
            changed = True
        source = self.ctx.env.host_path(DOCKER_SOURCE)
        line = docker_source_line(url, codename, arch)
        if read_text(source, default="") != line:
            write_atomic(source, line, 0o644)
            changed = True
        return changed

    def unsigned_docker_source(self) -> bool:
        """Did an earlier version leave our Docker source ``trusted=yes``? (rewritten signed)"""
        return "trusted=yes" in read_text(self.ctx.env.host_path(DOCKER_SOURCE), default="")

    def fetch_key(self, url: str) -> bytes:
        """The repo's signing key (https), dearmored; a PhaseError naming the setting when it cannot be had."""

        def attempt() -> object:
            try:
                with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - https only (setup_docker_repo)
                    return response.read().decode("utf-8", "replace")
            except urllib.error.HTTPError as exc:
                return PermanentFailure(f"HTTP {exc.code}") if exc.code < 500 else exc
            except (urllib.error.URLError, OSError) as exc:
                return exc

        result = retry(
            attempt, attempts=3, delay=10, should_retry=lambda r: isinstance(r, Exception), log=self.ctx.log, what=f"GET {url}", sleep=self.ctx.sleep
        )
        if isinstance(result, (Exception, PermanentFailure)):
            raise PhaseError(f"cannot fetch the Docker repo's signing key {url} ({result})", DOCKER_REPO_FIX)
        try:
            return openpgp.dearmor(str(result))
        except ValueError as exc:
            raise PhaseError(f"{url} is not the Docker repo's signing key ({exc})", DOCKER_REPO_FIX) from None

    def engine_packages(self) -> list[str]:
        """The engine packages to install (call after the index update)."""
        if self.os.family == "rhel":
            wanted = list(DNF_ENGINE)
            for optional in ("podman-plugins", "podman-compose"):
                if self.pm.installed([optional]):
                    continue
                if self.pm.has_candidate(optional):
                    wanted.append(optional)
                elif optional == "podman-plugins":
                    self.ctx.log.warn("rpm podman-plugins not available: CE 5.x setup reports a failure without it")
                    self.notes.append("podman-plugins unavailable")
            return wanted
        if self.cfg.docker_repo_url:
            return list(APT_DOCKER_REPO)
        for candidate in APT_COMPOSE_CANDIDATES:
            if self.pm.has_candidate(candidate):
                return ["docker.io", candidate]
        raise PhaseError(
            "the OS archives have no compose v2 package (docker-compose-v2 / docker-compose-plugin)",
            f"set {setting('dockerRepoUrl')} to Docker's apt repo (https://download.docker.com/linux/ubuntu) or a mirror of it",
        )

    # -- steps --------------------------------------------------------------------------------

    def update_os(self) -> None:
        """Netskope's "update the OS and package managers", on a new node only, before its engine.

        Never on the adopted primary (a Docker upgrade restarts the standalone's CE), and never once
        a container engine runs (a re-run on a member would restart its CE containers, on every node
        at once): so a node is updated exactly while nothing of CE is on it yet. Nothing pending (a
        re-run after a failed engine install): no upgrade run."""
        if self.cfg.adopted:
            self.ctx.log.info("adopted primary: no OS update (a Docker restart there is a CE outage)")
            return
        if self.engine_ok():
            self.ctx.log.info("a container engine is there already: no OS update (it would restart CE's containers)")
            return
        self.pm.update()
        pending = self.pm.pending_upgrades()
        if not pending:
            self.ctx.log.info("no pending OS updates")
            return
        self.pm.upgrade()
        self.changes.append(f"OS updates ({pending} package(s))")

    def base_packages(self) -> list[str]:
        if self.os.family == "debian":
            return APT_BASE + list(self.line.extra_apt_packages)
        return DNF_BASE + ["python3-pexpect"]

    def _satisfied_by_pip(self, package: str) -> bool:
        """RHEL: an rpm we replaced by pip earlier (no rpm in the enabled repos) counts as present."""
        if self.os.family != "rhel":
            return False
        module = DNF_PIP_FALLBACK.get(package)
        return bool(module) and not unmet_requirements([str(module)])

    def install_packages(self) -> None:
        wanted = self.base_packages()
        installed = self.pm.installed(wanted)
        missing = sorted(p for p in wanted if p not in installed and not self._satisfied_by_pip(p))
        engine_missing = not self.engine_ok()
        docker_repo = self.os.family == "debian" and bool(self.cfg.docker_repo_url)
        if docker_repo and not engine_missing and self.unsigned_docker_source() and self.setup_docker_repo():
            self.changes.append("docker repo signed")
        if not missing and not engine_missing:
            self.ctx.log.info("all packages present")
            return
        if engine_missing:
            self.ctx.log.info("no usable container engine with compose: installing one")
            if docker_repo and self.setup_docker_repo():
                self.changes.append("docker repo")
        self.pm.update()
        pip_fallback: list[str] = []
        for package in list(missing):
            if self.os.family == "rhel" and package in DNF_PIP_FALLBACK and not self.pm.has_candidate(package):
                missing.remove(package)
                pip_fallback.append(DNF_PIP_FALLBACK[package])
        if engine_missing:
            engine = self.engine_packages()
            if self.os.family == "rhel" and "podman-compose" not in engine and not self.pm.installed(["podman-compose"]):
                pip_fallback.append("podman-compose")
            engine_installed = self.pm.installed(engine)
            missing = sorted(set(missing) | {p for p in engine if p not in engine_installed})
        if missing:
            self.pm.install(missing)
            self.changes.append(f"{len(missing)} package(s): {' '.join(missing)}")
        if pip_fallback:
            self.pip_install(pip_fallback, what="pip fallback")

    def enable_engine_service(self) -> None:
        if self.os.family != "debian":
            return
        systemctl = self.ctx.runner.which("systemctl")
        if not systemctl:
            self.ctx.log.warn("no systemctl: cannot enable docker.service")
            return
        run = self.ctx.runner.run
        enabled = run([systemctl, "is-enabled", "docker.service"], timeout=30).out.strip() == "enabled"
        active = run([systemctl, "is-active", "docker.service"], timeout=30).out.strip() == "active"
        if enabled and active:
            return
        result = run([systemctl, "enable", "--now", "docker.service"], timeout=300)
        if not result.ok:
            raise PhaseError(f"cannot start docker.service: {result.tail()}", "see `journalctl -u docker` on the node")
        self.changes.append("docker.service enabled")

    def pip_install(self, requirements: Sequence[str], what: str) -> None:
        argv = ["python3", "-m", "pip", "install", "--disable-pip-version-check", "--no-input", *pep668_flags()]
        if self.cfg.pip_index_url:
            argv += ["--index-url", self.cfg.pip_index_url]
        timeout = self.ctx.timeout("pip")

        def attempt(extra: Sequence[str] = ()) -> CommandResult:
            return self.ctx.runner.run([*argv, *extra, *requirements], timeout=timeout)

        result = retry(
            attempt,
            attempts=3,
            delay=10,
            should_retry=lambda r: not r.ok and bool(PIP_TRANSIENT.search(r.out + r.err)),
            log=self.ctx.log,
            what="pip install",
            sleep=self.ctx.sleep,
        )
        if not result.ok and re.search(r"Cannot uninstall|distutils installed project|RECORD file not found", result.out + result.err):
            # Ubuntu 22.04: apt's PyYAML cannot be uninstalled by pip; install over it instead.
            result = attempt(["--ignore-installed"])
        if not result.ok:
            raise PhaseError(
                f"pip install {' '.join(requirements)} failed: {result.tail()}",
                f"check the node's access to PyPI or set {setting('pipIndexUrl')} to a mirror",
            )
        self.changes.append(f"{what}: {' '.join(requirements)}")

    def install_pins(self) -> None:
        pins = list(self.line.python_pins)
        unmet = unmet_requirements(pins)
        if not unmet:
            self.ctx.log.info("python pins satisfied")
            return
        self.pip_install(unmet, what="pip pins")
        still = unmet_requirements(pins)
        if still:
            raise PhaseError(
                f"python pins still unmet after pip install: {' '.join(still)}",
                "see /var/log/cloud-exchange-ha/prepare.log (pip installed into another python?)",
            )
        self.check_pins[self.line.setup_python](pins)

    def check_pins_like_setup(self, pins: Sequence[str]) -> None:
        """CE 5.x checks the pins with pkg_resources (setuptools) in the system python (docs/ce-facts.md §4)."""
        check = self.ctx.runner.run(["python3", "-c", "import sys, pkg_resources; pkg_resources.require(sys.argv[1:])", *pins], timeout=60)
        if not check.ok:
            raise PhaseError(f"CE's pkg_resources check of the pins fails: {check.tail()}", "install python3-setuptools on the node")

    def disable_selinux(self) -> None:
        """RHEL: SELinux permissive at once (``setenforce 0``: CE keeps running) and disabled from the
        next boot (``selinux`` names the settings); what is set already is left alone. A reboot is
        then pending, said in the summary (CE's setup refuses SELinux until then; ``stop`` waits)."""
        if self.os.family != "rhel":
            return
        state = selinux.read_state(self.ctx, self.os)
        run = self.ctx.runner.run
        if selinux.CONFIG_SETTING in state.boot_missing:
            config = self.ctx.env.host_path(selinux.CONFIG)
            write_atomic(config, selinux.rewrite_config(read_text(config, default=""))[0], 0o644)
            self.changes.append("SELINUX=disabled (next boot)")
        if selinux.KERNEL_SETTING in state.boot_missing:
            fix = f"add {selinux.KERNEL_ARG} to the kernel command line by hand (grubby --update-kernel ALL --args {selinux.KERNEL_ARG})"
            if not self.ctx.runner.which("grubby"):
                what = f"RHEL {self.os.version_id} needs the kernel argument {selinux.KERNEL_ARG} to disable SELinux, and grubby is missing"
                raise PhaseError(what, fix)
            result = run(["grubby", "--update-kernel", "ALL", "--args", selinux.KERNEL_ARG], timeout=120)
            if not result.ok:
                raise PhaseError(f"grubby failed: {result.tail()}", fix)
            self.changes.append(f"kernel argument {selinux.KERNEL_ARG} (next boot)")
        if state.mode == selinux.ENFORCING:
            result = run(["setenforce", "0"], timeout=30)
            if not result.ok:
                raise PhaseError(f"setenforce 0 failed: {result.tail()}", "run `setenforce 0` on the node as root and see its message")
            self.changes.append("setenforce 0 (permissive now)")
        if state.enabled:
            self.notes.append("REBOOT PENDING: SELinux is permissive until the node reboots, disabled after; CE keeps running meanwhile, "
                              "but CE's setup refuses SELinux until then (the cutover's stop waits for the reboot)")

    # -- CE 6.x: its own python, GlusterFS ------------------------------------------------------

    def ensure_python6(self) -> None:
        """An interpreter >= python_min with venv, ensurepip and pip for CE's setup (docs/ce-facts.md §1.7, §4)."""
        from .. import ce6

        best, _ = ce6.find_python(self.ctx, self.line.python_min)
        if best is None or not best.usable:
            wanted: list[str] = []
            if best is None:  # Ubuntu 22.04 (3.10), RHEL 9 (3.9): the distribution's 3.11
                wanted = ["python3.11", "python3.11-venv"] if self.os.family == "debian" else ["python3.11", "python3.11-pip"]
            else:
                name = os.path.basename(best.path)
                if not best.venv:
                    wanted.append("python3-venv" if name == "python3" else f"{name}-venv")
                if not best.pip:
                    wanted.append("python3-pip" if name == "python3" else (f"{name}-pip" if self.os.family == "rhel" else "python3-pip"))
            missing = sorted(p for p in wanted if p not in self.pm.installed(wanted))
            if missing:
                self.pm.update()
                self.pm.install(missing)
                self.changes.append(f"python for CE 6.x: {' '.join(missing)}")
            best, seen = ce6.find_python(self.ctx, self.line.python_min)
            if best is None or not best.usable:
                shown = ", ".join(p.shown for p in seen) or "none"
                raise PhaseError(
                    f"no python >= {release.format_version(self.line.python_min)} with venv, ensurepip and pip after install (found {shown})",
                    "install python3.11 or later with its venv and pip packages on the node",
                )
        self.ctx.log.info(f"CE's setup will run with {best.path} ({best.shown})")

    def gluster_version(self) -> str | None:
        """``glusterfs X.Y`` when both ``gluster --version`` and ``glusterfs --version`` work, else None."""
        found = ""
        for tool in ("gluster", "glusterfs"):
            if not self.ctx.runner.which(tool):
                return None
            result = self.ctx.runner.run([tool, "--version"], timeout=60)
            if not result.ok:
                return None
            match = re.search(r"glusterfs\s+(\d+(?:\.\d+)*)", result.out)
            found = match.group(1) if match else found
        return found or "unknown version"

    def ensure_gluster(self) -> None:
        """GlusterFS on every node. CE's own setup installs glusterfs-11 from the gluster PPA, but only
        on the primary and only when it is missing (docs/ce-facts.md §2.2); this installs the OS package
        ``glusterfs-server`` everywhere first (Ubuntu 24.04: 11.x), so all nodes run the same
        version. Whatever is there already (CE's install, one put there by hand) is kept."""
        version = self.gluster_version()
        if version is None:
            packages = ["glusterfs-server"] if self.os.family == "debian" else ["glusterfs-server", "glusterfs-fuse"]
            self.pm.update()
            self.pm.install(packages)
            self.changes.append(f"GlusterFS (OS package {' '.join(packages)})")
            version = self.gluster_version()
            if version is None:
                raise PhaseError(
                    "gluster/glusterfs --version still fail after installing glusterfs-server",
                    "see /var/log/cloud-exchange-ha/prepare.log; on RHEL enable the CentOS Storage SIG gluster-11 repository",
                )
        self.ctx.log.info(f"GlusterFS {version} (all nodes must run the same major version; compare the nodes' prepare lines)")
        self.notes.append(f"glusterfs {version}")

    def run(self) -> PhaseResult:
        steps: list[tuple[str, Callable[[], object]]] = [
            ("updating the OS (new node, before its container engine)", self.update_os),
            ("installing packages and the container engine", self.install_packages),
            ("checking the container engine's versions", self.check_engine_versions),
            ("enabling the container engine's service", self.enable_engine_service),
            ("installing CE's python pins", self.install_pins),
        ]
        steps += [(EXTRA_STEPS_SHOWN.get(extra, extra), self.extras[extra]) for extra in self.line.prepare_extras]
        steps.append(("SELinux", self.disable_selinux))
        for number, (what, step) in enumerate(steps, 1):
            self.ctx.progress(what, number, len(steps))
            step()
        parts = self.changes + self.notes
        status = "changed" if self.changes else "unchanged"
        return PhaseResult(status, "; ".join(parts) if parts else f"{self.os.id} {self.os.version_id}: everything present")


def run(ctx: Ctx) -> PhaseResult:
    return Prepare(ctx).run()
