"""The one place subprocesses are started.

Every external program runs through :func:`run`: never through a shell unless the caller explicitly asks for
``/bin/sh -c`` with text the user wrote as shell (a ``shell`` build step). A failure raises
:class:`~buildplat.errors.CommandFailed` naming the command, its exit code and the end of its output.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from buildplat.errors import BuildplatError, CommandFailed


def run(
    argv: Sequence[str | os.PathLike[str]],
    *,
    cwd: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    input_bytes: bytes | None = None,
    stream_to: IO[str] | None = None,
    check: bool = True,
    timeout: float | None = None,
    what: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` and return its completed process (stdout and stderr merged into ``stdout``).

    ``stream_to`` copies output line by line as it arrives (build logs in a Jenkins console) while still
    collecting it for the error message. ``what`` names the command in errors ("build step 2 (gradle)").
    """
    args = [os.fspath(a) for a in argv]
    try:
        if stream_to is None:
            done = subprocess.run(
                args,
                cwd=cwd,
                env=dict(env) if env is not None else None,
                input=input_bytes,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            )
            output = done.stdout.decode("utf-8", "replace")
            returncode = done.returncode
        else:
            output, returncode = _run_streaming(
                args, cwd=cwd, env=env, input_bytes=input_bytes, stream_to=stream_to, timeout=timeout
            )
    except FileNotFoundError as exc:
        raise BuildplatError(
            f"cannot run {args[0]!r}: program not found",
            hint=f"install {Path(args[0]).name} or put it on PATH",
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise BuildplatError(f"{what or args[0]} did not finish within {timeout:g} s") from exc
    if check and returncode != 0:
        raise CommandFailed(args, returncode, output, what=what)
    return subprocess.CompletedProcess(args, returncode, output, "")


def _run_streaming(
    args: list[str],
    *,
    cwd: Path | str | None,
    env: Mapping[str, str] | None,
    input_bytes: bytes | None,
    stream_to: IO[str],
    timeout: float | None,
) -> tuple[str, int]:
    collected: list[str] = []
    with subprocess.Popen(
        args,
        cwd=cwd,
        env=dict(env) if env is not None else None,
        stdin=subprocess.PIPE if input_bytes is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    ) as child:
        if input_bytes is not None and child.stdin is not None:
            child.stdin.write(input_bytes)
            child.stdin.close()
        assert child.stdout is not None
        for raw in child.stdout:
            line = raw.decode("utf-8", "replace")
            collected.append(line)
            stream_to.write(line)
            stream_to.flush()
        returncode = child.wait(timeout=timeout)
    return "".join(collected), returncode


def which(program: str) -> str | None:
    """Path of ``program`` on PATH, or None."""
    import shutil

    return shutil.which(program)


def stderr_is_terminal() -> bool:
    return sys.stderr.isatty()
