"""sync against the Jenkins double and real git repositories: create, no-op, update, drift, rename, removal."""

from __future__ import annotations

import json
import threading

from buildplat.jobs import marker
from buildplat.jobs.compare import same_config
from tests.jenkins_double import JenkinsDouble
from tests.sync.helpers import TEAM, Team, app_doc, dump, kinds

DAY = 24 * 3600.0


def test_first_sync_creates_the_folder_and_one_job_per_app(team: Team, jenkins_double: JenkinsDouble) -> None:
    team.add_app("alpha")
    team.add_app("beta")
    report = team.cycle()
    assert report.ok, report
    assert kinds(report) == {"alpha": "create", "beta": "create"}
    assert {"team", "team/alpha", "team/beta"} <= set(jenkins_double.jobs)
    assert jenkins_double.jobs["team"].type.folder
    config = jenkins_double.jobs.config("team/alpha")
    found = marker.parse(_description(config))
    assert found is not None
    assert found.repo == team.urls[0]
    assert found.branch == "main"
    assert "<org.jenkinsci.plugins.workflow.job.properties.DisableConcurrentBuildsJobProperty/>" in config
    assert "buildplat step build" in config


def test_second_sync_with_nothing_changed_writes_nothing(team: Team, jenkins_double: JenkinsDouble) -> None:
    for name in ("alpha", "beta", "gamma"):
        team.add_app(name)
    team.cycle()
    team.sync["drift_checks_per_cycle"] = 0
    jenkins_double.reset_log()
    report = team.cycle()
    assert report.ok
    assert set(kinds(report).values()) == {"unchanged"}
    assert jenkins_double.requests.writes() == []
    # One listing of the folder gives every job's fingerprint: nothing else is read.
    assert [str(r) for r in jenkins_double.requests] == [
        "GET /job/team/api/json?tree=description,jobs[name,description,color] -> 200"
    ]


def test_a_changed_default_json_updates_only_its_job(team: Team, jenkins_double: JenkinsDouble) -> None:
    team.add_app("alpha")
    team.add_app("beta")
    team.cycle()
    before = jenkins_double.jobs.config("team/beta")
    doc = app_doc("alpha", application={"name": "alpha", "type": "http_api", "version": "2.x.x"})
    team.repos.commit("alpha", {"default.json": dump(doc)})
    jenkins_double.reset_log()
    report = team.cycle()
    assert kinds(report) == {"alpha": "update", "beta": "unchanged"}
    writes = jenkins_double.requests.writes()
    assert [w.path for w in writes] == ["/job/team/job/alpha/config.xml"]
    assert "default.json changed" in next(a.reason for a in report.actions if a.job == "alpha")
    assert jenkins_double.jobs.config("team/beta") == before


def test_an_edit_in_the_ui_is_put_back_and_reported(team: Team, jenkins_double: JenkinsDouble) -> None:
    team.add_app("alpha")
    team.cycle()
    written = jenkins_double.jobs.config("team/alpha")
    edited = written.replace("buildplat step build", "rm -rf / # buildplat step build")
    jenkins_double.edit_in_ui("team/alpha", edited)
    assert "rm -rf" in jenkins_double.jobs.config("team/alpha")
    report = team.cycle()
    action = next(a for a in report.actions if a.job == "alpha")
    assert action.kind == "update"
    assert "edited in Jenkins" in action.reason
    restored = jenkins_double.jobs.config("team/alpha")
    assert "rm -rf" not in restored
    assert same_config(restored, written)
    # Put back once: the next cycle finds it as written.
    assert kinds(team.cycle()) == {"alpha": "unchanged"}


def test_a_job_paused_in_jenkins_stays_paused_through_an_update(team: Team, jenkins_double: JenkinsDouble) -> None:
    team.add_app("alpha")
    team.cycle()
    with jenkins_double.state.lock:
        jenkins_double.state.set_disabled(jenkins_double.jobs["team/alpha"], True)
    assert kinds(team.cycle()) == {"alpha": "unchanged"}  # pausing is not an edit to undo
    team.repos.commit("alpha", {"default.json": dump(app_doc("alpha", build_command="make all"))})
    report = team.cycle()
    assert kinds(report) == {"alpha": "update"}
    assert jenkins_double.jobs["team/alpha"].disabled


def _build(jenkins_double: JenkinsDouble, job: str) -> None:
    """One build of ``job``, as a trigger would start it (finished at once unless the queue holds builds)."""
    state = jenkins_double.state
    with state.lock:
        item = state.queue.schedule(jenkins_double.jobs[job], delay=0, parameters=None, user="alice")
        state.queue.start(item)


