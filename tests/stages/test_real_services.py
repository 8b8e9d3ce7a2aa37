"""publish against the real aptly (and apt-get), notify against the real Hubot, and a whole local run.

aptly's faults cannot be switched on, so the retry test puts a small HTTP proxy in front of it that answers
the first upload with a 500 (and the first repository lookup with a 503 and Retry-After); buildplat itself is
not touched.
"""

from __future__ import annotations

import json
import secrets
import shutil
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from buildplat.errors import BuildplatError
from buildplat.stages.context import STAGES, PipelineState
from buildplat.stages.notify import run_notify
from buildplat.stages.package import run_package
from buildplat.stages.publish import run_publish
from tests.cli_helpers import run_cli
from tests.stages.conftest import EXAMPLES, default_doc, load_platform, make_ctx, platform_file

pytestmark = pytest.mark.slow


@pytest.fixture
def app(make_app) -> Path:
    doc = default_doc(build={"system_setup": {"buildfacts": ["python"]}, "build_steps": []})
    return make_app(doc, files={"dist/app.py": "print('hello')\n"})


def aptly_platform(tmp_path: Path, api_url: str, public_url: str) -> Any:
    # A repository and prefix of their own per test: the aptly server is shared by the whole session.
    unique = secrets.token_hex(3)
    apt = {
        "api_url": api_url,
        "public_url": public_url,
        "repo": f"team-{unique}",
        "prefix": f"team/apps_{unique}",
    }
    return load_platform(platform_file(tmp_path, apt=apt))


def publish(repo: Path, out: Path, platform: Any, build_number: int) -> PipelineState:
    state = PipelineState()
    ctx = make_ctx(repo, out=out, build_number=build_number, platform=platform)
    run_package(ctx, state)
    run_publish(ctx, state)
    return state


def test_published_packages_reach_apt_and_republishing_is_a_no_op(app: Path, tmp_path: Path, apt_repo) -> None:
    platform = aptly_platform(tmp_path, apt_repo.api_url, apt_repo.public_url)
    prefix = platform.apt.prefix
    first = publish(app, tmp_path / "one", platform, 1)
    assert first.published is not None
    assert first.published["unchanged"] is False
    assert first.published["sources_line"] == f"deb [trusted=yes] {apt_repo.public_url}/{prefix} bookworm main"
    fetched = apt_repo.apt_get_visible("demo-app", "2.1.0", prefix=prefix)
    assert fetched is not None
    assert fetched.read_bytes() == (tmp_path / "one" / first.deb).read_bytes()

    release = apt_repo.root_dir / "public" / prefix / "dists" / "bookworm" / "Release"
    before = release.read_bytes()
    again = PipelineState(deb=first.deb)
    run_publish(make_ctx(app, out=tmp_path / "one", build_number=1, platform=platform), again)
    assert again.published is not None
    assert again.published["unchanged"] is True
    assert release.read_bytes() == before, "publishing the same build again must not touch the published tree"

    publish(app, tmp_path / "two", platform, 2)
    assert apt_repo.apt_versions("demo-app", prefix=prefix) == ["2.2.0", "2.1.0"]


def test_a_different_file_with_a_published_version_is_refused(app: Path, tmp_path: Path, apt_repo) -> None:
    platform = aptly_platform(tmp_path, apt_repo.api_url, apt_repo.public_url)
    publish(app, tmp_path / "one", platform, 1)
    (app / "dist" / "app.py").write_text("print('something else')\n")
    with pytest.raises(BuildplatError) as failure:
        publish(app, tmp_path / "two", platform, 1)
    assert "already has demo-app 2.1.0 (all) with other contents" in failure.value.message
    assert "application.version" in (failure.value.hint or "")
    fetched = apt_repo.apt_get_visible("demo-app", "2.1.0", prefix=platform.apt.prefix)
    assert fetched is not None
    assert fetched.read_bytes() == (tmp_path / "one" / "demo-app_2.1.0_all.deb").read_bytes()


