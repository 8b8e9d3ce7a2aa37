"""The notify stage: only state changes are announced, per app and branch; tokens stay out of every output.

The fast tests post to a plain HTTP server on 127.0.0.1 standing in for Hubot's route; the real Hubot is in
test_real_services.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from buildplat.errors import ServiceError
from buildplat.stages.context import PipelineState
from buildplat.stages.notify import decide, run_notify, state_file
from tests.stages.conftest import load_platform, make_ctx, platform_file

TOKEN = "s3cr3t-hubot-token-value"


@pytest.mark.parametrize(
    ("previous", "result", "event"),
    [
        (None, "success", None),  # nothing known: a lost state file must not announce every green build
        ("success", "success", None),
        ("success", "failure", "failure"),
        (None, "failure", "failure"),
        ("failure", "failure", None),
        ("failure", "success", "fixed"),
    ],
)
def test_only_state_changes_are_announced(previous: str | None, result: str, event: str | None) -> None:
    assert decide(previous, result) == event


@pytest.fixture
def hubot_route(local_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    local_server.routes["/buildplat/notify"] = (202, b"{}")
    monkeypatch.setenv("TEST_HUBOT_TOKEN", TOKEN)
    config = platform_file(
        tmp_path, hubot={"url": local_server.url, "room": "team-builds", "token_env": "TEST_HUBOT_TOKEN"}
    )
    return local_server, load_platform(config)


def notify(repo: Path, tmp_path: Path, platform: Any, build: int, stages: dict[str, str], **kwargs: Any) -> str:
    ctx = make_ctx(
        repo,
        out=tmp_path / f"out-{build}",
        build_number=build,
        platform=platform,
        state_dir=tmp_path / "state",
        build_url=f"https://jenkins.example.com/job/demo-app/{build}/",
        environ={"BRANCH_NAME": "main"},
        **kwargs,
    )
    run_notify(ctx, PipelineState(stages=stages))
    return ctx.console.getvalue()


GREEN = {"build": "succeeded", "package": "succeeded", "verify": "succeeded"}
RED = {"build": "succeeded", "package": f"failed: artifacts 'dist/' does not exist (token {TOKEN})"}


def test_a_sequence_of_builds_announces_first_green_first_failure_and_the_fix(
    make_app, tmp_path: Path, hubot_route: Any
) -> None:
    server, platform = hubot_route
    repo = make_app()
    outputs = [
        notify(repo, tmp_path, platform, 1, GREEN),
        notify(repo, tmp_path, platform, 2, GREEN),
        notify(repo, tmp_path, platform, 3, RED),
        notify(repo, tmp_path, platform, 4, RED),
        notify(repo, tmp_path, platform, 5, GREEN),
        notify(repo, tmp_path, platform, 6, GREEN),
    ]
    bodies = [json.loads(r.body) for r in server.requests]
    assert [(b["version"], b["result"], b["stage"]) for b in bodies] == [
        ("2.3.0", "failure", "package"),
        ("2.5.0", "fixed", "package"),  # the stage that had failed
    ]
    failure = bodies[0]
    assert failure == {
        "room": "team-builds",
        "event": "pipeline",
        "app": "team/demo-app",
        "version": "2.3.0",
        "stage": "package",
        "result": "failure",
        "link": "https://jenkins.example.com/job/demo-app/3/",
        "reason": "artifacts 'dist/' does not exist (token ***)",
    }
    assert all(r.headers["Authorization"] == f"Bearer {TOKEN}" for r in server.requests)
    for quiet in (0, 1, 3, 5):
        assert "nothing to announce" in outputs[quiet]
    assert not any(TOKEN in output for output in outputs)


def test_branches_are_tracked_separately(make_app, tmp_path: Path, hubot_route: Any) -> None:
    server, platform = hubot_route
    repo = make_app()
    notify(repo, tmp_path, platform, 1, RED)
    ctx = make_ctx(
        repo, build_number=2, platform=platform, state_dir=tmp_path / "state", environ={"GIT_BRANCH": "origin/feature"}
    )
    run_notify(ctx, PipelineState(stages=RED))
    assert [json.loads(r.body)["result"] for r in server.requests] == ["failure", "failure"]
    assert state_file(ctx).name == "feature.json"


def test_jenkins_can_report_a_failure_no_stage_recorded(make_app, tmp_path: Path, hubot_route: Any) -> None:
    server, platform = hubot_route
    repo = make_app()
    notify(repo, tmp_path, platform, 1, {"build": "succeeded"}, pipeline_result="failure")
    body = json.loads(server.requests[0].body)
    assert (body["result"], body["stage"]) == ("failure", "package")
    assert body["reason"] == "the Jenkins build failed; see its console"


def test_a_refused_notification_fails_and_is_sent_again_next_time(make_app, tmp_path: Path, hubot_route: Any) -> None:
    server, platform = hubot_route
    repo = make_app()
    notify(repo, tmp_path, platform, 1, GREEN)
    server.routes["/buildplat/notify"] = (400, b'{"error": "room: is required"}')
    with pytest.raises(ServiceError, match="answered 400") as failure:
        notify(repo, tmp_path, platform, 2, RED)
    assert TOKEN not in str(failure.value) + str(failure.value.hint)
    server.routes["/buildplat/notify"] = (202, b"{}")
    notify(repo, tmp_path, platform, 3, RED)
    assert [json.loads(r.body)["result"] for r in server.requests] == ["failure", "failure"]
    assert [r.headers.get("Authorization") for r in server.requests] == [f"Bearer {TOKEN}"] * 2


def test_without_hubot_the_message_goes_to_the_console(make_app, tmp_path: Path) -> None:
    repo = make_app()
    output = notify(repo, tmp_path, None, 4, RED)
    assert "notify (console): team/demo-app 2.4.0: the pipeline failed at package: artifacts 'dist/'" in output
    assert json.loads((tmp_path / "state/notify/team/demo-app/main.json").read_text())["result"] == "failure"


def test_credentials_in_urls_are_removed_from_the_reason(make_app, tmp_path: Path, hubot_route: Any) -> None:
    server, platform = hubot_route
    repo = make_app()
    stages = {"build": "failed: cannot clone https://bob:hunter2@git.example.com/x.git"}
    notify(repo, tmp_path, platform, 1, stages)
    assert json.loads(server.requests[0].body)["reason"] == "cannot clone https://***@git.example.com/x.git"


def test_jenkins_previous_result_wins_over_a_lost_state_file(make_app, tmp_path: Path, hubot_route: Any) -> None:
    server, platform = hubot_route
    repo = make_app()
    ctx = make_ctx(repo, build_number=8, platform=platform, state_dir=tmp_path / "empty-state")
    run_notify(ctx, PipelineState(stages=GREEN), previous_result="failure")
    assert [json.loads(r.body)["result"] for r in server.requests] == ["fixed"]
    # Which stage had failed is not known here, and the last stage that ran is not it: the pipeline is fixed.
    assert json.loads(server.requests[0].body)["stage"] == "pipeline"
