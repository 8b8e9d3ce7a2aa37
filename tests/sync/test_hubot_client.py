"""The Hubot client against a small HTTP server that answers like the notify route (real sockets, no patching)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from buildplat.clients.hubot import notify_url, post_notification
from buildplat.errors import ServiceError


class _Route:
    def __init__(self) -> None:
        self.answers: list[tuple[int, dict[str, str]]] = []
        self.received: list[tuple[str, dict[str, str], object]] = []


@pytest.fixture
def route() -> Iterator[tuple[str, _Route]]:
    state = _Route()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length))
            state.received.append((self.path, dict(self.headers), body))
            status, headers = state.answers.pop(0) if state.answers else (202, {})
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", state
    server.shutdown()
    server.server_close()


def test_posts_json_with_bearer_token(route: tuple[str, _Route]) -> None:
    url, state = route
    payload = {"room": "team-builds", "event": "config", "repo": "git://x/a.git", "errors": ["bad"]}
    post_notification(url, "s3cret", payload)
    ((path, headers, body),) = state.received
    assert path == "/buildplat/notify"
    assert headers["Authorization"] == "Bearer s3cret"
    assert body == payload


def test_retries_5xx_honouring_retry_after(route: tuple[str, _Route]) -> None:
    url, state = route
    state.answers = [(503, {"Retry-After": "3"}), (500, {})]
    slept: list[float] = []
    post_notification(notify_url(url), None, {"room": "r", "event": "config"}, backoff=(0.1, 0.2), sleep=slept.append)
    assert len(state.received) == 3
    assert slept == [3.0, 0.2]
    assert "Authorization" not in state.received[0][1]


def test_401_is_not_retried_and_token_not_in_message(route: tuple[str, _Route]) -> None:
    url, state = route
    state.answers = [(401, {})]
    with pytest.raises(ServiceError) as info:
        post_notification(url, "s3cret", {"room": "r"}, sleep=lambda _s: None)
    assert len(state.received) == 1
    assert "401" in str(info.value)
    assert "s3cret" not in str(info.value)
    assert not info.value.retryable


def test_unreachable_is_retryable_error() -> None:
    with pytest.raises(ServiceError) as info:
        post_notification("http://127.0.0.1:9", None, {"room": "r"}, backoff=(0.0,), sleep=lambda _s: None)
    assert info.value.retryable
    assert "cannot reach http://127.0.0.1:9/buildplat/notify" in str(info.value)
