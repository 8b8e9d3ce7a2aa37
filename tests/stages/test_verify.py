"""The verify stage against a real HTTP server on 127.0.0.1, and its JUnit report."""

from __future__ import annotations

import dataclasses
import json
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from buildplat.errors import BuildplatError
from buildplat.stages.context import PipelineState
from buildplat.stages.verify import run_verify
from tests.stages.conftest import default_doc, load_platform, make_ctx, platform_file


def deployed(urls: dict[str, str]) -> PipelineState:
    services = {name: {"url": url} for name, url in urls.items()}
    return PipelineState(deployments={"dev": {"namespace": "team-dev", "services": services}})


def report(out: Path) -> ET.Element:
    return ET.parse(out / "junit" / "buildplat-verify.xml").getroot()


def test_default_check_passes_when_every_service_answers_2xx(make_app, local_server) -> None:
    local_server.routes["/healthz"] = (204, b"")
    repo = make_app()
    ctx = make_ctx(repo)
    state = deployed({"web": local_server.url, "admin-api": local_server.url + "/"})
    run_verify(ctx, state)
    assert [r.path for r in local_server.requests] == ["/healthz", "/healthz"]
    assert state.verify is not None
    assert state.verify["result"] == "passed"
    suite = report(ctx.out)
    assert suite.get("tests") == "2"
    assert suite.get("failures") == "0"
    assert [c.get("name") for c in suite.iter("testcase")] == ["web GET /healthz", "admin-api GET /healthz"]


def test_default_check_fails_with_the_status_after_the_timeout(make_app, local_server) -> None:
    local_server.routes["/healthz"] = (503, b"starting")
    repo = make_app(default_doc(services=default_doc()["services"][:1]))
    ctx = make_ctx(repo)
    # default.json can only set timeout_seconds together with a command; the record takes it directly.
    short = dataclasses.replace(ctx.app.system_test, timeout_seconds=2)
    ctx = dataclasses.replace(ctx, app=dataclasses.replace(ctx.app, system_test=short))
    started = time.monotonic()
    with pytest.raises(BuildplatError) as failure:
        run_verify(ctx, deployed({"web": local_server.url}))
    assert time.monotonic() - started < 3
    assert len(local_server.requests) >= 2, "the check is retried until the time is up"
    assert "did not answer with a 2xx status within 2 s (last: status 503)" in failure.value.message
    suite = report(ctx.out)
    assert suite.get("failures") == "1"
    assert "status 503" in next(suite.iter("failure")).get("message", "")


def test_a_system_test_command_gets_the_service_urls_and_the_junit_dir(make_app, local_server) -> None:
    script = (
        "import json, os\n"
        "keys = ['SERVICE_URL', 'SERVICE_URL_WEB', 'SERVICE_URL_ADMIN_API', 'JUNIT_DIR', 'BUILDPLAT_VERSION']\n"
        "json.dump({k: os.environ.get(k) for k in keys}, open('seen.json', 'w'))\n"
        "open(os.path.join(os.environ['JUNIT_DIR'], 'mine.xml'), 'w').write('<testsuite/>')\n"
        "print('weird output: <b>&amp;</b> \\x1b[31m\\x07')\n"
    )
    repo = make_app(
        default_doc(system_test={"command": "python3 check.py", "timeout_seconds": 60}), files={"check.py": script}
    )
    ctx = make_ctx(repo, build_number=9)
    run_verify(ctx, deployed({"web": "http://web.invalid:8080", "admin-api": "http://admin.invalid:9090"}))
    seen = json.loads((repo / "seen.json").read_text())
    junit = ctx.out / "junit"
    assert seen == {
        "SERVICE_URL": "http://web.invalid:8080",
        "SERVICE_URL_WEB": "http://web.invalid:8080",
        "SERVICE_URL_ADMIN_API": "http://admin.invalid:9090",
        "JUNIT_DIR": str(junit.resolve()),
        "BUILDPLAT_VERSION": "2.9.0",
    }
    assert (junit / "mine.xml").exists()
    out = next(report(ctx.out).iter("system-out")).text or ""
    assert "weird output: <b>&amp;</b>" in out  # escaped on the way in, the same text on the way out


def test_a_failing_system_test_command_fails_the_stage(make_app) -> None:
    repo = make_app(default_doc(system_test={"command": "echo 'expected 200'; exit 3"}))
    ctx = make_ctx(repo)
    state = deployed({"web": "http://web.invalid"})
    with pytest.raises(BuildplatError, match=r"system_test\.command: exited with code 3"):
        run_verify(ctx, state)
    assert state.verify is not None
    assert state.verify["result"] == "failed"
    failure = next(report(ctx.out).iter("failure"))
    assert failure.get("message") == "exited with code 3"


def test_service_url_options_win_and_unknown_names_are_refused(make_app, local_server) -> None:
    local_server.routes["/healthz"] = (200, b"ok")
    repo = make_app(default_doc(services=default_doc()["services"][:1]))
    ctx = make_ctx(repo, service_urls={"web": local_server.url})
    run_verify(ctx, deployed({"web": "http://127.0.0.1:9"}))  # the recorded URL would be refused
    assert len(local_server.requests) == 1
    with pytest.raises(BuildplatError, match="--service-url names the service 'wbe'"):
        run_verify(make_ctx(repo, service_urls={"wbe": local_server.url}), PipelineState())


def test_locally_with_nothing_deployed_verify_is_skipped(make_app) -> None:
    repo = make_app()
    ctx = make_ctx(repo)
    state = PipelineState()
    run_verify(ctx, state)
    assert state.verify == {
        "result": "skipped",
        "reason": "nothing is deployed in a local run, so there is no service to test",
    }
    assert "verify: skipped" in ctx.console.getvalue()
    assert not (ctx.out / "junit").exists()


def test_in_ci_nothing_deployed_is_an_error(make_app, tmp_path: Path) -> None:
    repo = make_app()
    ctx = make_ctx(repo, platform=load_platform(platform_file(tmp_path)))
    with pytest.raises(BuildplatError, match="no deployed service to test"):
        run_verify(ctx, PipelineState())


def test_reports_of_an_earlier_build_are_removed(make_app, local_server) -> None:
    local_server.routes["/healthz"] = (200, b"ok")
    repo = make_app()
    ctx = make_ctx(repo)
    stale = ctx.out / "junit" / "old-build.xml"
    stale.parent.mkdir(parents=True)
    stale.write_text("<testsuite/>")
    run_verify(ctx, deployed({"web": local_server.url, "admin-api": local_server.url}))
    assert not stale.exists()
