"""Telling the team that a repository's default.json was not accepted, once per distinct problem.

Each message goes to the team's Hubot room (``event: "config"``) if the platform config names a Hubot, else to the
log. The digest of what was announced is kept per repository: the same errors are not announced again every
cycle, different errors are, and a repository that became valid is forgotten so a later relapse is announced.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from buildplat.clients.hubot import post_notification
from buildplat.errors import ServiceError
from buildplat.spec.platform import HubotConfig

log = logging.getLogger("buildplat.sync")


def problems_digest(problems: tuple[str, ...]) -> str:
    return hashlib.sha256("\n".join(problems).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class ConfigNotice:
    repo: str  # the repository URL
    branch: str
    app: str | None  # "namespace/name" of the job it would have been, when known
    problems: tuple[str, ...]


class Notifier:
    def __init__(self, hubot: HubotConfig | None, *, backoff: tuple[float, ...] = (0.5, 1.0, 2.0)) -> None:
        self.hubot = hubot
        self.backoff = backoff

    def send(self, notice: ConfigNotice) -> str | None:
        """Announce ``notice``; returns None on success, else why it failed (it is tried again next cycle)."""
        if self.hubot is None:
            for problem in notice.problems:
                for line in problem.split("\n"):  # a hint is a line of its own: each log line is whole
                    log.warning("%s (%s): %s", notice.repo, notice.branch, line)
            return None
        # The route accepts exactly room, event, app ("namespace/name"), repo and errors for this event.
        repo = notice.repo if notice.branch == "main" else f"{notice.repo} (branch {notice.branch})"
        payload: dict[str, object] = {"room": self.hubot.room, "event": "config", "repo": repo}
        payload["errors"] = list(notice.problems)
        if notice.app:
            payload["app"] = notice.app
        try:
            post_notification(self.hubot.url, self.hubot.token.read("Hubot token"), payload, backoff=self.backoff)
        except ServiceError as exc:
            return exc.message
        return None
