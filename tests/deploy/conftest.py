"""Helpers for the deploy/ tests: render a team's stack in-process or through the real command line."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
CLUSTER = DEPLOY / "cluster"
TERRAFORM = DEPLOY / "terraform" / "cluster"

try:  # installed by scripts/setup-venv; a bare checkout still tests the source tree
    import buildplat_deploy  # noqa: F401
except ImportError:  # pragma: no cover
    sys.path.insert(0, str(DEPLOY))


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str

    def documents(self) -> list[dict[str, Any]]:
        return [doc for doc in yaml.safe_load_all(self.stdout) if doc is not None]


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> Outcome:
    """``buildplat-deploy ARGS`` in a fresh interpreter, as an operator runs it."""
    environment = {**os.environ, "PYTHONPATH": str(DEPLOY), **(env or {})}
    done = subprocess.run(
        [sys.executable, "-m", "buildplat_deploy", *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=cwd or REPO,
        timeout=60,
        check=False,
    )
    return Outcome(done.returncode, done.stdout, done.stderr)


def stack(team: str, config: Path | None = None) -> list[dict[str, Any]]:
    from buildplat_deploy import config as team_config
    from buildplat_deploy import render

    return render.stack(team_config.load(team, config))


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [obj for obj in objects if obj["kind"] == kind]


def find(objects: list[dict[str, Any]], kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
    for obj in objects:
        meta = obj["metadata"]
        if obj["kind"] == kind and meta["name"] == name and meta.get("namespace") == namespace:
            return obj
    raise AssertionError(f"no {kind} {namespace}/{name} in the stack")


@pytest.fixture(scope="session")
def alpha_stack() -> list[dict[str, Any]]:
    return stack("alpha")


def kustomize_build(overlay: Path) -> list[dict[str, Any]]:
    """``kubectl kustomize`` (or standalone ``kustomize build``); skips when neither is installed."""
    import shutil

    if shutil.which("kustomize"):
        argv = ["kustomize", "build", str(overlay)]
    elif shutil.which("kubectl"):
        argv = ["kubectl", "kustomize", str(overlay)]
    else:  # pragma: no cover
        pytest.skip("neither kustomize nor kubectl is installed")
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"{' '.join(argv)} failed:\n{done.stderr}"
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc is not None]
