"""`buildplat images build` on a real dockerd: versions never overwritten, agents, the real Debian Dockerfile."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from buildplat.clients.oci_layout import OciLayout
from buildplat.clients.registry import RegistryClient
from tests.appeng.helpers import World, build_base, busybox_context, pushed, write_platform
from tests.cli_helpers import run_cli
from tests.harness.docker import DockerEngine
from tests.harness.registry import Registry

pytestmark = [pytest.mark.slow, pytest.mark.docker]

# Shared with tests/image/test_local_base.py's habit: kept between runs on this machine, built once.
CACHE = Path(os.environ.get("BUILDPLAT_TEST_BASE_CACHE", Path(tempfile.gettempdir()) / "buildplat-test-base-cache"))
DEBIAN = "appeng-test/debian:bookworm"


def test_building_again_is_a_no_op_and_a_version_is_never_overwritten(world: World, tmp_path: Path) -> None:
    contexts = busybox_context(tmp_path / "ctx", "python", "3.11.2-1", "rebuilt")
    config = write_platform(tmp_path / "p.json", team="appeng", registry_url=world.registry.url, root=world.bases.root)
    first = pushed(build_base(world.docker, config, contexts, "python"))
    assert "docker build: Step 1/" in build_base(world.docker, config, contexts, "python").stderr
    again = build_base(world.docker, config, contexts, "python").assert_success()
    assert again.stdout.split()[-2:] == [first.digest, "unchanged"]
    records = [json.loads(line) for line in (contexts / "state" / "builds.jsonl").read_text().splitlines()]
    assert [r["status"] for r in records] == ["pushed", "unchanged", "unchanged"]
    assert records[0]["digest"] == first.digest
    assert records[0]["packages"] == {"python3": "3.11.2-1"}

    # Without the cache the same context gives the same version but other layer bytes: refused, tag kept.
    refused = build_base(world.docker, config, contexts, "python", "--no-cache")
    refused.assert_no_traceback()
    assert refused.returncode == 1
    assert "already exists in the registry as another image" in refused.stderr
    assert "versions are never overwritten" in refused.stderr
    client = RegistryClient(world.registry.url)
    assert client.manifest_digest(f"{world.bases.root}/python", first.version) == first.digest
    labels = json.loads(
        client.get_blob(
            f"{world.bases.root}/python", client.get_manifest(f"{world.bases.root}/python", first.digest).config.digest
        )
    )
    assert labels["config"]["Labels"]["dev.buildplat.base.packages"] == "python3=3.11.2-1"
    assert labels["config"]["Labels"]["org.opencontainers.image.version"] == first.version
    assert client.manifest_digest(f"{world.bases.root}/python", "stable") is None, "pushing never moves stable"


def test_agent_images_build_on_the_runtime_and_get_the_platform_tag(world: World, tmp_path: Path) -> None:
    contexts = busybox_context(tmp_path / "ctx", "go", "20230311", "agent-base")
    agent = contexts / "go" / "agent"
    agent.mkdir()
    (agent / "Dockerfile").write_text(
        "ARG BASE\nFROM ${BASE}\nUSER 0\nRUN echo toolchain > /etc/agent\nUSER 65532:65532\n"
    )
    config = write_platform(tmp_path / "p.json", team="appeng", registry_url=world.registry.url, root=world.bases.root)
    done = build_base(world.docker, config, contexts, "go", "--agents", "--agent-tag", "0.1.0").assert_success()
    runtime_line, agent_line = done.stdout.strip().splitlines()
    assert runtime_line.startswith(f"go runtime {world.registry.host}/{world.bases.root}/go:")
    _, kind, reference, digest, status = agent_line.split()
    assert (kind, status) == ("agent", "pushed")
    assert reference.startswith(f"{world.registry.host}/buildplat/agent-go:")
    client = RegistryClient(world.registry.url)
    assert client.manifest_digest("buildplat/agent-go", "0.1.0") == digest, "the tag deploy/ renders"
    out = world.docker.cli("run", "--rm", "--entrypoint", "/bin/cat", reference, "/etc/base-release", "/etc/agent")
    assert out.stdout.decode().split() == ["agent-base", "toolchain"]


@pytest.fixture(scope="session")
def debian(docker_engine: DockerEngine) -> str:
    """A Debian bookworm minbase image in dockerd: buildplat's own local base builder, imported once."""
    if os.geteuid() != 0 or shutil.which("debootstrap") is None:
        pytest.skip("making a Debian image needs root and debootstrap (scripts/install-test-deps)")
    from buildplat.images import rootfs

    layout_dir = rootfs.ensure_local_base("go", say=lambda _: None, layout_dir=CACHE / "go")
    layout = OciLayout(layout_dir)
    manifest = layout.get_manifest("base", "local")
    docker_engine.cli("import", str(layout.blob_path(manifest.layers[0].digest)), DEBIAN)
    return DEBIAN


def test_the_python_dockerfile_builds_a_debian_runtime_that_runs_as_nonroot(
    debian: str, registry: Registry, docker_engine: DockerEngine, tmp_path: Path
) -> None:
    root = f"{registry.namespace('debian')}/base"
    config = write_platform(tmp_path / "p.json", team="appeng", registry_url=registry.url, root=root)
    args = ["images", "build", "python", "--push", "--config", str(config), "--base", debian, "--network", "host",
            "--state-dir", str(tmp_path)]  # fmt: skip
    built = pushed(run_cli(*args, env=docker_engine.env))
    reference = f"{registry.host}/{root}/python:{built.version}"
    script = "import os, sys; print(sys.version_info[0], sys.version_info[1], os.getuid(), os.getgid())"
    out = docker_engine.cli("run", "--rm", reference, "python3", "-c", script).stdout.decode().split()
    assert out[:2] == ["3", "11"]
    assert out[2:] == ["65532", "65532"]
    inspected = json.loads(docker_engine.cli("image", "inspect", reference).stdout)[0]["Config"]
    assert inspected["User"] == "65532:65532"
    assert inspected["Labels"]["dev.buildplat.base.packages"].startswith("python3=3.11.")
    assert inspected["Labels"]["org.opencontainers.image.title"] == "buildplat python runtime base"
    assert inspected["Labels"]["org.opencontainers.image.base.name"] == debian
    again = run_cli(*args, env=docker_engine.env).assert_success()
    assert again.stdout.split()[-2:] == [built.digest, "unchanged"], "same inputs, same version: nothing to push"
