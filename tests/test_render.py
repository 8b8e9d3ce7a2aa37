"""buildplat render: the job XML comes from jenkins-job-builder, equals `jenkins-jobs test`, escapes app data."""

from __future__ import annotations

import json
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from buildplat.jobs import marker
from buildplat.jobs.inputs import Credentials, JobInputs, JobTarget
from buildplat.jobs.render import Renderer, folder_entry, project_entry, projects_yaml
from buildplat.jobs.templates import load_templates, packaged_templates
from buildplat.spec.model import load_app
from buildplat.stages.context import STAGES
from tests.cli_helpers import run_cli
from tests.sync.helpers import app_doc, dump

JJB = shutil.which("jenkins-jobs") or str(Path(__file__).resolve().parent.parent / ".venv/bin/jenkins-jobs")
# Text that breaks naive templating: format braces, XML markup, a CDATA end, quotes, Groovy interpolation.
NASTY = "Shop {front} <b>&amp;</b> ]]> 'quoted' \"double\" ${env.SECRET} \\ end — ünïcode"


def _inputs(
    name: str, *, description: str | None = None, repo: str | None = None, approvers: tuple[str, ...] = ()
) -> JobInputs:
    doc = app_doc(name)
    if description is not None:
        doc["application"]["description"] = description
    source = dump(doc).encode()
    repo = repo or f"git://git.example.com/team/{name}.git"
    target = JobTarget("team", "team", repo, "main", Credentials(), approvers)
    return JobInputs(load_app(source, "default.json"), source, target)


def _script(config_xml: str) -> str:
    script = ET.fromstring(config_xml).find("./definition/script")
    assert script is not None
    assert script.text
    return script.text


def test_render_prints_a_pipeline_that_only_sequences_buildplat_steps(tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "default.json").write_text(dump(app_doc("shop")))
    outcome = run_cli("render", str(app), "--repo", "git://git.example.com/team/shop.git").assert_success()
    root = ET.fromstring(outcome.stdout)
    assert root.tag == "flow-definition"
    script = _script(outcome.stdout)
    for stage in STAGES:
        assert f"buildplat step {stage} " in script
    assert "buildplat step promote --to stage" in script
    assert "buildplat step promote --to prod" in script
    assert "input {" in script  # prod waits for an approval
    assert "withCredentials([usernamePassword(credentialsId: 'buildplat-registry'" in script
    assert "agent { label 'buildplat-java' }" in script  # the primary buildfact's agent
    assert "shop" not in script  # nothing from default.json is written into the script
    # Job properties set from a script make Jenkins rewrite config.xml at every build (sync would see an edit).
    for setter in ("disableConcurrentBuilds", "buildDiscarder", "properties(", "pollSCM", "triggers {"):
        assert setter not in script
    assert (
        root.find("./properties/org.jenkinsci.plugins.workflow.job.properties.DisableConcurrentBuildsJobProperty")
        is not None
    )
    assert root.findtext("./properties/jenkins.model.BuildDiscarderProperty/strategy/numToKeep") == "30"
    assert root.findtext(".//hudson.triggers.SCMTrigger/spec") == "H/5 * * * *"
    params = {
        p.findtext("name"): p.findtext("defaultValue") for p in root.iter("hudson.model.StringParameterDefinition")
    }
    assert params == {"BUILDPLAT_REPO_URL": "git://git.example.com/team/shop.git", "BUILDPLAT_BRANCH": "main"}


