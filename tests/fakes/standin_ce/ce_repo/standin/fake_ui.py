# TEST DOUBLE of Netskope Cloud Exchange (stand-in for tests): not CE, contains no CE code.
"""The stand-in UI: answers ``GET /`` on ``UI_PORT`` where CE's UI container would.

Serves HTTPS with CE's UI certificate (``<shared>/config/ssl_certs/cte_cert*`` in HA,
``data/ssl_certs/`` standalone, docs/ce-facts.md §8) or plain HTTP when ``UI_PROTOCOL=http``. It lives and dies
with the stand-in mongod daemon (one "compose up" / "compose down"). No login, no API.
"""

from __future__ import annotations

import http.server
import os
import ssl
import threading

BODY = b"<html><title>Netskope CE (stand-in)</title><body>stand-in UI</body></html>\n"


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the http.server API
        return


def cert_dir(env: dict[str, str], ha: bool) -> str:
    if ha and env.get("HA_NFS_DATA_DIRECTORY"):
        return os.path.join(env["HA_NFS_DATA_DIRECTORY"], "config", "ssl_certs")
    return os.path.join("data", "ssl_certs")


def serve(env: dict[str, str], ha: bool, addresses: list[str]) -> list[str]:
    """Start one server thread per address; returns what it could not listen on (with why)."""
    port = int(env.get("UI_PORT", "443") or 443)
    https = env.get("UI_PROTOCOL", "https") != "http"
    context = None
    if https:
        certs = cert_dir(env, ha)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(os.path.join(certs, "cte_cert.crt"), os.path.join(certs, "cte_cert_key.key"))
    failures = []
    for address in addresses:
        try:
            server = http.server.ThreadingHTTPServer((address, port), _Handler)
        except OSError as exc:
            failures.append(f"{address}:{port}: {exc}")
            continue
        if context is not None:
            server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
    return failures
