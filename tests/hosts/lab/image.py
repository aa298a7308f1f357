"""The golden Debian 12 image every lab host boots from, built once and cached.

Owns ``<cache>/images/<key>/rootfs``: debootstrap --variant=minbase of bookworm plus sshd, sudo,
python3 and systemd, a user ``ubuntu`` with passwordless sudo, no sshd host keys (a unit runs
``ssh-keygen -A`` at boot), no apt sources (each lab points its hosts at its own mirror), and the
oneshot unit that remounts the cgroup controllers read-write before docker starts. The key is a hash
of the ImageSpec and of this file, so a change to either builds a new image; an existing one is reused.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

from ._util import CACHE_ROOT, LabError, digest, file_lock, log, rmtree, run, which

BASE_PACKAGES: tuple[str, ...] = (
    "openssh-server",
    "iproute2",
    "ca-certificates",
    "sudo",
    "python3",
    "systemd",
    "systemd-sysv",
    "dbus",
    "libpam-systemd",
)

SSH_HOSTKEYS_UNIT = """\
[Unit]
Description=ce-ha-lab: generate this host's sshd host keys
Before=ssh.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=ssh.service
"""

CGROUP_RW_UNIT = """\
[Unit]
Description=ce-ha-lab: remount cgroup controllers read-write (systemd-nspawn mounts them read-only)
DefaultDependencies=no
After=local-fs.target
Before=containerd.service docker.service sysinit.target

[Service]
Type=oneshot
RemainAfterExit=yes
# remount,bind changes only this mount's flag (a superblock remount races with systemd: EBUSY)
ExecStart=/bin/sh -c 'for d in /sys/fs/cgroup /sys/fs/cgroup/*; do mountpoint -q "$d" || continue; \
  mount -o remount,bind,rw "$d" || mount -o remount,rw "$d"; done; true'

