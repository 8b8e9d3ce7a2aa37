"""Telling the teams: one message per team through the real Hubot, and one per app for a Hubot whose script
predates the ``apps`` list (the script as it was then: the same file without that field)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from buildplat.images.announce import Announcer
from buildplat.images.rollout_state import DONE, RolloutState
from buildplat.spec.platform import PlatformConfig, load_platform_file
from tests.appeng.helpers import write_platform
from tests.harness.hubot import HUBOT_DIR, Hubot, start_hubot

pytestmark = pytest.mark.slow

ROLLOUT = "registry.invalid/base/python@sha256:" + "b" * 64
NEW = {"version": "20250601-bbbbbbbbbbbb", "digest": "sha256:" + "b" * 64}
OLD = {"version": "20250101-aaaaaaaaaaaa", "digest": "sha256:" + "a" * 64}


def _notice(app: str) -> str:
    return json.dumps({"event": "base-image", "app": app, "buildfact": "python", "old": OLD, "new": NEW,
                       "tag": f"1.0.0-base-{NEW['version']}"})  # fmt: skip


def _state(directory: Path, apps: list[str]) -> RolloutState:
    state = RolloutState(directory)
    state.start(ROLLOUT, "python", NEW["version"], NEW["digest"])
    for app in apps:
        state.begin(ROLLOUT, app, app.split("/")[0], "rebase", _notice(app))
        state.end(ROLLOUT, app, DONE, tag=f"1.0.0-base-{NEW['version']}", digest="sha256:" + "d" * 64)
    return state


def _teams(directory: Path, hubot: Hubot, *names: str) -> dict[str, PlatformConfig]:
    configs = {}
    for team in names:
        path = write_platform(directory / f"{team}.json", team=team, registry_url="http://127.0.0.1:9", root="b",
                              hubot=hubot)  # fmt: skip
        configs[team] = load_platform_file(path)
    return configs


@pytest.fixture
def older_hubot(tmp_path: Path) -> Iterator[Hubot]:
    """A Hubot running the notification script as it was before ``apps``: that field is unknown, so refused."""
    directory = tmp_path / "older-hubot"
    (directory / "scripts").mkdir(parents=True)
    (directory / "node_modules").symlink_to(HUBOT_DIR / "node_modules")
    script = (HUBOT_DIR / "scripts" / "buildplat-notify.js").read_text()
    fields = "'base-image': ['room', 'event', 'app', 'apps', 'buildfact', 'old', 'new', 'tag']"
    assert fields in script
    older = script.replace(fields, "'base-image': ['room', 'event', 'app', 'buildfact', 'old', 'new', 'tag']")
    (directory / "scripts" / "buildplat-notify.js").write_text(older)
    robot, server = start_hubot(tmp_path / "older-run", token="older-token", hubot_dir=directory)
    try:
        yield robot
    finally:
        server.stop()


def test_each_team_gets_one_message_and_each_app_is_marked_told(
    hubot: Hubot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BUILDPLAT_HUBOT_TOKEN", hubot.token or "")
    hubot.clear()
    apps = ["red/a", "red/b", "red/c", "blue/x"]
    state = _state(tmp_path / "state", apps)
    said: list[str] = []
    announcer = Announcer(ROLLOUT, state, _teams(tmp_path, hubot, "red", "blue"), said.append)
    announcer.announce(only={"red"})
    [red] = hubot.wait_for_messages(1, room="red-builds")
    assert red["text"].startswith("🧱 python base image → 20250601-bbbbbbbbbbbb (sha256:bbbbbbbbbbbb) for 3 apps:")
    assert [line.split(":")[0] for line in red["text"].splitlines()[1:]] == ["• red/a", "• red/b", "• red/c"]
    assert hubot.messages(room="blue-builds") == [], "blue was not asked for yet"
    announcer.announce()
    [blue] = hubot.wait_for_messages(1, room="blue-builds")
    assert blue["text"].startswith("🧱 blue/x: python base image 20250101-aaaaaaaaaaaa")
    assert all(record.notified for record in state.apps(ROLLOUT).values())
    announcer.announce()
    assert len(hubot.messages()) == 2, "nobody is told twice"
    assert announcer.unannounced == []


def test_a_hubot_without_the_apps_field_gets_one_message_per_app(
    older_hubot: Hubot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BUILDPLAT_HUBOT_TOKEN", "older-token")
    state = _state(tmp_path / "state", ["red/a", "red/b"])
    said: list[str] = []
    Announcer(ROLLOUT, state, _teams(tmp_path, older_hubot, "red"), said.append).announce()
    texts = [m["text"] for m in older_hubot.wait_for_messages(2, room="red-builds")]
    assert [text.split(":")[0] for text in texts] == ["🧱 red/a", "🧱 red/b"]
    assert "rollout: red's Hubot does not take a list of apps yet: one message per app" in said
    assert all(record.notified for record in state.apps(ROLLOUT).values())


def test_a_refused_post_leaves_the_apps_for_the_next_run(
    hubot: Hubot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BUILDPLAT_HUBOT_TOKEN", "a wrong token")
    state = _state(tmp_path / "state", ["red/a", "red/b"])
    said: list[str] = []
    announcer = Announcer(ROLLOUT, state, _teams(tmp_path, hubot, "red"), said.append)
    announcer.announce()
    assert announcer.unannounced == ["red/a", "red/b"]
    assert not any(record.notified for record in state.apps(ROLLOUT).values())
    assert any("could not tell red about red/a, red/b" in line and "401" in line for line in said)
