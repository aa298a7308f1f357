"""CE 6.x node pieces on their own: release facts, glusterd.vol, gluster output parsing, the config
file, redaction, permissions, and the bricks / gluster-join / preflight / prepare phases against a
scripted command runner (redirected paths, no real devices, no real gluster)."""

from __future__ import annotations

import argparse
import os
import re
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from scripts.cenode import __main__ as cli
from scripts.cenode import ce6, gluster, lines
from scripts.cenode.findings import PreflightFailed
from scripts.cenode.phases import bricks, gluster_join, preflight, prepare
from scripts.cenode.system import CommandResult, Ctx, PhaseError

from .conftest import FakeRunner, gluster_layout_at
from .test_preflight import cpuinfo
from .test_system import DEBIAN_12, UBUNTU_2204

MakeCtx = Callable[..., tuple[Ctx, FakeRunner]]
VOLUME_ID = "vol-0abc1234def567890"
UUID = "4f0c7a3e-1111-2222-3333-444455556666"

# ----------------------------------------------------------------------------- release facts


def test_gluster_facts_come_from_the_port_table() -> None:
    facts = lines.CE6.gluster
    assert facts is not None and lines.CE5.gluster is None
    assert facts.glusterd in lines.CE6.cluster_ports and facts.bricks in lines.CE6.cluster_ports
    assert (facts.glusterd.label, facts.bricks.label) == ("24007", "24009-24029")
    assert facts.volume == "CloudExchange"
    assert facts.brick_dir == "/opt/shared/gluster/bricks/1/brick"
    assert facts.mount_dir == lines.CE6.default_shared_dir == "/opt/shared/data"
    assert facts.config_dir == "/opt/shared/data/config"
    assert any(p.from_port == lines.CE6.management_port == 8000 for p in lines.CE6.cluster_ports)
    assert gluster_layout_at("/tmp/x/").brick_dir == "/tmp/x/gluster/bricks/1/brick"
    assert lines.CE6.python_min == (3, 11, 0) and lines.CE6.needs_avx


# ----------------------------------------------------------------------------- glusterd.vol

UBUNTU_VOL = """volume management
    type mgmt/glusterd
    option working-directory /var/lib/glusterd
    option transport-type socket
    option transport.socket.keepalive-time 10
    option ping-timeout 0
    option event-threads 1
#   option transport.address-family inet6
#   option base-port 49152
    option max-port  60999
end-volume
"""


def test_glusterd_vol_gets_ces_ports_in_the_management_block() -> None:
    wanted = gluster.port_options(lines.CE6.gluster)  # type: ignore[arg-type]
    assert wanted == {"transport.socket.listen-port": "24007", "base-port": "24009", "max-port": "24029"}
    new, changed = gluster.rewrite_glusterd_vol(UBUNTU_VOL, wanted)
    assert changed
    block = new.splitlines()
    assert "    option max-port 24029" in block and "    option max-port  60999" not in block
    assert "#   option base-port 49152" in block  # comments stay
    assert block.index("    option base-port 24009") < block.index("end-volume")
    assert "    option transport.socket.listen-port 24007" in block and "    option event-threads 1" in block
    assert gluster.rewrite_glusterd_vol(new, wanted) == (new, False)  # written only when different

    fresh, changed = gluster.rewrite_glusterd_vol("", wanted)
    assert changed and fresh.startswith("volume management\n") and "option base-port 24009" in fresh
    twice = UBUNTU_VOL.replace("end-volume", "    option base-port 1\n    option base-port 2\nend-volume")
    assert gluster.rewrite_glusterd_vol(twice, wanted)[0].count("base-port 24009") == 1


# ----------------------------------------------------------------------------- gluster output

BRICK = "/opt/shared/gluster/bricks/1/brick"


def cli_output(body: str, op_ret: int = 0, errno: int = 0, errstr: str = "") -> str:
    """GlusterFS's ``--xml`` envelope around ``body``."""
    error = f"<opErrstr>{errstr}</opErrstr>" if errstr else "<opErrstr/>"
    head = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<cliOutput>\n'
    return f"{head}  <opRet>{op_ret}</opRet>\n  <opErrno>{errno}</opErrno>\n  {error}\n{body}</cliOutput>\n"


def brick_xml(ip: str) -> str:
    return f'<brick uuid="u-{ip}">{ip}:{BRICK}<name>{ip}:{BRICK}</name><hostUuid>u-{ip}</hostUuid><isArbiter>0</isArbiter></brick>'


