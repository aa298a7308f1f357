"""SELinux on RHEL (cenode.selinux): the mode and boot settings read from recorded command outputs
(getenforce, grubby --info=ALL, /etc/selinux/config, os-release of RHEL 8 and 9), preflight's
report instead of a failure, and stop refusing to take CE down while SELinux is still on.

The test hosts are Debian without SELinux: everything here runs on recorded outputs only."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from scripts.cenode import selinux
from scripts.cenode.findings import PreflightFailed
from scripts.cenode.phases import preflight, service
from scripts.cenode.system import Ctx, PhaseError, parse_os_release

from .conftest import FakeRunner, every_node_sees_the_share
from .test_preflight import GB, write_host
from .test_prepare import DISABLED_CONFIG, ENFORCING_CONFIG, RHEL_810, grubby_info, rhel
from .test_service import SECONDARY_DOC, Probe
from .test_system import DEBIAN_12, RHEL_94


def test_rewrite_config() -> None:
    text = "# comment SELINUX=enforcing\nSELINUX=enforcing\nSELINUXTYPE=targeted\n"
    new, changed = selinux.rewrite_config(text)
    assert changed and new == "# comment SELINUX=enforcing\nSELINUX=disabled\nSELINUXTYPE=targeted\n"
    assert selinux.rewrite_config(new) == (new, False)
    assert selinux.rewrite_config("SELINUXTYPE=targeted\n") == ("SELINUXTYPE=targeted\nSELINUX=disabled\n", True)
    assert selinux.rewrite_config("SELINUX=permissive\nSELINUX=enforcing\n") == ("SELINUX=disabled\n", True)


def test_kernel_args_must_disable_every_kernel() -> None:
    assert selinux.kernel_args_disable(grubby_info("selinux=0"))
    assert not selinux.kernel_args_disable(grubby_info(""))
    assert not selinux.kernel_args_disable(grubby_info("selinux=01"))
    one_missing = grubby_info("selinux=0").replace("selinux=0", "", 1)
    assert not selinux.kernel_args_disable(one_missing)
    assert not selinux.kernel_args_disable("")  # grubby listed nothing: not proven


CONFIG_MISSING = "SELINUX=disabled in /etc/selinux/config"


@pytest.mark.parametrize(
    ("os_release", "getenforce", "config", "grub_args", "mode", "missing", "pending"),
    [
        (RHEL_94, "Enforcing", ENFORCING_CONFIG, "", "Enforcing", (CONFIG_MISSING, "kernel argument selinux=0 (grubby)"), False),
        (RHEL_94, "Permissive", DISABLED_CONFIG, "", "Permissive", ("kernel argument selinux=0 (grubby)",), False),
        (RHEL_94, "Permissive", DISABLED_CONFIG, "selinux=0", "Permissive", (), True),
        (RHEL_94, "Enforcing", DISABLED_CONFIG, "selinux=0", "Enforcing", (), True),  # set for the next boot, setenforce not yet
        (RHEL_94, "Disabled", DISABLED_CONFIG, "selinux=0", "Disabled", (), False),
        (RHEL_810, "Enforcing", ENFORCING_CONFIG, "", "Enforcing", (CONFIG_MISSING,), False),
        (RHEL_810, "Permissive", DISABLED_CONFIG, "", "Permissive", (), True),
        (RHEL_810, "Disabled", DISABLED_CONFIG, "", "Disabled", (), False),
    ],
)
def test_read_state(
    make_ctx: Callable[..., tuple[Ctx, FakeRunner]],
    os_release: str,
    getenforce: str,
    config: str,
    grub_args: str,
    mode: str,
    missing: tuple[str, ...],
    pending: bool,
) -> None:
    ctx, runner = make_ctx("preflight")
    rhel(ctx, runner, getenforce, grub_args, os_release=os_release, config=config)
    state = selinux.read_state(ctx, parse_os_release(os_release))
    assert (state.mode, state.boot_missing, state.reboot_pending) == (mode, missing, pending)
    assert runner.ran("grubby", "--info=ALL") is (os_release == RHEL_94)


def test_without_getenforce_selinuxfs_tells(make_ctx: Callable[..., tuple[Ctx, FakeRunner]]) -> None:
    ctx, _ = make_ctx("preflight")
    assert selinux.current_mode(ctx) == "Disabled"
    enforce = Path(ctx.env.host_path("/sys/fs/selinux/enforce"))
    enforce.parent.mkdir(parents=True)
    enforce.write_text("1")
    assert selinux.current_mode(ctx) == "Enforcing"
    enforce.write_text("0")
    assert selinux.current_mode(ctx) == "Permissive"


# ----------------------------------------------------------------------------- preflight


@pytest.fixture
def fit_rhel(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], monkeypatch: pytest.MonkeyPatch) -> Callable[..., tuple[Ctx, FakeRunner]]:
    """A fit 8 vCPU / 16 GiB node (disk faked); the caller says OS and SELinux."""
    monkeypatch.setattr(preflight, "disk_of", lambda path: ("/", 100 * GB, 70 * GB))

    def build(os_release: str, getenforce: str, config: str, grub_args: str) -> tuple[Ctx, FakeRunner]:
        ctx, runner = make_ctx("preflight", migrate=True, ce_dir="/nonexistent-ce")
        write_host(ctx, os_release, 8, 16 * 1024 * 1024)
        rhel(ctx, runner, getenforce, grub_args, os_release=os_release, config=config)
        return ctx, runner

    return build


def selinux_finding(ctx: Ctx) -> preflight.Finding:
    (finding,) = [f for f in preflight.collect(ctx, skip_peers=True) if "SELinux" in f.what]
    return finding


def test_preflight_reports_what_prepare_will_change_on_rhel_9(fit_rhel: Callable[..., tuple[Ctx, FakeRunner]]) -> None:
    ctx, runner = fit_rhel(RHEL_94, "Enforcing", ENFORCING_CONFIG, "")
    finding = selinux_finding(ctx)
    assert finding.level == "warn"
    assert finding.what == (
        "SELinux is enforcing: prepare makes it permissive at once (CE keeps running) and disabled from the next boot "
        "(SELINUX=disabled in /etc/selinux/config and kernel argument selinux=0 (grubby)); a reboot is then pending "
        "(CE's setup refuses SELinux, permissive too: the cutover's stop waits for it)"
    )
    assert not runner.ran("setenforce") and not runner.ran("grubby", "--update-kernel")  # preflight changes nothing
    assert Path(ctx.env.host_path("/etc/selinux/config")).read_text() == ENFORCING_CONFIG


def test_preflight_says_a_reboot_is_pending_and_ce_runs_meanwhile(fit_rhel: Callable[..., tuple[Ctx, FakeRunner]]) -> None:
    ctx, _ = fit_rhel(RHEL_810, "Permissive", DISABLED_CONFIG, "")
    finding = selinux_finding(ctx)
    assert (finding.level, finding.what) == (
        "warn",
        "SELinux permissive until the node reboots (disabled from the next boot): reboot pending; CE keeps running meanwhile "
        "(permissive), but CE's setup refuses SELinux until the reboot: the cutover's stop waits for it",
    )


def test_preflight_on_a_rebooted_node_has_nothing_to_say(fit_rhel: Callable[..., tuple[Ctx, FakeRunner]]) -> None:
    ctx, _ = fit_rhel(RHEL_94, "Disabled", DISABLED_CONFIG, "selinux=0")
    assert (selinux_finding(ctx).level, selinux_finding(ctx).what) == ("ok", "SELinux disabled")


def test_preflight_still_fails_for_selinux_where_prepare_does_not_handle_it(
    make_ctx: Callable[..., tuple[Ctx, FakeRunner]], monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx, runner = make_ctx("preflight", allow_undersized=True)
    write_host(ctx, DEBIAN_12, 8, 16 * 1024 * 1024)
    monkeypatch.setattr(preflight, "disk_of", lambda path: ("/", 100 * GB, 70 * GB))
    runner.tools.add("getenforce")
    runner.on("getenforce", out="Permissive\n")
    with pytest.raises(PreflightFailed) as failed:
        preflight.run(ctx, skip_peers=True)
    assert failed.value.lines("preflight") == [
        "ERROR preflight: SELinux is permissive (CE needs it disabled, permissive is not enough) - fix: disable SELinux on this node "
        "and reboot it (prepare does so on RHEL only)"
    ]
    assert not runner.ran("grubby")


# ----------------------------------------------------------------------------- stop


def stop_ctx(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], tmp_path: Path, getenforce: str, config: str, grub_args: str) -> tuple[Ctx, FakeRunner]:
    ce_dir = tmp_path / "ce"
    ce_dir.mkdir(exist_ok=True)
    (ce_dir / "stop").write_text("#!/bin/sh\n")
    ctx, runner = make_ctx("stop", ce_dir=str(ce_dir), migrate=True, tools=["docker"])
    every_node_sees_the_share(ctx)  # the shared-folder check (issue 13, rule 3) passes: SELinux is what is tested
    rhel(ctx, runner, getenforce, grub_args, config=config)
    runner.on("docker", "ps", out="ta_cloud_exchange_mongodb-primary_1\n")
    runner.on("./stop", action=lambda argv: runner.on("docker", "ps", out=""))
    return ctx, runner


@pytest.mark.parametrize(
    ("getenforce", "config", "grub_args", "line"),
    [
        (
            "Permissive", DISABLED_CONFIG, "selinux=0",
            "ERROR stop: SELinux permissive until the node reboots (disabled from the next boot): reboot pending: CE's setup would refuse it, "
            "so CE is left running - fix: reboot the node (CE keeps running until then), then run pulumi up again",
        ),
        (
            "Enforcing", ENFORCING_CONFIG, "",
            "ERROR stop: SELinux enforcing, the next boot still lacks SELINUX=disabled in /etc/selinux/config and kernel argument selinux=0 "
            "(grubby): CE's setup would refuse it, so CE is left running - fix: run prepare (it disables SELinux from the next boot), "
            "reboot the node, then run pulumi up again",
        ),
    ],
)  # fmt: skip
def test_stop_leaves_ce_running_while_selinux_is_on(
    make_ctx: Callable[..., tuple[Ctx, FakeRunner]], tmp_path: Path, getenforce: str, config: str, grub_args: str, line: str
) -> None:
    ctx, runner = stop_ctx(make_ctx, tmp_path, getenforce, config, grub_args)
    with pytest.raises(PhaseError) as failed:
        service.stop(ctx, probe=Probe(SECONDARY_DOC, None), force=True)
    assert failed.value.line("stop") == line
    assert not runner.ran("./stop")


def test_stop_after_the_reboot_stops(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], tmp_path: Path) -> None:
    ctx, runner = stop_ctx(make_ctx, tmp_path, "Disabled", DISABLED_CONFIG, "selinux=0")
    assert service.stop(ctx, probe=Probe(SECONDARY_DOC, None), force=True).status == "changed"
    assert runner.ran("./stop")
