"""Progress for long tool runs: one line per phase instead of hundreds (debootstrap prints a line per package)."""

from __future__ import annotations

import io
from collections.abc import Callable


class PhaseFilter(io.StringIO):
    """A text stream for ``proc.run(stream_to=…)`` that reports the first ``I: Phase …`` line of each phase.

    Warnings and errors (``W:``, ``E:``) always pass; everything is still collected by ``proc.run`` for the
    error message when the tool fails.
    """

    def __init__(self, say: Callable[[str], None], prefix: str) -> None:
        super().__init__()
        self._say = say
        self._prefix = prefix
        self._seen: set[str] = set()
        self._partial = ""

    def write(self, text: str, /) -> int:
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        for line in lines:
            self._line(line.rstrip())
        return len(text)

    def _line(self, line: str) -> None:
        if line.startswith(("W:", "E:")):
            self._say(f"{self._prefix}: {line}")
            return
        if not line.startswith("I: "):
            return
        words = line[3:].split()
        phase = words[0] if words else ""
        if phase not in self._seen:  # debootstrap alternates Retrieving/Validating per package: first one only
            self._seen.add(phase)
            self._say(f"{self._prefix}: {line[3:]}")
