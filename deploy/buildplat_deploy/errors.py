"""The two expected failures: the operator's input is wrong (exit 1) or the command line is (exit 2)."""

from __future__ import annotations


class DeployError(Exception):
    """Input that was read but does not hold up (an invalid team.json). Exit code 1."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(DeployError):
    """A bad command line or input that cannot be read at all (a bad TEAM, a missing file). Exit code 2."""

    exit_code = 2
