"""A real Hubot for the tests, running the project's own ``deploy/hubot/scripts/buildplat-notify.js``.

Hubot (npm ``hubot``, installed into ``deploy/hubot/node_modules`` by ``scripts/install.d/50-hubot.sh``) runs with
the recording adapter in ``tests/harness/hubot_adapter/``, which appends everything the robot says as JSON lines to
a file; :class:`Hubot` reads that file back. Scripts load only after the adapter has connected, so readiness is
"the notify route answers", not "the port is open".
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.harness import process

REPO_ROOT = Path(__file__).resolve().parents[2]
HUBOT_DIR = REPO_ROOT / "deploy" / "hubot"
HUBOT_BIN = HUBOT_DIR / "node_modules" / ".bin" / "hubot"
ADAPTER = Path(__file__).resolve().parent / "hubot_adapter" / "recorder.mjs"
NOTIFY_PATH = "/buildplat/notify"
# The recording adapter throws when asked to post here (a chat service that fails).
FAILING_ROOM = "!adapter-error"


class Hubot:
    """One running Hubot: where to post, the token it wants, and what it has said so far."""

    def __init__(self, url: str, token: str | None, record: Path, log_path: Path) -> None:
        self.url = url
        self.notify_url = url + NOTIFY_PATH
        self.token = token
        self.record = record
        self.log_path = log_path
        self._offset = 0  # bytes of the record that clear() has set aside

    def post(self, body: Any, token: str | None = "", **kwargs: Any) -> requests.Response:
        """POST ``body`` as JSON to the notify route with this Hubot's token (or ``token``; None for none)."""
        use = self.token if token == "" else token
        headers = {"Authorization": f"Bearer {use}"} if use else {}
        return requests.post(self.notify_url, json=body, headers=headers, timeout=10, **kwargs)

    def messages(self, room: str | None = None) -> list[dict[str, Any]]:
        """Everything said since the last :meth:`clear`, oldest first: dicts with ``room``, ``text``, ``kind``…"""
        try:
            with self.record.open("rb") as handle:
                handle.seek(self._offset)
                data = handle.read()
        except FileNotFoundError:
            return []
        # Only whole lines: the adapter writes each record with one append, but a read may race that write.
        lines = data.split(b"\n")[:-1]
        found = [json.loads(line) for line in lines if line.strip()]
        return [m for m in found if room is None or m.get("room") == room]

    def wait_for_messages(self, count: int, timeout: float = 10.0, room: str | None = None) -> list[dict[str, Any]]:
        """Wait until at least ``count`` messages (in ``room``) were said; returns them all."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.messages(room)
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"Hubot said {len(found)} message(s), not {count}, within {timeout:g} s: {found}")
            time.sleep(0.05)

    def clear(self) -> None:
        """Forget what was said so far (the record file itself is kept, for the run directory's log)."""
        try:
            self._offset = self.record.stat().st_size
        except FileNotFoundError:
            self._offset = 0


def _route_answers(notify_url: str) -> bool:
    # Before the script is loaded Express answers 404; afterwards an empty post gets 401 (token) or 400.
    status = requests.post(notify_url, json={}, timeout=1).status_code
    return status != 404


def start_hubot(
    root: Path, token: str | None, default_room: str | None = None, *, hubot_dir: Path = HUBOT_DIR
) -> tuple[Hubot, process.ManagedProcess]:
    """Start Hubot with the project's scripts and the recording adapter; the caller stops the process.

    ``token`` and ``default_room`` become ``BUILDPLAT_HUBOT_TOKEN`` and ``BUILDPLAT_HUBOT_ROOM`` (unset when None).
    ``hubot_dir``: where Hubot runs, whose ``scripts/`` it loads (another version of the script, with
    ``node_modules`` linked to ``deploy/hubot``'s).
    """
    if shutil.which("node") is None:
        _missing("node")
    if not HUBOT_BIN.exists():
        _missing("hubot (deploy/hubot/node_modules)")
    root.mkdir(parents=True, exist_ok=True)
    record = root / "messages.jsonl"
    port = process.free_port()
    env = {
        **os.environ,
        "EXPRESS_BIND_ADDRESS": "127.0.0.1",
        "EXPRESS_PORT": str(port),
        "BUILDPLAT_HUBOT_RECORD": str(record),
        "HUBOT_LOG_LEVEL": "info",
    }
    for name, value in (("BUILDPLAT_HUBOT_TOKEN", token), ("BUILDPLAT_HUBOT_ROOM", default_room)):
        env.pop(name, None)
        if value:
            env[name] = value
    hubot = process.ManagedProcess(
        name="hubot",
        # node runs hubot's own entry point; cwd is deploy/hubot so its scripts/ folder loads as in production.
        argv=["node", str(HUBOT_BIN), "--file", str(ADAPTER), "--name", "buildplat"],
        log_path=root / "hubot.log",
        env=env,
        cwd=hubot_dir,
    )
    url = f"http://127.0.0.1:{port}"
    hubot.start(ready=lambda: _route_answers(url + NOTIFY_PATH), timeout=30)
    return Hubot(url, token, record, hubot.log_path), hubot


def _missing(tool: str) -> None:
    message = f"{tool} is not installed: run scripts/install-test-deps"
    if os.environ.get("CI"):
        pytest.fail(message)  # in CI a missing tool is a broken install step, not a reason to skip
    pytest.skip(message)


@pytest.fixture(scope="session")
def hubot(run_dir: Path) -> Iterator[Hubot]:
    """Hubot on 127.0.0.1 with buildplat-notify.js, a random bearer token, and every message recorded."""
    robot, server = start_hubot(run_dir / "hubot", token=secrets.token_urlsafe(24))
    try:
        yield robot
    finally:
        server.stop()
