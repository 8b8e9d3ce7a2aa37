"""How a cycle reads to people and programs: the plan (text or JSON), a line per change, a summary per cycle."""

from __future__ import annotations

from collections import Counter
from typing import Any

from buildplat.sync.apply import Outcome
from buildplat.sync.cycle import CycleReport
from buildplat.sync.reconcile import KINDS, Action

_PLURAL = {"quarantine": "quarantined", "conflict": "conflicts", "error": "errors"}
_PAST = {"create": "created", "rename": "renamed", "update": "updated", "disable": "disabled", "delete": "deleted"}


def subject(action: Action) -> str:
    if action.job and action.repo:
        return f"{action.job} ({action.repo})"
    return action.job or action.repo or "?"


def action_line(action: Action, outcome: Outcome | None = None) -> str:
    text = f"{action.kind} {subject(action)}: {action.reason}"
    if outcome is not None and not outcome.ok:
        text += f" -- FAILED: {outcome.detail}"
    elif outcome is not None and outcome.detail:
        text += f" ({outcome.detail})"
    return text


def summary_line(team: str, report: CycleReport) -> str:
    done = Counter(o.action.kind for o in report.outcomes if o.ok)
    counts = Counter(a.kind for a in report.actions)
    parts = []
    for kind in KINDS:
        if kind in _PAST:
            parts.append(f"{done[kind]} {_PAST[kind]}")
        elif counts[kind] or kind in ("unchanged", "quarantine"):
            parts.append(f"{counts[kind]} {_PLURAL.get(kind, kind)}")
    failed = len(report.failures) + len(report.errors)
    line = (
        f"sync {team}: {len(report.actions)} items: {', '.join(parts)}"
        f"{f', {failed} failed' if failed else ''}; "
        f"{report.requests} Jenkins requests ({report.writes} writes); "
        f"{report.seconds:.1f} s (git {report.git_seconds:.1f} s)"
    )
    if report.stopped:
        line += "; stopped early, the next cycle finishes the work"
    return line


def plan_text(team: str, folder: str, report: CycleReport) -> str:
    lines = []
    if report.folder:
        lines.append(f"{report.folder} folder {folder}")
    for action in sorted(report.actions, key=lambda a: (KINDS.index(a.kind), subject(a))):
        lines.append(action_line(action))
        lines.extend(f"    {line}" for problem in action.problems for line in problem.split("\n"))
        if action.diff:
            lines.extend("    " + line for line in action.diff.rstrip("\n").split("\n"))
    counts = Counter(a.kind for a in report.actions)
    totals = ", ".join(f"{counts[kind]} {kind}" for kind in KINDS if counts[kind])
    lines.append(f"plan {team}: {totals or 'nothing to do'}")
    return "\n".join(lines) + "\n"


def plan_json(team: str, folder: str, report: CycleReport) -> dict[str, Any]:
    return {
        "version": 1,
        "team": team,
        "folder": {"name": folder, "action": report.folder},
        "actions": [
            {
                "action": action.kind,
                "job": action.job,
                "repository": action.repo,
                "reason": action.reason,
                "problems": list(action.problems),
                "diff": action.diff,
                **({"renamed_from": action.renamed_from} if action.renamed_from else {}),
            }
            for action in report.actions
        ],
        "counts": {kind: sum(1 for a in report.actions if a.kind == kind) for kind in KINDS},
    }
