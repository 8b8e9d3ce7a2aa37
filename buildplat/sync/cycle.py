"""One reconciliation cycle of the seed job: list, fetch, decide, check for UI edits, write, announce, remember.

``sync`` runs :meth:`SyncEngine.cycle`; ``plan`` runs the same with ``dry_run=True``, which stops before the
first write and adds a diff to every update. Requests to Jenkins in a cycle where nothing changed: one folder
listing, plus the few config.xml reads of the UI-edit check.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from buildplat.clients.git import Mirrors
from buildplat.clients.jenkins import FolderListing, ItemExists, JenkinsClient
from buildplat.errors import ServiceError
from buildplat.jobs import marker
from buildplat.jobs.compare import config_diff, description_of
from buildplat.jobs.inputs import Credentials, JobInputs, JobTarget, folder_fingerprint
from buildplat.jobs.render import RenderedJob, Renderer
from buildplat.jobs.templates import TemplateSet
from buildplat.spec.platform import PlatformConfig
from buildplat.sync import audit
from buildplat.sync.apply import Applier, Outcome
from buildplat.sync.early import EarlyCreates
from buildplat.sync.gather import Gatherer, parse_fetched
from buildplat.sync.inventory import Fetched, Inventory
from buildplat.sync.jenkins_setup import prepare_jenkins
from buildplat.sync.notify import ConfigNotice, Notifier, problems_digest
from buildplat.sync.reconcile import WRITES, Action, Parsed, Reconciler
from buildplat.sync.state import StateStore


@dataclass
class CycleReport:
    actions: list[Action]
    outcomes: list[Outcome] = field(default_factory=list)
    folder: str | None = None  # "create" / "update" when the team folder needs it
    setup: tuple[str, ...] = ()
    notices: list[str] = field(default_factory=list)  # problems sending notifications
    errors: list[str] = field(default_factory=list)  # cycle-level failures (folder, plugins, tools)
    requests: int = 0
    writes: int = 0
    seconds: float = 0.0
    git_seconds: float = 0.0
    stopped: bool = False

    @property
    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]

    @property
    def ok(self) -> bool:
        failed = self.failures or self.errors or any(a.kind == "error" for a in self.actions)
        return not failed and not self.stopped


class SyncEngine:
    def __init__(
        self,
        config: PlatformConfig,
        templates: TemplateSet,
        *,
        jenkins: JenkinsClient,
        state: StateStore,
        mirrors: Mirrors,
        notifier: Notifier,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.folder = config.jenkins.folder
        self.templates = templates
        self.jenkins = jenkins
        self.state = state
        self.inventory = Inventory(mirrors, config.sync.git_concurrency)
        self.renderer = Renderer(templates)
        self.applier = Applier(jenkins, self.folder, self.renderer, config.sync.jenkins_concurrency)
        self.notifier = notifier
        self.clock = clock
        self.credentials = Credentials.from_platform(config)

    def target_for(self, fetched: Fetched) -> JobTarget:
        return JobTarget.from_platform(self.config, fetched.repo.url, fetched.repo.branch, self.credentials)

    def cycle(
        self, stop: threading.Event, *, dry_run: bool = False, on_fetched: Callable[[Fetched], None] | None = None
    ) -> CycleReport:
        started = time.monotonic()
        requests, writes = self.jenkins.requests, self.jenkins.writes
        memory = self.state.repos()
        parsed: dict[str, Parsed] = {}

        def parse(item: Fetched) -> Parsed:
            if item.key not in parsed:
                parsed[item.key] = parse_fetched(self.inventory, item)
            return parsed[item.key]

        gatherer = Gatherer(
            self.jenkins, self.folder, self.config.team, self.inventory, self.renderer, self.target_for, parse
        )
        early = None
        if not dry_run:
            early = EarlyCreates(self.jenkins, self.folder, self.config.team, self.renderer, self.applier, stop)
        try:
            gathered = gatherer.gather(self.config.repositories, memory, stop, on_fetched, early)
            listing, fetched = gathered.listing, gathered.fetched
            reconciler = Reconciler(
                team=self.config.team,
                templates_version=self.templates.version,
                target_for=self.target_for,
                parse=parse,
                grace_seconds=self.config.sync.delete_grace_seconds,
                now=self.clock(),
                previous_source={key: known.source_sha for key, known in memory.items()},
            )
            actions = reconciler.plan(fetched, listing)
            by_key = {item.key: item for item in fetched}
            jobs_memory = self.state.jobs()
            limit = None if dry_run else audit.budget(self.config.sync.drift_checks_per_cycle, len(actions))
            checked = audit.audit(
                actions,
                audit.choose(actions, jobs_memory, limit),
                jenkins=self.jenkins,
                folder=self.folder,
                renderer=self.renderer,
                memory=jobs_memory,
                inputs_for=lambda a: self._inputs(by_key[str(a.repo)], parse) if a.repo in by_key else None,
                disabled={job.name for job in listing.jobs if job.disabled} if listing else set(),
                concurrency=self.config.sync.jenkins_concurrency,
            )
            report = CycleReport(checked.actions, git_seconds=gathered.git_seconds, folder=self._folder_change(listing))
            done_early = early.finish() if early is not None else {}
            if dry_run or stop.is_set():
                report.stopped = stop.is_set()
                report.outcomes = list(done_early.values())
                if dry_run:
                    self._add_diffs(report, checked.stored, gathered.rendered)
                return self._finish(report, started, requests, writes)
            facts = self._facts(fetched, parse)
            try:
                if early is None or not early.folder_created:
                    self._ensure_folder(report)
                if facts:
                    setup = prepare_jenkins(self.jenkins, self.state, set().union(*facts.values()), now=self.clock())
                    report.setup = setup.done
                    report.errors.extend(setup.problems)
            except ServiceError as exc:
                # Jobs are still tried: a failed plugin request must not hold back every job; a missing folder makes
                # each create fail on its own, and the next cycle tries again.
                report.errors.append(exc.message + (f" ({exc.hint})" if exc.hint else ""))
            version = self.templates.version
            todo = [
                a
                for a in report.actions
                if a.kind in WRITES
                and not (a.kind == "create" and a.inputs and (a.job, a.inputs.fingerprint(version)) in done_early)
            ]
            applied = self.applier.apply(todo, self.applier.render(todo, gathered.rendered), stop)
            report.outcomes = [*done_early.values(), *applied]
            report.stopped = stop.is_set()
            now = self.clock()
            self._notify(report, by_key)
            self.state.remember_heads(
                (item.key, str(item.head), str(item.source_sha), facts.get(item.key))
                for item in fetched
                if item.status == "ok"
            )
            self.state.forget_repos(set(by_key))
            self.state.mark_checked(checked.checked, now)
            self.state.mark_written(
                ((str(o.action.job), *o.written) for o in report.outcomes if o.ok and o.written), now
            )
            self.state.forget_jobs(  # deleted jobs, and the old names of renamed ones
                str(o.action.renamed_from if o.action.kind == "rename" else o.action.job)
                for o in report.outcomes
                if o.ok and o.action.kind in ("delete", "rename")
            )
            self.inventory.mirrors.prune({(repo.url, repo.branch) for repo in self.config.repositories})
            return self._finish(report, started, requests, writes)
        finally:
            if early is not None:
                early.finish()  # never leave creates running behind a failed cycle

    def _finish(self, report: CycleReport, started: float, requests: int, writes: int) -> CycleReport:
        report.requests = self.jenkins.requests - requests
        report.writes = self.jenkins.writes - writes
        report.seconds = time.monotonic() - started
        return report

    def _inputs(self, item: Fetched, parse: Callable[[Fetched], Parsed]) -> JobInputs | None:
        parsed = parse(item)
        if parsed.app is None or parsed.source is None:
            return None
        return JobInputs(parsed.app, parsed.source, self.target_for(item))

    def _facts(self, fetched: list[Fetched], parse: Callable[[Fetched], Parsed]) -> dict[str, tuple[str, ...]]:
        """Each repository's buildfacts: remembered for an unchanged default.json, else parsed (last good kept)."""
        memory = self.state.repos()
        facts: dict[str, tuple[str, ...]] = {}
        for item in fetched:
            known = memory.get(item.key)
            if known and known.facts and known.source_sha == item.source_sha:
                facts[item.key] = known.facts
                continue
            if item.status == "ok":
                result = parse(item)
                if result.app is not None and result.app.namespace == self.config.team:
                    facts[item.key] = result.app.buildfacts
                    continue
            if known and known.facts:
                facts[item.key] = known.facts
        return facts

    def _folder_change(self, listing: FolderListing | None) -> str | None:
        if listing is None:
            return "create"
        found = marker.parse(listing.description)
        wanted = folder_fingerprint(self.config.team, self.folder, self.templates.version)
        if found is not None and found.repo is None and found.fingerprint != wanted:
            return "update"
        return None  # current, or made by someone else (then it is theirs: we only put jobs in it)

    def _ensure_folder(self, report: CycleReport) -> None:
        if report.folder is None:
            return
        folder = self.renderer.render_folder(self.config.team, self.folder)
        if report.folder == "create":
            # ItemExists: another seed job made it a moment ago.
            with contextlib.suppress(ItemExists):
                self.jenkins.create_item(None, self.folder, folder.xml)
        else:
            # Only the description (our marker): a folder holds what the team set up in it (folder credentials,
            # views, shared libraries), which a whole config.xml would wipe.
            self.jenkins.set_description(None, self.folder, description_of(folder.xml) or "")

    def _add_diffs(
        self, report: CycleReport, stored: dict[str, str], cache: dict[tuple[str, str], RenderedJob]
    ) -> None:
        updates = [a for a in report.actions if a.kind in ("update", "rename") and a.inputs is not None and a.job]
        rendered = self.applier.render(updates, cache)
        result = []
        for action in report.actions:
            name = str(action.job)
            if action.kind in ("update", "rename") and name in rendered:
                was = action.renamed_from or name
                current = stored.get(was) or self.jenkins.get_config(self.folder, was) or ""
                diff = config_diff(current, rendered[name].xml, f"{self.folder}/{name}") if current else None
                result.append(replace(action, diff=diff))
            else:
                result.append(action)
        report.actions = result

    def _notify(self, report: CycleReport, by_key: dict[str, Fetched]) -> None:
        repos = self.state.repos()
        for action in report.actions:
            key = action.repo
            if key is None or key not in by_key:
                continue
            known = repos.get(key)
            if action.problems:
                digest = problems_digest(action.problems)
                if known is not None and known.notified == digest:
                    continue
                item = by_key[key]
                app = f"{self.config.team}/{action.job}" if action.job else None
                failed = self.notifier.send(ConfigNotice(item.repo.url, item.repo.branch, app, action.problems))
                if failed:
                    report.notices.append(f"{key}: {failed}")
                else:
                    self.state.set_notified(key, digest)
            elif action.kind in ("create", "rename", "update", "unchanged") and known is not None and known.notified:
                self.state.set_notified(key, None)
