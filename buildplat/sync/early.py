"""Creating the jobs of new apps while the other repositories are still being fetched.

A cycle decides on the whole picture (:mod:`.reconcile`), but for one kind of action the picture needed is small
and known early: a repository whose app gets a job for the first time. The reconciler makes that a ``create``
exactly when

- its default.json is valid and names this team (it was parsed to be rendered),
- no item in the folder listing has that name (no current job, no unmanaged job, no job of another repository),
- no managed job in the listing came from this repository (else it is an update or a rename), and
- no repository before it in the platform config claims the same name (the first one in the config wins).

The first three are known as soon as the repository is fetched; the last one once every repository before it has
been fetched. Such a job is created straight away, ``sync.jenkins_concurrency`` at a time, so the writes of a first
sync (one per app) overlap the fetches instead of following them. The reconciler still decides everything later;
a create it also decides is not done twice (the cycle takes the outcome from here), and one it would not decide
(which the rules above rule out) is put right by the next cycle like any other job. Only ``sync`` does this:
``plan`` writes nothing.
"""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from buildplat.clients.jenkins import FolderListing, ItemExists, JenkinsClient
from buildplat.errors import ServiceError
from buildplat.jobs import marker
from buildplat.jobs.inputs import JobInputs
from buildplat.jobs.render import RenderedJob, Renderer
from buildplat.sync.apply import Applier, Outcome
from buildplat.sync.reconcile import Action

NEW_APP = "new app"  # the reconciler's reason for such a create


@dataclass
class _Candidate:
    index: int  # position in the platform config
    inputs: JobInputs
    job: RenderedJob | None = None  # once rendered


@dataclass
class EarlyCreates:
    """Fed by the gatherer as repositories arrive; submits the creates that are already certain."""

    jenkins: JenkinsClient
    folder: str
    team: str
    renderer: Renderer
    applier: Applier
    stop: threading.Event
    _names: set[str] = field(default_factory=set)  # every item name in the folder
    _sources: set[str] = field(default_factory=set)  # repository keys that have a managed job
    _claims: dict[str, int] = field(default_factory=dict)  # app name -> first config index that wants it
    _arrived: set[int] = field(default_factory=set)
    _frontier: int = 0  # every repository before this index has arrived
    _waiting: dict[int, _Candidate] = field(default_factory=dict)
    _futures: list[Future[Outcome]] = field(default_factory=list)
    _pool: ThreadPoolExecutor | None = None
    _ready: bool = False  # the folder is there (listed, or created here)
    folder_created: bool = False

    def start(self, listing: FolderListing | None) -> None:
        """Called once with the folder listing; makes the folder if there is none, so jobs can go in."""
        for entry in listing.jobs if listing else ():
            self._names.add(entry.name.casefold())  # Jenkins looks item names up ignoring case
            found = marker.parse(entry.description)
            if found is not None and found.repo_key is not None:
                self._sources.add(found.repo_key)
        if listing is None and not self.stop.is_set():
            folder = self.renderer.render_folder(self.team, self.folder)
            try:
                with contextlib.suppress(ItemExists):  # another seed job made it a moment ago
                    self.jenkins.create_item(None, self.folder, folder.xml)
            except ServiceError:
                return  # left to the cycle, which reports it; no early creates without a folder
            self.folder_created = True
        self._ready = True

    def arrived(self, index: int, key: str, inputs: JobInputs | None) -> None:
        """Repository ``index`` was fetched; ``inputs`` when its job needs writing and it names this team."""
        self._arrived.add(index)
        while self._frontier in self._arrived:
            self._frontier += 1
        if inputs is None:
            return
        name = inputs.job_name
        self._claims[name] = min(self._claims.get(name, index), index)
        if name.casefold() not in self._names and key not in self._sources:
            self._waiting[index] = _Candidate(index, inputs)

    def rendered(self, jobs: dict[tuple[str, str], RenderedJob], version: str) -> None:
        """Jobs rendered so far; creates every waiting candidate that is certain now."""
        if not self._ready:
            return
        for index in sorted(self._waiting):
            candidate = self._waiting[index]
            candidate.job = candidate.job or jobs.get(
                (candidate.inputs.job_name, candidate.inputs.fingerprint(version))
            )
            if candidate.job is None or index >= self._frontier:
                continue  # not rendered yet, or a repository before it may still claim its name
            del self._waiting[index]
            if self._claims[candidate.inputs.job_name] != index or self.stop.is_set():
                continue  # an earlier repository wants the name: the reconciler rejects this one
            self._submit(candidate)

    def _submit(self, candidate: _Candidate) -> None:
        assert candidate.job is not None
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.applier.concurrency, thread_name_prefix="jenkins-early")
        inputs = candidate.inputs
        action = Action("create", inputs.job_name, _key(inputs), NEW_APP, inputs=inputs)
        job = candidate.job
        self._futures.append(self._pool.submit(self.applier.apply_one, action, {job.name: job}, self.stop))

    def finish(self) -> dict[tuple[str, str], Outcome]:
        """Wait for the creates in flight: (job name, fingerprint) -> outcome, of those that were done. One that
        failed or was not started is left to the cycle, which tries it (and reports it) like any other write."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        done: dict[tuple[str, str], Outcome] = {}
        for future in self._futures:  # all finished: a second call gives the same answer
            outcome = future.result()
            if outcome.ok and outcome.written is not None:
                done[(str(outcome.action.job), outcome.written[0])] = outcome
        return done


def _key(inputs: JobInputs) -> str:
    return marker.repo_key(inputs.target.repo_url, inputs.target.branch)
