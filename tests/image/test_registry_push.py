"""The image stage against the real registry (and dockerd): mounts not uploads, retries, auth, runnable images."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from buildplat.clients import oci
from buildplat.clients.registry import RegistryClient
from buildplat.errors import ServiceError
from buildplat.stages.context import PipelineState, StageContext
from buildplat.stages.image import assemble, run_image
from buildplat.stages.image_layer import read_deb
from tests.harness.registry import Registry
from tests.image.helpers import make_app, make_base_layout, make_context, make_deb, platform_config, skopeo_push_layout
from tests.image.proxy import Proxy

pytestmark = pytest.mark.slow


@dataclass
class Setup:
    registry: Registry
    namespace: str
    base_repository: str  # <ns>/base: the python base is <ns>/base/python:stable
    base_layers: list[str]
    base_digest: str
    tmp: Path

    def context(
        self, url: str | None = None, name: str = "hello", **extra: object
    ) -> tuple[StageContext, PipelineState]:
        app = make_app(name=name, namespace=self.namespace)
        deb = make_deb(self.tmp / f"deb-{name}", name=name)
        platform = platform_config(url or self.registry.url, self.base_repository)
        return make_context(app, self.tmp / f"out-{name}", deb, platform=platform, **extra)


@pytest.fixture
def setup(registry: Registry, registry_namespace: str, tmp_path: Path) -> Setup:
    layout = make_base_layout(tmp_path / "base", "stable")
    base_repository = f"{registry_namespace}/base"
    skopeo_push_layout(tmp_path / "base", "stable", f"{registry.host}/{base_repository}/python:stable")
    manifest = layout.get_manifest("base", "stable")
    return Setup(
        registry, registry_namespace, base_repository, [d.digest for d in manifest.layers], manifest.digest, tmp_path
    )


@pytest.fixture
def proxy(registry: Registry) -> Iterator[Proxy]:
    started = Proxy(upstream=registry.host).start()
    yield started
    started.stop()


def direct(ctx: StageContext, client: RegistryClient, repository: str | None = None) -> str:
    """Run the assembly with a client the test can look at afterwards; returns the digest."""
    assert ctx.platform is not None
    assert ctx.platform.registry is not None
    deb = read_deb(next(ctx.out.glob("*.deb")))
    pushed = assemble(
        ctx,
        deb,
        base=client,
        base_repository=f"{ctx.platform.registry.base_repository}/python",
        base_reference="stable",
        target=client,
        target_repository=repository or ctx.app.full_name,
        tag=ctx.version,
    )
    return pushed.digest


def test_stage_pushes_and_records_the_image(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    ctx, state = setup.context()
    run_image(ctx, state)
    assert state.image is not None
    digest = state.image["digest"]
    assert capsys.readouterr().out == "", "the stage prints nothing on stdout; `buildplat step image` prints the digest"
    assert state.image["reference"] == f"{setup.registry.host}/{setup.namespace}/hello@{digest}"
    assert state.image["tag"] == "1.7.0"
    assert state.image["base"] == {
        "reference": f"{setup.registry.host}/{setup.base_repository}/python:stable",
        "digest": setup.base_digest,
    }
    head = requests.head(
        f"{setup.registry.url}/v2/{setup.namespace}/hello/manifests/1.7.0",
        headers={"Accept": oci.OCI_MANIFEST},
        timeout=10,
    )
    assert head.headers["Docker-Content-Digest"] == digest


def test_base_layers_are_mounted_never_uploaded(setup: Setup) -> None:
    ctx, _ = setup.context()
    client = RegistryClient(setup.registry.url)
    digest = direct(ctx, client)
    assert set(client.stats.mounted) == set(setup.base_layers)
    assert not set(client.stats.uploaded) & set(setup.base_layers), "no base-layer byte was uploaded"
    manifest = client.get_manifest(ctx.app.full_name, digest)
    app_layer = manifest.layers[-1]
    assert set(client.stats.uploaded) == {app_layer.digest, manifest.config.digest}
    assert client.stats.bytes_uploaded == app_layer.size + manifest.config.size
    # The registry stores each blob once: the app repository links to the very blob of the base repository.
    storage = setup.registry.data_dir / "docker" / "registry" / "v2"
    for layer in setup.base_layers:
        hexdigest = layer.split(":", 1)[1]
        assert (
            storage / "repositories" / setup.namespace / "hello" / "_layers" / "sha256" / hexdigest / "link"
        ).is_file()
        assert (storage / "blobs" / "sha256" / hexdigest[:2] / hexdigest / "data").is_file()
    assert client.get_blob(ctx.app.full_name, setup.base_layers[0]) == client.get_blob(
        f"{setup.base_repository}/python", setup.base_layers[0]
    )


def test_rerunning_the_same_build_uploads_nothing(setup: Setup) -> None:
    ctx, _ = setup.context()
    first = direct(ctx, RegistryClient(setup.registry.url))
    again = RegistryClient(setup.registry.url)
    assert direct(ctx, again) == first
    assert again.stats.bytes_uploaded == 0
    assert again.stats.mounted == []


def test_a_500_on_one_blob_upload_is_retried(setup: Setup, proxy: Proxy) -> None:
    proxy.fail("PUT", "/blobs/uploads/", status=500, times=1)
    ctx, _ = setup.context(proxy.url)
    client = RegistryClient(proxy.url, backoff=(0.05, 0.1, 0.2))
    digest = direct(ctx, client)
    assert proxy.injected == 1
    assert client.stats.retries == 1
    assert [s for _, _, s, _ in proxy.seen].count(500) == 1
    straight = RegistryClient(setup.registry.url)
    assert straight.manifest_digest(ctx.app.full_name, "1.7.0") == digest


def test_retry_after_is_honoured(setup: Setup, proxy: Proxy) -> None:
    import time

    proxy.fail("GET", "/manifests/", status=503, times=1, retry_after=1)
    client = RegistryClient(proxy.url, backoff=(0.01,))
    started = time.monotonic()
    client.get_manifest(f"{setup.base_repository}/python", "stable")
    assert time.monotonic() - started >= 1.0
    assert client.stats.retries == 1


def test_failed_push_leaves_no_tag(setup: Setup, proxy: Proxy) -> None:
    proxy.fail("PUT", "/manifests/", status=500, times=100)
    ctx, _ = setup.context(proxy.url)
    client = RegistryClient(proxy.url, backoff=(0.01, 0.01))
    with pytest.raises(ServiceError) as caught:
        direct(ctx, client)
    assert caught.value.retryable
    assert "HTTP 500" in str(caught.value)
    assert RegistryClient(setup.registry.url).manifest_digest(ctx.app.full_name, "1.7.0") is None


def test_a_4xx_is_not_retried(setup: Setup, proxy: Proxy) -> None:
    proxy.fail("GET", "/manifests/", status=400, times=1)
    client = RegistryClient(proxy.url, backoff=(0.01, 0.01))
    with pytest.raises(ServiceError) as caught:
        client.get_manifest(f"{setup.base_repository}/python", "stable")
    assert not caught.value.retryable
    assert client.stats.retries == 0


def test_missing_base_image_is_a_clear_error(setup: Setup) -> None:
    ctx, state = setup.context()
    assert ctx.platform is not None
    ctx = StageContext(**{**ctx.__dict__, "platform": platform_config(setup.registry.url, "nobody/here")})
    with pytest.raises(ServiceError, match=r"nobody/here/python:stable: HTTP 404"):
        run_image(ctx, state)


@pytest.mark.parametrize("scheme", ["basic", "bearer"])
def test_credentials_from_the_platform_config(
    setup: Setup, proxy: Proxy, scheme: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    password = "s3cret-" + scheme
    proxy.auth, proxy.password = scheme, password
    monkeypatch.setenv("TEST_REGISTRY_USER", "builder")
    monkeypatch.setenv("TEST_REGISTRY_PASSWORD", password)
    ctx, state = setup.context(proxy.url)
    from buildplat.spec.platform import SecretRef

    platform = platform_config(
        proxy.url,
        setup.base_repository,
        user=SecretRef(env="TEST_REGISTRY_USER"),
        password=SecretRef(env="TEST_REGISTRY_PASSWORD"),
    )
    ctx = StageContext(
        **{**ctx.__dict__, "platform": platform, "source_url": f"https://ci:{password}@git.example/x.git"}
    )
    run_image(ctx, state)
    assert state.image is not None
    assert any(status == 401 for _, _, status, _ in proxy.seen), "the proxy did challenge"
    if scheme == "bearer":
        assert proxy.tokens, "a token was fetched"
        app, base = f"repository:{setup.namespace}/hello:pull,push", f"repository:{setup.base_repository}/python:pull"
        assert [app, base] in proxy.token_scopes, "a mount asks for both repositories, one scope parameter each"
    client = RegistryClient(setup.registry.url)
    manifest = client.get_manifest(ctx.app.full_name, state.image["digest"])
    config = client.get_blob(ctx.app.full_name, manifest.config.digest)
    assert manifest.annotations["org.opencontainers.image.source"] == "https://git.example/x.git"
    for text in (
        manifest.raw.decode(),
        config.decode(),
        ctx.console.getvalue(),
        capsys.readouterr().out,
        json.dumps(state.image),
    ):  # type: ignore[union-attr]
        assert password not in text


def test_wrong_password_is_a_clear_error(setup: Setup, proxy: Proxy, monkeypatch: pytest.MonkeyPatch) -> None:
    proxy.auth, proxy.password = "bearer", "right"
    client = RegistryClient(proxy.url, username="builder", password="wrong")
    with pytest.raises(ServiceError, match="refused the credentials") as caught:
        client.get_manifest(f"{setup.base_repository}/python", "stable")
    assert "wrong" not in str(caught.value)
    assert caught.value.hint


def test_chunked_upload(setup: Setup) -> None:
    client = RegistryClient(setup.registry.url, chunk_threshold=1000, chunk_size=4096)
    data = bytes(range(256)) * 100  # 25.6 kB: seven PATCH chunks
    path = setup.tmp / "blob"
    path.write_bytes(data)
    digest = oci.sha256_digest(data)
    client.put_blob(f"{setup.namespace}/chunks", digest, path)
    assert client.stats.uploaded[digest] == len(data)
    assert client.get_blob(f"{setup.namespace}/chunks", digest) == data
    other = data[::-1]
    client.put_blob(f"{setup.namespace}/chunks", oci.sha256_digest(other), other)  # from memory, chunked too
    assert client.get_blob(f"{setup.namespace}/chunks", oci.sha256_digest(other)) == other
    assert client.stats.requests >= 2 * 7


def test_catalog_and_tags(setup: Setup) -> None:
    ctx, _ = setup.context()
    direct(ctx, RegistryClient(setup.registry.url))
    client = RegistryClient(setup.registry.url)
    assert f"{setup.namespace}/hello" in set(client.catalog(page_size=2))
    assert client.tags(f"{setup.namespace}/hello") == ["1.7.0"]


def test_base_given_as_an_image_index(setup: Setup) -> None:
    client = RegistryClient(setup.registry.url)
    base_repo = f"{setup.base_repository}/python"
    single = client.get_manifest(base_repo, "stable")
    entry = oci.Descriptor(single.media_type, single.digest, len(single.raw)).to_json()
    entry["platform"] = {"os": "linux", "architecture": "amd64"}
    index = {"schemaVersion": 2, "mediaType": oci.OCI_INDEX, "manifests": [entry]}
    client.put_manifest(base_repo, "stable", oci.canonical_json(index), oci.OCI_INDEX)
    ctx, state = setup.context()
    run_image(ctx, state)
    assert state.image is not None
    assert state.image["base"]["digest"] == single.digest


def test_ping(setup: Setup) -> None:
    client = RegistryClient(setup.registry.url)
    client.ping()
    assert client.stats.requests == 1


def test_mount_from_a_repository_without_the_blob_is_refused(setup: Setup) -> None:
    client = RegistryClient(setup.registry.url)
    assert client.mount_blob(f"{setup.namespace}/target", setup.base_layers[0], f"{setup.namespace}/empty") is False
    assert client.stats.mounted == []
    assert not client.has_blob(f"{setup.namespace}/target", setup.base_layers[0])


def test_copy_from_another_registry_uploads(setup: Setup, proxy: Proxy) -> None:
    source = RegistryClient(proxy.url)  # another address: no mount is possible, the blob travels
    target = RegistryClient(setup.registry.url)
    layout_layer = source.get_manifest(f"{setup.base_repository}/python", "stable").layers[0]
    assert target.copy_blob(f"{setup.namespace}/copy", layout_layer, source, f"{setup.base_repository}/python") is False
    assert target.stats.uploaded == {layout_layer.digest: layout_layer.size}
    assert target.has_blob(f"{setup.namespace}/copy", layout_layer.digest)


def test_an_expired_token_is_renewed(setup: Setup, proxy: Proxy) -> None:
    proxy.auth, proxy.password = "bearer", "pw"
    client = RegistryClient(proxy.url, username="builder", password="pw")
    repository = f"{setup.base_repository}/python"
    client.get_manifest(repository, "stable")
    proxy.tokens.clear()  # the registry forgets every token it gave out, as when they expire
    client.get_manifest(repository, "stable")
    assert len(proxy.token_scopes) == 2


@pytest.mark.parametrize("base_repository", ["Team/Base", "base/../../v2", "base?x=1"])
def test_bad_base_repository_is_rejected_before_any_request(setup: Setup, proxy: Proxy, base_repository: str) -> None:
    from buildplat.clients.oci import InvalidReference

    ctx, state = setup.context(proxy.url)
    ctx = StageContext(**{**ctx.__dict__, "platform": platform_config(proxy.url, base_repository)})
    with pytest.raises(InvalidReference, match="invalid image repository name") as caught:
        run_image(ctx, state)
    assert caught.value.hint
    assert proxy.seen == []
    assert state.image is None
