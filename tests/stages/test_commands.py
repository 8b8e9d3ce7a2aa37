"""``buildplat run`` and ``buildplat step`` as users and Jenkins call them: real subprocesses, exit codes, output."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.cli_helpers import Outcome, run_cli
from tests.stages.conftest import EXAMPLES, default_doc

CI_ENV = ("BUILD_NUMBER", "BUILD_URL", "GIT_COMMIT", "GIT_URL", "BUILDPLAT_CONFIG", "BRANCH_NAME", "GIT_BRANCH")


@pytest.fixture
def hello(tmp_path: Path) -> Path:
    """A copy of examples/hello-python outside the repository (so git knows nothing about it)."""
    target = tmp_path / "hello python"
    shutil.copytree(EXAMPLES / "hello-python", target, ignore=shutil.ignore_patterns(".buildplat", "build"))
    return target


@pytest.fixture
def light(make_app) -> Path:
    """A small app whose build is one shell step: for tests about the commands, not about a real build."""
    doc = default_doc(
        build={
            "system_setup": {"buildfacts": ["python"]},
            "build_steps": [{"shell": "echo building; mkdir -p dist && cp app.py dist/"}],
        }
    )
    return make_app(doc, files={"app.py": "print('hi')\n"})


def cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> Outcome:
    clean = dict.fromkeys(CI_ENV, "")
    return run_cli(*args, env={**clean, **(env or {})}, cwd=cwd).assert_no_traceback()


def test_run_builds_packages_and_publishes_with_growing_versions(light: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = cli("run", str(light), "--out", str(out), "--until", "publish").assert_success()
    second = cli("run", str(light), "--out", str(out), "--until", "publish").assert_success()
    assert "team/demo-app 2.1.0 (local build 1)" in first.stdout
    assert "team/demo-app 2.2.0 (local build 2)" in second.stdout
    assert f"deb:        {out.resolve()}/demo-app_2.2.0_all.deb" in second.stdout
    assert f"apt:        deb [trusted=yes] file:{out.resolve()}/apt ./" in second.stdout
    assert "\nbuilding\n" not in second.stdout + second.stderr, "tool output belongs in run.log"
    assert "\nbuilding\n" in (out / "run.log").read_text()
    packages = (out / "apt" / "Packages").read_text()
    assert "Version: 2.1.0" in packages
    assert "Version: 2.2.0" in packages
    state = json.loads((out / "pipeline.json").read_text())
    assert state["stages"] == {"build": "succeeded", "package": "succeeded", "publish": "succeeded"}
    assert state["version"] == "2.2.0"


def test_run_verbose_shows_the_tools_output(light: Path, tmp_path: Path) -> None:
    done = cli("run", str(light), "--out", str(tmp_path / "out"), "--until", "build", "-v").assert_success()
    assert "\nbuilding\n" in done.stdout


def test_a_failing_build_exits_1_naming_the_stage_and_step(light: Path, tmp_path: Path) -> None:
    doc = (light / "default.json").read_text()
    (light / "default.json").write_text(doc.replace('"echo building;', '"echo building; exit 3;'))
    out = tmp_path / "out"
    done = cli("run", str(light), "--out", str(out))
    assert done.returncode == 1
    assert "buildplat: error: the build stage failed: build step 1 (shell) failed with exit code 3" in done.stderr
    assert f"the build's full output is in {out.resolve()}/run.log" in done.stderr
    stages = json.loads((out / "pipeline.json").read_text())["stages"]
    assert stages == {"build": "failed: build step 1 (shell) failed with exit code 3"}


def test_run_without_a_default_json_is_a_usage_error(tmp_path: Path) -> None:
    done = cli("run", str(tmp_path))
    assert done.returncode == 2
    assert "default.json" in done.stderr


def test_run_with_an_invalid_default_json_lists_the_problems(hello: Path) -> None:
    (hello / "default.json").write_text('{"namespace": "Bad Name"}\n')
    done = cli("run", str(hello))
    assert done.returncode == 1
    assert "default.json:1:" in done.stderr
    assert "is not valid" in done.stderr


def test_a_run_inside_a_checkout_leaves_git_status_clean(light: Path) -> None:
    from tests.harness.gitd import git

    git("init", "-q", "-b", "main", str(light))
    cli("run", str(light), "--until", "package").assert_success()
    assert (light / ".buildplat" / "demo-app_2.1.0_all.deb").is_file()
    status = git("-C", str(light), "status", "--porcelain", "--untracked-files=all")
    assert ".buildplat" not in status
    assert "default.json" in status  # the checkout itself is still seen


def test_the_summary_quotes_paths_for_the_shell(light: Path, tmp_path: Path) -> None:
    import shlex

    out = tmp_path / "out dir; $(touch pwned)"
    done = cli("run", str(light), "--out", str(out), "--until", "publish").assert_success()
    line = next(text for text in done.stdout.splitlines() if "install it: " in text)
    argv = shlex.split(line.split("install it: ", 1)[1])
    assert argv == ["apt", "install", str(out.resolve() / "demo-app_2.1.0_all.deb")]


def test_steps_as_jenkins_calls_them(light: Path, tmp_path: Path) -> None:
    hello = light
    out = tmp_path / "ws"
    env = {"BUILD_NUMBER": "41", "GIT_COMMIT": "0123456789abcdef0123456789abcdef01234567"}
    for stage in ("build", "package"):
        cli("step", stage, "--app", str(hello), "--out", str(out), env=env).assert_success()
    cli("step", "publish", "--local", "--app", str(hello), "--out", str(out), env=env).assert_success()
    state = json.loads((out / "pipeline.json").read_text())
    assert state["version"] == "2.41.0"
    assert state["build_number"] == 41
    assert state["commit"] == env["GIT_COMMIT"]
    assert state["deb"] == "demo-app_2.41.0_all.deb"
    assert set(state["stages"]) == {"build", "package", "publish"}
    # The next build number starts a new pipeline with the build stage, and only there.
    done = cli("step", "package", "--app", str(hello), "--out", str(out), env={"BUILD_NUMBER": "42"})
    assert done.returncode == 1
    assert "belongs to build 41 of team/demo-app, not to build 42" in done.stderr


def test_steps_read_the_commit_and_url_from_the_checkout_when_jenkins_does_not_export_them(
    light: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A pipeline's explicit `checkout(...)` step sets no GIT_COMMIT or GIT_URL; the checkout knows both.
    from buildplat.commands.step import _revision
    from tests.harness.gitd import git

    git("init", "-q", "-b", "main", str(light))
    git("-C", str(light), "add", "-A")
    git("-C", str(light), "commit", "-q", "-m", "first")
    git("-C", str(light), "remote", "add", "origin", "https://ci-bot:s3cret@git.example.com/team/demo-app.git")
    head = git("-C", str(light), "rev-parse", "HEAD").strip()
    out = tmp_path / "ws"
    for stage in ("build", "package"):
        cli("step", stage, "--app", str(light), "--out", str(out), env={"BUILD_NUMBER": "3"}).assert_success()
    state = json.loads((out / "pipeline.json").read_text())
    assert state["commit"] == head
    extracted = tmp_path / "x"
    subprocess.run(["dpkg-deb", "-x", out / state["deb"], extracted], check=True)
    changelog = subprocess.run(
        ["zcat", extracted / "usr/share/doc/demo-app/changelog.gz"], capture_output=True, text=True, check=True
    )
    assert f"from commit {head[:12]}" in changelog.stdout
    monkeypatch.delenv("GIT_COMMIT", raising=False)
    monkeypatch.delenv("GIT_URL", raising=False)
    assert _revision(light) == (head, "https://git.example.com/team/demo-app.git")  # never the token
    monkeypatch.setenv("GIT_COMMIT", "f" * 40)
    monkeypatch.setenv("GIT_URL", "https://git.example.com/team/other.git")
    assert _revision(light) == ("f" * 40, "https://git.example.com/team/other.git")  # Jenkins' word wins


@pytest.mark.slow  # builds (or reuses) the local Debian base image, as `buildplat run` does
def test_step_image_prints_exactly_the_digest_on_stdout(light: Path, tmp_path: Path) -> None:
    out = tmp_path / "ws"
    env = {"BUILD_NUMBER": "7"}
    for stage in ("build", "package"):
        cli("step", stage, "--app", str(light), "--out", str(out), env=env).assert_success()
    done = cli("step", "image", "--local", "--app", str(light), "--out", str(out), env=env).assert_success()
    state = json.loads((out / "pipeline.json").read_text())
    assert done.stdout == state["image"]["digest"] + "\n"
    assert state["image"]["digest"].startswith("sha256:")
    assert "image:" in done.stderr  # progress went to stderr


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["step", "build"], {}, "BUILD_NUMBER is not set"),
        (["step", "build"], {"BUILD_NUMBER": "abc"}, "BUILD_NUMBER must be a positive whole number"),
        (["step", "publish"], {"BUILD_NUMBER": "1"}, "the publish stage needs the team's platform config"),
        (["step", "verify", "--service-url", "web"], {"BUILD_NUMBER": "1"}, "is not NAME=URL"),
        (["step", "promote", "--local"], {"BUILD_NUMBER": "1"}, "promote needs --to stage or --to prod"),
        (["step", "build", "--to", "stage"], {"BUILD_NUMBER": "1"}, "options of the promote stage only"),
        (["step", "build", "--result", "failure"], {"BUILD_NUMBER": "1"}, "options of the notify stage only"),
        (["step", "notify", "--local", "--previous-result", "GREEN"], {"BUILD_NUMBER": "1"}, "not a Jenkins build"),
        (["step", "deploy"], {"BUILD_NUMBER": "1", "BUILDPLAT_CONFIG": "/nonexistent.json"}, "cannot read"),
    ],
)
def test_step_usage_errors_exit_2(light: Path, args: list[str], env: dict[str, str], message: str) -> None:
    done = cli(*args, "--app", str(light), env=env)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_packaged_example_serves_and_passes_its_own_system_test(hello: Path, tmp_path: Path) -> None:
    out = tmp_path / "ws"
    env = {"BUILD_NUMBER": "3"}
    for stage in ("build", "package"):
        cli("step", stage, "--app", str(hello), "--out", str(out), env=env).assert_success()
    root = tmp_path / "installed"
    subprocess.run(["dpkg-deb", "-x", out / "hello-python_1.3.0_all.deb", root], check=True)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, root / "opt/hello-python/app.py"],
        env={**os.environ, "PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
            assert time.monotonic() < deadline, "the packaged app did not start"
            time.sleep(0.05)
        url = f"hello-python=http://127.0.0.1:{port}"
        done = cli("step", "verify", "--app", str(hello), "--out", str(out), "--service-url", url, env=env)
    finally:
        server.terminate()
        server.wait(timeout=10)
    done.assert_success()
    suite = ET.parse(out / "junit" / "buildplat-verify.xml").getroot()
    assert (suite.get("tests"), suite.get("failures")) == ("1", "0")
    assert "test_health" in (next(suite.iter("system-out")).text or "")


def test_notify_step_locally_prints_once_per_change(light: Path, tmp_path: Path) -> None:
    out, state_dir = tmp_path / "ws", tmp_path / "state"
    common = ["--app", str(light), "--out", str(out), "--local", "--state-dir", str(state_dir)]
    first = cli("step", "notify", *common, "--result", "failure", env={"BUILD_NUMBER": "5"}).assert_success()
    again = cli("step", "notify", *common, "--result", "failure", env={"BUILD_NUMBER": "6"}).assert_success()
    fixed = cli("step", "notify", *common, env={"BUILD_NUMBER": "7"}).assert_success()
    assert "notify (console): team/demo-app 2.5.0: the pipeline failed at build" in first.stdout
    assert "nothing to announce" in again.stdout
    assert "team/demo-app 2.7.0: the pipeline is fixed: build succeeds again" in fixed.stdout


def test_notify_step_takes_the_previous_result_from_jenkins(light: Path, tmp_path: Path) -> None:
    common = ["--app", str(light), "--out", str(tmp_path / "ws"), "--local", "--state-dir", str(tmp_path / "state")]
    fixed = cli("step", "notify", *common, "--previous-result", "UNSTABLE", env={"BUILD_NUMBER": "9"})
    assert "team/demo-app 2.9.0: the pipeline is fixed" in fixed.assert_success().stdout
    unknown = cli("step", "notify", *common, "--previous-result", "", env={"BUILD_NUMBER": "10"})
    assert "nothing to announce" in unknown.assert_success().stdout
