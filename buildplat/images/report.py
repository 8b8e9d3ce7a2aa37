"""What ``buildplat images plan`` and ``rollout`` print: text for people, JSON for programs."""

from __future__ import annotations

from typing import Any

from buildplat.images.plan import REBASE, Plan
from buildplat.images.rollout import RolloutReport


def _short(digest: str | None) -> str:
    return digest.split(":", 1)[1][:12] if digest else "unknown"


def plan_json(plan: Plan) -> dict[str, Any]:
    target = plan.target
    return {
        "buildfact": target.buildfact,
        "base": target.repository,
        "target": {"version": target.version, "digest": target.digest},
        "apps": [entry.to_json() for entry in plan.entries],
        "up_to_date": sorted(image.app for image in plan.up_to_date),
        "newer": sorted(image.app for image in plan.newer),
    }


def plan_text(plan: Plan) -> str:
    target = plan.target
    lines = [f"{target.buildfact} base {target.name} ({target.digest})"]
    if not plan.entries:
        lines.append("no app is on an older version of this base")
    width = max((len(e.app) for e in plan.entries), default=0)
    for entry in plan.entries:
        on = f"{entry.base_version or 'untagged base'} ({_short(entry.image.base_digest)})"
        action = f"rebase -> {entry.new_tag}" if entry.action == REBASE else f"rebuild: {entry.reason}"
        lines.append(f"  {entry.app:<{width}}  {entry.image.tag}  on {on}  {action}")
    rebases = sum(e.action == REBASE for e in plan.entries)
    lines.append(
        f"{len(plan.entries)} app(s): {rebases} rebase, {len(plan.entries) - rebases} rebuild; "
        f"{len(plan.up_to_date)} already on {target.version}, {len(plan.newer)} on a newer version"
    )
    return "\n".join(lines) + "\n"


def rollout_json(report: RolloutReport) -> dict[str, Any]:
    return {
        "rollout": report.rollout,
        "ok": report.ok,
        "stopped": report.stopped,
        "apps": [outcome.__dict__ for outcome in report.outcomes],
        "already_done": report.already_done,
        "unannounced": report.unannounced,
        "bytes_uploaded": report.bytes_uploaded,
    }


def rollout_text(report: RolloutReport) -> str:
    lines = []
    for outcome in report.outcomes:
        lines.append(f"  {outcome.app}: {outcome.action} {outcome.status}: {outcome.detail}")
    done = sum(o.status == "done" for o in report.outcomes)
    summary = f"rollout {report.rollout}: {done} done, {len(report.failed)} failed"
    if report.already_done:
        summary += f", {len(report.already_done)} done in an earlier run"
    skipped = sum(o.status == "skipped" for o in report.outcomes)
    if skipped:
        summary += f", {skipped} skipped (--rebase-only)"
    if not report.outcomes and not report.unannounced:
        summary += ": nothing to do"
    lines.append(summary + f"; {report.bytes_uploaded} bytes uploaded")
    if report.stopped:
        lines.append(f"stopped: {report.stopped}; run the same command again to resume")
    if report.unannounced:
        lines.append(f"not yet announced: {', '.join(report.unannounced)}; the next run tries again")
    return "\n".join(lines) + "\n"
