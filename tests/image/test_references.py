"""Names, tags and digests are validated before anything reaches a URL or a file name."""

from __future__ import annotations

import pytest

from buildplat.clients import oci
from buildplat.clients.oci import InvalidReference
from buildplat.clients.registry import RegistryClient
from tests.harness.process import free_port

GOOD_DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize("name", ["team/app", "a", "buildplat/base/python", "a-b.c_d/e__f"])
def test_valid_repository_names(name: str) -> None:
    assert oci.check_repository(name) == name


@pytest.mark.parametrize(
    "name", ["Team/app", "../x", "a//b", "/a", "a/", "a b", "a?b", "a%2fb", "-a", "a_", "x" * 256, ""]
)
def test_invalid_repository_names(name: str) -> None:
    with pytest.raises(InvalidReference, match="invalid image repository name"):
        oci.check_repository(name)


@pytest.mark.parametrize("tag", ["1.2.3", "latest", "1.2.3-base-2026.01.01", "_x", "A" * 128])
def test_valid_tags(tag: str) -> None:
    assert oci.check_tag(tag) == tag


@pytest.mark.parametrize("tag", ["", ".x", "-x", "a/b", "a b", "a:b", "A" * 129, "x?y"])
def test_invalid_tags(tag: str) -> None:
    with pytest.raises(InvalidReference, match="invalid image tag"):
        oci.check_tag(tag)


@pytest.mark.parametrize("digest", ["sha256:abc", "sha256:" + "A" * 64, "md5:" + "a" * 32, "sha256:" + "a" * 63 + "/"])
def test_invalid_digests(digest: str) -> None:
    with pytest.raises(InvalidReference, match="invalid digest"):
        oci.check_digest(digest)


def test_client_rejects_bad_references_before_any_request() -> None:
    # Nothing listens on this port: had a request been made, the error would be a connection failure.
    client = RegistryClient(f"http://127.0.0.1:{free_port()}", backoff=())
    calls = [
        lambda: client.get_manifest("Bad Name", "1.0"),
        lambda: client.get_manifest("team/app", "../../v2/_catalog"),
        lambda: client.has_blob("team/app", "sha256:../../etc"),
        lambda: client.put_manifest("team/app", "1.0?x=y", b"{}", oci.OCI_MANIFEST),
        lambda: client.mount_blob("team/app", GOOD_DIGEST, "other/../repo"),
        lambda: client.put_blob("team/app", "nope", b"x"),
        lambda: client.tags("a/../b"),
    ]
    for call in calls:
        with pytest.raises(InvalidReference):
            call()
    assert client.stats.requests == 0


@pytest.mark.parametrize("url", ["ftp://host", "host:5000", "http://", "http://user:secret@host:5000"])
def test_bad_registry_urls(url: str) -> None:
    with pytest.raises(InvalidReference) as caught:
        RegistryClient(url)
    assert "secret" not in str(caught.value)


def test_unreachable_registry_is_a_retryable_service_error() -> None:
    from buildplat.errors import ServiceError

    client = RegistryClient(f"http://127.0.0.1:{free_port()}", backoff=(0.01, 0.01))
    with pytest.raises(ServiceError) as caught:
        client.ping()
    assert caught.value.retryable
    assert client.stats.requests == 3, "the first try and two retries"
    assert client.stats.retries == 2
