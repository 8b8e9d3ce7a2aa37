"""A directory tree packed as one gzip tar layer, in a stable order, with numeric owners only.

``/dev``, ``/proc`` and ``/sys`` keep their directories but none of their contents (a container runtime mounts
its own), device nodes are left out, and user and group names are dropped: runtimes use the numeric ids.
"""

from __future__ import annotations

import gzip
import hashlib
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast

EMPTIED = ("dev", "proc", "sys")


@dataclass(frozen=True)
class PackedLayer:
    path: Path
    digest: str  # of the gzip bytes
    diff_id: str  # of the tar
    size: int


class _Hashing:
    """A write-only stream that hashes (and counts) what passes through it to ``target``."""

    def __init__(self, target: IO[bytes]) -> None:
        self.target = target
        self.hasher = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.hasher.update(data)
        self.size += len(data)
        return self.target.write(data)

    def flush(self) -> None:
        self.target.flush()


def pack_directory(root: Path, dest: Path, *, compresslevel: int = 1) -> PackedLayer:
    """Write ``root``'s tree to ``dest`` as a gzip tar layer; gzip level 1 keeps a 200 MB tree to seconds."""

    def keep(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        top, _, rest = info.name.partition("/")
        if (top in EMPTIED and rest) or info.ischr() or info.isblk() or info.isfifo():
            return None
        info.uname = info.gname = ""
        return info

    with dest.open("wb") as raw:
        compressed = _Hashing(raw)
        level = compresslevel
        with gzip.GzipFile(filename="", mode="wb", fileobj=_io(compressed), mtime=0, compresslevel=level) as gz:
            plain = _Hashing(cast("IO[bytes]", gz))
            with tarfile.open(fileobj=_io(plain), mode="w|", format=tarfile.PAX_FORMAT) as tar:
                for child in sorted(root.iterdir()):
                    tar.add(child, arcname=child.name, recursive=True, filter=keep)
    return PackedLayer(
        dest, "sha256:" + compressed.hasher.hexdigest(), "sha256:" + plain.hasher.hexdigest(), compressed.size
    )


def _io(stream: _Hashing) -> IO[bytes]:
    """The hashing stream where the standard library wants a file (it only ever calls write and flush)."""
    return cast("IO[bytes]", stream)
