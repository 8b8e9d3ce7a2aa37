"""The verify stage: system tests against the application deployed in dev, reported as JUnit XML for Jenkins.

Service URLs come from what the deploy stage recorded (``state.deployments["dev"]["services"][name]["url"]``),
overridden by ``--service-url NAME=URL``. With ``system_test.command`` in default.json, that shell command runs in
the repository root with ``SERVICE_URL`` (the first service), ``SERVICE_URL_<NAME>`` (each service, upper-cased,
``-`` as ``_``) and ``JUNIT_DIR`` set, within ``system_test.timeout_seconds``. Without it, every HTTP service must
answer ``GET <url><runtime.health_path>`` with a 2xx status, retried for up to two minutes (or the configured
timeout, when shorter).

Reports go to ``<out>/junit/`` (emptied first, so Jenkins never shows a previous build's results); buildplat's own
is ``buildplat-verify.xml``. When nothing is deployed (a local ``buildplat run``), there is nothing to test and
the stage is skipped; in CI that is an error.
"""

from __future__ import annotations

import os
import shutil
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from buildplat import proc
from buildplat.errors import BuildplatError
from buildplat.stages.context import PipelineState, StageContext

JUNIT_DIR = "junit"
REPORT = "buildplat-verify.xml"
HEALTH_CHECK_LIMIT = 120.0
OUTPUT_KEPT = 64 * 1024


@dataclass
class Case:
    name: str
    seconds: float
    failure: str | None = None
    output: str = ""


def service_urls(ctx: StageContext, state: PipelineState) -> dict[str, str]:
    """Service name -> base URL, in default.json's order; --service-url wins over what deploy recorded."""
    known = [s.name for s in ctx.app.services]
    for name in ctx.service_urls:
        if name not in known:
            raise BuildplatError(
                f"--service-url names the service {name!r}, which default.json does not have",
                hint="services in default.json: " + (", ".join(known) or "none"),
            )
    recorded = (state.deployments.get("dev") or {}).get("services") or {}
    urls: dict[str, str] = {}
    for name in known:
        url = ctx.service_urls.get(name) or (recorded.get(name) or {}).get("url")
        if url:
            urls[name] = str(url)
    return urls


def env_name(service: str) -> str:
    return "SERVICE_URL_" + service.upper().replace("-", "_")


def run_verify(ctx: StageContext, state: PipelineState) -> None:
    urls = service_urls(ctx, state)
    skip = _skip_reason(ctx, urls)
    if skip:
        state.verify = {"result": "skipped", "reason": skip}
        ctx.say(f"verify: skipped: {skip}")
        return
    junit = ctx.out / JUNIT_DIR
    shutil.rmtree(junit, ignore_errors=True)
    junit.mkdir(parents=True)
    if ctx.app.system_test.command:
        cases = [_run_command(ctx, urls, junit)]
    else:
        cases = [_health_check(ctx, name, url) for name, url in urls.items()]
    write_junit(junit / REPORT, ctx.app.full_name, cases)
    failed = [c for c in cases if c.failure]
    state.verify = {
        "result": "failed" if failed else "passed",
        "report": f"{JUNIT_DIR}/{REPORT}",
        "cases": [{"name": c.name, "passed": c.failure is None} for c in cases],
    }
    if failed:
        raise BuildplatError(
            "system tests failed: " + "; ".join(f"{c.name}: {c.failure}" for c in failed),
            hint=f"the JUnit report is {junit / REPORT}",
        )
    ctx.say(f"verify: {len(cases)} check{'s' if len(cases) != 1 else ''} passed")


def _skip_reason(ctx: StageContext, urls: dict[str, str]) -> str | None:
    app = ctx.app
    if not app.services:
        return "default.json has no services to test"
    if not app.system_test.command and not app.is_http:
        return f"a {app.type} has no HTTP endpoint for the default check, and system_test.command is not set"
    if not urls:
        if ctx.local:
            return "nothing is deployed in a local run, so there is no service to test"
        raise BuildplatError(
            "there is no deployed service to test: the deploy stage records service URLs in pipeline.json",
            hint="run the deploy stage first, or pass --service-url NAME=URL",
        )
    return None