def volume_xml(ips: list[str], type_str: str) -> str:
    """``gluster --xml volume info CloudExchange`` as GlusterFS 11 prints it (element names and nesting)."""
    bricks = "\n".join(f"          {brick_xml(ip)}" for ip in ips)
    return cli_output(f"""  <volInfo>
    <volumes>
      <volume>
        <name>CloudExchange</name>
        <id>1b2c</id>
        <status>1</status>
        <statusStr>Started</statusStr>
        <snapshotCount>0</snapshotCount>
        <brickCount>{len(ips)}</brickCount>
        <distCount>1</distCount>
        <replicaCount>{len(ips)}</replicaCount>
        <type>{2 if len(ips) > 1 else 0}</type>
        <typeStr>{type_str}</typeStr>
        <transport>0</transport>
        <bricks>
{bricks}
        </bricks>
        <optCount>1</optCount>
        <options>
          <option>
            <name>nfs.disable</name>
            <value>on</value>
          </option>
        </options>
      </volume>
      <count>1</count>
    </volumes>
  </volInfo>
""")


def peer_xml(uuid: str, names: list[str], connected: int) -> str:
    others = "".join(f"\n        <hostname>{name}</hostname>" for name in names)
    return f"""    <peer>
      <uuid>{uuid}</uuid>
      <hostname>{names[0]}</hostname>
      <hostnames>{others}
      </hostnames>
      <connected>{connected}</connected>
      <state>3</state>
      <stateStr>Peer in Cluster</stateStr>
    </peer>
"""


INFO_1 = volume_xml(["10.0.1.10"], "Distribute")
INFO_3 = volume_xml(["10.0.1.10", "10.0.2.10", "10.0.3.10"], "Replicate")
#: ``gluster --xml volume info CloudExchange`` when there is no such volume
NO_VOLUME = cli_output("", op_ret=-1, errno=30806, errstr="Volume CloudExchange does not exist")
#: ``gluster --xml peer status``: one peer Connected (two names), one Disconnected
PEERS = cli_output("  <peerStatus>\n" + peer_xml("aaa", ["10.0.2.10", "ip-10-0-2-10"], 1) + peer_xml("bbb", ["10.0.3.10"], 0) + "  </peerStatus>\n")
NO_PEERS = cli_output("  <peerStatus/>\n")


def test_volume_info_and_peer_status_parsing() -> None:
    one = gluster.parse_volume_info(INFO_1, "CloudExchange")
    assert one is not None and one.bricks == ["10.0.1.10:/opt/shared/gluster/bricks/1/brick"] and one.replica == 1
    assert one.status == "Started" and one.count == "1"
    three = gluster.parse_volume_info(INFO_3, "CloudExchange")
    assert three is not None and three.replica == 3 and len(three.bricks) == 3 and three.type == "Replicate"
    assert gluster.parse_volume_info(INFO_1, "Other") is None
    assert gluster.parse_peer_status(PEERS) == {"10.0.2.10": "Connected", "ip-10-0-2-10": "Connected", "10.0.3.10": "Disconnected"}
    assert gluster.parse_peer_status(NO_PEERS) == {}
    assert three.count == "1 x 3 = 3" and gluster.parse_volume_info(NO_VOLUME, "CloudExchange") is None


# ----------------------------------------------------------------------------- cloudexchange.config


def config(**over: object) -> ce6.ConfigInput:
    values: dict[str, object] = {
        "ui_protocol": "https", "ui_port": 443, "management_port": 8000, "tls12": False,
        "maintenance_password": "Mp#1", "jwt_secret": "Jwt1", "proxy_url": "", "proxy_username": "", "proxy_password": "",
        "cluster_ips": ("10.0.1.10", "10.0.2.10", "10.0.3.10"), "node_ip": "10.0.1.10", "primary": True,
        "data_dir": "/opt/shared/data", "glusterfs_base_port": 24009, "glusterfs_max_port": 24029,
    }  # fmt: skip
    values.update(over)
    return ce6.ConfigInput(**values)  # type: ignore[arg-type]


