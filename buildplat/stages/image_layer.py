"""The app layer: a .deb's payload plus a dpkg status entry, as one reproducible gzip tar layer.

A .deb is an ``ar`` archive of ``debian-binary``, ``control.tar.*`` and ``data.tar.*``; Python reads it (no
dpkg needed). The layer holds every entry of ``data.tar`` plus, so scanners (Trivy, Syft, Grype) see the package:

- ``/var/lib/dpkg/status.d/<pkg>``: the control stanza with ``Status: install ok installed``, the way distroless
  images record packages. A layer cannot append to ``/var/lib/dpkg/status`` (it would replace the base's file
  and hide the base's packages), so the entry goes into ``status.d/``, which scanners read alongside ``status``;
- ``/var/lib/dpkg/info/<pkg>.list`` (the package's paths) and ``<pkg>.md5sums`` when the deb has one.

Reproducible: entries sorted by name, every mtime set to ``mtime`` (the deb's own ``data.tar`` time by default),
owner root (uid/gid 0), gzip without a name or timestamp. The same deb always gives the same layer digest.
"""

from __future__ import annotations

import hashlib
import io
import lzma
import re
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from buildplat.errors import BuildplatError
from buildplat.stages import pgzip

AR_MAGIC = b"!<arch>\n"
_STREAM_MODES: dict[str, Literal["r|xz", "r|gz", "r|"]] = {".xz": "r|xz", ".gz": "r|gz", ".tar": "r|"}
OWN_ENTRIES_FROM = "var"  # the layer's own entries (var/lib/dpkg/…) sort from here on
# gzip level 1: several times faster than the default 6 and a few percent larger (payloads are mostly jars and
# other compressed files); part of what makes the layer reproducible, so changing it changes every digest.
LAYER_GZIP_LEVEL = 1
_PACKAGE_RE = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")


@dataclass(frozen=True)
class Deb:
    """What the image stage needs from a .deb: its control fields, payload and the payload's time."""

    control: dict[str, str]  # field -> value, in file order (multi-line values keep their continuation lines)
    control_files: dict[str, bytes]  # md5sums, conffiles, … from control.tar
    data_member: tuple[str, bytes]  # ("data.tar.xz", its compressed bytes): decompressed by build_layer
    mtime: int  # the data.tar member's ar timestamp (dpkg-deb sets it from SOURCE_DATE_EPOCH)
    path: Path

    @property
    def package(self) -> str:
        return self.control["Package"]

    @property
    def version(self) -> str:
        return self.control["Version"]


@dataclass(frozen=True)
class Layer:
    """A layer, held in memory: ``data`` is the gzip bytes (``digest``), ``diff_id`` the digest of the tar."""

    data: bytes
    digest: str
    diff_id: str

    @property
    def size(self) -> int:
        return len(self.data)


def read_deb(path: Path) -> Deb:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise BuildplatError(f"cannot read the package {path}: {exc.strerror or exc}") from exc
    members = _ar_members(raw, path)
    control_name = next((n for n in members if n.startswith("control.tar")), None)
    data_name = next((n for n in members if n.startswith("data.tar")), None)
    if control_name is None or data_name is None:
        raise BuildplatError(f"{path} is not a Debian package: it has no control.tar or data.tar")
    control_tar = _decompress(members[control_name][0], control_name, path)
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(control_tar)) as tar:
        for member in tar.getmembers():
            extracted = tar.extractfile(member) if member.isfile() else None
            if extracted is not None:
                files[member.name.removeprefix("./")] = extracted.read()
    if "control" not in files:
        raise BuildplatError(f"{path} has no control file")
    control = parse_control(files.pop("control").decode("utf-8", "replace"))
    for needed in ("Package", "Version"):
        if needed not in control:
            raise BuildplatError(f"the control file of {path} has no {needed} field")
    if not _PACKAGE_RE.match(control["Package"]):
        raise BuildplatError(f"{path} has an invalid package name {control['Package']!r}")
    return Deb(control, files, (data_name, members[data_name][0]), members[data_name][1], path)


def parse_control(text: str) -> dict[str, str]:
    """One deb822 stanza: ``Field: value`` lines, continuation lines start with a space."""
    fields: dict[str, str] = {}
    current: str | None = None
    for line in text.splitlines():
        if not line.strip():
            continue
        if line[0] in " \t" and current is not None:
            fields[current] += "\n" + line
        elif ":" in line:
            current, _, value = line.partition(":")
            fields[current] = value.strip()
    return fields


def status_entry(deb: Deb) -> bytes:
    """The dpkg status stanza: the control fields with ``Status`` after ``Package``, as dpkg writes it."""
    lines = []
    for name, value in deb.control.items():
        lines.append(f"{name}: {value}")
        if name == "Package":
            lines.append("Status: install ok installed")
    return ("\n".join(lines) + "\n").encode("utf-8")


def build_layer(deb: Deb, *, mtime: int | None = None) -> Layer:
    """The layer for ``deb``, held in memory (writing it to disk only to read it back cost more than the rest).

    The heavy part of the image stage, streamed: data.tar is decompressed, re-packed and compressed in one
    pass, and blocks are compressed on other cores while decompression goes on (``pgzip.Writer``); the stage
    runs all of it in a thread while it talks to the registry. dpkg-deb writes data.tar sorted, so entries
    that sort before ours (``var/lib/dpkg/…``) go out as they come; the rest wait to be merged with ours.
    A data.tar that is not sorted is read a second time and sorted in memory.
    """
    stamp = deb.mtime if mtime is None else mtime
    return _build(deb, stamp, stream=True) or _build(deb, stamp, stream=False) or _unreachable()


