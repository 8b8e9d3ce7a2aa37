"""The seed job's own memory, in SQLite: caches and bookkeeping, never the truth about Jenkins.

What Jenkins holds is read back every cycle (the job markers), so losing this file costs a little work, never a
wrong action. It remembers:

- per repository: the last head commit seen and the digest of its default.json (a repository whose head has not
  moved is not read again), and the digest of the last errors sent to the team's room (each distinct error is
  announced once);
- per job: the fingerprint and the digest of the (canonical) config.xml we last wrote, so an edit made in the UI
  shows as a different digest without rendering anything, and when the job was last checked (oldest first);
- what has been done to Jenkins itself (plugins verified, the tools script run).

Every change is one transaction, so a process killed at any point leaves the file consistent.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from buildplat.errors import BuildplatError

SCHEMA_VERSION = "1"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS repos (
    key TEXT PRIMARY KEY,
    head TEXT,
    source_sha TEXT,
    facts TEXT,
    notified TEXT
);
CREATE TABLE IF NOT EXISTS jobs (
    name TEXT PRIMARY KEY,
    checked_at REAL NOT NULL DEFAULT 0,
    fingerprint TEXT,
    written TEXT
);
"""


@dataclass(frozen=True)
class JobMemory:
    checked_at: float = 0.0
    fingerprint: str | None = None  # of the config we wrote
    written: str | None = None  # digest of that config in canonical form


@dataclass(frozen=True)
class RepoMemory:
    head: str | None = None
    source_sha: str | None = None
    facts: tuple[str, ...] | None = None  # the buildfacts of that default.json, once it has been parsed
    notified: str | None = None  # digest of the errors last announced; None: nothing pending


class StateStore:
    """One SQLite file, used by one thread at a time (the one running the cycle)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Autocommit mode with explicit BEGIN IMMEDIATE: each change is its own short transaction. Created and
            # used by whichever thread runs the cycle (tests run the loop in a thread).
            self._db = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            with self._transaction() as db:
                for statement in filter(None, (s.strip() for s in _SCHEMA.split(";"))):
                    db.execute(statement)
                db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
        except (OSError, sqlite3.Error) as exc:
            raise BuildplatError(
                f"cannot open the sync state {path}: {exc}",
                hint="sync.state_dir in the platform config must be a writable directory",
            ) from exc

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- repositories ---------------------------------------------------------------------------------------------
    def repos(self) -> dict[str, RepoMemory]:
        rows = self._db.execute("SELECT key, head, source_sha, facts, notified FROM repos").fetchall()
        return {
            key: RepoMemory(head, source_sha, tuple(facts.split(",")) if facts else None, notified)
            for key, head, source_sha, facts, notified in rows
        }

    def remember_heads(self, heads: Iterable[tuple[str, str, str, tuple[str, ...] | None]]) -> None:
        """(repo key, head commit, default.json digest, its buildfacts if known) of every repository fetched."""
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO repos (key, head, source_sha, facts) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(key) DO UPDATE SET head = excluded.head, source_sha = excluded.source_sha, "
                "facts = excluded.facts",
                [(key, head, sha, ",".join(facts) if facts else None) for key, head, sha, facts in heads],
            )

    def set_notified(self, key: str, digest: str | None) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO repos (key, notified) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET notified = ?",
                (key, digest, digest),
            )

    def forget_repos(self, keep: set[str]) -> None:
        with self._transaction() as db:
            for (key,) in db.execute("SELECT key FROM repos").fetchall():
                if key not in keep:
                    db.execute("DELETE FROM repos WHERE key = ?", (key,))

    # -- jobs -----------------------------------------------------------------------------------------------------
    def jobs(self) -> dict[str, JobMemory]:
        rows = self._db.execute("SELECT name, checked_at, fingerprint, written FROM jobs").fetchall()
        return {name: JobMemory(checked, fingerprint, written) for name, checked, fingerprint, written in rows}

    def mark_checked(self, names: Iterable[str], when: float) -> None:
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO jobs (name, checked_at) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET checked_at = excluded.checked_at",
                [(name, when) for name in names],
            )

    def mark_written(self, written: Iterable[tuple[str, str, str]], when: float) -> None:
        """(job name, fingerprint, canonical config digest) of every job written this cycle."""
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO jobs (name, checked_at, fingerprint, written) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET checked_at = excluded.checked_at, "
                "fingerprint = excluded.fingerprint, written = excluded.written",
                [(name, when, fingerprint, digest) for name, fingerprint, digest in written],
            )

    def forget_jobs(self, names: Iterable[str]) -> None:
        with self._transaction() as db:
            db.executemany("DELETE FROM jobs WHERE name = ?", [(name,) for name in names])

    # -- Jenkins itself -------------------------------------------------------------------------------------------
    def get(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    def put(self, key: str, value: str | None) -> None:
        with self._transaction() as db:
            if value is None:
                db.execute("DELETE FROM meta WHERE key = ?", (key,))
            else:
                db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))
