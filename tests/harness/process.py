"""Start, health-check and stop the real servers the tests run against.

Every server runs on 127.0.0.1 on a free port, writes its log to a file under the test run's directory, and
is stopped by its PID (its whole process group) at the end, even after failures or Ctrl-C: each started
process is also recorded in a registry that an ``atexit`` hook and a SIGTERM handler drain.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

_RUNNING: list[ManagedProcess] = []


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


class StartupFailed(RuntimeError):
    pass


@dataclass
class ManagedProcess:
    """One server process, its log, and how to tell it is ready."""

    name: str
    argv: Sequence[str]
    log_path: Path
    env: Mapping[str, str] | None = None
    cwd: Path | None = None
    # Hooks for servers that leave things behind (containers, mounts, network links): ``before_stop`` runs while the
    # server still answers (e.g. remove its containers through it), ``after_stop`` once it is gone. Both also run
    # from ``stop_all`` (atexit, SIGTERM), so cleanup does not depend on pytest's teardown having run.
    before_stop: Callable[[], None] | None = None
    after_stop: Callable[[], None] | None = None
    popen: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def start(self, ready: Callable[[], bool], timeout: float = 30.0) -> ManagedProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        env = dict(os.environ if self.env is None else self.env)
        self.popen = subprocess.Popen(
            list(self.argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=self.cwd,
            start_new_session=True,  # its own process group: stop takes children too
        )
        log.close()
        _RUNNING.append(self)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise StartupFailed(
                    f"{self.name} exited with {self.popen.returncode} while starting:\n{self.log_tail()}"
                )
            with contextlib.suppress(Exception):
                if ready():
                    return self
            time.sleep(0.05)
        self.stop()
        raise StartupFailed(f"{self.name} was not ready within {timeout:g} s:\n{self.log_tail()}")

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self, grace: float = 10.0) -> None:
        if self.popen is None:
            return
        if self.before_stop is not None and self.popen.poll() is None:
            hook, self.before_stop = self.before_stop, None
            self._run_hook("before_stop", hook)
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=5)
        # Children that left the group (daemons) are not ours to chase; the group is.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        if self in _RUNNING:
            _RUNNING.remove(self)
        if self.after_stop is not None:
            hook, self.after_stop = self.after_stop, None
            self._run_hook("after_stop", hook)

    def _run_hook(self, what: str, hook: Callable[[], None]) -> None:
        # Stopping must go on whatever a cleanup hook does; its failure is kept in the server's log.
        try:
            hook()
        except Exception as error:
            with contextlib.suppress(OSError), self.log_path.open("a", encoding="utf-8") as log:
                log.write(f"\n[harness] {what} of {self.name} failed: {error!r}\n")

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def stop_all() -> None:
    """Stop every process still running, newest first (clients before the servers they use)."""
    for process in reversed(list(_RUNNING)):
        with contextlib.suppress(Exception):
            process.stop(grace=5)


def _on_sigterm(signum: int, frame: object) -> None:
    stop_all()
    raise SystemExit(128 + signum)


atexit.register(stop_all)
with contextlib.suppress(ValueError):  # only possible in the main thread
    signal.signal(signal.SIGTERM, _on_sigterm)


def running() -> list[ManagedProcess]:
    return list(_RUNNING)
