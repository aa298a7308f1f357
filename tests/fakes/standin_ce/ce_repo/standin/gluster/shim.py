#!/usr/bin/env python3
# TEST DOUBLE of Netskope Cloud Exchange (stand-in for tests): a GlusterFS stand-in; not GlusterFS, no CE code.
"""One self-contained file that plays ``gluster`` (CLI), ``glusterd`` (daemon), ``glusterfs``
(client) and ``mount.glusterfs``, chosen by the name it is run as. ``standin-install-gluster``
copies it to ``<bin>/gluster`` and links the other names to it. Real GlusterFS needs FUSE and a
kernel module, which the test hosts do not offer; this stand-in replicates and mounts nothing.

State
* shared, like the volume metadata glusterd keeps on every peer:
  ``<opt shared>/data/.standin-gluster/state.json`` (trusted pool by UUID, volumes). The test
  hosts bind-mount one host folder (the volume's files, ``--volume-dir``) at the same place.
* local: ``/var/lib/glusterd/glusterd.info`` (``UUID=``), ``standin-glusterd.pid`` and
  ``standin-glusterd.log`` next to it; ``/etc/glusterfs/glusterd.vol`` (``transport.socket.listen-port``,
  ``transport.socket.bind-address``, ``base-port``, ``max-port``).
* the "mount", seen where GlusterFS's is seen: in the mount table, at ``<opt shared>/data``, with
  the source ``<server>:/<volume>``. On a test host (root) it is a real ``mount --bind`` of the
  volume folder (``--volume-dir``, a tmpfs the lab names ``...:/CloudExchange``); where the tests
  cannot mount, ``STANDIN_MOUNTINFO`` names a file that plays ``/proc/self/mountinfo`` and the
  "mount" is a ``fuse.glusterfs`` line in it. Stopping the volume removes the mount.

The fake glusterd listens on ``bind-address:listen-port`` (default all addresses, 24007) and
answers each connection with one line ``STANDIN-GLUSTERD <uuid>``: that is how ``peer probe`` finds
a peer and how ``Connected`` is judged. Every ``gluster`` command needs the local fake glusterd.
``--xml`` is answered for ``volume info`` and ``peer status`` with GlusterFS's element names
(``cliOutput``/``opRet``/``opErrstr``, ``volInfo/volumes/volume``, ``peerStatus/peer``).

TEST-ONLY overrides (CE and GlusterFS have none): ``STANDIN_OPT_SHARED`` replaces ``/opt/shared``;
``STANDIN_GLUSTER_LOCAL`` is a directory holding glusterd.info, the pidfile, the log and
glusterd.vol; ``STANDIN_GLUSTER_VOLUME`` is the volume folder; ``STANDIN_MOUNTINFO`` the mount
table file. The installer bakes its ``--opt-shared``/``--local-dir``/``--volume-dir`` into the
constants below.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any
from xml.etree import ElementTree

GLUSTER_VERSION = "11.1"
BANNER = "STANDIN-GLUSTERD"
DEFAULT_LISTEN_PORT = 24007
DEFAULT_BASE_PORT = 24009
MARKER_TEXT = "TEST DOUBLE of Netskope Cloud Exchange"
#: what GlusterFS leaves in a brick folder it uses (with the volume-id xattr the stand-in does not set)
BRICK_MARKER = ".glusterfs"
#: rewritten by standin-install-gluster (--opt-shared, --local-dir, --volume-dir); "" = the real local paths
DEFAULT_OPT_SHARED = "/opt/shared"
DEFAULT_LOCAL_DIR = ""
DEFAULT_VOLUME_DIR = ""

State = dict[str, Any]


# ----------------------------------------------------------------------------------------- paths


def opt_shared() -> str:
    return os.environ.get("STANDIN_OPT_SHARED") or DEFAULT_OPT_SHARED


def shared_data() -> str:
    return os.path.join(opt_shared(), "data")


def _local_override() -> str:
    return os.environ.get("STANDIN_GLUSTER_LOCAL") or DEFAULT_LOCAL_DIR


def local_dir() -> str:
    return _local_override() or "/var/lib/glusterd"


def glusterd_vol_path() -> str:
    override = _local_override()
    return os.path.join(override, "glusterd.vol") if override else "/etc/glusterfs/glusterd.vol"


def pid_path() -> str:
    return os.path.join(local_dir(), "standin-glusterd.pid")


def log_path() -> str:
    return os.path.join(local_dir(), "standin-glusterd.log")


def info_path() -> str:
    return os.path.join(local_dir(), "glusterd.info")


def volume_dir() -> str:
    """Where the volume's files are (shared by all nodes); "" = the data folder itself (local tests)."""
    return os.environ.get("STANDIN_GLUSTER_VOLUME") or DEFAULT_VOLUME_DIR


