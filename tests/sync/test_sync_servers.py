"""sync with the real servers of the harness: repositories over git:// (git daemon), messages through Hubot."""

from __future__ import annotations

import uuid

import pytest

from tests.harness.gitd import GitServer
from tests.harness.hubot import Hubot
from tests.jenkins_double import JenkinsDouble
from tests.sync.helpers import Team, app_doc, dump, kinds

pytestmark = pytest.mark.slow
ROOM = "team-builds"


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_repositories_over_git_daemon_create_update_and_go(
    team: Team, git_server: GitServer, jenkins_double: JenkinsDouble
) -> None:
    alpha, beta = _name("alpha"), _name("beta")
    team.urls = [
        git_server.create_repo(f"team/{alpha}", {"default.json": dump(app_doc(alpha))}),
        git_server.create_repo(f"team/{beta}", {"default.json": dump(app_doc(beta))}),
    ]
    assert kinds(team.cycle()) == {alpha: "create", beta: "create"}
    assert f"<defaultValue>{team.urls[0]}</defaultValue>" in jenkins_double.jobs.config(f"team/{alpha}")
    git_server.commit(f"team/{alpha}", {"default.json": dump(app_doc(alpha, build_command="make v2"))}, "v2")
    jenkins_double.reset_log()
    assert kinds(team.cycle()) == {alpha: "update", beta: "unchanged"}
    assert [w.path for w in jenkins_double.requests.writes()] == [f"/job/team/job/{alpha}/config.xml"]
    git_server.delete_repo(f"team/{beta}")
    report = team.cycle()
    assert kinds(report)[beta] == "disable"
    assert "repository is gone" in next(a.reason for a in report.actions if a.job == beta)
    assert jenkins_double.jobs[f"team/{beta}"].disabled


def test_invalid_default_json_goes_to_the_room_once_per_distinct_error(
    team: Team, hubot: Hubot, jenkins_double: JenkinsDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert hubot.token
    monkeypatch.setenv("BUILDPLAT_HUBOT_TOKEN", hubot.token)
    team.extra["hubot"] = {"url": hubot.url, "room": ROOM}
    hubot.clear()
    team.add_app("alpha")
    team.cycle()
    team.repos.commit("alpha", {"default.json": dump({**app_doc("alpha"), "artifacts": "/etc"})})
    for _ in range(3):
        report = team.cycle()
        assert kinds(report) == {"alpha": "quarantine"}
    (message,) = hubot.wait_for_messages(1, room=ROOM)
    assert "team/alpha: default.json is invalid, 1 error" in message["text"]
    assert "$.artifacts" in message["text"]
    team.repos.commit("alpha", {"default.json": "[1, 2]"})
    team.cycle()
    team.cycle()
    messages = hubot.wait_for_messages(2, room=ROOM)
    assert len(messages) == 2
    assert "default.json:1:1" in messages[1]["text"]
    for said in messages:
        assert jenkins_double.token not in said["text"]
        assert hubot.token not in said["text"]
    # The last good job was kept all along.
    assert "team/alpha" in jenkins_double.jobs
    assert not jenkins_double.jobs["team/alpha"].disabled


def test_a_hubot_that_refuses_is_retried_next_cycle(team: Team, hubot: Hubot, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUILDPLAT_HUBOT_TOKEN", "not-the-token")
    team.extra["hubot"] = {"url": hubot.url, "room": ROOM}
    hubot.clear()
    team.add_app("alpha", raw="{")
    refused = team.cycle()
    assert any("401" in notice for notice in refused.notices)
    assert hubot.messages(ROOM) == []
    monkeypatch.setenv("BUILDPLAT_HUBOT_TOKEN", hubot.token or "")
    accepted = team.cycle()
    assert accepted.notices == []
    assert len(hubot.wait_for_messages(1, room=ROOM)) == 1
