"""Telling the teams about a rollout: one Hubot message per team, naming every app of the team it moved.

Each app's notice (the single-app ``base-image`` notification of deploy/hubot/README.md) is kept in the rollout
state when the app starts. A team is announced once none of its apps is left to do in this run (its last wave is
over), or when the run ends (finished, stopped by the failure threshold or a signal): its apps that are done and
not yet announced go into one post, with the ``apps`` list, and are marked announced in one transaction after Hubot
took it. So a rollout that runs through tells each team once; a run that stops early tells the teams what it did,
and the run that resumes it tells them the rest, each app exactly once (a post that fails is retried by the next
run). A Hubot whose script predates the ``apps`` field refuses it (400 naming ``apps``); its team then gets one
message per app, as before.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from buildplat.errors import BuildplatError
from buildplat.images.rollout_state import DONE, AppRecord, RolloutState

if TYPE_CHECKING:
    from buildplat.spec.platform import PlatformConfig

ENTRY_FIELDS = ("app", "old", "tag")
# Apps per message: the script takes up to 500, and Hubot's default body limit (100 kB) holds 200 even with the
# longest names and tags. A team with more apps than this gets one message per 200.
APPS_PER_MESSAGE = 200


def team_payload(notices: list[dict[str, Any]], room: str) -> dict[str, Any]:
    """One base-image notification for ``notices`` (single-app notifications of one rollout, of one team)."""
    if len(notices) == 1:
        return {**notices[0], "room": room}
    first = notices[0]
    apps = [{key: notice[key] for key in ENTRY_FIELDS if key in notice} for notice in notices]
    return {"event": "base-image", "room": room, "buildfact": first["buildfact"], "new": first["new"], "apps": apps}


def _older_script(exc: BuildplatError) -> bool:
    """Hubot's script does not know the ``apps`` field yet (it refuses unknown fields by name)."""
    from buildplat.clients.hubot import HubotRefused

    return isinstance(exc, HubotRefused) and exc.status == 400 and exc.error.startswith("apps:")


class Announcer:
    """Posts the teams' messages of one rollout and records who was told."""

    def __init__(
        self,
        rollout: str,
        state: RolloutState,
        teams: Mapping[str, PlatformConfig],
        say: Callable[[str], None],
    ) -> None:
        self.rollout, self.state, self.teams, self.say = rollout, state, teams, say
        self.unannounced: list[str] = []  # apps whose team could not be told (the next run tries again)

    def announce(self, only: Collection[str] | None = None) -> None:
        """Tell every team (or those in ``only``) about its apps that are done and not yet announced."""
        by_team: dict[str, list[AppRecord]] = {}
        for record in sorted(self.state.apps(self.rollout).values(), key=lambda r: r.app):
            if record.status == DONE and not record.notified and (only is None or record.team in only):
                by_team.setdefault(record.team, []).append(record)
        for team, records in sorted(by_team.items()):
            self._team(team, records)

    def _team(self, team: str, records: list[AppRecord]) -> None:
        hubot = self.teams[team].hubot if team in self.teams else None
        told = [r for r in records if r.notice is not None and hubot is not None]
        for record in records:
            if record not in told:
                why = "nothing to announce" if record.notice is None else f"{team} has no Hubot configured"
                self.say(f"rollout: {record.app}: not announced ({why})")
        self._mark([r.app for r in records if r not in told])
        if not told or hubot is None:
            return
        from buildplat.clients.hubot import post_notification

        try:
            token = hubot.token.read("Hubot token")
        except BuildplatError as exc:  # e.g. its environment variable is not set: the next run tries again
            self._failed(team, [r.app for r in told], exc)
            return
        for start in range(0, len(told), APPS_PER_MESSAGE):
            batch = told[start : start + APPS_PER_MESSAGE]
            notices = [json.loads(r.notice) for r in batch if r.notice is not None]
            try:
                post_notification(hubot.url, token, team_payload(notices, hubot.room))
            except BuildplatError as exc:
                if len(notices) > 1 and _older_script(exc):
                    self.say(f"rollout: {team}'s Hubot does not take a list of apps yet: one message per app")
                    for record, notice in zip(batch, notices, strict=True):
                        try:
                            post_notification(hubot.url, token, {**notice, "room": hubot.room})
                        except BuildplatError as one:
                            self._failed(team, [record.app], one)
                            continue
                        self._mark([record.app])
                    continue
                self._failed(team, [r.app for r in batch], exc)
                continue
            self._mark([r.app for r in batch])
            self.say(f"rollout: told {team} ({hubot.room}) about {len(batch)} app(s)")

    def _failed(self, team: str, apps: Iterable[str], exc: BuildplatError) -> None:
        listed = list(apps)
        self.say(f"rollout: could not tell {team} about {', '.join(listed)} ({exc}); the next run tries again")
        self.unannounced += [app for app in listed if app not in self.unannounced]

    def _mark(self, apps: list[str]) -> None:
        if apps:
            self.state.set_notified_many(self.rollout, apps)
            self.unannounced = [app for app in self.unannounced if app not in apps]
