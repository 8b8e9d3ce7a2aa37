"""Running the seed job: building the engine from a platform config, and the loop that repeats cycles.

The loop stops cleanly through a stop flag (a :class:`threading.Event`): ``sync`` sets it on SIGTERM or SIGINT,
tests set it from another thread. A cycle that sees the flag finishes the requests in flight, starts no new ones,
records what was done, and returns; the next run finishes the work.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TextIO

from buildplat.clients.git import Mirrors
from buildplat.clients.jenkins import DEFAULT_BACKOFF, JenkinsClient
from buildplat.errors import BuildplatError
from buildplat.jobs.templates import TemplateSet, packaged_templates
from buildplat.spec.platform import PlatformConfig
from buildplat.sync.cycle import CycleReport, SyncEngine
from buildplat.sync.inventory import Fetched
from buildplat.sync.notify import Notifier
from buildplat.sync.report import action_line, summary_line
from buildplat.sync.state import StateStore

log = logging.getLogger("buildplat.sync")
STATE_FILE = "state.sqlite"


@contextmanager
def open_engine(
    config: PlatformConfig,
    *,
    templates: TemplateSet | None = None,
    backoff: tuple[float, ...] | None = None,
) -> Iterator[SyncEngine]:
    """The engine for ``config``: its Jenkins client (credentials read now), state store and mirrors."""
    user = config.jenkins.user.read("Jenkins user")
    token = config.jenkins.token.read("Jenkins API token")
    retry = backoff if backoff is not None else DEFAULT_BACKOFF
    jenkins = JenkinsClient(config.jenkins.url, user, token, concurrency=config.sync.jenkins_concurrency, backoff=retry)
    state = StateStore(config.sync.state_dir / STATE_FILE)
    try:
        yield SyncEngine(
            config,
            templates or packaged_templates(),
            jenkins=jenkins,
            state=state,
            mirrors=Mirrors(config.sync.state_dir / "mirrors"),
            notifier=Notifier(config.hubot, backoff=retry),
        )
    finally:
        state.close()


@dataclass
class SyncLoop:
    """Cycles every ``interval`` seconds (or once) until the stop flag is set."""

    engine: SyncEngine
    interval: float
    progress: TextIO | None = None  # a terminal: one line per repository as it is fetched
    on_cycle: Callable[[CycleReport | None], None] | None = None

    def run(self, stop: threading.Event, *, once: bool = False) -> int:
        """Returns 0 when the last cycle did all its work, 1 otherwise."""
        ok = False
        while not stop.is_set():
            report = self.cycle(stop)
            ok = report is not None and report.ok
            if self.on_cycle is not None:
                self.on_cycle(report)
            if once:
                break
            stop.wait(self.interval)
        return 0 if ok else 1

    def cycle(self, stop: threading.Event) -> CycleReport | None:
        team = self.engine.config.team
        try:
            report = self.engine.cycle(stop, on_fetched=self._fetched_line())
        except BuildplatError as exc:
            log.error("sync %s: cycle failed: %s%s", team, exc.message, f" ({exc.hint})" if exc.hint else "")
            return None
        for outcome in report.outcomes:
            log.info("%s", action_line(outcome.action, outcome))
        for action in report.actions:
            if action.kind in ("quarantine", "rejected", "conflict", "error"):
                log.warning("%s", action_line(action))
        for line in (*report.setup, *report.errors, *report.notices):
            log.info("sync %s: %s", team, line)
        log.info("%s", summary_line(team, report))
        return report

    def _fetched_line(self) -> Callable[[Fetched], None] | None:
        stream = self.progress
        if stream is None:
            return None
        total = len(self.engine.config.repositories)
        lock = threading.Lock()
        count = 0

        def line(item: Fetched) -> None:
            nonlocal count
            with lock:
                count += 1
                state = (
                    f"{item.status} {str(item.head)[:12]}" if item.status == "ok" else f"{item.status}: {item.error}"
                )
                stream.write(f"[{count}/{total}] {item.repo.url} ({item.repo.branch}): {state}\n")
                stream.flush()

        return line


def terminal_or_none() -> TextIO | None:
    return sys.stderr if sys.stderr.isatty() else None
