"""The marker buildplat writes at the end of every job description it manages, and reads back.

The marker is what lets a cold start, or a second seed job, know which jobs are buildplat's, which repository
each came from and what inputs it was rendered from, all from one listing of the folder
(``api/json?tree=jobs[name,description,color]``), without reading any config.xml::

    <the app's description>

    Managed by buildplat sync from the repository below: edits made here are put back; change default.json instead.
    buildplat-repo: git://git.example.com/team/app.git
    buildplat-branch: main
    buildplat-fingerprint: 3f2a...
    buildplat-orphaned-since: 2025-01-31T12:00:00Z      (only on a job whose repository went away)

Only the lines after the last marker sentence count, so an app description cannot forge them.
"""

from __future__ import annotations

import calendar
import re
import time
from dataclasses import dataclass

MARKER_SENTENCE = (
    "Managed by buildplat sync from the repository below: edits made here are put back; change default.json instead."
)
FOLDER_SENTENCE = "Managed by buildplat sync: the team's application jobs live here, one per repository."
# jenkins-job-builder appends this to every description it renders; it is text, not an XML comment.
JJB_SUFFIX = "<!-- Managed by Jenkins Job Builder -->"
_FIELD = re.compile(r"^buildplat-([a-z-]+): (\S+)$")
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True)
class Marker:
    """What a managed job's description says about it."""

    fingerprint: str
    repo: str | None = None  # None for the team folder
    branch: str | None = None
    orphaned_since: float | None = None  # seconds since the epoch; None while its repository is there

    @property
    def repo_key(self) -> str | None:
        return repo_key(self.repo, self.branch or "main") if self.repo else None


def repo_key(url: str, branch: str) -> str:
    """One identity for a configured repository: the same URL on two branches is two apps."""
    return f"{url}#{branch}"


def job_description(text: str, *, repo: str, branch: str, fingerprint: str) -> str:
    fields = {"repo": repo, "branch": branch, "fingerprint": fingerprint}
    return _compose(text, MARKER_SENTENCE, fields)


def folder_description(team: str, fingerprint: str) -> str:
    return _compose(f"Applications of team {team}.", FOLDER_SENTENCE, {"fingerprint": fingerprint})


def _compose(text: str, sentence: str, fields: dict[str, str]) -> str:
    lines = [text.rstrip(), "", sentence]
    lines += [f"buildplat-{key}: {value}" for key, value in fields.items()]
    return "\n".join(lines)


def parse(description: str | None) -> Marker | None:
    """The marker of a job description, or None when buildplat does not manage the job."""
    if not description:
        return None
    body = description.removesuffix(JJB_SUFFIX).rstrip()
    lines = body.split("\n")
    start = None
    for index in range(len(lines) - 1, -1, -1):
        if lines[index].strip() in (MARKER_SENTENCE, FOLDER_SENTENCE):
            start = index
            break
    if start is None:
        return None
    fields: dict[str, str] = {}
    for line in lines[start + 1 :]:
        match = _FIELD.match(line.strip())
        if match:
            fields[match.group(1)] = match.group(2)
    if "fingerprint" not in fields:
        return None
    return Marker(
        fingerprint=fields["fingerprint"],
        repo=fields.get("repo"),
        branch=fields.get("branch"),
        orphaned_since=_parse_time(fields.get("orphaned-since")),
    )


def with_orphaned(description: str, since: float) -> str:
    """The description of a job disabled because its repository went away at ``since``."""
    body = description.removesuffix(JJB_SUFFIX).rstrip()
    kept = [line for line in body.split("\n") if not line.startswith("buildplat-orphaned-since:")]
    stamp = time.strftime(_TIME_FORMAT, time.gmtime(since))
    return "\n".join([*kept, f"buildplat-orphaned-since: {stamp}"]) + JJB_SUFFIX


def _parse_time(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(calendar.timegm(time.strptime(value, _TIME_FORMAT)))
    except ValueError:
        # Unreadable (edited by hand): as if not orphaned yet, so the job is marked again with a fresh date and
        # the grace period starts over. Never read as "long ago": that would delete the job at once.
        return None
