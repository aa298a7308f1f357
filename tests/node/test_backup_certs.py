"""backup (tarball + sha256, no clobber, same tree = no new backup) and certs (copy, keep, uid 1001)."""

from __future__ import annotations

import datetime
import os
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from scripts.cenode import backups, setup_marker
from scripts.cenode.phases import backup, certs
from scripts.cenode.system import Ctx, PhaseError

from .conftest import FakeRunner, real_ctx

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="chown to uid 1001 needs root")
T0 = datetime.datetime(2025, 3, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)  # noqa: UP017 - same as the node code


def standalone(tmp_path: Path) -> Path:
    ce_dir = tmp_path / "ta_cloud_exchange"
    (ce_dir / "data" / "mongo-data").mkdir(parents=True)
    (ce_dir / "data" / "mongo-data" / "collection-1.wt").write_bytes(os.urandom(4096))
    (ce_dir / ".env").write_text("INSTALL_VERSION=5.1.2\nLOCATION=./.env.keys\n")
    (ce_dir / ".env.keys").write_text("MAINTENANCE_PASSWORD=abc=\n")
    (ce_dir / "link").symlink_to("data")
    (tmp_path / "shared").mkdir()
    return ce_dir


def backup_ctx(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], tmp_path: Path, **over: object) -> Ctx:
    values: dict[str, object] = {"migrate": True, "ce_dir": str(tmp_path / "ta_cloud_exchange"), "shared_dir": str(tmp_path / "shared")}
    values.update(over)
    ctx, _ = make_ctx("backup", **values)
    return real_ctx(ctx)


def test_tree_fingerprint_changes_with_content_metadata(tmp_path: Path) -> None:
    ce_dir = standalone(tmp_path)
    first = backups.tree_fingerprint([str(ce_dir)])
    assert first == backups.tree_fingerprint([str(ce_dir)])
    assert first[1] == 7  # folder, .env, .env.keys, link, data, mongo-data, collection
    (ce_dir / ".env").write_text("INSTALL_VERSION=5.1.2\nLOCATION=./.env.keys\nX=1\n")
    assert backups.tree_fingerprint([str(ce_dir)])[0] != first[0]


def test_backup_writes_tarball_and_checksum_then_is_idempotent(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], tmp_path: Path) -> None:
    ce_dir = standalone(tmp_path)
    result = backup.run(backup_ctx(make_ctx, tmp_path), now=T0)
    assert result.status == "changed"
    backups = tmp_path / "shared" / "backups"
    tarball = backups / "ce-1-ta_cloud_exchange-20250301T120000Z.tar.gz"
    assert tarball.is_file() and tarball.stat().st_mode & 0o777 == 0o600
    assert backups.stat().st_mode & 0o777 == 0o700
    check = subprocess.run(["sha256sum", "-c", tarball.name + ".sha256"], cwd=backups, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    with tarfile.open(tarball) as archive:
        names = archive.getnames()
    relative = str(ce_dir).lstrip("/")
    assert f"{relative}/.env.keys" in names and f"{relative}/data/mongo-data/collection-1.wt" in names

    second = backup.run(backup_ctx(make_ctx, tmp_path), now=T0 + datetime.timedelta(hours=1))
    assert second.status == "unchanged" and tarball.name in second.summary
    assert sorted(p.name for p in backups.iterdir()) == [tarball.name, tarball.name + ".sha256", tarball.name + ".tree"]


def test_no_tarball_once_the_cluster_runs_here(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], tmp_path: Path) -> None:
    """An upgrade re-runs the step: the folder is a cluster's by then, and restore-standalone takes the newest tarball."""
    ce_dir = standalone(tmp_path)
    backup.run(backup_ctx(make_ctx, tmp_path), now=T0)
    ctx = backup_ctx(make_ctx, tmp_path)
    (ce_dir / ".env").write_text(f"INSTALL_VERSION=5.1.2\nHA_IP_LIST=10.0.0.1,10.0.0.2\nHA_CURRENT_NODE={ctx.cfg.node_ip}\n")
    setup_marker.record(ctx.env.state_dir, "digest-of-the-ha-setup", "primary", "0" * 40)
    later = backup.run(ctx, now=T0 + datetime.timedelta(days=30))
    assert later.status == "unchanged" and later.summary.startswith("CE's HA setup completed here")
    assert sorted(p.name for p in (tmp_path / "shared" / "backups").iterdir())[0] == "ce-1-ta_cloud_exchange-20250301T120000Z.tar.gz"
    assert len(list((tmp_path / "shared" / "backups").iterdir())) == 3


def test_changed_tree_gets_a_new_backup_and_the_old_one_stays(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], tmp_path: Path) -> None:
    ce_dir = standalone(tmp_path)
    backup.run(backup_ctx(make_ctx, tmp_path), now=T0)
    old = tmp_path / "shared" / "backups" / "ce-1-ta_cloud_exchange-20250301T120000Z.tar.gz"
    old_bytes = old.read_bytes()
    (ce_dir / "data" / "mongo-data" / "collection-2.wt").write_bytes(b"new")
    result = backup.run(backup_ctx(make_ctx, tmp_path), now=T0)  # same second: a new name, no clobber
    assert result.status == "changed" and "20250301T120000Z-1.tar.gz" in result.summary
    assert old.read_bytes() == old_bytes


