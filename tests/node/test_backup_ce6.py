"""Backup on the 6.x line: no shared folder exists before the cutover, so the tarball stays on the node."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from pathlib import Path

from scripts.cenode.phases import backup
from scripts.cenode.system import Ctx

from .conftest import FakeRunner, real_ctx
from .test_backup_certs import T0, standalone


def test_6x_backup_goes_to_the_nodes_own_disk_without_a_shared_folder(
    make_ctx: Callable[..., tuple[Ctx, FakeRunner]], tmp_path: Path
) -> None:
    standalone(tmp_path)
    (tmp_path / "shared").rmdir()  # /opt/shared/data only appears when CE's setup mounts GlusterFS
    ctx, _ = make_ctx("backup", migrate=True, ce_version="v6.1.0", ce_dir=str(tmp_path / "ta_cloud_exchange"),
                      shared_dir=str(tmp_path / "shared"))
    result = backup.run(real_ctx(ctx), now=T0)
    assert result.status == "changed"
    local = Path(ctx.env.host_path("/var/backups/cloud-exchange-ha"))  # README: 6.x keeps the tarball on the primary's own disk
    assert (local / "ce-1-ta_cloud_exchange-20250301T120000Z.tar.gz").is_file()
    assert not (tmp_path / "shared").exists(), "nothing may be created where GlusterFS will mount"
    again = backup.run(real_ctx(ctx), now=T0 + datetime.timedelta(minutes=5))
    assert again.status == "unchanged"


def test_5x_backup_still_needs_the_shared_folder() -> None:
    from scripts.cenode.nodeconfig import NodeConfig

    five = NodeConfig(node_name="a", node_ip="1", role="primary", cluster_ips=["1"], ce_version="v5.1.2",
                      ce_repo_url="x", ce_dir="/opt/ta", shared_dir="/mnt/ce-ha")
    assert backup.backup_dir(five) == "/mnt/ce-ha/backups"
