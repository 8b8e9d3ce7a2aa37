"""``buildplat images rollout``: every app of the plan onto the new base, in waves, resumable, announced once.

Apps go in waves: each wave takes at most ``per_team`` apps of every team (so no team gets all of its apps
changed at once while others wait), runs them on ``workers`` threads, and the rollout stops after the first wave
that brings the failures past ``max_failures``. Per app: a **rebase** (``rebase``: new tag
``<app version>-base-<base version>``, verified before it is tagged) or a **rebuild** (the app's Jenkins job is
queued; its pipeline builds on the base tag, so the target must have been promoted first). A failure the
registry or Jenkins may get over (5xx, timeouts) is retried, each attempt with the client's own retries.

Everything is recorded in ``rollout_state``: a rollout that is stopped (SIGTERM, Ctrl-C, a kill) resumes on the
next run without touching finished apps, and running a finished rollout again changes nothing. Each team is
told in its Hubot room in one message naming its apps, each with its old base version and digest, and the new one
(``announce``); every app is announced exactly once.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from buildplat.clients import oci
from buildplat.clients.oci import Manifest
from buildplat.errors import BuildplatError, ServiceError
from buildplat.images.announce import Announcer
from buildplat.images.plan import REBASE, REBUILD, Plan, PlanEntry
from buildplat.images.rebase import rebase
from buildplat.images.rollout_state import DONE, FAILED, RolloutState
from buildplat.stages import image_index

if TYPE_CHECKING:
    from buildplat.clients.registry import RegistryClient
    from buildplat.spec.platform import PlatformConfig


@dataclass(frozen=True)
class RolloutOptions:
    per_team: int = 5  # apps of one team per wave
    workers: int = 8
    max_failures: int = 3  # stop once more apps than this have failed
    attempts: int = 2  # per app and run, for failures worth retrying
    rebase_only: bool = False  # leave the apps that need a rebuild for later


@dataclass(frozen=True)
class Outcome:
    app: str
    action: str
    status: str  # "done", "failed", "skipped" (rebase-only), "not started" (stopped)
    detail: str
    tag: str | None = None
    digest: str | None = None
    retries: int = 0


@dataclass
class RolloutReport:
    rollout: str
    outcomes: list[Outcome] = field(default_factory=list)
    already_done: list[str] = field(default_factory=list)
    stopped: str | None = None  # why the rollout stopped early
    unannounced: list[str] = field(default_factory=list)  # apps whose team could not be told (retried next run)
    bytes_uploaded: int = 0
    uploaded_blobs: dict[str, int] = field(default_factory=dict)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == FAILED]

    @property
    def ok(self) -> bool:
        finished = all(o.status in (DONE, "skipped") for o in self.outcomes)
        return finished and self.stopped is None and not self.unannounced


def rollout_id(plan: Plan) -> str:
    return f"{plan.target.name.rsplit(':', 1)[0]}@{plan.target.digest}"


def waves(entries: list[PlanEntry], per_team: int) -> list[list[PlanEntry]]:
    by_team: dict[str, list[PlanEntry]] = {}
    for entry in entries:
        by_team.setdefault(entry.image.team, []).append(entry)
    out = []
    for start in range(0, max((len(v) for v in by_team.values()), default=0), per_team):
        out.append([e for team in sorted(by_team) for e in by_team[team][start : start + per_team]])
    return out


class Rollout:
    def __init__(
        self,
        plan: Plan,
        *,
        teams: Mapping[str, PlatformConfig],
        state: RolloutState,
        registry: Callable[[], RegistryClient],
        options: RolloutOptions,
        say: Callable[[str], None],
    ) -> None:
        self.plan, self.teams, self.state, self.options, self.say = plan, teams, state, options, say
        self.id = rollout_id(plan)
        self._new_client = registry
        self._local = threading.local()
        self._clients: list[RegistryClient] = []
        self._lock = threading.Lock()

    def run(self, stop: threading.Event) -> RolloutReport:
        target = self.plan.target
        report = RolloutReport(self.id)
        if not self.state.start(self.id, target.buildfact, target.version, target.digest):
            again = (
                "finished before; looking for apps that appeared since" if self.state.finished(self.id) else "resuming"
            )
            self.say(f"rollout: {again}: {self.id}")
        records = self.state.apps(self.id)
        on_target = {image.app: image for image in self.plan.up_to_date}
        for app, record in records.items():
            if record.status != DONE and app in on_target:  # stopped after its tag was written, before it was noted
                image = on_target[app]
                detail = f"found as {image.repository}:{image.tag} ({image.digest}): an earlier run did it"
                self.state.end(self.id, app, DONE, tag=image.tag, digest=image.digest, detail=detail)
                report.outcomes.append(Outcome(app, record.action, DONE, detail, image.tag, image.digest))
        announcer = Announcer(self.id, self.state, self.teams, self.say)
        todo = []
        for entry in self.plan.entries:
            if records.get(entry.app) is not None and records[entry.app].status == DONE:
                report.already_done.append(entry.app)
            elif entry.action == REBUILD and self.options.rebase_only:
                report.outcomes.append(Outcome(entry.app, REBUILD, "skipped", entry.reason))
            else:
                todo.append(entry)
        planned = waves(todo, self.options.per_team)
        last_wave = {entry.image.team: number for number, wave in enumerate(planned, start=1) for entry in wave}
        # Teams with nothing to do in this run hear now about apps an earlier run finished; the others once their
        # last wave is over (or when the run ends), so each team gets one message for all its apps.
        announcer.announce(only=set(self.teams) - set(last_wave))
        self._check_rebuilds([e for e in todo if e.action == REBUILD])
        try:
            for number, wave in enumerate(planned, start=1):
                if stop.is_set():
                    report.stopped = "stopped by a signal"
                if report.stopped:
                    report.outcomes += [Outcome(e.app, e.action, "not started", report.stopped) for e in wave]
                    continue
                self.say(f"rollout: wave {number}: {len(wave)} app(s)")
                with ThreadPoolExecutor(self.options.workers, thread_name_prefix="rollout") as pool:
                    results = list(pool.map(lambda entry: self._one(entry, stop), wave))
                report.outcomes += results
                announcer.announce(only={team for team, last in last_wave.items() if last == number})
                if len(report.failed) > self.options.max_failures:
                    report.stopped = (
                        f"{len(report.failed)} app(s) failed, more than --max-failures {self.options.max_failures}"
                    )
            announcer.announce()  # what a stopped run did, and anything left over
        finally:
            report.unannounced = announcer.unannounced
            for client in self._clients:
                report.bytes_uploaded += client.stats.bytes_uploaded
                report.uploaded_blobs.update(client.stats.uploaded)
                client.close()
        if report.ok:
            self.state.mark_finished(self.id)
        return report

    def _check_rebuilds(self, rebuilds: list[PlanEntry]) -> None:
        """A rebuild runs the app's pipeline, which builds on the team's base tag: that must be the target."""
        target = self.plan.target
        client = self._client()
        for team in sorted({e.image.team for e in rebuilds}):
            registry = self.teams[team].registry
            tag = registry.base_tag if registry else "stable"
            if client.manifest_digest(target.repository, tag) != target.digest:
                count = sum(e.image.team == team for e in rebuilds)
                raise BuildplatError(
                    f"{count} app(s) of {team} need a rebuild, and their pipelines build on "
                    f"{client.describe(target.repository, tag)}, which is not {target.version}",
                    hint=f"promote it first (buildplat images promote {target.buildfact} {target.version}), "
                    "or run with --rebase-only to rebase the others now",
                )

    def _one(self, entry: PlanEntry, stop: threading.Event) -> Outcome:
        if stop.is_set():
            return Outcome(entry.app, entry.action, "not started", "stopped by a signal")
        self.state.begin(self.id, entry.app, entry.image.team, entry.action, self._notice(entry))
        client = self._client()
        retries_before = client.stats.retries
        for attempt in range(1, self.options.attempts + 1):
            try:
                tag, digest, detail = self._rebase(client, entry) if entry.action == REBASE else self._rebuild(entry)
                break
            except BuildplatError as exc:
                again = isinstance(exc, ServiceError) and exc.retryable and attempt < self.options.attempts
                if not again:
                    retries = client.stats.retries - retries_before + attempt - 1
                    self.state.end(self.id, entry.app, FAILED, detail=str(exc))
                    self.say(f"rollout: {entry.app}: failed: {exc}")
                    return Outcome(entry.app, entry.action, FAILED, str(exc), retries=retries)
                self.say(f"rollout: {entry.app}: attempt {attempt} failed ({exc}); trying again")
        retries = client.stats.retries - retries_before + attempt - 1
        if retries:
            detail += f" (after {retries} retr{'y' if retries == 1 else 'ies'})"
        self.state.end(self.id, entry.app, DONE, tag=tag, digest=digest, detail=detail)
        self.say(f"rollout: {entry.app}: {detail}")
        return Outcome(entry.app, entry.action, DONE, detail, tag, digest, retries)

    def _rebase(self, client: RegistryClient, entry: PlanEntry) -> tuple[str | None, str | None, str]:
        assert entry.material is not None
        image = entry.image
        done = rebase(client, entry.material, self.plan.target, image.repository, entry.new_tag,
                      tag_free=entry.new_tag_free)  # fmt: skip
        labels = (done.config.get("config") or {}).get("Labels") or {}
        try:
            manifest = Manifest(done.manifest, done.digest, oci.OCI_MANIFEST)
            image_index.record_image(client, image.repository, done.tag, done.digest, labels, manifest=manifest)
        except BuildplatError as exc:
            self.say(f"rollout: {image.app}: warning: its image index was not updated: {exc}")
        return done.tag, done.digest, f"rebased {image.repository}:{image.tag} as {done.tag} ({done.digest})"

    def _rebuild(self, entry: PlanEntry) -> tuple[str | None, str | None, str]:
        from buildplat.clients.jenkins import JenkinsClient

        config = self.teams[entry.image.team].jenkins
        name = entry.app.split("/", 1)[1]
        jenkins = JenkinsClient(config.url, config.user.read("Jenkins user"), config.token.read("Jenkins API token"))
        queued = jenkins.build_job(config.folder, name, {})
        return None, None, f"rebuild of {config.folder}/{name} queued ({queued or 'no queue item named'})"

    def _notice(self, entry: PlanEntry) -> str | None:
        """The base-image notification for the app's team (deploy/hubot/README.md), as JSON; None: nothing to say."""
        if not entry.image.base_digest:
            return None
        target = self.plan.target
        notice: dict[str, Any] = {
            "event": "base-image",
            "app": entry.app,
            "buildfact": target.buildfact,
            "old": {"version": entry.base_version or "untagged", "digest": entry.image.base_digest},
            "new": {"version": target.version, "digest": target.digest},
        }
        if entry.action == REBASE:
            notice["tag"] = entry.new_tag
        return json.dumps(notice, sort_keys=True)

    def _client(self) -> RegistryClient:
        client: RegistryClient | None = getattr(self._local, "client", None)
        if client is None:
            client = self._new_client()
            self._local.client = client
            with self._lock:
                self._clients.append(client)
        return client
