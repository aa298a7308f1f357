"""``restore-standalone``: the migrate primary back to the standalone of its tarball, after checks; nothing deleted."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from scripts.cenode import backups, mounts
from scripts.cenode.phases import backup, restore
from scripts.cenode.system import CommandResult, Ctx, PhaseError

from .conftest import FakeRunner, real_ctx
from .test_backup_certs import T0, standalone

STANDALONE_ENV = "INSTALL_VERSION=5.1.2\nLOCATION=./.env.keys\n"
MARK = "# cloud-exchange-ha: the next line is managed by cloud-exchange-ha"
FOREIGN = "UUID=1234 / ext4 defaults 0 1\n"
STANDALONE_HELLO = {"isWritablePrimary": True, "ismaster": True}  # a mongod outside any replica set


def real_tar(argv: list[str]) -> CommandResult:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    return CommandResult(argv, done.returncode, done.stdout, done.stderr)


class Cluster:
    """A migrate primary after its cutover: the standalone's tarball on the share, its folder now a cluster member's."""

    def __init__(self, make_ctx: Callable[..., tuple[Ctx, FakeRunner]], tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.ce_dir = standalone(tmp_path)
        self.shared = tmp_path / "shared"
        over = {"migrate": True, "ce_dir": str(self.ce_dir), "shared_dir": str(self.shared)}
        made, _ = make_ctx("backup", **over)
        assert backup.run(real_ctx(made), now=T0).status == "changed"
        self.tarball = next((self.shared / "backups").glob("*.tar.gz"))
        # the cutover made the folder a cluster member's
        (self.ce_dir / ".env").write_text(STANDALONE_ENV + "HA_IP_LIST=127.0.0.21,127.0.0.22,127.0.0.23\n")
        (self.ce_dir / "cluster-only").write_text("written by the cluster\n")
        self.ctx, self.runner = make_ctx("restore-standalone", **over)
        self.runner.on("tar", action=real_tar)
        self.fstab = Path(self.ctx.env.host_path("/etc/fstab"))
        self.fstab.write_text(f"{FOREIGN}{MARK}\nfs-1.efs.example:/ {self.shared} nfs4 nfsvers=4.1,_netdev,nofail 0 0\n")
        mountinfo = Path(self.ctx.env.host_path("/proc/self/mountinfo"))
        mountinfo.write_text(f"36 25 0:32 / {self.shared} rw,relatime - nfs4 fs-1.efs.example:/ rw\n")
        self.others: dict[str, dict[str, Any] | None] = {}
        self.after_start: dict[str, Any] | None = STANDALONE_HELLO

    def probe(self) -> dict[str, Any] | None:
        """This node's mongod: silent until ./start ran (CE is stopped everywhere)."""
        return self.after_start if self.runner.ran("./start") else None

    def run(self, **kw: Any) -> Any:
        kw.setdefault("now", T0)
        return restore.run(self.ctx, ask=lambda ip: self.others.get(ip), probe=self.probe, **kw)

    def asides(self) -> list[Path]:
        return sorted(self.tmp.glob("ta_cloud_exchange.cluster-*"))


@pytest.fixture
def cluster(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], tmp_path: Path) -> Cluster:
    return Cluster(make_ctx, tmp_path)


def test_the_standalone_comes_back_and_the_clusters_folder_is_kept(cluster: Cluster) -> None:
    result = cluster.run()
    assert result.status == "changed", result.summary
    assert (cluster.ce_dir / ".env").read_text() == STANDALONE_ENV
    assert not (cluster.ce_dir / "cluster-only").exists()
    assert (cluster.ce_dir / "link").is_symlink() and os.readlink(cluster.ce_dir / "link") == "data"
    (aside,) = cluster.asides()
    assert aside.name == "ta_cloud_exchange.cluster-20250301T120000Z"
    assert (aside / "cluster-only").read_text() == "written by the cluster\n"
    assert cluster.fstab.read_text() == FOREIGN  # only the marked line and its mark went
    assert ["umount", str(cluster.shared)] in cluster.runner.calls
    assert cluster.runner.calls.index(["umount", str(cluster.shared)]) < cluster.runner.calls.index(["./start"])
    record = Path(cluster.ctx.env.host_path(restore.RECORD))
    assert json.loads(record.read_text()) == {"tarball": cluster.tarball.name, "sha256": backups.file_sha256(str(cluster.tarball))}
    assert stat.S_IMODE(record.stat().st_mode) == 0o600
    assert result.summary.endswith("started: mongod answers but is not in a replica set")


def test_a_second_run_changes_nothing(cluster: Cluster) -> None:
    cluster.run()
    calls = len(cluster.runner.calls)
    (cluster.shared / "backups").rename(cluster.tmp / "out-of-sight")  # 5.x: the share with the backups is unmounted
    again = cluster.run()
    assert again.status == "unchanged"
    assert again.summary == (f"CE runs as the standalone restored from {cluster.tarball.name}: "
                             "mongod answers but is not in a replica set")
    assert cluster.runner.calls[calls:] == [] and len(cluster.asides()) == 1