class FlakyProxy:
    """Forwards to aptly; the first upload gets a 500 and the first repository lookup a 503 + Retry-After: 1."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.seen: list[tuple[str, str, int]] = []  # method, path, status answered
        self._failed: set[str] = set()
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                fault = proxy._fault(self.command, self.path)
                if fault is not None:
                    status, headers = fault
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    proxy.seen.append((self.command, self.path, status))
                    return
                skip = {"host", "content-length", "connection"}
                headers = {k: v for k, v in self.headers.items() if k.lower() not in skip}
                answer = requests.request(
                    self.command, proxy.target + self.path, data=body, headers=headers, timeout=30
                )
                self.send_response(answer.status_code)
                self.send_header("Content-Type", answer.headers.get("Content-Type", "application/json"))
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)
                proxy.seen.append((self.command, self.path, answer.status_code))

            do_GET = do_POST = do_PUT = do_DELETE = _forward

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def _fault(self, method: str, path: str) -> tuple[int, dict[str, str]] | None:
        with self._lock:
            if method == "POST" and path.startswith("/api/files/") and "upload" not in self._failed:
                self._failed.add("upload")
                return 500, {}
            if method == "GET" and path.startswith("/api/repos/") and "lookup" not in self._failed:
                self._failed.add("lookup")
                return 503, {"Retry-After": "1"}
        return None


@pytest.fixture
def flaky_aptly(apt_repo) -> Iterator[FlakyProxy]:
    proxy = FlakyProxy(apt_repo.api_url)
    thread = threading.Thread(target=proxy.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.server.shutdown()
        proxy.server.server_close()


def test_server_errors_are_retried_honouring_retry_after(app: Path, tmp_path: Path, apt_repo, flaky_aptly) -> None:
    platform = aptly_platform(tmp_path, flaky_aptly.url, apt_repo.public_url)
    started = time.monotonic()
    state = publish(app, tmp_path / "out", platform, 1)
    assert time.monotonic() - started >= 1.0, "Retry-After: 1 was not honoured"
    uploads = [(m, status) for m, p, status in flaky_aptly.seen if p.startswith("/api/files/") and m == "POST"]
    assert uploads == [("POST", 500), ("POST", 200)]
    lookups = [status for m, p, status in flaky_aptly.seen if m == "GET" and p.startswith("/api/repos/")]
    assert lookups[:2] == [503, 404]
    assert state.published is not None
    assert apt_repo.apt_get_visible("demo-app", "2.1.0", prefix=platform.apt.prefix) is not None


def test_notifications_reach_the_real_hubot_without_the_token(
    make_app, tmp_path: Path, hubot, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert hubot.token
    monkeypatch.setenv("TEST_HUBOT_TOKEN", hubot.token)
    room = f"room-{secrets.token_hex(3)}"
    platform = load_platform(
        platform_file(tmp_path, hubot={"url": hubot.url, "room": room, "token_env": "TEST_HUBOT_TOKEN"})
    )
    repo = make_app()
    outputs = []
    for build, stages in (
        (1, {"build": f"failed: build step 1 (shell) failed with exit code 2 near {hubot.token}"}),
        (2, {"build": "failed: build step 1 (shell) failed with exit code 2"}),
        (3, {"build": "succeeded", "package": "succeeded"}),
    ):
        ctx = make_ctx(
            repo,
            out=tmp_path / f"out{build}",
            build_number=build,
            platform=platform,
            state_dir=tmp_path / "state",
            build_url=f"http://jenkins.example.com/job/demo-app/{build}/",
        )
        run_notify(ctx, PipelineState(stages=stages))
        outputs.append(ctx.console.getvalue())
    hubot.wait_for_messages(2, room=room)
    time.sleep(0.3)  # a third message would have arrived by now
    messages = hubot.messages(room)
    texts = [m["text"] for m in messages]
    assert len(texts) == 2, texts
    assert "team/demo-app" in texts[0]
    assert "2.1.0" in texts[0]
    assert "build" in texts[0]
    assert "exit code 2" in texts[0]
    assert "2.3.0" in texts[1]
    assert "build is fixed" in texts[1]  # the stage that had been failing
    assert "http://jenkins.example.com/job/demo-app/3/" in texts[1]
    assert not any(hubot.token in text for text in texts + outputs)
    assert hubot.token not in json.dumps(messages)


def test_a_whole_local_run_of_the_python_example(tmp_path: Path) -> None:
    app = tmp_path / "hello-python"
    shutil.copytree(EXAMPLES / "hello-python", app, ignore=shutil.ignore_patterns(".buildplat", "build"))
    done = run_cli("run", str(app), "--out", str(tmp_path / "out")).assert_success().assert_no_traceback()
    out = (tmp_path / "out").resolve()
    assert f"deb:        {out}/hello-python_1.1.0_all.deb" in done.stdout
    assert f"image:      oci:{out}/image:1.1.0" in done.stdout
    assert f"manifests:  {out}/manifests/" in done.stdout
    assert "verify: skipped: nothing is deployed in a local run" in done.stdout
    assert "notify: success, as before (or nothing known before); nothing to announce" in done.stdout
    state = json.loads((out / "pipeline.json").read_text())
    assert state["stages"] == dict.fromkeys(STAGES, "succeeded")
