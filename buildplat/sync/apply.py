"""Carrying out the writes of a plan against Jenkins, ``sync.jenkins_concurrency`` at a time.

Every action is independent and idempotent, so a failure half-way (or a kill) leaves Jenkins with some jobs done
and some not; the next cycle's listing shows which, and does the rest. Races with a second seed job end the same
way: a create that finds the name taken reads the job, and if it carries our fingerprint, there is nothing to do.
"""

from __future__ import annotations

import dataclasses
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from buildplat.clients.jenkins import ItemExists, ItemMissing, JenkinsClient
from buildplat.errors import ServiceError
from buildplat.jobs import marker
from buildplat.jobs.compare import config_digest, description_of, with_description, with_disabled
from buildplat.jobs.render import RenderedJob, Renderer
from buildplat.sync.reconcile import RENDERED, Action


@dataclass(frozen=True)
class Outcome:
    action: Action
    ok: bool
    detail: str = ""  # why it failed, or a note ("another seed job had done it")
    written: tuple[str, str] | None = None  # (fingerprint, canonical digest) of a job config we wrote

    @property
    def skipped(self) -> bool:
        return not self.ok and self.detail == STOPPED


STOPPED = "not done: sync is stopping"


class Applier:
    def __init__(self, jenkins: JenkinsClient, folder: str, renderer: Renderer, concurrency: int) -> None:
        self.jenkins = jenkins
        self.folder = folder
        self.renderer = renderer
        self.concurrency = concurrency

    def render(
        self, actions: list[Action], cache: dict[tuple[str, str], RenderedJob] | None = None
    ) -> dict[str, RenderedJob]:
        """The config of every create and update (from ``cache`` when rendered already); paused jobs stay paused."""
        version = self.renderer.templates.version
        known = cache or {}
        todo = [a for a in actions if a.kind in RENDERED and a.inputs is not None]
        missing = [
            a.inputs
            for a in todo
            if a.inputs is not None and (a.inputs.job_name, a.inputs.fingerprint(version)) not in known
        ]
        fresh = {(job.name, job.fingerprint): job for job in self.renderer.render_jobs(missing)}
        result: dict[str, RenderedJob] = {}
        for action in todo:
            assert action.inputs is not None
            key = (action.inputs.job_name, action.inputs.fingerprint(version))
            job = known.get(key) or fresh[key]
            paused = dataclasses.replace(job, xml=with_disabled(job.xml, True))
            result[job.name] = paused if action.keep_disabled else job
        return result

    def apply(self, actions: list[Action], rendered: dict[str, RenderedJob], stop: threading.Event) -> list[Outcome]:
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="jenkins") as pool:
            return list(pool.map(lambda action: self.apply_one(action, rendered, stop), actions))

    def apply_one(self, action: Action, rendered: dict[str, RenderedJob], stop: threading.Event) -> Outcome:
        """One write; a failure (or the stop flag) is an outcome, never an exception."""
        if stop.is_set():
            return Outcome(action, False, STOPPED)
        try:
            return self._one(action, rendered)
        except ServiceError as exc:
            return Outcome(action, False, exc.message)

    def _one(self, action: Action, rendered: dict[str, RenderedJob]) -> Outcome:
        assert action.job is not None
        name = action.job
        if action.kind == "delete":
            self.jenkins.delete_item(self.folder, name)
            return Outcome(action, True)
        if action.kind == "disable":
            return self._disable(action, name)
        job = rendered[name]
        written = (job.fingerprint, job.digest or config_digest(job.xml))
        if action.kind == "create":
            return self._create(action, job, written)
        if action.kind == "rename":
            assert action.renamed_from is not None
            try:
                # Jenkins moves the job's directory (builds, workspace links, next build number) to the new name;
                # a kill right after leaves a job under the new name with the old config, which the next cycle
                # updates like any other.
                self.jenkins.rename_item(self.folder, action.renamed_from, name)
            except ItemMissing:  # deleted by hand (or renamed by a second seed job) since the listing
                return self._create(action, job, written)
            except ItemExists:  # the new name was taken since the listing: theirs, or ours from a second seed job
                return self._taken(action, job, written)
        try:
            self.jenkins.update_item(self.folder, name, job.xml)
        except ItemMissing:  # deleted by hand since the listing
            self.jenkins.create_item(self.folder, name, job.xml)
        return Outcome(action, True, written=written)

    def _create(self, action: Action, job: RenderedJob, written: tuple[str, str]) -> Outcome:
        try:
            self.jenkins.create_item(self.folder, job.name, job.xml)
        except ItemExists:
            return self._taken(action, job, written)
        return Outcome(action, True, written=written)

    def _taken(self, action: Action, job: RenderedJob, written: tuple[str, str]) -> Outcome:
        stored = self.jenkins.get_config(self.folder, job.name)
        found = marker.parse(description_of(stored)) if stored is not None else None
        if found is None:
            return Outcome(action, False, "a job of that name appeared and is not managed by buildplat; left alone")
        if found.fingerprint == job.fingerprint:
            return Outcome(action, True, "another seed job had created it", written=written)
        self.jenkins.update_item(self.folder, job.name, job.xml)
        return Outcome(action, True, "another seed job had created it; updated", written=written)

    def _disable(self, action: Action, name: str) -> Outcome:
        stored = self.jenkins.get_config(self.folder, name)
        if stored is None:
            return Outcome(action, True, "already gone")
        description = description_of(stored) or ""
        assert action.orphaned_since is not None
        changed = with_description(stored, marker.with_orphaned(description, action.orphaned_since), disabled=True)
        self.jenkins.update_item(self.folder, name, changed)
        return Outcome(action, True)
