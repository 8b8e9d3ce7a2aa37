"""Helpers for the stage tests: throwaway applications, stage contexts, and a small HTTP server to talk to."""

from __future__ import annotations

import io
import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from buildplat.spec.model import load_app_file
from buildplat.spec.platform import load_platform_file
from buildplat.stages.context import StageContext

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = REPO_ROOT / "examples"


def default_doc(**overrides: Any) -> dict[str, Any]:
    """A valid default.json for a small Python app; keyword arguments replace top-level keys."""
    doc: dict[str, Any] = {
        "namespace": "team",
        "application": {"name": "demo-app", "type": "http_api", "version": "2.x.x", "description": "Demo application"},
        "build": {"system_setup": {"buildfacts": ["python"]}, "build_steps": []},
        "artifacts": "dist/",
        "runtime": {"health_path": "/healthz"},
        "services": [
            {
                "name": "web",
                "external_url": "web.team.example.com",
                "application": "team/demo-app",
                "instances": {"min": 1, "max": 2},
            },
            {
                "name": "admin-api",
                "external_url": "admin.team.example.com",
                "application": "team/demo-app",
                "instances": {"min": 1, "max": 1},
            },
        ],
    }
    doc.update(overrides)
    return doc


def write_files(root: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


@pytest.fixture
def make_app(tmp_path: Path) -> Callable[..., Path]:
    """Make an application checkout from a default.json document and a dict of files; returns its directory."""
    counter = iter(range(1000))

    def make(doc: dict[str, Any] | None = None, files: dict[str, str | bytes] | None = None) -> Path:
        repo = tmp_path / f"app{next(counter)}"
        repo.mkdir()
        (repo / "default.json").write_text(json.dumps(doc or default_doc(), indent=2), encoding="utf-8")
        write_files(repo, files or {})
        return repo

    return make


def make_ctx(repo: Path, out: Path | None = None, build_number: int = 1, **kwargs: Any) -> StageContext:
    """A stage context for the app in ``repo``; progress goes to a StringIO (``ctx.console.getvalue()``)."""
    kwargs.setdefault("console", io.StringIO())
    return StageContext(
        app=load_app_file(repo), repo=repo, out=out or repo / ".buildplat", build_number=build_number, **kwargs
    )


def platform_file(tmp_path: Path, **sections: Any) -> Path:
    """A platform config with the given optional sections (apt, hubot, …); returns its path."""
    doc: dict[str, Any] = {
        "team": "team",
        "repositories": [{"url": "git://git.invalid/team/demo-app.git"}],
        "jenkins": {"url": "http://127.0.0.1:9/"},
        **sections,
    }
    path = tmp_path / f"platform-{len(list(tmp_path.glob('platform-*.json')))}.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def load_platform(path: Path) -> Any:
    return load_platform_file(path)


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class LocalServer:
    """An HTTP server on 127.0.0.1: ``routes`` maps a path to (status, body); every request is recorded."""

    url: str
    routes: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)


@pytest.fixture
def local_server() -> Iterator[LocalServer]:
    state = LocalServer(url="")

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            state.requests.append(Recorded(self.command, self.path, dict(self.headers.items()), body))
            status, payload = state.routes.get(self.path.split("?")[0], (404, b"not found\n"))
            self.send_response(status)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _answer

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def environ_without(*names: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in names}