def test_config_is_complete_and_differs_only_in_the_node_keys() -> None:
    primary = ce6.render_config(config())
    keys = [line.partition("=")[0] for line in primary.splitlines() if not line.startswith("#")]
    assert keys == [
        "UI_PROTOCOL", "UI_PORT", "CE_MANAGEMENT_PORT", "TLS_VERSION", "MAINTENANCE_PASSWORD", "JWT_SECRET", "PROXY_URL",
        "PROXY_USERNAME", "PROXY_PASSWORD", "HA_ENABLED", "HA_IP_LIST", "HA_CURRENT_NODE", "HA_NFS_DATA_DIRECTORY",
        "HA_PRIMARY_NODE_IP", "GLUSTERFS_BASE_PORT", "GLUSTERFS_MAX_PORT",
    ]  # fmt: skip
    assert 'TLS_VERSION="1.3"\n' in primary and "HA_ENABLED=True\n" in primary and "HA_PRIMARY_NODE_IP=10.0.1.10\n" in primary
    assert "MAINTENANCE_PASSWORD=Mp#1\n" in primary and "HA_IP_LIST=10.0.1.10,10.0.2.10,10.0.3.10\n" in primary
    secondary = ce6.render_config(config(node_ip="10.0.2.10", primary=False, tls12=True))
    assert "HA_PRIMARY_NODE_IP" not in secondary and 'TLS_VERSION="1.2,1.3"' in secondary and "HA_CURRENT_NODE=10.0.2.10" in secondary
    assert "Mp#1" not in repr(config())
    assert ce6.unsafe_in_config("a\nb") and ce6.unsafe_in_config("'quoted'") and not ce6.unsafe_in_config("Mp#x'y")


def test_output_redactor_hides_known_and_generated_secrets() -> None:
    redact = ce6.output_redactor(["Mp#1", "Mp%231"])
    text = "pw Mp#1 / Mp%231\nSetting following random Maintenance Password - abcDEF123\nSetting following random JWT Secret - zz9\n"
    out = redact(text)
    assert "Mp#1" not in out and "abcDEF123" not in out and "zz9" not in out
    assert "Setting following random JWT Secret - ***" in out


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_tighten_keeps_the_containers_group(tmp_path: Path) -> None:
    keys = tmp_path / ".env.keys"
    keys.write_text("x")
    keys.chmod(0o444)
    assert ce6.tighten(str(keys), 0o440, ".env.keys") == ".env.keys 0444->0440 group 1001"
    assert stat.S_IMODE(keys.stat().st_mode) == 0o440 and keys.stat().st_gid == 1001
    assert ce6.tighten(str(keys), 0o440) == ""
    owned = tmp_path / "tls_cert_ca.key"
    owned.write_text("k")
    os.chown(owned, 1001, 1001)
    owned.chmod(0o644)
    assert ce6.tighten(str(owned), 0o640, "ca") == "ca 0644->0640"
    assert ce6.tighten(str(tmp_path / "missing"), 0o400) == ""


# ----------------------------------------------------------------------------- bricks


def six(make_ctx: MakeCtx, tmp_path: Path, phase: str, **over: object) -> tuple[Ctx, FakeRunner]:
    ctx, runner = make_ctx(phase, ce_version="v6.1.0", shared_dir=str(tmp_path / "opt" / "data"), **over)
    ctx.env.gluster = gluster_layout_at(str(tmp_path / "opt"))
    Path(ctx.env.host_path("/etc/os-release")).write_text(UBUNTU_2204)
    return ctx, runner


class Disk:
    """A scripted EBS volume: blkid sees nothing until mkfs ran."""

    def __init__(self, runner: FakeRunner, fs: str = "") -> None:
        self.fs = fs
        runner.on("blkid", action=self.blkid)
        runner.on("mkfs.xfs", action=self.mkfs)
        runner.on("mkfs.ext4", action=self.mkfs)

    def blkid(self, argv: list[str]) -> CommandResult:
        if not self.fs:
            return CommandResult(argv, 2, "", "")
        return CommandResult(argv, 0, f"DEVNAME={argv[-1]}\nUUID={UUID}\nTYPE={self.fs}\n", "")

    def mkfs(self, argv: list[str]) -> CommandResult:
        self.fs = argv[0].split(".")[1]
        return CommandResult(argv, 0, "", "")


def glusterd(runner: FakeRunner, enabled: bool = False, active: bool = False) -> None:
    runner.tools.update({"gluster", "glusterd", "systemctl", "mkfs.xfs"})
    runner.on("/usr/bin/systemctl", "cat", "glusterd.service", out="[Unit]\n")
    runner.on("/usr/bin/systemctl", "is-enabled", "glusterd.service", out="enabled\n" if enabled else "disabled\n")
    runner.on("/usr/bin/systemctl", "is-active", "glusterd.service", out="active\n" if active else "inactive\n")
    runner.on("glusterfs", "--version", out="glusterfs 11.1\nRepository revision: git://git.gluster.org/glusterfs.git\n")


def attach(ctx: Ctx, name: str = f"/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_{VOLUME_ID.replace('-', '')}") -> None:
    path = Path(ctx.env.host_path(name))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("")


