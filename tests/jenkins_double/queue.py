"""The build queue and builds.

``build`` / ``buildWithParameters`` schedule a queue item (201, ``Location: <root>/queue/item/N/``). Like Jenkins,
scheduling a job that already waits in the queue with the same parameters returns the waiting item. An item waits
for its quiet period (``delay`` parameter, else the double's ``quiet_period``; **0 s here, 5 s in a default
Jenkins**), then becomes a build: the item turns into a ``LeftItem`` whose ``executable`` names the build. Builds
finish at once with ``build_result`` unless ``hold_builds`` is set (then they run until ``finish_builds``). Left
items stay readable forever here (Jenkins forgets them after about five minutes).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from tests.jenkins_double.items import Item


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(eq=False)
class Build:
    job: Item
    number: int
    queue_id: int
    parameters: list[tuple[str, str]] | None
    started_by: str | None
    timestamp: int = field(default_factory=now_ms)
    result: str | None = None  # None while building
    duration: int = 0

    @property
    def building(self) -> bool:
        return self.result is None


@dataclass(eq=False)
class QueueItem:
    id: int
    job: Item
    parameters: list[tuple[str, str]] | None
    started_by: str | None
    buildable_at: float  # time.monotonic()
    in_queue_since: int = field(default_factory=now_ms)
    build: Build | None = None
    cancelled: bool = False

    @property
    def waiting(self) -> bool:
        return self.build is None and not self.cancelled


@dataclass
class Queue:
    quiet_period: float = 0.0
    hold_builds: bool = False
    build_result: str = "SUCCESS"
    next_id: int = 1
    items: dict[int, QueueItem] = field(default_factory=dict)

    def schedule(
        self, job: Item, *, delay: float | None, parameters: list[tuple[str, str]] | None, user: str | None
    ) -> QueueItem:
        for item in self.items.values():
            if item.waiting and item.job is job and item.parameters == parameters:
                return item
        wait = self.quiet_period if delay is None else delay
        item = QueueItem(self.next_id, job, parameters, user, time.monotonic() + wait)
        self.items[item.id] = item
        self.next_id += 1
        return item

    def waiting_for(self, job: Item) -> QueueItem | None:
        return next((item for item in self.items.values() if item.waiting and item.job is job), None)

    def cancel_job(self, job: Item) -> None:
        for item in self.items.values():
            if item.waiting and item.job is job:
                item.cancelled = True

    def process(self) -> None:
        """Start every item whose quiet period is over (called before each request is handled)."""
        moment = time.monotonic()
        for item in list(self.items.values()):
            if item.waiting and item.buildable_at <= moment and not item.job.disabled:
                self.start(item)

    def start(self, item: QueueItem) -> Build:
        job = item.job
        build = Build(job, job.next_build_number, item.id, item.parameters, item.started_by)
        job.next_build_number += 1
        job.builds.append(build)
        item.build = build
        if not self.hold_builds:
            build.result, build.duration = self.build_result, 1
        return build

    def finish_builds(self, result: str = "SUCCESS") -> list[Build]:
        finished = []
        for item in self.items.values():
            if item.build is not None and item.build.building:
                item.build.result = result
                item.build.duration = now_ms() - item.build.timestamp
                finished.append(item.build)
        return finished
