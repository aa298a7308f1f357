"""Package managers behind one small interface: apt (Debian/Ubuntu) and dnf (RHEL family).

Owns: asking what is installed (dpkg-query / rpm, no network), whether a package has an install
candidate, refreshing indexes, installing with bounded retries on transient failures, the OS's
pending updates (``apt-get -s full-upgrade`` / ``dnf check-update``) and installing them
non-interactively (``apt-get full-upgrade`` keeping changed config files / ``dnf upgrade``), and the
pip-requirement check used for CE's Python pins (importlib.metadata).

The requirement check is a small hand parser, not ``packaging``, on purpose: ``prepare`` runs it on
a bare python3 before anything is installed (it decides what pip must install), and ``packaging``
is not part of every OS's python3. It knows ``== != >= <= > <`` with plain release numbers and
compares release numbers only: pre-, post- and dev-release parts are ignored (``4.7.3.post1``
counts as ``4.7.3``, so it satisfies ``<=4.7.3``, where PEP 440 would say no), which is what CE's
own check of these pins does. The controller side and phases after ``prepare`` use ``packaging``.

Must not touch: package sources (prepare writes the Docker repo), services, SELinux.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence

from .system import CommandResult, Ctx, PhaseError, retry

#: apt/dnf output that says "try again later" (network, mirror sync, lock)
TRANSIENT = re.compile(
    r"Could not get lock|Temporary failure|Failed to fetch|Hash Sum mismatch|Unable to fetch|"
    r"Connection (timed out|refused|reset)|Could not resolve|Cannot download|Curl error|"
    r"Cannot retrieve|Errors during downloading|timed out|is another process using it",
    re.IGNORECASE,
)
#: pip output that says "try again later"
PIP_TRANSIENT = re.compile(r"ReadTimeout|Connection(Error| broken| reset)|Temporary failure|Max retries|timed out", re.I)


class PackageManager:
    name = ""

    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx
        self.updated = False

    def installed(self, packages: Iterable[str]) -> set[str]:
        raise NotImplementedError

    def has_candidate(self, package: str) -> bool:
        raise NotImplementedError

    def update(self) -> None:
        raise NotImplementedError

    def install(self, packages: Sequence[str]) -> None:
        raise NotImplementedError

    def pending_upgrades(self) -> int:
        """How many packages the OS's full upgrade would change (call after ``update``); no change made."""
        raise NotImplementedError

    def upgrade(self) -> None:
        """Install the OS's pending updates, non-interactively (bounded by ``timeouts.upgrade``)."""
        raise NotImplementedError

    def _run_retrying(self, argv: list[str], what: str, env: dict[str, str] | None = None, timeout_key: str = "apt") -> CommandResult:
        timeout = self.ctx.timeout(timeout_key)
        result = retry(
            lambda: self.ctx.runner.run(argv, timeout=timeout, env=env),
            attempts=3,
            delay=15,
            should_retry=lambda r: not r.ok and bool(TRANSIENT.search(r.out + r.err)),
            log=self.ctx.log,
            what=what,
            sleep=self.ctx.sleep,
        )
        return result


def parse_dpkg_query(text: str) -> set[str]:
    """``pkg\\tii `` lines (dpkg-query -W -f='${Package}\\t${db:Status-Abbrev}\\n') -> installed."""
    out = set()
    for line in text.splitlines():
        name, _, status = line.partition("\t")
        if status.startswith("ii"):
            out.add(name.split(":")[0].strip())
    return out


#: apt-get's plan line: "N upgraded, M newly installed, K to remove and L not upgraded."
_APT_PLAN = re.compile(r"^(\d+) upgraded, (\d+) newly installed, (\d+) to remove", re.MULTILINE)


def parse_apt_plan(text: str) -> int | None:
    """``apt-get -s full-upgrade`` output -> packages it would upgrade, install or remove; None without a plan line."""
    match = _APT_PLAN.search(text)
    return None if match is None else sum(int(n) for n in match.groups())


