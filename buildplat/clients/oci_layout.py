"""An OCI image layout directory (``oci-layout``, ``index.json``, ``blobs/sha256/…``) as an :class:`ImageStore`.

``buildplat run`` writes images here instead of to a registry, and reads local base images from one. A layout
holds one repository: tags are the ``org.opencontainers.image.ref.name`` annotations of ``index.json`` entries
(what ``skopeo``/``podman`` read as ``oci:DIR:TAG``), and the ``repository`` arguments are only validated.
Every file is written to a temporary name and renamed, and ``index.json`` is updated under a lock, so a killed
run or two runs at once never leave a half-written blob or index behind.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from buildplat.clients import oci
from buildplat.clients.oci import Descriptor, ImageStore, Manifest
from buildplat.errors import BuildplatError

REF_NAME = "org.opencontainers.image.ref.name"
LAYOUT_VERSION = {"imageLayoutVersion": "1.0.0"}


class OciLayout:
    """The layout at ``path``; created (empty) on the first write."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"OciLayout({str(self.path)!r})"

    # -- reading -------------------------------------------------------------------------------------------
    def exists(self) -> bool:
        return (self.path / "oci-layout").is_file() and (self.path / "index.json").is_file()

    def describe(self, repository: str, reference: str) -> str:
        oci.check_repository(repository)
        separator = "@" if ":" in oci.check_reference(reference) else ":"  # skopeo/podman read oci:DIR:TAG
        return f"oci:{self.path}{separator}{reference}"

    def tags(self) -> dict[str, str]:
        """Tag -> manifest digest, from ``index.json``."""
        out = {}
        for entry in self._index().get("manifests", []):
            name = (entry.get("annotations") or {}).get(REF_NAME)
            if name:
                out[str(name)] = oci.check_digest(str(entry["digest"]))
        return out

    def get_manifest(self, repository: str, reference: str) -> Manifest:
        oci.check_repository(repository)
        digest = reference if ":" in oci.check_reference(reference) else self.tags().get(reference)
        if digest is None:
            raise BuildplatError(
                f"the image layout {self.path} has no tag {reference!r} (it has: {', '.join(self.tags()) or 'none'})"
            )
        raw = self._read_blob(digest)
        value = _json(raw, f"manifest {digest} in {self.path}")
        media_type = str(value.get("mediaType") or oci.OCI_MANIFEST)
        if media_type in oci.INDEX_TYPES:
            return self.get_manifest(repository, oci.pick_platform(value))
        if media_type not in oci.MANIFEST_TYPES:
            raise BuildplatError(f"{self.describe(repository, reference)} is a {media_type}, not an image manifest")
        return Manifest(raw, digest, media_type)

    def get_blob(self, repository: str, digest: str) -> bytes:
        oci.check_repository(repository)
        return self._read_blob(digest)

    def has_blob(self, repository: str, digest: str) -> bool:
        oci.check_repository(repository)
        return self.blob_path(digest).is_file()

    def download_blob(self, repository: str, digest: str, dest: Path) -> None:
        oci.check_repository(repository)
        source = self.blob_path(digest)
        hasher = hashlib.sha256()
        try:
            with source.open("rb") as stream, dest.open("wb") as out:
                while chunk := stream.read(1 << 20):
                    hasher.update(chunk)
                    out.write(chunk)
        except FileNotFoundError:
            raise BuildplatError(f"the image layout {self.path} has no blob {digest}") from None
        if "sha256:" + hasher.hexdigest() != digest:
            raise BuildplatError(f"blob {digest} in {self.path} is corrupt (its content does not match its digest)")

    def blob_path(self, digest: str) -> Path:
        algorithm, _, hexdigest = oci.check_digest(digest).partition(":")
        return self.path / "blobs" / algorithm / hexdigest

    # -- writing -------------------------------------------------------------------------------------------
    def put_blob(self, repository: str, digest: str, source: bytes | Path) -> None:
        oci.check_repository(repository)
        target = self.blob_path(digest)
        if target.is_file():
            return
        self._init()
        actual = oci.sha256_digest(source) if isinstance(source, bytes) else oci.file_digest(source)[0]
        if actual != digest:
            raise BuildplatError(f"refusing to store a blob as {digest}: its content is {actual}")
        if isinstance(source, bytes):
            _atomic_write(target, source)
        else:
            self._install(target, source)

    def copy_blob(self, repository: str, blob: Descriptor, source: ImageStore, source_repository: str) -> bool:
        oci.check_repository(repository)
        target = self.blob_path(blob.digest)
        if target.is_file():
            return True
        self._init()
        if isinstance(source, OciLayout):
            return self._install(target, source.blob_path(blob.digest))
        with tempfile.TemporaryDirectory(prefix=".download-", dir=target.parent) as temp:
            path = Path(temp) / "blob"
            source.download_blob(source_repository, blob.digest, path)
            os.replace(path, target)
        return False

    def put_manifest(self, repository: str, reference: str, raw: bytes, media_type: str) -> str:
        oci.check_repository(repository)
        digest = oci.sha256_digest(raw)
        if ":" in oci.check_reference(reference):
            if reference != digest:
                raise BuildplatError(f"manifest digest {digest} does not match the reference {reference}")
            self.put_blob(repository, digest, raw)
            return digest
        self.put_blob(repository, digest, raw)
        entry = {"mediaType": media_type, "digest": digest, "size": len(raw), "annotations": {REF_NAME: reference}}
        with self._locked():
            index = self._index()
            kept = [m for m in index.get("manifests", []) if (m.get("annotations") or {}).get(REF_NAME) != reference]
            index["manifests"] = [*kept, entry]
            _atomic_write(self.path / "index.json", json.dumps(index, indent=2, sort_keys=True).encode() + b"\n")
        return digest

    # -- internals -----------------------------------------------------------------------------------------
    def _init(self) -> None:
        (self.path / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        if not (self.path / "oci-layout").is_file():
            _atomic_write(self.path / "oci-layout", json.dumps(LAYOUT_VERSION).encode())
        if not (self.path / "index.json").is_file():
            with self._locked():
                if not (self.path / "index.json").is_file():
                    empty = {"schemaVersion": 2, "mediaType": oci.OCI_INDEX, "manifests": []}
                    _atomic_write(self.path / "index.json", json.dumps(empty, indent=2).encode() + b"\n")

    def _index(self) -> dict[str, Any]:
        try:
            raw = (self.path / "index.json").read_bytes()
        except FileNotFoundError:
            return {"schemaVersion": 2, "mediaType": oci.OCI_INDEX, "manifests": []}
        except OSError as exc:
            raise BuildplatError(f"cannot read the image layout {self.path}: {exc.strerror or exc}") from exc
        return _json(raw, f"{self.path / 'index.json'}")

    def _read_blob(self, digest: str) -> bytes:
        try:
            data = self.blob_path(digest).read_bytes()
        except FileNotFoundError:
            raise BuildplatError(f"the image layout {self.path} has no blob {digest}") from None
        if oci.sha256_digest(data) != digest:
            raise BuildplatError(f"blob {digest} in {self.path} is corrupt (its content does not match its digest)")
        return data

    def _install(self, target: Path, source: Path) -> bool:
        """Hard-link (True: no bytes copied) or copy ``source`` to ``target``, atomically either way."""
        temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        try:
            os.link(source, temp)
            linked = True
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
                raise
            shutil.copyfile(source, temp)
            linked = False
        os.replace(temp, target)
        return linked

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.mkdir(parents=True, exist_ok=True)
        with (self.path / ".buildplat-lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


def _atomic_write(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.chmod(temp, 0o644)
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


def _json(raw: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise BuildplatError(f"{what} is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise BuildplatError(f"{what} is not a JSON object")
    return value
