"""Phase ``bricks`` (6.x): the node's brick file system, glusterd's ports, glusterd running.

Owns (docs/ce-facts.md §1.9 B.1, §2.2): with ``brick_volume_id`` the attached EBS volume (by-id link of the
volume, else ``/dev/sdf`` / ``/dev/xvdf``) gets a file system ONLY when ``blkid`` finds none
(xfs when ``mkfs.xfs`` exists, else ext4), one marked ``/etc/fstab`` line by UUID
(``defaults,nofail,x-systemd.device-timeout=30``) and is mounted at ``/opt/shared/gluster``; with
``brick_volume_id`` "" the bricks stay on the root disk (said in the summary). Then the
management block of ``glusterd.vol`` gets ``transport.socket.listen-port 24007``, ``base-port
24009`` and ``max-port 24029`` (from the release's port table, written only when different),
glusterd is enabled and started (``systemctl enable --now glusterd``; restarted when the ports
changed; without a systemd unit for it (a GlusterFS installed from source), ``glusterd`` is run
directly), and the brick folder and ``/opt/shared/data`` exist.

Must not touch: ``/opt/shared/data`` beyond creating the folder (it is the GlusterFS mount point,
docs/ce-facts.md §2.2: never mounted here), a device that already has a file system or partitions (never
formatted), fstab lines it did not write (another line for the brick folder is refused), the GlusterFS volume (CE's setup creates it).
A brick folder left by a dead predecessor (content, but no volume known to this node's glusterd) is
moved aside to ``<brick>.predecessor-<UTC time>``, never deleted (docs/ce-lifecycle.md §5.3).
"""

from __future__ import annotations

import os
import shutil
import time

from .. import gluster, lines
from ..mounts import ForeignFstabLine, fstab_escape, parse_mountinfo, rewrite_fstab
from ..system import CommandTimeout, Ctx, PhaseError, PhaseResult, read_text, retry, write_atomic

FSTAB = "/etc/fstab"
FSTAB_OPTIONS = "defaults,nofail,x-systemd.device-timeout=30"
FS_LABEL = "ce-bricks"
#: mkfs of an empty EBS volume takes seconds (lazy init); with the device wait it stays below the step's 600 s
MKFS_TIMEOUT = 300


def device_candidates(volume_id: str, facts: lines.GlusterFacts) -> list[str]:
    """Where the attached volume shows up: Nitro's NVMe by-id link (serial = id without the dash), then the names."""
    serial = volume_id.replace("-", "")
    names = [f"/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_{serial}", facts.brick_device]
    if facts.brick_device.startswith("/dev/sd"):
        names.append("/dev/xvd" + facts.brick_device[len("/dev/sd") :])
    return names


