"""A real git server for the tests: ``git daemon`` on 127.0.0.1 serving bare repositories from the run directory.

The ``git_server`` fixture hands out :class:`GitServer`. Tests make app repositories from a dict of files
(``create_repo``), move them on (``commit``), and clone/fetch/push them over ``git://`` exactly as ``buildplat
sync`` and the pipeline do. Pushes are allowed (``--enable=receive-pack``), so a test can also push as a developer
would.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import pytest

from tests.harness import process

# Repository names may have folders ("team/app") but never climb out of the base path.
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*")
_AUTHOR = "buildplat tests"
_EMAIL = "tests@buildplat.invalid"


def git_env() -> dict[str, str]:
    """An environment in which git ignores the machine's and the user's configuration and has an identity."""
    env = dict(os.environ)
    env.update(
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_AUTHOR_NAME=_AUTHOR,
        GIT_AUTHOR_EMAIL=_EMAIL,
        GIT_COMMITTER_NAME=_AUTHOR,
        GIT_COMMITTER_EMAIL=_EMAIL,
        GIT_TERMINAL_PROMPT="0",
    )
    return env


def git(*args: str, cwd: Path | None = None) -> str:
    """Run git; on failure raise with the command and everything git said."""
    result = subprocess.run(
        ["git", *args], cwd=cwd, env=git_env(), capture_output=True, text=True, check=False, timeout=60
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"git {' '.join(args)} failed with {result.returncode} in {cwd}:\n{result.stdout}{result.stderr}"
        )
    return result.stdout


def _write_files(work: Path, files: Mapping[str, str | bytes]) -> None:
    for relative, content in files.items():
        target = (work / relative).resolve()
        if not target.is_relative_to(work.resolve()) or relative.startswith(".git/") or relative == ".git":
            raise ValueError(f"file path {relative!r} is outside the work tree")
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8")


class GitServer:
    """Bare repositories under ``base_path``, served read-write at ``git://127.0.0.1:PORT/<name>.git``."""

    def __init__(self, base_path: Path, port: int, scratch: Path) -> None:
        self.base_path = base_path
        self.port = port
        self._scratch = scratch
        self._branches: dict[str, str] = {}
        self._lock = threading.Lock()  # one scratch clone at a time keeps commits of one repo in order

    def url(self, name: str) -> str:
        return f"git://127.0.0.1:{self.port}/{self._check(name)}.git"

    def path(self, name: str) -> Path:
        """The bare repository on disk (for tests that want to look without going through the daemon)."""
        return self.base_path / f"{self._check(name)}.git"

    def create_repo(self, name: str, files: Mapping[str, str | bytes], branch: str = "main") -> str:
        """A new bare repository whose ``branch`` holds one commit with ``files``; returns its URL."""
        bare = self.path(name)
        if bare.exists():
            raise FileExistsError(f"repository {name} already exists at {bare}")
        bare.parent.mkdir(parents=True, exist_ok=True)
        git("init", "--quiet", "--bare", f"--initial-branch={branch}", str(bare))
        with self._lock, self._work_tree() as work:
            git("init", "--quiet", f"--initial-branch={branch}", str(work))
            _write_files(work, files)
            git("add", "--all", cwd=work)
            git("commit", "--quiet", "--allow-empty", "-m", f"Create {name}", cwd=work)
            git("push", "--quiet", str(bare), f"HEAD:refs/heads/{branch}", cwd=work)
        self._branches[name] = branch
        return self.url(name)

    def commit(
        self,
        name: str,
        files: Mapping[str, str | bytes],
        message: str,
        delete: Iterable[str] = (),
        branch: str | None = None,
    ) -> str:
        """Add a commit to ``branch`` (default: the branch the repo was created with); returns its sha."""
        bare = self.path(name)
        branch = branch or self._branches.get(name) or self._default_branch(bare)
        with self._lock, self._work_tree() as work:
            git("clone", "--quiet", "--branch", branch, str(bare), str(work))
            for relative in delete:
                git("rm", "--quiet", "-r", "--", relative, cwd=work)
            _write_files(work, files)
            git("add", "--all", cwd=work)
            git("commit", "--quiet", "--allow-empty", "-m", message, cwd=work)
            git("push", "--quiet", "origin", f"HEAD:refs/heads/{branch}", cwd=work)
            return git("rev-parse", "HEAD", cwd=work).strip()

    def head(self, name: str, branch: str | None = None) -> str:
        """The sha ``branch`` (default: the repo's default branch) points at."""
        bare = self.path(name)
        ref = f"refs/heads/{branch}" if branch else "HEAD"
        return git("--git-dir", str(bare), "rev-parse", "--verify", f"{ref}^{{commit}}").strip()

    def delete_repo(self, name: str) -> None:
        shutil.rmtree(self.path(name))
        self._branches.pop(name, None)

    def repos(self) -> list[str]:
        """Names of every repository served, sorted."""
        found = (p.relative_to(self.base_path).as_posix() for p in self.base_path.rglob("*.git") if p.is_dir())
        return sorted(name.removesuffix(".git") for name in found)

    def _check(self, name: str) -> str:
        if not _NAME.fullmatch(name) or ".." in name or name.endswith(".git"):
            raise ValueError(f"bad repository name {name!r} (letters, digits, ._- and / between parts)")
        return name

    def _default_branch(self, bare: Path) -> str:
        return git("--git-dir", str(bare), "symbolic-ref", "--short", "HEAD").strip()

    @contextlib.contextmanager
    def _work_tree(self) -> Iterator[Path]:
        with tempfile.TemporaryDirectory(prefix="work-", dir=self._scratch) as name:
            yield Path(name)


def start_git_daemon(root: Path) -> tuple[GitServer, process.ManagedProcess]:
    """Start ``git daemon`` serving ``root/repos``; the caller stops the returned process."""
    if shutil.which("git") is None:
        _missing("git")
    base = root / "repos"
    scratch = root / "scratch"
    base.mkdir(parents=True, exist_ok=True)
    scratch.mkdir(parents=True, exist_ok=True)
    port = process.free_port()
    daemon = process.ManagedProcess(
        name="git-daemon",
        argv=[
            "git",
            "daemon",
            "--listen=127.0.0.1",
            f"--port={port}",
            f"--base-path={base}",
            "--export-all",
            "--enable=receive-pack",
            "--reuseaddr",
            "--informative-errors",  # "repository not found" instead of a bare hang-up, for readable failures
            "--verbose",
            str(base),
        ],
        log_path=root / "git-daemon.log",
        env=git_env(),
    )
    daemon.start(ready=lambda: process.port_open(port), timeout=15)
    return GitServer(base, port, scratch), daemon


def _missing(tool: str) -> None:
    message = f"{tool} is not installed: run scripts/install-test-deps"
    if os.environ.get("CI"):
        pytest.fail(message)  # in CI a missing tool is a broken install step, not a reason to skip
    pytest.skip(message)


@pytest.fixture(scope="session")
def git_server(run_dir: Path) -> Iterator[GitServer]:
    """A git daemon on 127.0.0.1 with push enabled; repositories live under the run directory."""
    server, daemon = start_git_daemon(run_dir / "git")
    try:
        yield server
    finally:
        daemon.stop()
