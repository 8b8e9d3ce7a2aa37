"""The registry and Docker engine of the harness do what the rest of the suite relies on."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import subprocess
import tarfile
from pathlib import Path

import pytest
import requests

from tests.harness.docker import DockerEngine
from tests.harness.registry import Registry

pytestmark = pytest.mark.slow

MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def layer_with(name: str, content: bytes) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    return gzip.compress(raw.getvalue(), mtime=0)


def push_blob(registry: Registry, repo: str, data: bytes) -> str:
    """Monolithic upload: POST to open a session, PUT the bytes with their digest."""
    started = requests.post(f"{registry.url}/v2/{repo}/blobs/uploads/", timeout=10)
    assert started.status_code == 202, started.text
    location = requests.compat.urljoin(registry.url, started.headers["Location"])
    digest = digest_of(data)
    done = requests.put(location, params={"digest": digest}, data=data, timeout=10)
    assert done.status_code == 201, done.text
    assert done.headers["Docker-Content-Digest"] == digest
    return digest


def test_blob_and_manifest_round_trip(registry: Registry, registry_namespace: str) -> None:
    repo = f"{registry_namespace}/app"
    layer = layer_with("hello.txt", b"hello from the harness\n")
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    layer_digest, config_digest = push_blob(registry, repo, layer), push_blob(registry, repo, config)

    fetched = requests.get(f"{registry.url}/v2/{repo}/blobs/{layer_digest}", timeout=10)
    assert fetched.status_code == 200
    assert fetched.content == layer

    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_V2,
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": len(config),
                "digest": config_digest,
            },
            "layers": [
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": len(layer),
                    "digest": layer_digest,
                }
            ],
        }
    ).encode()
    put = requests.put(
        f"{registry.url}/v2/{repo}/manifests/v1", data=manifest, headers={"Content-Type": MANIFEST_V2}, timeout=10
    )
    assert put.status_code == 201, put.text
    assert put.headers["Docker-Content-Digest"] == digest_of(manifest)

    got = requests.get(f"{registry.url}/v2/{repo}/manifests/v1", headers={"Accept": MANIFEST_V2}, timeout=10)
    assert got.status_code == 200
    assert got.content == manifest
    assert requests.get(f"{registry.url}/v2/{repo}/tags/list", timeout=10).json()["tags"] == ["v1"]

    # Deletes are enabled: the manifest goes away by digest.
    deleted = requests.delete(f"{registry.url}/v2/{repo}/manifests/{digest_of(manifest)}", timeout=10)
    assert deleted.status_code == 202
    gone = requests.get(f"{registry.url}/v2/{repo}/manifests/v1", headers={"Accept": MANIFEST_V2}, timeout=10)
    assert gone.status_code == 404


def test_cross_repository_blob_mount(registry: Registry, registry_namespace: str) -> None:
    source, target = f"{registry_namespace}/base", f"{registry_namespace}/app"
    digest = push_blob(registry, source, layer_with("base.txt", b"base layer\n"))
    assert requests.head(f"{registry.url}/v2/{target}/blobs/{digest}", timeout=10).status_code == 404

    mounted = requests.post(
        f"{registry.url}/v2/{target}/blobs/uploads/", params={"mount": digest, "from": source}, timeout=10
    )
    assert mounted.status_code == 201, mounted.text
    assert mounted.headers["Docker-Content-Digest"] == digest
    assert requests.head(f"{registry.url}/v2/{target}/blobs/{digest}", timeout=10).status_code == 200

    # A digest the source does not have is not mounted: the registry opens an ordinary upload instead.
    missing = digest_of(b"never pushed")
    fallback = requests.post(
        f"{registry.url}/v2/{target}/blobs/uploads/", params={"mount": missing, "from": source}, timeout=10
    )
    assert fallback.status_code == 202


@pytest.mark.docker
def test_docker_build_from_imported_busybox_and_push(
    docker_engine: DockerEngine, registry: Registry, registry_namespace: str, tmp_path: Path
) -> None:
    base = f"buildplat.local/busybox:{registry_namespace}"
    docker_engine.import_busybox(base)
    (tmp_path / "Dockerfile").write_text(
        f'FROM {base}\nRUN echo built-by-dockerd > /built.txt\nCMD ["cat", "/built.txt"]\n'
    )
    ref = f"{registry.host}/{registry_namespace}/app:1"
    docker_engine.build(tmp_path, ref)
    assert docker_engine.cli("run", "--rm", ref).stdout == b"built-by-dockerd\n"

    digest = docker_engine.push(ref)
    manifest = requests.get(
        f"{registry.url}/v2/{registry_namespace}/app/manifests/1", headers={"Accept": MANIFEST_V2}, timeout=10
    )
    assert manifest.status_code == 200
    assert manifest.headers["Docker-Content-Digest"] == digest
    assert len(manifest.json()["layers"]) == 2  # busybox import + the RUN layer

    inspected = subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", f"docker://{ref}"], capture_output=True, text=True, check=True
    )
    assert json.loads(inspected.stdout)["Digest"] == digest

    # The SDK client talks to the same engine.
    client = docker_engine.client()
    assert ref in client.images.get(ref).tags
