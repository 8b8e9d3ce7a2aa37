"""A base that changes the runtime's minor version: the plan says rebuild, and the rollout queues the Jenkins jobs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from buildplat.clients.jenkins import JenkinsClient
from tests.appeng.helpers import World
from tests.cli_helpers import run_cli
from tests.jenkins_double import JenkinsDouble

pytestmark = [pytest.mark.slow, pytest.mark.docker]

FOLDER = (
    "<com.cloudbees.hudson.plugins.folder.Folder plugin='cloudbees-folder'><description>team</description>"
    "</com.cloudbees.hudson.plugins.folder.Folder>"
)
JOB = """<flow-definition plugin="workflow-job"><description>app</description><properties>
<hudson.model.ParametersDefinitionProperty><parameterDefinitions><hudson.model.StringParameterDefinition>
<name>BUILDPLAT_REPO_URL</name><defaultValue>git://git.example/app.git</defaultValue><trim>true</trim>
</hudson.model.StringParameterDefinition></parameterDefinitions></hudson.model.ParametersDefinitionProperty>
</properties><disabled>false</disabled></flow-definition>"""


def test_rebuild_waits_for_the_promotion_then_queues_each_job_once(
    world: World, jenkins_double: JenkinsDouble, tmp_path: Path
) -> None:
    team = world.registry.namespace("green")
    apps = [f"{team}/app-x", f"{team}/app-y"]
    jenkins = JenkinsClient(jenkins_double.url, jenkins_double.user, jenkins_double.token)
    jenkins.create_item(None, team, FOLDER)
    for app in apps:
        world.app(app, tmp_path)
        jenkins.create_item(team, app.split("/")[1], JOB)
    config = world.config(tmp_path, team, jenkins_url=jenkins_double.url, base_tag=f"{team}-stable")
    env = {**world.env, "BUILDPLAT_JENKINS_USER": jenkins_double.user, "BUILDPLAT_JENKINS_TOKEN": jenkins_double.token}
    v1, v3 = world.bases.python["v1"], world.bases.python["v3"]

    planned = json.loads(
        run_cli("images", "plan", "python", "--to", v3.version, "--config", config, "--format", "json").stdout
    )
    assert [(a["app"], a["action"]) for a in planned["apps"]] == [(app, "rebuild") for app in apps]
    assert planned["apps"][0]["reason"] == "python3 3.11.2-1 -> 3.12.1-1 is a new major or minor version"
    assert planned["apps"][0]["tag"] is None

    args = ["images", "rollout", "python", "--to", v3.version, "--config", config, "--state-dir", str(tmp_path / "s")]
    refused = run_cli(*args, env=env)
    refused.assert_no_traceback()
    assert refused.returncode == 1
    assert f"2 app(s) of {team} need a rebuild" in refused.stderr
    assert f"hint: promote it first (buildplat images promote python {v3.version})" in refused.stderr
    assert not jenkins_double.queue.items

    later = run_cli(*args, "--rebase-only", env=env).assert_success()
    assert "2 skipped (--rebase-only)" in later.stdout
    assert not jenkins_double.queue.items
    assert world.said(team) == []

    promoted = run_cli("images", "promote", "python", v3.version, "--config", config).assert_success()
    assert promoted.stdout.strip().endswith(f"{team}-stable: nothing -> {v3.digest} ({v3.version})")

    done = run_cli(*args, env=env).assert_success()
    assert "2 done, 0 failed" in done.stdout
    queued = sorted(item.job.full_name for item in jenkins_double.queue.items.values())
    assert queued == [f"{team}/app-x", f"{team}/app-y"]
    assert all(item.parameters == [("BUILDPLAT_REPO_URL", "git://git.example/app.git")]
               for item in jenkins_double.queue.items.values())  # fmt: skip
    [said] = world.said(team)  # one message for the team, no new tag for a rebuild
    assert said.splitlines() == [
        f"🧱 python base image → {v3.version} ({v3.digest[:19]}) for 2 apps:",
        *(f"• {app}: from {v1.version} ({v1.digest[:19]})" for app in apps),
    ]

    again = run_cli(*args, env=env).assert_success()
    assert "2 done in an earlier run" in again.stdout, "the apps are still on v1 until their builds push"
    assert len(jenkins_double.queue.items) == 2, "no second rebuild"
    assert len(world.said(team)) == 1
