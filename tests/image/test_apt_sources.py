"""The Debian mirror is read from the machine's apt sources, in both formats, at run time."""

from __future__ import annotations

from pathlib import Path

import pytest

from buildplat.errors import BuildplatError
from buildplat.images.apt_sources import debian_mirror, read_sources


def _apt(tmp_path: Path, sources_list: str = "", parts: dict[str, str] | None = None) -> Path:
    (tmp_path / "sources.list.d").mkdir(parents=True)
    (tmp_path / "sources.list").write_text(sources_list)
    for name, text in (parts or {}).items():
        (tmp_path / "sources.list.d" / name).write_text(text)
    return tmp_path


def test_one_line_format_with_options_and_comments(tmp_path: Path) -> None:
    apt = _apt(
        tmp_path,
        "# a comment\n"
        "deb-src http://mirror.test/debian bookworm main\n"
        "deb [arch=amd64 signed-by=/usr/share/keyrings/x.gpg] http://other.test/vendor stable main\n"
        "deb http://mirror.test/debian/ bookworm main contrib # trailing comment\n",
    )
    sources = read_sources(apt)
    assert [(s.uri, s.suite, s.components) for s in sources] == [
        ("http://other.test/vendor", "stable", ("main",)),
        ("http://mirror.test/debian", "bookworm", ("main", "contrib")),
    ]
    assert debian_mirror("bookworm", apt) == "http://mirror.test/debian"


def test_deb822_sources_files(tmp_path: Path) -> None:
    apt = _apt(
        tmp_path,
        parts={
            "a-vendor.sources": "Types: deb\nURIs: https://vendor.test/apt\nSuites: nodistro\nComponents: main\n",
            "debian.sources": (
                "Types: deb deb-src\n"
                "# http://snapshot.test/archive\n"
                "URIs: http://deb.mirror.test/debian\n"
                "Suites: bookworm bookworm-updates\n"
                "Components: main\n"
                "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
                "\n"
                "Types: deb\n"
                "URIs: http://security.mirror.test/debian-security\n"
                "Suites: bookworm-security\n"
                "Components: main\n"
                "\n"
                "Enabled: no\n"
                "Types: deb\n"
                "URIs: http://disabled.test/debian\n"
                "Suites: bookworm\n"
                "Components: main\n"
            ),
            "ignored.txt": "deb http://ignored.test/debian bookworm main\n",
        },
    )
    assert debian_mirror("bookworm", apt) == "http://deb.mirror.test/debian"
    uris = {s.uri for s in read_sources(apt)}
    assert "http://disabled.test/debian" not in uris
    assert "http://ignored.test/debian" not in uris


def test_no_mirror_for_the_suite_says_how_to_fix(tmp_path: Path) -> None:
    apt = _apt(tmp_path, "deb http://mirror.test/debian trixie main\n")
    with pytest.raises(BuildplatError, match="no apt source on this machine serves Debian bookworm main") as caught:
        debian_mirror("bookworm", apt)
    assert caught.value.hint is not None
    assert "bookworm main" in caught.value.hint


def test_this_machine_has_a_mirror() -> None:
    if not Path("/etc/apt").is_dir():
        pytest.skip("not a Debian machine")
    assert debian_mirror().startswith(("http://", "https://", "file:"))