def parse_dnf_check_update(text: str) -> int:
    """``dnf -q check-update`` output (rc 100) -> how many packages have an update (``name.arch version repo`` lines)."""
    count = 0
    for line in text.splitlines():
        if line.startswith("Obsoleting"):
            break
        if len(line.split()) == 3 and "." in line.split()[0]:
            count += 1
    return count


def parse_apt_candidate(text: str) -> str | None:
    """``apt-cache policy pkg`` -> the candidate version, None for "(none)" or unknown package."""
    for line in text.splitlines():
        key, _, value = line.strip().partition(":")
        if key == "Candidate":
            value = value.strip()
            return None if value in ("", "(none)") else value
    return None


class Apt(PackageManager):
    name = "apt"
    ENV = {"DEBIAN_FRONTEND": "noninteractive", "NEEDRESTART_MODE": "a", "NEEDRESTART_SUSPEND": "1"}
    LOCK = ["-o", "DPkg::Lock::Timeout=600"]

    def installed(self, packages: Iterable[str]) -> set[str]:
        names = sorted(set(packages))
        if not names:
            return set()
        result = self.ctx.runner.run(["dpkg-query", "-W", "-f=${Package}\\t${db:Status-Abbrev}\\n", *names], timeout=60, log_output=False)
        found = parse_dpkg_query(result.out)
        self.ctx.log.info(f"  installed: {', '.join(sorted(found)) or '-'}")
        return found

    def has_candidate(self, package: str) -> bool:
        result = self.ctx.runner.run(["apt-cache", "policy", package], timeout=60)
        return parse_apt_candidate(result.out) is not None

    def update(self) -> None:
        if self.updated:
            return
        result = self._run_retrying(["apt-get", *self.LOCK, "update"], "apt-get update", env=self.ENV)
        if not result.ok:
            raise PhaseError(
                f"apt-get update failed: {result.tail()}",
                "check the node's outbound access to its apt mirrors (and cloud-exchange-ha:dockerRepoUrl if set)",
            )
        self.updated = True

    def install(self, packages: Sequence[str]) -> None:
        argv = [
            "apt-get", *self.LOCK, "-y",
            "-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold",
            "install", *packages,
        ]  # fmt: skip
        result = self._run_retrying(argv, "apt-get install", env=self.ENV)
        if not result.ok:
            raise PhaseError(
                f"apt-get install {' '.join(packages)} failed: {result.tail()}",
                "see /var/log/cloud-exchange-ha/prepare.log; check the node's apt sources",
            )


    def pending_upgrades(self) -> int:
        result = self.ctx.runner.run(["apt-get", *self.LOCK, "-s", "full-upgrade"], timeout=300, env=self.ENV, log_output=False)
        pending = parse_apt_plan(result.out)
        if not result.ok or pending is None:
            raise PhaseError(
                f"apt-get -s full-upgrade failed: {result.tail()}", "see /var/log/cloud-exchange-ha/prepare.log; check the node's apt sources"
            )
        return pending

    def upgrade(self) -> None:
        argv = [
            "apt-get", *self.LOCK, "-y",
            "-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold",
            "full-upgrade",
        ]  # fmt: skip
        result = self._run_retrying(argv, "apt-get full-upgrade", env=self.ENV, timeout_key="upgrade")
        if not result.ok:
            raise PhaseError(
                f"apt-get full-upgrade failed: {result.tail()}",
                "see /var/log/cloud-exchange-ha/prepare.log; check the node's apt sources (`sudo apt-get full-upgrade` shows the problem)",
            )


def parse_rpm_query(text: str, wanted: Iterable[str]) -> set[str]:
    """``rpm -q --qf '%{NAME}\\n' a b`` prints names of installed ones, a sentence for others."""
    wanted_set = set(wanted)
    return {line.strip() for line in text.splitlines() if line.strip() in wanted_set}


