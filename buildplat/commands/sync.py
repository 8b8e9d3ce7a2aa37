"""Keep the team's Jenkins in line with its application repositories (what the team's seed job runs).

Each cycle fetches every repository listed in the platform config (bare mirrors, no checkout), reads default.json
at the branch head, validates it and checks its namespace is this team's, makes sure Jenkins has the plugins and
tools the team's buildfacts need, and creates or updates only the jobs whose inputs changed; jobs edited in the
UI are put back, jobs of repositories that went away are disabled and, after the grace period, deleted (unless
most repositories "went away" in the same cycle: that is taken for a credentials or server problem and every job is
kept), and an invalid default.json keeps the last good job and is announced once in the team's Hubot room.
Exit status with --once: 0 when the cycle did all its work (an invalid default.json or a rejected repository is
reported, not a failure), 1 when something failed: a repository could not be fetched (or is configured but does
not exist, and has no job to disable, or most repositories answered "not found" at once), Jenkins refused a change
(it is retried next cycle). On a terminal each
repository gets a progress line; every cycle logs one summary line. SIGTERM or SIGINT stops after the requests in
flight (exit status 0 with --interval); a second one stops at once (128 + the signal's number).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from buildplat.errors import UsageError

HELP = "create and update the team's Jenkins jobs from its repositories (the seed job)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, metavar="FILE", help="the team's platform config")
    when = parser.add_mutually_exclusive_group()
    when.add_argument("--once", action="store_true", help="run one cycle and exit")
    when.add_argument(
        "--interval",
        type=float,
        metavar="S",
        help="seconds between cycles (default: sync.interval_seconds of the platform config)",
    )


def run(args: argparse.Namespace) -> int:
    from buildplat.errors import BuildplatError
    from buildplat.spec.platform import load_platform_file
    from buildplat.sync.runner import SyncLoop, log, open_engine, terminal_or_none

    if args.interval is not None and args.interval <= 0:
        raise UsageError(f"--interval must be positive, not {args.interval:g}")
    path = Path(args.config)
    config = load_platform_file(path)  # a bad config at start is the caller's error: exit 1 with every problem
    _log_to_stderr()
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        if stop.is_set():
            # A second signal: a git server that hangs would hold the first one for the fetch timeout. Leaving now
            # is safe: the state is written in transactions and mirrors are renamed into place whole.
            sys.stderr.write("buildplat: stopping at once; the next run finishes the work\n")
            sys.stderr.flush()
            os._exit(128 + signum)
        stop.set()
        log.info("sync: stopping after the requests in flight (a second signal stops at once)")

    def cycles() -> int:
        nonlocal config
        while True:
            with open_engine(config) as engine:
                interval = args.interval if args.interval is not None else float(config.sync.interval_seconds)
                code = SyncLoop(engine, interval, progress=terminal_or_none()).run(stop, once=True)
            if args.once or stop.wait(interval):
                return code if args.once else 0
            try:
                # Read again before every cycle, so a repository added to the config needs no restart.
                config = load_platform_file(path)
            except BuildplatError as exc:
                log.error("sync: %s is not usable, keeping the previous config: %s", path, exc.message)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        return _in_worker(cycles)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _in_worker(work: Callable[[], int]) -> int:
    """Run ``work`` in a thread while this (the main) thread waits in short steps.

    Python runs signal handlers in the main thread only, and the kernel may hand a signal to any thread: one that
    lands on a git or HTTP worker waits for the main thread to come back to Python. A main thread blocked on a
    lock until a hung fetch ends would leave SIGTERM unanswered for minutes; one that wakes every 0.2 s answers it
    within 0.2 s.
    """
    result: list[int] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            result.append(work())
        except BaseException as exc:  # handed to the main thread, which reports it as any command would
            failure.append(exc)

    worker = threading.Thread(target=target, name="sync")
    worker.start()
    while worker.is_alive():
        worker.join(0.2)
    if failure:
        raise failure[0]
    return result[0]


class _Stderr(logging.Handler):
    """Writes to whatever sys.stderr is at the time (tests swap it), one line per record."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:
            self.handleError(record)


def _log_to_stderr() -> None:
    """Our own logger, once per process; the root logger (where jenkins-job-builder chatters) is left alone."""
    logger = logging.getLogger("buildplat")
    if not any(isinstance(h, _Stderr) for h in logger.handlers):
        handler = _Stderr()
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
