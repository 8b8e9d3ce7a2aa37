#!/usr/bin/env python3
"""bench/sync: `buildplat sync` on 500 app repositories against the Jenkins double, next to `jenkins-jobs update`.

Run: `.venv/bin/python bench/sync.py [--apps 500]`. One run of this script, one machine, one Jenkins double (in
this process, over HTTP on 127.0.0.1), local bare repositories fetched over file://. Measured, each as the real
command in a subprocess (start-up included):

  buildplat sync --once  (a) first sync into an empty Jenkins, (b) again with nothing changed, (c) one repository
                         changed, (d) nothing changed but the state directory lost (a cold start, or a second seed
                         job): wall time, git time (from sync's summary line), Jenkins requests and writes;
  jenkins-jobs update    on the equivalent YAML (job-templates/buildplat.yaml plus the same 500 projects sync
                         renders, via buildplat.jobs.render.projects_yaml) into an empty Jenkins, then again with
                         its cache, then again with --ignore-cache (what a seed job without a kept cache pays).

Targets (issue 4): (b) writes nothing, at most one request per 50 jobs and under 2 s beyond the git fetches;
(c) exactly one job write; (a) no slower than jenkins-jobs update. "git s" is sync's fetch phase (it renders
changed jobs while the fetches run, and creates the jobs of new apps, so for (a) it includes most of the rendering
and of the Jenkins writes); "rest s" is everything else, process start-up included. jenkins-jobs reads the YAML
from disk and fetches nothing, so (a) is also shown beyond git.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from buildplat.jobs.inputs import Credentials, JobInputs, JobTarget  # noqa: E402
from buildplat.jobs.render import folder_entry, project_entry, projects_yaml  # noqa: E402
from buildplat.jobs.templates import packaged_templates  # noqa: E402
from buildplat.spec.model import load_app  # noqa: E402
from tests.jenkins_double import JenkinsDouble  # noqa: E402
from tests.sync.conftest import stock_update_center  # noqa: E402
from tests.sync.helpers import app_doc, dump  # noqa: E402

TEAM = "team"
JJB = str(Path(sys.executable).with_name("jenkins-jobs"))


@dataclass
class Figure:
    label: str
    seconds: float
    requests: int
    writes: int
    git_seconds: float | None = None

    def row(self) -> str:
        git = f"{self.git_seconds:6.2f}" if self.git_seconds is not None else "     -"
        beyond = f"{self.seconds - self.git_seconds:6.2f}" if self.git_seconds is not None else "     -"
        return f"  {self.label:<46} {self.seconds:7.2f} {git} {beyond} {self.requests:9d} {self.writes:7d}"


# --- bare repositories written directly (500 `git init/commit/push` would take longer than the bench) ----------
def _object(objects: Path, kind: str, body: bytes) -> str:
    data = f"{kind} {len(body)}\0".encode() + body
    sha = hashlib.sha1(data, usedforsecurity=False).hexdigest()
    path = objects / sha[:2] / sha[2:]
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(zlib.compress(data, 1))
    return sha


def commit_file(bare: Path, content: bytes, stamp: int, parent: str | None = None) -> str:
    """A commit on main whose tree is one default.json; written as loose objects, the ref updated."""
    objects = bare / "objects"
    blob = _object(objects, "blob", content)
    tree = _object(objects, "tree", b"100644 default.json\0" + bytes.fromhex(blob))
    who = f"bench <bench@buildplat.invalid> {stamp} +0000"
    lines = [f"tree {tree}"] + ([f"parent {parent}"] if parent else []) + [f"author {who}", f"committer {who}", ""]
    commit = _object(objects, "commit", ("\n".join(lines) + "\nchange\n").encode())
    (bare / "refs" / "heads" / "main").write_text(commit + "\n")
    return commit


def make_bare(bare: Path, content: bytes) -> str:
    for sub in ("objects", "refs/heads", "refs/tags"):
        (bare / sub).mkdir(parents=True, exist_ok=True)
    (bare / "HEAD").write_text("ref: refs/heads/main\n")
    (bare / "config").write_text("[core]\n\trepositoryformatversion = 0\n\tbare = true\n")
    return commit_file(bare, content, 1_700_000_000)


# --- running the two tools -------------------------------------------------------------------------------------
def run_sync(config: Path, double: JenkinsDouble, label: str) -> Figure:
    env = {**os.environ, "BUILDPLAT_JENKINS_USER": double.user, "BUILDPLAT_JENKINS_TOKEN": double.token}
    double.reset_log()
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "buildplat", "sync", "--config", str(config), "--once"],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"bench/sync: {label} failed:\n{done.stderr[-3000:]}")
    git = re.search(r"\(git ([0-9.]+) s\)", done.stderr)
    return Figure(
        label, seconds, len(double.requests), len(double.requests.writes()), float(git.group(1)) if git else None
    )


def run_jjb(ini: Path, yaml_paths: str, double: JenkinsDouble, label: str, cache: Path, *extra: str) -> Figure:
    double.reset_log()
    started = time.perf_counter()
    done = subprocess.run(
        [JJB, "--conf", str(ini), *extra, "update", yaml_paths],
        cwd=packaged_templates().directory, env={**os.environ, "XDG_CACHE_HOME": str(cache)},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"bench/sync: {label} failed:\n{done.stderr[-3000:]}")
    return Figure(label, seconds, len(double.requests), len(double.requests.writes()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--apps", type=int, default=500)
    parser.add_argument("--git-concurrency", type=int, help="sync.git_concurrency (default: the platform default)")
    args = parser.parse_args()
    say = lambda text: print(f"bench/sync: {text}", file=sys.stderr, flush=True)  # noqa: E731
    root = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    double = JenkinsDouble().start()
    try:
        stock_update_center(double)
        say(f"writing {args.apps} bare repositories under {root}")
        names = [f"app-{index:04d}" for index in range(args.apps)]
        urls, sources = [], []
        for name in names:
            source = dump(app_doc(name, namespace=TEAM)).encode()
            make_bare(root / "srv" / f"{name}.git", source)
            urls.append((root / "srv" / f"{name}.git").as_uri())
            sources.append(source)
        config = root / "platform.json"
        platform = {
            "team": TEAM,
            "repositories": [{"url": url} for url in urls],
            "jenkins": {"url": double.url},
            "sync": {"state_dir": str(root / "state")},
        }
        if args.git_concurrency:
            platform["sync"]["git_concurrency"] = args.git_concurrency  # type: ignore[index]
        config.write_text(json.dumps(platform))

        figures = []
        say("buildplat sync (a) first sync")
        figures.append(run_sync(config, double, "buildplat sync (a) first sync"))
        say("buildplat sync (b) nothing changed")
        figures.append(run_sync(config, double, "buildplat sync (b) nothing changed"))
        changed = dump(app_doc(names[7], namespace=TEAM, build_command="make changed")).encode()
        bare = root / "srv" / f"{names[7]}.git"
        commit_file(bare, changed, 1_700_000_100, (bare / "refs/heads/main").read_text().strip())
        say("buildplat sync (c) one repository changed")
        figures.append(run_sync(config, double, "buildplat sync (c) one repository changed"))
        shutil.rmtree(root / "state" / "state.sqlite", ignore_errors=True)
        for leftover in (root / "state").glob("state.sqlite*"):
            leftover.unlink()
        say("buildplat sync (d) nothing changed, state lost")
        figures.append(run_sync(config, double, "buildplat sync (d) nothing changed, state lost"))
        sync_jobs = {name: double.jobs.config(name) for name in double.jobs}

        # The equivalent YAML: the same projects sync rendered (after (c), so app 7 as changed).
        templates = packaged_templates()
        entries = [folder_entry(TEAM, TEAM, templates.version)]
        for url, name, original in zip(urls, names, sources, strict=True):
            source = changed if name == names[7] else original
            target = JobTarget(TEAM, TEAM, url, "main", Credentials())
            entries.append(
                project_entry(JobInputs(load_app(source, "default.json"), source, target), templates.version)
            )
        projects = root / "projects.yaml"
        projects.write_text(projects_yaml(entries), encoding="utf-8")
        double.reset()  # an empty Jenkins again (and a new API token)
        stock_update_center(double)
        ini = root / "jenkins_jobs.ini"
        ini.write_text(
            "[job_builder]\nkeep_descriptions=False\ninclude_path=.\n\n"
            f"[jenkins]\nurl={double.url}\nuser={double.user}\npassword={double.token}\nquery_plugins_info=False\n"
        )
        cache = root / "jjb-cache"
        paths = f"{templates.template_file}:{projects}"
        say("jenkins-jobs update, empty Jenkins")
        figures.append(run_jjb(ini, paths, double, "jenkins-jobs update, empty Jenkins", cache))
        jjb_jobs = {name: double.jobs.config(name) for name in double.jobs}
        say("jenkins-jobs update, nothing changed, with its cache")
        figures.append(run_jjb(ini, paths, double, "jenkins-jobs update, unchanged, cache", cache))
        say("jenkins-jobs update, nothing changed, --ignore-cache")
        figures.append(run_jjb(ini, paths, double, "jenkins-jobs update, unchanged, no cache", cache, "--ignore-cache"))
    finally:
        double.stop()

    same = sync_jobs == jjb_jobs
    if not same:
        differ = sorted(n for n in set(sync_jobs) | set(jjb_jobs) if sync_jobs.get(n) != jjb_jobs.get(n))
        print(f"bench/sync: config.xml differs for {len(differ)} items, e.g. {differ[:3]}", file=sys.stderr)
        if os.environ.get("BENCH_SYNC_DEBUG"):
            import difflib

            name = differ[0]
            a, b = (sync_jobs.get(name) or "").splitlines(), (jjb_jobs.get(name) or "").splitlines()
            print("\n".join(difflib.unified_diff(a, b, "sync", "jjb", lineterm="")), file=sys.stderr)
    print(f"bench/sync: {args.apps} app repositories, Jenkins double over HTTP, local bare repos (file://), one run")
    print(f"  {'':<46} {'wall s':>7} {'git s':>6} {'rest s':>6} {'requests':>9} {'writes':>7}")
    for figure in figures:
        print(figure.row())
    first, nochange, onechange, _cold, jjb_first = figures[0], figures[1], figures[2], figures[3], figures[4]
    checks = {
        "(b) writes nothing": nochange.writes == 0,
        f"(b) <= 1 request per 50 jobs ({nochange.requests} <= {args.apps // 50})": nochange.requests
        <= args.apps // 50,
        "(b) < 2 s beyond git": nochange.git_seconds is not None and nochange.seconds - nochange.git_seconds < 2.0,
        "(c) one job write": onechange.writes == 1,
        f"(a) no slower than jenkins-jobs update ({first.seconds:.2f} s vs {jjb_first.seconds:.2f} s)": (
            first.seconds <= jjb_first.seconds
        ),
        f"(a) beyond git, no slower than jenkins-jobs update ({first.seconds - (first.git_seconds or 0):.2f} s vs "
        f"{jjb_first.seconds:.2f} s; jenkins-jobs reads local YAML, sync fetches {args.apps} repositories)": (
            first.seconds - (first.git_seconds or 0) <= jjb_first.seconds
        ),
        "same config.xml in Jenkins from both tools": same,
    }
    for check, ok in checks.items():
        print(f"  {'PASS' if ok else 'FAIL'} {check}")
    shutil.rmtree(root, ignore_errors=True)
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