def state_dir() -> str:
    return os.path.join(volume_dir() or shared_data(), ".standin-gluster")


def mount_table() -> str:
    """The mount table the "mount" goes to: a test's file (``STANDIN_MOUNTINFO``) or "" = the kernel's."""
    return os.environ.get("STANDIN_MOUNTINFO", "")


def _escape(path: str) -> str:
    return path.replace("\\", "\\134").replace(" ", "\\040").replace("\t", "\\011").replace("\n", "\\012")


def _unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda match: chr(int(match.group(1), 8)), field)


def mounted_source(mountpoint: str) -> str:
    """The source of the mount at ``mountpoint`` ("" when none), from the mount table in use."""
    target = os.path.realpath(mountpoint)
    found = ""
    with contextlib.suppress(OSError), open(mount_table() or "/proc/self/mountinfo", encoding="utf-8", errors="replace") as handle:
        for line in handle:
            left, _, right = line.partition(" - ")
            fields, tail = left.split(), right.split()
            if len(fields) > 4 and len(tail) > 1 and _unescape(fields[4]) == target:
                found = _unescape(tail[1])  # the last mount at a point hides the earlier ones
    return found


def _record_mount(source: str, mountpoint: str) -> str:
    """Make ``mountpoint`` show as the volume's mount; "" on success, else why not."""
    table = mount_table()
    if table:
        line = f"77 22 0:77 / {_escape(os.path.realpath(mountpoint))} rw,relatime - fuse.glusterfs {_escape(source)} rw,user_id=0,group_id=0\n"
        with open(table, "a", encoding="utf-8") as handle:
            handle.write(line)
        return ""
    if not volume_dir():
        return "no volume folder to mount (install with --volume-dir, or set STANDIN_MOUNTINFO)"
    done = subprocess.run(["mount", "--bind", volume_dir(), mountpoint], capture_output=True, text=True, check=False)
    return "" if done.returncode == 0 else (done.stderr.strip() or f"mount --bind exited {done.returncode}")


def _drop_mounts(name: str) -> None:
    """Clients of a stopped volume lose their mount (this node's, and every node's sharing the table)."""
    data = shared_data()
    if not mounted_source(data).endswith(f":/{name}"):
        return
    table = mount_table()
    if table:
        with open(table, encoding="utf-8") as handle:
            kept = [line for line in handle if not _unescape((line.partition(" - ")[2].split() + ["", ""])[1]).endswith(f":/{name}")]
        with open(table, "w", encoding="utf-8") as handle:
            handle.writelines(kept)
    else:
        subprocess.run(["umount", data], capture_output=True, check=False)


# ------------------------------------------------------------------------------ local glusterd


def version_text() -> str:
    return f"glusterfs {GLUSTER_VERSION}\nRepository revision: git://git.gluster.org/glusterfs.git\n(STAND-IN: {MARKER_TEXT}, GlusterFS stand-in)\n"


def vol_options() -> dict[str, str]:
    options: dict[str, str] = {}
    try:
        with open(glusterd_vol_path(), encoding="utf-8") as handle:
            for line in handle:
                parts = line.strip().split(None, 2)
                if len(parts) == 3 and parts[0] == "option":
                    options[parts[1]] = parts[2].strip()
    except OSError:
        pass
    return options


def listen_address() -> tuple[str, int]:
    options = vol_options()
    port = int(options.get("transport.socket.listen-port", DEFAULT_LISTEN_PORT))
    return options.get("transport.socket.bind-address", "0.0.0.0"), port  # noqa: S104 - glusterd's default


def my_uuid(create: bool = False) -> str | None:
    try:
        with open(info_path(), encoding="ascii") as handle:
            for line in handle:
                if line.startswith("UUID="):
                    return line.strip().partition("=")[2]
    except OSError:
        pass
    if not create:
        return None
    value = str(uuid.uuid4())
    os.makedirs(local_dir(), exist_ok=True)
    with open(info_path(), "w", encoding="ascii") as handle:
        handle.write(f"UUID={value}\noperating-version=110000\n")
    return value


def glusterd_pid() -> int | None:
    try:
        with open(pid_path(), encoding="ascii") as handle:
            pid = int(handle.read().strip() or "0")
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return pid if pid > 0 and b"glusterd" in handle.read() else None
    except (OSError, ValueError):
        return None


def query(host: str, timeout: float = 1.0) -> str | None:
    """The UUID the glusterd on ``host`` announces, or None if nothing answers like one."""
    data = b""
    try:
        with socket.create_connection((host, listen_address()[1]), timeout=timeout) as sock:
            sock.settimeout(timeout)
            while b"\n" not in data and len(data) < 256:
                chunk = sock.recv(256)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return None
    words = data.decode("utf-8", errors="replace").split()
    return words[1] if len(words) == 2 and words[0] == BANNER else None


