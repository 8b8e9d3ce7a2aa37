"""Requests, responses and the error pages, shaped like Jenkins' (Jetty + Stapler) answers.

Where Jenkins renders a page through its layout (the root page, item pages, 404, 400 ``Failure`` pages, the
"Authentication required" page) it advertises ``X-Hudson``, ``X-Jenkins`` and ``X-Jenkins-Session``; the remote
API (``api/json``) sets ``X-Jenkins`` too; ``config.xml``, ``scriptText`` and Jetty's own error pages (401) do not.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from email.message import Message
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs

JENKINS_VERSION = "2.479.3"
SESSION_HASH = "6f1e4a2b"  # Jenkins.SESSION_HASH: changes on every Jenkins start; fixed here


@dataclass
class Request:
    method: str
    path: str  # raw (still percent-encoded), without the query
    raw_query: str
    headers: Message
    body: bytes
    client_ip: str
    base_url: str  # "http://127.0.0.1:PORT/", from the Host header like Jenkins without a configured root URL
    user: str | None = None  # None: anonymous
    via_token: bool = False  # authenticated by an API token (exempt from CSRF crumbs, like Jenkins >= 2.96)
    session: str | None = None
    new_session: bool = False

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(self.raw_query, keep_blank_values=True)

    @property
    def content_type(self) -> str | None:
        return self.headers.get("Content-Type")

    def form(self) -> dict[str, list[str]]:
        if (self.content_type or "").startswith("application/x-www-form-urlencoded"):
            return parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True)
        return {}

    def param(self, name: str) -> str | None:
        """Like ServletRequest.getParameter: the query string first, then a urlencoded body."""
        for source in (self.query, self.form()):
            if name in source:
                return source[name][0]
        return None

    def cookies(self) -> dict[str, str]:
        jar: SimpleCookie = SimpleCookie()
        for value in self.headers.get_all("Cookie") or []:
            jar.load(value)
        return {key: morsel.value for key, morsel in jar.items()}


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "text/plain;charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)


class HttpError(Exception):
    """Raised by handlers; the server turns it into ``response``."""

    def __init__(self, response: Response) -> None:
        super().__init__(f"{response.status}")
        self.response = response


def quoted(text: str) -> str:
    """Jenkins' messages quote names with typographic single quotes."""
    return f"\u2018{text}\u2019"


def layout_headers() -> list[tuple[str, str]]:
    return [("X-Hudson", "1.395"), ("X-Jenkins", JENKINS_VERSION), ("X-Jenkins-Session", SESSION_HASH)]


def page(title: str, body: str, *, status: int = 200, headers: list[tuple[str, str]] | None = None) -> Response:
    text = (
        f"<!DOCTYPE html><html><head><title>{html.escape(title)} [Jenkins]</title></head>"
        f"<body><div id='main-panel'>{body}</div></body></html>"
    )
    return Response(status, text.encode(), "text/html;charset=utf-8", [*layout_headers(), *(headers or [])])


def json_response(data: bytes | Any) -> Response:
    body = data if isinstance(data, bytes) else json.dumps(data, separators=(",", ":")).encode()
    headers = [
        ("X-Jenkins", JENKINS_VERSION),
        ("X-Jenkins-Session", SESSION_HASH),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "deny"),
    ]
    return Response(200, body, "application/json;charset=utf-8", headers)


def redirect(location: str, status: int = 302) -> Response:
    return Response(status, b"", "text/plain;charset=utf-8", [("Location", location)])


def not_found() -> HttpError:
    return HttpError(
        page(
            "Not Found",
            "<h2>Not Found</h2><p>This page may not exist, or you may not have permission to see it.</p>",
            status=404,
        )
    )


def failure(message: str) -> HttpError:
    """hudson.model.Failure: 400 with the message in the page and in ``X-Error``."""
    body = f"<h1>Error</h1><p>{html.escape(message)}</p>"
    return HttpError(page("Jenkins", body, status=400, headers=[("X-Error", message)]))


def oops(message: str) -> HttpError:
    """An uncaught exception: Jenkins' "oops" page with status 500."""
    body = f"<h1>Oops!</h1><p>A problem occurred while processing the request.</p><pre>{html.escape(message)}</pre>"
    return HttpError(page("Jenkins", body, status=500))


def plain_error(status: int, message: str) -> HttpError:
    """HttpResponses.error / sendError: Jetty's plain error page, no Jenkins headers."""
    text = f"<html><body><h2>HTTP ERROR {status} {html.escape(message)}</h2></body></html>"
    return HttpError(Response(status, text.encode(), "text/html;charset=iso-8859-1"))


def requires_post() -> HttpError:
    body = "<h1>This URL requires POST</h1><p>The URL you're trying to access requires POST requests.</p>"
    return HttpError(page("Jenkins", body, status=405))
