"""The metadata files of the application's ``.deb``: control, md5sums, changelog, copyright, lintian overrides.

Choices (documented here because users see them in ``dpkg -s``):

- ``Maintainer: <namespace> team <<namespace>@users.buildplat.invalid>``: the team owns the package; the address
  is deliberately under the reserved ``.invalid`` domain, so no mail is ever sent to a guessed address.
- ``Section: misc``, ``Priority: optional``; ``Depends`` lists the primary buildfact's runtime packages.
- ``Architecture: all`` unless the payload holds ELF binaries, then the build machine's architecture.
- A one-entry ``changelog.gz`` and a machine-readable ``copyright`` (lintian insists on both, and they are cheap).
- Lintian overrides for ``dir-or-file-in-opt`` (and ``jar-not-in-usr-share`` when there are jars): installing
  under ``/opt/<name>/`` is the platform's layout; ``statically-linked-binary`` when the payload holds static
  executables (the go buildfact builds them so; lintian exempts Go only when it sees the source package).

Everything here is a pure function of its inputs, so the package is reproducible.
"""

from __future__ import annotations

import email.utils
import gzip
import io
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from buildplat.spec.model import AppSpec

SECTION = "misc"
PRIORITY = "optional"
MAINTAINER_DOMAIN = "users.buildplat.invalid"

_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


def maintainer(app: AppSpec) -> str:
    return f"{app.namespace} team <{app.namespace}@{MAINTAINER_DOMAIN}>"


def one_line(text: str) -> str:
    """A value safe for one control-file line: no newlines or other control characters."""
    return _CONTROL_CHARS.sub(" ", text).strip()


@dataclass(frozen=True)
class ControlFields:
    app: AppSpec
    version: str
    architecture: str
    depends: tuple[str, ...]
    installed_size_kib: int

    def render(self) -> str:
        name = self.app.name
        lines = [
            f"Package: {name}",
            f"Version: {self.version}",
            f"Architecture: {self.architecture}",
            f"Maintainer: {maintainer(self.app)}",
            f"Installed-Size: {self.installed_size_kib}",
        ]
        if self.depends:
            lines.append(f"Depends: {', '.join(self.depends)}")
        lines += [
            f"Section: {SECTION}",
            f"Priority: {PRIORITY}",
            f"Description: {one_line(self.app.description) or name}",
            f" The {one_line(self.app.full_name)} application, built by buildplat.",
            f" It installs under /opt/{name}/.",
        ]
        return "\n".join(lines) + "\n"


def changelog_gz(app: AppSpec, version: str, build_number: int, commit: str | None, epoch: int) -> bytes:
    """A Debian changelog with one entry for this build, gzip-compressed without a timestamp."""
    built_from = f" from commit {one_line(commit)[:12]}" if commit else ""
    text = (
        f"{app.name} ({version}) unstable; urgency=medium\n\n"
        f"  * Build {build_number}{built_from}.\n\n"
        f" -- {maintainer(app)}  {email.utils.format_datetime(datetime.fromtimestamp(epoch, UTC))}\n"
    )
    return deterministic_gzip(text.encode("utf-8"))


def copyright_text(app: AppSpec, epoch: int) -> str:
    year = time.gmtime(epoch).tm_year
    return (
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
        f"Upstream-Name: {app.name}\n"
        f"Upstream-Contact: {maintainer(app)}\n"
        "\n"
        "Files: *\n"
        f"Copyright: {year} the {app.namespace} team\n"
        "License: proprietary\n"
        f" Copyright {year} the {app.namespace} team. All rights reserved; for use within the organisation only.\n"
    )


def lintian_overrides(app: AppSpec, *, has_jars: bool, has_static_binaries: bool = False) -> str:
    lines = [
        "# buildplat installs every application under /opt/<name>/ (its standard layout).",
        f"{app.name}: dir-or-file-in-opt",
    ]
    if has_jars:
        lines.append(f"{app.name}: jar-not-in-usr-share")
    if has_static_binaries:
        # Go builds static binaries on purpose (lintian itself exempts packages whose source builds with Go).
        lines.append(f"{app.name}: statically-linked-binary")
    return "\n".join(lines) + "\n"


def md5sums(entries: list[tuple[str, str]]) -> str:
    """``dpkg``'s md5sums file from (relative path, md5 hex) pairs."""
    return "".join(f"{digest}  {path}\n" for path, digest in sorted(entries))


def deterministic_gzip(data: bytes) -> bytes:
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, compresslevel=9, mtime=0) as stream:
        stream.write(data)
    return buffer.getvalue()