def mounted(ctx: Ctx, where: str, source: str) -> None:
    Path(ctx.env.host_path("/proc/self/mountinfo")).write_text(f"22 1 8:1 / / rw - ext4 /dev/root rw\n99 22 259:1 / {where} rw - xfs {source} rw\n")


def test_bricks_formats_an_empty_volume_once_mounts_it_by_uuid_and_starts_glusterd(make_ctx: MakeCtx, tmp_path: Path) -> None:
    ctx, runner = six(make_ctx, tmp_path, "bricks", brick_volume_id=VOLUME_ID)
    attach(ctx)
    disk = Disk(runner)
    glusterd(runner)
    result = bricks.run(ctx)
    assert result.status == "changed", result
    assert [c[0] for c in runner.calls if c[0].startswith("mkfs")] == ["mkfs.xfs"]
    fstab = Path(ctx.env.host_path("/etc/fstab")).read_text()
    brick_fs = str(tmp_path / "opt" / "gluster")
    mark = "# cloud-exchange-ha: the next line is managed by cloud-exchange-ha\n"
    assert fstab == f"{mark}UUID={UUID} {brick_fs} xfs defaults,nofail,x-systemd.device-timeout=30 0 2\n"
    assert runner.ran("mount", "-t", "xfs", f"UUID={UUID}", brick_fs)
    assert runner.ran("/usr/bin/systemctl", "enable", "--now", "glusterd.service")
    vol = Path(ctx.env.host_path("/etc/glusterfs/glusterd.vol")).read_text()
    assert "option transport.socket.listen-port 24007" in vol and "option max-port 24029" in vol
    assert (tmp_path / "opt" / "gluster" / "bricks" / "1" / "brick").is_dir() and (tmp_path / "opt" / "data").is_dir()
    assert "glusterfs 11.1" in result.summary

    # second run: a file system exists (never formatted again), mounted, glusterd up
    again, runner2 = six(make_ctx, tmp_path, "bricks", brick_volume_id=VOLUME_ID)
    Disk(runner2, fs=disk.fs)
    glusterd(runner2, enabled=True, active=True)
    mounted(again, brick_fs, "/dev/nvme1n1")
    Path(again.env.host_path("/dev/nvme1n1")).write_text("")
    link = again.env.host_path(f"/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_{VOLUME_ID.replace('-', '')}")
    os.unlink(link)
    os.symlink(again.env.host_path("/dev/nvme1n1"), link)
    result = bricks.run(again)
    assert result.status == "unchanged", result
    assert not any(c[0].startswith("mkfs") or c[0] == "mount" for c in runner2.calls)
    assert Path(again.env.host_path("/etc/fstab")).read_text().count(brick_fs) == 1


def test_bricks_refuses_an_fstab_line_for_the_brick_folder_it_did_not_write(make_ctx: MakeCtx, tmp_path: Path) -> None:
    ctx, runner = six(make_ctx, tmp_path, "bricks", brick_volume_id=VOLUME_ID)
    attach(ctx)
    Disk(runner)
    glusterd(runner)
    brick_fs = str(tmp_path / "opt" / "gluster")
    theirs = f"/dev/sdz1 {brick_fs} ext4 defaults 0 2\n"
    fstab = Path(ctx.env.host_path("/etc/fstab"))
    fstab.write_text("UUID=abc / ext4 defaults 0 1\n" + theirs)
    with pytest.raises(PhaseError) as failed:
        bricks.run(ctx)
    assert f"already mounts {brick_fs} with a line cloud-exchange-ha did not write" in failed.value.what
    assert "remove or comment out that line in /etc/fstab" in failed.value.fix
    assert fstab.read_text() == "UUID=abc / ext4 defaults 0 1\n" + theirs
    assert not runner.ran("mount")


def test_bricks_refuses_a_foreign_mount_and_a_partitioned_disk(make_ctx: MakeCtx, tmp_path: Path) -> None:
    ctx, runner = six(make_ctx, tmp_path, "bricks", brick_volume_id=VOLUME_ID)
    attach(ctx, "/dev/sdf")
    Disk(runner, fs="ext4")
    glusterd(runner)
    mounted(ctx, str(tmp_path / "opt" / "gluster"), "/dev/nvme9n1")
    with pytest.raises(PhaseError) as failed:
        bricks.run(ctx)
    assert "is mounted from /dev/nvme9n1" in failed.value.what

    parted, runner2 = six(make_ctx, tmp_path, "bricks", brick_volume_id=VOLUME_ID)
    attach(parted, "/dev/xvdf")
    glusterd(runner2)
    runner2.on("blkid", out="DEVNAME=/dev/xvdf\nPTUUID=abc\nPTTYPE=gpt\n")
    with pytest.raises(PhaseError) as failed:
        bricks.run(parted)
    assert "partition table" in failed.value.what and not any(c[0].startswith("mkfs") for c in runner2.calls)