class Dnf(PackageManager):
    name = "dnf"

    def _exe(self) -> str:
        return "dnf" if self.ctx.runner.which("dnf") else "yum"

    def installed(self, packages: Iterable[str]) -> set[str]:
        names = sorted(set(packages))
        if not names:
            return set()
        result = self.ctx.runner.run(["rpm", "-q", "--qf", "%{NAME}\\n", *names], timeout=60, log_output=False)
        found = parse_rpm_query(result.out, names)
        self.ctx.log.info(f"  installed: {', '.join(sorted(found)) or '-'}")
        return found

    def has_candidate(self, package: str) -> bool:
        return self.ctx.runner.run([self._exe(), "-q", "info", package], timeout=300).ok

    def update(self) -> None:
        if self.updated:
            return
        result = self._run_retrying([self._exe(), "-y", "makecache"], "dnf makecache")
        if not result.ok:
            raise PhaseError(f"dnf makecache failed: {result.tail()}", "check the node's repositories and outbound access")
        self.updated = True

    def pending_upgrades(self) -> int:
        # rc 100: updates listed; 0: none; anything else: dnf could not tell
        result = self.ctx.runner.run([self._exe(), "-q", "check-update"], timeout=300, log_output=False)
        if result.rc == 0:
            return 0
        if result.rc != 100:
            raise PhaseError(f"dnf check-update failed: {result.tail()}", "check the node's repositories and outbound access")
        return max(1, parse_dnf_check_update(result.out))

    def upgrade(self) -> None:
        result = self._run_retrying([self._exe(), "-y", "upgrade"], "dnf upgrade", timeout_key="upgrade")
        if not result.ok:
            raise PhaseError(f"dnf upgrade failed: {result.tail()}", "see /var/log/cloud-exchange-ha/prepare.log; check the node's repositories")

    def install(self, packages: Sequence[str]) -> None:
        result = self._run_retrying([self._exe(), "-y", "install", *packages], "dnf install")
        if not result.ok:
            raise PhaseError(
                f"dnf install {' '.join(packages)} failed: {result.tail()}",
                "see /var/log/cloud-exchange-ha/prepare.log; enable the needed repositories (EPEL for podman-compose)",
            )


# ----------------------------------------------------------------------------- pip requirements

_REQ = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(.*)$")
_SPEC = re.compile(r"^\s*(==|!=|>=|<=|>|<)\s*([0-9][0-9A-Za-z.+-]*)\s*$")


def parse_requirement(text: str) -> tuple[str, list[tuple[str, str]]]:
    """``python-dotenv>=0.20.0,<=1.0.0`` -> ("python-dotenv", [(">=", "0.20.0"), ("<=", "1.0.0")])."""
    match = _REQ.match(text)
    if not match:
        raise ValueError(f"not a requirement: {text!r}")
    name, rest = match.groups()
    specs = []
    for part in filter(None, (p.strip() for p in rest.split(","))):
        spec = _SPEC.match(part)
        if not spec:
            raise ValueError(f"unsupported version spec {part!r} in {text!r}")
        specs.append((spec.group(1), spec.group(2)))
    return name, specs


def version_key(text: str) -> tuple[int, ...]:
    """Release numbers of a version string (``4.7.3``, ``6.0.1``, ``1.0.0.post1`` -> (1, 0, 0))."""
    out = []
    for piece in re.split(r"[.+-]", text):
        if not piece.isdigit():
            break
        out.append(int(piece))
    while len(out) > 1 and out[-1] == 0:
        out.pop()
    return tuple(out)


def satisfies(version: str, specs: Sequence[tuple[str, str]]) -> bool:
    have = version_key(version)
    for op, wanted_text in specs:
        wanted = version_key(wanted_text)
        ok = {
            "==": have == wanted,
            "!=": have != wanted,
            ">=": have >= wanted,
            "<=": have <= wanted,
            ">": have > wanted,
            "<": have < wanted,
        }[op]
        if not ok:
            return False
    return True


def _installed_version(name: str) -> str | None:
    """The version the running python3 sees for a distribution (fresh look after pip ran)."""
    import importlib
    import importlib.metadata

    importlib.invalidate_caches()
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def unmet_requirements(pins: Sequence[str], lookup: Callable[[str], str | None] | None = None) -> list[str]:
    """The pins not satisfied by what the running python3 can import (its own metadata)."""
    find = lookup or _installed_version
    missing = []
    for pin in pins:
        name, specs = parse_requirement(pin)
        version = find(name)
        if version is None or not satisfies(version, specs):
            missing.append(pin)
    return missing
