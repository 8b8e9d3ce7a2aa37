"""Reading one file at a commit straight from a bare repository's object store, without starting git.

A seed job reads default.json at the head of every repository that is new or moved: with ``git cat-file`` that is
one process per repository, a sixth of a first sync's git processes. The object formats are stable and documented
(gitformat-loose(5), gitformat-pack(5): loose objects, pack index version 2, packs with offset and reference
deltas), and every object read here is checked against its SHA-1 before it is used, so this either returns exactly
what ``git cat-file`` would or raises :class:`Unreadable`, and the caller asks git. It raises, rather than
guessing, for anything it does not read itself: SHA-256 repositories, index version 1, symbolic links and
submodules at the path, a pack that changed under it (a concurrent ``git gc``), objects that are not there
(partial clones). It is not GitPython's object database (its GitDB backend is deprecated), and it never writes.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

_TYPES = {1: "commit", 2: "tree", 3: "blob", 4: "tag"}
_OFS_DELTA, _REF_DELTA = 6, 7
_IDX_MAGIC = b"\377tOc"
_MAX_DELTA_CHAIN = 10_000  # git's own limit on reading is memory; a loop in a corrupt pack must still end
_CHUNK = 64 * 1024
_REGULAR_FILES = frozenset({b"100644", b"100755", b"100664"})
_DIRECTORY = b"40000"


class Unreadable(Exception):
    """This module cannot answer for this repository or object; ``git cat-file`` can."""


@dataclass(frozen=True)
class _PackIndex:
    """A version 2 pack index, searched where it lies: a fan-out table, sorted names, then offsets."""

    pack: Path
    data: bytes
    count: int

    def offset_of(self, name: bytes) -> int | None:
        first = name[0]
        low = _u32(self.data, 8 + 4 * (first - 1)) if first else 0
        high = _u32(self.data, 8 + 4 * first)
        names_at = 8 + 256 * 4
        while low < high:
            middle = (low + high) // 2
            found = self.data[names_at + 20 * middle : names_at + 20 * middle + 20]
            if found == name:
                value = _u32(self.data, names_at + 24 * self.count + 4 * middle)
                if value & 0x80000000:  # an index into the table of 64-bit offsets (packs over 2 GiB)
                    slot = names_at + 28 * self.count + 8 * (value & 0x7FFFFFFF)
                    value = struct.unpack_from(">Q", self.data, slot)[0]
                return int(value)
            if found < name:
                low = middle + 1
            else:
                high = middle
        return None


def _u32(data: bytes, position: int) -> int:
    return int(struct.unpack_from(">I", data, position)[0])


class ObjectStore:
    """The objects of one bare repository, for one reader (one thread) at a time."""

    def __init__(self, git_dir: Path) -> None:
        self.objects = git_dir / "objects"
        self._indexes: list[_PackIndex] | None = None
        self._maps: dict[Path, mmap.mmap] = {}
        config = git_dir / "config"
        try:
            if b"objectformat" in config.read_bytes().lower().replace(b" ", b""):
                raise Unreadable("not a SHA-1 repository")  # extensions.objectFormat = sha256
        except OSError as exc:
            raise Unreadable(f"no repository config: {exc}") from exc

    def close(self) -> None:
        for mapped in self._maps.values():
            mapped.close()
        self._maps.clear()

    def __enter__(self) -> ObjectStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- objects ------------------------------------------------------------------------------------------------
    def read(self, sha: str) -> tuple[str, bytes]:
        """(type, content) of the object ``sha`` (40 hex digits), verified against its name."""
        if len(sha) != 40:
            raise Unreadable(f"not a SHA-1 object name: {sha!r}")
        try:
            found = self._loose(sha) or self._packed(bytes.fromhex(sha), 0)
        except (OSError, ValueError, zlib.error, struct.error, IndexError) as exc:
            raise Unreadable(f"object {sha}: {exc}") from exc
        if found is None:
            raise Unreadable(f"object {sha} is not in {self.objects}")
        kind, body = found
        header = f"{kind} {len(body)}\0".encode()
        if hashlib.sha1(header + body, usedforsecurity=False).hexdigest() != sha:
            raise Unreadable(f"object {sha} did not read back as itself")
        return kind, body

    def _loose(self, sha: str) -> tuple[str, bytes] | None:
        try:
            data = zlib.decompress((self.objects / sha[:2] / sha[2:]).read_bytes())
        except FileNotFoundError:
            return None
        header, _, body = data.partition(b"\0")
        kind, _, size = header.decode("ascii").partition(" ")
        if int(size) != len(body):
            raise ValueError("loose object size mismatch")
        return kind, body

    def _packed(self, name: bytes, depth: int) -> tuple[str, bytes] | None:
        for index in self._pack_indexes():
            offset = index.offset_of(name)
            if offset is not None:
                return self._entry(index.pack, offset, depth)
        return None

    def _entry(self, pack: Path, offset: int, depth: int) -> tuple[str, bytes]:
        if depth > _MAX_DELTA_CHAIN:
            raise ValueError("delta chain too long")
        data = self._map(pack)
        byte = data[offset]
        kind, size, shift, position = (byte >> 4) & 7, byte & 15, 4, offset + 1
        while byte & 0x80:
            byte = data[position]
            size |= (byte & 0x7F) << shift
            shift, position = shift + 7, position + 1
        if kind == _OFS_DELTA:
            byte = data[position]
            distance, position = byte & 0x7F, position + 1
            while byte & 0x80:
                byte = data[position]
                distance, position = ((distance + 1) << 7) | (byte & 0x7F), position + 1
            base_kind, base = self._entry(pack, offset - distance, depth + 1)
            return base_kind, _apply_delta(base, _inflate(data, position, size))
        if kind == _REF_DELTA:
            base_name, position = bytes(data[position : position + 20]), position + 20
            found = self._packed(base_name, depth + 1) or self._loose(base_name.hex())
            if found is None:
                raise ValueError(f"delta base {base_name.hex()} is missing")
            return found[0], _apply_delta(found[1], _inflate(data, position, size))
        if kind not in _TYPES:
            raise ValueError(f"unknown pack entry type {kind}")
        return _TYPES[kind], _inflate(data, position, size)

    def _map(self, pack: Path) -> mmap.mmap:
        mapped = self._maps.get(pack)
        if mapped is None:
            with pack.open("rb") as handle:
                mapped = self._maps[pack] = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        return mapped

    def _pack_indexes(self) -> list[_PackIndex]:
        if self._indexes is None:
            directory = self.objects / "pack"
            names = sorted(os.listdir(directory)) if directory.is_dir() else []
            self._indexes = [
                _read_index(directory / name, directory / (name[: -len(".idx")] + ".pack"))
                for name in names
                if name.endswith(".idx")
            ]
        return self._indexes

    # -- files at a commit --------------------------------------------------------------------------------------
    def file_at(self, commit: str, path: str) -> bytes | None:
        """The content of regular file ``path`` ('/'-separated) at ``commit``; None if there is no file there."""
        kind, body = self.read(commit)
        if kind != "commit" or not body.startswith(b"tree "):
            raise Unreadable(f"{commit} is a {kind}, not a commit")
        tree = body[5:45].decode("ascii")
        parts = path.split("/")
        for depth, part in enumerate(parts):
            kind, body = self.read(tree)
            if kind != "tree":
                raise Unreadable(f"{tree} is a {kind}, not a tree")
            entry = _tree_entry(body, part.encode())
            if entry is None:
                return None
            mode, sha = entry
            last = depth == len(parts) - 1
            if mode == _DIRECTORY:
                if last:
                    return None  # a directory, not a file
                tree = sha
                continue
            if not last:
                return None
            if mode not in _REGULAR_FILES:
                raise Unreadable(f"{path} at {commit} is not a regular file (mode {mode.decode()})")
            kind, content = self.read(sha)
            if kind != "blob":
                raise Unreadable(f"{path} at {commit} is a {kind}")
            return content
        return None


def _read_index(idx: Path, pack: Path) -> _PackIndex:
    data = idx.read_bytes()
    if data[:4] != _IDX_MAGIC or _u32(data, 4) != 2:
        raise Unreadable(f"{idx}: not a version 2 pack index")
    count = _u32(data, 8 + 255 * 4)
    if len(data) < 8 + 256 * 4 + 28 * count + 40:
        raise Unreadable(f"{idx}: shorter than its object count says")
    return _PackIndex(pack, data, count)


def _inflate(data: mmap.mmap, position: int, size: int) -> bytes:
    """The zlib stream at ``position``, fed in chunks so a large pack is never copied whole."""
    stream = zlib.decompressobj()
    out = bytearray()
    view = memoryview(data)
    try:
        while not stream.eof:
            chunk = view[position : position + _CHUNK]
            if not chunk:
                raise ValueError("pack entry runs past the end of the pack")
            out += stream.decompress(chunk)
            position += len(chunk)
    finally:
        view.release()
    if len(out) != size:
        raise ValueError("pack entry size mismatch")
    return bytes(out)


def _varint(data: bytes, position: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[position]
        value |= (byte & 0x7F) << shift
        shift, position = shift + 7, position + 1
        if not byte & 0x80:
            return value, position


def _apply_delta(base: bytes, delta: bytes) -> bytes:
    source_size, position = _varint(delta, 0)
    target_size, position = _varint(delta, position)
    if source_size != len(base):
        raise ValueError("delta does not fit its base")
    out = bytearray()
    while position < len(delta):
        op = delta[position]
        position += 1
        if op & 0x80:  # copy from the base: which offset and size bytes follow is in the op's low bits
            offset = size = 0
            for bit in range(4):
                if op & (1 << bit):
                    offset |= delta[position] << (8 * bit)
                    position += 1
            for bit in range(3):
                if op & (1 << (4 + bit)):
                    size |= delta[position] << (8 * bit)
                    position += 1
            size = size or 0x10000
            if offset + size > len(base):
                raise ValueError("delta copies past its base")
            out += base[offset : offset + size]
        elif op:  # insert the next op bytes
            out += delta[position : position + op]
            position += op
        else:
            raise ValueError("reserved delta opcode 0")
    if len(out) != target_size:
        raise ValueError("delta result size mismatch")
    return bytes(out)


def _tree_entry(tree: bytes, name: bytes) -> tuple[bytes, str] | None:
    """(mode, object name) of ``name`` in a tree object; None if it has no such entry."""
    position = 0
    while position < len(tree):
        space = tree.index(b" ", position)
        nul = tree.index(b"\0", space)
        if tree[space + 1 : nul] == name:
            return tree[position:space], tree[nul + 1 : nul + 21].hex()
        position = nul + 21
    return None
