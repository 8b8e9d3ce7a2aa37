"""The pre-commit hook, run by pre-commit itself the way a team's repository would run it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.cli_helpers import REPO_ROOT

HOOKS = yaml.safe_load((REPO_ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))


def test_hook_definition() -> None:
    (hook,) = HOOKS
    assert hook["id"] == "buildplat-validate"
    assert hook["entry"] == "buildplat validate"
    assert hook["language"] == "python"


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True)


def try_repo(app: Path, home: Path) -> subprocess.CompletedProcess[str]:
    """`pre-commit try-repo` on this checkout (it clones it and carries over uncommitted changes itself)."""
    env = {"PRE_COMMIT_HOME": str(home), "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"}
    argv = [sys.executable, "-m", "pre_commit", "try-repo", str(REPO_ROOT), "buildplat-validate", "--files"]
    return subprocess.run(
        [*argv, "default.json"], cwd=app, capture_output=True, text=True, env=env, timeout=900, check=False
    )


@pytest.mark.slow
def test_pre_commit_try_repo_flags_an_invalid_default_json(tmp_path: Path) -> None:
    """pre-commit installs buildplat into its own environment and runs the hook on the staged default.json."""
    app = tmp_path / "app"
    app.mkdir()
    git(app, "init", "-q")
    (app / "default.json").write_text('{"namespace": "Bad_NS"}\n')
    git(app, "add", "default.json")
    done = try_repo(app, tmp_path / "pre-commit-home")
    assert done.returncode == 1, done.stdout + done.stderr
    assert 'default.json:1:15: error: "Bad_NS" is not a DNS-1123 label' in done.stdout
    (app / "default.json").write_text((REPO_ROOT / "examples/sample-application/default.json").read_text())
    git(app, "add", "default.json")
    again = try_repo(app, tmp_path / "pre-commit-home")
    assert again.returncode == 0, again.stdout + again.stderr
