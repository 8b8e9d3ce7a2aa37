"""gzip on every core, with output that depends only on the input (the idea of pigz, written for layers).

The input is cut into fixed 1 MiB blocks; each is deflated on its own (zlib releases the GIL, so threads run in
parallel) and ended with a sync flush, the last one with a finish. Raw deflate streams cut that way concatenate
into one valid deflate stream, which goes into one gzip member with a fixed header (no name, mtime 0) and the
CRC-32 and length of the whole input. Any gzip reader (Go's, zlib's, Python's) reads it; the bytes do not depend
on the number of threads, so layer digests stay reproducible. Blocks do not share a dictionary, which costs a
fraction of a percent of size against one long stream.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

BLOCK = 1 << 20
_OS_UNKNOWN = 255  # what Python's gzip module writes too


def _header(level: int) -> bytes:
    extra_flags = 4 if level == 1 else 2 if level == 9 else 0
    return b"\x1f\x8b\x08\x00" + b"\x00\x00\x00\x00" + bytes((extra_flags, _OS_UNKNOWN))


def _deflate(block: memoryview, level: int, last: bool) -> bytes:
    compressor = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(block) + compressor.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH)


def compress(data: bytes | memoryview, level: int = 6, workers: int | None = None) -> Iterator[bytes]:
    """The gzip bytes of ``data``, in pieces, in order."""
    view = memoryview(data)
    count = max(1, -(-len(view) // BLOCK))
    blocks = [view[i * BLOCK : (i + 1) * BLOCK] for i in range(count)]
    yield _header(level)
    threads = workers or min(4, os.cpu_count() or 1)
    if threads == 1 or count == 1:
        for index, block in enumerate(blocks):
            yield _deflate(block, level, index == count - 1)
    else:
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="pgzip") as pool:
            # map keeps the order; at most `threads` blocks wait beyond the one being written
            yield from pool.map(_deflate, blocks, [level] * count, [i == count - 1 for i in range(count)])
    yield struct.pack("<II", zlib.crc32(view) & 0xFFFFFFFF, len(view) & 0xFFFFFFFF)
