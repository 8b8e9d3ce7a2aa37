"""A small HTTP proxy in front of the test registry that fails or slows chosen requests (buildplat is not patched).

``fail(method, part, status, times)`` answers the next ``times`` requests whose path contains ``part`` with
``status``; ``delay(method, part, seconds)`` holds matching requests that long before forwarding them;
``rewrite_header(method, part, name, value)`` changes (``value``) or drops (None) a header of the registry's
answers to matching requests, as a registry that says something else, or nothing, would. Everything else goes to
the registry unchanged (the Host header too, so the registry's upload locations point back here). ``failed``
counts the answers it made up; ``seen`` lists every request as (method, path).
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


@dataclass
class _Rule:
    method: str
    part: str
    status: int = 0
    times: int = 0
    seconds: float = 0.0
    header: tuple[str, str | None] | None = None  # (name, new value or None to drop it)


@dataclass
class FailingProxy:
    upstream: str  # host:port
    rules: list[_Rule] = field(default_factory=list)
    failed: int = 0
    seen: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def fail(self, method: str, part: str, status: int = 500, times: int = 1) -> None:
        with self.lock:
            self.rules.append(_Rule(method, part, status=status, times=times))

    def delay(self, method: str, part: str, seconds: float) -> None:
        with self.lock:
            self.rules.append(_Rule(method, part, seconds=seconds, times=1 << 30))

    def rewrite_header(self, method: str, part: str, name: str, value: str | None) -> None:
        with self.lock:
            self.rules.append(_Rule(method, part, header=(name, value), times=1 << 30))

    def clear(self) -> None:
        with self.lock:
            self.rules.clear()

    def start(self) -> FailingProxy:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _any(self) -> None:
                try:
                    proxy._handle(self)
                except OSError:  # the client went away (a rollout killed on purpose): nothing to answer
                    self.close_connection = True

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def _match(self, method: str, path: str) -> _Rule | None:
        with self.lock:
            for rule in self.rules:
                if rule.times > 0 and rule.method == method and rule.part in path:
                    rule.times -= 1
                    if rule.status:
                        self.failed += 1
                    return rule
        return None

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        body = _body(request)
        path = urlsplit(request.path).path
        with self.lock:
            self.seen.append((request.command, path))
        rule = self._match(request.command, path)
        if rule is not None and rule.status:
            data = json.dumps({"errors": [{"code": "UNKNOWN", "message": "injected by the test proxy"}]}).encode()
            request.send_response(rule.status)
            request.send_header("Content-Type", "application/json")
            request.send_header("Content-Length", str(len(data)))
            request.end_headers()
            request.wfile.write(data)
            return
        if rule is not None:
            time.sleep(rule.seconds)
        upstream = http.client.HTTPConnection(self.upstream, timeout=120)
        upstream.putrequest(request.command, request.path, skip_host=True, skip_accept_encoding=True)
        for key, value in request.headers.items():
            if key.lower() not in ("connection", "transfer-encoding", "content-length"):
                upstream.putheader(key, value)
        upstream.putheader("Content-Length", str(len(body)))
        upstream.endheaders(body or None)
        reply = upstream.getresponse()
        data = reply.read()
        request.send_response(reply.status)
        rewritten = rule.header if rule is not None and rule.header is not None else None
        for key, value in reply.getheaders():
            if rewritten is not None and key.lower() == rewritten[0].lower():
                if rewritten[1] is not None:
                    request.send_header(key, rewritten[1])
            elif key.lower() not in ("connection", "transfer-encoding", "content-length"):
                request.send_header(key, value)
        length = reply.getheader("Content-Length") if request.command == "HEAD" else None
        request.send_header("Content-Length", length or str(len(data)))
        request.end_headers()
        if request.command != "HEAD":
            request.wfile.write(data)
        upstream.close()


def _body(request: BaseHTTPRequestHandler) -> bytes:
    if request.headers.get("Transfer-Encoding", "").lower() != "chunked":
        length = int(request.headers.get("Content-Length") or 0)
        return request.rfile.read(length) if length else b""
    parts = []
    while size := int(request.rfile.readline().split(b";", 1)[0].strip() or b"0", 16):
        parts.append(request.rfile.read(size))
        request.rfile.readline()
    while request.rfile.readline() not in (b"\r\n", b"\n", b""):
        pass
    return b"".join(parts)
