"""Helpers for App Eng's tests and bench/rebase: busybox-based bases built with `buildplat images build`, platform
configs, and app images built on them by the image stage."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from buildplat.buildfacts.registry import BUILDFACTS
from tests.cli_helpers import Outcome, run_cli
from tests.harness.docker import DockerEngine
from tests.harness.registry import Registry

BUSYBOX = "appeng-test/busybox:1"


@dataclass(frozen=True)
class Base:
    version: str
    digest: str


@dataclass(frozen=True)
class Bases:
    root: str  # <ns>/base
    python: dict[str, Base]  # "v1", "v2", "v3"
    java: Base
    config: Path  # a platform config naming the registry and root


def busybox_context(root: Path, buildfact: str, version: str, release: str) -> Path:
    """A base-images directory with one busybox-based runtime Dockerfile for ``buildfact``."""
    package = BUILDFACTS[buildfact].runtime_packages[0]
    directory = root / buildfact
    directory.mkdir(parents=True)
    status = f"Package: {package}\\nStatus: install ok installed\\nVersion: {version}\\n\\n"
    (directory / "Dockerfile").write_text(
        "ARG BASE\n"
        "FROM ${BASE}\n"
        f'LABEL dev.buildplat.base.buildfact="{buildfact}"\n'
        f"RUN mkdir -p /var/lib/dpkg/info /var/lib/dpkg/updates /opt && printf '{status}' > /var/lib/dpkg/status"
        f" && echo {release} > /etc/base-release\n"
        "USER 65532:65532\n"
    )
    return root


def write_platform(
    path: Path,
    *,
    team: str,
    registry_url: str,
    root: str,
    hubot: Any = None,
    jenkins_url: str = "http://127.0.0.1:9/",
    base_tag: str | None = None,
) -> Path:
    registry: dict[str, Any] = {"url": registry_url, "base_repository": root}
    if base_tag:
        registry["base_tag"] = base_tag
    doc: dict[str, Any] = {"team": team, "repositories": [], "jenkins": {"url": jenkins_url}, "registry": registry}
    if hubot is not None:
        doc["hubot"] = {"url": hubot.url, "room": f"{team}-builds"}
    path.write_text(json.dumps(doc))
    return path


def build_base(docker: DockerEngine, config: Path, contexts: Path, buildfact: str, *extra: str) -> Outcome:
    return run_cli(
        "images", "build", buildfact, "--push", "--config", str(config), "--base", BUSYBOX,
        "--contexts", str(contexts), "--state-dir", str(contexts / "state"), *extra,
        env=docker.env,
    )  # fmt: skip


def pushed(outcome: Outcome) -> Base:
    """The version and digest of the one image an `images build` run printed."""
    outcome.assert_success()
    _, _, reference, digest, _ = outcome.stdout.strip().splitlines()[-1].split()
    return Base(reference.rsplit(":", 1)[1], digest)


def build_app(
    registry: Registry,
    root: str,
    base_version: str,
    app: str,
    work: Path,
    *,
    buildfact: str = "python",
    engine: str = "registry",
    docker: DockerEngine | None = None,
) -> dict[str, Any]:
    """Build ``team/name`` on ``root/<buildfact>:<base_version>`` with the image stage; returns its image record.

    The app prints its own file and the base's /etc/base-release, so a run shows which base it is on.
    """
    from buildplat.stages.image import run_image
    from tests.image.helpers import make_app, make_context, make_deb, platform_config

    team, name = app.split("/")
    spec = make_app(name=name, namespace=team, buildfact=buildfact,
                    command=("/bin/sh", "-c", f"cat /opt/{name}/hello.txt /etc/base-release"))  # fmt: skip
    deb = make_deb(work / f"deb-{team}-{name}", name=name, files={"hello.txt": f"hello from {name}\n"})
    environ = {"DOCKER_HOST": docker.host} if docker is not None else {}
    platform = platform_config(registry.url, root, base_tag=base_version)
    ctx, state = make_context(spec, work / f"out-{team}-{name}", deb, platform=platform, environ=environ)
    run_image(ctx, state, engine=engine)
    assert state.image is not None
    return state.image


@dataclass(frozen=True)
class World:
    """Everything a rollout test talks to."""

    bases: Bases
    registry: Registry
    docker: DockerEngine
    hubot: Any

    @property
    def env(self) -> dict[str, str]:
        """The environment a `buildplat images` run needs: the Hubot token its configs name."""
        return {"BUILDPLAT_HUBOT_TOKEN": self.hubot.token, "PATH": os.environ.get("PATH", "")}

    def said(self, team: str) -> list[str]:
        return [m["text"] for m in self.hubot.messages(room=f"{team}-builds")]

    def config(self, directory: Path, team: str, registry_url: str | None = None, **extra: Any) -> str:
        url = registry_url or self.registry.url
        return str(write_platform(directory / f"{team}.json", team=team, registry_url=url, root=self.bases.root,
                                  hubot=self.hubot, **extra))  # fmt: skip

    def app(self, app: str, work: Path, base: str = "v1", **options: Any) -> dict[str, Any]:
        version = self.bases.python[base].version if base in self.bases.python else base
        return build_app(self.registry, self.bases.root, version, app, work, **options)
