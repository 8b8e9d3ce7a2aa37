"""What a rollout has done, in SQLite, so a rollout that was stopped or killed resumes where it was.

One row per (rollout, app): the action, ``running`` while an attempt is under way, then ``done`` or ``failed``
with the tag and digest or the error, how many attempts it took, and whether the team was told. A rollout is
identified by the base repository and the target digest, so running the same rollout again finds its rows: apps
that are ``done`` are not touched again, and a ``done`` app whose notification did not go out is announced
(once). Every change is one short transaction; the registry never depends on this file (tags only ever name
verified images), so losing it costs a re-check, never a wrong tag.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from buildplat.errors import BuildplatError

FILE_NAME = "rollouts.sqlite"
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS rollouts (id TEXT PRIMARY KEY, buildfact TEXT NOT NULL, version TEXT NOT NULL, "
    "digest TEXT NOT NULL, started REAL NOT NULL, finished REAL)",
    "CREATE TABLE IF NOT EXISTS apps (rollout TEXT NOT NULL, app TEXT NOT NULL, team TEXT NOT NULL, "
    "action TEXT NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, tag TEXT, digest TEXT, "
    "detail TEXT, notice TEXT, notified INTEGER NOT NULL DEFAULT 0, updated REAL NOT NULL, "
    "PRIMARY KEY (rollout, app))",
)
RUNNING, DONE, FAILED = "running", "done", "failed"


@dataclass(frozen=True)
class AppRecord:
    app: str
    team: str
    action: str
    status: str
    attempts: int
    tag: str | None
    digest: str | None
    detail: str | None
    notice: str | None  # the notification to send (JSON), once the app is done
    notified: bool


class RolloutState:
    """The state file of one App Eng workstation or CI job; safe to use from the rollout's worker threads."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / FILE_NAME
        self._lock = threading.Lock()
        try:
            directory.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # WAL: a crash loses no committed step, only power loss may
            with self._transaction() as db:
                for statement in _SCHEMA:
                    db.execute(statement)
        except (OSError, sqlite3.Error) as exc:
            raise BuildplatError(
                f"cannot open the rollout state {self.path}: {exc}",
                hint="--state-dir must name a writable directory",
            ) from exc

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def start(self, rollout: str, buildfact: str, version: str, digest: str) -> bool:
        """Record the rollout; False when it was started before (this run resumes it)."""
        with self._transaction() as db:
            inserted = db.execute(
                "INSERT OR IGNORE INTO rollouts (id, buildfact, version, digest, started) VALUES (?, ?, ?, ?, ?)",
                (rollout, buildfact, version, digest, time.time()),
            ).rowcount
        return bool(inserted)

    def finished(self, rollout: str) -> bool:
        with self._lock:
            row = self._db.execute("SELECT finished FROM rollouts WHERE id = ?", (rollout,)).fetchone()
        return bool(row and row[0] is not None)

    def mark_finished(self, rollout: str) -> None:
        with self._transaction() as db:
            db.execute("UPDATE rollouts SET finished = ? WHERE id = ?", (time.time(), rollout))

    def apps(self, rollout: str) -> dict[str, AppRecord]:
        with self._lock:
            rows = self._db.execute(
                "SELECT app, team, action, status, attempts, tag, digest, detail, notice, notified FROM apps "
                "WHERE rollout = ?",
                (rollout,),
            ).fetchall()
        return {
            app: AppRecord(app, team, action, status, int(attempts), tag, digest, detail, notice, bool(notified))
            for app, team, action, status, attempts, tag, digest, detail, notice, notified in rows
        }

    def begin(self, rollout: str, app: str, team: str, action: str, notice: str | None = None) -> int:
        """An attempt starts; returns its number (1 for the first). ``notice``: what to announce once it is done."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO apps (rollout, app, team, action, status, attempts, notice, updated) "
                "VALUES (?, ?, ?, ?, ?, 1, ?, ?) ON CONFLICT(rollout, app) DO UPDATE SET action = excluded.action, "
                "status = excluded.status, attempts = attempts + 1, notice = excluded.notice, "
                "updated = excluded.updated",
                (rollout, app, team, action, RUNNING, notice, time.time()),
            )
            row = db.execute("SELECT attempts FROM apps WHERE rollout = ? AND app = ?", (rollout, app)).fetchone()
        return int(row[0])

    def end(
        self,
        rollout: str,
        app: str,
        status: str,
        *,
        tag: str | None = None,
        digest: str | None = None,
        detail: str = "",
        notice: str | None = None,
    ) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE apps SET status = ?, tag = COALESCE(?, tag), digest = COALESCE(?, digest), detail = ?, "
                "notice = COALESCE(?, notice), updated = ? WHERE rollout = ? AND app = ?",
                (status, tag, digest, detail, notice, time.time(), rollout, app),
            )

    def set_notified(self, rollout: str, app: str) -> None:
        self.set_notified_many(rollout, [app])

    def set_notified_many(self, rollout: str, apps: list[str]) -> None:
        """The apps of one team's message were announced: all of them at once, or none."""
        with self._transaction() as db:
            db.executemany("UPDATE apps SET notified = 1 WHERE rollout = ? AND app = ?", [(rollout, a) for a in apps])