def _build(deb: Deb, stamp: int, *, stream: bool) -> Layer | None:
    """None when ``stream`` finds data.tar out of order (the caller then builds without streaming)."""
    held: dict[str, tuple[tarfile.TarInfo, bytes | None]] = {}
    paths: list[str] = []
    last = ""
    with pgzip.Writer(LAYER_GZIP_LEVEL) as out:
        with tarfile.open(fileobj=out.io, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            for info, content in _payload(deb, stamp):
                paths.append("/" + info.name)
                if stream and info.name <= last:
                    return None
                last = info.name
                if stream and not held and info.name < OWN_ENTRIES_FROM:
                    tar.addfile(info, io.BytesIO(content) if content is not None else None)
                else:
                    held[info.name] = (info, content)
            _add_dpkg_entries(deb, held, paths, stamp)
            for name in sorted(held):
                info, content = held[name]
                tar.addfile(info, io.BytesIO(content) if content is not None else None)
        compressed = out.finish()
        return Layer(compressed, oci_digest(compressed), out.plain_digest)


def _payload(deb: Deb, stamp: int) -> Iterator[tuple[tarfile.TarInfo, bytes | None]]:
    """data.tar's entries, normalised, in archive order, decompressed as they are read."""
    name, content = deb.data_member
    mode = _STREAM_MODES.get(Path(name).suffix)
    if mode is None:
        raise BuildplatError(
            f"{deb.path} has a {name} member this reader does not handle",
            hint="build the package with xz or gzip compression (dpkg-deb -Zxz, buildplat's default)",
        )
    try:
        with tarfile.open(fileobj=io.BytesIO(content), mode=mode) as source:
            for member in source:
                clean = _clean(member.name)
                if not clean:
                    continue
                info = _normalise(member, clean, stamp)
                if member.islnk():
                    info.linkname = _clean(member.linkname)
                extracted = source.extractfile(member) if member.isfile() else None
                yield info, extracted.read() if extracted is not None else None
    except (tarfile.TarError, lzma.LZMAError, zlib.error, EOFError) as exc:
        raise BuildplatError(f"{deb.path} is damaged: cannot read {name}: {exc}") from exc


def _add_dpkg_entries(
    deb: Deb, entries: dict[str, tuple[tarfile.TarInfo, bytes | None]], paths: list[str], stamp: int
) -> None:
    package = deb.package
    for directory in ("var", "var/lib", "var/lib/dpkg", "var/lib/dpkg/status.d", "var/lib/dpkg/info"):
        entries.setdefault(directory, (_directory(directory, stamp), None))
    files = {f"var/lib/dpkg/status.d/{package}": status_entry(deb)}
    files[f"var/lib/dpkg/info/{package}.list"] = ("\n".join(["/.", *paths]) + "\n").encode("utf-8")
    if "md5sums" in deb.control_files:
        files[f"var/lib/dpkg/info/{package}.md5sums"] = deb.control_files["md5sums"]
    for name, content in files.items():
        entries[name] = (_file(name, len(content), stamp), content)


def oci_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _unreachable() -> Layer:
    raise AssertionError("a layer built without streaming is never None")


def _normalise(member: tarfile.TarInfo, name: str, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = member.type
    info.mode = member.mode & 0o7777
    info.size = member.size if member.isfile() else 0
    info.linkname = member.linkname
    info.mtime = mtime
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.devmajor, info.devminor = member.devmajor, member.devminor
    return info


def _directory(name: str, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, mtime
    info.uname = info.gname = "root"
    return info


def _file(name: str, size: int, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o644, mtime
    info.uname = info.gname = "root"
    return info


def _clean(name: str) -> str:
    """``./opt/app/x`` -> ``opt/app/x``; refuses paths that climb out of the root."""
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise BuildplatError(f"the package contains an unsafe path {name!r}")
    return "/".join(parts)


def _ar_members(raw: bytes, path: Path) -> dict[str, tuple[bytes, int]]:
    """``name -> (content, mtime)`` of an ar archive (the common format dpkg-deb writes)."""
    if not raw.startswith(AR_MAGIC):
        raise BuildplatError(f"{path} is not a Debian package (not an ar archive)")
    members: dict[str, tuple[bytes, int]] = {}
    offset = len(AR_MAGIC)
    while offset + 60 <= len(raw):
        header = raw[offset : offset + 60]
        if header[58:60] != b"`\n":
            raise BuildplatError(f"{path} is a damaged ar archive (bad member header at byte {offset})")
        name = header[0:16].decode("ascii", "replace").strip().rstrip("/")
        mtime = int(header[16:28].strip() or b"0")
        size = int(header[48:58].strip())
        start = offset + 60
        members[name] = (raw[start : start + size], mtime)
        offset = start + size + (size % 2)  # members are 2-byte aligned
    return members


def _decompress(content: bytes, name: str, path: Path) -> bytes:
    try:
        if name.endswith(".gz"):
            return zlib.decompress(content, 16 + zlib.MAX_WBITS)
        if name.endswith(".xz"):
            return lzma.decompress(content)
    except (OSError, EOFError, lzma.LZMAError, zlib.error) as exc:
        raise BuildplatError(f"{path} is damaged: cannot decompress {name}: {exc}") from exc
    if name.endswith(".tar"):
        return content
    raise BuildplatError(
        f"{path} has a {name} member this reader does not handle",
        hint="build the package with xz or gzip compression (dpkg-deb -Zxz, buildplat's default)",
    )
