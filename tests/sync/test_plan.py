"""buildplat plan: what sync would do, with reasons and diffs, as text or JSON, and nothing written to Jenkins."""

from __future__ import annotations

import json
import os

from tests.cli_helpers import run_cli
from tests.jenkins_double import JenkinsDouble
from tests.sync.helpers import Team, app_doc, dump


def _plan(team: Team, jenkins_double: JenkinsDouble, *args: str):
    env = {"BUILDPLAT_JENKINS_USER": jenkins_double.user, "BUILDPLAT_JENKINS_TOKEN": jenkins_double.token}
    return run_cli("plan", "--config", str(team.write_config()), *args, env=env)


def test_plan_on_an_empty_jenkins_lists_creates_and_writes_nothing(team: Team, jenkins_double: JenkinsDouble) -> None:
    team.add_app("alpha")
    team.add_app("intruder", app_doc("intruder", namespace="elsewhere"))
    outcome = _plan(team, jenkins_double).assert_success()
    lines = outcome.stdout.splitlines()
    assert lines[0] == "create folder team"
    assert f"create alpha ({team.urls[0]}#main): new app" in lines
    assert any(line.startswith(f"rejected {team.urls[1]}#main: namespace is not this team's") for line in lines)
    assert lines[-1] == "plan team: 1 create, 1 rejected"
    assert jenkins_double.requests.writes() == []
    assert list(jenkins_double.jobs) == []


def test_plan_shows_a_readable_diff_for_an_update(team: Team, jenkins_double: JenkinsDouble) -> None:
    team.add_app("alpha")
    team.add_app("beta")
    team.cycle()
    # A platform-config change (a kubeconfig credential) changes every job's Jenkinsfile.
    team.extra["jenkins"] = {"url": team.jenkins_url, "credentials": {"kubernetes": "team-kubeconfig"}}
    jenkins_double.reset_log()
    outcome = _plan(team, jenkins_double).assert_success()
    text = outcome.stdout
    assert f"update alpha ({team.urls[0]}#main): inputs changed" in text
    assert "--- team/alpha/config.xml (in Jenkins)" in text
    assert "+++ team/alpha/config.xml (rendered)" in text
    assert (
        "+                        withCredentials([file(credentialsId: 'team-kubeconfig', variable: 'KUBECONFIG')]) {"
        in text
    )
    assert "-<flow-definition" not in text  # only what changed, not the whole file
    assert jenkins_double.requests.writes() == []


def test_plan_json_finds_ui_edits_and_names_every_action(team: Team, jenkins_double: JenkinsDouble) -> None:
    team.add_app("alpha")
    team.add_app("beta")
    team.cycle()
    edited = jenkins_double.jobs.config("team/beta").replace("H/5 * * * *", "* * * * *")
    jenkins_double.edit_in_ui("team/beta", edited)
    team.repos.commit("alpha", {"default.json": "{}"})
    text = _plan(team, jenkins_double).assert_success().stdout
    # A problem with a hint is two lines; both stay indented under their action.
    assert '    default.json:1:1: error: missing required key "artifacts" (at $)\n    default.json:1:1: hint: ' in text
    outcome = _plan(team, jenkins_double, "--format", "json").assert_success()
    plan = json.loads(outcome.stdout)
    actions = {a["job"]: a for a in plan["actions"]}
    assert actions["alpha"]["action"] == "quarantine"
    assert any("required" in problem for problem in actions["alpha"]["problems"])
    assert actions["beta"]["action"] == "update"
    assert "edited in Jenkins" in actions["beta"]["reason"]
    assert "-          <spec>* * * * *</spec>" in actions["beta"]["diff"]
    assert "+          <spec>H/5 * * * *</spec>" in actions["beta"]["diff"]
    assert plan["counts"]["update"] == 1
    assert plan["counts"]["quarantine"] == 1
    assert plan["folder"] == {"name": "team", "action": None}


def test_plan_without_jenkins_credentials_fails_clearly(team: Team, jenkins_double: JenkinsDouble) -> None:
    team.add_app("alpha")
    env = {key: value for key, value in os.environ.items() if not key.startswith("BUILDPLAT_JENKINS")}
    env["BUILDPLAT_JENKINS_TOKEN"] = "wrong"
    env["BUILDPLAT_JENKINS_USER"] = jenkins_double.user
    outcome = run_cli("plan", "--config", str(team.write_config()), env=env).assert_no_traceback()
    assert outcome.returncode == 1
    assert "401" in outcome.stderr
    assert "API token" in outcome.stderr
    assert "wrong" not in outcome.stderr


def test_plan_with_no_jenkins_credentials_at_all_says_so(team: Team, monkeypatch) -> None:
    team.add_app("alpha")
    monkeypatch.delenv("BUILDPLAT_JENKINS_USER")
    monkeypatch.delenv("BUILDPLAT_JENKINS_TOKEN")
    outcome = run_cli("plan", "--config", str(team.write_config())).assert_no_traceback()
    assert outcome.returncode == 1
    assert "answered 403 (no user and API token were sent)" in outcome.stderr
    assert "BUILDPLAT_JENKINS_USER and BUILDPLAT_JENKINS_TOKEN" in outcome.stderr


def test_plan_with_an_invalid_platform_config_names_the_place(team: Team, tmp_path) -> None:
    config = tmp_path / "bad.json"
    config.write_text('{\n  "team": "Team!",\n  "repositories": [],\n  "jenkins": {"url": "http://j/"}\n}\n')
    outcome = run_cli("plan", "--config", str(config)).assert_no_traceback()
    assert outcome.returncode == 1
    assert f"{config}:2:11: error:" in outcome.stderr
    assert run_cli("plan", "--config", str(tmp_path / "none.json")).returncode == 2


def test_changed_default_json_reason_names_the_commit(team: Team, jenkins_double: JenkinsDouble) -> None:
    team.add_app("alpha")
    team.cycle()
    head = team.repos.commit("alpha", {"default.json": dump(app_doc("alpha", build_command="make all"))})
    report = team.cycle(dry_run=True)
    (action,) = report.actions
    assert action.kind == "update"
    assert action.reason == f"default.json changed (commit {head[:12]})"
    assert action.diff is not None
    assert "buildplat-fingerprint" in action.diff  # only the fingerprint moves: build_command is read at run time


def test_plan_works_where_the_seed_jobs_state_directory_is_not_usable(
    team: Team, jenkins_double: JenkinsDouble, tmp_path
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    team.state_dir = blocker / "state"
    team.add_app("alpha")
    outcome = _plan(team, jenkins_double).assert_success()
    assert f"create alpha ({team.urls[0]}#main): new app" in outcome.stdout
    assert blocker.read_text() == ""


def test_plan_shows_a_rename_with_the_old_name_and_a_diff(team: Team, jenkins_double: JenkinsDouble) -> None:
    team.add_app("alpha")
    team.cycle()
    team.repos.commit("alpha", {"default.json": dump(app_doc("omega"))})
    jenkins_double.reset_log()
    outcome = _plan(team, jenkins_double, "--format", "json").assert_success()
    (action,) = json.loads(outcome.stdout)["actions"]
    assert action["action"] == "rename"
    assert action["job"] == "omega"
    assert action["renamed_from"] == "alpha"
    assert "renamed from 'alpha'" in action["reason"]
    assert action["diff"]
    assert "team/omega" in action["diff"]
    assert jenkins_double.requests.writes() == []
    assert "team/alpha" in jenkins_double.jobs
