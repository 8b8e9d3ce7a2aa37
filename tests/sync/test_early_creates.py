"""Jobs of new apps created while other repositories are still being fetched (buildplat.sync.early).

The rules are the reconciler's for a ``create``; these tests feed repositories in an order the fetches could
take and check that exactly the certain creates go out, and only once what comes before them is known.
"""

from __future__ import annotations

import threading

from buildplat.clients.jenkins import FolderListing, JenkinsClient, JobEntry
from buildplat.jobs import marker
from buildplat.jobs.inputs import JobInputs, JobTarget
from buildplat.jobs.render import Renderer
from buildplat.jobs.templates import packaged_templates
from buildplat.spec.model import load_app
from buildplat.sync.apply import Applier
from buildplat.sync.early import EarlyCreates
from buildplat.sync.runner import open_engine
from tests.jenkins_double import JenkinsDouble
from tests.sync.helpers import Team, app_doc, dump, kinds

CREATES = "/job/team/createItem"


def _inputs(name: str, repo: str) -> JobInputs:
    source = dump(app_doc(name)).encode()
    return JobInputs(load_app(source, "default.json"), source, JobTarget("team", "team", f"git://git/{repo}.git"))


def _early(double: JenkinsDouble, stop: threading.Event | None = None) -> EarlyCreates:
    jenkins = JenkinsClient(double.url, double.user, double.token)
    renderer = Renderer(packaged_templates())
    return EarlyCreates(
        jenkins, "team", "team", renderer, Applier(jenkins, "team", renderer, 2), stop or threading.Event()
    )


def _created(double: JenkinsDouble) -> list[str]:
    return sorted(entry.query["name"][0] for entry in double.requests.matching("POST", CREATES) if entry.status == 200)


def _feed(early: EarlyCreates, order: list[int], items: list[JobInputs | None], version: str) -> list[list[str]]:
    """Arrive in ``order``, rendering after each; what has been submitted after each arrival."""
    renderer = early.renderer
    rendered = {(job.name, job.fingerprint): job for job in renderer.render_jobs([i for i in items if i])}
    seen = []
    for index in order:
        item = items[index]
        early.arrived(index, marker.repo_key(f"git://git/r{index}.git", "main"), item)
        early.rendered(rendered, version)
        seen.append(sorted(str(f.result().action.job) for f in early._futures))
    return seen


def test_only_certain_creates_go_out_and_only_once_earlier_repositories_are_known(
    jenkins_double: JenkinsDouble,
) -> None:
    version = packaged_templates().version
    hand_made = "<flow-definition plugin='workflow-job'><description>mine</description></flow-definition>"
    folder = "<com.cloudbees.hudson.plugins.folder.Folder/>"
    jenkins = JenkinsClient(jenkins_double.url, jenkins_double.user, jenkins_double.token)
    jenkins.create_item(None, "team", folder)
    jenkins.create_item("team", "taken", hand_made)
    early = _early(jenkins_double)
    early.start(jenkins.folder("team"))
    items: list[JobInputs | None] = [
        _inputs("alpha", "r0"),
        _inputs("beta", "r1"),
        _inputs("alpha", "r2"),  # the same name as r0, later in the config: the reconciler rejects it
        _inputs("taken", "r3"),  # a job nobody manages has the name: a conflict, never created
        None,  # r4: invalid, another team's, or gone: it claims nothing
        _inputs("gamma", "r5"),
    ]
    seen = _feed(early, [2, 5, 0, 3, 4, 1], items, version)
    assert seen[0] == []  # r2 arrived first, but r0 and r1 before it may still want "alpha"
    assert seen[1] == []
    assert seen[2] == ["alpha"]  # r0: nothing before it
    assert seen[-1] == ["alpha", "beta", "gamma"]
    done = early.finish()
    assert sorted(job for job, _fingerprint in done) == ["alpha", "beta", "gamma"]
    assert _created(jenkins_double) == ["alpha", "beta", "gamma", "taken"]  # "taken" is the hand-made one
    assert "buildplat-repo: git://git/r0.git" in jenkins_double.jobs.config("team/alpha")


def test_a_repository_with_a_job_already_is_left_to_the_reconciler(jenkins_double: JenkinsDouble) -> None:
    version = packaged_templates().version
    description = marker.job_description("x", repo="git://git/r0.git", branch="main", fingerprint="old")
    listing = FolderListing("folder", (JobEntry("alpha", description, "blue"),))
    early = _early(jenkins_double)
    early._ready = False
    early.start(listing)
    # r0 renamed its app: its job is renamed, which is decided on the whole picture, not here.
    assert _feed(early, [0], [_inputs("omega", "r0")], version) == [[]]
    assert early.finish() == {}
    assert jenkins_double.requests.writes() == []


def test_no_folder_means_the_folder_first_and_a_stop_means_nothing(jenkins_double: JenkinsDouble) -> None:
    version = packaged_templates().version
    stop = threading.Event()
    stop.set()
    stopped = _early(jenkins_double, stop)
    stopped.start(None)
    assert _feed(stopped, [0], [_inputs("alpha", "r0")], version) == [[]]
    assert jenkins_double.requests.writes() == []
    early = _early(jenkins_double)
    early.start(None)
    assert early.folder_created
    assert jenkins_double.jobs["team"].type.folder
    assert _feed(early, [0], [_inputs("alpha", "r0")], version) == [["alpha"]]
    assert len(early.finish()) == 1


def test_a_first_sync_creates_jobs_while_it_still_fetches(team: Team, jenkins_double: JenkinsDouble) -> None:
    names = [f"app{index:02d}" for index in range(70)]
    for name in names:
        team.add_app(name)
    team.sync["git_concurrency"] = 2
    creates_when_fetched: list[int] = []
    with open_engine(team.config()) as engine:
        report = engine.cycle(
            threading.Event(),
            on_fetched=lambda _item: creates_when_fetched.append(
                len(jenkins_double.requests.matching("POST", CREATES))
            ),
        )
    assert report.ok, report.failures
    assert set(kinds(report).values()) == {"create"}
    assert creates_when_fetched[-1] > 0  # jobs were being made before the last repository was fetched
    assert len(jenkins_double.requests.matching("POST", CREATES)) == len(names)  # each job once
    assert [r.query["name"] for r in jenkins_double.requests.matching("POST", "/createItem")] == [["team"]]
    assert sum(o.ok and o.action.kind == "create" for o in report.outcomes) == len(names)
    assert {f"team/{name}" for name in names} <= set(jenkins_double.jobs)
    assert set(kinds(team.cycle()).values()) == {"unchanged"}
