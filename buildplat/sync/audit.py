"""Finding jobs edited in the Jenkins UI: their config.xml no longer is what buildplat wrote.

The folder listing cannot show such an edit (the description, with our marker, is usually left as it was), so
this reads config.xml itself, for a bounded number of jobs per cycle, least recently checked first: at most
``sync.drift_checks_per_cycle`` (default: one per 50 jobs, less one for the folder listing, at least one), which
keeps a no-change cycle at one request per 50 jobs while every job is still looked at in turn (500 jobs: all of
them every 56 cycles). ``plan`` checks every job.

A stored config is compared in canonical form (see ``jobs.compare``) with the digest recorded when we wrote it;
after a cold start, or for a job another seed job wrote, with a fresh rendering of the same inputs.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from buildplat.clients.jenkins import JenkinsClient
from buildplat.jobs.compare import config_digest
from buildplat.jobs.inputs import JobInputs
from buildplat.jobs.render import Renderer
from buildplat.sync.reconcile import Action
from buildplat.sync.state import JobMemory

DRIFT_REASON = "edited in Jenkins: its config.xml is not what buildplat wrote; putting it back"


@dataclass(frozen=True)
class AuditResult:
    actions: list[Action]  # the plan with drifted jobs turned into updates (or creates, if they vanished)
    checked: list[str]  # jobs whose config was compared
    stored: dict[str, str]  # job -> the config.xml read, for plan's diffs


def budget(configured: int | None, jobs: int) -> int:
    """Config reads per cycle: with the folder listing, one request per 50 jobs (at least one read)."""
    if configured is not None:
        return configured
    return max(1, jobs // 50 - 1)


def choose(actions: list[Action], memory: dict[str, JobMemory], limit: int | None) -> list[Action]:
    """Unchanged live jobs, least recently checked first; ``limit`` None: all of them."""
    candidates = [a for a in actions if a.kind == "unchanged" and a.job and a.orphaned_since is None and a.repo]
    candidates.sort(key=lambda a: (memory.get(str(a.job), JobMemory()).checked_at, str(a.job)))
    return candidates if limit is None else candidates[:limit]


def audit(
    actions: list[Action],
    chosen: list[Action],
    *,
    jenkins: JenkinsClient,
    folder: str,
    renderer: Renderer,
    memory: dict[str, JobMemory],
    inputs_for: Callable[[Action], JobInputs | None],
    disabled: set[str],
    concurrency: int,
) -> AuditResult:
    if not chosen:
        return AuditResult(actions, [], {})
    names = [str(a.job) for a in chosen]
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="jenkins") as pool:
        configs = dict(zip(names, pool.map(lambda n: jenkins.get_config(folder, n), names), strict=True))
    expected: dict[str, str] = {}
    inputs: dict[str, JobInputs | None] = {}
    for action in chosen:
        name, known = str(action.job), memory.get(str(action.job))
        if known and known.written and action.fingerprint and known.fingerprint == action.fingerprint:
            expected[name] = known.written  # what we wrote last, as we wrote it: nothing to parse or render
        else:
            inputs[name] = inputs_for(action)
    to_render = [item for item in inputs.values() if item is not None]
    for job in renderer.render_jobs(to_render):
        expected[job.name] = job.digest
    changed: dict[str, Action] = {}
    for action in chosen:
        name = str(action.job)
        stored = configs[name]
        if name not in expected or (stored is not None and config_digest(stored) == expected[name]):
            continue
        item = inputs[name] if name in inputs else inputs_for(action)
        if item is None:
            continue
        if stored is None:
            changed[name] = replace(action, kind="create", reason="deleted in Jenkins; made again", inputs=item)
        else:
            changed[name] = replace(action.with_update(DRIFT_REASON), inputs=item, keep_disabled=name in disabled)
    result = [changed.get(str(a.job), a) if a.kind == "unchanged" else a for a in actions]
    stored_configs = {name: text for name, text in configs.items() if text is not None}
    return AuditResult(result, names, stored_configs)
