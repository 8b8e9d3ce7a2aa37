"""The first half of a cycle: list the folder, fetch every repository, and render what changed, all at once.

The folder listing is requested while the fetches start, and each repository is looked at as soon as its fetch
ends: if no live job carries its fingerprint, its default.json is parsed and its job rendered (in batches) while
the other fetches go on. So a first sync renders 500 jobs in the time it waits for git anyway, and a sync where
nothing changed only compares digests. The decisions themselves are still taken later, on the whole picture,
except for the creates that are certain already (:mod:`.early`), which sync makes while the fetches go on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from buildplat.clients.jenkins import FolderListing, JenkinsClient
from buildplat.jobs import marker
from buildplat.jobs.inputs import JobInputs, JobTarget, fingerprint
from buildplat.jobs.render import RenderedJob, Renderer
from buildplat.spec.model import check_app_bytes, format_problem, from_document
from buildplat.spec.platform import Repository
from buildplat.sync.early import EarlyCreates
from buildplat.sync.inventory import MISSING, Fetched, Inventory
from buildplat.sync.reconcile import Parsed
from buildplat.sync.state import RepoMemory

RENDER_BATCH = 32  # jobs rendered per call while fetches go on: big enough to spread the per-call cost


@dataclass
class Gathered:
    listing: FolderListing | None
    fetched: list[Fetched]  # in configuration order
    git_seconds: float
    rendered: dict[tuple[str, str], RenderedJob] = field(default_factory=dict)  # (job, fingerprint) -> job


def parse_fetched(inventory: Inventory, item: Fetched) -> Parsed:
    """default.json of a fetched repository, validated; problems in the `validate` format."""
    if item.source_sha == MISSING:
        problem = f"default.json: error: no default.json at the head of branch {item.repo.branch} ({item.head})"
        return Parsed(None, None, (problem,))
    source = inventory.source(item)
    if source is None:
        return Parsed(None, None, ("default.json: error: cannot be read from the mirror",))
    checked = check_app_bytes(source, "default.json")
    if not checked.ok:
        return Parsed(None, source, tuple(format_problem(p) for p in checked.problems))
    return Parsed(from_document(checked.value), source)


@dataclass
class Gatherer:
    jenkins: JenkinsClient
    folder: str
    team: str
    inventory: Inventory
    renderer: Renderer
    target_for: Callable[[Fetched], JobTarget]
    parse: Callable[[Fetched], Parsed]

    def gather(
        self,
        repos: tuple[Repository, ...],
        memory: dict[str, RepoMemory],
        stop: threading.Event,
        on_fetched: Callable[[Fetched], None] | None = None,
        early: EarlyCreates | None = None,
    ) -> Gathered:
        version = self.renderer.templates.version
        results: dict[int, Fetched] = {}
        pending: list[JobInputs] = []
        rendered: dict[tuple[str, str], RenderedJob] = {}
        current: set[tuple[str, str]] | None = None  # (repository key, fingerprint) of every live managed job
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="jenkins-listing") as lister:
            listing_future = lister.submit(self.jenkins.folder, self.folder)
            for index, item in self.inventory.fetch_iter(repos, memory, stop):
                results[index] = item
                if on_fetched is not None:
                    on_fetched(item)
                if current is None:
                    current = _live_fingerprints(listing_future.result())
                    if early is not None:
                        early.start(listing_future.result())
                inputs = self._changed(item, current, version)
                if inputs is not None:
                    pending.append(inputs)
                if early is not None:
                    early.arrived(index, item.key, inputs)
                if len(pending) >= RENDER_BATCH:
                    rendered.update(_keyed(self.renderer.render_jobs(pending)))
                    pending.clear()
                    if early is not None:
                        early.rendered(rendered, version)
            git_seconds = time.monotonic() - started
            listing = listing_future.result()
        if early is not None and pending:
            rendered.update(_keyed(self.renderer.render_jobs(pending)))
            early.rendered(rendered, version)
        return Gathered(listing, [results[i] for i in range(len(repos))], git_seconds, rendered)

    def _changed(self, item: Fetched, current: set[tuple[str, str]], version: str) -> JobInputs | None:
        """The inputs of ``item``'s job if it will need writing (new or changed) and can be rendered."""
        if not item.has_source or item.source_sha is None:
            return None
        target = self.target_for(item)
        if (item.key, fingerprint(item.source_sha, target, version)) in current:
            return None
        parsed = self.parse(item)
        if parsed.app is None or parsed.source is None or parsed.app.namespace != self.team:
            return None
        return JobInputs(parsed.app, parsed.source, target)


def _live_fingerprints(listing: FolderListing | None) -> set[tuple[str, str]]:
    found = set()
    for job in listing.jobs if listing else ():
        parsed = marker.parse(job.description)
        if parsed is not None and parsed.repo_key and parsed.orphaned_since is None:
            found.add((parsed.repo_key, parsed.fingerprint))
    return found


def _keyed(jobs: list[RenderedJob]) -> dict[tuple[str, str], RenderedJob]:
    return {(job.name, job.fingerprint): job for job in jobs}
