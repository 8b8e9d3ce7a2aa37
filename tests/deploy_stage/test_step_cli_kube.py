"""`buildplat step deploy` and `buildplat step promote` as the Jenkins job runs them: exit codes, messages, no
traceback, and pipeline.json handed from stage to stage."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy_stage.conftest import Images, Team
from tests.deploy_stage.helpers import app_doc, write_app

pytestmark = [pytest.mark.slow, pytest.mark.kube]
BUILDPLAT = [sys.executable, "-m", "buildplat"]


def step(team: Team, repo: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "BUILDPLAT_APPROVED_BY"}
    environment.update({"BUILD_NUMBER": "7", "BUILDPLAT_CONFIG": team.platform.source, **(env or {})})
    return subprocess.run(
        [*BUILDPLAT, "step", *args, "--app", str(repo)], capture_output=True, text=True, env=environment, check=False
    )


def hand_over_image(team: Team, repo: Path, reference: str) -> None:
    """What the image stage leaves in pipeline.json for this build."""
    out = repo / ".buildplat"
    out.mkdir(exist_ok=True)
    path = out / "pipeline.json"
    state = json.loads(path.read_text()) if path.exists() else {}
    state.update({"app": f"{team.name}/web", "build_number": 7, "version": "1.7.0"})
    state["image"] = {"reference": reference, "digest": reference.rsplit("@", 1)[1]}
    path.write_text(json.dumps(state))


def test_step_deploy_and_promote_through_the_command_line(team: Team, images: Images, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write_app(repo, app_doc(namespace=team.name))
    hand_over_image(team, repo, images.v1)
    done = step(team, repo, "deploy")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "replicas ready" in done.stdout
    assert team.image("dev") == images.v1

    hand_over_image(team, repo, images.crash)
    failed = step(team, repo, "deploy")
    output = failed.stdout + failed.stderr
    assert failed.returncode == 1, output
    assert "CrashLoopBackOff" in output
    assert "rolled back to the pod template of revision 1" in output
    assert "Traceback" not in output
    assert team.image("dev") == images.v1
    recorded = json.loads((repo / ".buildplat" / "pipeline.json").read_text())
    assert recorded["stages"]["deploy"].startswith("failed: ")

    hand_over_image(team, repo, images.v1)
    assert step(team, repo, "deploy").returncode == 0
    promoted = step(team, repo, "promote", "--to", "stage")
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr
    refused = step(team, repo, "promote", "--to", "prod")
    assert refused.returncode == 1
    assert "needs an approval" in refused.stdout + refused.stderr
    assert "Traceback" not in refused.stdout + refused.stderr
    approved = step(team, repo, "promote", "--to", "prod", env={"BUILDPLAT_APPROVED_BY": "erin"})
    assert approved.returncode == 0, approved.stdout + approved.stderr
    assert team.image("prod") == team.image("stage") == images.v1
    state = json.loads((repo / ".buildplat" / "pipeline.json").read_text())
    assert state["deployments"]["prod"]["approved_by"] == "erin"
    assert {state["deployments"][env]["digest"] for env in ("dev", "stage", "prod")} == {images.v1.rsplit("@")[1]}