def test_bricks_waits_for_the_attachment_then_names_it(make_ctx: MakeCtx, tmp_path: Path) -> None:
    ctx, runner = six(make_ctx, tmp_path, "bricks", brick_volume_id=VOLUME_ID)
    glusterd(runner)
    with pytest.raises(PhaseError) as failed:
        bricks.run(ctx)
    assert VOLUME_ID in failed.value.what and "/dev/sdf" in failed.value.what and "/dev/xvdf" in failed.value.what


def test_bricks_on_the_root_disk_and_glusterd_restarted_for_new_ports(make_ctx: MakeCtx, tmp_path: Path) -> None:
    ctx, runner = six(make_ctx, tmp_path, "bricks")
    glusterd(runner, enabled=True, active=True)
    result = bricks.run(ctx)
    assert "bricks on the root disk" in result.summary and not runner.ran("blkid")
    assert runner.ran("/usr/bin/systemctl", "restart", "glusterd.service") and not runner.ran("/usr/bin/systemctl", "enable", "--now")
    assert "fstab" not in result.summary


def test_bricks_without_a_systemd_unit_runs_glusterd_itself(make_ctx: MakeCtx, tmp_path: Path) -> None:
    ctx, runner = six(make_ctx, tmp_path, "bricks")
    runner.tools.update({"gluster", "glusterd"})
    down = {"yes": True}

    def status(argv: list[str]) -> CommandResult:
        if down["yes"]:
            return CommandResult(argv, 1, "Connection failed. Please check if gluster daemon is operational.", "")
        return CommandResult(argv, 0, "Number of Peers: 0", "")

    runner.on("gluster", "--mode=script", "peer", "status", action=status)
    runner.on("glusterd", action=lambda argv: down.update(yes=False))
    assert "glusterd started (no systemd unit for it)" in bricks.run(ctx).summary


def test_bricks_needs_glusterfs_and_is_a_no_op_on_5x(make_ctx: MakeCtx, tmp_path: Path) -> None:
    ctx, _ = six(make_ctx, tmp_path, "bricks")
    with pytest.raises(PhaseError) as failed:
        bricks.run(ctx)
    assert "run the prepare phase first" in failed.value.fix
    five, _ = make_ctx("bricks")  # ce-node reaches the phase through the node's line: 5.x has no bricks
    assert cli.dispatch(five, argparse.Namespace(phase="bricks")).status == "unchanged"
    wrong, _ = make_ctx("bricks", ce_version="v6.1.0", shared_dir="/mnt/ce-ha")
    with pytest.raises(PhaseError) as failed:
        bricks.run(wrong)
    assert "cloud-exchange-ha:sharedDir" in failed.value.fix


def test_a_rejected_peer_is_never_connected_and_heal_info_counts_per_brick() -> None:
    rejected = peer_xml("ccc", ["10.0.3.10"], 1).replace("<state>3</state>", "<state>6</state>").replace(
        "<stateStr>Peer in Cluster</stateStr>", "<stateStr>Peer Rejected</stateStr>")
    assert gluster.parse_peer_status(cli_output(f"  <peerStatus>\n{rejected}  </peerStatus>\n")) == {"10.0.3.10": "Rejected"}
    info = (
        "Brick 10.0.1.10:/opt/shared/gluster/bricks/1/brick\nStatus: Connected\nNumber of entries: 0\n\n"
        "Brick 10.0.2.10:/opt/shared/gluster/bricks/1/brick\nStatus: Connected\nNumber of entries: 12\n\n"
        "Brick 10.0.3.10:/opt/shared/gluster/bricks/1/brick\nStatus: Transport endpoint is not connected\nNumber of entries: -\n"
    )
    assert gluster.parse_heal_info(info) == {
        "10.0.1.10:/opt/shared/gluster/bricks/1/brick": 0,
        "10.0.2.10:/opt/shared/gluster/bricks/1/brick": 12,
        "10.0.3.10:/opt/shared/gluster/bricks/1/brick": None,
    }
    assert gluster.parse_heal_info("") == {}


