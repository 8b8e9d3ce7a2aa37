"""sync when things go wrong: invalid default.json, another team's namespace, Jenkins failing half-way, a killed
process, two seed jobs at once, a stop request."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from buildplat.sync.runner import SyncLoop, open_engine
from tests.jenkins_double import JenkinsDouble
from tests.sync.helpers import Team, app_doc, dump, kinds

PIPELINE_CREATES = "/job/team/createItem"


def test_invalid_default_json_keeps_the_last_good_job(team: Team, jenkins_double: JenkinsDouble) -> None:
    team.add_app("alpha")
    team.cycle()
    good = jenkins_double.jobs.config("team/alpha")
    team.repos.commit("alpha", {"default.json": '{"namespace": "team", "application": {"name": "alpha"}}'})
    report = team.cycle()
    (action,) = report.actions
    assert action.kind == "quarantine"
    assert action.job == "alpha"
    assert "last good job is kept" in action.reason
    assert any("default.json:1:" in problem and "build" in problem for problem in action.problems)
    assert jenkins_double.jobs.config("team/alpha") == good
    assert not jenkins_double.jobs["team/alpha"].disabled


def test_invalid_default_json_is_announced_once_per_distinct_error(team: Team, caplog) -> None:
    team.add_app("alpha", raw="{ not json")
    caplog.set_level("WARNING", logger="buildplat.sync")
    first = team.cycle()
    assert kinds(first) == {team.urls[0] + "#main": "quarantine"}
    announced = [r.getMessage() for r in caplog.records]
    assert len(announced) == 1
    assert "default.json:1:3: error:" in announced[0]
    caplog.clear()
    team.cycle()
    assert caplog.records == []  # the same error: not again
    team.repos.commit("alpha", {"default.json": "[]"})
    team.cycle()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2  # a different error: announced, its hint on a log line of its own
    assert "default.json:1:1: error: the top level must be a JSON object" in lines[0]
    assert "default.json:1:1: hint: " in lines[1]
    assert all("\n" not in line and line.startswith(team.urls[0]) for line in lines)


def test_repository_of_another_team_is_rejected(team: Team, jenkins_double: JenkinsDouble) -> None:
    team.add_app("alpha")
    team.add_app("intruder", app_doc("intruder", namespace="otherteam"))
    report = team.cycle()
    assert kinds(report)["alpha"] == "create"
    rejected = next(a for a in report.actions if a.kind == "rejected")
    assert rejected.repo == team.urls[1] + "#main"
    assert "namespace 'otherteam' is not this team's ('team')" in rejected.problems[0]
    assert "team/intruder" not in jenkins_double.jobs
    assert not any("intruder" in entry.path for entry in jenkins_double.requests)


def test_two_repositories_cannot_claim_one_app_name(team: Team, jenkins_double: JenkinsDouble) -> None:
    team.add_app("alpha")
    team.cycle()
    team.add_app("copy", app_doc("alpha"))
    report = team.cycle()
    by_repo = {a.repo: a for a in report.actions}
    assert by_repo[team.urls[0] + "#main"].kind == "unchanged"
    rejected = by_repo[team.urls[1] + "#main"]
    assert rejected.kind == "rejected"
    assert "already used by" in rejected.problems[0]
    assert f"buildplat-repo: {team.urls[0]}" in jenkins_double.jobs.config("team/alpha")


def test_two_new_repositories_with_one_app_name_get_one_job(team: Team, jenkins_double: JenkinsDouble) -> None:
    first = team.add_app("original", app_doc("shop"))
    copy = team.add_app("copy", app_doc("shop"))  # a default.json copied without renaming the app
    report = team.cycle()  # both are new and rendered at once: the first in the config gets the job
    by_repo = {a.repo: a for a in report.actions}
    assert by_repo[first + "#main"].kind == "create"
    assert by_repo[copy + "#main"].kind == "rejected"
    assert f"buildplat-repo: {first}" in jenkins_double.jobs.config("team/shop")
    assert len(jenkins_double.requests.matching("POST", PIPELINE_CREATES)) == 1


def test_jenkins_failing_half_way_is_finished_by_the_next_cycle(team: Team, jenkins_double: JenkinsDouble) -> None:
    for index in range(6):
        team.add_app(f"app{index}")
    team.cycle()  # folder, plugins and tools are done; now six changes with Jenkins failing some of them
    for index in range(6):
        team.repos.commit(f"app{index}", {"default.json": dump(app_doc(f"app{index}", build_command="make v2"))})
    jenkins_double.fail_next(9, status=500, path_prefix="/job/team/job/app", method="POST")
    failed = team.cycle()
    assert not failed.ok
    assert failed.failures, "some updates must have failed"
    assert all("500" in outcome.detail for outcome in failed.failures)
    recovered = team.cycle()
    assert recovered.ok
    assert {a.kind for a in recovered.actions} <= {"update", "unchanged"}
    assert sum(a.kind == "update" for a in recovered.actions) == len(failed.failures)
    for index in range(6):
        assert "make v2" not in jenkins_double.jobs.config(f"team/app{index}")  # build_command is read at run time
        assert kinds(team.cycle())[f"app{index}"] == "unchanged"


def test_a_write_that_failed_after_it_was_done_is_not_done_twice(team: Team, jenkins_double: JenkinsDouble) -> None:
    team.add_app("alpha")
    team.cycle()
    team.add_app("beta")
    # Jenkins creates the job, then answers 500: the client retries and finds the name taken by our own job.
    jenkins_double.fail_next(1, status=500, path_prefix="/job/team/createItem", after=True)
    jenkins_double.reset_log()
    report = team.cycle()
    assert report.ok, report.failures
    assert kinds(report)["beta"] == "create"
    assert len(jenkins_double.requests.matching("POST", PIPELINE_CREATES)) == 2
    assert kinds(team.cycle())["beta"] == "unchanged"


def test_killed_mid_cycle_then_restarted_finishes_the_work(team: Team, jenkins_double: JenkinsDouble) -> None:
    names = [f"app{index:02d}" for index in range(40)]
    for name in names:
        team.add_app(name)
    team.sync["jenkins_concurrency"] = 1
    config = team.write_config()
    env = {**os.environ, "BUILDPLAT_JENKINS_USER": jenkins_double.user, "BUILDPLAT_JENKINS_TOKEN": jenkins_double.token}
    child = subprocess.Popen(
        [sys.executable, "-m", "buildplat", "sync", "--config", str(config), "--once"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while len(jenkins_double.requests.matching("POST", PIPELINE_CREATES)) < 5 and time.monotonic() < deadline:
        time.sleep(0.005)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    made = {name for name in names if f"team/{name}" in jenkins_double.jobs}
    assert 5 <= len(made) < len(names), "the kill must land half-way"
    report = team.cycle()
    assert report.ok
    assert {a.job for a in report.actions if a.kind == "create"} == set(names) - made
    assert all(f"team/{name}" in jenkins_double.jobs for name in names)
    assert set(kinds(team.cycle()).values()) == {"unchanged"}


def test_two_seed_jobs_racing_on_one_jenkins_agree(team: Team, jenkins_double: JenkinsDouble) -> None:
    for index in range(12):
        team.add_app(f"app{index:02d}")
    configs = []
    for seed in ("one", "two"):
        team.state_dir = team.root / f"state-{seed}"
        configs.append(team.config())
    reports = []

    def run(config) -> None:
        with open_engine(config, backoff=(0.01, 0.01)) as engine:
            reports.append(engine.cycle(threading.Event()))

    threads = [threading.Thread(target=run, args=(config,)) for config in configs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(reports) == 2
    assert all(report.ok for report in reports), [r.failures for r in reports]
    names = {f"team/app{index:02d}" for index in range(12)}
    assert names <= set(jenkins_double.jobs)
    # Whoever wrote last, the jobs are what either would write: a cycle of each finds nothing to do.
    jenkins_double.reset_log()
    for config in configs:
        with open_engine(config) as engine:
            assert {a.kind for a in engine.cycle(threading.Event()).actions} == {"unchanged"}
    assert jenkins_double.requests.writes() == []


def test_stop_flag_ends_the_loop_cleanly(team: Team, jenkins_double: JenkinsDouble) -> None:
    team.add_app("alpha")
    stop = threading.Event()
    cycles: list[object] = []
    with open_engine(team.config()) as engine:
        loop = SyncLoop(engine, interval=0.05, on_cycle=cycles.append)
        thread = threading.Thread(target=loop.run, args=(stop,))
        thread.start()
        deadline = time.monotonic() + 30
        while len(cycles) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert len(cycles) >= 3
    assert "team/alpha" in jenkins_double.jobs


def test_a_stopped_cycle_writes_nothing_more(team: Team, jenkins_double: JenkinsDouble) -> None:
    team.add_app("alpha")
    stop = threading.Event()
    stop.set()
    report = team.cycle(stop=stop)
    assert report.stopped
    assert not report.ok
    assert jenkins_double.requests.writes() == []
    assert team.cycle().ok
    assert "team/alpha" in jenkins_double.jobs


def test_sigterm_stops_sync_and_the_config_is_read_again_each_cycle(team: Team, jenkins_double: JenkinsDouble) -> None:
    team.add_app("alpha")
    env = {**os.environ, "BUILDPLAT_JENKINS_USER": jenkins_double.user, "BUILDPLAT_JENKINS_TOKEN": jenkins_double.token}
    child = subprocess.Popen(
        [sys.executable, "-m", "buildplat", "sync", "--config", str(team.write_config()), "--interval", "0.2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def wait_for_job(name: str) -> None:
        deadline = time.monotonic() + 60
        while f"team/{name}" not in jenkins_double.jobs and time.monotonic() < deadline:
            time.sleep(0.02)

    wait_for_job("alpha")
    team.add_app("beta")  # rewrites the platform config the running sync reads
    wait_for_job("beta")
    child.send_signal(signal.SIGTERM)
    _out, err = child.communicate(timeout=30)
    assert child.returncode == 0, err
    assert "Traceback" not in err
    assert "sync team: 1 items: 1 created" in err
    assert "team/beta" in jenkins_double.jobs
    assert jenkins_double.token not in err


def test_tools_script_compiles_with_groovy() -> None:
    from buildplat.buildfacts import registry
    from buildplat.sync.jenkins_setup import needed_tools, tools_script
    from tests.harness.groovy import compile_jenkinsfile

    script = tools_script(needed_tools(set(registry.BUILDFACTS)))
    assert "'/usr/lib/jvm/java-17-openjdk-amd64'" in script
    compile_jenkinsfile(script, "tools.groovy")


def test_jenkins_down_or_answering_nonsense_is_a_clear_error(team: Team, jenkins_double: JenkinsDouble) -> None:
    from buildplat.errors import ServiceError
    from tests.cli_helpers import run_cli

    team.add_app("alpha")
    jenkins_double.fail_next(1, status=200, path_prefix="/job/team/api/json", body=b"<html>a login page</html>")
    with pytest.raises(ServiceError, match="did not answer with a JSON object"):
        team.cycle()
    team.jenkins_url = "http://127.0.0.1:9/"
    env = {"BUILDPLAT_JENKINS_USER": "u", "BUILDPLAT_JENKINS_TOKEN": "t0ken-value"}
    outcome = run_cli("sync", "--config", str(team.write_config()), "--once", env=env).assert_no_traceback()
    assert outcome.returncode == 1
    assert "cycle failed: Jenkins: GET http://127.0.0.1:9/job/team/api/json: cannot connect: Connection refused" in (
        outcome.stderr
    )
    assert "is jenkins.url in the platform config its address?" in outcome.stderr
    assert "t0ken-value" not in outcome.stderr


def test_a_seed_job_user_without_administer_gets_its_jobs_and_a_clear_reason(
    team: Team, jenkins_double: JenkinsDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.jenkins_double.security import ITEM_CONFIGURE, ITEM_CREATE, ITEM_DELETE, ITEM_READ, READ

    token = jenkins_double.add_user("seed", "pw", {READ, ITEM_READ, ITEM_CREATE, ITEM_CONFIGURE, ITEM_DELETE})
    monkeypatch.setenv("BUILDPLAT_JENKINS_USER", "seed")
    monkeypatch.setenv("BUILDPLAT_JENKINS_TOKEN", token)
    team.add_app("alpha")
    report = team.cycle()
    assert "team/alpha" in jenkins_double.jobs  # the jobs do not wait for the plugins
    (error,) = report.errors
    assert "/pluginManager/api/json answered 403" in error
    assert "Overall/Administer" in error
    assert not report.ok


def test_a_second_sigterm_stops_at_once_when_a_git_server_hangs(team: Team, jenkins_double: JenkinsDouble) -> None:
    import socket

    silent = socket.create_server(("127.0.0.1", 0))  # accepts connections and never answers
    held: list[socket.socket] = []
    acceptor = threading.Thread(target=lambda: held.append(silent.accept()[0]), daemon=True)
    acceptor.start()
    team.urls.append(f"git://127.0.0.1:{silent.getsockname()[1]}/team/app.git")
    env = {**os.environ, "BUILDPLAT_JENKINS_USER": jenkins_double.user, "BUILDPLAT_JENKINS_TOKEN": jenkins_double.token}
    child = subprocess.Popen(
        [sys.executable, "-m", "buildplat", "sync", "--config", str(team.write_config()), "--interval", "60"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        acceptor.join(timeout=30)
        assert held, "git never connected"
        child.send_signal(signal.SIGTERM)
        with pytest.raises(subprocess.TimeoutExpired):
            child.wait(timeout=1.5)  # the first signal waits for the fetch in flight, which hangs
        child.send_signal(signal.SIGTERM)
        _out, err = child.communicate(timeout=10)
    finally:
        child.kill()
        silent.close()
        for connection in held:
            connection.close()
    assert child.returncode == 128 + signal.SIGTERM
    assert "a second signal stops at once" in err
    assert "stopping at once; the next run finishes the work" in err
    assert "Traceback" not in err
