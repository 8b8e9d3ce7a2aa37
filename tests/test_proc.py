"""buildplat.proc.run: the one way subprocesses start."""

from __future__ import annotations

import io
import time

import pytest

from buildplat.errors import BuildplatError, CommandFailed
from buildplat.proc import run


def test_output_is_collected_and_streamed() -> None:
    sink = io.StringIO()
    done = run(["/bin/sh", "-c", "echo one; echo two >&2"], stream_to=sink)
    assert done.stdout == "one\ntwo\n"
    assert sink.getvalue() == "one\ntwo\n"


def test_failure_names_the_command_exit_code_and_output_tail() -> None:
    with pytest.raises(CommandFailed) as caught:
        run(["/bin/sh", "-c", "echo boom; exit 7"], what="build step 1 (shell)")
    assert caught.value.returncode == 7
    assert str(caught.value) == "build step 1 (shell) failed with exit code 7:\n    boom"


def test_missing_program_is_a_clear_error() -> None:
    with pytest.raises(BuildplatError, match="cannot run 'no-such-program-here': program not found"):
        run(["no-such-program-here"])


def test_input_reaches_the_program() -> None:
    assert run(["cat"], input_bytes=b"hello").stdout == "hello"


@pytest.mark.parametrize("streaming", [False, True])
def test_timeout_stops_the_whole_process_group(streaming: bool) -> None:
    """A step that leaves a background child holding the output pipe must not hang the pipeline."""
    started = time.monotonic()
    with pytest.raises(BuildplatError, match="did not finish within 1 s and was stopped"):
        run(["/bin/sh", "-c", "sleep 60 & sleep 60"], timeout=1, stream_to=io.StringIO() if streaming else None)
    assert time.monotonic() - started < 15


def test_a_finished_command_does_not_wait_for_what_it_left_running() -> None:
    started = time.monotonic()
    done = run(["/bin/sh", "-c", "sleep 60 & echo started"])
    assert done.stdout == "started\n"
    assert time.monotonic() - started < 15