def test_bricks_moves_a_predecessors_brick_aside_and_keeps_its_own(make_ctx: MakeCtx, tmp_path: Path) -> None:
    brick = tmp_path / "opt" / "gluster" / "bricks" / "1" / "brick"
    (brick / ".glusterfs").mkdir(parents=True)
    (brick / "config").mkdir()
    (brick / "config" / ".env").write_text("HA_PRIMARY_NODE_IP=10.0.1.10\n")
    own, runner = six(make_ctx, tmp_path, "bricks")
    glusterd(runner, enabled=True, active=True)
    runner.on("gluster", "--mode=script", "--xml", "volume", "info", "CloudExchange", out=INFO_3)
    assert "moved" not in bricks.run(own).summary and (brick / "config" / ".env").is_file()  # glusterd serves it: its own

    new_vm, runner2 = six(make_ctx, tmp_path, "bricks")
    glusterd(runner2, enabled=True, active=True)
    runner2.on("gluster", "--mode=script", "--xml", "volume", "info", "CloudExchange", rc=1, out=NO_VOLUME)
    result = bricks.run(new_vm)
    assert result.status == "changed"
    kept = [path for path in brick.parent.iterdir() if path.name.startswith("brick.predecessor-")]
    assert len(kept) == 1 and re.fullmatch(r"brick\.predecessor-\d{14}", kept[0].name)
    assert (kept[0] / "config" / ".env").read_text() == "HA_PRIMARY_NODE_IP=10.0.1.10\n"  # kept, not deleted
    assert brick.is_dir() and os.listdir(brick) == []  # a fresh folder for the new brick
    assert f"moved the brick folder a previous node left ({brick}) aside to {kept[0]}" in result.summary

    again, runner3 = six(make_ctx, tmp_path, "bricks")  # an empty brick folder is nobody's: left alone
    glusterd(runner3, enabled=True, active=True)
    assert "moved" not in bricks.run(again).summary and not runner3.ran("gluster", "--mode=script", "--xml", "volume", "info")


# ----------------------------------------------------------------------------- gluster-join


def join_ctx(make_ctx: MakeCtx, tmp_path: Path, info: str, **over: object) -> tuple[Ctx, FakeRunner]:
    ips = ["10.0.1.10", "10.0.2.10", "10.0.3.10"]
    ctx, runner = six(make_ctx, tmp_path, "gluster-join", node_ip=ips[0], cluster_ips=ips, **over)
    brick = str(tmp_path / "opt" / "gluster" / "bricks" / "1" / "brick")
    runner.on("gluster", "--mode=script", "--xml", "volume", "info", out=info.replace("/opt/shared/gluster/bricks/1/brick", brick))
    return ctx, runner


def test_gluster_join_probes_adds_the_brick_heals_and_is_idempotent(make_ctx: MakeCtx, tmp_path: Path) -> None:
    ctx, runner = join_ctx(make_ctx, tmp_path, INFO_1)
    probed = {"yes": False}
    runner.on("gluster", "--mode=script", "peer", "probe", action=lambda argv: probed.update(yes=True))
    peers = {False: NO_PEERS, True: PEERS}
    runner.on("gluster", "--mode=script", "--xml", "peer", "status", action=lambda argv: CommandResult(argv, 0, peers[probed["yes"]], ""))
    result = gluster_join.run(ctx, member=2)
    assert result.status == "changed" and "peer 10.0.2.10 probed" in result.summary and "full heal started" in result.summary
    brick = str(tmp_path / "opt" / "gluster" / "bricks" / "1" / "brick")
    assert runner.ran("gluster", "--mode=script", "volume", "add-brick", "CloudExchange", "replica", "2", f"10.0.2.10:{brick}", "force")
    assert runner.ran("gluster", "--mode=script", "volume", "heal", "CloudExchange", "full")

    done, runner2 = join_ctx(make_ctx, tmp_path, INFO_3)
    assert gluster_join.run(done, member=3).status == "unchanged"
    assert not [call for call in runner2.calls if "peer" in call] and not runner2.ran("gluster", "--mode=script", "volume", "heal")


def test_gluster_join_refusals(make_ctx: MakeCtx, tmp_path: Path) -> None:
    ctx, _ = join_ctx(make_ctx, tmp_path, INFO_1)
    for member, words in ((1, "not a secondary"), (4, "not a secondary")):
        with pytest.raises(PhaseError) as failed:
            gluster_join.run(ctx, member=member)
        assert words in failed.value.what
    with pytest.raises(PhaseError) as failed:
        gluster_join.run(ctx, member=3)  # member 2 has not joined yet
    assert "--member 2 first" in failed.value.fix
    secondary, _ = join_ctx(make_ctx, tmp_path, INFO_1, role="secondary")
    with pytest.raises(PhaseError) as failed:
        gluster_join.run(secondary, member=2)
    assert "runs on the primary" in failed.value.what
    none, runner = join_ctx(make_ctx, tmp_path, "")
    runner.on("gluster", "--mode=script", "--xml", "volume", "info", rc=1, out=NO_VOLUME)
    with pytest.raises(PhaseError) as failed:
        gluster_join.run(none, member=2)
    assert "run setup on the primary first" in failed.value.fix
    down, runner = join_ctx(make_ctx, tmp_path, "")
    runner.on("gluster", "--mode=script", "--xml", "volume", "info", rc=1, out="Connection failed. Please check if gluster daemon is operational.\n")
    with pytest.raises(PhaseError) as failed:
        gluster_join.run(down, member=2)
    assert "glusterd is not running" in failed.value.what


