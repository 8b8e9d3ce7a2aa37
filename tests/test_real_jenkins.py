"""The Jenkins flows buildplat relies on, written once and run against the double and, when configured, a real Jenkins.

The same assertions prove the double: set ``BUILDPLAT_TEST_JENKINS_URL``, ``BUILDPLAT_TEST_JENKINS_USER`` and
``BUILDPLAT_TEST_JENKINS_TOKEN`` (an admin's API token; the Jenkins needs cloudbees-folder and workflow-job) and
the ``real`` variants run too (``pytest -m real_jenkins``). Each real run works in its own top-level folder
``buildplat-test-<random>`` and deletes it afterwards. A few extra checks only the double can make (its request log)
are marked as such.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import jenkins
import pytest
import requests

from tests.harness.jenkins import jenkins_jobs_ini
from tests.jenkins_double import JenkinsDouble

REAL_URL = os.environ.get("BUILDPLAT_TEST_JENKINS_URL", "")
FOLDER_XML = (
    "<?xml version='1.0' encoding='UTF-8'?>\n"
    '<com.cloudbees.hudson.plugins.folder.Folder plugin="cloudbees-folder">\n'
    "  <description>buildplat test folder</description>\n"
    "</com.cloudbees.hudson.plugins.folder.Folder>\n"
)


def pipeline_xml(script: str, description: str = "") -> str:
    return (
        "<?xml version='1.0' encoding='UTF-8'?>\n"
        '<flow-definition plugin="workflow-job">\n'
        f"  <description>{description}</description>\n"
        "  <keepDependencies>false</keepDependencies>\n"
        "  <properties/>\n"
        '  <definition class="org.jenkinsci.plugins.workflow.cps.CpsFlowDefinition" plugin="workflow-cps">\n'
        f"    <script>{script}</script>\n"
        "    <sandbox>true</sandbox>\n"
        "  </definition>\n"
        "  <disabled>false</disabled>\n"
        "</flow-definition>\n"
    )


def canonical(xml: str) -> str:
    """Content, not bytes: what must survive Jenkins' re-serialisation."""
    return ET.canonicalize(xml.encode("utf-8"), strip_text=True)


@dataclass
class Target:
    kind: str  # "double" or "real"
    url: str
    user: str
    token: str
    folder: str  # a top-level folder this test owns
    double: JenkinsDouble | None = None

    def client(self) -> jenkins.Jenkins:
        return jenkins.Jenkins(self.url, self.user, self.token, timeout=30)

    def http(self) -> requests.Session:
        session = requests.Session()
        session.auth = (self.user, self.token)
        return session


@pytest.fixture(params=["double", pytest.param("real", marks=pytest.mark.real_jenkins)])
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    if request.param == "double":
        double: JenkinsDouble = request.getfixturevalue("jenkins_double")
        yield Target("double", double.url, double.user, double.token, "buildplat-test", double)
        return
    if not REAL_URL:
        pytest.skip("BUILDPLAT_TEST_JENKINS_URL is not set: no real Jenkins to run against")
    user = os.environ.get("BUILDPLAT_TEST_JENKINS_USER", "")
    token = os.environ.get("BUILDPLAT_TEST_JENKINS_TOKEN", "")
    real = Target("real", REAL_URL.rstrip("/") + "/", user, token, f"buildplat-test-{uuid.uuid4().hex[:8]}")
    yield real
    server = real.client()
    if server.job_exists(real.folder):
        server.delete_job(real.folder)