def parse_blkid(text: str) -> dict[str, str]:
    """``blkid -o export DEV`` -> {TYPE, UUID, PTTYPE, ...}."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep:
            values[key] = value
    return values


def fstab_line(uuid: str, mountpoint: str, fstype: str) -> str:
    return f"UUID={uuid} {fstab_escape(mountpoint)} {fstype} {FSTAB_OPTIONS} 0 2"


class Bricks:
    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx
        self.cfg = ctx.cfg
        self.facts = gluster.layout(ctx)
        self.changes: list[str] = []
        self.notes: list[str] = []

    # -- the brick file system ----------------------------------------------------------------

    def find_device(self) -> str:
        candidates = device_candidates(self.cfg.brick_volume_id, self.facts)
        found = retry(
            lambda: next((name for name in candidates if os.path.exists(self.ctx.env.host_path(name))), None),
            should_retry=lambda name: name is None,
            log=self.ctx.log,
            what="brick volume",
            delay=5,
            budget=self.ctx.timeout("device"),
            sleep=self.ctx.sleep,
            clock=self.ctx.clock,
            on_retry=lambda _, __: self.ctx.progress(f"waiting for the brick volume at {' / '.join(candidates)}"),
        )
        if found is None:
            raise PhaseError(
                f"the brick volume {self.cfg.brick_volume_id} is not attached here (none of {', '.join(candidates)})",
                "check the volume attachment of this node in the stack (pulumi up attaches it before this phase)",
            )
        return found

    def blkid(self, device: str) -> dict[str, str]:
        result = self.ctx.runner.run(["blkid", "-p", "-o", "export", device], timeout=60)
        if result.rc == 2 and not result.out.strip():  # blkid: nothing found = no file system, no partition table
            return {}
        if not result.ok:
            raise PhaseError(f"blkid {device} failed: {result.tail()}", "look at the device on the node (lsblk -f)")
        return parse_blkid(result.out)

    def make_fs(self, device: str) -> str:
        if self.ctx.runner.which("mkfs.xfs"):
            fstype, argv = "xfs", ["mkfs.xfs", "-q", "-L", FS_LABEL, device]
        else:
            fstype, argv = "ext4", ["mkfs.ext4", "-q", "-L", FS_LABEL, device]
        try:
            result = self.ctx.runner.run(argv, timeout=MKFS_TIMEOUT)
        except CommandTimeout:
            raise PhaseError(f"{argv[0]} {device} did not finish within {MKFS_TIMEOUT} s", "look at the device on the node") from None
        if not result.ok:
            raise PhaseError(f"{argv[0]} {device} failed: {result.tail()}", "look at the device on the node (lsblk -f)")
        self.changes.append(f"{fstype} file system on {device}")
        return fstype

    def ensure_brick_fs(self) -> None:
        mountpoint = self.facts.brick_fs_dir
        if not self.cfg.brick_volume_id:
            self.notes.append("bricks on the root disk (no brick_volume_id)")
            os.makedirs(mountpoint, exist_ok=True)
            return
        device = self.find_device()
        real = os.path.realpath(self.ctx.env.host_path(device))
        found = self.blkid(device)
        if found.get("PTTYPE") and not found.get("TYPE"):
            raise PhaseError(
                f"{device} ({self.cfg.brick_volume_id}) has a partition table and no file system: not formatting it",
                "give the node an empty volume for the bricks (or remove the partitions yourself)",
            )
        fstype = found.get("TYPE", "")
        if not fstype:
            fstype = self.make_fs(device)
            found = self.blkid(device)
        uuid = found.get("UUID", "")
        if not uuid:
            raise PhaseError(f"{device} has a {fstype} file system without a UUID", "look at the device on the node (blkid)")
        self.ensure_fstab(fstab_line(uuid, mountpoint, fstype), mountpoint)
        mounts = parse_mountinfo(read_text(self.ctx.env.host_path("/proc/self/mountinfo"), default=""))
        entry = mounts.get(os.path.normpath(mountpoint))
        if entry is not None:
            source = entry[1]
            if os.path.realpath(self.ctx.env.host_path(source)) != real and f"UUID={uuid}" != source:
                raise PhaseError(
                    f"{mountpoint} is mounted from {source}, not the brick volume {device} ({self.cfg.brick_volume_id})",
                    f"unmount {mountpoint} on the node and run this phase again",
                )
            return
        os.makedirs(mountpoint, exist_ok=True)
        if os.listdir(mountpoint):
            self.ctx.log.warn(f"{mountpoint} is not empty before mounting the brick volume: its content is hidden by the mount")
        result = self.ctx.runner.run(["mount", "-t", fstype, f"UUID={uuid}", mountpoint], timeout=120)
        if not result.ok:
            raise PhaseError(f"mount {device} at {mountpoint} failed: {result.tail()}", "look at the device on the node (dmesg, lsblk -f)")
        self.changes.append(f"mounted {self.cfg.brick_volume_id} at {mountpoint}")

    def ensure_fstab(self, line: str, mountpoint: str) -> None:
        path = self.ctx.env.host_path(FSTAB)
        try:
            new, changed = rewrite_fstab(read_text(path, default=""), line, mountpoint)
        except ForeignFstabLine as foreign:
            raise PhaseError(
                f"{foreign}; not changing it",
                f"remove or comment out that line in {FSTAB} (CE fixes {mountpoint}; the bricks phase writes its own line)",
            ) from None
        if not changed:
            return
        if os.path.exists(path):
            shutil.copy2(path, path + ".cloud-exchange-ha.bak")
        write_atomic(path, new, 0o644)
        self.ctx.log.info(f"fstab: {line}")
        self.changes.append("fstab")
        systemctl = self.ctx.runner.which("systemctl")
        if systemctl:
            self.ctx.runner.run([systemctl, "daemon-reload"], timeout=120)

    # -- glusterd -----------------------------------------------------------------------------

    def require_glusterfs(self) -> None:
        for tool in ("gluster", "glusterd"):
            if not self.ctx.runner.which(tool):
                raise PhaseError(f"{tool} is not installed", "run the prepare phase first (it installs GlusterFS)")

    def ensure_vol(self) -> bool:
        path = self.ctx.env.host_path(self.facts.glusterd_vol)
        text = read_text(path, default="")
        new, changed = gluster.rewrite_glusterd_vol(text, gluster.port_options(self.facts))
        if changed:
            write_atomic(path, new, 0o644)
            options = gluster.port_options(self.facts)
            self.ctx.log.info(f"{path}: " + ", ".join(f"{k} {v}" for k, v in options.items()))
            self.changes.append("glusterd.vol ports")
        return changed

    def ensure_glusterd(self, vol_changed: bool) -> None:
        run = self.ctx.runner.run
        systemctl = self.ctx.runner.which("systemctl")
        if systemctl and run([systemctl, "cat", "glusterd.service"], timeout=60).ok:
            enabled = run([systemctl, "is-enabled", "glusterd.service"], timeout=60).out.strip() == "enabled"
            active = run([systemctl, "is-active", "glusterd.service"], timeout=60).out.strip() == "active"
            if active and vol_changed:
                result = run([systemctl, "restart", "glusterd.service"], timeout=self.ctx.timeout("gluster"))
                what = "glusterd restarted (new ports)"
                if result.ok and not enabled:
                    result = run([systemctl, "enable", "glusterd.service"], timeout=self.ctx.timeout("gluster"))
            elif not (enabled and active):
                result = run([systemctl, "enable", "--now", "glusterd.service"], timeout=self.ctx.timeout("gluster"))
                what = "glusterd enabled and started"
            else:
                result, what = None, ""
            if result is not None:
                if not result.ok:
                    raise PhaseError(f"cannot start glusterd: {result.tail()}", "see `journalctl -u glusterd` on the node")
                self.changes.append(what)
        else:
            probe = gluster.gluster(self.ctx, "peer", "status")
            if gluster.glusterd_down(probe):
                result = run(["glusterd"], timeout=self.ctx.timeout("gluster"))
                if not result.ok:
                    raise PhaseError(f"cannot start glusterd: {result.tail()}", "see glusterd's log on the node")
                self.changes.append("glusterd started (no systemd unit for it)")
            elif vol_changed:
                self.ctx.log.warn("glusterd runs without a systemd unit: restart it by hand to use the new ports")
                self.notes.append("restart glusterd to apply the ports")
        self.wait_for_glusterd()

    def wait_for_glusterd(self) -> None:
        result = retry(
            lambda: gluster.gluster(self.ctx, "peer", "status"),
            should_retry=lambda answer: not answer.ok,
            log=self.ctx.log,
            what="glusterd",
            delay=2,
            budget=self.ctx.timeout("gluster"),
            sleep=self.ctx.sleep,
            clock=self.ctx.clock,
        )
        if not result.ok:
            raise PhaseError(f"glusterd does not answer: {result.tail()}", "see `journalctl -u glusterd` on the node")

    def keep_predecessor_brick(self) -> None:
        """A brick folder with content that this node's glusterd knows no volume for is a dead
        predecessor's (its retained brick volume, attached to this new VM): GlusterFS refuses to
        add it again ("already part of a volume"), and its files may be the newest copy of some:
        moved aside, never deleted (the survivors' bricks hold the volume; evict adds this node's new one)."""
        brick = self.facts.brick_dir
        if not os.path.isdir(brick) or not os.listdir(brick):
            return
        if gluster.volume_info(self.ctx, self.facts.volume) is not None:
            return  # this node's glusterd serves the volume: the brick is its own
        kept = f"{brick}.predecessor-{time.strftime('%Y%m%d%H%M%S', time.gmtime())}"
        os.rename(brick, kept)
        self.changes.append(f"moved the brick folder a previous node left ({brick}) aside to {kept} (kept; "
                            "delete it once gluster volume heal CloudExchange info shows nothing pending)")

    def ensure_dirs(self) -> None:
        for path in (self.facts.brick_dir, self.facts.mount_dir):
            if not os.path.isdir(path):
                os.makedirs(path, exist_ok=True)
                self.changes.append(f"created {path}")

    def version(self) -> str:
        result = self.ctx.runner.run(["glusterfs", "--version"], timeout=60)
        first = (result.out.strip().splitlines() or [""])[0]
        return first if result.ok and first else "glusterfs (version unknown)"

    def run(self) -> PhaseResult:
        self.require_glusterfs()
        self.ctx.progress("the brick file system", 1, 3)
        self.ensure_brick_fs()
        self.ctx.progress("glusterd's ports and glusterd running", 2, 3)
        vol_changed = self.ensure_vol()
        self.ensure_glusterd(vol_changed)
        self.ctx.progress("the brick and data folders", 3, 3)
        self.keep_predecessor_brick()
        self.ensure_dirs()
        version = self.version()
        tail = [version, *self.notes]
        if self.changes:
            return PhaseResult("changed", "; ".join(self.changes + tail))
        return PhaseResult("unchanged", f"{self.facts.brick_dir} ready, glusterd running on {self.facts.glusterd.from_port}; " + "; ".join(tail))


def run(ctx: Ctx) -> PhaseResult:
    return Bricks(ctx).run()
