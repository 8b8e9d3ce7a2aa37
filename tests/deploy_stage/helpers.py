"""Real inputs for the deploy tests: default.json and platform config files run through buildplat's own loaders,
an HTTP image built from busybox and pushed to the harness registry, and namespaces in the harness cluster."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from buildplat.spec.model import AppSpec, load_app_file
from buildplat.spec.platform import PlatformConfig, load_platform_file
from buildplat.stages.context import PipelineState, StageContext

DIGEST = "sha256:" + "ab" * 32
IMAGE = f"registry.example.com:5000/team/web@{DIGEST}"


def app_doc(namespace: str = "team", name: str = "web", app_type: str = "http_api", **extra: Any) -> dict[str, Any]:
    services = [
        {
            "name": "web",
            "application": f"{namespace}/{name}",
            "instances": {"min": 2, "max": 4},
            **({"external_url": f"{name}.{namespace}.example.com"} if app_type != "worker" else {}),
        }
    ]
    doc: dict[str, Any] = {
        "namespace": namespace,
        "application": {"name": name, "type": app_type, "version": "1.x.x"},
        "build": {"system_setup": {"buildfacts": ["python"]}},
        "artifacts": "build/",
        "runtime": {"port": 8080, "health_path": "/index.html", "env": {"LOG_LEVEL": "info"}},
        "services": services,
    }
    doc.update(extra)
    return doc


def write_app(directory: Path, doc: dict[str, Any]) -> AppSpec:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "default.json").write_text(json.dumps(doc, indent=2))
    return load_app_file(directory)


def write_platform(path: Path, team: str, **kubernetes: Any) -> PlatformConfig:
    doc = {
        "team": team,
        "repositories": [{"url": f"git://git.example.com/{team}/web.git"}],
        "jenkins": {"url": "http://jenkins.example.com/"},
        "kubernetes": kubernetes,
    }
    path.write_text(json.dumps(doc, indent=2))
    return load_platform_file(path)


def context(app: AppSpec, root: Path, platform: PlatformConfig | None = None) -> StageContext:
    """A stage context whose console is a StringIO (``ctx.console.getvalue()`` has what the stage said)."""
    return StageContext(app=app, repo=root, out=root / "out", build_number=7, platform=platform, console=io.StringIO())


def said(ctx: StageContext) -> str:
    assert isinstance(ctx.console, io.StringIO)
    return ctx.console.getvalue()


def state_with_image(reference: str) -> PipelineState:
    digest = reference.rsplit("@", 1)[1]
    return PipelineState(
        app="team/web", version="1.7.0", build_number=7, image={"reference": reference, "digest": digest}
    )


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