def test_a_stopped_standalone_after_its_restore_is_started_without_extracting_again(cluster: Cluster) -> None:
    cluster.after_start = None
    with pytest.raises(PhaseError):
        cluster.run()  # ./start did not bring the mongod up
    (cluster.shared / "backups").rename(cluster.tmp / "out-of-sight")
    cluster.after_start = STANDALONE_HELLO
    cluster.runner.calls.clear()
    assert cluster.run().status == "changed"
    assert not cluster.runner.ran("tar") and cluster.runner.ran("./start") and len(cluster.asides()) == 1


def test_ce_running_here_is_refused_before_anything_moves(cluster: Cluster) -> None:
    with pytest.raises(PhaseError) as refused:
        restore.run(cluster.ctx, ask=lambda ip: None, probe=lambda: {"setName": "rs0", "secondary": True, "hosts": []}, now=T0)
    assert refused.value.what.startswith("CE still runs here: mongod (SECONDARY of rs0")
    assert "ce-node stop --force" in refused.value.fix
    assert cluster.asides() == [] and (cluster.ce_dir / "cluster-only").exists() and not cluster.runner.ran("tar")


def test_a_member_still_running_elsewhere_is_refused_naming_it(cluster: Cluster) -> None:
    cluster.others["127.0.0.23"] = {"setName": "rs0", "isWritablePrimary": True, "me": "127.0.0.23:27017", "hosts": ["127.0.0.23:27017"]}
    with pytest.raises(PhaseError) as refused:
        cluster.run()
    assert refused.value.what.startswith("CE still runs as a replica-set member on 127.0.0.23 (PRIMARY of rs0")
    assert cluster.asides() == [] and not cluster.runner.ran("tar")


def test_a_damaged_tarball_is_refused(cluster: Cluster) -> None:
    data = bytearray(cluster.tarball.read_bytes())
    data[len(data) // 2] ^= 0xFF
    cluster.tarball.write_bytes(bytes(data))
    with pytest.raises(PhaseError) as refused:
        cluster.run()
    assert "does not match its .sha256" in refused.value.what
    assert cluster.asides() == [] and (cluster.ce_dir / "cluster-only").exists()


def test_a_folder_made_a_cluster_again_is_restored_again(cluster: Cluster) -> None:
    cluster.run()
    (cluster.ce_dir / ".env").write_text(STANDALONE_ENV + "HA_IP_LIST=127.0.0.21,127.0.0.22\n")  # a later migrate
    cluster.runner.calls.clear()
    cluster.after_start = None  # CE stopped everywhere again
    with pytest.raises(PhaseError):
        cluster.run(now=T0.replace(hour=13))
    assert len(cluster.asides()) == 2 and cluster.runner.ran("tar")
    assert (cluster.ce_dir / ".env").read_text() == STANDALONE_ENV


def test_only_the_adopted_primary_restores(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], tmp_path: Path) -> None:
    ctx, _ = make_ctx("restore-standalone", migrate=False, role="secondary", node_ip="127.0.0.22")
    with pytest.raises(PhaseError) as refused:
        restore.run(ctx, ask=lambda ip: None, probe=lambda: None)
    assert refused.value.what == "restore-standalone runs on the adopted primary only (node.json migrate is false here)"
    assert refused.value.fix == "run it on 127.0.0.21, the standalone this cluster was made from"


def test_no_backup_is_refused_naming_the_folder(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], tmp_path: Path) -> None:
    (tmp_path / "shared").mkdir()
    ctx, _ = make_ctx("restore-standalone", migrate=True, shared_dir=str(tmp_path / "shared"))
    with pytest.raises(PhaseError) as refused:
        restore.run(ctx, ask=lambda ip: None, probe=lambda: None)
    assert refused.value.what == f"no backup of this node in {tmp_path / 'shared' / 'backups'}"


def test_a_start_that_joins_a_set_of_several_is_not_a_standalone(cluster: Cluster) -> None:
    cluster.after_start = {"setName": "rs0", "isWritablePrimary": True, "me": "127.0.0.21:27017",
                           "hosts": ["127.0.0.21:27017", "127.0.0.22:27017"]}
    with pytest.raises(PhaseError) as refused:
        cluster.run()
    assert refused.value.what.startswith("after ./start (exit 0) this node is not a standalone CE: PRIMARY of rs0")


def test_remove_marked_drops_only_our_line_and_its_mark() -> None:
    text = f"{FOREIGN}{MARK}\nefs:/ /mnt/ce-ha nfs4 defaults 0 0\n/dev/sdb /data ext4 defaults 0 2\n"
    assert mounts.remove_marked(text, "/mnt/ce-ha/") == (f"{FOREIGN}/dev/sdb /data ext4 defaults 0 2\n", True)
    unmarked = "efs:/ /mnt/ce-ha nfs4 defaults 0 0\n"
    assert mounts.remove_marked(unmarked, "/mnt/ce-ha") == (unmarked, False)
    assert mounts.remove_marked(f"{MARK}\n/dev/sdc /other ext4 defaults 0 0\n", "/mnt/ce-ha")[1] is False
