"""The team's repositories this cycle: fetched into bare mirrors, default.json located at each branch head.

Fetches run ``sync.git_concurrency`` at a time. A repository whose head has not moved since the last cycle is not
read again: its default.json digest comes from the state store, and the bytes are read from the mirror only if
the job has to be rendered.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Literal

from buildplat.clients.git import Mirrors, RepoGone
from buildplat.errors import ServiceError
from buildplat.jobs.inputs import source_digest
from buildplat.jobs.marker import repo_key
from buildplat.spec.platform import Repository
from buildplat.sync.state import RepoMemory

APP_FILE = "default.json"
MISSING = "missing"  # the source digest of a branch head without a default.json

Status = Literal["ok", "gone", "unreachable", "skipped"]


@dataclass(frozen=True)
class Fetched:
    """One configured repository after the fetch."""

    repo: Repository
    status: Status
    head: str | None = None
    source_sha: str | None = None  # digest of default.json at the head; MISSING if there is none
    source: bytes | None = None  # the bytes, when they were read this cycle
    error: str | None = None

    @property
    def key(self) -> str:
        return repo_key(self.repo.url, self.repo.branch)

    @property
    def has_source(self) -> bool:
        return self.status == "ok" and self.source_sha != MISSING


class Inventory:
    def __init__(self, mirrors: Mirrors, concurrency: int) -> None:
        self.mirrors = mirrors
        self.concurrency = concurrency

    def fetch_iter(
        self, repos: tuple[Repository, ...], memory: dict[str, RepoMemory], stop: threading.Event
    ) -> Iterator[tuple[int, Fetched]]:
        """Fetch every repository; yields (index in ``repos``, result) as each fetch finishes, so the caller can
        work on what has arrived (parse, render) while the rest is still being fetched."""
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="git") as pool:
            futures = {pool.submit(self._fetch, repo, memory, stop): index for index, repo in enumerate(repos)}
            try:
                for future in as_completed(futures):
                    yield futures[future], future.result()
            finally:
                for future in futures:
                    future.cancel()  # the caller gave up (an error): do not start the others

    def _fetch(self, repo: Repository, memory: dict[str, RepoMemory], stop: threading.Event) -> Fetched:
        if stop.is_set():
            return Fetched(repo, "skipped", error="stopped before it was fetched")
        try:
            head = self.mirrors.fetch(repo.url, repo.branch)
            known = memory.get(repo_key(repo.url, repo.branch))
            if known is not None and known.head == head and known.source_sha:
                return Fetched(repo, "ok", head, known.source_sha)
            found = self.mirrors.read(repo.url, repo.branch, head, APP_FILE)
        except RepoGone as exc:
            return Fetched(repo, "gone", error=exc.message)
        except ServiceError as exc:
            return Fetched(repo, "unreachable", error=exc.message)
        if found.content is None:
            return Fetched(repo, "ok", head, MISSING)
        return Fetched(repo, "ok", head, source_digest(found.content), found.content)

    def source(self, fetched: Fetched) -> bytes | None:
        """default.json's bytes at the fetched head (read from the mirror if they were not read this cycle)."""
        if fetched.source is not None or not fetched.has_source:
            return fetched.source
        assert fetched.head is not None
        return self.mirrors.read(fetched.repo.url, fetched.repo.branch, fetched.head, APP_FILE).content
