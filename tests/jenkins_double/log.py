"""What tests observe and steer: the request log and injected faults.

Each request is logged once it is answered: method, decoded path, query, the authenticated user, the status, and
two flags: ``write`` (the client asked for a change: any method but GET/HEAD) and ``changed`` (the double's state
did change). A sync that finds nothing to do must log no ``write`` at all.

Faults answer instead of the double: ``fail_next(n, status=500, path_prefix=..., method=...)`` fails the next n
matching requests, ``fail_when(predicate)`` every request the predicate picks (until removed). With
``after=True`` the request is carried out first and only its answer is replaced (a change that "failed").
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str  # percent-decoded, e.g. "/job/team/job/app/config.xml"
    query: dict[str, list[str]]
    user: str | None  # None: anonymous (or credentials refused)
    status: int
    write: bool
    changed: bool
    injected: bool = False
    body: bytes = b""

    def __str__(self) -> str:
        query = "&".join(f"{key}={value}" for key, values in self.query.items() for value in values)
        return f"{self.method} {self.path}{'?' + query if query else ''} -> {self.status}"


class RequestLog:
    def __init__(self) -> None:
        self._entries: list[LoggedRequest] = []
        self._lock = threading.Lock()

    def append(self, entry: LoggedRequest) -> None:
        with self._lock:
            self._entries.append(entry)

    def reset(self) -> None:
        with self._lock:
            self._entries.clear()

    def __iter__(self) -> Iterator[LoggedRequest]:
        with self._lock:
            return iter(list(self._entries))

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __getitem__(self, index: int) -> LoggedRequest:
        with self._lock:
            return self._entries[index]

    def writes(self) -> list[LoggedRequest]:
        return [entry for entry in self if entry.write]

    def changes(self) -> list[LoggedRequest]:
        return [entry for entry in self if entry.changed]

    def matching(self, method: str | None = None, path: str | None = None) -> list[LoggedRequest]:
        """Entries with this method and a path starting with ``path``."""
        return [
            entry
            for entry in self
            if (method is None or entry.method == method) and (path is None or entry.path.startswith(path))
        ]

    def summary(self) -> list[str]:
        return [str(entry) for entry in self]


@dataclass
class Fault:
    status: int = 500
    body: bytes = b"injected fault"
    after: bool = False  # True: let the double handle the request, then answer with this fault anyway


@dataclass
class _Rule:
    predicate: Callable[[str, str], bool]  # (method, decoded path)
    fault: Fault
    remaining: int | None  # None: unlimited


@dataclass
class Faults:
    rules: list[_Rule] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(
        self,
        n: int = 1,
        *,
        status: int = 500,
        path_prefix: str | None = None,
        method: str | None = None,
        body: bytes = b"injected fault",
        after: bool = False,
    ) -> None:
        def predicate(request_method: str, path: str) -> bool:
            return (method is None or method == request_method) and (
                path_prefix is None or path.startswith(path_prefix)
            )

        with self.lock:
            self.rules.append(_Rule(predicate, Fault(status, body, after), n))

    def fail_when(self, predicate: Callable[[str, str], bool], fault: Fault | None = None) -> Callable[[], None]:
        """Fail every request for which ``predicate(method, path)`` is true; returns a function removing the rule."""
        rule = _Rule(predicate, fault or Fault(), None)
        with self.lock:
            self.rules.append(rule)

        def remove() -> None:
            with self.lock:
                if rule in self.rules:
                    self.rules.remove(rule)

        return remove

    def take(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for rule in self.rules:
                if rule.predicate(method, path):
                    if rule.remaining is not None:
                        rule.remaining -= 1
                        if rule.remaining <= 0:
                            self.rules.remove(rule)
                    return rule.fault
        return None
