"""The stage table and running one stage: outcomes land in pipeline.json, errors say which stage failed."""

from __future__ import annotations

from pathlib import Path

import pytest

from buildplat.errors import BuildplatError
from buildplat.stages.context import STAGES, PipelineState
from buildplat.stages.runner import STAGE_FUNCTIONS, available, load, run_stage, stages_until
from tests.stages.conftest import default_doc, make_ctx


def test_the_table_lists_every_stage_in_pipeline_order() -> None:
    assert tuple(STAGE_FUNCTIONS) == STAGES
    for stage, target in STAGE_FUNCTIONS.items():
        module, _, function = target.partition(":")
        assert module == f"buildplat.stages.{stage}"
        assert function == f"run_{stage}"


def test_the_stages_this_issue_builds_are_available_and_callable() -> None:
    for stage in ("build", "package", "publish", "verify", "notify"):
        assert available(stage)
        assert callable(load(stage))


def test_unknown_stage() -> None:
    with pytest.raises(BuildplatError, match="unknown stage 'deplyo'"):
        load("deplyo")


def test_until_is_inclusive() -> None:
    assert stages_until("publish") == ["build", "package", "publish"]
    assert stages_until(None) == list(STAGES)


def test_success_and_failure_are_recorded_in_pipeline_json(make_app, tmp_path: Path) -> None:
    doc = default_doc(build={"system_setup": {"buildfacts": ["python"]}, "build_steps": [{"shell": "mkdir dist"}]})
    repo = make_app(doc)
    ctx = make_ctx(repo, out=tmp_path / "out")
    state = PipelineState(app="team/demo-app", build_number=1)
    run_stage("build", ctx, state)
    assert PipelineState.load(ctx.out).stages == {"build": "succeeded"}
    with pytest.raises(BuildplatError) as failure:
        run_stage("package", ctx, state)  # dist/ is empty
    assert failure.value.message.startswith("the package stage failed: artifacts 'dist/' holds no files")
    assert failure.value.hint
    assert "build_command" in failure.value.hint
    saved = PipelineState.load(ctx.out)
    assert saved.stages == {
        "build": "succeeded",
        "package": "failed: artifacts 'dist/' holds no files, so the package would be empty",
    }
    (repo / "dist" / "app.py").write_text("x = 1\n")
    run_stage("package", ctx, state)  # re-running a stage is safe and replaces its outcome
    assert PipelineState.load(ctx.out).stages["package"] == "succeeded"
    assert PipelineState.load(ctx.out).deb == "demo-app_2.1.0_all.deb"