def _serve(sock: socket.socket, me: str, pidfiles: list[str]) -> None:
    for path in pidfiles:
        with open(path, "w", encoding="ascii") as handle:
            handle.write(f"{os.getpid()}\n")

    def _stop(signum: int, frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    address, port = sock.getsockname()[:2]
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} stand-in glusterd {me} listening on {address}:{port}", flush=True)
    try:
        while True:
            conn, _ = sock.accept()
            with conn, contextlib.suppress(OSError):
                conn.sendall(f"{BANNER} {me}\n".encode())
    finally:
        for path in pidfiles:
            with contextlib.suppress(OSError, ValueError), open(path, encoding="ascii") as handle:
                if int(handle.read().strip()) == os.getpid():
                    os.unlink(path)


def glusterd_main(args: list[str]) -> int:
    """``glusterd [-p PIDFILE] [-N] [--log-level L]``: daemonises once listening, like glusterd."""
    if "--version" in args or "-V" in args:
        sys.stdout.write(version_text())
        return 0
    extra_pidfile, foreground = "", False
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        if arg in ("-p", "--pid-file") and rest:
            extra_pidfile = rest.pop(0)
        elif arg.startswith("--pid-file="):
            extra_pidfile = arg.partition("=")[2]
        elif arg in ("-N", "--no-daemon"):
            foreground = True
        elif arg in ("-l", "--log-file", "-L", "--log-level") and rest:
            rest.pop(0)
    if glusterd_pid() is not None:
        return 0  # already running
    me = my_uuid(create=True)
    assert me is not None
    address, port = listen_address()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((address, port))
        sock.listen(16)
    except OSError as exc:
        sock.close()
        print(f"glusterd: cannot listen on {address}:{port}: {exc}", file=sys.stderr)
        return 1
    pidfiles = [pid_path()] + ([extra_pidfile] if extra_pidfile else [])
    if not foreground:
        child = os.fork()
        if child > 0:
            sock.close()
            deadline = time.monotonic() + 5.0
            while time.monotonic() < deadline:
                if glusterd_pid() == child:
                    return 0
                time.sleep(0.02)
            print("glusterd: the daemon did not come up", file=sys.stderr)
            return 1
        os.setsid()
        devnull = os.open(os.devnull, os.O_RDONLY)
        log = os.open(log_path(), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(devnull, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(devnull)
        os.close(log)
    try:
        _serve(sock, me, pidfiles)
    except SystemExit:
        pass
    if not foreground:
        os._exit(0)
    return 0


# ---------------------------------------------------------------------------------- state file


@contextlib.contextmanager
def locked_state() -> Iterator[State]:
    os.makedirs(state_dir(), exist_ok=True)
    path = os.path.join(state_dir(), "state.json")
    with open(os.path.join(state_dir(), "state.lock"), "a", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            try:
                with open(path, encoding="utf-8") as handle:
                    state: State = json.load(handle)
            except FileNotFoundError:
                state = {}
            state.setdefault("pool", {})
            state.setdefault("volumes", {})
            before = json.dumps(state, sort_keys=True)
            yield state
            if json.dumps(state, sort_keys=True) != before:
                with open(path + ".tmp", "w", encoding="utf-8") as handle:
                    json.dump(state, handle, indent=2, sort_keys=True)
                os.replace(path + ".tmp", path)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


# ---------------------------------------------------------------------------------------- CLI


def ok(message: str) -> int:
    print(message)
    return 0


def fail(message: str) -> int:
    print(message, file=sys.stderr)
    return 1


def confirm(question: str) -> bool:
    sys.stdout.write(f"{question} (y/n) ")
    sys.stdout.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def _add_hostname(state: State, member: str, host: str) -> None:
    names = state["pool"].setdefault(member, {"hostnames": []})["hostnames"]
    if host not in names:
        names.append(host)


def _uuid_of(state: State, host: str) -> str | None:
    for member, info in state["pool"].items():
        if host in info.get("hostnames", []):
            return str(member)
    return None


def _hostname(info: dict[str, Any]) -> str:
    names = info.get("hostnames") or ["unknown"]
    return str(names[0])


def _on_root_fs(path: str) -> bool:
    probe = path
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    return os.stat(probe).st_dev == os.stat("/").st_dev


def peer_probe(state: State, me: str, host: str) -> int:
    member = query(host)
    if member is None:
        return fail("peer probe: failed: Probe returned with Transport endpoint is not connected")
    if member == me:
        return ok("peer probe: success. Probe on localhost not needed")
    if member in state["pool"] and me in state["pool"]:
        _add_hostname(state, member, host)
        return ok(f"peer probe: success. Host {host} port {listen_address()[1]} already in peer list")
    state["pool"].setdefault(me, {"hostnames": []})
    bind = listen_address()[0]
    if not state["pool"][me]["hostnames"] and bind != "0.0.0.0":  # noqa: S104
        _add_hostname(state, me, bind)
    _add_hostname(state, member, host)
    return ok("peer probe: success")


def peer_status(state: State, me: str) -> int:
    peers = [(m, info) for m, info in state["pool"].items() if m != me] if me in state["pool"] else []
    print(f"Number of Peers: {len(peers)}")
    for member, info in peers:
        host = _hostname(info)
        connected = query(host) == member
        print(f"\nHostname: {host}\nUuid: {member}\nState: Peer in Cluster ({'Connected' if connected else 'Disconnected'})")
        if len(info.get("hostnames", [])) > 1:
            print("Other names:")
            for name in info["hostnames"][1:]:
                print(name)
    return 0


def pool_list(state: State, me: str) -> int:
    print("UUID\t\t\t\t\tHostname \tState")
    for member, info in state["pool"].items():
        if member != me:
            print(f"{member}\t{_hostname(info)}\t{'Connected' if query(_hostname(info)) == member else 'Disconnected'} ")
    print(f"{me}\tlocalhost\tConnected ")
    return 0


def peer_detach(state: State, host: str) -> int:
    member = _uuid_of(state, host)
    if member is None:
        return fail(f"peer detach: failed: {host} is not part of cluster")
    names = state["pool"][member]["hostnames"]
    for volume in state["volumes"].values():
        if any(brick.partition(":")[0] in names for brick in volume["bricks"]):
            return fail(f"peer detach: failed: Peer {host} hosts one or more bricks. Remove them (remove-brick/replace-brick) first")
    del state["pool"][member]
    return ok("peer detach: success")


def check_brick(state: State, me: str, brick: str, force: bool) -> str | None:
    """Why ``brick`` cannot be used, or None. A brick on this node is created if missing."""
    host, sep, path = brick.partition(":")
    if not sep or not path.startswith("/"):
        return f"wrong brick type: {brick}, use <HOSTNAME>:<export-dir-abs-path>"
    member = query(host)
    if member is None or (member != me and (member not in state["pool"] or me not in state["pool"])):
        return f"Host {host} is not in 'Peer in Cluster' state"
    for volume in state["volumes"].values():
        if brick in volume["bricks"]:
            return f"Brick: {brick} not available. Brick may be containing or be contained by an existing brick."
    if member == me:
        if os.path.isdir(os.path.join(path, BRICK_MARKER)):  # GlusterFS: the brick's volume-id xattr and .glusterfs
            return f"{path} is already part of a volume"
        if not force and _on_root_fs(path):
            return (
                f"The brick {brick} is being created in the root partition. It is recommended that you don't use the "
                "system's root partition for storage backend. Or use 'force' at the end of the command if you want to override this behavior."
            )
        os.makedirs(os.path.join(path, BRICK_MARKER), exist_ok=True)
        _add_hostname(state, me, host)
    return None


def _volume_type(volume: dict[str, Any]) -> str:
    return "Replicate" if int(volume["replica"]) > 1 else "Distribute"


def volume_create(state: State, me: str, words: list[str], script: bool) -> int:
    if not words:
        return fail("Usage: volume create <NEW-VOLNAME> [replica <COUNT>] <NEW-BRICK>... [force]")
    name, rest = words[0], words[1:]
    force = bool(rest) and rest[-1] == "force"
    rest = rest[:-1] if force else rest
    replica = 1
    if rest[:1] == ["replica"]:
        if len(rest) < 2 or not rest[1].isdigit():
            return fail(f"volume create: {name}: failed: replica count must be a number")
        replica, rest = int(rest[1]), rest[2:]
    if name in state["volumes"]:
        return fail(f"volume create: {name}: failed: Volume {name} already exists")
    if not rest or (replica > 1 and len(rest) != replica):
        return fail(f"volume create: {name}: failed: STAND-IN simulates 1 x N volumes only: give exactly replica-count bricks")
    if replica == 2 and not script and not confirm("Replica 2 volumes are prone to split-brain. Do you still want to continue?\n"):
        return fail(f"volume create: {name}: failed: aborted")
    for brick in rest:
        problem = check_brick(state, me, brick, force)
        if problem:
            return fail(f"volume create: {name}: failed: {problem}")
    state["volumes"][name] = {"id": str(uuid.uuid4()), "status": "Created", "replica": max(replica, 1), "bricks": rest, "full_heals": 0}
    return ok(f"volume create: {name}: success: please start the volume to access data")


def _volume(state: State, name: str) -> dict[str, Any] | None:
    volume: dict[str, Any] | None = state["volumes"].get(name)
    return volume


def volume_start(state: State, name: str, force: bool) -> int:
    volume = _volume(state, name)
    if volume is None:
        return fail(f"volume start: {name}: failed: Volume {name} does not exist")
    if volume["status"] == "Started" and not force:
        return fail(f"volume start: {name}: failed: Volume {name} already started")
    volume["status"] = "Started"
    return ok(f"volume start: {name}: success")


def volume_stop(state: State, name: str, script: bool) -> int:
    volume = _volume(state, name)
    if volume is None:
        return fail(f"volume stop: {name}: failed: Volume {name} does not exist")
    if not script and not confirm("Stopping volume will make its data inaccessible. Do you want to continue?"):
        return fail(f"volume stop: {name}: failed: aborted")
    if volume["status"] != "Started":
        return fail(f"volume stop: {name}: failed: Volume {name} is not in the started state")
    volume["status"] = "Stopped"
    _drop_mounts(name)  # clients of a stopped volume lose their mount
    return ok(f"volume stop: {name}: success")


def volume_delete(state: State, name: str, script: bool) -> int:
    volume = _volume(state, name)
    if volume is None:
        return fail(f"volume delete: {name}: failed: Volume {name} does not exist")
    if not script and not confirm("Deleting volume will erase all information about the volume. Do you want to continue?"):
        return fail(f"volume delete: {name}: failed: aborted")
    if volume["status"] == "Started":
        return fail(f"volume delete: {name}: failed: Volume {name} has been started.Volume needs to be stopped before deletion.")
    for brick in volume["bricks"]:  # the facts (docs/ce-facts.md §9.12) say CE's setup recreates the volume on the same
        path = brick.partition(":")[2]  # brick after this: the stand-in lets it (whoever clears GlusterFS's marks there)
        if query(brick.partition(":")[0]) == my_uuid() and os.path.isdir(os.path.join(path, BRICK_MARKER)):
            os.rmdir(os.path.join(path, BRICK_MARKER))
    del state["volumes"][name]
    return ok(f"volume delete: {name}: success")


def volume_info(state: State, names: list[str]) -> int:
    if names and names[0] not in ("all",) and names[0] not in state["volumes"]:
        return fail(f"Volume {names[0]} does not exist")
    selected = [names[0]] if names and names[0] != "all" else sorted(state["volumes"])
    if not selected:
        return ok("No volumes present")
    for name in selected:
        volume = state["volumes"][name]
        bricks = volume["bricks"]
        replica = int(volume["replica"])
        count = f"1 x {replica} = {len(bricks)}" if replica > 1 else str(len(bricks))
        print(f"\nVolume Name: {name}\nType: {_volume_type(volume)}\nVolume ID: {volume['id']}\nStatus: {volume['status']}")
        print(f"Snapshot Count: 0\nNumber of Bricks: {count}\nTransport-type: tcp\nBricks:")
        for index, brick in enumerate(bricks, start=1):
            print(f"Brick{index}: {brick}")
        print("Options Reconfigured:")
        if replica > 1:
            print("cluster.granular-entry-heal: on\nperformance.client-io-threads: off")
        print("transport.address-family: inet\nstorage.fips-mode-rchecksum: on\nnfs.disable: on")
    return 0


def _cli_output(op_ret: int = 0, errno: int = 0, errstr: str = "") -> ElementTree.Element:
    """GlusterFS's ``--xml`` envelope: ``<cliOutput><opRet/><opErrno/><opErrstr/>...``."""
    root = ElementTree.Element("cliOutput")
    ElementTree.SubElement(root, "opRet").text = str(op_ret)
    ElementTree.SubElement(root, "opErrno").text = str(errno)
    ElementTree.SubElement(root, "opErrstr").text = errstr or None
    return root


def _print_xml(root: ElementTree.Element) -> None:
    ElementTree.indent(root)
    sys.stdout.write('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n' + ElementTree.tostring(root, encoding="unicode") + "\n")


def _add(parent: ElementTree.Element, tag: str, text: object) -> ElementTree.Element:
    child = ElementTree.SubElement(parent, tag)
    child.text = str(text)
    return child


def volume_info_xml(state: State, names: list[str]) -> int:
    """``gluster --xml volume info [NAME]`` in GlusterFS 11's element names (volInfo/volumes/volume)."""
    if names and names[0] != "all" and names[0] not in state["volumes"]:
        _print_xml(_cli_output(-1, 30806, f"Volume {names[0]} does not exist"))
        return 1
    selected = [names[0]] if names and names[0] != "all" else sorted(state["volumes"])
    root = _cli_output()
    volumes = ElementTree.SubElement(ElementTree.SubElement(root, "volInfo"), "volumes")
    for name in selected:
        volume = state["volumes"][name]
        bricks = volume["bricks"]
        replica = int(volume["replica"])
        node = ElementTree.SubElement(volumes, "volume")
        _add(node, "name", name)
        _add(node, "id", volume["id"])
        _add(node, "status", 1 if volume["status"] == "Started" else 2 if volume["status"] == "Stopped" else 0)
        _add(node, "statusStr", volume["status"])
        _add(node, "snapshotCount", 0)
        _add(node, "brickCount", len(bricks))
        _add(node, "distCount", max(len(bricks) // replica, 1))
        _add(node, "replicaCount", replica)
        _add(node, "type", 2 if replica > 1 else 0)
        _add(node, "typeStr", _volume_type(volume))
        _add(node, "transport", 0)
        listed = ElementTree.SubElement(node, "bricks")
        for brick in bricks:
            entry = _add(listed, "brick", brick)
            _add(entry, "name", brick)
            _add(entry, "isArbiter", 0)
    _add(volumes, "count", len(selected))
    _print_xml(root)
    return 0


def peer_status_xml(state: State, me: str) -> int:
    """``gluster --xml peer status`` (peerStatus/peer: hostname, hostnames, connected, stateStr)."""
    root = _cli_output()
    listed = ElementTree.SubElement(root, "peerStatus")
    for member, info in state["pool"].items() if me in state["pool"] else ():
        if member == me:
            continue
        host = _hostname(info)
        peer = ElementTree.SubElement(listed, "peer")
        _add(peer, "uuid", member)
        _add(peer, "hostname", host)
        names = ElementTree.SubElement(peer, "hostnames")
        for name in info.get("hostnames", []) or [host]:
            _add(names, "hostname", name)
        _add(peer, "connected", 1 if query(host) == member else 0)
        _add(peer, "state", 3)
        _add(peer, "stateStr", "Peer in Cluster")
    _print_xml(root)
    return 0


def volume_list(state: State) -> int:
    if not state["volumes"]:
        return ok("No volumes present in cluster")
    for name in sorted(state["volumes"]):
        print(name)
    return 0


def volume_add_brick(state: State, me: str, words: list[str], script: bool) -> int:
    if len(words) < 2:
        return fail("Usage: volume add-brick <VOLNAME> [replica <COUNT>] <NEW-BRICK> ... [force]")
    name, rest = words[0], words[1:]
    force = rest[-1] == "force"
    rest = rest[:-1] if force else rest
    volume = _volume(state, name)
    if volume is None:
        return fail(f"volume add-brick: failed: Volume {name} does not exist")
    if rest[:1] != ["replica"] or len(rest) < 3 or not rest[1].isdigit():
        return fail("volume add-brick: failed: STAND-IN simulates 'add-brick <VOLNAME> replica <N> <BRICK>... [force]' only")
    replica, bricks = int(rest[1]), rest[2:]
    current = int(volume["replica"])
    if replica <= current or replica != len(volume["bricks"]) + len(bricks):
        return fail(f"volume add-brick: failed: Incorrect replica count ({replica}) supplied. Volume already has ({current})")
    if (
        replica == 2
        and not script
        and not confirm("Replica 2 volumes are prone to split-brain. Use Arbiter or Replica 3 to avoid this.\nDo you still want to continue?\n")
    ):
        return fail("volume add-brick: failed: aborted")
    for brick in bricks:
        problem = check_brick(state, me, brick, force)
        if problem:
            return fail(f"volume add-brick: failed: {problem}")
    volume["bricks"] = list(volume["bricks"]) + bricks
    volume["replica"] = replica
    return ok("volume add-brick: success")


def volume_remove_brick(state: State, words: list[str], script: bool) -> int:
    """``volume remove-brick NAME replica N BRICK... force`` (a replica count reduced: ``force`` only, as GlusterFS)."""
    if len(words) < 2:
        return fail("Usage: volume remove-brick <VOLNAME> [replica <COUNT>] <BRICK> ... <start|stop|status|commit|force>")
    name, rest = words[0], words[1:]
    volume = _volume(state, name)
    if volume is None:
        return fail(f"volume remove-brick: failed: Volume {name} does not exist")
    if rest[-1:] != ["force"] or rest[:1] != ["replica"] or len(rest) < 4 or not rest[1].isdigit():
        return fail("volume remove-brick: failed: STAND-IN simulates 'remove-brick <VOLNAME> replica <N> <BRICK>... force' only "
                    "(changing the replica count needs force in GlusterFS)")  # fmt: skip
    replica, bricks = int(rest[1]), rest[2:-1]
    missing = [brick for brick in bricks if brick not in volume["bricks"]]
    if missing:
        return fail(f"volume remove-brick: failed: Incorrect brick {missing[0]} for volume {name}")
    if replica < 1 or replica != len(volume["bricks"]) - len(bricks):
        return fail(f"volume remove-brick: failed: number of bricks provided ({len(bricks)}) is not valid. need at least "
                    f"{len(volume['bricks']) - replica} (or in multiples of {len(volume['bricks']) - replica})")  # fmt: skip
    question = "Running remove-brick with cluster.force-migration enabled can result in data corruption. Do you want to continue?"
    if not script and not confirm(question):
        return fail("volume remove-brick commit force: failed: aborted")
    volume["bricks"] = [brick for brick in volume["bricks"] if brick not in bricks]
    volume["replica"] = replica
    return ok("volume remove-brick commit force: success")


def volume_heal(state: State, words: list[str]) -> int:
    if not words:
        return fail("Usage: volume heal <VOLNAME> [full | info]")
    name, mode = words[0], (words[1] if len(words) > 1 else "")
    volume = _volume(state, name)
    if volume is None:
        return fail(f"Volume {name} does not exist")
    if int(volume["replica"]) < 2:
        return fail(f"Volume {name} is not of type replicate")
    if volume["status"] != "Started":
        return fail(f"Volume {name} is not started.")
    if mode == "info":
        for brick in volume["bricks"]:
            host = brick.partition(":")[0]
            connected = query(host) is not None and query(host) == _uuid_of(state, host)
            print(f"Brick {brick}\nStatus: {'Connected' if connected else 'Transport endpoint is not connected'}\n"
                  f"Number of entries: {0 if connected else '-'}\n")
        return 0
    if mode == "full":
        volume["full_heals"] = int(volume.get("full_heals", 0)) + 1
    return ok(f"Launching heal operation to perform {'full ' if mode == 'full' else ''}self heal on volume {name} has been successful \n"
              "Use heal info commands to check status.")  # fmt: skip


def volume_status(state: State, names: list[str]) -> int:
    selected = names[:1] or sorted(state["volumes"])
    base = int(vol_options().get("base-port", DEFAULT_BASE_PORT))
    for name in selected:
        volume = _volume(state, name)
        if volume is None:
            return fail(f"Volume {name} does not exist")
        if volume["status"] != "Started":
            return fail(f"Volume {name} is not started")
        print(f"Status of volume: {name}\nGluster process                             TCP Port  RDMA Port  Online  Pid\n" + "-" * 78)
        for index, brick in enumerate(volume["bricks"]):
            online = "Y" if query(brick.partition(":")[0]) is not None else "N"
            print(f"Brick {brick:<38} {base + index:<9} 0          {online}       N/A")
    return 0


def gluster_main(argv: list[str]) -> int:
    script = xml = False
    words: list[str] = []
    for arg in argv:
        if arg.startswith("--mode="):
            script = arg == "--mode=script"
        elif arg == "--xml":
            xml = True
        elif arg != "--no-color":
            words.append(arg)
    if words[:1] in (["--version"], ["-V"]):
        sys.stdout.write(version_text())
        return 0
    if not words:
        return fail("STAND-IN gluster: the interactive shell is not simulated; give a command")
    me = my_uuid()
    if glusterd_pid() is None or me is None:
        print("Connection failed. Please check if gluster daemon is operational.")
        return 1
    command, rest = tuple(words[:2]), words[2:]
    with locked_state() as state:
        if command[0] == "volume" and state["volumes"] and me not in state["pool"]:
            return outside_the_pool(state, command, rest, xml)
        if command == ("peer", "probe") and rest:
            return peer_probe(state, me, rest[0])
        if command == ("peer", "status"):
            return peer_status_xml(state, me) if xml else peer_status(state, me)
        if command == ("peer", "detach") and rest:
            return peer_detach(state, rest[0])
        if command == ("pool", "list"):
            return pool_list(state, me)
        if command == ("volume", "create"):
            return volume_create(state, me, rest, script)
        if command == ("volume", "start") and rest:
            return volume_start(state, rest[0], rest[1:] == ["force"])
        if command == ("volume", "stop") and rest:
            return volume_stop(state, rest[0], script)
        if command == ("volume", "delete") and rest:
            return volume_delete(state, rest[0], script)
        if command == ("volume", "info"):
            return volume_info_xml(state, rest) if xml else volume_info(state, rest)
        if command == ("volume", "list"):
            return volume_list(state)
        if command == ("volume", "add-brick"):
            return volume_add_brick(state, me, rest, script)
        if command == ("volume", "remove-brick"):
            return volume_remove_brick(state, rest, script)
        if command == ("volume", "heal"):
            return volume_heal(state, rest)
        if command == ("volume", "status"):
            return volume_status(state, rest)
    return fail(f"unrecognized command (STAND-IN gluster simulates peer probe/status/detach, pool list, volume "
                f"create/start/stop/delete/info/list/add-brick/remove-brick/heal/status): {' '.join(words)}")  # fmt: skip


def outside_the_pool(state: State, command: tuple[str, ...], rest: list[str], xml: bool) -> int:
    """A glusterd that is not in the trusted pool knows none of its volumes (GlusterFS keeps volumes per pool).

    The stand-in keeps ONE pool's state in the shared folder, so it cannot hold a second pool's volume:
    ``volume create`` there is refused loudly (in GlusterFS it would make a second, separate volume).
    """
    if command == ("volume", "create"):
        return fail("volume create: failed: STAND-IN: this glusterd is not in the trusted pool that holds "
                    f"{', '.join(sorted(state['volumes']))}; GlusterFS would create a second, separate volume here")  # fmt: skip
    empty: State = {"pool": state["pool"], "volumes": {}}
    if command == ("volume", "info"):
        return volume_info_xml(empty, rest) if xml else volume_info(empty, rest)
    if command == ("volume", "list"):
        return volume_list(empty)
    return fail(f"Volume {rest[0] if rest else ''} does not exist")


# ------------------------------------------------------------------------------------- client


def mount_volume(server: str, name: str, mountpoint: str) -> int:
    """The stand-in "mount": a bind of the volume folder (hosts) or a line in the test's mount table."""
    if os.path.realpath(mountpoint) != os.path.realpath(shared_data()):
        return fail(f"STAND-IN: {name} can only be 'mounted' at {shared_data()} (the hosts share that folder); not at {mountpoint}")
    member = query(server)
    if member is None:
        return fail(f"Mount failed. Check the log file for more details. (no glusterd answers on {server})")
    with locked_state() as state:
        if member not in state["pool"]:  # docs/ce-lifecycle.md §5.1: a replaced node's glusterd before it rejoins
            return fail(f"Mount failed. Check the log file for more details. (the glusterd on {server} is not in the trusted pool)")
        volume = _volume(state, name)
        if volume is None or volume["status"] != "Started":
            return fail(f"Mount failed. Check the log file for more details. (volume {name} missing or not started)")
    if mounted_source(mountpoint).endswith(f":/{name}"):
        return 0
    why = _record_mount(f"{server}:/{name}", mountpoint)
    if why:
        return fail(f"Mount failed. Check the log file for more details. (STAND-IN: {why})")
    return 0


def glusterfs_main(argv: list[str]) -> int:
    """``glusterfs --version`` or ``glusterfs --volfile-server=IP --volfile-id=VOL MOUNTPOINT``."""
    if not argv or argv[0] in ("--version", "-V"):
        sys.stdout.write(version_text())
        return 0
    server = volfile = mountpoint = ""
    rest = list(argv)
    while rest:
        arg = rest.pop(0)
        if arg.startswith("--volfile-server="):
            server = arg.partition("=")[2]
        elif arg == "-s" and rest:
            server = rest.pop(0)
        elif arg.startswith("--volfile-id="):
            volfile = arg.partition("=")[2]
        elif not arg.startswith("-"):
            mountpoint = arg
    if not (server and volfile and mountpoint):
        return fail("Usage: glusterfs --volfile-server=SERVER --volfile-id=VOLNAME MOUNTPOINT")
    return mount_volume(server, volfile.lstrip("/"), mountpoint)


def mount_helper_main(argv: list[str]) -> int:
    """``mount.glusterfs SERVER:/VOLUME MOUNTPOINT [-o OPTIONS]`` (what ``mount -t glusterfs`` runs)."""
    positional = [arg for index, arg in enumerate(argv) if not arg.startswith("-") and (index == 0 or argv[index - 1] != "-o")]
    if len(positional) < 2 or ":" not in positional[0]:
        return fail("Usage: mount.glusterfs <server>:/<volume> <mountpoint> [-o <options>]")
    server, _, volume = positional[0].partition(":")
    return mount_volume(server, volume.lstrip("/"), positional[1])


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    program = os.path.basename(sys.argv[0])
    if program.startswith("mount.glusterfs"):
        return mount_helper_main(args)
    if program == "glusterd":
        return glusterd_main(args)
    if program == "glusterfs":
        return glusterfs_main(args)
    return gluster_main(args)


if __name__ == "__main__":
    sys.exit(main())
