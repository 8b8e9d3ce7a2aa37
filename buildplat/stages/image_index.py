"""The per-app image index: which images the image stage (and ``images rollout``) pushed, kept in the registry.

Each app repository ``<namespace>/<name>`` gets a tag ``buildplat-index`` pointing at an OCI image index (the
same shape as an OCI layout's ``index.json``) whose entries are the app's pushed images: the manifest descriptor,
annotated with the tag (``org.opencontainers.image.ref.name``), the app, its buildfact, its version and the base
it was built on (``org.opencontainers.image.base.name`` / ``.base.digest``). ``buildplat images plan`` reads one
index per repository instead of one manifest per tag; tags the index does not know (pushed before it existed, or
lost to a race between two writers) are still found from the tags list and read one by one, so the index only
saves requests and is never the only source of truth.

Keeping it is best effort: a build whose index update fails has still pushed a good image, so the image stage
only warns. The registry refuses an index naming a manifest it does not hold, which keeps the index honest;
when older entries have been deleted the index starts over from the new entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from buildplat.clients import oci
from buildplat.clients.oci import Descriptor, Manifest
from buildplat.errors import ServiceError

if TYPE_CHECKING:
    from buildplat.clients.registry import RegistryClient

INDEX_TAG = "buildplat-index"
MAX_ENTRIES = 200  # the newest are kept; older images are still found through their tags
REF_NAME = "org.opencontainers.image.ref.name"
BASE_NAME = "org.opencontainers.image.base.name"
BASE_DIGEST = "org.opencontainers.image.base.digest"
VERSION = "org.opencontainers.image.version"
APP = "dev.buildplat.app"
BUILDFACT = "dev.buildplat.buildfact"
INDEXED = (BASE_NAME, BASE_DIGEST, VERSION, APP, BUILDFACT)


def read_index(client: RegistryClient, repository: str) -> list[Descriptor]:
    """The entries of ``repository``'s index, oldest first; empty when it has none (or it is not an index)."""
    from buildplat.clients.registry import NotFound

    try:
        stored = client.get_raw_manifest(repository, INDEX_TAG)
    except NotFound:
        return []
    if stored.media_type != oci.OCI_INDEX:
        return []
    entries = []
    for raw in stored.json.get("manifests") or []:
        try:
            entry = Descriptor.from_json(raw)
        except (KeyError, TypeError, ValueError, oci.InvalidReference):
            continue  # a hand-edited or foreign entry: the tags list still finds that image
        if entry.annotations and entry.annotations.get(REF_NAME):
            entries.append(entry)
    return entries


def record_image(
    client: RegistryClient,
    repository: str,
    tag: str,
    digest: str,
    labels: Mapping[str, str],
    *,
    manifest: Manifest | None = None,
) -> None:
    """Add (or replace) the entry for ``tag`` in ``repository``'s index; ``labels`` supply the annotations.

    ``manifest``: the image's manifest when the caller holds it (else it is read by ``digest``).
    """
    stored = manifest if manifest is not None and manifest.digest == digest else None
    stored = stored or client.get_raw_manifest(repository, digest)
    annotations = {key: str(labels[key]) for key in INDEXED if labels.get(key)}
    annotations[REF_NAME] = oci.check_tag(tag)
    entry = Descriptor(stored.media_type, stored.digest, len(stored.raw), annotations)
    kept = [e for e in read_index(client, repository) if (e.annotations or {}).get(REF_NAME) != tag]
    entries = [*kept, entry][-MAX_ENTRIES:]
    try:
        _put(client, repository, entries)
    except ServiceError:
        if not kept:
            raise
        _put(client, repository, [entry])  # some older entry's manifest is gone: start over


def _put(client: RegistryClient, repository: str, entries: list[Descriptor]) -> None:
    index = {"schemaVersion": 2, "mediaType": oci.OCI_INDEX, "manifests": [e.to_json() for e in entries]}
    client.put_manifest(repository, INDEX_TAG, oci.canonical_json(index), oci.OCI_INDEX)