def test_a_renamed_app_keeps_its_job_and_its_builds_under_the_new_name(
    team: Team, jenkins_double: JenkinsDouble
) -> None:
    team.add_app("alpha")
    team.cycle()
    _build(jenkins_double, "team/alpha")
    _build(jenkins_double, "team/alpha")
    team.repos.commit("alpha", {"default.json": dump(app_doc("omega"))})
    jenkins_double.reset_log()
    report = team.cycle()
    assert report.ok, report
    assert kinds(report) == {"omega": "rename"}
    assert "renamed from 'alpha'" in report.actions[0].reason
    assert "team/alpha" not in jenkins_double.jobs
    job = jenkins_double.jobs["team/omega"]
    assert [b.number for b in job.builds] == [1, 2]  # the history moved with the job
    assert job.next_build_number == 3
    assert not job.disabled
    assert [(w.method, w.path) for w in jenkins_double.requests.writes()] == [
        ("POST", "/job/team/job/alpha/confirmRename"),
        ("POST", "/job/team/job/omega/config.xml"),
    ]
    found = marker.parse(_description(jenkins_double.jobs.config("team/omega")))
    assert found is not None
    assert found.repo == team.urls[0]
    assert kinds(team.cycle()) == {"omega": "unchanged"}


def test_a_rename_jenkins_refuses_while_the_job_builds_is_done_by_a_later_cycle(
    team: Team, jenkins_double: JenkinsDouble
) -> None:
    team.add_app("alpha")
    team.cycle()
    jenkins_double.queue.hold_builds = True
    _build(jenkins_double, "team/alpha")
    team.repos.commit("alpha", {"default.json": dump(app_doc("omega"))})
    refused = team.cycle()
    assert not refused.ok
    (outcome,) = refused.failures
    assert "while it is building" in outcome.detail
    assert "team/alpha" in jenkins_double.jobs
    assert "team/omega" not in jenkins_double.jobs
    with jenkins_double.state.lock:
        jenkins_double.queue.finish_builds()
    report = team.cycle()
    assert report.ok, report
    assert kinds(report) == {"omega": "rename"}
    assert [b.number for b in jenkins_double.jobs["team/omega"].builds] == [1]


def test_a_sync_killed_between_rename_and_config_finishes_the_job_next_cycle(
    team: Team, jenkins_double: JenkinsDouble
) -> None:
    team.add_app("alpha")
    team.cycle()
    team.repos.commit("alpha", {"default.json": dump(app_doc("omega"))})
    with jenkins_double.state.lock:  # what a sync killed after Jenkins' answer to the rename leaves
        jenkins_double.state.rename(jenkins_double.jobs["team/alpha"], "omega")
    report = team.cycle()
    assert report.ok, report
    assert kinds(report) == {"omega": "update"}  # ours (its marker names the repository): brought up to date
    assert kinds(team.cycle()) == {"omega": "unchanged"}


def test_a_renamed_app_whose_new_name_another_repo_holds_is_rejected_and_keeps_its_job(
    team: Team, jenkins_double: JenkinsDouble
) -> None:
    team.add_app("alpha")
    team.add_app("beta")
    team.cycle()
    team.repos.commit("alpha", {"default.json": dump(app_doc("beta"))})
    report = team.cycle()
    assert {a.kind for a in report.actions if a.repo == f"{team.urls[0]}#main"} == {"rejected"}
    assert not jenkins_double.jobs["team/alpha"].disabled
    assert {a.kind for a in report.actions if a.repo == f"{team.urls[1]}#main"} == {"unchanged"}
    assert "team/beta" in jenkins_double.jobs


def test_removed_repository_is_disabled_then_deleted_after_the_grace_period(
    team: Team, jenkins_double: JenkinsDouble
) -> None:
    team.sync["delete_grace_seconds"] = 7 * 24 * 3600
    team.add_app("alpha")
    team.add_app("beta")
    team.cycle(clock=1_000 * DAY)
    team.urls.remove(team.repos.url("beta"))
    report = team.cycle(clock=1_000 * DAY)
    assert kinds(report) == {"alpha": "unchanged", "beta": "disable"}
    assert jenkins_double.jobs["team/beta"].disabled
    stamped = marker.parse(_description(jenkins_double.jobs.config("team/beta")))
    assert stamped is not None
    assert stamped.orphaned_since == 1_000 * DAY
    # Within the grace period it waits (no write), after it the job goes.
    jenkins_double.reset_log()
    waiting = team.cycle(clock=1_006 * DAY)
    assert kinds(waiting)["beta"] == "unchanged"
    assert "deleted after" in next(a.reason for a in waiting.actions if a.job == "beta")
    assert jenkins_double.requests.writes() == []
    gone = team.cycle(clock=1_007 * DAY + 1)
    assert kinds(gone)["beta"] == "delete"
    assert "team/beta" not in jenkins_double.jobs
    assert "team/alpha" in jenkins_double.jobs


