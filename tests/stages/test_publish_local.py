"""The local publish target: a flat apt repository directory that the real apt-get can use."""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from buildplat.errors import BuildplatError
from buildplat.stages import aptrepo
from buildplat.stages.context import PipelineState
from buildplat.stages.package import run_package
from buildplat.stages.publish import run_publish
from tests.stages.conftest import make_ctx


def build_and_publish(repo: Path, out: Path, build_number: int) -> PipelineState:
    state = PipelineState()
    ctx = make_ctx(repo, out=out, build_number=build_number)
    run_package(ctx, state)
    run_publish(ctx, state)
    return state


def stanzas(text: str) -> list[dict[str, str]]:
    found = []
    for block in text.strip().split("\n\n"):
        fields = {}
        for line in block.splitlines():
            if not line.startswith(" "):
                key, _, value = line.partition(": ")
                fields[key] = value
        found.append(fields)
    return found


@pytest.fixture
def app(make_app) -> Path:
    return make_app(files={"dist/app.py": "print('hello')\n"})


def test_indexes_describe_every_package_with_correct_checksums(app: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    build_and_publish(app, out, 1)
    state = build_and_publish(app, out, 2)
    repo_dir = out / "apt"
    assert state.published == {
        "kind": "flat",
        "path": str(repo_dir.resolve()),
        "sources_line": f"deb [trusted=yes] file:{repo_dir.resolve()} ./",
    }
    packages = (repo_dir / "Packages").read_text()
    assert gzip.decompress((repo_dir / "Packages.gz").read_bytes()).decode() == packages
    entries = stanzas(packages)
    assert [(e["Package"], e["Version"]) for e in entries] == [("demo-app", "2.1.0"), ("demo-app", "2.2.0")]
    for entry in entries:
        deb = repo_dir / entry["Filename"]
        data = deb.read_bytes()
        assert entry["Size"] == str(len(data))
        assert entry["SHA256"] == hashlib.sha256(data).hexdigest()
        assert entry["MD5sum"] == hashlib.md5(data, usedforsecurity=False).hexdigest()
        assert entry["Architecture"] == "all"
    release = (repo_dir / "Release").read_text()
    assert f" {hashlib.sha256(packages.encode()).hexdigest()} {len(packages.encode())} Packages\n" in release


def test_publishing_the_same_file_again_changes_nothing(app: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    state = build_and_publish(app, out, 1)
    index = out / "apt" / "Packages"
    before = (index.stat().st_mtime_ns, index.read_bytes())
    time.sleep(0.01)
    ctx = make_ctx(app, out=out, build_number=1)
    run_publish(ctx, state)
    assert (index.stat().st_mtime_ns, index.read_bytes()) == before
    assert "already in the local apt repository" in ctx.console.getvalue()


def test_a_different_file_under_the_same_name_is_refused(app: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    build_and_publish(app, out, 1)
    published = (out / "apt" / "demo-app_2.1.0_all.deb").read_bytes()
    (app / "dist" / "app.py").write_text("print('different')\n")
    with pytest.raises(BuildplatError, match=r"already has demo-app_2\.1\.0_all\.deb with other contents"):
        build_and_publish(app, out, 1)
    assert (out / "apt" / "demo-app_2.1.0_all.deb").read_bytes() == published


def test_publish_needs_a_package(app: Path, tmp_path: Path) -> None:
    with pytest.raises(BuildplatError, match="needs the deb from an earlier stage"):
        run_publish(make_ctx(app, out=tmp_path / "out"), PipelineState())


def apt_get(root: Path, sources_line: str, *args: str) -> subprocess.CompletedProcess[str]:
    """apt-get/apt-cache with a configuration of its own under ``root``: the machine's apt state is untouched."""
    for sub in ("lists/partial", "cache/archives/partial", "apt.conf.d"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "sources.list").write_text(sources_line + "\n")
    settings = {
        "Dir::Etc::parts": root / "apt.conf.d",
        "Dir::Etc::main": "/dev/null",
        "Dir::Etc::sourcelist": root / "sources.list",
        "Dir::Etc::sourceparts": "-",
        "Dir::State::Lists": root / "lists",
        "Dir::Cache": root / "cache",
        "Dir::State::status": "/dev/null",
        "APT::Sandbox::User": "root",
        "Acquire::Languages": "none",
    }
    (root / "apt.conf").write_text("".join(f'{k} "{v}";\n' for k, v in settings.items()))
    env = {**os.environ, "APT_CONFIG": str(root / "apt.conf"), "LC_ALL": "C"}
    return subprocess.run(list(args), env=env, cwd=root, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.skipif(shutil.which("apt-get") is None, reason="needs apt-get")
def test_apt_get_installs_from_the_flat_repository_even_in_a_path_with_spaces(app: Path, tmp_path: Path) -> None:
    out = tmp_path / "out dir with spaces"
    build_and_publish(app, out, 1)
    state = build_and_publish(app, out, 2)
    assert state.published is not None
    apt_root = tmp_path / "apt"
    started = time.monotonic()
    update = apt_get(apt_root, state.published["sources_line"], "apt-get", "update")
    assert update.returncode == 0, update.stdout + update.stderr
    assert "W:" not in update.stderr, update.stderr
    assert "E:" not in update.stderr, update.stderr
    policy = apt_get(apt_root, state.published["sources_line"], "apt-cache", "policy", "demo-app")
    assert "Candidate: 2.2.0" in policy.stdout, policy.stdout
    download = apt_get(apt_root, state.published["sources_line"], "apt-get", "download", "demo-app=2.1.0")
    assert download.returncode == 0, download.stdout + download.stderr
    fetched = apt_root / "demo-app_2.1.0_all.deb"
    assert fetched.read_bytes() == (out / "apt" / "demo-app_2.1.0_all.deb").read_bytes()
    assert time.monotonic() - started < 30


def test_sources_line_quotes_the_path() -> None:
    line = aptrepo.sources_line(Path("/tmp/a b/apt"))
    assert line == "deb [trusted=yes] file:/tmp/a%20b/apt ./"


def test_a_platform_config_without_apt_is_an_error_not_a_silent_local_publish(app: Path, tmp_path: Path) -> None:
    from tests.stages.conftest import load_platform, platform_file

    state = PipelineState()
    ctx = make_ctx(app, out=tmp_path / "out", platform=load_platform(platform_file(tmp_path)))
    run_package(ctx, state)
    with pytest.raises(BuildplatError, match="has no apt section"):
        run_publish(ctx, state)
    assert not (tmp_path / "out" / "apt").exists()
