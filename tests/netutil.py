"""Small network helpers shared by the local (loopback) tests."""

from __future__ import annotations

import socket


def port_free(ip: str, port: int = 27017) -> bool:
    """True when ``ip:port`` can be bound now (nothing else, e.g. another test's mongod, holds it)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((ip, port))
        except OSError:
            return False
    return True
