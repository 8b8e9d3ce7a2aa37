"""The Jenkins double under python-jenkins, jenkins-job-builder and raw HTTP: what only the double can show.

The flows shared with a real Jenkins live in test_real_jenkins.py; here are the details a real Jenkins would need
special setup for (users, permissions, plugins, faults) and the double's own tools (request log, UI edits).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jenkins
import pytest
import requests

from tests.harness.groovy import java_home
from tests.harness.jenkins import jenkins_jobs_ini
from tests.jenkins_double import JenkinsDouble, xmlconfig
from tests.jenkins_double.security import READ, READ_ONLY
from tests.test_real_jenkins import FOLDER_XML, jobs_yaml, pipeline_xml

XML = {"Content-Type": "text/xml; charset=utf-8"}


def client(double: JenkinsDouble, secret: str | None = None, user: str | None = None) -> jenkins.Jenkins:
    return jenkins.Jenkins(double.url, user or double.user, secret or double.token)


def http(double: JenkinsDouble, secret: str | None = None, user: str | None = None) -> requests.Session:
    session = requests.Session()
    session.auth = (user or double.user, secret or double.token)
    return session


def with_app(double: JenkinsDouble, script: str = "echo 'hi'") -> jenkins.Jenkins:
    server = client(double)
    server.create_job("team", FOLDER_XML)
    server.create_job("team/app", pipeline_xml(script))
    return server


# --- authentication, permissions, crumbs ---------------------------------------------------------------------------


def test_version_is_advertised_and_python_jenkins_needs_to_authenticate_first(jenkins_double: JenkinsDouble) -> None:
    with pytest.raises(jenkins.BadHTTPException):
        client(jenkins_double).get_version()  # python-jenkins sends no credentials before its first other call
    server = client(jenkins_double)
    server.get_whoami()
    assert server.get_version() == "2.479.3"
    session = http(jenkins_double)
    assert session.get(jenkins_double.url).headers["X-Jenkins"] == "2.479.3"
    assert session.get(jenkins_double.url + "api/json").headers["X-Jenkins"] == "2.479.3"
    with_app(jenkins_double)
    assert "X-Jenkins" not in session.get(jenkins_double.url + "job/team/job/app/config.xml").headers


def test_bad_credentials_are_refused_with_401(jenkins_double: JenkinsDouble) -> None:
    with pytest.raises(jenkins.JenkinsException, match=r"\[401\]: Unauthorized"):
        client(jenkins_double, "wrong-token").get_jobs()
    answer = requests.get(jenkins_double.url + "api/json", auth=("nobody", "x"), timeout=10)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == 'Basic realm="Jenkins"'
    assert [entry.user for entry in jenkins_double.requests] == [None, None]


def test_anonymous_read_is_denied_until_granted(jenkins_double: JenkinsDouble) -> None:
    anonymous = jenkins.Jenkins(jenkins_double.url)
    with pytest.raises(jenkins.JenkinsException, match=r"\[403\]"):
        anonymous.get_jobs()
    who = requests.get(jenkins_double.url + "whoAmI/api/json", timeout=10).json()  # always readable
    assert (who["name"], who["anonymous"]) == ("anonymous", True)
    with_app(jenkins_double)
    jenkins_double.security.anonymous_permissions = READ_ONLY
    assert [job["fullname"] for job in jenkins.Jenkins(jenkins_double.url).get_all_jobs()] == ["team", "team/app"]
    with pytest.raises(jenkins.JenkinsException, match=r"\[403\]"):
        jenkins.Jenkins(jenkins_double.url).create_job("other", pipeline_xml("x"))
    assert "other" not in jenkins_double.jobs


def test_a_user_without_permission_gets_403_naming_it(jenkins_double: JenkinsDouble) -> None:
    token = jenkins_double.add_user("viewer", "viewer-password", READ_ONLY)
    viewer = client(jenkins_double, token, "viewer")
    with pytest.raises(jenkins.JenkinsException, match="viewer is missing the Job/Create permission"):
        viewer.create_job("app", pipeline_xml("x"))
    with pytest.raises(jenkins.JenkinsException, match=r"\[403\]"):
        viewer.get_plugins()  # Overall/SystemRead; jenkins-job-builder tolerates this one
    with pytest.raises(jenkins.JenkinsException, match="viewer is missing the Overall/Administer permission"):
        viewer.run_script("println('x')")
    blind = jenkins_double.add_user("blind", "pw", {READ})
    with_app(jenkins_double)
    assert requests.get(jenkins_double.url + "job/team/api/json", auth=("blind", blind), timeout=10).status_code == 404
    assert requests.get(jenkins_double.url + "job/team/api/json", auth=("viewer", token), timeout=10).status_code == 200


def test_posts_need_a_crumb_of_the_same_session_unless_an_api_token_is_used(jenkins_double: JenkinsDouble) -> None:
    with_app(jenkins_double)
    disable = jenkins_double.url + "job/team/job/app/disable"
    with_password = http(jenkins_double, jenkins_double.password)
    refused = with_password.post(disable)
    assert (refused.status_code, "No valid crumb was included in the request" in refused.text) == (403, True)

    crumb = with_password.get(jenkins_double.url + "crumbIssuer/api/json").json()
    assert crumb["crumbRequestField"] == "Jenkins-Crumb"
    other_session = http(jenkins_double, jenkins_double.password)
    assert other_session.post(disable, headers={"Jenkins-Crumb": crumb["crumb"]}).status_code == 403
    assert with_password.post(disable, headers={"Jenkins-Crumb": crumb["crumb"]}).status_code == 200  # after 302
    assert jenkins_double.jobs["team/app"].disabled

    assert http(jenkins_double).post(jenkins_double.url + "job/team/job/app/enable").status_code == 200
    assert not jenkins_double.jobs["team/app"].disabled

    jenkins_double.reset_log()
    client(jenkins_double, jenkins_double.password).create_job("team/lib", pipeline_xml("x"))
    assert [str(entry) for entry in jenkins_double.requests][:3] == [
        "GET /crumbIssuer/api/json -> 200",
        "GET /job/team/job/lib/api/json?tree=name -> 404",
        "POST /job/team/createItem?name=lib -> 200",
    ]


def test_without_a_crumb_issuer_python_jenkins_sends_none(jenkins_double: JenkinsDouble) -> None:
    jenkins_double.security.use_crumbs = False
    assert http(jenkins_double).get(jenkins_double.url + "crumbIssuer/api/json").status_code == 404
    server = client(jenkins_double, jenkins_double.password)
    server.create_job("app", pipeline_xml("x"))
    assert server.get_info()["useCrumbs"] is False
    assert "app" in jenkins_double.jobs


# --- items ---------------------------------------------------------------------------------------------------------


def test_nested_folders_and_get_jobs_depth(jenkins_double: JenkinsDouble) -> None:
    server = client(jenkins_double)
    for folder in ("a", "a/b"):
        server.create_job(folder, FOLDER_XML)
    server.create_job("a/b/deep", pipeline_xml("x"))
    server.create_job("top", pipeline_xml("x"))
    assert [job["fullname"] for job in server.get_jobs()] == ["a", "top"]
    assert sorted(job["fullname"] for job in server.get_all_jobs()) == ["a", "a/b", "a/b/deep", "top"]
    jenkins_double.reset_log()
    found = server.get_all_jobs(folder_depth_per_request=1)  # deeper levels come back as {"_class": ...} only
    assert sorted(job["fullname"] for job in found) == ["a", "a/b", "a/b/deep", "top"]
    assert [entry.path for entry in jenkins_double.requests] == [
        "/api/json",
        "/job/a/api/json",
        "/job/a/job/b/api/json",
    ]
    deep = next(job for job in found if job["fullname"] == "a/b/deep")
    assert (deep["color"], deep["url"]) == ("notbuilt", jenkins_double.url + "job/a/job/b/job/deep/")


def test_create_folder_by_mode_redirects_and_is_saved_by_jenkins(jenkins_double: JenkinsDouble) -> None:
    server = client(jenkins_double)
    server.create_folder("team")
    assert server.is_folder("team")
    assert jenkins_double.jobs.config("team").startswith("<?xml version='1.1' encoding='UTF-8'?>\n")
    assert 'plugin="cloudbees-folder@6.975.v4161e479479f"' in jenkins_double.jobs.config("team")
    assert [entry.status for entry in jenkins_double.requests.matching(path="/createItem")] == [302]
    with pytest.raises(jenkins.JenkinsException, match="Probably it already exists"):
        server.create_folder("TEAM")  # item names are case-insensitive


# X-Error as a client reads it: Jetty blanks the typographic quotes, the client strips the leading blank.
@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "No name is specified"),
        ("..", "..  is not an allowed name"),
        ("a?b", "?  is an unsafe character"),
        ("a%b", "%  is an unsafe character"),
        ("a;b", ";  is an unsafe character"),
        ("app.", "A name cannot end with  . "),
        ("a\x01b", "No control code is allowed: a\\u1;b"),
        ("App", "A job already exists with the name  App "),
    ],
)
def test_item_names_are_checked_like_jenkins(jenkins_double: JenkinsDouble, name: str, message: str) -> None:
    client(jenkins_double).create_job("app", pipeline_xml("x"))
    answer = http(jenkins_double).post(
        jenkins_double.url + "createItem", params={"name": name}, data=pipeline_xml("x"), headers=XML
    )
    assert answer.status_code == 400
    assert answer.headers["X-Error"] == message
    assert list(jenkins_double.jobs) == ["app"]


def test_posted_config_is_stored_as_the_jdk_identity_transform_writes_it(jenkins_double: JenkinsDouble) -> None:
    posted = (
        "<?xml version='1.0' encoding='UTF-8' standalone='yes'?>\n<!-- lead -->\n"
        '<project a=\'1\' b="x&quot;y">\n  <description>it\'s "q" &amp; &gt; é \U0001f600 \x85</description>\n'
        "  <empty></empty><kept> </kept>\n  <script><![CDATA[if (a < b) {}]]></script>\n</project>\n"
    )
    server = client(jenkins_double)
    server.create_job("app", posted)
    # Bytes checked against OpenJDK 17's identity transformer with Jenkins' XMLUtils.safeTransform settings.
    assert jenkins_double.jobs["app"].config.decode() == (
        '<?xml version="1.0" encoding="UTF-8"?><!-- lead --><project a="1" b="x&quot;y">\n'
        '  <description>it\'s "q" &amp; &gt; é &#128512; &#133;</description>\n'
        "  <empty/><kept> </kept>\n  <script><![CDATA[if (a < b) {}]]></script>\n</project>"
    )
    assert server.get_job_config("app") == jenkins_double.jobs.config("app")


JDK_IDENTITY_TRANSFORM = """
import javax.xml.XMLConstants
import javax.xml.transform.TransformerFactory
import javax.xml.transform.sax.SAXSource
import javax.xml.transform.stream.StreamResult
import javax.xml.transform.stream.StreamSource
import org.xml.sax.helpers.XMLReaderFactory
args.each { path ->
    def reader = XMLReaderFactory.createXMLReader()
    reader.setFeature("http://xml.org/sax/features/external-general-entities", false)
    reader.setFeature("http://xml.org/sax/features/external-parameter-entities", false)
    def factory = TransformerFactory.newInstance()
    factory.setFeature(XMLConstants.FEATURE_SECURE_PROCESSING, true)
    def source = new SAXSource(reader, SAXSource.sourceToInputSource(new StreamSource(new File(path))))
    new File(path + ".out").withOutputStream { factory.newTransformer().transform(source, new StreamResult(it)) }
}
"""
SAMPLES = [
    "<?xml version='1.1' encoding='ISO-8859-1'?>\n<r>\xe9</r>\n".encode("latin-1"),
    b"<!-- c --><?pi x?><r a='q&quot;t&apos; &lt; &gt; &amp; &#10;nl&#9;t' b='x\r\ny'>\r\n t &#13; ]]&gt; &#x7f;</r>",
    "<r a='\U0001f600 \x85'>\u2028|\xa0|\ufffd|\t|\x9f|\U0001f600<e><![CDATA[]]></e><f><![CDATA[a]]>b</f></r>".encode(),
    b'<!DOCTYPE r [<!ENTITY x "y">]><r xmlns="u" xmlns:p="v"><p:a p:b="1">&x;</p:a><g><!---->x<?p?></g></r>',
]


@pytest.mark.skipif(shutil.which("groovy") is None, reason="groovy is not installed (apt-get install -y groovy)")
def test_identity_transform_writes_what_the_jdk_writes(tmp_path: Path) -> None:
    """Run the JDK's transformer the way Jenkins' XMLUtils.safeTransform does and compare bytes."""
    paths = []
    for index, sample in enumerate(SAMPLES):
        paths.append(tmp_path / f"sample{index}.xml")
        paths[-1].write_bytes(sample)
    (tmp_path / "transform.groovy").write_text(JDK_IDENTITY_TRANSFORM, encoding="utf-8")
    argv = ["groovy", str(tmp_path / "transform.groovy"), *map(str, paths)]
    subprocess.run(argv, check=True, capture_output=True, env={**os.environ, "JAVA_HOME": java_home()}, timeout=120)
    for path, sample in zip(paths, SAMPLES, strict=True):
        ours = xmlconfig.identity_transform(xmlconfig.parse(sample))
        assert (path.name, ours) == (path.name, Path(f"{path}.out").read_bytes())


def test_config_xml_errors(jenkins_double: JenkinsDouble) -> None:
    server = client(jenkins_double)
    server.create_job("app", pipeline_xml("echo 'one'"))
    before = jenkins_double.jobs["app"].config
    session = http(jenkins_double)
    assert (
        session.post(jenkins_double.url + "job/app/config.xml", data="<flow-definition>", headers=XML).status_code
        == 500
    )
    assert session.post(jenkins_double.url + "job/app/config.xml", data="<project/>", headers=XML).status_code == 500
    assert session.post(jenkins_double.url + "job/nope/config.xml", data="<project/>", headers=XML).status_code == 404
    assert jenkins_double.jobs["app"].config == before
    assert session.post(jenkins_double.url + "createItem?name=x", data="<unknown/>", headers=XML).status_code == 500
    jenkins_double.plugins.installed["workflow-job"].active = False
    assert (
        session.post(jenkins_double.url + "createItem?name=y", data=pipeline_xml("x"), headers=XML).status_code == 500
    )
    assert list(jenkins_double.jobs) == ["app"]


def test_a_ui_edit_is_saved_by_xstream_and_visible_as_drift(jenkins_double: JenkinsDouble) -> None:
    server = with_app(jenkins_double, "echo 'one'")
    jenkins_double.edit_in_ui("team/app", pipeline_xml("echo 'edited'"))
    stored = server.get_job_config("team/app")
    assert stored.startswith("<?xml version='1.1' encoding='UTF-8'?>\n<flow-definition plugin=\"workflow-job@1468.")
    assert "<script>echo &apos;edited&apos;</script>" in stored
    assert "\n  <properties/>\n" in stored
    with pytest.raises(ValueError, match="cannot change its type"):
        jenkins_double.edit_in_ui("team/app", FOLDER_XML)
    jenkins_double.delete_in_ui("team")
    assert not server.job_exists("team/app")


def test_enable_disable_save_the_job_and_a_repeat_changes_nothing(jenkins_double: JenkinsDouble) -> None:
    server = with_app(jenkins_double)
    jenkins_double.reset_log()
    server.disable_job("team/app")
    server.disable_job("team/app")
    disables = jenkins_double.requests.matching("POST", "/job/team/job/app/disable")
    assert [(entry.write, entry.changed) for entry in disables] == [(True, True), (True, False)]
    assert jenkins_double.jobs.config("team/app").startswith("<?xml version='1.1'")
    with pytest.raises(jenkins.NotFoundException):
        server.disable_job("team")  # folders cannot be disabled


def test_rename_description_copy_and_delete(jenkins_double: JenkinsDouble) -> None:
    server = with_app(jenkins_double)
    server.rename_job("team/app", "team/service")
    assert server.job_exists("team/service")
    assert not server.job_exists("team/app")
    with pytest.raises(jenkins.NotFoundException):
        server.rename_job("team", "group")  # a folder has confirmRename only
    session = http(jenkins_double)
    assert session.post(jenkins_double.url + "job/team/confirmRename", params={"newName": "group"}).status_code == 200
    refused = session.post(jenkins_double.url + "job/group/job/service/doRename", params={"newName": "Service"})
    assert (refused.status_code, refused.headers["X-Error"]) == (400, "The name  Service  is already in use.")
    assert (
        session.post(jenkins_double.url + "job/group/job/service/description", data={"description": "d"}).status_code
        == 204
    )
    assert session.get(jenkins_double.url + "job/group/job/service/description").text == "d"
    assert server.get_job_info("group/service")["description"] == "d"
    server.copy_job("group/service", "group/copy")
    assert jenkins_double.jobs["group/copy"].config == jenkins_double.jobs["group/service"].config
    server.delete_job("group")
    assert list(jenkins_double.jobs) == []


# --- remote API ----------------------------------------------------------------------------------------------------


def test_depth_and_tree_prune_like_stapler(jenkins_double: JenkinsDouble) -> None:
    with_app(jenkins_double)
    session = http(jenkins_double)

    def api(path: str, **params: str | int) -> dict:
        answer = session.get(jenkins_double.url + path + "api/json", params=params)
        assert answer.status_code == 200
        return answer.json()

    assert set(api("job/team/")["jobs"][0]) == {"_class", "name", "url", "color"}
    assert api("job/team/", depth=1)["jobs"][0]["fullName"] == "team/app"
    assert api("", tree="jobs[name,jobs[name]]")["jobs"] == [
        {
            "_class": "com.cloudbees.hudson.plugins.folder.Folder",
            "name": "team",
            "jobs": [{"_class": "org.jenkinsci.plugins.workflow.job.WorkflowJob", "name": "app"}],
        }
    ]
    assert api("", tree="jobs") == {
        "_class": "hudson.model.Hudson",
        "jobs": [{"_class": "com.cloudbees.hudson.plugins.folder.Folder"}],
    }
    client(jenkins_double).build_job("team/app")
    assert "allBuilds" not in api("job/team/job/app/", depth=2)
    assert api("job/team/job/app/", tree="allBuilds[number]{0,1}")["allBuilds"] == [
        {"_class": "org.jenkinsci.plugins.workflow.job.WorkflowRun", "number": 1}
    ]
    assert session.get(jenkins_double.url + "api/json", params={"tree": "jobs[name"}).status_code == 500


def test_unknown_urls_and_methods(jenkins_double: JenkinsDouble) -> None:
    with_app(jenkins_double)
    session = http(jenkins_double)
    for path in ("nope", "job/nope/", "job/team/job/app/nope", "api/xml", "job/team/job/app/7/api/json"):
        answer = session.get(jenkins_double.url + path)
        assert (path, answer.status_code) == (path, 404)
        assert answer.headers["X-Jenkins"] == "2.479.3"
    assert session.get(jenkins_double.url + "job/team/job/app/disable").status_code == 405
    assert session.get(jenkins_double.url + "createItem?name=x").status_code == 405


# --- queue and builds ----------------------------------------------------------------------------------------------

PARAMETERISED = pipeline_xml("echo 'x'").replace(
    "<properties/>",
    "<properties><hudson.model.ParametersDefinitionProperty><parameterDefinitions>"
    "<hudson.model.StringParameterDefinition><name>VERSION</name><defaultValue>1.0</defaultValue>"
    "</hudson.model.StringParameterDefinition><hudson.model.StringParameterDefinition><name>ENV</name>"
    "<defaultValue>dev</defaultValue></hudson.model.StringParameterDefinition></parameterDefinitions>"
    "</hudson.model.ParametersDefinitionProperty></properties>",
)


def test_parameters_defaults_and_refusals(jenkins_double: JenkinsDouble) -> None:
    server = client(jenkins_double)
    server.create_job("app", PARAMETERISED)
    queued = server.build_job("app", {"VERSION": "2.0", "IGNORED": "x"})
    build = server.get_build_info("app", server.get_queue_item(queued)["executable"]["number"])
    parameters = next(action for action in build["actions"] if action["_class"] == "hudson.model.ParametersAction")
    assert [(p["name"], p["value"]) for p in parameters["parameters"]] == [("VERSION", "2.0"), ("ENV", "dev")]
    with pytest.raises(requests.HTTPError, match="400"):
        server.build_job("app")  # "build" on a parameterised job wants a form
    server.create_job("plain", pipeline_xml("x"))
    with pytest.raises(jenkins.JenkinsException, match=r"\[500\]"):
        server.build_job("plain", {"A": "b"})
    server.disable_job("plain")
    with pytest.raises(requests.HTTPError, match="409"):
        server.build_job("plain")


def test_quiet_period_keeps_items_waiting_and_scheduling_twice_reuses_them(jenkins_double: JenkinsDouble) -> None:
    server = client(jenkins_double)
    server.create_job("app", pipeline_xml("x"))
    server.create_job("params", PARAMETERISED)
    jenkins_double.queue.quiet_period = 30
    first = server.build_job("app")
    assert server.build_job("app") == first
    item = server.get_queue_item(first)
    assert item["_class"] == "hudson.model.Queue$WaitingItem"
    assert item["why"].startswith("In the quiet period. Expires in ")
    assert server.get_job_info("app")["inQueue"] is True
    server.build_job("params", {"VERSION": "3"})
    with pytest.raises(jenkins.EmptyResponseException):  # Jenkins answers 303 for an existing item; requests follows
        server.build_job("params", {"VERSION": "3"})
    server.cancel_queue(first)
    assert server.get_queue_item(first)["cancelled"] is True
    assert server.get_job_info("app")["inQueue"] is False


def test_held_builds_run_until_finished(jenkins_double: JenkinsDouble) -> None:
    server = client(jenkins_double)
    server.create_job("app", pipeline_xml("x"))
    jenkins_double.queue.hold_builds = True
    server.build_job("app")
    assert server.get_job_info("app")["color"] == "notbuilt_anime"
    assert server.get_build_info("app", 1)["building"] is True
    jenkins_double.queue.finish_builds("FAILURE")
    info = server.get_job_info("app", depth=1)
    assert (info["color"], info["lastBuild"]["result"], info["lastFailedBuild"]["number"]) == ("red", "FAILURE", 1)
    assert (
        http(jenkins_double)
        .get(jenkins_double.url + "job/app/lastBuild/consoleText")
        .text.endswith("Finished: FAILURE\n")
    )


# --- plugins and the script console --------------------------------------------------------------------------------


def test_plugin_listing_and_install_necessary_plugins(jenkins_double: JenkinsDouble) -> None:
    server = client(jenkins_double)
    plugins = server.get_plugins()
    assert plugins["workflow-job"]["active"] is True
    assert plugins["Pipeline: Job"]["version"] == "1468.vcf4f5ee92395"
    jenkins_double.plugins.catalog["git"].version = "5.8.0"
    body = (
        '<jenkins><install plugin="docker-workflow@latest"/><install plugin="git@5.8.0"/>'
        '<install plugin="no-such-plugin@1.0"/></jenkins>'
    )
    answer = http(jenkins_double).post(
        jenkins_double.url + "pluginManager/installNecessaryPlugins", data=body, headers=XML
    )
    assert answer.status_code == 200
    assert answer.history[0].headers["Location"] == jenkins_double.url + "pluginManager/updates/"
    assert jenkins_double.plugins.install_requests == [
        {"docker-workflow": "latest", "git": "5.8.0", "no-such-plugin": "1.0"}
    ]
    names = {plugin["shortName"] for plugin in server.get_plugins().values()}
    assert {"docker-workflow", "docker-commons"} <= names
    assert "no-such-plugin" not in names
    assert server.get_plugins()["git"]["version"] == "5.7.0"  # an upgrade waits for the restart
    restart = "Jenkins.instance.updateCenter.isRestartRequiredForCompletion()"
    assert (
        http(jenkins_double).post(jenkins_double.url + "scriptText", data={"script": restart}).text == "Result: true\n"
    )
    jenkins_double.plugins.restart()
    assert server.get_plugins()["git"]["version"] == "5.8.0"
    broken = http(jenkins_double).post(
        jenkins_double.url + "pluginManager/installNecessaryPlugins", data="<jenkins>", headers=XML
    )
    assert broken.status_code == 500


def test_python_jenkins_install_plugin_breaks_as_it_does_against_jenkins(jenkins_double: JenkinsDouble) -> None:
    server = client(jenkins_double)
    with pytest.raises(IndexError):  # it parses "Result: true" out of a script whose last statement prints
        server.install_plugin("timestamper")
    assert "timestamper" in server.get_plugins()
    assert [run.output for run in jenkins_double.scripts.runs] == [")]}.", ")]}."]


def test_script_console(jenkins_double: JenkinsDouble) -> None:
    server = client(jenkins_double)
    assert server.run_script('println("hello")') == "hello"
    session = http(jenkins_double)
    raw = session.post(
        jenkins_double.url + "scriptText",
        data={"script": "Jenkins.instance.updateCenter.isRestartRequiredForCompletion()"},
    )
    assert (raw.status_code, raw.text) == (200, "Result: false\n")
    assert session.get(jenkins_double.url + "scriptText", params={"script": "1"}).status_code == 405
    missing = session.post(
        jenkins_double.url + "scriptText", data={"script": 'Jenkins.instance.updateCenter.getPlugin("nope").deploy()'}
    )
    assert missing.text.startswith("java.lang.NullPointerException: Cannot invoke method deploy() on null object")
    jenkins_double.scripts.answer(r"getAllItems", "4 jobs\n")
    assert server.run_script("println(Jenkins.instance.getAllItems().size() + ' jobs')") == "4 jobs"
    server.run_script("Jenkins.instance.doSafeRestart()")
    assert jenkins_double.scripts.runs[-1].unknown == ["Jenkins.instance.doSafeRestart()"]
    assert [run.user for run in jenkins_double.scripts.runs] == ["admin"] * 5


# --- the request log and injected faults ---------------------------------------------------------------------------


def test_reads_are_logged_as_reads_and_writes_as_writes(jenkins_double: JenkinsDouble) -> None:
    server = with_app(jenkins_double)
    jenkins_double.reset_log()
    server.get_all_jobs()
    server.get_job_config("team/app")
    server.get_job_info("team/app")
    assert len(jenkins_double.requests) == 3
    assert jenkins_double.requests.writes() == []
    server.reconfig_job("team/app", pipeline_xml("echo 'new'"))
    [write] = jenkins_double.requests.writes()
    assert (write.method, write.path, write.user, write.status, write.changed) == (
        "POST",
        "/job/team/job/app/config.xml",
        "admin",
        200,
        True,
    )
    assert b"echo 'new'" in write.body


def test_injected_faults(jenkins_double: JenkinsDouble) -> None:
    server = client(jenkins_double)
    jenkins_double.fail_next(1, status=503, path_prefix="/createItem")
    with pytest.raises(requests.HTTPError, match="503"):
        server.create_job("app", pipeline_xml("x"))
    assert "app" not in jenkins_double.jobs
    assert jenkins_double.requests.matching("POST")[-1].injected
    server.create_job("app", pipeline_xml("x"))

    jenkins_double.fail_next(status=502, method="POST", after=True)  # the change happens, the answer is lost
    with pytest.raises(requests.HTTPError, match="502"):
        server.disable_job("app")
    assert jenkins_double.jobs["app"].disabled

    remove = jenkins_double.fail_when(lambda method, path: path.endswith("/config.xml"))
    with pytest.raises(jenkins.JenkinsException, match=r"\[500\]"):
        server.get_job_config("app")
    remove()
    assert "<flow-definition" in server.get_job_config("app")


# --- jenkins-job-builder -------------------------------------------------------------------------------------------


def test_jenkins_jobs_cache_is_defeated_without_an_explicit_disabled(
    jenkins_double: JenkinsDouble, tmp_path: Path
) -> None:
    """jenkins-job-builder 6.5.0 quirk, reproduced: a job rendered without <disabled> is uploaded on every run
    after its first reconfiguration, because ``fix_disabled`` edits the XML before its hash is cached."""
    ini, definitions = jenkins_jobs_ini(jenkins_double, tmp_path / "jobs.ini"), tmp_path / "jobs.yaml"
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    writes = []
    for script in ("echo 'one'", "echo 'two'", "echo 'two'"):
        definitions.write_text(jobs_yaml("team", script, disabled_line=""), encoding="utf-8")
        jenkins_double.reset_log()
        argv = [sys.executable, "-m", "jenkins_jobs", "--conf", str(ini), "update", str(definitions)]
        subprocess.run(argv, check=True, capture_output=True, env=env, timeout=120)
        writes.append([entry.path for entry in jenkins_double.requests.writes()])
    assert writes[1] == writes[2] == ["/job/team/job/app/config.xml"]
    assert "<disabled>false</disabled>" in jenkins_double.jobs.config("team/app")
    assert (
        json.loads(http(jenkins_double).get(jenkins_double.url + "job/team/job/app/api/json").text)["disabled"] is False
    )
