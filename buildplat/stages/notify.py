"""The notify stage: tell the team's Hubot room when an app's pipeline changes state, and only then.

The outcome is ``--result`` when Jenkins passes it (``ctx.pipeline_result``), else it is read from the stages
recorded in ``pipeline.json``: any failed stage makes it a failure, named with its reason. The last outcome per
app and branch lives in a small file, ``<state dir>/notify/<namespace>/<name>/<branch>.json``, where the state
dir is ``--state-dir``, else ``$BUILDPLAT_STATE_DIR``, else ``$XDG_STATE_HOME/buildplat`` (``~/.local/state``).
Build agents in pods forget that directory, so Jenkins can say what the previous build was instead:
``--previous-result`` (``currentBuild.previousBuild?.result``: SUCCESS, FAILURE, UNSTABLE…) wins over the file.
What is announced:

- ``failure`` when a branch fails after a success or with nothing known before (a failing build after a failing
  build says nothing);
- ``fixed`` when a branch succeeds after a failure, naming the stage that had failed;
- nothing for a success after a success, or with nothing known before: a lost state file must not turn every
  green build into a message.

The state file changes only after Hubot accepted the message, so a lost message is sent again next time.
Locally (no Hubot in the platform config), the message goes to the console. The Hubot token is never printed,
and is removed from the reason if a failing command happened to print it.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from buildplat.clients.hubot import post_notification
from buildplat.errors import BuildplatError
from buildplat.stages.context import STAGES, PipelineState, StageContext, safe_file_name
from buildplat.stages.local import without_credentials

REASON_LIMIT = 500
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/\s@]+@", re.IGNORECASE)


def decide(previous: str | None, result: str) -> str | None:
    """The event to announce for ``result`` after ``previous`` (None: nothing recorded), or None for silence."""
    if result == "failure":
        return None if previous == "failure" else "failure"
    return "fixed" if previous == "failure" else None


def outcome(ctx: StageContext, state: PipelineState) -> tuple[str, str, str | None]:
    """(result, stage, reason): the pipeline's result, the stage it concerns, and why it failed."""
    ran = [s for s in STAGES if s in state.stages and s != "notify"]
    for stage in ran:
        status = state.stages[stage]
        if status.startswith("failed"):
            return "failure", stage, status.partition(":")[2].strip() or "failed"
    if ctx.pipeline_result == "failure":
        pending = [s for s in STAGES if s not in ran and s != "notify"]
        stage = pending[0] if pending else "pipeline"
        return "failure", stage, "the Jenkins build failed; see its console"
    return "success", ran[-1] if ran else "pipeline", None


def state_file(ctx: StageContext) -> Path:
    base = ctx.state_dir or _default_state_dir(ctx)
    branch = _branch(ctx)
    return base / "notify" / ctx.app.namespace / ctx.app.name / f"{safe_file_name(branch)}.json"


def run_notify(ctx: StageContext, state: PipelineState, *, previous_result: str | None = None) -> None:
    """Announce this build's outcome if it changes the branch's state; ``previous_result`` as Jenkins saw it."""
    result, stage, reason = outcome(ctx, state)
    path = state_file(ctx)
    previous = _load(path)
    before = previous_result or previous.get("result")
    event = decide(before, result)
    if event is None:
        ctx.say(f"notify: {result}, as before (or nothing known before); nothing to announce")
        _save(path, ctx, result, previous.get("stage") if result == "failure" else stage)
        return
    if event == "fixed":
        # "deploy is fixed": the stage that had been failing, when this agent remembers it; a fresh pod agent
        # only knows from Jenkins that the last build failed, and the stage that ran last here is no news.
        known = previous.get("result") == "failure" and isinstance(previous.get("stage"), str)
        stage = previous["stage"] if known else "pipeline"
    hubot = ctx.platform.hubot if ctx.platform else None
    token = hubot.token.read("Hubot token") if hubot else None
    payload: dict[str, Any] = {
        "room": ctx.app.room or (hubot.room if hubot else "console"),
        "event": "pipeline",
        "app": ctx.app.full_name,
        "version": ctx.version,
        "stage": stage,
        "result": event,
    }
    if ctx.build_url and ctx.build_url.startswith(("http://", "https://")):
        payload["link"] = without_credentials(ctx.build_url)
    if reason:
        payload["reason"] = redact(reason, token)[:REASON_LIMIT]
    if hubot is None:
        ctx.say(f"notify (console): {message(payload)}")
    else:
        post_notification(hubot.url, token, payload)
        ctx.say(f"notify: told {payload['room']}: {event}")
    _save(path, ctx, result, stage)


def message(payload: dict[str, Any]) -> str:
    """The notification as one line of text (what the console shows locally)."""
    head = f"{payload['app']} {payload['version']}: "
    if payload["result"] == "failure":
        text = head + f"the pipeline failed at {payload['stage']}"
        if payload.get("reason"):
            text += f": {payload['reason']}"
    elif payload["result"] == "fixed":
        text = head + f"the pipeline is fixed: {payload['stage']} succeeds again"
    else:
        text = head + f"the pipeline succeeded (through {payload['stage']})"
    if payload.get("link"):
        text += f" {payload['link']}"
    return text


def redact(text: str, token: str | None) -> str:
    """The reason as it may be shown in chat: no token, no credentials inside URLs."""
    if token:
        text = text.replace(token, "***")
    return _URL_CREDENTIALS.sub(r"\g<scheme>***@", text)


def _branch(ctx: StageContext) -> str:
    branch = ctx.environ.get("BRANCH_NAME") or ctx.environ.get("GIT_BRANCH") or "default"
    return branch.removeprefix("origin/")


def _default_state_dir(ctx: StageContext) -> Path:
    configured = ctx.environ.get("BUILDPLAT_STATE_DIR") or os.environ.get("BUILDPLAT_STATE_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "buildplat"


def _load(path: Path) -> dict[str, Any]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise BuildplatError(
            f"cannot read the last notified result from {path}: {exc}",
            hint="delete the file; the next build is then announced as if it were the first",
        ) from exc
    return raw if isinstance(raw, dict) else {}


def _save(path: Path, ctx: StageContext, result: str, stage: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "result": result,
        "stage": stage,  # for a failure, the stage that failed first in this run of failures
        "version": ctx.version,
        "build_number": ctx.build_number,
        "updated": int(time.time()),
    }
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=".notify-", suffix=".json")
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        json.dump(record, stream, indent=2, sort_keys=True)
        stream.write("\n")
    os.replace(temp, path)