def test_repository_deleted_on_the_server_disables_its_job(team: Team, jenkins_double: JenkinsDouble) -> None:
    team.add_app("alpha")
    team.add_app("beta")
    team.cycle()
    team.repos.delete("beta")
    report = team.cycle()
    assert kinds(report)["beta"] == "disable"
    assert "repository is gone" in next(a.reason for a in report.actions if a.job == "beta")
    assert jenkins_double.jobs["team/beta"].disabled
    # It comes back: the job is enabled again, without the orphan mark.
    team.repos.create("beta", {"default.json": dump(app_doc("beta"))})
    report = team.cycle()
    assert kinds(report)["beta"] == "update"
    assert not jenkins_double.jobs["team/beta"].disabled
    assert marker.parse(_description(jenkins_double.jobs.config("team/beta"))).orphaned_since is None  # type: ignore[union-attr]


def test_most_repositories_gone_at_once_is_an_outage_not_deletions(team: Team, jenkins_double: JenkinsDouble) -> None:
    """A host that answers 'not found' for everything (expired credentials) must not disable the team's jobs."""
    for name in ("alpha", "beta", "gamma", "delta"):
        team.add_app(name)
    team.cycle()
    for name in ("alpha", "beta", "gamma"):
        team.repos.delete(name)
    jenkins_double.reset_log()
    report = team.cycle()
    assert kinds(report) == {"alpha": "error", "beta": "error", "gamma": "error", "delta": "unchanged"}
    reason = next(a.reason for a in report.actions if a.job == "alpha")
    assert "3 of 4 repositories answered 'not found'" in reason
    assert "jobs are kept" in reason
    assert jenkins_double.requests.writes() == []
    assert not any(jenkins_double.jobs[f"team/{n}"].disabled for n in ("alpha", "beta", "gamma"))
    # One repository really gone among many is still disabled.
    for name in ("alpha", "beta", "gamma"):
        team.repos.create(name, {"default.json": dump(app_doc(name))})
    team.cycle()
    team.repos.delete("beta")
    assert kinds(team.cycle())["beta"] == "disable"


def test_unreachable_repository_keeps_its_job(team: Team, jenkins_double: JenkinsDouble) -> None:
    team.add_app("alpha")
    team.cycle()
    team.urls.append("git://127.0.0.1:1/nowhere.git")
    report = team.cycle()
    assert not report.ok  # the cycle could not do everything
    assert kinds(report)["alpha"] == "unchanged"
    error = next(a for a in report.actions if a.kind == "error")
    assert "cannot fetch git://127.0.0.1:1/nowhere.git" in error.reason
    assert not jenkins_double.jobs["team/alpha"].disabled


def test_unmanaged_job_with_the_same_name_is_left_alone(team: Team, jenkins_double: JenkinsDouble) -> None:
    import requests

    own = "<flow-definition plugin='workflow-job'><description>hand made</description></flow-definition>"
    auth = (jenkins_double.user, jenkins_double.token)
    folder = "<com.cloudbees.hudson.plugins.folder.Folder/>"
    for path, body in ((f"createItem?name={TEAM}", folder), (f"job/{TEAM}/createItem?name=alpha", own)):
        answer = requests.post(
            jenkins_double.url + path, data=body, auth=auth, headers={"Content-Type": "text/xml"}, timeout=10
        )
        assert answer.status_code == 200, answer.text
    before = jenkins_double.jobs.config("team/alpha")
    team.add_app("alpha")
    report = team.cycle()
    assert kinds(report) == {"alpha": "conflict"}
    assert "not managed by buildplat" in report.actions[0].reason
    assert jenkins_double.jobs.config("team/alpha") == before
    assert all("/job/team/job/alpha" not in w.path for w in jenkins_double.requests.writes())