[Install]
WantedBy=sysinit.target
"""

SSHD_CONFIG = """\
# ce-ha-lab
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
"""


@dataclasses.dataclass(frozen=True)
class ImageSpec:
    """What goes into the golden image; every field is part of the cache key."""

    suite: str = "bookworm"
    mirror: str = "http://deb.debian.org/debian"
    packages: tuple[str, ...] = BASE_PACKAGES
    user: str = "ubuntu"

    def key(self) -> str:
        return digest(dataclasses.asdict(self), Path(__file__))


@dataclasses.dataclass(frozen=True)
class Image:
    """A built image: ``rootfs`` is read-only by convention (hosts get an overlay on top)."""

    key: str
    rootfs: Path
    build_seconds: float
    cached: bool
    spec: ImageSpec


def _write(root: Path, rel: str, text: str, mode: int = 0o644) -> None:
    path = root / rel.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink() or path.exists():
        path.unlink()
    path.write_text(text)
    os.chmod(path, mode)


def _enable(root: Path, unit: str, wanted_by: str) -> None:
    wants = root / "etc/systemd/system" / f"{wanted_by}.wants"
    wants.mkdir(parents=True, exist_ok=True)
    link = wants / unit
    if not link.is_symlink():
        link.symlink_to(f"/etc/systemd/system/{unit}")


def _mask(root: Path, unit: str) -> None:
    link = root / "etc/systemd/system" / unit
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to("/dev/null")


def _customise(root: Path, spec: ImageSpec) -> None:
    user = spec.user
    run(["chroot", root, "useradd", "--create-home", "--shell", "/bin/bash", "--groups", "sudo", user])
    # '*' = no password login possible, but not a "locked" account (sshd would refuse pubkey for '!')
    run(["chroot", root, "usermod", "--password", "*", user])
    _write(root, f"/etc/sudoers.d/90-{user}", f"{user} ALL=(ALL) NOPASSWD:ALL\n", 0o440)
    _write(root, "/etc/ssh/sshd_config.d/ce-ha-lab.conf", SSHD_CONFIG)
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    _write(root, "/etc/systemd/system/ssh-hostkeys.service", SSH_HOSTKEYS_UNIT)
    _enable(root, "ssh-hostkeys.service", "ssh.service")
    # a user manager (started by pam_systemd at ssh login) that is asked to stop while still
    # starting hangs for its 90 s stop timeout; poweroff of a lab host should take ~0.5 s
    _write(root, "/etc/systemd/system/user@.service.d/ce-ha-lab.conf", "[Service]\nTimeoutStopSec=3s\n")
    _write(root, "/etc/systemd/system/cgroup-rw.service", CGROUP_RW_UNIT)
    _enable(root, "cgroup-rw.service", "sysinit.target")
    # sshd must start at boot (postinst in a chroot normally enables it; make sure)
    _enable_by_path(root, "/lib/systemd/system/ssh.service", "multi-user.target")
    # nothing to log in on the read-only console; no background apt runs taking the dpkg lock
    for unit in (
        "console-getty.service",
        "getty@tty1.service",
        "systemd-firstboot.service",
        "apt-daily.timer",
        "apt-daily-upgrade.timer",
        "apt-daily.service",
        "apt-daily-upgrade.service",
    ):
        _mask(root, unit)
    # identity is per host: machine-id empty => systemd makes a random one at each boot
    _write(root, "/etc/machine-id", "")
    dbus_id = root / "var/lib/dbus/machine-id"
    if dbus_id.exists() or dbus_id.is_symlink():
        dbus_id.unlink()
    for rel in ("/etc/hostname",):
        p = root / rel.lstrip("/")
        if p.exists():
            p.unlink()
    _write(root, "/etc/resolv.conf", "# ce-ha-lab: no DNS in the lab\n")
    # no apt sources: each lab writes its own [trusted=yes] mirror source into its hosts
    _write(root, "/etc/apt/sources.list", "")
    for f in (root / "etc/apt/sources.list.d").glob("*"):
        f.unlink()
    _write(root, "/etc/apt/apt.conf.d/99ce-ha-lab", 'APT::Install-Recommends "false";\nAcquire::Languages "none";\n')
    run(["chroot", root, "apt-get", "clean"])
    for f in (root / "var/lib/apt/lists").glob("*"):
        if f.is_file():
            f.unlink()


def _enable_by_path(root: Path, target: str, wanted_by: str) -> None:
    if not (root / target.lstrip("/")).exists():
        raise LabError(f"image has no {target}")
    wants = root / "etc/systemd/system" / f"{wanted_by}.wants"
    wants.mkdir(parents=True, exist_ok=True)
    link = wants / Path(target).name
    if not link.is_symlink():
        link.symlink_to(target)


def build_image(spec: ImageSpec | None = None, cache_root: Path = CACHE_ROOT) -> Image:
    """Return the cached image for ``spec``, building it first if needed (about a minute, cold)."""
    spec = spec or ImageSpec()
    if which("debootstrap") is None:
        raise LabError("debootstrap is not installed (apt-get install debootstrap)")
    key = spec.key()
    dest = cache_root / "images" / key
    t0 = time.monotonic()
    with file_lock(cache_root / "locks" / f"image-{key}.lock"):
        if (dest / ".complete").exists():
            return Image(key, dest / "rootfs", time.monotonic() - t0, True, spec)
        tmp = cache_root / "images" / f"{key}.tmp"
        rmtree(tmp)
        rmtree(dest)
        tmp.mkdir(parents=True)
        rootfs = tmp / "rootfs"
        log.info("building golden image %s (debootstrap %s)", key, spec.suite)
        run(
            [
                "debootstrap",
                "--variant=minbase",
                "--components=main",
                "--include=" + ",".join(spec.packages),
                spec.suite,
                rootfs,
                spec.mirror,
            ],
            timeout=900,
        )
        _customise(rootfs, spec)
        (tmp / ".complete").write_text(time.strftime("%Y-%m-%dT%H:%M:%S\n"))
        os.rename(tmp, dest)
        return Image(key, dest / "rootfs", time.monotonic() - t0, False, spec)


def prune_images(keep: str, cache_root: Path = CACHE_ROOT) -> list[Path]:
    """Delete cached images other than ``keep`` (not called automatically)."""
    removed = []
    for d in (cache_root / "images").glob("*"):
        if d.name != keep and d.is_dir():
            rmtree(d)
            removed.append(d)
    return removed


__all__ = ["BASE_PACKAGES", "Image", "ImageSpec", "build_image", "prune_images"]
