"""The example apps: valid, and each builds offline into a package with the real tools of its language."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from buildplat.stages.package import is_static_executable
from tests.cli_helpers import run_cli
from tests.stages.conftest import EXAMPLES

HELLO_APPS = sorted(p.name for p in EXAMPLES.glob("hello-*"))


def test_every_example_is_valid() -> None:
    paths = [str(EXAMPLES / "sample-application"), *(str(EXAMPLES / name) for name in HELLO_APPS)]
    assert {"hello-python", "hello-node", "hello-java", "hello-go", "hello-ruby"} <= set(HELLO_APPS)
    run_cli("validate", *paths).assert_success()


def copy_example(name: str, tmp_path: Path) -> Path:
    target = tmp_path / name
    ignore = shutil.ignore_patterns(".buildplat", "build", "dist", "bin", "target", "node_modules")
    shutil.copytree(EXAMPLES / name, target, ignore=ignore)
    return target


def package_example(name: str, tmp_path: Path) -> Path:
    app = copy_example(name, tmp_path)
    out = tmp_path / "out"
    run_cli("run", str(app), "--out", str(out), "--until", "package").assert_success()
    (deb,) = out.glob(f"{name}_1.1.0_*.deb")
    return deb


def payload(deb: Path) -> set[str]:
    listing = subprocess.run(["dpkg-deb", "--contents", deb], capture_output=True, text=True, check=True).stdout
    return {line.split()[-1].removeprefix(".") for line in listing.splitlines()}


def lintian_complaints(deb: Path) -> list[str]:
    """Lintian's errors and warnings about a package (info and pedantic tags aside); [] without lintian."""
    if shutil.which("lintian") is None:
        return []
    done = subprocess.run(["lintian", "--fail-on", "none", deb], capture_output=True, text=True, check=False)
    return [line for line in done.stdout.splitlines() if line[:2] in ("E:", "W:")]


@pytest.mark.skipif(shutil.which("npm") is None, reason="needs npm")
def test_hello_node_builds_offline(tmp_path: Path) -> None:
    deb = package_example("hello-node", tmp_path)
    assert {"/opt/hello-node/server.js", "/opt/hello-node/package.json"} <= payload(deb)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("javac") is None, reason="needs a JDK (javac, jar)")
def test_hello_java_builds_offline_into_a_reproducible_jar(tmp_path: Path) -> None:
    deb = package_example("hello-java", tmp_path)
    assert "/opt/hello-java/hello-java.jar" in payload(deb)
    again = package_example("hello-java", tmp_path / "again")
    assert deb.read_bytes() == again.read_bytes()
    assert lintian_complaints(deb) == []


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("go") is None, reason="needs Debian's golang-go")
def test_hello_go_builds_offline_into_an_architecture_specific_package(tmp_path: Path) -> None:
    deb = package_example("hello-go", tmp_path)
    machine = subprocess.run(
        ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert deb.name == f"hello-go_1.1.0_{machine}.deb"
    assert "/opt/hello-go/hello-go" in payload(deb)
    # Static (no libc dependency to declare) and stripped, so lintian has nothing to say.
    assert is_static_executable(tmp_path / "hello-go/bin/hello-go")
    assert lintian_complaints(deb) == []


@pytest.mark.skipif(shutil.which("ruby") is None, reason="needs Debian's ruby")
def test_hello_ruby_runs_its_tests_and_builds_offline(tmp_path: Path) -> None:
    deb = package_example("hello-ruby", tmp_path)
    assert deb.name == "hello-ruby_1.1.0_all.deb"
    assert {"/opt/hello-ruby/app.rb", "/opt/hello-ruby/lib/hello.rb"} <= payload(deb)
    # The test files are the build's business, not the package's.
    assert not any(path.startswith("/opt/hello-ruby/test") for path in payload(deb))
    control = subprocess.run(["dpkg-deb", "--field", deb, "Depends"], capture_output=True, text=True, check=True)
    assert control.stdout.strip() == "ruby"
    assert lintian_complaints(deb) == []


@pytest.mark.skipif(shutil.which("ruby") is None, reason="needs Debian's ruby")
def test_hello_ruby_build_fails_when_its_tests_fail(tmp_path: Path) -> None:
    app = copy_example("hello-ruby", tmp_path)
    library = app / "lib" / "hello.rb"
    library.write_text(library.read_text().replace("'world'", "'nobody'"))
    result = run_cli("run", str(app), "--out", str(tmp_path / "out"), "--until", "package")
    assert result.returncode == 1
    assert "build step 1 (shell)" in result.stderr
    assert not list((tmp_path / "out").glob("*.deb"))