def test_an_unmanaged_job_whose_name_differs_only_in_case_is_a_conflict_too(
    team: Team, jenkins_double: JenkinsDouble
) -> None:
    from buildplat.clients.jenkins import JenkinsClient

    jenkins = JenkinsClient(jenkins_double.url, jenkins_double.user, jenkins_double.token)
    jenkins.create_item(None, TEAM, "<com.cloudbees.hudson.plugins.folder.Folder/>")
    jenkins.create_item(
        TEAM, "Alpha", "<flow-definition plugin='workflow-job'><description>x</description></flow-definition>"
    )
    team.add_app("alpha")
    jenkins_double.reset_log()
    report = team.cycle()
    assert kinds(report) == {"alpha": "conflict"}  # Jenkins would refuse "alpha" beside "Alpha"
    assert "(or so but for case)" in report.actions[0].problems[0]
    assert [w.path for w in jenkins_double.requests.writes() if w.path.startswith("/job/")] == []


def test_plugins_requested_are_only_the_missing_ones(team: Team, jenkins_double: JenkinsDouble) -> None:
    installed_before = set(jenkins_double.plugins.installed)
    team.add_app("alpha")
    report = team.cycle()
    assert report.ok
    (request,) = jenkins_double.plugins.install_requests
    assert set(request) == {
        "credentials-binding", "gradle", "junit", "nodejs", "pipeline-maven", "workflow-aggregator",
    }  # fmt: skip
    assert not set(request) & installed_before  # git, kubernetes, cloudbees-folder are there already
    # The tool installations went through the script console, once.
    (script,) = jenkins_double.scripts.runs
    assert "hudson.model.JDK" in script.script
    assert "jenkins.plugins.nodejs.tools.NodeJSInstallation" in script.script
    team.cycle()
    assert len(jenkins_double.plugins.install_requests) == 1
    assert len(jenkins_double.scripts.runs) == 1


def test_a_plugin_disabled_in_jenkins_is_reported_not_requested_again(
    team: Team, jenkins_double: JenkinsDouble
) -> None:
    from tests.jenkins_double.plugins import Plugin

    jenkins_double.plugins.installed["nodejs"] = Plugin("nodejs", "1.0", active=False, enabled=False)
    team.add_app("alpha")
    report = team.cycle(clock=1_000.0)
    (request,) = jenkins_double.plugins.install_requests
    assert "nodejs" not in request  # asking again would not enable it
    (problem,) = report.errors
    assert "plugins installed but not active in Jenkins (disabled, or waiting for a restart): nodejs" in problem
    assert not report.ok
    assert "team/alpha" in jenkins_double.jobs
    jenkins_double.reset_log()
    assert team.cycle(clock=1_060.0).errors == []  # looked at again at most once an hour
    assert not jenkins_double.requests.matching("GET", "/pluginManager/api/json")
    jenkins_double.plugins.installed["nodejs"] = Plugin("nodejs", "1.0")  # someone enabled it
    assert team.cycle(clock=1_000.0 + 3_601).ok
    assert team.cycle(clock=1_000.0 + 7_300).errors == []
    assert not jenkins_double.requests.matching("GET", "/pluginManager/api/json")[1:]  # verified: not read again


def test_generated_job_never_contains_the_jenkins_token(team: Team, jenkins_double: JenkinsDouble) -> None:
    team.add_app("alpha")
    team.cycle()
    for name in jenkins_double.jobs:
        assert jenkins_double.token not in jenkins_double.jobs.config(name)
    for entry in jenkins_double.requests:
        assert jenkins_double.token.encode() not in entry.body


def _description(config: str) -> str | None:
    from buildplat.jobs.compare import description_of

    return description_of(config)


def test_two_branches_of_one_repository_are_two_apps(team: Team, jenkins_double: JenkinsDouble) -> None:
    url = team.add_app("alpha")
    team.repos.commit("alpha", {"default.json": dump(app_doc("alpha-next"))}, branch="next")
    document = json.loads(team.write_config().read_text())
    document["repositories"].append({"url": url, "branch": "next"})
    team.config_path.write_text(json.dumps(document))
    from buildplat.spec.platform import load_platform_file
    from buildplat.sync.runner import open_engine

    with open_engine(load_platform_file(team.config_path)) as engine:
        report = engine.cycle(threading.Event())
    assert kinds(report) == {"alpha": "create", "alpha-next": "create"}
    assert "<defaultValue>next</defaultValue>" in jenkins_double.jobs.config("team/alpha-next")
    assert len(list((team.root / "state" / "mirrors").glob("*.git"))) == 2


