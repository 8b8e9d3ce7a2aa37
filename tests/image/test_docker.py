"""Both image paths produce images that run under a real dockerd."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from buildplat.clients.registry import RegistryClient
from buildplat.stages.context import StageContext
from buildplat.stages.image import run_image
from tests.harness.docker import DockerEngine
from tests.harness.registry import Registry
from tests.image.helpers import make_app, make_base_layout, make_context, make_deb, platform_config, skopeo_push_layout

pytestmark = [pytest.mark.slow, pytest.mark.docker]

SERVER = """#!/bin/sh
# Serves the payload's www directory on $PORT with busybox httpd.
exec /bin/httpd -f -p "$PORT" -h /opt/web/www
"""


def _push_base(registry: Registry, namespace: str, tmp_path: Path) -> str:
    make_base_layout(tmp_path / "base", "stable")
    base_repository = f"{namespace}/base"
    skopeo_push_layout(tmp_path / "base", "stable", f"{registry.host}/{base_repository}/python:stable")
    return base_repository


def _context(registry: Registry, namespace: str, tmp_path: Path, docker: DockerEngine, **app: object) -> StageContext:
    base_repository = _push_base(registry, namespace, tmp_path)
    application = make_app(namespace=namespace, **app)  # type: ignore[arg-type]
    files = {"hello.txt": "hello from the deb\n", "run.sh": SERVER, "www/index.html": "<p>served from the deb</p>\n"}
    deb = make_deb(tmp_path / "deb", name=application.name, files=files)
    ctx, _ = make_context(
        application,
        tmp_path / "out",
        deb,
        platform=platform_config(registry.url, base_repository),
        environ={"DOCKER_HOST": docker.host},
    )
    return ctx


def _run(docker: DockerEngine, reference: str, *args: str) -> str:
    return docker.cli("run", "--rm", *args, reference).stdout.decode()


@pytest.mark.parametrize("engine", ["registry", "docker"])
def test_image_runs_under_dockerd(
    registry: Registry, registry_namespace: str, docker_engine: DockerEngine, tmp_path: Path, engine: str
) -> None:
    ctx = _context(registry, registry_namespace, tmp_path, docker_engine, env=(("GREETING", 'a "quoted" $value\\n'),))
    state = make_context(ctx.app, ctx.out, next(ctx.out.glob("*.deb")))[1]
    run_image(ctx, state, engine=engine)
    assert state.image is not None
    reference = state.image["reference"]
    assert reference.startswith(f"{registry.host}/{registry_namespace}/hello@sha256:")
    assert _run(docker_engine, reference) == "hello from the deb\n"
    uid = docker_engine.cli("run", "--rm", "--entrypoint", "/bin/id", reference, "-u").stdout.decode().strip()
    assert uid == "65532"
    env = docker_engine.cli("run", "--rm", "--entrypoint", "/bin/env", reference).stdout.decode().splitlines()
    assert 'GREETING=a "quoted" $value\\n' in env, "env values reach the image verbatim on both paths"
    assert "PORT=8080" in env
    pwd = docker_engine.cli("run", "--rm", "--entrypoint", "/bin/pwd", reference).stdout.decode().strip()
    assert pwd == "/opt/hello"
    inspected = json.loads(docker_engine.cli("image", "inspect", reference).stdout)[0]
    labels = inspected["Config"]["Labels"]
    assert labels["dev.buildplat.app"] == f"{registry_namespace}/hello"
    assert labels["org.opencontainers.image.base.digest"] == state.image["base"]["digest"]
    assert labels["org.opencontainers.image.version"] == "1.7.0"
    status_file = "/var/lib/dpkg/status.d/hello" if engine == "registry" else "/var/lib/dpkg/status"
    status = docker_engine.cli("run", "--rm", "--entrypoint", "/bin/cat", reference, status_file).stdout.decode()
    assert "Package: hello" in status
    client = RegistryClient(registry.url)
    assert client.manifest_digest(f"{registry_namespace}/hello", "1.7.0") == state.image["digest"]


def test_http_app_serves_its_payload(
    registry: Registry, registry_namespace: str, docker_engine: DockerEngine, tmp_path: Path
) -> None:
    import time
    import urllib.request

    ctx = _context(
        registry,
        registry_namespace,
        tmp_path,
        docker_engine,
        name="web",
        app_type="http_html",
        command=("/bin/sh", "/opt/web/run.sh"),
    )
    state = make_context(ctx.app, ctx.out, next(ctx.out.glob("*.deb")))[1]
    run_image(ctx, state)
    assert state.image is not None
    name = f"bp-image-test-{registry_namespace}"
    docker_engine.cli("run", "-d", "--name", name, state.image["reference"])
    try:
        address = (
            docker_engine.cli("inspect", "--format", "{{.NetworkSettings.IPAddress}}", name).stdout.decode().strip()
        )
        body = ""
        for _ in range(50):
            try:
                with urllib.request.urlopen(f"http://{address}:8080/", timeout=2) as response:
                    body = response.read().decode()
                    break
            except OSError:
                time.sleep(0.1)
        assert body == "<p>served from the deb</p>\n"
    finally:
        docker_engine.remove_containers(name)


def test_local_image_runs_with_the_printed_command(docker_engine: DockerEngine, tmp_path: Path) -> None:
    """``buildplat run``'s image (an OCI layout) loads into dockerd with the skopeo command the stage prints."""
    import shlex
    import subprocess

    make_base_layout(tmp_path / "base")
    app = make_app(name="local-app")
    deb = make_deb(tmp_path / "deb", name="local-app")
    ctx, state = make_context(app, tmp_path / "out dir", deb, base_images=lambda buildfact: tmp_path / "base")
    run_image(ctx, state)
    console = ctx.console.getvalue()  # type: ignore[union-attr]
    line = next(text for text in console.splitlines() if text.strip().startswith("skopeo copy"))
    copy, run = line.strip().split(" && ")
    argv = shlex.split(copy)
    assert argv[-2] == f"oci:{tmp_path / 'out dir' / 'image'}:1.7.0", "the path with a space stays one argument"
    # skopeo reads no DOCKER_HOST: the harness's private dockerd is named explicitly (users have the default socket).
    argv[2:2] = ["--dest-daemon-host", docker_engine.host]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert docker_engine.cli(*shlex.split(run)[1:]).stdout.decode() == "hello from the deb\n"