def wait_for(condition, timeout: float = 60.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


# --- python-jenkins ------------------------------------------------------------------------------------------------


def test_whoami_and_version(target: Target) -> None:
    server = target.client()
    me = server.get_whoami()
    assert me["id"] == target.user
    assert me["_class"] == "hudson.model.User"
    version = server.get_version()  # after authenticating: see test_jenkins_double for the order that fails
    assert version.split(".")[0] == "2"
    assert server.get_info()["useCrumbs"] is True


def test_create_reconfigure_delete_in_a_folder(target: Target) -> None:
    server = target.client()
    server.create_job(target.folder, FOLDER_XML)
    assert server.is_folder(target.folder)
    name = f"{target.folder}/app"
    posted = pipeline_xml("echo 'one'", "first")
    server.create_job(name, posted)
    assert server.job_exists(name)

    stored = server.get_job_config(name)
    # Jenkins keeps what the JDK identity transform writes: same content, rewritten declaration, no newline.
    assert stored.startswith('<?xml version="1.0" encoding="UTF-8"?><flow-definition plugin="workflow-job">')
    assert stored != posted
    assert canonical(stored) == canonical(posted)

    changed = pipeline_xml("echo 'two'", "second")
    server.reconfig_job(name, changed)
    assert canonical(server.get_job_config(name)) == canonical(changed)

    info = server.get_job_info(name)
    assert info["_class"] == "org.jenkinsci.plugins.workflow.job.WorkflowJob"
    assert (info["name"], info["fullName"], info["description"]) == ("app", name, "second")
    assert (info["disabled"], info["buildable"], info["nextBuildNumber"], info["lastBuild"]) == (False, True, 1, None)
    assert name in {job["fullname"] for job in server.get_jobs(folder_depth=1)}

    server.delete_job(name)
    assert not server.job_exists(name)
    assert server.job_exists(target.folder)


def test_disable_and_enable(target: Target) -> None:
    server = target.client()
    server.create_job(target.folder, FOLDER_XML)
    name = f"{target.folder}/app"
    server.create_job(name, pipeline_xml("echo 'hi'"))
    server.disable_job(name)
    info = server.get_job_info(name)
    assert (info["disabled"], info["buildable"], info["color"]) == (True, False, "disabled")
    assert "<disabled>true</disabled>" in server.get_job_config(name)
    server.enable_job(name)
    info = server.get_job_info(name)
    assert (info["disabled"], info["color"]) == (False, "notbuilt")


def test_build_goes_through_the_queue(target: Target) -> None:
    server = target.client()
    server.create_job(target.folder, FOLDER_XML)
    name = f"{target.folder}/app"
    server.create_job(name, pipeline_xml("echo 'hi'"))
    queue_id = server.build_job(name)
    item = wait_for(lambda: server.get_queue_item(queue_id).get("executable") and server.get_queue_item(queue_id))
    assert item["task"]["name"] == "app"
    assert item["executable"]["number"] == 1
    build = wait_for(lambda: (info := server.get_build_info(name, 1)) and not info["building"] and info)
    assert (build["number"], build["result"], build["queueId"]) == (1, "SUCCESS", queue_id)
    assert server.get_job_info(name)["lastBuild"]["number"] == 1


def test_jenkins_rejects_bad_requests(target: Target) -> None:
    server, http = target.client(), target.http()
    server.create_job(target.folder, FOLDER_XML)
    name = f"{target.folder}/app"
    server.create_job(name, pipeline_xml("echo 'hi'"))
    headers = {"Content-Type": "text/xml; charset=utf-8"}
    folder_url = f"{target.url}job/{target.folder}/"

    again = http.post(folder_url + "createItem", params={"name": "app"}, data=pipeline_xml("x"), headers=headers)
    assert again.status_code == 400
    assert again.headers["X-Error"] == "A job already exists with the name  app "  # Jetty blanks the quotes

    unsafe = http.post(folder_url + "createItem", params={"name": "a:b"}, data=pipeline_xml("x"), headers=headers)
    assert unsafe.status_code == 400
    assert unsafe.headers["X-Error"].endswith(" is an unsafe character")

    broken = http.post(folder_url + "createItem", params={"name": "broken"}, data="<flow-definition>", headers=headers)
    assert broken.status_code == 500
    assert not server.job_exists(f"{target.folder}/broken")

    missing = http.post(f"{target.url}job/{target.folder}-missing/createItem", params={"name": "x"}, data="<project/>")
    assert missing.status_code == 404
    with pytest.raises(jenkins.JenkinsException, match="folder for the job does not exist"):
        server.create_job(f"{target.folder}-missing/app", pipeline_xml("x"))
    with pytest.raises(jenkins.JenkinsException, match="already exists"):
        server.create_job(name, pipeline_xml("x"))
    with pytest.raises(jenkins.NotFoundException):
        server.reconfig_job(f"{target.folder}/nothing", pipeline_xml("x"))

    bad = jenkins.Jenkins(target.url, target.user, "not-the-token")
    with pytest.raises(jenkins.JenkinsException, match=r"\[401\]"):
        bad.get_whoami()


def test_rename_keeps_the_builds_and_refuses_a_taken_name(target: Target) -> None:
    """What buildplat sync does when an app is renamed: ``confirmRename`` through buildplat's own client."""
    from buildplat.clients.jenkins import ItemExists, ItemMissing, JenkinsClient

    server = target.client()
    server.create_job(target.folder, FOLDER_XML)
    server.create_job(f"{target.folder}/app", pipeline_xml("echo 'hi'"))
    server.create_job(f"{target.folder}/taken", pipeline_xml("echo 'hi'"))
    queue_id = server.build_job(f"{target.folder}/app")
    wait_for(lambda: (info := server.get_build_info(f"{target.folder}/app", 1)) and not info["building"] and info)
    client = JenkinsClient(target.url, target.user, target.token, backoff=())
    with pytest.raises(ItemExists):
        client.rename_item(target.folder, "app", "taken")
    with pytest.raises(ItemMissing):
        client.rename_item(target.folder, "nothing", "other")
    client.rename_item(target.folder, "app", "renamed")
    assert not server.job_exists(f"{target.folder}/app")
    info = server.get_job_info(f"{target.folder}/renamed")
    assert (info["lastBuild"]["number"], info["nextBuildNumber"]) == (1, 2)
    assert server.get_build_info(f"{target.folder}/renamed", 1)["queueId"] == queue_id


# --- jenkins-job-builder (the CLI, as the seed job would run it) ---------------------------------------------------


def jobs_yaml(folder: str, app_script: str, *, disabled_line: str = "    disabled: false\n") -> str:
    """A folder with two pipeline jobs. ``disabled`` is explicit: without it jenkins-job-builder 6.5.0 adds
    ``<disabled>`` to an existing job's XML before caching its hash, so it re-uploads that job on every later run
    (see test_jenkins_double.test_jenkins_jobs_cache_is_defeated_without_an_explicit_disabled)."""
    return (
        f"- job:\n    name: {folder}\n    project-type: folder\n"
        f'- job:\n    name: {folder}/app\n    project-type: pipeline\n{disabled_line}    dsl: "{app_script}"\n'
        f"- job:\n    name: {folder}/lib\n    project-type: pipeline\n{disabled_line}    dsl: \"echo 'lib'\"\n"
    )


def jenkins_jobs(ini: Path, cache: Path, *args: str) -> str:
    """Run the jenkins-jobs CLI; returns its log (stderr). Fails the test on a non-zero exit."""
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    argv = [sys.executable, "-m", "jenkins_jobs", "--conf", str(ini), *args]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120, check=False)
    assert done.returncode == 0, f"jenkins-jobs {' '.join(args)} failed:\n{done.stderr}"
    return done.stderr


