"""The build stage on real processes: order, streaming, failures that name the step, missing tools."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from buildplat.errors import BuildplatError
from buildplat.stages.build import run_build
from buildplat.stages.context import PipelineState
from tests.stages.conftest import default_doc, make_ctx


def build_doc(steps: list[dict[str, object]], command: str | None = None) -> dict[str, object]:
    doc = default_doc()
    doc["build"] = {"system_setup": {"buildfacts": ["python", "nodejs"]}, "build_steps": steps}
    if command:
        doc["build_command"] = command
    return doc


def test_steps_run_in_order_then_the_build_command_with_the_version_in_the_environment(make_app) -> None:
    repo = make_app(
        build_doc(
            [{"shell": "echo one >> order.txt"}, {"shell": "echo two >> order.txt; echo streamed-line"}],
            command='echo "three $BUILDPLAT_VERSION $BUILDPLAT_APP" >> order.txt',
        )
    )
    ctx = make_ctx(repo, build_number=57)
    run_build(ctx, PipelineState())
    assert (repo / "order.txt").read_text().splitlines() == ["one", "two", "three 2.57.0 team/demo-app"]
    console = ctx.console.getvalue()
    assert "streamed-line" in console  # tool output reaches the console (the Jenkins log)
    assert "build step 1 (shell): echo one >> order.txt" in console
    assert "3 commands succeeded" in console


def test_a_failing_step_names_its_number_type_and_exit_code_and_stops_the_build(make_app) -> None:
    repo = make_app(
        build_doc(
            [{"shell": "true"}, {"shell": "echo about to fail; exit 7"}, {"shell": "touch should-not-exist"}],
            command="touch neither-this",
        )
    )
    with pytest.raises(BuildplatError) as failure:
        run_build(make_ctx(repo), PipelineState())
    message = failure.value.message
    assert message.startswith("build step 2 (shell) failed with exit code 7")
    assert "about to fail" in message  # the end of the output comes with the error
    assert not (repo / "should-not-exist").exists()
    assert not (repo / "neither-this").exists()


def test_a_failing_build_command_is_named_as_such(make_app) -> None:
    repo = make_app(build_doc([], command="exit 3"))
    with pytest.raises(BuildplatError, match=r"^build_command failed with exit code 3"):
        run_build(make_ctx(repo), PipelineState())


def test_a_multi_command_step_names_the_command_that_failed(make_app, tmp_path: Path) -> None:
    # npm install then npm run build: a fake npm on PATH that fails for `run`.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "npm").write_text('#!/bin/sh\n[ "$1" = run ] && exit 5\nexit 0\n')
    (bin_dir / "npm").chmod(0o755)
    repo = make_app(build_doc([{"npm": {"script": "build"}}]))
    ctx = make_ctx(repo, environ={"PATH": f"{bin_dir}:/usr/bin:/bin"})
    with pytest.raises(BuildplatError, match=r"^build step 1 \(npm: npm run build\) failed with exit code 5"):
        run_build(ctx, PipelineState())


def test_missing_tools_are_named_with_their_buildfact_before_anything_runs(make_app, tmp_path: Path) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    sh_only = tmp_path / "sh-only"
    sh_only.mkdir()
    (sh_only / "sh").symlink_to(shutil.which("sh"))
    repo = make_app(build_doc([{"shell": "touch ran"}, {"npm": {"script": "build"}}, {"pip": {}}]))
    ctx = make_ctx(repo, environ={"PATH": str(sh_only)})
    with pytest.raises(BuildplatError) as failure:
        run_build(ctx, PipelineState())
    message = failure.value.message
    # No package-lock.json, so npm install; both npm commands of the step need npm, named once each.
    assert "build step 2 (npm: npm install) needs the nodejs buildfact's program 'npm'" in message
    assert "build step 2 (npm: npm run build) needs the nodejs buildfact's program 'npm'" in message
    assert "build step 3 (pip) needs the python buildfact's program 'python3'" in message
    assert not (repo / "ran").exists(), "nothing may run when a tool is missing"


def test_no_steps_and_no_command_is_not_an_error(make_app) -> None:
    repo = make_app(build_doc([]))
    ctx = make_ctx(repo)
    run_build(ctx, PipelineState())
    assert "nothing to run" in ctx.console.getvalue()


def test_tool_output_can_go_to_its_own_stream(make_app) -> None:
    import io

    repo = make_app(build_doc([{"shell": "echo only-in-the-log"}]))
    log = io.StringIO()
    ctx = make_ctx(repo, tool_output=log)
    run_build(ctx, PipelineState())
    assert "only-in-the-log" in log.getvalue()
    assert "only-in-the-log\n" not in ctx.console.getvalue().replace("echo only-in-the-log", "")


@pytest.mark.parametrize(("environ", "expected"), [({}, "0"), ({"CGO_ENABLED": "1"}, "1")])
def test_go_builds_static_stripped_binaries_unless_the_environment_asks_for_cgo(
    make_app, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, environ: dict[str, str], expected: str
) -> None:
    # A `go` on PATH that records how it was called: the package stage needs static, stripped binaries.
    monkeypatch.delenv("CGO_ENABLED", raising=False)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "calls"
    (bin_dir / "go").write_text(f'#!/bin/sh\necho "CGO_ENABLED=$CGO_ENABLED $*" >> {record}\n')
    (bin_dir / "go").chmod(0o755)
    doc = default_doc()
    doc["build"] = {"system_setup": {"buildfacts": ["go"]}, "build_steps": [{"go": {"packages": "./cmd/..."}}]}
    ctx = make_ctx(make_app(doc), environ={"PATH": f"{bin_dir}:/usr/bin:/bin", **environ})
    run_build(ctx, PipelineState())
    assert record.read_text().splitlines() == [
        f"CGO_ENABLED={expected} test ./cmd/...",
        f"CGO_ENABLED={expected} build -trimpath -ldflags=-s -w -o bin/ -- ./cmd/...",
    ]


def test_step_options_reach_the_tools_as_arguments_never_through_a_shell(
    make_app, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every tool on PATH records its arguments one per line; had any value gone through a shell, `pwned` would
    # exist or a word would have been split or expanded differently.
    monkeypatch.delenv("CGO_ENABLED", raising=False)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "argv"
    for tool in ("gradle", "mvn", "go", "python3", "bundle"):
        (bin_dir / tool).write_text(f'#!/bin/sh\necho "{tool}" >> {record}\nprintf "[%s]\\n" "$@" >> {record}\n')
        (bin_dir / tool).chmod(0o755)
    evil = "x;touch pwned"
    steps: list[dict[str, object]] = [
        {"gradle": {"useWrapper": False, "tasks": f"clean '{evil}' $(touch pwned)"}},
        {"maven": {"goals": f"verify `touch pwned` {evil}"}},
        {"go": {"packages": f"./cmd/... {evil}", "output": "out dir/$(touch pwned)", "test": False}},
        {"pip": {"requirements": f"req {evil}.txt", "target": "vendor/$HOME"}},
        {"bundler": {"tasks": f"assets:precompile '{evil}'"}},
    ]
    doc = default_doc()
    doc["build"] = {"system_setup": {"buildfacts": ["java", "go", "python", "ruby"]}, "build_steps": steps}
    repo = make_app(doc)
    run_build(make_ctx(repo, environ={"PATH": f"{bin_dir}:/usr/bin:/bin"}), PipelineState())
    assert not list(repo.rglob("pwned")), "a value went through a shell"
    calls = record.read_text().split("\n")
    assert calls == [
        "gradle", "[--no-daemon]", "[clean]", f"[{evil}]", "[$(touch]", "[pwned)]",
        "mvn", "[--batch-mode]", "[verify]", "[`touch]", "[pwned`]", "[x;touch]", "[pwned]",
        "go", "[build]", "[-trimpath]", "[-ldflags=-s -w]", "[-o]", "[out dir/$(touch pwned)]", "[--]",
        "[./cmd/...]", "[x;touch]", "[pwned]",
        "python3", "[-m]", "[pip]", "[install]", "[--no-input]", "[--target]", "[vendor/$HOME]", "[-r]",
        f"[req {evil}.txt]",
        "bundle", "[install]", "bundle", "[exec]", "[rake]", "[assets:precompile]", f"[{evil}]",
        "",
    ]  # fmt: skip