def test_gluster_join_gives_up_on_a_peer_that_never_connects(make_ctx: MakeCtx, tmp_path: Path) -> None:
    ctx, runner = join_ctx(make_ctx, tmp_path, INFO_1, timeouts={"gluster_peer": 30})
    runner.on("gluster", "--mode=script", "peer", "probe", rc=1, err="peer probe: failed: Probe returned with Transport endpoint is not connected\n")
    with pytest.raises(PhaseError) as failed:
        gluster_join.run(ctx, member=2)
    assert "not Connected after 30 s" in failed.value.what and "bricks phase on 10.0.2.10" in failed.value.fix
    assert 5 <= len([c for c in runner.calls if "probe" in c]) <= 12
    assert not runner.ran("gluster", "--mode=script", "volume", "add-brick")


# ----------------------------------------------------------------------------- preflight / prepare


def python_on(runner: FakeRunner, version: str = "3.12.3", venv: bool = True) -> None:
    runner.tools.add("python3")
    runner.on("/usr/bin/python3", "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])", out=f"{version}\n")
    runner.on("/usr/bin/python3", "-c", "import venv, ensurepip", rc=0 if venv else 1)
    runner.on("/usr/bin/python3", "-m", "pip", "--version", out="pip 24.0\n")


def preflight6(make_ctx: MakeCtx, tmp_path: Path, os_text: str, flags: str, **over: object) -> tuple[Ctx, FakeRunner]:
    ctx, runner = six(make_ctx, tmp_path, "preflight", **over)
    Path(ctx.env.host_path("/etc/os-release")).write_text(os_text)
    Path(ctx.env.host_path("/proc")).mkdir(exist_ok=True)
    Path(ctx.env.host_path("/proc/cpuinfo")).write_text(cpuinfo(8, flags))
    Path(ctx.env.host_path("/proc/meminfo")).write_text(f"MemTotal: {16 * 1024 * 1024} kB\n")
    return ctx, runner