def _run_command(ctx: StageContext, urls: dict[str, str], junit: Path) -> Case:
    command = ctx.app.system_test.command
    assert command is not None
    env = {**os.environ, **ctx.environ, "JUNIT_DIR": str(junit.resolve())}
    env["BUILDPLAT_APP"] = ctx.app.full_name
    env["BUILDPLAT_VERSION"] = ctx.version
    if urls:
        env["SERVICE_URL"] = next(iter(urls.values()))
    for name, url in urls.items():
        env[env_name(name)] = url
    timeout = ctx.app.system_test.timeout_seconds
    ctx.say(f"verify: running system_test.command: {command}")
    started = time.monotonic()
    try:
        done = proc.run(["/bin/sh", "-ec", command], cwd=ctx.repo, env=env, check=False, timeout=timeout)
    except BuildplatError as exc:  # timed out
        return Case("system_test.command", time.monotonic() - started, exc.message)
    ctx.stream.write(done.stdout)
    ctx.stream.flush()
    failure = None if done.returncode == 0 else f"exited with code {done.returncode}"
    return Case("system_test.command", time.monotonic() - started, failure, done.stdout[-OUTPUT_KEPT:])


def _health_check(ctx: StageContext, service: str, base: str) -> Case:
    url = base.rstrip("/") + ctx.app.runtime.health_path
    limit = min(float(ctx.app.system_test.timeout_seconds), HEALTH_CHECK_LIMIT)
    started = time.monotonic()
    last = "no answer"
    while True:
        status, last = _get(url)
        if status is not None and 200 <= status < 300:
            ctx.say(f"verify: {service}: GET {url} answered {status}")
            return Case(f"{service} GET {ctx.app.runtime.health_path}", time.monotonic() - started)
        if time.monotonic() - started + 1.0 > limit:
            break
        time.sleep(1.0)
    failure = f"GET {url} did not answer with a 2xx status within {limit:g} s (last: {last})"
    return Case(f"{service} GET {ctx.app.runtime.health_path}", time.monotonic() - started, failure)


def _get(url: str) -> tuple[int | None, str]:
    request = urllib.request.Request(url, headers={"User-Agent": "buildplat-verify"})  # noqa: S310 - http(s) only
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return int(response.status), f"status {response.status}"
    except urllib.error.HTTPError as exc:
        return int(exc.code), f"status {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return None, f"{type(exc).__name__}: {reason}"


def write_junit(path: Path, suite_name: str, cases: list[Case]) -> None:
    """A JUnit XML report; ElementTree escapes every name and message."""
    failures = sum(1 for c in cases if c.failure)
    suite = ET.Element(
        "testsuite",
        name=f"buildplat.verify {suite_name}",
        tests=str(len(cases)),
        failures=str(failures),
        errors="0",
        time=f"{sum(c.seconds for c in cases):.3f}",
    )
    for case in cases:
        element = ET.SubElement(
            suite, "testcase", classname=f"buildplat.verify.{suite_name}", name=case.name, time=f"{case.seconds:.3f}"
        )
        if case.failure:
            message = _xml_text(case.failure)
            failure = ET.SubElement(element, "failure", message=message[:1000], type="verify")
            failure.text = message
        if case.output:
            ET.SubElement(element, "system-out").text = _xml_text(case.output)
    ET.indent(suite)
    temp = path.with_name(f".{path.name}.tmp")
    xml = '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"
    temp.write_text(xml, encoding="utf-8")
    os.replace(temp, path)


def _xml_text(text: str) -> str:
    # XML 1.0 cannot carry most control characters, escaped or not; test output sometimes has them.
    return "".join(ch if ch in "\t\n\r" or ch >= " " else "?" for ch in text)
