"""An HTTP-level double in front of the real registry: injects failures and demands credentials.

It forwards every request to the registry unchanged (the Host header too, so the registry's Location headers
point back at the proxy) unless a rule answers it first:

- ``fail(method, path_part, status, times, retry_after)``: answer the next ``times`` matching requests with
  ``status`` (and ``Retry-After``) instead of forwarding them;
- ``auth="basic"``: every ``/v2/`` request needs ``Authorization: Basic`` with the given user and password;
- ``auth="bearer"``: ``/v2/`` requests need a token from ``/token`` (got with Basic credentials), as
  ``Www-Authenticate: Bearer realm=…,service=…,scope=…`` says.

Everything it saw is in ``seen`` (method, path, status, whether an Authorization header came with it), and
``uploaded`` counts the body bytes of every blob upload (PATCH and PUT to ``/blobs/uploads/``) by the digest the
upload finished with, whoever the client is (the image stage, dockerd): the benchmark measures both with it.
"""

from __future__ import annotations

import base64
import http.client
import json
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


@dataclass
class Rule:
    method: str
    path_part: str
    status: int
    times: int
    retry_after: int | None = None


@dataclass
class Proxy:
    upstream: str  # host:port of the registry
    auth: str | None = None
    username: str = "builder"
    password: str = ""
    rules: list[Rule] = field(default_factory=list)
    seen: list[tuple[str, str, int, bool]] = field(default_factory=list)
    injected: int = 0
    tokens: set[str] = field(default_factory=set)
    token_scopes: list[list[str]] = field(default_factory=list)  # the scope parameters of each token request
    uploaded: dict[str, int] = field(default_factory=dict)  # blob digest -> body bytes sent for it
    _sessions: dict[str, int] = field(default_factory=dict)  # upload session path -> bytes so far
    server: ThreadingHTTPServer | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def fail(
        self, method: str, path_part: str, status: int = 500, times: int = 1, retry_after: int | None = None
    ) -> None:
        self.rules.append(Rule(method, path_part, status, times, retry_after))

    def start(self) -> Proxy:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in separate writes: no 40 ms delayed-ACK stalls

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _any(self) -> None:
                proxy.handle(self)

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    # -- request handling ----------------------------------------------------------------------------------
    def handle(self, request: BaseHTTPRequestHandler) -> None:
        if request.headers.get("Transfer-Encoding", "").lower() == "chunked":  # dockerd streams layer uploads
            body = _read_chunked(request)
        else:
            length = int(request.headers.get("Content-Length") or 0)
            body = request.rfile.read(length) if length else b""
        path = urlsplit(request.path).path
        has_auth = "Authorization" in request.headers
        if path == "/_proxy/uploaded":  # for a proxy in another process (the benchmark's): read and reset
            with self.lock:
                counted, self.uploaded = dict(self.uploaded), {}
            return self._answer(request, 200, json.dumps(counted).encode(), {"Content-Type": "application/json"}, False)
        if self.auth == "bearer" and path == "/token":
            return self._token(request)
        if self.auth and path.startswith("/v2/") and not self._authorised(request):
            return self._answer(request, 401, b'{"errors":[{"code":"UNAUTHORIZED"}]}', self._challenge(path), has_auth)
        with self.lock:
            rule = next(
                (r for r in self.rules if r.times > 0 and r.method == request.command and r.path_part in path), None
            )
            if rule is not None:
                rule.times -= 1
                self.injected += 1
        if rule is not None:
            headers = {"Retry-After": str(rule.retry_after)} if rule.retry_after is not None else {}
            body_out = json.dumps({"errors": [{"code": "UNKNOWN", "message": "injected failure"}]}).encode()
            return self._answer(request, rule.status, body_out, headers, has_auth)
        if "/blobs/uploads/" in path and request.command in ("PATCH", "PUT"):
            self._count(request, path, len(body))
        self._forward(request, body, has_auth)
        return None

    def _count(self, request: BaseHTTPRequestHandler, path: str, size: int) -> None:
        from urllib.parse import parse_qs

        with self.lock:
            self._sessions[path] = self._sessions.get(path, 0) + size
            if request.command == "PUT":
                digest = parse_qs(urlsplit(request.path).query).get("digest", ["?"])[0]
                self.uploaded[digest] = self.uploaded.get(digest, 0) + self._sessions.pop(path)

    def _forward(self, request: BaseHTTPRequestHandler, body: bytes, has_auth: bool) -> None:
        connection = http.client.HTTPConnection(self.upstream, timeout=60)
        connection.putrequest(request.command, request.path, skip_host=True, skip_accept_encoding=True)
        dropped = ("authorization", "connection", "transfer-encoding", "content-length")
        for key, value in request.headers.items():  # repeated headers (dockerd sends several Accept) stay repeated
            if key.lower() not in dropped:
                connection.putheader(key, value)
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body or None)
        reply = connection.getresponse()
        data = reply.read()
        passed = {
            k: v
            for k, v in reply.getheaders()
            if k.lower() not in ("connection", "transfer-encoding", "content-length")
        }
        self._answer(
            request,
            reply.status,
            data,
            passed,
            has_auth,
            head=request.command == "HEAD",
            length=reply.getheader("Content-Length"),
        )
        connection.close()

    def _answer(
        self,
        request: BaseHTTPRequestHandler,
        status: int,
        body: bytes,
        headers: dict[str, str],
        has_auth: bool,
        *,
        head: bool = False,
        length: str | None = None,
    ) -> None:
        with self.lock:
            self.seen.append((request.command, request.path, status, has_auth))
        request.send_response(status)
        for key, value in headers.items():
            request.send_header(key, value)
        request.send_header("Content-Length", length if head and length else str(len(body)))
        request.end_headers()
        if not head:
            request.wfile.write(body)

    def _basic_ok(self, header: str) -> bool:
        expected = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return header == f"Basic {expected}"

    def _authorised(self, request: BaseHTTPRequestHandler) -> bool:
        header = request.headers.get("Authorization", "")
        if self.auth == "basic":
            return self._basic_ok(header)
        return header.startswith("Bearer ") and header[7:] in self.tokens

    def _challenge(self, path: str) -> dict[str, str]:
        if self.auth == "basic":
            return {"WWW-Authenticate": 'Basic realm="test registry"'}
        parts = path.split("/")
        scope = ""
        for marker in ("manifests", "blobs", "tags"):
            if marker in parts:
                scope = f"repository:{'/'.join(parts[2 : parts.index(marker)])}:pull,push"
        return {"WWW-Authenticate": f'Bearer realm="{self.url}/token",service="test-registry",scope="{scope}"'}

    def _token(self, request: BaseHTTPRequestHandler) -> None:
        if not self._basic_ok(request.headers.get("Authorization", "")):
            return self._answer(request, 401, b"{}", {}, False)
        from urllib.parse import parse_qs

        token = secrets.token_hex(16)
        self.tokens.add(token)
        self.token_scopes.append(parse_qs(urlsplit(request.path).query).get("scope", []))
        return self._answer(
            request, 200, json.dumps({"token": token}).encode(), {"Content-Type": "application/json"}, True
        )


def _read_chunked(request: BaseHTTPRequestHandler) -> bytes:
    parts = []
    while True:
        size = int(request.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            while request.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(parts)
        parts.append(request.rfile.read(size))
        request.rfile.readline()


def main() -> None:
    """``python -m tests.image.proxy UPSTREAM PORT_FILE``: serve until killed, in a process of its own."""
    import sys
    import time
    from pathlib import Path

    proxy = Proxy(upstream=sys.argv[1]).start()
    assert proxy.server is not None
    Path(sys.argv[2]).write_text(str(proxy.server.server_address[1]))
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
