"""Finding every app image in the registry, with the base it was built on.

For each repository of the catalog under a team namespace: the tags, the repository's image index (kept by the
image stage, ``stages.image_index``) for the tags it knows, and for any other tag its manifest's annotations
(the image stage's registry path) or, failing that, its config's labels (the Docker-engine path, whose manifests
carry no annotations). Repositories and tags that are not buildplat app images are passed over.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from buildplat.stages import image_index
from buildplat.stages.image_index import APP, BASE_DIGEST, BASE_NAME, BUILDFACT, INDEX_TAG, REF_NAME, VERSION

if TYPE_CHECKING:
    from buildplat.clients.registry import RegistryClient

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class AppImage:
    """One tag of an app repository, as its annotations (or labels) describe it."""

    app: str  # namespace/name
    repository: str
    tag: str
    digest: str
    buildfact: str
    version: str  # the app's version (the image stage's tag; a rebased image keeps it)
    base_repository: str | None  # the base's repository path, from org.opencontainers.image.base.name
    base_digest: str | None

    @property
    def team(self) -> str:
        return self.app.split("/", 1)[0]


def base_repository_of(base_name: str | None) -> str | None:
    """``host:5000/buildplat/base/python:stable`` -> ``buildplat/base/python`` (the host is not compared)."""
    if not base_name:
        return None
    name = base_name.split("@", 1)[0]
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        name = rest  # the first component is a registry host, as in Docker's reference grammar
    return name.rsplit(":", 1)[0]


def _image(repository: str, tag: str, digest: str, annotations: Mapping[str, str]) -> AppImage | None:
    app, buildfact = annotations.get(APP), annotations.get(BUILDFACT)
    if not app or not buildfact or app != repository:
        return None
    return AppImage(
        app=app,
        repository=repository,
        tag=tag,
        digest=digest,
        buildfact=buildfact,
        version=annotations.get(VERSION) or tag,
        base_repository=base_repository_of(annotations.get(BASE_NAME)),
        base_digest=annotations.get(BASE_DIGEST),
    )


@dataclass(frozen=True)
class Found:
    """What :func:`find_app_images` read: the app images, and every tag of each repository read."""

    apps: dict[str, list[AppImage]]  # app (namespace/name) -> its images
    tags: dict[str, frozenset[str]]  # repository -> its tags, app images or not


def repository_images(client: RegistryClient, repository: str) -> list[AppImage]:
    """Every buildplat app image tagged in ``repository``."""
    return _read_repository(client, repository)[1]


def _read_repository(client: RegistryClient, repository: str) -> tuple[list[str], list[AppImage]]:
    """The tags of ``repository`` and its buildplat app images."""
    from buildplat.clients.registry import NotFound

    try:
        tags = client.tags(repository)
    except NotFound:
        return [], []
    indexed = {}
    if INDEX_TAG in tags:
        indexed = {(e.annotations or {})[REF_NAME]: e for e in image_index.read_index(client, repository)}
    found = []
    for tag in tags:
        if tag == INDEX_TAG:
            continue
        entry = indexed.get(tag)
        if entry is not None and (entry.annotations or {}).get(APP):
            image = _image(repository, tag, entry.digest, entry.annotations or {})
        else:
            image = _read_tag(client, repository, tag)
        if image is not None:
            found.append(image)
    return tags, found


def _read_tag(client: RegistryClient, repository: str, tag: str) -> AppImage | None:
    from buildplat.errors import BuildplatError

    try:
        manifest = client.get_manifest(repository, tag)
    except BuildplatError:
        return None  # not an image manifest (an index of other platforms, an artifact): not an app image
    annotations = manifest.annotations
    if APP not in annotations:
        config = json.loads(client.get_blob(repository, manifest.config.digest))
        annotations = dict((config.get("config") or {}).get("Labels") or {})
    return _image(repository, tag, manifest.digest, annotations)


def team_repositories(client: RegistryClient, teams: Iterable[str], skip_prefixes: Iterable[str]) -> list[str]:
    """The catalog's repositories under the teams' namespaces (``<team>/…``), minus the base repositories."""
    wanted = set(teams)
    skipped = tuple(prefix.rstrip("/") + "/" for prefix in skip_prefixes)
    return sorted(
        repository
        for repository in client.catalog()
        if repository.split("/", 1)[0] in wanted and "/" in repository and not repository.startswith(skipped)
    )


class Readers:
    """Registry reads spread over threads, one client per thread (a client is not shared between threads).

    With no ``new_client`` (or one worker) everything is read on the calling thread with ``first``.
    """

    def __init__(self, first: RegistryClient, new_client: Callable[[], RegistryClient] | None, workers: int) -> None:
        self.first = first
        self._new = new_client
        self._workers = workers if new_client is not None else 1
        self._local = threading.local()

    def map(self, read: Callable[[RegistryClient, T], R], items: Iterable[T]) -> list[R]:
        listed = list(items)
        if self._workers <= 1 or len(listed) <= 1:
            return [read(self.first, item) for item in listed]
        with ThreadPoolExecutor(self._workers, thread_name_prefix="registry-read") as pool:
            return list(pool.map(lambda item: read(self._client(), item), listed))

    def _client(self) -> RegistryClient:
        client: RegistryClient | None = getattr(self._local, "client", None)
        if client is None:
            assert self._new is not None
            client = self._local.client = self._new()
        return client


def find_app_images(
    readers: Readers,
    teams: Iterable[str],
    skip_prefixes: Iterable[str],
    say: Callable[[str], None] = lambda _: None,
) -> Found:
    """Every app image of the teams' namespaces, and the tags of their repositories."""
    repositories = team_repositories(readers.first, teams, skip_prefixes)
    say(f"images: reading {len(repositories)} repositories of {len(set(teams))} team namespace(s)")
    apps: dict[str, list[AppImage]] = {}
    tags: dict[str, frozenset[str]] = {}
    for repository, (listed, images) in zip(repositories, readers.map(_read_repository, repositories), strict=True):
        tags[repository] = frozenset(listed)
        for image in images:
            apps.setdefault(image.app, []).append(image)
    return Found(apps, tags)