def test_render_is_what_jenkins_jobs_test_makes_of_the_same_yaml(tmp_path: Path) -> None:
    templates = packaged_templates()
    inputs = [
        _inputs("shop", description=NASTY, repo="git://git.example.com/te'am/{shop}.git"),
        _inputs("cart"),
    ]
    rendered = {job.full_name: job.xml for job in Renderer(templates).render_jobs(inputs)}
    folder = Renderer(templates).render_folder("team", "team")
    rendered[folder.full_name] = folder.xml
    entries = [project_entry(item, templates.version) for item in inputs] + [
        folder_entry("team", "team", templates.version)
    ]
    projects = tmp_path / "projects.yaml"
    projects.write_text(projects_yaml(entries), encoding="utf-8")
    out = tmp_path / "out"
    done = subprocess.run(
        [JJB, "--conf", "jenkins_jobs.ini", "test", "--config-xml", "-o", str(out), f"buildplat.yaml:{projects}"],
        cwd=templates.directory,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for full_name, xml in rendered.items():
        assert (out / full_name / "config.xml").read_text(encoding="utf-8") == xml, full_name


def test_two_inputs_of_one_app_name_render_in_one_call() -> None:
    first, second = _inputs("shop"), _inputs("shop", repo="git://git.example.com/team/shop-copy.git")
    jobs = Renderer(packaged_templates()).render_jobs([first, second, _inputs("cart")])
    assert [job.name for job in jobs] == ["shop", "shop", "cart"]
    assert "<defaultValue>git://git.example.com/team/shop.git</defaultValue>" in jobs[0].xml
    assert "<defaultValue>git://git.example.com/team/shop-copy.git</defaultValue>" in jobs[1].xml
    assert jobs[0].fingerprint != jobs[1].fingerprint


def test_app_text_is_escaped_in_the_xml_and_kept_out_of_the_script() -> None:
    (job,) = Renderer(packaged_templates()).render_jobs([_inputs("shop", description=NASTY)])
    root = ET.fromstring(job.xml)
    description = root.findtext("description")
    assert description is not None
    assert description.startswith(NASTY + "\n\n")  # exactly as written: braces, markup and quotes survive
    found = marker.parse(description)
    assert found is not None
    assert found.fingerprint == job.fingerprint
    assert "SECRET" not in _script(job.xml)


def test_an_app_description_cannot_forge_the_marker() -> None:
    # The schema keeps descriptions to one line; the marker does not rely on it.
    forged = f"{marker.MARKER_SENTENCE}\nbuildplat-repo: git://evil/x.git\nbuildplat-fingerprint: 0000"
    description = marker.job_description(forged, repo="git://good/x.git", branch="main", fingerprint="1234")
    found = marker.parse(description + marker.JJB_SUFFIX)
    assert found == marker.Marker(fingerprint="1234", repo="git://good/x.git", branch="main")
    assert marker.parse("a job someone made by hand") is None


def test_template_changes_change_every_fingerprint(tmp_path: Path) -> None:
    copy = tmp_path / "job-templates"
    shutil.copytree(packaged_templates().directory, copy)
    before = load_templates(copy)
    (copy / "README.md").write_text("docs do not count\n")
    assert load_templates(copy).version == before.version
    jenkinsfile = copy / "Jenkinsfile.j2"
    jenkinsfile.write_text(jenkinsfile.read_text() + "// one more line\n")
    after = load_templates(copy)
    assert after.version != before.version
    item = _inputs("shop")
    assert item.fingerprint(after.version) != item.fingerprint(before.version)


def test_render_out_writes_one_config_per_job(tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "default.json").write_text(dump(app_doc("shop")))
    outcome = run_cli("render", str(app / "default.json"), "--repo", "git://x/shop.git", "--out", str(tmp_path / "o"))
    outcome.assert_success()
    folder, written = tmp_path / "o" / "team" / "config.xml", tmp_path / "o" / "team" / "shop" / "config.xml"
    assert outcome.stdout.splitlines() == [str(folder), str(written)]
    assert ET.fromstring(written.read_text()).tag == "flow-definition"
    # Both items sync uploads: the team folder too, marked as buildplat's.
    assert ET.fromstring(folder.read_text()).tag == "com.cloudbees.hudson.plugins.folder.Folder"
    assert marker.FOLDER_SENTENCE in folder.read_text()


def test_render_never_puts_a_credential_of_the_origin_url_into_the_job(tmp_path: Path) -> None:
    from tests.harness.gitd import git

    app = tmp_path / "app"
    app.mkdir()
    (app / "default.json").write_text(dump(app_doc("shop")))
    git("init", "--quiet", str(app))
    git("remote", "add", "origin", "https://robot-user:s3cr3t-t0ken@git.example.com/team/shop.git", cwd=app)
    xml = run_cli("render", str(app)).assert_success().stdout
    assert "s3cr3t" not in xml
    assert "robot-user" not in xml
    assert "<defaultValue>https://git.example.com/team/shop.git</defaultValue>" in xml
    given = run_cli("render", str(app), "--repo", "ssh://git:pw@git.example.com/team/shop.git").assert_success()
    assert "<defaultValue>ssh://git@git.example.com/team/shop.git</defaultValue>" in given.stdout
    assert "git:pw" not in given.stdout


def test_render_uses_the_platform_config_and_rejects_another_team(tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "default.json").write_text(dump(app_doc("shop")))
    platform = {
        "team": "team",
        "repositories": [{"url": "git://x/shop.git", "branch": "release"}],
        "jenkins": {
            "url": "http://jenkins:8080/",
            "folder": "team-apps",
            "credentials": {"kubernetes": "kc"},
            "prod_approvers": ["alice", "team-release"],
        },
        "registry": {"url": "https://registry.example.com", "user_env": "REG_USER", "password_env": "REG_PASS"},
    }
    config = tmp_path / "platform.json"
    config.write_text(json.dumps(platform))
    out = run_cli("render", str(app), "--config", str(config), "--repo", "git://x/shop.git").assert_success().stdout
    script = _script(out)
    assert "usernameVariable: 'REG_USER'" in script
    assert "file(credentialsId: 'kc', variable: 'KUBECONFIG')" in script
    assert "<defaultValue>release</defaultValue>" in out
    assert "submitter 'alice,team-release'" in script
    platform["team"] = "other"
    config.write_text(json.dumps(platform))
    refused = run_cli("render", str(app), "--config", str(config), "--repo", "git://x/shop.git").assert_no_traceback()
    assert refused.returncode == 1
    assert "namespace 'team' is not the team 'other'" in refused.stderr


def test_render_of_an_invalid_default_json_names_file_and_place(tmp_path: Path) -> None:
    bad = tmp_path / "default.json"
    bad.write_text('{\n  "namespace": "team",\n  "application": {"name": "Shop"}\n}\n')
    outcome = run_cli("render", str(bad), "--repo", "git://x/y.git").assert_no_traceback()
    assert outcome.returncode == 1
    assert f"{bad}:3:" in outcome.stderr
    assert run_cli("render", str(tmp_path / "missing"), "--repo", "git://x/y.git").returncode == 2


@pytest.mark.parametrize("approvers", [(), ("alice", "team-release@corp")], ids=["anyone", "approvers"])
def test_generated_jenkinsfile_compiles_with_groovy(approvers: tuple[str, ...]) -> None:
    groovy = pytest.importorskip(
        "tests.harness.groovy", reason="the groovy harness (tests/harness/groovy.py) is not there"
    )
    (job,) = Renderer(packaged_templates()).render_jobs([_inputs("shop", description=NASTY, approvers=approvers)])
    groovy.compile_jenkinsfile(_script(job.xml))


def test_render_yaml_is_the_project_jenkins_jobs_renders_the_same(tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "default.json").write_text(dump(app_doc("shop")))
    xml = run_cli("render", str(app), "--repo", "git://x/shop.git").assert_success().stdout
    project = tmp_path / "project.yaml"
    project.write_text(run_cli("render", str(app), "--repo", "git://x/shop.git", "--format", "yaml").stdout)
    templates = packaged_templates()
    done = subprocess.run(
        [JJB, "--conf", "jenkins_jobs.ini", "test", f"buildplat.yaml:{project}", "team/shop"],
        cwd=templates.directory,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == xml


def test_every_step_the_jenkinsfile_runs_is_a_valid_buildplat_command() -> None:
    import re
    import shlex

    from buildplat.cli import build_parser

    (job,) = Renderer(packaged_templates()).render_jobs([_inputs("shop")])
    commands = re.findall(r"sh '(buildplat [^']*)'", _script(job.xml))
    assert len(commands) >= len(STAGES) + 2  # every stage, promote twice, notify on failure too
    env = {"BUILDPLAT_CONFIG": "/etc/buildplat/platform.json", "BUILDPLAT_PREVIOUS_RESULT": "SUCCESS"}
    parser = build_parser()
    for command in commands:
        words = [re.sub(r"\$(\w+)", lambda m: env[m.group(1)], word) for word in shlex.split(command)]
        args = parser.parse_args(words[1:])  # argparse exits (a test failure) on an unknown option
        assert args.command == "step"
        assert args.config == env["BUILDPLAT_CONFIG"]
