"""The HTTP server (a ThreadingHTTPServer in a background thread on 127.0.0.1) and the object tests drive.

:class:`JenkinsDouble` is what the ``jenkins_double`` fixture yields: ``url``, ``user``, ``password``, ``token``;
``requests`` (the log), ``jobs`` (stored items by full name), ``plugins``, ``scripts``, ``queue``, ``security``;
fault injection (``fail_next``, ``fail_when``), ``reset_log()``, changes made by hand (``edit_in_ui(full_name, xml)``,
``delete_in_ui(full_name)``), ``add_user(...)`` and ``reset()``.
A bug in the double itself answers 500 and is kept in ``internal_errors`` (the fixture fails the test on it).
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

from tests.jenkins_double.context import Ctx
from tests.jenkins_double.items import Item
from tests.jenkins_double.log import Fault, Faults, LoggedRequest, RequestLog
from tests.jenkins_double.plugins import PluginManager
from tests.jenkins_double.queue import Queue
from tests.jenkins_double.routes import dispatch
from tests.jenkins_double.script import ScriptConsole
from tests.jenkins_double.security import ADMINISTER, Security
from tests.jenkins_double.state import JenkinsState
from tests.jenkins_double.web import HttpError, Request, Response, oops


class Jobs(Mapping[str, Item]):
    """Stored items by full name (``"team/app"``), as the double holds them; read-only view."""

    def __init__(self, state: JenkinsState) -> None:
        self._state = state

    def __getitem__(self, full_name: str) -> Item:
        with self._state.lock:
            item = self._state.lookup(full_name)
        if item is None:
            raise KeyError(full_name)
        return item

    def __iter__(self) -> Iterator[str]:
        with self._state.lock:
            return iter([item.full_name for item in self._state.all_items()])

    def __len__(self) -> int:
        with self._state.lock:
            return len(self._state.all_items())

    def config(self, full_name: str) -> str:
        return self[full_name].config.decode("utf-8")


class JenkinsDouble:
    def __init__(self) -> None:
        self.requests = RequestLog()
        self.faults = Faults()
        self.internal_errors: list[str] = []
        self.user = "admin"
        self.password = "admin-password"
        self.token = ""
        self.state = JenkinsState()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.reset()

    # --- lifecycle -----------------------------------------------------------------------------------------------

    def start(self) -> JenkinsDouble:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.double = self  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="jenkins-double", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def reset(self) -> None:
        """A fresh Jenkins: no items, default plugins, one admin, anonymous read denied, log and faults cleared."""
        state = JenkinsState()
        self.token = state.security.add_user(self.user, self.password, {ADMINISTER})
        self.state = state
        self.requests.reset()
        self.faults = Faults()
        self.internal_errors.clear()

    @property
    def port(self) -> int:
        assert self._server is not None, "the double is not started"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    # --- what tests look at and steer ----------------------------------------------------------------------------

    @property
    def jobs(self) -> Jobs:
        return Jobs(self.state)

    @property
    def plugins(self) -> PluginManager:
        return self.state.plugins

    @property
    def scripts(self) -> ScriptConsole:
        return self.state.scripts

    @property
    def queue(self) -> Queue:
        return self.state.queue

    @property
    def security(self) -> Security:
        return self.state.security

    def reset_log(self) -> None:
        self.requests.reset()

    def fail_next(
        self,
        n: int = 1,
        *,
        status: int = 500,
        path_prefix: str | None = None,
        method: str | None = None,
        body: bytes = b"injected fault",
        after: bool = False,
    ) -> None:
        """Answer the next ``n`` matching requests (path decoded, e.g. ``/job/team/createItem``) with ``status``."""
        self.faults.fail_next(n, status=status, path_prefix=path_prefix, method=method, body=body, after=after)

    def fail_when(self, predicate: Callable[[str, str], bool], fault: Fault | None = None) -> Callable[[], None]:
        return self.faults.fail_when(predicate, fault)

    def edit_in_ui(self, full_name: str, xml: str) -> None:
        """Someone changed the item in the web UI: new settings, saved the way Jenkins saves (XStream)."""
        with self.state.lock:
            self.state.edit_in_ui(self.jobs[full_name], xml)

    def delete_in_ui(self, full_name: str) -> None:
        """Someone deleted the item (and everything in it) by hand."""
        with self.state.lock:
            self.state.delete(self.jobs[full_name])

    def add_user(self, user_id: str, password: str, permissions: set[str] | frozenset[str]) -> str:
        """Another user; returns its API token."""
        with self.state.lock:
            return self.state.security.add_user(user_id, password, permissions)

    # --- serving -------------------------------------------------------------------------------------------------

    def serve(self, req: Request) -> Response:
        path = unquote(req.path)
        fault = self.faults.take(req.method, path)
        state = self.state
        with state.lock:
            changed = False
            if fault is not None and not fault.after:
                response = Response(fault.status, fault.body)
            else:
                ctx = Ctx(state, req)
                try:
                    response = dispatch(ctx)
                except HttpError as err:
                    response = err.response
                except Exception:  # a bug in the double, not Jenkins behaviour: make it loud
                    self.internal_errors.append(traceback.format_exc())
                    response = oops("internal error in the Jenkins double").response
                changed = ctx.changed
                if fault is not None:
                    response = Response(fault.status, fault.body)
            if req.new_session:
                cookie = f"{state.security.cookie_name}={req.session}; Path=/; HttpOnly"
                response.headers.append(("Set-Cookie", cookie))
        entry = LoggedRequest(
            method=req.method,
            path=path,
            query=req.query,
            user=req.user,
            status=response.status,
            write=req.method not in ("GET", "HEAD"),
            changed=changed,
            injected=fault is not None,
            body=req.body,
        )
        self.requests.append(entry)
        return response


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: without this, delayed ACKs cost 40 ms
    server_version = "Jetty(12.0.16)"
    sys_version = ""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _handle(self) -> None:
        double: JenkinsDouble = self.server.double  # type: ignore[attr-defined]
        parts = urlsplit(self.path)
        host = self.headers.get("Host") or f"127.0.0.1:{double.port}"
        req = Request(
            method=self.command,
            path=parts.path or "/",
            raw_query=parts.query,
            headers=self.headers,
            body=self._read_body(),
            client_ip=self.client_address[0],
            base_url=f"http://{host}/",
        )
        response = double.serve(req)
        self.send_response(response.status)
        if response.status != 204:
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
        for key, value in response.headers:
            # Jetty (HttpGenerator.putSanitisedValue) writes ISO-8859-1; other characters and CR/LF become spaces
            self.send_header(key, "".join(" " if ord(ch) > 0xFF or ch in "\r\n" else ch for ch in value))
        self.end_headers()
        if self.command != "HEAD" and response.status != 204:
            self.wfile.write(response.body)

    def do_GET(self) -> None:
        self._handle()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_GET
