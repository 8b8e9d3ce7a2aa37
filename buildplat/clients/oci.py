"""What the OCI clients share: media types, name/tag/digest validation, descriptors and the ``ImageStore`` Protocol.

The image stage is written once against :class:`ImageStore`; ``clients.registry.RegistryClient`` (a registry over
the distribution API) and ``clients.oci_layout.OciLayout`` (an image layout directory) implement it. Every name,
tag and digest is validated here before it goes into a URL or a file name.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from buildplat.errors import BuildplatError

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"

MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
# Same bytes, OCI name: a Docker-typed base layer is referenced from an OCI manifest under its OCI media type.
OCI_EQUIVALENT = {DOCKER_LAYER_GZIP: OCI_LAYER_GZIP, DOCKER_CONFIG: OCI_CONFIG, DOCKER_MANIFEST: OCI_MANIFEST}

# From the distribution spec: path components of lowercase alphanumerics joined by separators, tags of up to
# 128 word characters, digests as algorithm:hex.
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
REPOSITORY_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$|^sha512:[a-f0-9]{128}$")
HOST_RE = re.compile(r"^[A-Za-z0-9.-]+(?::[0-9]{1,5})?$")


class InvalidReference(BuildplatError):
    """A repository name, tag or digest that must not reach a registry URL or a file name."""


def check_repository(name: str) -> str:
    if len(name) > 255 or not REPOSITORY_RE.match(name):
        raise InvalidReference(
            f"invalid image repository name {name!r}",
            hint="repository names are lowercase letters and digits, separated by '.', '_', '-' or '/'",
        )
    return name


def check_tag(tag: str) -> str:
    if not TAG_RE.match(tag):
        raise InvalidReference(
            f"invalid image tag {tag!r}", hint="tags are up to 128 letters, digits, '_', '.' or '-' (not first)"
        )
    return tag


def check_digest(digest: str) -> str:
    if not DIGEST_RE.match(digest):
        raise InvalidReference(f"invalid digest {digest!r}", hint="a digest looks like sha256:<64 hex digits>")
    return digest


def check_reference(reference: str) -> str:
    """A manifest reference: a tag or a digest."""
    return check_digest(reference) if ":" in reference else check_tag(reference)


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def file_digest(path: Path) -> tuple[str, int]:
    """``(digest, size)`` of a file, read in chunks."""
    hasher = hashlib.sha256()
    size = 0
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            hasher.update(chunk)
            size += len(chunk)
    return "sha256:" + hasher.hexdigest(), size


def canonical_json(value: Any) -> bytes:
    """Stable bytes for a config or manifest: the same content always has the same digest."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    annotations: dict[str, str] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Descriptor:
        return cls(str(raw["mediaType"]), check_digest(str(raw["digest"])), int(raw["size"]), raw.get("annotations"))


@dataclass(frozen=True)
class Manifest:
    """One single-platform image manifest as stored: its bytes, digest and media type, and the parsed JSON."""

    raw: bytes
    digest: str
    media_type: str

    @property
    def json(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.raw)
        return value

    @property
    def config(self) -> Descriptor:
        return Descriptor.from_json(self.json["config"])

    @property
    def layers(self) -> list[Descriptor]:
        return [Descriptor.from_json(layer) for layer in self.json.get("layers", [])]

    @property
    def annotations(self) -> dict[str, str]:
        return dict(self.json.get("annotations") or {})


def pick_platform(index: dict[str, Any], os_name: str = "linux", architecture: str = "amd64") -> str:
    """The digest of the ``os/architecture`` manifest in an image index (or Docker manifest list)."""
    for entry in index.get("manifests", []):
        platform = entry.get("platform") or {}
        if platform.get("os") == os_name and platform.get("architecture") == architecture:
            return check_digest(str(entry["digest"]))
    found = sorted(
        f"{(e.get('platform') or {}).get('os')}/{(e.get('platform') or {}).get('architecture')}"
        for e in index.get("manifests", [])
    )
    raise BuildplatError(
        f"the image index has no {os_name}/{architecture} image (it has: {', '.join(found) or 'none'})",
        hint="publish the base image for linux/amd64",
    )


class ImageStore(Protocol):
    """Where images are read from and written to: a registry or an OCI image layout directory.

    ``repository`` is validated by every implementation; a layout holds one repository and ignores it for
    blobs. Writes are safe to repeat; a manifest is written only after every blob it references.
    """

    def describe(self, repository: str, reference: str) -> str:
        """A human- and tool-readable reference, e.g. ``host:5000/team/app:1.2.0`` or ``oci:DIR:1.2.0``."""
        ...

    def get_manifest(self, repository: str, reference: str) -> Manifest:
        """The manifest for a tag or digest; an image index resolves to its linux/amd64 manifest."""
        ...

    def get_blob(self, repository: str, digest: str) -> bytes:
        """A small blob (a config), verified against its digest."""
        ...

    def has_blob(self, repository: str, digest: str) -> bool: ...

    def download_blob(self, repository: str, digest: str, dest: Path) -> None:
        """Write a blob of any size to ``dest``, verified against its digest."""
        ...

    def put_blob(self, repository: str, digest: str, source: bytes | Path) -> None:
        """Store a blob (bytes, or a file streamed from disk); nothing is sent when it is there already."""
        ...

    def copy_blob(self, repository: str, blob: Descriptor, source: ImageStore, source_repository: str) -> bool:
        """Make ``blob`` of ``source``/``source_repository`` available here.

        True when no layer bytes moved: the blob was there, mounted from a repository of the same registry,
        or linked between layouts on one filesystem.
        """
        ...

    def put_manifest(self, repository: str, reference: str, raw: bytes, media_type: str) -> str:
        """Store a manifest under a tag or its own digest; returns its digest."""
        ...
