"""The base-image notification for several apps at once (``apps``), against the real Hubot and its script.

A rollout tells each team once, naming all of its apps; the single-app form (``app``, ``old``, ``tag``) keeps
working unchanged for older senders (tests/harness_tests/test_apt_git_hubot.py checks it).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.harness.hubot import Hubot

pytestmark = pytest.mark.slow

OLD = {"version": "20250101-aaaaaaaaaaaa", "digest": "sha256:" + "a" * 64}
OLDER = {"version": "20241201-cccccccccccc", "digest": "sha256:" + "c" * 64}
NEW = {"version": "20250601-bbbbbbbbbbbb", "digest": "sha256:" + "b" * 64}


def several(*apps: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"room": "#red", "event": "base-image", "buildfact": "python", "new": NEW, "apps": list(apps), **extra}


def test_one_message_names_every_app_with_its_old_base_and_new_tag(hubot: Hubot) -> None:
    hubot.clear()
    answer = hubot.post(
        several(
            {"app": "red/api", "old": OLD, "tag": "1.7.0-base-20250601-bbbbbbbbbbbb"},
            {"app": "red/web", "old": OLDER, "tag": "2.0.3-base-20250601-bbbbbbbbbbbb"},
            {"app": "red/batch", "old": OLD},  # a rebuild: no new tag
        )
    )
    assert answer.status_code == 202, answer.text
    [message] = hubot.wait_for_messages(1, room="#red")
    assert message["text"].splitlines() == [
        "🧱 python base image → 20250601-bbbbbbbbbbbb (sha256:bbbbbbbbbbbb) for 3 apps:",
        "• red/api: from 20250101-aaaaaaaaaaaa (sha256:aaaaaaaaaaaa), tagged 1.7.0-base-20250601-bbbbbbbbbbbb",
        "• red/web: from 20241201-cccccccccccc (sha256:cccccccccccc), tagged 2.0.3-base-20250601-bbbbbbbbbbbb",
        "• red/batch: from 20250101-aaaaaaaaaaaa (sha256:aaaaaaaaaaaa)",
    ]


def test_a_list_of_one_reads_like_the_single_app_form(hubot: Hubot) -> None:
    hubot.clear()
    single = {"room": "#red", "event": "base-image", "app": "red/api", "buildfact": "python", "old": OLD,
              "new": NEW, "tag": "1.7.0-base-x"}  # fmt: skip
    assert hubot.post(single).status_code == 202
    assert hubot.post(several({"app": "red/api", "old": OLD, "tag": "1.7.0-base-x"})).status_code == 202
    first, second = (m["text"] for m in hubot.wait_for_messages(2, room="#red"))
    assert first == second
    assert first == (
        "🧱 red/api: python base image 20250101-aaaaaaaaaaaa (sha256:aaaaaaaaaaaa) → 20250601-bbbbbbbbbbbb"
        " (sha256:bbbbbbbbbbbb), tagged 1.7.0-base-x"
    )


def test_a_long_list_shows_twenty_apps_and_counts_the_rest(hubot: Hubot) -> None:
    hubot.clear()
    apps = [{"app": f"red/app-{n:02d}", "old": OLD, "tag": f"1.{n}.0-base-x"} for n in range(45)]
    assert hubot.post(several(*apps)).status_code == 202
    [message] = hubot.wait_for_messages(1, room="#red")
    lines = message["text"].splitlines()
    assert lines[0].endswith("for 45 apps:")
    assert len(lines) == 1 + 20 + 1
    assert lines[20].startswith("• red/app-19:")
    assert lines[-1] == "… and 25 more"


ENTRY = {"app": "red/api", "old": OLD}


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (several(), "apps: must list at least one app"),
        ({**several(), "apps": {"app": "red/api"}}, "apps: must be a list of {app, old, tag}, not object"),
        (several(ENTRY, "red/web"), "apps[1]: must be an object {app, old, tag}, not string"),
        (several({"app": "red/api"}), "apps[0].old: is required"),
        (several({"app": "red/api", "old": {"version": "1"}}), "apps[0].old.digest: is required"),
        (several({"app": "Red/API", "old": OLD}), "apps[0].app: must be namespace/name"),
        (several(ENTRY, {**ENTRY, "tag": "x"}), "apps[1].app: lists red/api a second time"),
        (several({**ENTRY, "tag": "no spaces"}), "apps[0].tag: must be an image tag"),
        (several({**ENTRY, "reason": "cve"}), "apps[0].reason: is not a known field"),
        (several(ENTRY, tag="1.0-base-x"), "tag: goes inside each entry of apps"),
        (several(ENTRY, app="red/api"), "app: goes inside each entry of apps"),
        (several(ENTRY, old=OLD), "old: goes inside each entry of apps"),
        ({k: v for k, v in several(ENTRY).items() if k != "new"}, "new: is required"),
        ({k: v for k, v in several(ENTRY).items() if k != "apps"}, "app: is required (or apps)"),
        (several(*[{"app": f"red/a{n}", "old": OLD} for n in range(501)]), "apps: must list at most 500 apps"),
    ],
)
def test_a_bad_list_gets_400_naming_the_entry_and_field(hubot: Hubot, body: dict[str, Any], error: str) -> None:
    hubot.clear()
    answer = hubot.post(body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"].startswith(error)
    assert hubot.messages() == []