def test_docker_pushed_base_with_docker_media_types(
    registry: Registry, registry_namespace: str, docker_engine: DockerEngine, tmp_path: Path
) -> None:
    """A base built and pushed by dockerd (Docker v2 schema 2) becomes an OCI image with the same layer bytes."""
    from buildplat.clients import oci

    tag = f"{registry.host}/{registry_namespace}/base/python:stable"
    docker_engine.import_busybox(tag, changes=['CMD ["/bin/sh"]'])
    docker_engine.push(tag)
    client = RegistryClient(registry.url)
    base = client.get_manifest(f"{registry_namespace}/base/python", "stable")
    assert base.media_type == oci.DOCKER_MANIFEST
    application = make_app(namespace=registry_namespace)
    deb = make_deb(tmp_path / "deb", name=application.name)
    ctx, state = make_context(
        application, tmp_path / "out", deb, platform=platform_config(registry.url, f"{registry_namespace}/base")
    )
    run_image(ctx, state)
    assert state.image is not None
    manifest = client.get_manifest(application.full_name, state.image["digest"])
    assert manifest.media_type == oci.OCI_MANIFEST
    assert [(d.digest, d.size) for d in manifest.layers[:-1]] == [(d.digest, d.size) for d in base.layers]
    assert {d.media_type for d in manifest.layers} == {oci.OCI_LAYER_GZIP}
    assert _run(docker_engine, state.image["reference"]) == "hello from the deb\n"


def test_multi_block_layer_is_read_by_dockerd(
    registry: Registry, registry_namespace: str, docker_engine: DockerEngine, tmp_path: Path
) -> None:
    """A payload of several MiB: the layer's gzip stream is cut into blocks (stages/pgzip), which Go reads."""
    import hashlib
    import random

    payload = random.Random(7).randbytes(3 * (1 << 20) + 4321).hex()  # 6.6 MB of text
    ctx = _context(registry, registry_namespace, tmp_path, docker_engine)
    deb = make_deb(tmp_path / "big", name="hello", files={"hello.txt": "hi\n", "big.txt": payload})
    (ctx.out / next(ctx.out.glob("*.deb")).name).write_bytes(deb.read_bytes())
    state = make_context(ctx.app, ctx.out, next(ctx.out.glob("*.deb")))[1]
    run_image(ctx, state)
    assert state.image is not None
    summed = docker_engine.cli(
        "run", "--rm", "--entrypoint", "/bin/md5sum", state.image["reference"], "/opt/hello/big.txt"
    ).stdout.decode()
    assert summed.split()[0] == hashlib.md5(payload.encode()).hexdigest()  # noqa: S324 - a checksum
