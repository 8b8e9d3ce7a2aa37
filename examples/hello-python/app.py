"""hello-python: a small HTTP service using only the Python standard library.

GET /        -> a greeting (text/plain)
GET /healthz -> "ok" (the health path in default.json)
It listens on $PORT (default 8080) on all interfaces, as it would in its container.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = os.environ.get("APP_VERSION", "dev")


def greeting(name: str | None) -> str:
    return f"Hello, {name or 'world'}!"


class Handler(BaseHTTPRequestHandler):
    server_version = "hello-python"

    def do_GET(self) -> None:
        if self.path == "/healthz":
            self._reply(200, "text/plain", b"ok\n")
        elif self.path == "/version":
            self._reply(200, "application/json", json.dumps({"version": VERSION}).encode() + b"\n")
        elif self.path == "/" or self.path.startswith("/?"):
            self._reply(200, "text/plain", (greeting(None) + "\n").encode())
        else:
            self._reply(404, "text/plain", b"not found\n")

    def _reply(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        sys.stderr.write(f"{self.address_string()} {format % args}\n")


def main() -> None:
    port = int(os.environ.get("PORT", "8080"))
    # In its container the service answers on every interface.
    server = ThreadingHTTPServer(("0.0.0.0", port), Handler)  # noqa: S104
    print(f"hello-python listening on port {port}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
