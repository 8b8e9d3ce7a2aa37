"""Base-image versions: ``<YYYYMMDD>-<12 hex digits of a content hash>``, and how they are ordered and found.

The hash covers the build context (every file's path, executable bit and bytes), the image ``FROM`` resolved to
its id, and the Debian package database of the result (``/var/lib/dpkg/status``): the same inputs give the same
version (building again is a no-op), and a rebuild that picked up new Debian packages (a security fix) gets a new
one. Versions sort by their date, then by the ``created`` time of the image's config.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from buildplat.errors import UsageError

if TYPE_CHECKING:
    from buildplat.clients.registry import RegistryClient

VERSION_RE = re.compile(r"^(?P<date>[0-9]{8})-(?P<hash>[0-9a-f]{12})$")


def check_version(version: str) -> str:
    if not VERSION_RE.match(version):
        raise UsageError(
            f"{version!r} is not a base-image version",
            hint="versions look like 20250601-0123456789ab (see the tags `buildplat images build` pushed)",
        )
    return version


def tree_digest(directory: Path, exclude: Iterable[str] = ()) -> str:
    """A digest of a directory tree: relative paths, symlink targets, executable bits and file contents."""
    skipped = set(exclude)
    hasher = hashlib.sha256()
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory).as_posix()
        if relative.split("/", 1)[0] in skipped or (path.is_dir() and not path.is_symlink()):
            continue
        if path.is_symlink():
            entry = f"L {relative} {path.readlink()}".encode()
        else:
            executable = "x" if path.stat().st_mode & 0o111 else "-"
            entry = f"F {relative} {executable} {hashlib.sha256(path.read_bytes()).hexdigest()}".encode()
        hasher.update(len(entry).to_bytes(4, "big") + entry)
    return "sha256:" + hasher.hexdigest()


def make_version(day: datetime.date, *parts: str | bytes) -> str:
    """``<day>-<hash of parts>``; each part is length-prefixed so parts cannot run into each other."""
    hasher = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        hasher.update(len(data).to_bytes(8, "big") + data)
    return f"{day:%Y%m%d}-{hasher.hexdigest()[:12]}"


def version_day(version: str) -> datetime.date:
    match = VERSION_RE.match(version)
    assert match is not None
    return datetime.datetime.strptime(match.group("date"), "%Y%m%d").replace(tzinfo=datetime.UTC).date()


def created_label(version: str) -> str:
    """The ``org.opencontainers.image.created`` of a version: its day at 00:00 UTC (so builds stay repeatable)."""
    return f"{version_day(version):%Y-%m-%d}T00:00:00Z"


def same_content(version: str, tags: Iterable[str]) -> str | None:
    """A version among ``tags`` with the same content hash as ``version`` (built on another day), if any."""
    wanted = version.rsplit("-", 1)[1]
    matches = sorted(t for t in tags if VERSION_RE.match(t) and t.rsplit("-", 1)[1] == wanted)
    return matches[0] if matches else None


@dataclass(frozen=True)
class BaseVersion:
    version: str
    digest: str  # the manifest digest the version tag points at


class VersionCatalog:
    """The versions of one base repository: which digest each names, and their order (read lazily, cached)."""

    def __init__(self, client: RegistryClient, repository: str) -> None:
        self.client = client
        self.repository = repository
        self._by_version: dict[str, str] | None = None
        self._created: dict[str, str] = {}

    def versions(self) -> dict[str, str]:
        """version -> manifest digest, for every version tag of the repository."""
        if self._by_version is None:
            from buildplat.clients.registry import NotFound

            try:
                tags = self.client.tags(self.repository)
            except NotFound:
                tags = []
            found = {}
            for tag in tags:
                if VERSION_RE.match(tag):
                    digest = self.client.manifest_digest(self.repository, tag)
                    if digest:
                        found[tag] = digest
            self._by_version = found
        return self._by_version

    def version_of(self, digest: str) -> str | None:
        """The version naming ``digest`` (the newest, should several); None when no version tag does."""
        named = [v for v, d in self.versions().items() if d == digest]
        return max(named, key=self.sort_key) if named else None

    def digest_of(self, version: str) -> str | None:
        return self.versions().get(check_version(version))

    def sort_key(self, version: str) -> tuple[str, str]:
        return (version[:8], self._created_of(version))

    def newer(self, version: str, than: str) -> bool:
        if version[:8] != than[:8]:  # the cheap comparison first: only same-day versions need their configs
            return version[:8] > than[:8]
        return self.sort_key(version) > self.sort_key(than)

    def _created_of(self, version: str) -> str:
        if version not in self._created:
            digest = self.versions().get(version)
            created = ""
            if digest:
                manifest = self.client.get_manifest(self.repository, digest)
                config = json.loads(self.client.get_blob(self.repository, manifest.config.digest))
                created = str(config.get("created") or "")
            self._created[version] = created
        return self._created[version]
