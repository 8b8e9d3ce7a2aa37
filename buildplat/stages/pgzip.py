"""gzip on every core, with output that depends only on the input (the idea of pigz, written for layers).

The input is cut into fixed 1 MiB blocks; each is deflated on its own (zlib releases the GIL, so threads run in
parallel) and ended with a sync flush, the last one with a finish. Raw deflate streams cut that way concatenate
into one valid deflate stream, which goes into one gzip member with a fixed header (no name, mtime 0) and the
CRC-32 and length of the whole input. Any gzip reader (Go's, zlib's, Python's) reads it; the bytes do not depend
on the number of threads or on how the input was split into writes, so layer digests stay reproducible. Blocks
do not share a dictionary, which costs a fraction of a percent of size against one long stream. A block whose
sample does not compress (already compressed data: jars, images) is stored instead, at the speed of a copy.

:class:`Writer` takes the input as it is produced (the layer's tar is written into it entry by entry while
blocks already complete are being compressed), and also hashes the uncompressed bytes (the layer's diff_id).
"""

from __future__ import annotations

import hashlib
import os
import struct
import zlib
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import IO, cast

BLOCK = 1 << 20
SAMPLE = 32 << 10  # how much of a block is tried first, to skip compressing what does not compress
_OS_UNKNOWN = 255  # what Python's gzip module writes too


def _header(level: int) -> bytes:
    extra_flags = 4 if level == 1 else 2 if level == 9 else 0
    return b"\x1f\x8b\x08\x00" + b"\x00\x00\x00\x00" + bytes((extra_flags, _OS_UNKNOWN))


def _deflate(block: bytes, level: int, last: bool) -> bytes:
    if level and _incompressible(block):
        level = 0  # stored: jars, images and other compressed files gain nothing from another deflate
    compressor = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(block) + compressor.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH)


def _incompressible(block: bytes) -> bool:
    """Whether a sample from the block's middle shrinks by less than 2 % (decided by the content alone)."""
    middle = len(block) // 2
    sample = block[max(0, middle - SAMPLE // 2) : middle + SAMPLE // 2]
    return len(sample) >= SAMPLE and len(zlib.compress(sample, 1)) > len(sample) * 0.98


class Writer:
    """A write-only stream of uncompressed bytes; :meth:`finish` returns the gzip bytes."""

    def __init__(self, level: int = 6, workers: int | None = None) -> None:
        self.level = level
        self._threads = workers or min(4, os.cpu_count() or 1)
        self._pool = ThreadPoolExecutor(max_workers=self._threads, thread_name_prefix="pgzip")
        self._pending: deque[Future[bytes]] = deque()
        self._done: list[bytes] = [_header(level)]
        self._buffer = bytearray()
        self._held: bytes | None = None  # the newest full block: not submitted until we know it is not the last
        self._plain = hashlib.sha256()
        self._crc = 0
        self.size = 0  # uncompressed bytes written

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self._plain.update(data)
        self._crc = zlib.crc32(data, self._crc)
        self.size += len(data)
        self._buffer += data
        while len(self._buffer) >= BLOCK:
            block = bytes(self._buffer[:BLOCK])
            del self._buffer[:BLOCK]
            if self._held is not None:
                self._submit(self._held, last=False)
            self._held = block
        return len(data)

    def flush(self) -> None:
        """Nothing to do: blocks are cut at fixed offsets, never on flush (that would change the bytes)."""

    @property
    def io(self) -> IO[bytes]:
        """This writer where the standard library wants a file (tarfile only writes and flushes)."""
        return cast("IO[bytes]", self)

    @property
    def plain_digest(self) -> str:
        return "sha256:" + self._plain.hexdigest()

    def finish(self) -> bytes:
        if self._buffer:
            if self._held is not None:
                self._submit(self._held, last=False)
            self._submit(bytes(self._buffer), last=True)
        else:
            self._submit(self._held or b"", last=True)
        self._held, self._buffer = None, bytearray()
        while self._pending:
            self._done.append(self._pending.popleft().result())
        self._done.append(struct.pack("<II", self._crc & 0xFFFFFFFF, self.size & 0xFFFFFFFF))
        self.close()
        return b"".join(self._done)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def _submit(self, block: bytes, *, last: bool) -> None:
        self._pending.append(self._pool.submit(_deflate, block, self.level, last))
        while len(self._pending) > 2 * self._threads or (self._pending and self._pending[0].done()):
            self._done.append(self._pending.popleft().result())


def compress(data: bytes | memoryview, level: int = 6, workers: int | None = None) -> bytes:
    """The gzip bytes of ``data`` (the same bytes :class:`Writer` gives for any split of ``data`` into writes)."""
    with Writer(level, workers) as writer:
        writer.write(data)
        return writer.finish()
