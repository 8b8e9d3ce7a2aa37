"""The app layer made from a real .deb: reproducible, owned by root, with a well-formed dpkg status entry."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import pytest

from buildplat.clients import oci
from buildplat.errors import BuildplatError
from buildplat.stages.image_layer import build_layer, parse_control, read_deb
from tests.image.helpers import EPOCH, make_deb, tar_members


def test_same_deb_gives_the_same_layer_digest(tmp_path: Path) -> None:
    deb = read_deb(make_deb(tmp_path))
    first = build_layer(deb)
    second = build_layer(read_deb(make_deb(tmp_path / "again")))
    assert first.digest == second.digest
    assert first.diff_id == second.diff_id
    assert first.digest == oci.sha256_digest(first.data)
    assert first.diff_id == oci.sha256_digest(gzip.decompress(first.data))
    assert first.size == len(first.data)


def test_different_payload_gives_a_different_layer(tmp_path: Path) -> None:
    one = build_layer(read_deb(make_deb(tmp_path / "1", files={"a.txt": "one"})))
    two = build_layer(read_deb(make_deb(tmp_path / "2", files={"a.txt": "two"})))
    assert one.digest != two.digest


def test_entries_are_sorted_root_owned_with_one_mtime(tmp_path: Path) -> None:
    deb = read_deb(make_deb(tmp_path, files={"b.txt": "b", "a/run.sh": "#!/bin/sh\necho hi\n"}))
    layer = build_layer(deb)
    members = tar_members(gzip.decompress(layer.data))
    names = [m.name for m in members]
    assert names == sorted(names)
    assert not any(n.startswith(("/", "./")) or n in ("", ".") for n in names)
    assert {(m.uid, m.gid, m.uname, m.gname) for m in members} == {(0, 0, "root", "root")}
    assert {m.mtime for m in members} == {EPOCH}
    by_name = {m.name: m for m in members}
    assert by_name["opt/hello/a/run.sh"].mode & 0o111, "the executable bit of the payload survives"
    assert by_name["opt/hello/b.txt"].mode == 0o644
    assert by_name["opt/hello"].isdir()


def test_layer_mtime_can_be_set(tmp_path: Path) -> None:
    layer = build_layer(read_deb(make_deb(tmp_path)), mtime=42)
    assert {m.mtime for m in tar_members(gzip.decompress(layer.data))} == {42}


def test_dpkg_status_entry_is_well_formed(tmp_path: Path) -> None:
    deb = read_deb(make_deb(tmp_path, name="hello", version="1.2.0"))
    layer = build_layer(deb)
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(layer.data))) as tar:
        status = tar.extractfile("var/lib/dpkg/status.d/hello")
        listing = tar.extractfile("var/lib/dpkg/info/hello.list")
        md5sums = tar.extractfile("var/lib/dpkg/info/hello.md5sums")
        assert status is not None
        assert listing is not None
        assert md5sums is not None
        status_text = status.read().decode()
        listing_text = listing.read().decode()
        md5_text = md5sums.read().decode()
    fields = parse_control(status_text)
    assert fields["Package"] == "hello"
    assert fields["Status"] == "install ok installed"
    assert fields["Version"] == "1.2.0"
    assert fields["Architecture"] == "all"
    assert fields["Description"].startswith("test package hello\n a second description line")
    lines = status_text.splitlines()
    assert lines[0] == "Package: hello"
    assert lines[1] == "Status: install ok installed"
    assert status_text.endswith("\n")
    assert "\n\n" not in status_text, "one stanza, no blank line inside"
    assert listing_text.splitlines()[0] == "/."
    assert "/opt/hello/hello.txt" in listing_text.splitlines()
    assert "opt/hello/hello.txt" in md5_text


def test_gzip_compressed_deb_is_read_too(tmp_path: Path) -> None:
    xz = read_deb(make_deb(tmp_path / "xz", compression="xz"))
    gz = read_deb(make_deb(tmp_path / "gz", compression="gzip"))
    assert xz.control == gz.control
    assert build_layer(xz).diff_id == build_layer(gz).diff_id
    assert xz.mtime == EPOCH


def test_not_a_deb_is_a_clear_error(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.deb"
    bogus.write_bytes(b"this is not an ar archive")
    with pytest.raises(BuildplatError, match="not a Debian package"):
        read_deb(bogus)
    with pytest.raises(BuildplatError, match="cannot read the package"):
        read_deb(tmp_path / "missing.deb")


def _ar(members: dict[str, bytes]) -> bytes:
    out = b"!<arch>\n"
    for name, data in members.items():
        header = f"{name + '/':<16}{0:<12}{0:<6}{0:<6}{0o100644:<8o}{len(data):<10}`\n".encode()
        out += header + data + (b"\n" if len(data) % 2 else b"")
    return out


def _tar(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_a_payload_path_climbing_out_of_the_root_is_refused(tmp_path: Path) -> None:
    control = _tar({"./control": b"Package: evil\nVersion: 1\n"})
    data = _tar({"./opt/../../etc/passwd": b"x"})
    deb = tmp_path / "evil.deb"
    deb.write_bytes(_ar({"debian-binary": b"2.0\n", "control.tar.gz": control, "data.tar.gz": data}))
    with pytest.raises(BuildplatError, match="unsafe path"):
        build_layer(read_deb(deb))


def test_an_invalid_package_name_is_refused(tmp_path: Path) -> None:
    control = _tar({"./control": b"Package: ../x\nVersion: 1\n"})
    deb = tmp_path / "bad.deb"
    deb.write_bytes(_ar({"debian-binary": b"2.0\n", "control.tar.gz": control, "data.tar.gz": _tar({})}))
    with pytest.raises(BuildplatError, match="invalid package name"):
        read_deb(deb)


def test_an_unsorted_payload_is_sorted_too(tmp_path: Path) -> None:
    control = _tar({"./control": b"Package: unsorted\nVersion: 1\n"})
    data = _tar({"./zz/last": b"z", "./aa/first": b"a", "./var/lib/app/state": b"s", "./opt/x": b"x"})
    deb = tmp_path / "unsorted.deb"
    deb.write_bytes(_ar({"debian-binary": b"2.0\n", "control.tar.gz": control, "data.tar.gz": data}))
    names = [m.name for m in tar_members(gzip.decompress(build_layer(read_deb(deb)).data))]
    assert names == sorted(names)
    assert {"aa/first", "zz/last", "var/lib/app/state", "var/lib/dpkg/status.d/unsorted"} <= set(names)


def test_payload_entries_after_the_dpkg_entries_keep_their_order(tmp_path: Path) -> None:
    deb = read_deb(make_deb(tmp_path, files={"a.txt": "a"}))
    names = [m.name for m in tar_members(gzip.decompress(build_layer(deb).data))]
    assert names == sorted(names)
    assert names.index("opt/hello/a.txt") < names.index("var/lib/dpkg/status.d/hello")
