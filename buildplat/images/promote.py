"""``buildplat images promote BUILDFACT VERSION``: point the base tag new builds use (``stable``) at a version.

App Eng decides when a new base becomes the one every new build starts from; building and pushing a version
never moves ``stable``. The move copies the version's manifest, byte for byte, to the tag (over the registry API,
no Docker engine), so ``stable`` and the version tag name the same digest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from buildplat.clients import oci
from buildplat.errors import BuildplatError
from buildplat.images.versions import check_version

if TYPE_CHECKING:
    from buildplat.clients.registry import RegistryClient


@dataclass(frozen=True)
class Promoted:
    reference: str  # host/repository:stable
    version: str
    digest: str
    previous: str | None  # the digest the tag named before, None when it did not exist


def promote(client: RegistryClient, repository: str, version: str, tag: str) -> Promoted:
    from buildplat.clients.registry import NotFound

    check_version(version)
    oci.check_tag(tag)
    try:
        manifest = client.get_raw_manifest(repository, version)
    except NotFound:
        raise BuildplatError(
            f"{client.describe(repository, version)} does not exist",
            hint="`buildplat images build BUILDFACT --push` pushes versions; the registry's tags list shows them",
        ) from None
    previous = client.manifest_digest(repository, tag)
    if previous != manifest.digest:
        client.put_manifest(repository, tag, manifest.raw, manifest.media_type)
    if client.manifest_digest(repository, tag) != manifest.digest:
        raise BuildplatError(f"{client.describe(repository, tag)} does not name {manifest.digest} after the move")
    return Promoted(client.describe(repository, tag), version, manifest.digest, previous)
