"""The lab's private network: one "infra" network namespace holding a bridge, one namespace per host.

Owns the namespaces ``cehl-<lab id>-infra`` and ``cehl-<lab id>-<host>`` and the veth pairs
between them (created directly inside the namespaces, so nothing is added to the machine's own
namespace). The infra namespace carries the bridge and the lab's service address (first address
of the subnet); hosts get the following addresses. No namespace ever gets a default route:
``assert_no_default_route`` checks it and the lab calls it after every change. The test process
reaches addresses in the lab through sockets opened inside the infra namespace
(``connect_in_netns``), never through routes in the machine's namespace.
"""

from __future__ import annotations

import ctypes
import ipaddress
import os
import socket
import threading
from pathlib import Path

from ._util import LabError, run

CLONE_NEWNET = 0x40000000
NETNS_DIR = Path("/run/netns")
BRIDGE = "br0"


def netns_path(ns: str) -> Path:
    return NETNS_DIR / ns


def netns_exists(ns: str) -> bool:
    return netns_path(ns).exists()


def add_netns(ns: str) -> None:
    if netns_exists(ns):
        raise LabError(f"network namespace {ns} already exists (another lab with the same id?)")
    run(["ip", "netns", "add", ns])
    run(["ip", "-n", ns, "link", "set", "lo", "up"])


def delete_netns(ns: str) -> None:
    if netns_exists(ns):
        run(["ip", "netns", "delete", ns])


def make_infra(ns: str, address: ipaddress.IPv4Interface) -> None:
    """Namespace ``ns`` with bridge br0 carrying ``address`` (e.g. 10.213.0.1/24)."""
    add_netns(ns)
    run(["ip", "-n", ns, "link", "add", BRIDGE, "type", "bridge"])
    run(["ip", "-n", ns, "addr", "add", str(address), "dev", BRIDGE])
    run(["ip", "-n", ns, "link", "set", BRIDGE, "up"])


def attach_host(infra_ns: str, host_ns: str, index: int, address: ipaddress.IPv4Interface) -> None:
    """Create namespace ``host_ns`` whose eth0 (``address``) is a veth into the infra bridge."""
    add_netns(host_ns)
    # an address used before (a removed host) may still sit in the neighbour cache with the old MAC
    forget_neighbour(infra_ns, address.ip)
    port = f"vh{index}"
    run(["ip", "-n", infra_ns, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", host_ns])
    run(["ip", "-n", infra_ns, "link", "set", port, "master", BRIDGE, "up"])
    run(["ip", "-n", host_ns, "addr", "add", str(address), "dev", "eth0"])
    run(["ip", "-n", host_ns, "link", "set", "eth0", "up"])


def forget_neighbour(ns: str, ip: ipaddress.IPv4Address) -> None:
    run(["ip", "-n", ns, "neigh", "flush", "to", str(ip)], check=False)


def default_routes(ns: str) -> list[str]:
    """Default routes (IPv4 and IPv6) present in ``ns``; must always be empty."""
    found = []
    for family in ("-4", "-6"):
        out = run(["ip", "-n", ns, family, "route", "show", "default"]).stdout.decode().strip()
        if out:
            found.append(f"{family}: {out}")
    return found


def assert_no_default_route(namespaces: list[str]) -> None:
    bad = {ns: r for ns in namespaces if (r := default_routes(ns))}
    if bad:
        raise LabError(f"default route found in lab namespaces (traffic could leave the machine): {bad}")


_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


def connect_in_netns(ns: str, address: tuple[str, int], timeout: float = 5.0) -> socket.socket:
    """A TCP socket connected to ``address`` from inside namespace ``ns``.

    A helper thread enters the namespace (setns affects only the calling thread), creates the
    socket there and returns; the socket stays bound to that namespace for its whole life.
    """
    result: list[socket.socket | BaseException] = []

    def worker() -> None:
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        target = os.open(netns_path(ns), os.O_RDONLY)
        try:
            _setns(target)
            try:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            finally:
                _setns(own)
            try:
                sock.settimeout(timeout)
                sock.connect(address)
            except BaseException:
                sock.close()
                raise
            result.append(sock)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            result.append(exc)
        finally:
            os.close(own)
            os.close(target)

    t = threading.Thread(target=worker, name=f"netns-connect-{ns}", daemon=True)
    t.start()
    t.join()
    item = result[0]
    if isinstance(item, BaseException):
        raise item
    return item
