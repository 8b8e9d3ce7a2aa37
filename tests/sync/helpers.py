"""Building blocks for the seed-job tests: app repositories as local bare git repos, platform configs, a team.

Repositories are real git repositories (``git init --bare`` under the test's tmp_path, fetched over file://); the
git-daemon tier (tests/sync/test_sync_servers.py) uses the harness' ``git_server`` instead.
"""

from __future__ import annotations

import copy
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from buildplat.spec.platform import PlatformConfig, load_platform_file
from buildplat.sync.cycle import CycleReport
from buildplat.sync.runner import open_engine
from tests.harness.gitd import git

TEAM = "team"
SECRET_TOKEN_NAME = "BUILDPLAT_JENKINS_TOKEN"


def app_doc(name: str, namespace: str = TEAM, **extra: Any) -> dict[str, Any]:
    """A valid default.json for a Java/Node app called ``name``."""
    doc: dict[str, Any] = {
        "namespace": namespace,
        "application": {"name": name, "type": "http_api", "version": "1.x.x"},
        "build": {
            "system_setup": {"buildfacts": ["java", "nodejs"]},
            "build_steps": [{"shell": "echo build"}, {"gradle": {"useWrapper": True, "tasks": "build"}}],
        },
        "build_command": "make",
        "artifacts": "build/",
        "services": [
            {
                "name": name,
                "application": f"{namespace}/{name}",
                "external_url": f"{name}.example.com",
                "instances": {"min": 1, "max": 2},
            },
        ],
    }
    doc.update(copy.deepcopy(extra))
    return doc


def dump(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2) + "\n"


class LocalRepos:
    """Bare repositories on disk, pushed to from a scratch work tree, reachable as file:// URLs."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()

    def bare(self, name: str) -> Path:
        return self.root / "srv" / f"{name}.git"

    def url(self, name: str) -> str:
        return self.bare(name).as_uri()

    def create(self, name: str, files: dict[str, str], branch: str = "main") -> str:
        git("init", "--quiet", "--bare", f"--initial-branch={branch}", str(self.bare(name)))
        self.commit(name, files, "first", branch=branch)
        return self.url(name)

    def commit(
        self, name: str, files: dict[str, str], message: str = "change", *, delete: tuple[str, ...] = (),
        branch: str = "main",
    ) -> str:  # fmt: skip
        with self._lock:
            work = self.root / "work" / name
            if not work.exists():
                git("clone", "--quiet", str(self.bare(name)), str(work))
                git("checkout", "--quiet", "-B", branch, cwd=work)
            for relative, content in files.items():
                (work / relative).write_text(content, encoding="utf-8")
            for relative in delete:
                (work / relative).unlink()
            git("add", "--all", cwd=work)
            git("commit", "--quiet", "--allow-empty", "-m", message, cwd=work)
            git("push", "--quiet", "origin", f"HEAD:refs/heads/{branch}", cwd=work)
            return git("rev-parse", "HEAD", cwd=work).strip()

    def delete(self, name: str) -> None:
        import shutil

        shutil.rmtree(self.bare(name))


@dataclass
class Team:
    """One team: its repositories, its platform config file, and a way to run sync cycles in this process."""

    root: Path
    jenkins_url: str
    repos: LocalRepos
    urls: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # more top-level sections of the platform config
    sync: dict[str, Any] = field(default_factory=dict)  # more settings of its sync section
    state_dir: Path | None = None

    @property
    def config_path(self) -> Path:
        return self.root / "platform.json"

    def add_app(self, name: str, doc: dict[str, Any] | None = None, *, raw: str | None = None) -> str:
        url = self.repos.create(name, {"default.json": raw if raw is not None else dump(doc or app_doc(name))})
        self.urls.append(url)
        self.write_config()
        return url

    def write_config(self) -> Path:
        sync = {"state_dir": str(self.state_dir or self.root / "state"), "drift_checks_per_cycle": 100, **self.sync}
        document = {
            "team": TEAM,
            "repositories": [{"url": url} for url in self.urls],
            "jenkins": {"url": self.jenkins_url},
            "sync": sync,
            **self.extra,
        }
        self.config_path.write_text(json.dumps(document, indent=2), encoding="utf-8")
        return self.config_path

    def config(self) -> PlatformConfig:
        return load_platform_file(self.write_config())

    def cycle(
        self, *, dry_run: bool = False, clock: float | None = None, stop: threading.Event | None = None
    ) -> CycleReport:
        with open_engine(self.config(), backoff=(0.01, 0.01)) as engine:
            if clock is not None:
                engine.clock = lambda: clock
            return engine.cycle(stop or threading.Event(), dry_run=dry_run)


def kinds(report: CycleReport) -> dict[str, str]:
    """job (or repository) -> what the plan decided."""
    return {str(action.job or action.repo): action.kind for action in report.actions}