def test_deleted_branch_disables_its_job(team: Team, jenkins_double: JenkinsDouble) -> None:
    from tests.harness.gitd import git

    team.add_app("alpha")
    team.cycle()
    bare = team.repos.bare("alpha")
    git("--git-dir", str(bare), "branch", "-m", "main", "renamed")
    report = team.cycle()
    action = next(a for a in report.actions if a.job == "alpha")
    assert action.kind == "disable"
    assert "branch main no longer exists" in action.reason


def test_an_edit_in_the_ui_is_found_after_a_cold_start(team: Team, jenkins_double: JenkinsDouble) -> None:
    import shutil

    team.add_app("alpha")
    team.add_app("beta")
    team.cycle()
    shutil.rmtree(team.root / "state")  # a new seed job, or a lost disk: only Jenkins remembers
    written = jenkins_double.jobs.config("team/beta")
    jenkins_double.edit_in_ui("team/beta", written.replace("<numToKeep>30</numToKeep>", "<numToKeep>9</numToKeep>"))
    report = team.cycle()
    assert kinds(report) == {"alpha": "unchanged", "beta": "update"}
    assert "<numToKeep>30</numToKeep>" in jenkins_double.jobs.config("team/beta")


def test_a_configured_repository_or_branch_that_does_not_exist_is_reported(
    team: Team, jenkins_double: JenkinsDouble
) -> None:
    team.add_app("alpha")
    team.urls.append(team.repos.url("typo"))  # never created
    team.write_config()
    document = json.loads(team.config_path.read_text())
    document["repositories"].append({"url": team.urls[0], "branch": "no-such-branch"})
    team.config_path.write_text(json.dumps(document))
    from buildplat.spec.platform import load_platform_file
    from buildplat.sync.runner import open_engine

    with open_engine(load_platform_file(team.config_path)) as engine:
        report = engine.cycle(threading.Event())
    errors = {a.repo: a for a in report.actions if a.kind == "error"}
    assert set(errors) == {team.repos.url("typo") + "#main", team.urls[0] + "#no-such-branch"}
    assert all(a.job is None and a.reason.endswith("; it has no job") for a in errors.values())
    assert "does not appear to be a git repository" in errors[team.repos.url("typo") + "#main"].reason
    assert not report.ok  # sync --once exits 1: the platform config names something that is not there
    assert kinds(report)["alpha"] == "create"


def test_new_templates_update_the_folders_marker_and_keep_what_the_team_set_up_in_it(
    team: Team, jenkins_double: JenkinsDouble, tmp_path
) -> None:
    import shutil

    from buildplat.jobs.templates import load_templates, packaged_templates
    from buildplat.sync.runner import open_engine

    team.add_app("alpha")
    team.cycle()
    # The team keeps its registry credentials in the folder (what the Credentials plugin saves there).
    own = (
        "<properties><com.cloudbees.hudson.plugins.folder.properties.FolderCredentialsProvider_-FolderCredentialsProperty>"
        "<domainCredentialsMap/></com.cloudbees.hudson.plugins.folder.properties.FolderCredentialsProvider_-"
        "FolderCredentialsProperty></properties>"
    )
    folder_xml = jenkins_double.jobs.config("team")
    assert "<properties/>" in folder_xml
    jenkins_double.edit_in_ui("team", folder_xml.replace("<properties/>", own))
    copy = tmp_path / "job-templates"
    shutil.copytree(packaged_templates().directory, copy)
    (copy / "buildplat.yaml").write_text((copy / "buildplat.yaml").read_text() + "# a new template version\n")
    jenkins_double.reset_log()
    with open_engine(team.config(), templates=load_templates(copy)) as engine:
        report = engine.cycle(threading.Event())
    assert report.ok, report
    assert report.folder == "update"
    after = jenkins_double.jobs.config("team")
    assert "FolderCredentialsProperty" in after  # not wiped
    found = marker.parse(_description(after))
    assert found is not None
    assert found.repo is None  # still the folder's marker, now with the new templates' fingerprint
    assert "POST /job/team/description" in [f"{w.method} {w.path}" for w in jenkins_double.requests.writes()]
    assert "/job/team/config.xml" not in [w.path for w in jenkins_double.requests.writes()]
    with open_engine(team.config(), templates=load_templates(copy)) as engine:
        assert engine.cycle(threading.Event()).folder is None  # current now
