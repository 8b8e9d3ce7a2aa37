"""Deciding what to do: the team's repositories against the jobs Jenkins holds, without touching either.

The decision needs one listing of the team's folder (every job's marker) and, per repository, the digest of its
default.json: a job whose marker carries the fingerprint we would write is unchanged, and its default.json is not
even parsed. Everything else is parsed, validated and authorised here. The result is a list of :class:`Action`
that ``plan`` prints and ``sync`` carries out.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal

from buildplat.clients.jenkins import FolderListing, JobEntry
from buildplat.jobs import marker
from buildplat.jobs.inputs import JobInputs, JobTarget, fingerprint
from buildplat.jobs.marker import Marker
from buildplat.spec.model import AppSpec
from buildplat.sync.inventory import Fetched

Kind = Literal[
    "create", "rename", "update", "unchanged", "quarantine", "disable", "delete", "rejected", "conflict", "error"
]
KINDS: tuple[Kind, ...] = (
    "create", "rename", "update", "unchanged", "quarantine", "disable", "delete", "rejected", "conflict", "error",
)  # fmt: skip
WRITES: frozenset[Kind] = frozenset({"create", "rename", "update", "disable", "delete"})
RENDERED: frozenset[Kind] = frozenset({"create", "rename", "update"})  # the actions that write a job's config


@dataclass(frozen=True)
class Action:
    """One decision about one repository or job."""

    kind: Kind
    job: str | None  # the job's name in the team folder
    repo: str | None  # the repository key (url#branch)
    reason: str
    inputs: JobInputs | None = None  # create, rename, update: what to render
    problems: tuple[str, ...] = ()  # quarantine, rejected: what to tell the team
    keep_disabled: bool = False  # the job was paused in Jenkins; a rewrite keeps it paused
    orphaned_since: float | None = None  # disable: the date to stamp; delete: when it was disabled
    diff: str | None = None  # plan: the change to config.xml
    fingerprint: str | None = None  # unchanged: the fingerprint the job carries (and we would write)
    renamed_from: str | None = None  # rename: the job's name now (``job`` is the name it gets)

    def with_update(self, reason: str) -> Action:
        return replace(self, kind="update", reason=reason)


@dataclass(frozen=True)
class Parsed:
    app: AppSpec | None
    source: bytes | None
    problems: tuple[str, ...] = ()


@dataclass
class Reconciler:
    team: str
    templates_version: str
    target_for: Callable[[Fetched], JobTarget]
    parse: Callable[[Fetched], Parsed]
    grace_seconds: float
    now: float = field(default_factory=time.time)
    previous_source: dict[str, str | None] = field(default_factory=dict)  # repo key -> digest last cycle

    def plan(self, fetched: list[Fetched], listing: FolderListing | None) -> list[Action]:
        entries = listing.jobs if listing else ()
        managed: dict[str, tuple[JobEntry, Marker]] = {}
        unmanaged: set[str] = set()
        for entry in entries:
            found = marker.parse(entry.description)
            if found is not None and found.repo_key is not None:
                managed[entry.name] = (entry, found)
            else:
                unmanaged.add(entry.name.casefold())  # Jenkins looks item names up ignoring case
        by_repo: dict[str, list[str]] = {}
        for name, (_entry, found) in sorted(managed.items()):
            by_repo.setdefault(str(found.repo_key), []).append(name)

        actions: dict[str, Action] = {}
        owners: dict[str, str] = {}  # job name -> repository key that gets it
        kept: set[str] = set()  # jobs left as they are because their repository could not be judged
        gone: dict[str, str] = {}
        # Repositories whose job is already current claim their names first, so a newcomer cannot take them.
        for item in fetched:
            current = self._current_job(item, managed, by_repo)
            if current is not None and current not in owners:
                owners[current] = item.key
                carried = managed[current][1].fingerprint
                actions[item.key] = Action("unchanged", current, item.key, "up to date", fingerprint=carried)
        for item in fetched:
            if item.key in actions:
                continue
            mine = by_repo.get(item.key, [])
            if item.status in ("unreachable", "skipped"):
                kept.update(mine)
                actions[item.key] = Action("error", _only(mine), item.key, f"{item.error}; its job is kept as it is")
                continue
            if item.status == "gone":
                gone[item.key] = item.error or "the repository is gone"
                if not mine:  # configured, yet nothing there to build: say so rather than nothing at all
                    actions[item.key] = Action("error", None, item.key, f"{gone[item.key]}; it has no job")
                continue
            action = self._judge(item, managed, unmanaged, owners)
            if action.kind in ("quarantine", "rejected", "conflict"):
                kept.update(mine)
            actions[item.key] = action
        self._hold_mass_disappearance(fetched, by_repo, gone, kept, actions)
        result = list(actions.values())
        configured = {item.key for item in fetched}
        for name, (_entry, found) in sorted(managed.items()):
            if name in owners or name in kept:
                continue
            result.append(self._orphan(name, found, gone=gone, configured=configured, actions=actions))
        return result

    def _hold_mass_disappearance(
        self,
        fetched: list[Fetched],
        by_repo: dict[str, list[str]],
        gone: dict[str, str],
        kept: set[str],
        actions: dict[str, Action],
    ) -> None:
        """Keep the jobs when many repositories "disappear" in one cycle.

        Git hosts answer "not found" for a repository the credentials cannot see (GitHub does), so expired
        credentials or a misconfigured host look like every repository being deleted at once; disabling (and a
        week later deleting) every job of the team would be the wrong answer. Repositories really retired in bulk
        are taken out of the platform config, which still disables their jobs.
        """
        with_jobs = [key for key in gone if by_repo.get(key)]
        if len(with_jobs) < MASS_GONE_MIN or len(with_jobs) <= MASS_GONE_FRACTION * len(fetched):
            return
        for key in with_jobs:
            mine = by_repo[key]
            kept.update(mine)
            actions[key] = Action(
                "error",
                _only(mine),
                key,
                f"{gone.pop(key)}; {len(with_jobs)} of {len(fetched)} repositories answered 'not found' in this "
                "cycle, which looks like a credentials or server problem rather than deletions, so their jobs are "
                "kept (remove retired repositories from the platform config to retire their jobs)",
            )

    def _current_job(
        self, item: Fetched, managed: dict[str, tuple[JobEntry, Marker]], by_repo: dict[str, list[str]]
    ) -> str | None:
        if item.status != "ok" or not item.has_source or item.source_sha is None:
            return None
        wanted = fingerprint(item.source_sha, self.target_for(item), self.templates_version)
        for name in by_repo.get(item.key, []):
            found = managed[name][1]
            if found.fingerprint == wanted and found.orphaned_since is None:
                return name
        return None

    def _judge(
        self,
        item: Fetched,
        managed: dict[str, tuple[JobEntry, Marker]],
        unmanaged: set[str],
        owners: dict[str, str],
    ) -> Action:
        parsed = self.parse(item)
        mine = [name for name, (_e, m) in managed.items() if m.repo_key == item.key]
        if parsed.app is None or parsed.source is None:
            return Action("quarantine", _only(mine), item.key, _quarantine_reason(mine), problems=parsed.problems)
        app = parsed.app
        if app.namespace != self.team:
            problem = (
                f"default.json: error: namespace {app.namespace!r} is not this team's ({self.team!r}); "
                "a repository gets a job only in its own team's Jenkins (at $.namespace)"
            )
            return Action("rejected", _only(mine), item.key, "namespace is not this team's", problems=(problem,))
        name = app.name
        if name in owners:
            problem = (
                f"default.json: error: the app name {name!r} is already used by {owners[name]}; "
                "application.name must be unique in the team (at $.application.name)"
            )
            reason = f"the app name {name!r} is already built from {owners[name]}"
            return Action("rejected", name, item.key, reason, problems=(problem,))
        if name.casefold() in unmanaged:
            problem = (
                f"default.json: error: Jenkins already has a job named {name!r} (or so but for case) that "
                "buildplat did not make; "
                "rename the app or have that job removed (at $.application.name)"
            )
            reason = f"a job named {name!r} exists and is not managed by buildplat; left alone"
            return Action("conflict", name, item.key, reason, problems=(problem,))
        owners[name] = item.key
        inputs = JobInputs(app, parsed.source, self.target_for(item))
        if name not in managed:
            # The app was renamed: its job is renamed with it (Jenkins moves the builds along), so the team keeps
            # the job's history. Only an unambiguous, live job of this very repository is taken.
            previous = [n for n in mine if n not in owners and managed[n][1].orphaned_since is None]
            if len(previous) == 1:
                old = previous[0]
                owners[old] = item.key
                entry, _found = managed[old]
                reason = f"the app was renamed from {old!r}; the job is renamed with its builds"
                return Action("rename", name, item.key, reason, inputs=inputs, renamed_from=old,
                              keep_disabled=entry.disabled)  # fmt: skip
            return Action("create", name, item.key, "new app", inputs=inputs)
        entry, found = managed[name]
        if found.orphaned_since is not None:
            reason = "its repository is back"
        elif found.repo_key != item.key:
            reason = f"now built from {item.key} (was {found.repo_key})"
        elif self.previous_source.get(item.key) not in (None, item.source_sha):
            reason = f"default.json changed (commit {str(item.head)[:12]})"
        else:
            reason = "inputs changed (default.json, job templates, platform config or buildplat version)"
        keep_disabled = entry.disabled and found.orphaned_since is None
        return Action("update", name, item.key, reason, inputs=inputs, keep_disabled=keep_disabled)

    def _orphan(
        self, name: str, found: Marker, *, gone: dict[str, str], configured: set[str], actions: dict[str, Action]
    ) -> Action:
        key = str(found.repo_key)
        if key in gone:
            why = f"its repository is gone ({gone[key]})"
        elif key in configured:
            now_named = actions[key].job if key in actions else None
            why = f"the app was renamed to {now_named!r}" if now_named else "its repository no longer describes it"
        else:
            why = "its repository is no longer in the platform config"
        if found.orphaned_since is None:
            return Action("disable", name, key, f"{why}; disabled now", orphaned_since=self.now)
        deadline = found.orphaned_since + self.grace_seconds
        if self.now >= deadline:
            return Action("delete", name, key, f"{why}; disabled since {_date(found.orphaned_since)}")
        reason = f"{why}; disabled, deleted after {_date(deadline)}"
        return Action("unchanged", name, key, reason, orphaned_since=found.orphaned_since)


# More than half of the repositories (and at least three) "gone" in one cycle is taken for an outage.
MASS_GONE_FRACTION = 0.5
MASS_GONE_MIN = 3


def _only(names: list[str]) -> str | None:
    return names[0] if names else None


def _quarantine_reason(mine: list[str]) -> str:
    if mine:
        return "default.json is not valid; the last good job is kept"
    return "default.json is not valid; no job until it is"


def _date(when: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(when))
