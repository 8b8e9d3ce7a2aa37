"""``buildplat images plan``: the blast radius of a new base version.

For every app of the teams' namespaces (``discover``), its *current* image: the highest app version, and of the
images of that version (the build and its rebased copies) the one on the newest base. An app is in the plan when
its current image was built on the buildfact's base repository, on another digest than the target version's, and
not on a newer version. Each planned app is classified (``safety``): rebase (and the tag it will get,
``<app version>-base-<base version>``) or rebuild, with the reason. Nothing is written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from buildplat.clients import oci
from buildplat.clients.oci import Manifest
from buildplat.errors import BuildplatError
from buildplat.images import safety
from buildplat.images.discover import AppImage, Readers, find_app_images
from buildplat.images.versions import VersionCatalog, check_version

if TYPE_CHECKING:
    from buildplat.clients.registry import RegistryClient

REBASE, REBUILD = "rebase", "rebuild"


@dataclass(frozen=True)
class Target:
    """The base version to move to, read once."""

    buildfact: str
    repository: str  # e.g. buildplat/base/python
    version: str
    name: str  # host/repository:version
    manifest: Manifest
    config: dict[str, Any] = field(repr=False)

    @property
    def digest(self) -> str:
        return self.manifest.digest


@dataclass(frozen=True)
class Material:
    """What was read to classify an app, and what its rebase needs."""

    manifest: Manifest
    config: dict[str, Any]
    old_base: Manifest
    old_config: dict[str, Any]


@dataclass(frozen=True)
class PlanEntry:
    image: AppImage  # the app's current image
    base_version: str | None  # the version its base digest is tagged as; None: not a version tag
    action: str  # REBASE or REBUILD
    reason: str
    new_tag: str  # what a rebase tags
    material: Material | None = field(default=None, repr=False, compare=False)
    new_tag_free: bool = False  # the repository had no tag new_tag when the plan read its tags

    @property
    def app(self) -> str:
        return self.image.app

    def to_json(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "team": self.image.team,
            "image": f"{self.image.repository}:{self.image.tag}",
            "digest": self.image.digest,
            "base": {"version": self.base_version, "digest": self.image.base_digest},
            "action": self.action,
            "reason": self.reason,
            "tag": self.new_tag if self.action == REBASE else None,
        }


@dataclass(frozen=True)
class Plan:
    target: Target
    entries: tuple[PlanEntry, ...]
    up_to_date: tuple[AppImage, ...]  # already on the target
    newer: tuple[AppImage, ...]  # on a newer version than the target: left alone


def load_target(client: RegistryClient, catalog: VersionCatalog, buildfact: str, version: str) -> Target:
    digest = catalog.digest_of(check_version(version))
    if digest is None:
        known = sorted(catalog.versions(), key=catalog.sort_key)[-5:]
        raise BuildplatError(
            f"{client.describe(catalog.repository, version)} does not exist",
            hint=f"the newest versions there: {', '.join(known)}" if known else "build and push one first",
        )
    manifest = client.get_manifest(catalog.repository, digest)
    config = json.loads(client.get_blob(catalog.repository, manifest.config.digest))
    return Target(
        buildfact, catalog.repository, version, client.describe(catalog.repository, version), manifest, config
    )


def make_plan(
    client: RegistryClient,
    *,
    buildfact: str,
    version: str,
    teams: Iterable[str],
    base_root: str,
    say: Callable[[str], None] = lambda _: None,
    new_client: Callable[[], RegistryClient] | None = None,
    workers: int = 8,
) -> Plan:
    """The plan; with ``new_client`` the repositories and images are read on ``workers`` threads."""
    readers = Readers(client, new_client, workers)
    catalog = VersionCatalog(client, f"{base_root}/{buildfact}")
    target = load_target(client, catalog, buildfact, version)
    found = find_app_images(readers, teams, [base_root], say)
    apps = found.apps
    candidates, up_to_date, newer = [], [], []
    for app in sorted(apps):
        current = max(apps[app], key=lambda image: _current_key(image, catalog))
        if current.buildfact != buildfact or current.base_repository != target.repository:
            continue
        if current.base_digest == target.digest:
            up_to_date.append(current)
            continue
        base_version = catalog.version_of(current.base_digest) if current.base_digest else None
        if base_version is not None and catalog.newer(base_version, target.version):
            newer.append(current)
            continue
        candidates.append((current, base_version))
    bases: dict[str, tuple[Manifest, dict[str, Any]] | None] = {}
    for digest in sorted({image.base_digest for image, _ in candidates if image.base_digest}):
        bases[digest] = _read_base(client, target.repository, digest)
    entries = readers.map(lambda reader, item: _classify(reader, target, item[0], item[1], bases), candidates)
    entries = [
        replace(e, new_tag_free=e.new_tag not in found.tags.get(e.image.repository, {e.new_tag})) for e in entries
    ]
    return Plan(target, tuple(entries), tuple(up_to_date), tuple(newer))


def rebased_tag(image: AppImage, target: Target) -> str:
    return f"{image.version}-base-{target.version}"


def _classify(
    client: RegistryClient,
    target: Target,
    image: AppImage,
    base_version: str | None,
    bases: Mapping[str, tuple[Manifest, dict[str, Any]] | None],
) -> PlanEntry:
    new_tag = rebased_tag(image, target)

    def rebuild(reason: str, material: Material | None = None) -> PlanEntry:
        return PlanEntry(image, base_version, REBUILD, reason, new_tag, material)

    if not oci.TAG_RE.match(new_tag):
        return rebuild(f"its version {image.version!r} cannot start an image tag")
    if not image.base_digest:
        return rebuild("it does not record its base image's digest")
    old = bases.get(image.base_digest)
    if old is None:
        return rebuild(f"its base {image.base_digest} is no longer in {target.repository}")
    manifest = client.get_manifest(image.repository, image.digest)
    config = json.loads(client.get_blob(image.repository, manifest.config.digest))
    material = Material(manifest, config, old[0], old[1])
    reason = safety.layer_split(manifest, config, old[0], old[1]) or safety.rebuild_reason(old[1], target.config)
    if reason:
        return rebuild(reason, material)
    return PlanEntry(image, base_version, REBASE, "same runtime packages and configuration", new_tag, material)


def _read_base(client: RegistryClient, repository: str, digest: str) -> tuple[Manifest, dict[str, Any]] | None:
    from buildplat.clients.registry import NotFound

    try:
        manifest = client.get_manifest(repository, digest)
        return manifest, json.loads(client.get_blob(repository, manifest.config.digest))
    except NotFound:
        return None


def _version_key(version: str) -> tuple[tuple[int, int, str], ...]:
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"[.+~-]", version))


def _current_key(image: AppImage, catalog: VersionCatalog) -> tuple[Any, ...]:
    base_version = catalog.version_of(image.base_digest) if image.base_digest else None
    base_rank = (1, *catalog.sort_key(base_version)) if base_version else (0, "", "")
    return (_version_key(image.version), base_rank, image.tag)
