"""The package stage with the real dpkg-deb: contents, control fields, versions, reproducibility, odd names."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from buildplat.errors import BuildplatError
from buildplat.stages.context import PipelineState, fill_version
from buildplat.stages.package import run_package
from tests.stages.conftest import default_doc, make_ctx

APP_FILES = {
    "dist/app.py": "print('hello')\n",
    "dist/bin/start": "#!/bin/sh\nexec python3 /opt/demo-app/app.py\n",
    "dist/static/index.html": "<h1>hi</h1>\n",
}


def package(repo: Path, out: Path, build_number: int = 7, **kwargs: object) -> tuple[Path, PipelineState]:
    state = PipelineState()
    run_package(make_ctx(repo, out=out, build_number=build_number, **kwargs), state)
    assert state.deb is not None
    return out / state.deb, state


def control(deb: Path) -> dict[str, str]:
    text = subprocess.run(["dpkg-deb", "--field", deb], capture_output=True, text=True, check=True).stdout
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.startswith(" "):
            key, _, value = line.partition(": ")
            fields[key] = value
    return fields


def members(deb: Path) -> dict[str, tarfile.TarInfo]:
    data = subprocess.run(["dpkg-deb", "--fsys-tarfile", deb], capture_output=True, check=True).stdout
    tar_path = deb.with_suffix(".tar")
    tar_path.write_bytes(data)
    with tarfile.open(tar_path) as tar:
        return {m.name.removeprefix("./").rstrip("/"): m for m in tar.getmembers()}


@pytest.fixture
def app(make_app) -> Path:
    repo = make_app(files=APP_FILES)
    (repo / "dist/bin/start").chmod(0o750)
    return repo


def test_contents_go_under_opt_with_normalised_owners_and_modes(app: Path, tmp_path: Path) -> None:
    deb, state = package(app, tmp_path / "out")
    assert deb.name == "demo-app_2.7.0_all.deb"
    assert state.deb_sha256 == hashlib.sha256(deb.read_bytes()).hexdigest()
    found = members(deb)
    for name in ("opt/demo-app/app.py", "opt/demo-app/bin/start", "opt/demo-app/static/index.html"):
        assert found[name].isfile(), name
    assert found["opt/demo-app/bin/start"].mode & 0o777 == 0o755  # any execute bit becomes 0755
    assert found["opt/demo-app/app.py"].mode & 0o777 == 0o644
    assert found["opt/demo-app/static"].mode & 0o777 == 0o755
    assert {(m.uid, m.gid, m.uname, m.gname) for m in found.values()} == {(0, 0, "root", "root")}
    assert found["usr/share/doc/demo-app/copyright"].isfile()
    assert found["usr/share/doc/demo-app/changelog.gz"].isfile()
    assert found["usr/share/lintian/overrides/demo-app"].isfile()


def test_control_fields_come_from_default_json(app: Path, tmp_path: Path) -> None:
    deb, _ = package(app, tmp_path / "out", build_number=57)
    fields = control(deb)
    assert fields["Package"] == "demo-app"
    assert fields["Version"] == "2.57.0"
    assert fields["Architecture"] == "all"
    assert fields["Maintainer"] == "team team <team@users.buildplat.invalid>"
    assert fields["Depends"] == "python3"  # the primary buildfact's runtime packages
    assert fields["Section"] == "misc"
    assert fields["Priority"] == "optional"
    assert fields["Description"] == "Demo application"
    assert int(fields["Installed-Size"]) >= 1


def test_md5sums_match_the_payload(app: Path, tmp_path: Path) -> None:
    deb, _ = package(app, tmp_path / "out")
    extracted = tmp_path / "x"
    subprocess.run(["dpkg-deb", "-R", deb, extracted], check=True)
    lines = (extracted / "DEBIAN" / "md5sums").read_text().splitlines()
    assert len(lines) == 6  # three payload files, copyright, changelog, lintian overrides
    for line in lines:
        digest, path = line.split("  ", 1)
        assert hashlib.md5((extracted / path).read_bytes(), usedforsecurity=False).hexdigest() == digest, path


@pytest.mark.parametrize(
    ("template", "build", "expected"),
    [("2.x.x", 57, "2.57.0"), ("1.4.x", 57, "1.4.57"), ("3.0.1", 57, "3.0.1"), ("x.x.x", 1, "1.0.0")],
)
def test_versions_are_filled_from_the_build_number(template: str, build: int, expected: str) -> None:
    filled = fill_version(template, build)
    assert filled == expected
    assert re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", filled)  # an image tag
    later = fill_version(template, build + 1)
    if "x" in template:
        done = subprocess.run(["dpkg", "--compare-versions", later, "gt", filled], check=False)
        assert done.returncode == 0, f"{later} should sort after {filled} for dpkg"


def test_same_inputs_give_the_same_bytes(app: Path, tmp_path: Path) -> None:
    first, _ = package(app, tmp_path / "one")
    # Touch every input and wait a second, so only the content stays the same.
    time.sleep(1.1)
    for path in (app / "dist").rglob("*"):
        os.utime(path)
    second, _ = package(app, tmp_path / "two")
    assert hashlib.sha256(first.read_bytes()).digest() == hashlib.sha256(second.read_bytes()).digest()
    (app / "dist" / "app.py").write_text("print('changed')\n")
    third, _ = package(app, tmp_path / "three")
    assert first.read_bytes() != third.read_bytes()


def test_source_date_epoch_sets_every_timestamp(app: Path, tmp_path: Path) -> None:
    deb, _ = package(app, tmp_path / "out", environ={"SOURCE_DATE_EPOCH": "1600000000"})
    assert {m.mtime for m in members(deb).values()} == {1600000000}


def test_elf_payloads_get_the_machine_architecture(make_app, tmp_path: Path) -> None:
    repo = make_app(files={"dist/README": "a binary follows\n"})
    shutil.copy("/bin/true", repo / "dist" / "tool")
    deb, _ = package(repo, tmp_path / "out")
    machine = subprocess.run(
        ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert control(deb)["Architecture"] == machine
    assert deb.name == f"demo-app_2.7.0_{machine}.deb"


def test_names_with_spaces_and_shell_characters_survive(make_app, tmp_path: Path) -> None:
    odd_dir = "build out; touch pwned-dir"
    odd_files = {
        f"{odd_dir}/my file; rm -rf x.txt": "one\n",
        f"{odd_dir}/$(touch pwned).txt": "two\n",
        f"{odd_dir}/quote'n\"back`tick`.txt": "three\n",
    }
    repo = make_app(default_doc(artifacts=f"{odd_dir}/"), files=odd_files)
    deb, _ = package(repo, tmp_path / "out")
    found = members(deb)
    for name in odd_files:
        relative = name.removeprefix(f"{odd_dir}/")
        assert found[f"opt/demo-app/{relative}"].isfile(), relative
    places = [*repo.iterdir(), *Path.cwd().iterdir(), *tmp_path.iterdir()]
    leftovers = [p.name for p in places if p.name in ("pwned", "pwned-dir")]
    assert leftovers == [], "a name from default.json or the artifacts reached a shell"


def test_git_pycache_and_the_output_directory_stay_out(make_app) -> None:
    repo = make_app(
        default_doc(artifacts="."),
        files={"app.py": "x = 1\n", ".git/config": "[core]\n", "__pycache__/app.cpython-311.pyc": b"\x00"},
    )
    deb, _ = package(repo, repo / ".buildplat")  # the output directory inside the artifacts
    names = set(members(deb))
    assert "opt/demo-app/app.py" in names
    assert "opt/demo-app/default.json" in names
    assert not any(".git" in n or "__pycache__" in n or ".buildplat" in n for n in names), names


def test_symlinks_are_kept_as_links(make_app, tmp_path: Path) -> None:
    repo = make_app(files={"dist/real.txt": "real\n"})
    (repo / "dist" / "link.txt").symlink_to("real.txt")
    (repo / "dist" / "etc-link").symlink_to("/etc")
    deb, _ = package(repo, tmp_path / "out")
    found = members(deb)
    assert found["opt/demo-app/link.txt"].issym()
    assert found["opt/demo-app/link.txt"].linkname == "real.txt"
    assert found["opt/demo-app/etc-link"].issym(), "a link to a directory is kept, not followed"


def test_missing_artifacts_is_a_clear_error(make_app, tmp_path: Path) -> None:
    repo = make_app(files={"src/app.py": "x\n"})
    with pytest.raises(BuildplatError) as failure:
        package(repo, tmp_path / "out")
    assert "artifacts 'dist/' does not exist" in failure.value.message
    assert "default.json" in (failure.value.hint or "")
    assert not list((tmp_path / "out").glob("*.deb"))


def test_empty_artifacts_is_a_clear_error(make_app, tmp_path: Path) -> None:
    repo = make_app()
    (repo / "dist").mkdir()
    with pytest.raises(BuildplatError, match="holds no files"):
        package(repo, tmp_path / "out")
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".package-")], "scratch left behind"


def test_artifacts_leading_out_of_the_repository_are_refused(make_app, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("no\n")
    repo = make_app()
    (repo / "dist").symlink_to(outside)
    with pytest.raises(BuildplatError, match="leads outside the repository"):
        package(repo, tmp_path / "out")


@pytest.mark.slow  # lintian takes several seconds
@pytest.mark.skipif(shutil.which("lintian") is None, reason="lintian is not installed (apt-get install lintian)")
def test_lintian_finds_no_errors_or_warnings(app: Path, tmp_path: Path) -> None:
    deb, _ = package(app, tmp_path / "out", commit="0123456789abcdef0123456789abcdef01234567")
    done = subprocess.run(["lintian", "--fail-on", "none", deb], capture_output=True, text=True, check=False)
    tags = [line for line in done.stdout.splitlines() if line[:2] in ("E:", "W:")]
    assert tags == []


def _elf(*, e_type: int, segments: tuple[int, ...]) -> bytes:
    """A minimal 64-bit little-endian ELF header and program header table, enough for the static check."""
    import struct

    header = bytearray(64)
    header[:6] = b"\x7fELF\x02\x01"
    struct.pack_into("<HH", header, 16, e_type, 62)
    struct.pack_into("<Q", header, 32, 64)  # program headers right after the ELF header
    struct.pack_into("<HH", header, 54, 56, len(segments))
    table = b"".join(struct.pack("<I", kind) + bytes(52) for kind in segments)
    return bytes(header) + table


@pytest.mark.parametrize(
    ("content", "static"),
    [
        (_elf(e_type=2, segments=(6, 1, 1)), True),  # ET_EXEC, no PT_INTERP: Go with cgo off
        (_elf(e_type=2, segments=(6, 3, 1)), False),  # ET_EXEC with PT_INTERP: dynamically linked
        (_elf(e_type=3, segments=(6, 3, 1)), False),  # ET_DYN: PIE executable or shared library
        (b"#!/bin/sh\n", False),
        (b"\x7fELF\x02", False),  # truncated
    ],
)
def test_static_executables_are_told_from_dynamic_ones(tmp_path: Path, content: bytes, static: bool) -> None:
    from buildplat.stages.package import is_static_executable

    path = tmp_path / "binary"
    path.write_bytes(content)
    assert is_static_executable(path) is static


def test_static_binaries_get_a_lintian_override_and_an_architecture(make_app, tmp_path: Path) -> None:
    repo = make_app(files={"dist/server": _elf(e_type=2, segments=(1,)), "dist/tool": _elf(e_type=3, segments=(3,))})
    deb, _ = package(repo, tmp_path / "out")
    assert not deb.name.endswith("_all.deb")
    extracted = tmp_path / "x"
    subprocess.run(["dpkg-deb", "-x", deb, extracted], check=True)
    overrides = (extracted / "usr/share/lintian/overrides/demo-app").read_text().splitlines()
    assert "demo-app: statically-linked-binary" in overrides
    python_only, _ = package(make_app(files=APP_FILES), tmp_path / "out2")
    extracted = tmp_path / "y"
    subprocess.run(["dpkg-deb", "-x", python_only, extracted], check=True)
    assert "statically-linked-binary" not in (extracted / "usr/share/lintian/overrides/demo-app").read_text()
