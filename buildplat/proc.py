"""The one place subprocesses are started.

Every external program runs through :func:`run`: never through a shell unless the caller explicitly asks for
``/bin/sh -c`` with text the user wrote as shell (a ``shell`` build step). A failure raises
:class:`~buildplat.errors.CommandFailed` naming the command, its exit code and the end of its output.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
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
    ``timeout`` bounds the whole run: on expiry the command's whole process group is killed, so a build step
    that started a server in the background cannot keep the pipe, and us, waiting.
    """
    args = [os.fspath(a) for a in argv]
    try:
        output, returncode = _run_collecting(
            args, cwd=cwd, env=env, input_bytes=input_bytes, stream_to=stream_to, timeout=timeout
        )
    except FileNotFoundError as exc:
        raise BuildplatError(
            f"cannot run {args[0]!r}: program not found",
            hint=f"install {Path(args[0]).name} or put it on PATH",
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise BuildplatError(f"{what or args[0]} did not finish within {timeout:g} s and was stopped") from exc
    if check and returncode != 0:
        raise CommandFailed(args, returncode, output, what=what)
    return subprocess.CompletedProcess(args, returncode, output, "")


def _run_collecting(
    args: list[str],
    *,
    cwd: Path | str | None,
    env: Mapping[str, str] | None,
    input_bytes: bytes | None,
    stream_to: IO[str] | None,
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
        start_new_session=True,  # its own process group, so a timeout can stop everything it started
    ) as child:
        assert child.stdout is not None
        reader = threading.Thread(target=_pump, args=(child.stdout, collected, stream_to), daemon=True)
        reader.start()
        if input_bytes is not None and child.stdin is not None:
            try:
                child.stdin.write(input_bytes)
                child.stdin.close()
            except BrokenPipeError:
                pass  # the program exited without reading its input; its exit code tells the story
        try:
            returncode = child.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(child)
            reader.join(timeout=5)
            raise
        # The program is done; whatever it left running in its group still holds the pipe open. Give the
        # reader a moment for the last lines, then stop the leftovers so a finished step never hangs.
        reader.join(timeout=2)
        if reader.is_alive():
            _kill_group(child)
            reader.join(timeout=5)
    return "".join(collected), returncode


def _pump(stream: IO[bytes], collected: list[str], stream_to: IO[str] | None) -> None:
    for raw in stream:
        line = raw.decode("utf-8", "replace")
        collected.append(line)
        if stream_to is not None:
            stream_to.write(line)
            stream_to.flush()


def _kill_group(child: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        child.wait(timeout=5)


def which(program: str) -> str | None:
    """Path of ``program`` on PATH, or None."""
    import shutil

    return shutil.which(program)


def stderr_is_terminal() -> bool:
    return sys.stderr.isatty()
