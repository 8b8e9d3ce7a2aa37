"""A flat apt repository in a directory: what ``buildplat run`` publishes to instead of aptly.

The directory holds the ``.deb`` files and the indexes apt reads, written here rather than by
``dpkg-scanpackages`` (which is in dpkg-dev, not on every developer machine): ``Packages`` (each package's
control fields plus ``Filename``, ``Size`` and checksums), ``Packages.gz`` and a ``Release`` listing their
checksums. apt then uses it with ``deb [trusted=yes] file:/that/directory ./``.
"""

from __future__ import annotations

import email.utils
import hashlib
import os
import shutil
import tempfile
import time
import urllib.parse
from pathlib import Path

from buildplat import proc
from buildplat.errors import BuildplatError
from buildplat.stages.debian import deterministic_gzip


def sources_line(directory: Path) -> str:
    """The apt sources.list line for the repository (the path is URI-quoted: it may hold spaces)."""
    return f"deb [trusted=yes] file:{urllib.parse.quote(str(directory.resolve()))} ./"


def add_package(directory: Path, deb: Path, sha256: str) -> bool:
    """Put ``deb`` into the repository and refresh its indexes; False when that very file was there already.

    A different file under the same name (same package, version and architecture) is refused: apt would
    see two packages claiming to be one.
    """
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / deb.name
    if target.exists():
        present = _sha256(target)
        if present != sha256:
            raise BuildplatError(
                f"the local apt repository {directory} already has {deb.name} with other contents "
                f"(sha256 {present[:12]}… there, {sha256[:12]}… now)",
                hint="each build needs a new version: remove that file, or the whole output directory to start over",
            )
        if (directory / "Packages").exists():
            return False
    else:
        handle, temp = tempfile.mkstemp(dir=directory, prefix=".incoming-", suffix=".deb")
        os.close(handle)
        try:
            shutil.copyfile(deb, temp)
            os.chmod(temp, 0o644)
            os.replace(temp, target)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
    write_indexes(directory)
    return True


def write_indexes(directory: Path) -> None:
    """Write ``Packages``, ``Packages.gz`` and ``Release`` for every ``.deb`` in ``directory``."""
    stanzas = [_stanza(deb) for deb in sorted(directory.glob("*.deb"))]
    packages = "\n".join(stanzas).encode("utf-8")
    compressed = deterministic_gzip(packages)
    _write_atomic(directory / "Packages", packages)
    _write_atomic(directory / "Packages.gz", compressed)
    _write_atomic(directory / "Release", _release({"Packages": packages, "Packages.gz": compressed}))


def _stanza(deb: Path) -> str:
    # dpkg-deb prints the control file as it is in the package, continuation lines included.
    control = proc.run(["dpkg-deb", "--field", deb], what=f"reading the control fields of {deb.name}").stdout
    md5 = hashlib.md5(usedforsecurity=False)
    sha1 = hashlib.sha1(usedforsecurity=False)
    sha256 = hashlib.sha256()
    with deb.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            for digest in (md5, sha1, sha256):
                digest.update(block)
    fields = [
        control.rstrip("\n"),
        f"Filename: ./{deb.name}",
        f"Size: {deb.stat().st_size}",
        f"MD5sum: {md5.hexdigest()}",
        f"SHA1: {sha1.hexdigest()}",
        f"SHA256: {sha256.hexdigest()}",
    ]
    return "\n".join(fields) + "\n"


def _release(files: dict[str, bytes]) -> bytes:
    lines = [
        "Origin: buildplat",
        "Label: buildplat local repository",
        f"Date: {email.utils.formatdate(time.time(), usegmt=True)}",
    ]
    for title, algorithm in (("MD5Sum", "md5"), ("SHA256", "sha256")):
        lines.append(f"{title}:")
        for name, data in files.items():
            digest = hashlib.new(algorithm, data, usedforsecurity=False).hexdigest()
            lines.append(f" {digest} {len(data)} {name}")
    return ("\n".join(lines) + "\n").encode("utf-8")


def _sha256(path: Path) -> str:
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def _write_atomic(path: Path, data: bytes) -> None:
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    with os.fdopen(handle, "wb") as stream:
        stream.write(data)
    os.chmod(temp, 0o644)
    os.replace(temp, path)
