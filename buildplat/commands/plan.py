"""Show what `buildplat sync` would change in the team's Jenkins, without changing anything there.

For every repository of the platform config: create, rename (the app's new name; the job keeps its builds),
update (with a unified diff of the job's config.xml; a rename shows one too),
unchanged, quarantine (default.json invalid: the last good job is kept), disable or delete (the repository went
away), rejected (another team's namespace, or an app name taken), conflict (a job of that name that buildplat did
not make) or error (the repository could not be fetched, or it or its branch does not exist and it has no job),
each with its reason. Every managed job's config.xml is read to find edits made in the UI. The git mirrors in the
state directory are brought up to date; the state itself and Jenkins are not written; when the state directory is
not writable here (someone else's seed job), a temporary one is used. Exit status 0 when the plan was made, 1
when Jenkins or the config failed.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import sys
import tempfile
import threading
from pathlib import Path

HELP = "show what sync would change in the team's Jenkins (create/update with diffs/delete/...)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, metavar="FILE", help="the team's platform config")
    parser.add_argument(
        "--format", choices=("text", "json"), default="text", help="text (default) or json for programs"
    )


def run(args: argparse.Namespace) -> int:
    from buildplat.spec.platform import load_platform_file
    from buildplat.sync.report import plan_json, plan_text
    from buildplat.sync.runner import open_engine

    config = load_platform_file(Path(args.config))
    with contextlib.ExitStack() as stack:
        if not _writable(config.sync.state_dir):
            # Someone else's seed-job state (a laptop, another user): plan from fresh mirrors in a temporary place.
            scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="buildplat-plan-")))
            config = dataclasses.replace(config, sync=dataclasses.replace(config.sync, state_dir=scratch))
        engine = stack.enter_context(open_engine(config))
        report = engine.cycle(threading.Event(), dry_run=True)
    folder = config.jenkins.folder
    if args.format == "json":
        json.dump(plan_json(config.team, folder, report), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(plan_text(config.team, folder, report))
    return 0


def _writable(directory: Path) -> bool:
    """Whether ``directory`` is, or could be made, a directory this user can write."""
    for candidate in (directory, *directory.parents):
        if candidate.exists():
            return candidate.is_dir() and os.access(candidate, os.W_OK | os.X_OK)
    return False