def test_secret_file_outside_the_folder_is_included(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], tmp_path: Path) -> None:
    ce_dir = standalone(tmp_path)
    keys = tmp_path / "etc" / ".env.keys"
    keys.parent.mkdir()
    keys.write_text("MAINTENANCE_PASSWORD=x\n")
    (ce_dir / ".env").write_text(f"LOCATION={keys}\n")
    backup.run(backup_ctx(make_ctx, tmp_path), now=T0)
    tarball = next((tmp_path / "shared" / "backups").glob("*.tar.gz"))
    with tarfile.open(tarball) as archive:
        assert str(keys).lstrip("/") in archive.getnames()


def test_backup_only_on_the_migrate_primary(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], tmp_path: Path) -> None:
    standalone(tmp_path)
    assert backup.run(backup_ctx(make_ctx, tmp_path, migrate=False)).status == "unchanged"
    assert backup.run(backup_ctx(make_ctx, tmp_path, role="secondary")).status == "unchanged"
    assert not (tmp_path / "shared" / "backups").exists()


def test_backup_needs_the_shared_folder(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], tmp_path: Path) -> None:
    standalone(tmp_path)
    with pytest.raises(PhaseError) as failed:
        backup.run(backup_ctx(make_ctx, tmp_path, shared_dir=str(tmp_path / "nope")))
    assert "mount phase" in failed.value.fix


# ----------------------------------------------------------------------------- certs


def with_certs(tmp_path: Path) -> tuple[Path, Path]:
    ce_dir = tmp_path / "ce"
    ssl = ce_dir / "data" / "ssl_certs"
    ca = ce_dir / "data" / "ca_certs"
    ssl.mkdir(parents=True)
    ca.mkdir(parents=True)
    (ssl / "cte_cert.crt").write_text("CERT")
    (ssl / "cte_cert_key.key").write_text("KEY")
    (ssl / "cte_cert_key.key").chmod(0o600)
    (ssl / "extendedkeyusage.txt").write_text("not copied")
    (ca / ".keep").write_text("")
    (ca / "corp-root.pem").write_text("CA")
    (ca / "corp-root.pem").chmod(0o644)
    shared = tmp_path / "shared"
    (shared / "config").mkdir(parents=True)
    return ce_dir, shared


@needs_root
def test_certs_are_copied_with_modes_and_uid_1001_then_idempotent(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], tmp_path: Path) -> None:
    ce_dir, shared = with_certs(tmp_path)
    ctx, _ = make_ctx("certs", ce_dir=str(ce_dir), shared_dir=str(shared))
    result = certs.run(ctx)
    assert result.status == "changed" and "3 copied" in result.summary
    assert not (shared / "config" / "ca_certs" / ".keep").exists()  # CE's placeholder, not a certificate
    key = shared / "config" / "ssl_certs" / "cte_cert_key.key"
    assert key.read_text() == "KEY" and key.stat().st_mode & 0o777 == 0o600
    assert (key.stat().st_uid, key.stat().st_gid) == (1001, 1001)
    assert (shared / "config" / "ca_certs" / "corp-root.pem").stat().st_mode & 0o777 == 0o644
    assert not (shared / "config" / "ssl_certs" / "extendedkeyusage.txt").exists()
    assert (ce_dir / "data" / "ssl_certs" / "cte_cert_key.key").read_text() == "KEY"  # originals kept

    again, _ = make_ctx("certs", ce_dir=str(ce_dir), shared_dir=str(shared))
    assert certs.run(again).status == "unchanged"

    os.chown(key, 0, 0)
    fixed, _ = make_ctx("certs", ce_dir=str(ce_dir), shared_dir=str(shared))
    assert "1 fixed" in certs.run(fixed).summary


@needs_root
def test_a_different_certificate_in_the_shared_folder_is_kept(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], tmp_path: Path) -> None:
    ce_dir, shared = with_certs(tmp_path)
    (shared / "config" / "ssl_certs").mkdir()
    (shared / "config" / "ssl_certs" / "cte_cert.crt").write_text("RENEWED")
    ctx, _ = make_ctx("certs", ce_dir=str(ce_dir), shared_dir=str(shared))
    result = certs.run(ctx)
    assert (shared / "config" / "ssl_certs" / "cte_cert.crt").read_text() == "RENEWED"
    assert "differs" in result.summary and "kept" in result.summary


def test_half_a_certificate_pair_is_not_copied(tmp_path: Path) -> None:
    ce_dir, shared = with_certs(tmp_path)
    (ce_dir / "data" / "ssl_certs" / "cte_cert_key.key").unlink()
    pairs, notes = certs.plan(str(ce_dir), str(shared))
    assert all("ssl_certs" not in dst for _, dst in pairs)
    assert "only cte_cert.crt" in notes[0]


def test_certs_need_the_shared_config(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], tmp_path: Path) -> None:
    ctx, _ = make_ctx("certs", shared_dir=str(tmp_path / "nope"))
    with pytest.raises(PhaseError):
        certs.run(ctx)


def test_backups_folder_made_by_someone_else_is_closed_to_others(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], tmp_path: Path) -> None:
    standalone(tmp_path)
    backups = tmp_path / "shared" / "backups"
    backups.mkdir(mode=0o755)
    backups.chmod(0o755)  # world-readable: a tarball of CE's secrets must not sit in it
    assert backup.run(backup_ctx(make_ctx, tmp_path), now=T0).status == "changed"
    assert backups.stat().st_mode & 0o777 == 0o700 and backups.stat().st_uid == os.getuid()
    (tarball,) = backups.glob("*.tar.gz")
    assert tarball.stat().st_mode & 0o777 == 0o600
    for extra in (".sha256", ".tree"):
        assert (backups / (tarball.name + extra)).stat().st_mode & 0o777 == 0o600
