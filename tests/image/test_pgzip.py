"""Parallel gzip: standard gzip output, the same bytes whatever the thread count."""

from __future__ import annotations

import gzip
import hashlib
import random
import shutil
import subprocess

import pytest

from buildplat.stages import pgzip


def _data(size: int) -> bytes:
    generator = random.Random(size)
    text = b"".join(generator.choice([b"alpha ", b"beta ", b"gamma\n", b"delta "]) for _ in range(size // 6 + 1))
    return (text[: size // 2] + generator.randbytes(size - size // 2))[:size]


@pytest.mark.parametrize("size", [0, 1, pgzip.BLOCK - 1, pgzip.BLOCK, pgzip.BLOCK + 1, 3 * pgzip.BLOCK + 12345])
def test_round_trip_through_python_gzip(size: int) -> None:
    data = _data(size)
    assert gzip.decompress(pgzip.compress(data, 1)) == data


def test_same_bytes_for_any_number_of_threads() -> None:
    data = _data(5 * pgzip.BLOCK + 7)
    outputs = {pgzip.compress(data, 1, workers=n) for n in (1, 2, 3, 8)}
    assert len(outputs) == 1


def test_header_has_no_name_and_no_time() -> None:
    out = pgzip.compress(b"x", 1)
    assert out[:10] == b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x04\xff"


def test_compresses() -> None:
    data = b"buildplat " * 500_000
    assert len(pgzip.compress(data, 1)) < len(data) // 20


@pytest.mark.skipif(shutil.which("gzip") is None, reason="no gzip program")
def test_gzip_program_reads_it() -> None:
    data = _data(2 * pgzip.BLOCK + 99)
    done = subprocess.run(["gzip", "-dc"], input=pgzip.compress(data, 6), capture_output=True, check=True)
    assert done.stdout == data
    tested = subprocess.run(["gzip", "-t"], input=pgzip.compress(data, 6), capture_output=True, check=False)
    assert tested.returncode == 0, tested.stderr


def test_writer_gives_the_same_bytes_for_any_split_of_the_input() -> None:
    data = _data(3 * pgzip.BLOCK + 5)
    expected = pgzip.compress(data, 1)
    for step in (1000, pgzip.BLOCK, pgzip.BLOCK + 17, 7 * 1024 * 1024):
        with pgzip.Writer(1, workers=2) as writer:
            for start in range(0, len(data), step):
                writer.write(data[start : start + step])
            assert writer.finish() == expected
            assert writer.plain_digest == "sha256:" + hashlib.sha256(data).hexdigest()


def test_incompressible_blocks_are_stored() -> None:
    data = random.Random(1).randbytes(3 * pgzip.BLOCK)
    out = pgzip.compress(data, 1)
    assert len(data) < len(out) < len(data) * 1.001, "stored blocks: a few bytes of framing per 64 KiB"
    assert gzip.decompress(out) == data
    mixed = data[: pgzip.BLOCK] + b"text " * (pgzip.BLOCK // 5)
    assert len(pgzip.compress(mixed, 1)) < pgzip.BLOCK * 1.1, "a compressible block is still compressed"
