"""SELinux on a RHEL node: its mode now, what the next boot still needs to have it disabled, and
whether a reboot is pending. ``preflight`` reports it, ``prepare`` changes it, ``stop`` waits for it.

CE's setup refuses SELinux "enabled", permissive included (docs/ce-facts.md §4), so CE needs it
disabled, which only takes effect at boot: ``SELINUX=disabled`` in ``/etc/selinux/config``, and on
RHEL 9 and later the kernel argument ``selinux=0`` as well (RHEL 9 ignores ``SELINUX=disabled``
for disabling; the config value then only means permissive). Until that reboot ``setenforce 0``
makes it permissive at once: CE's containers keep running, only CE's setup still refuses.

Must not touch: anything (reading only; ``prepare`` writes what ``BootChange`` names).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Tuple  # noqa: UP035 - python 3.8 nodes

from .system import Ctx, OsInfo, read_text

CONFIG = "/etc/selinux/config"
ENFORCE = "/sys/fs/selinux/enforce"
KERNEL_ARG = "selinux=0"
#: the first RHEL major release that needs the kernel argument (ignores SELINUX=disabled at boot)
KERNEL_ARG_FROM_MAJOR = 9

#: what ``getenforce`` prints
ENFORCING, PERMISSIVE, DISABLED = "Enforcing", "Permissive", "Disabled"

#: the boot settings, as ``SelinuxState.boot_missing`` names them
CONFIG_SETTING = f"SELINUX=disabled in {CONFIG}"
KERNEL_SETTING = f"kernel argument {KERNEL_ARG} (grubby)"


@dataclass(frozen=True)
class SelinuxState:
    """``mode`` now (Enforcing | Permissive | Disabled) and the boot settings still missing."""

    mode: str
    boot_missing: Tuple[str, ...]  # noqa: UP006 - python 3.8 nodes

    @property
    def enabled(self) -> bool:
        return self.mode != DISABLED

    @property
    def reboot_pending(self) -> bool:
        """Enabled now, but the next boot disables it: only a reboot is left."""
        return self.enabled and not self.boot_missing

    def describe(self) -> str:
        """One phrase for a phase's line: the mode, and whether a reboot is pending."""
        if not self.enabled:
            return "SELinux disabled"
        if self.reboot_pending:
            return f"SELinux {self.mode.lower()} until the node reboots (disabled from the next boot): reboot pending"
        return f"SELinux {self.mode.lower()}, the next boot still lacks {' and '.join(self.boot_missing)}"


def rewrite_config(text: str) -> tuple[str, bool]:
    """Set ``SELINUX=disabled`` (replacing the active line, or appending one); (new text, changed)."""
    out = []
    seen = False
    for line in text.splitlines():
        if re.match(r"^\s*SELINUX\s*=", line):
            if not seen:
                out.append("SELINUX=disabled")
                seen = True
            continue
        out.append(line)
    if not seen:
        out.append("SELINUX=disabled")
    new = "\n".join(out) + "\n"
    return new, new != (text if text.endswith("\n") else text + "\n")


def kernel_args_disable(grubby_info: str) -> bool:
    """Every kernel ``grubby --info=ALL`` lists boots with ``selinux=0`` (and at least one is listed)."""
    args = [line.partition("=")[2].strip().strip('"') for line in grubby_info.splitlines() if line.startswith("args=")]
    return bool(args) and all(KERNEL_ARG in value.split() for value in args)


def needs_kernel_arg(osinfo: OsInfo) -> bool:
    return osinfo.family == "rhel" and osinfo.version_tuple[:1] >= (KERNEL_ARG_FROM_MAJOR,)


def current_mode(ctx: Ctx) -> str:
    """``getenforce``'s answer; without it, selinuxfs (absent: Disabled, enforce 1/0)."""
    if ctx.runner.which("getenforce"):
        answer = ctx.runner.run(["getenforce"], timeout=30).out.strip()
        if answer in (ENFORCING, PERMISSIVE, DISABLED):
            return answer
    enforce = ctx.env.host_path(ENFORCE)
    if not os.path.exists(enforce):
        return DISABLED
    return ENFORCING if read_text(enforce, default="").strip() == "1" else PERMISSIVE


def read_state(ctx: Ctx, osinfo: OsInfo) -> SelinuxState:
    """The mode now and what the next boot still lacks (nothing when SELinux is not installed)."""
    mode = current_mode(ctx)
    config = ctx.env.host_path(CONFIG)
    if mode == DISABLED and not os.path.exists(config):
        return SelinuxState(mode, ())
    missing = []
    if rewrite_config(read_text(config, default=""))[1]:
        missing.append(CONFIG_SETTING)
    if needs_kernel_arg(osinfo):
        info = ctx.runner.run(["grubby", "--info=ALL"], timeout=60) if ctx.runner.which("grubby") else None
        if info is None or not info.ok or not kernel_args_disable(info.out):
            missing.append(KERNEL_SETTING)
    return SelinuxState(mode, tuple(missing))
