"""The project's error types and the exit codes they map to (DESIGN.md section 4).

Expected failures raise a subclass of :class:`BuildplatError`; ``cli.main`` prints its message (and hint)
on one line each and exits with its ``exit_code``. Anything else is a bug: exit 3 with a log.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_BUG = 3


class BuildplatError(Exception):
    """A failure the user can act on: bad input, a failed check, an unreachable service."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(BuildplatError):
    """The command line itself is wrong, or a named input cannot be read at all."""

    exit_code = EXIT_USAGE


class CommandFailed(BuildplatError):
    """An external program (git, dpkg-deb, docker, groovy, a build step) exited non-zero."""

    def __init__(self, argv: list[str], returncode: int, output: str, *, what: str | None = None) -> None:
        shown = " ".join(_quote(a) for a in argv)
        tail = output.strip().splitlines()[-20:]
        label = what or f"command `{shown}`"
        message = f"{label} failed with exit code {returncode}"
        if tail:
            message += ":\n    " + "\n    ".join(tail)
        super().__init__(message)
        self.argv = argv
        self.returncode = returncode
        self.output = output


class ServiceError(BuildplatError):
    """A remote service (Jenkins, registry, apt repository, Kubernetes, Hubot, git) failed or is unreachable.

    ``retryable`` says whether the same call may succeed later (timeouts, 5xx, connection refused).
    """

    def __init__(self, service: str, message: str, *, retryable: bool = False, hint: str | None = None) -> None:
        super().__init__(f"{service}: {message}", hint=hint)
        self.service = service
        self.retryable = retryable


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)