def test_preflight_6x_avx_os_and_python(make_ctx: MakeCtx, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(preflight, "disk_of", lambda path: ("/", 100 * 10**9, 60 * 10**9))
    strict, runner = preflight6(make_ctx, tmp_path, DEBIAN_12, "fpu sse2")
    python_on(runner, "3.11.2")
    with pytest.raises(PreflightFailed) as failed:
        preflight.run(strict, skip_peers=True)
    lines = failed.value.lines("preflight")
    assert any("no AVX" in line and "instanceType" in line for line in lines) and any("OS debian 12" in line for line in lines)

    lab, runner = preflight6(make_ctx, tmp_path, DEBIAN_12, "fpu sse2", allow_undersized=True)
    python_on(runner, "3.11.2", venv=False)
    result = preflight.run(lab, skip_peers=True)
    assert "2 warning(s)" in result.summary and "no AVX" in result.summary
    log = Path(lab.log.path).read_text()
    assert "python3 3.11.2 lacks venv/ensurepip: prepare installs python3-venv" in log

    old, runner = preflight6(make_ctx, tmp_path, DEBIAN_12, "avx")
    python_on(runner, "3.10.12")
    with pytest.raises(PreflightFailed) as failed:
        preflight.run(old, skip_peers=True)
    assert any("no python >= 3.11.0" in line for line in failed.value.lines("preflight"))
    jammy, runner = preflight6(make_ctx, tmp_path, UBUNTU_2204, "avx")
    python_on(runner, "3.10.12")
    assert preflight.run(jammy, skip_peers=True).status == "ok"  # prepare installs python3.11 there


def prepare6(make_ctx: MakeCtx, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, installed: list[str]) -> tuple[Ctx, FakeRunner]:
    monkeypatch.setattr(prepare, "unmet_requirements", lambda pins: [])
    ctx, runner = six(make_ctx, tmp_path, "prepare", allow_undersized=True)
    runner.tools.update({"systemctl", "docker"})
    runner.on("dpkg-query", out="".join(f"{p}\tii \n" for p in installed))
    runner.on("docker", "--version", out="Docker version 28.5.1, build x")
    runner.on("docker", "compose", "version", out="Docker Compose version v2.40.0")
    runner.on("/usr/bin/systemctl", "is-enabled", out="enabled\n")
    runner.on("/usr/bin/systemctl", "is-active", out="active\n")
    python_on(runner)
    return ctx, runner


def test_prepare_6x_keeps_an_installed_glusterfs_and_reports_its_version(make_ctx: MakeCtx, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx, runner = prepare6(make_ctx, tmp_path, monkeypatch, [*prepare.APT_BASE, "python3-venv"])
    runner.tools.update({"gluster", "glusterfs"})
    runner.on("gluster", "--version", out="glusterfs 11.1\n")
    runner.on("glusterfs", "--version", out="glusterfs 11.1\n")
    result = prepare.run(ctx)
    assert result.status == "unchanged" and "glusterfs 11.1" in result.summary, result
    assert not runner.ran("apt-get")


def test_prepare_6x_installs_the_os_glusterfs_server(make_ctx: MakeCtx, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx, runner = prepare6(make_ctx, tmp_path, monkeypatch, [*prepare.APT_BASE, "python3-venv"])

    def installed(argv: list[str]) -> None:
        runner.tools.update({"gluster", "glusterfs"})
        runner.on("gluster", "--version", out="glusterfs 11.1\n")
        runner.on("glusterfs", "--version", out="glusterfs 11.1\n")

    runner.on("apt-get", "-o", "DPkg::Lock::Timeout=600", "-y", action=installed)
    result = prepare.run(ctx)
    assert result.status == "changed" and "GlusterFS (OS package glusterfs-server)" in result.summary and "glusterfs 11.1" in result.summary
    (install,) = [c for c in runner.calls if c[:1] == ["apt-get"] and "install" in c]
    assert install[-1] == "glusterfs-server"


def test_prepare_6x_installs_python311_where_python3_is_too_old(make_ctx: MakeCtx, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx, runner = prepare6(make_ctx, tmp_path, monkeypatch, [*prepare.APT_BASE, "python3-venv"])
    python_on(runner, "3.10.12")
    runner.tools.update({"gluster", "glusterfs"})

    def installed(argv: list[str]) -> None:
        runner.tools.add("python3.11")
        runner.on("/usr/bin/python3.11", "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])", out="3.11.0\n")

    runner.on("apt-get", "-o", "DPkg::Lock::Timeout=600", "-y", action=installed)
    result = prepare.run(ctx)
    assert "python for CE 6.x: python3.11 python3.11-venv" in result.summary


def test_setup_6x_needs_both_secrets_in_a_writable_form(make_ctx: MakeCtx, tmp_path: Path) -> None:
    from scripts.cenode import setup_due
    from scripts.cenode.prompts import Answers

    def answers(mp: str, jwt: str) -> Answers:
        return Answers("secondary", "test", "/opt/shared/data", ["10.0.1.10", "10.0.2.10"], "10.0.2.10", jwt_secret=jwt, maintenance_password=mp)

    setup_due.validate6(answers("Mp#1", "Jwt1"))
    for mp, jwt, setting in (("", "Jwt1", "maintenancePassword"), ("Mp#1", "", "jwtSecret"), ("Mp#1", "Jwt\n1", "jwtSecret")):
        with pytest.raises(PhaseError) as failed:
            setup_due.validate6(answers(mp, jwt))
        assert f"cloud-exchange-ha:{setting}" in failed.value.fix


def test_setup_6x_environment_carries_proxy_and_pip_mirror_but_no_password(
    make_ctx: MakeCtx, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scripts.cenode.phases import setup_ce6
    from scripts.cenode.prompts import Answers

    monkeypatch.setattr(setup_ce6, "child_env", lambda: {"PATH": "/usr/bin"})

    def env_for(proxy: str) -> dict[str, str]:
        ctx, _ = six(make_ctx, tmp_path, "setup", proxy_url=proxy, pip_index_url="http://mirror/simple/")
        cfg = ctx.cfg
        answers = Answers(cfg.role, "test", cfg.shared_dir, cfg.cluster_ips, cfg.node_ip, proxy_url=proxy)
        return setup_ce6.setup_env(ctx, answers)

    plain = env_for("http://proxy:3128")
    assert plain["https_proxy"] == "http://proxy:3128" and "127.0.0.21" in plain["no_proxy"] and plain["PIP_INDEX_URL"] == "http://mirror/simple/"
    secret = env_for("http://user:S3cret@proxy:3128")
    assert "https_proxy" not in secret and not any("S3cret" in v for v in secret.values())