def test_jenkins_jobs_update_and_delete(target: Target, tmp_path: Path) -> None:
    server, ini, cache = target.client(), jenkins_jobs_ini(target, tmp_path / "jobs.ini"), tmp_path / "cache"
    definitions = tmp_path / "jobs.yaml"
    definitions.write_text(jobs_yaml(target.folder, "echo 'one'"), encoding="utf-8")
    app = f"{target.folder}/app"

    log = jenkins_jobs(ini, cache, "update", str(definitions))
    assert "Number of jobs updated: 3" in log
    assert server.is_folder(target.folder)
    assert "echo 'one'" in server.get_job_config(app)

    definitions.write_text(jobs_yaml(target.folder, "echo 'two'"), encoding="utf-8")
    log = jenkins_jobs(ini, cache, "update", str(definitions))
    assert "Reconfiguring jenkins job" in log
    assert "Number of jobs updated: 1" in log
    assert "echo 'two'" in server.get_job_config(app)

    if target.double is not None:
        target.double.reset_log()
    log = jenkins_jobs(ini, cache, "update", str(definitions))
    assert "Number of jobs updated: 0" in log  # jenkins-job-builder's cache: nothing changed, nothing sent
    if target.double is not None:
        assert target.double.requests.writes() == []

    log = jenkins_jobs(ini, cache, "--ignore-cache", "update", str(definitions))
    assert "Number of jobs updated: 3" in log
    if target.double is not None:
        reconfigured = target.double.requests.matching("POST")
        assert sorted(entry.path for entry in reconfigured) == [
            f"/job/{target.folder}/config.xml",
            f"/job/{target.folder}/job/app/config.xml",
            f"/job/{target.folder}/job/lib/config.xml",
        ]

    jenkins_jobs(ini, cache, "delete", f"{target.folder}/lib")
    assert not server.job_exists(f"{target.folder}/lib")
    assert server.job_exists(app)
