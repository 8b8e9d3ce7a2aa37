"""Rollouts that go wrong: registry failures (through a proxy that fails requests), a threshold, a kill -9."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from buildplat.clients.registry import RegistryClient
from buildplat.stages.image_index import INDEX_TAG
from tests.appeng.helpers import World
from tests.appeng.proxy import FailingProxy
from tests.cli_helpers import run_cli

pytestmark = [pytest.mark.slow, pytest.mark.docker]


@pytest.fixture
def proxy(world: World) -> Iterator[FailingProxy]:
    started = FailingProxy(world.registry.host).start()
    yield started
    started.stop()


def _states(state_dir: Path) -> dict[str, tuple[str, int]]:
    if not (state_dir / "rollouts.sqlite").exists():
        return {}
    with sqlite3.connect(state_dir / "rollouts.sqlite") as db:
        try:
            rows = db.execute("SELECT app, status, attempts FROM apps").fetchall()
        except sqlite3.OperationalError:  # the rollout has not made its tables yet
            return {}
    return {app: (status, attempts) for app, status, attempts in rows}


def _every_tag_names_a_complete_image(client: RegistryClient, repository: str) -> list[str]:
    tags = [tag for tag in client.tags(repository) if tag != INDEX_TAG]
    for tag in tags:
        manifest = client.get_manifest(repository, tag)
        for blob in (manifest.config, *manifest.layers):
            assert client.has_blob(repository, blob.digest), f"{repository}:{tag} lacks {blob.digest}"
    return tags


def test_failed_pushes_are_retried_reported_and_resumed(world: World, proxy: FailingProxy, tmp_path: Path) -> None:
    flaky, steady = world.registry.namespace("flaky"), world.registry.namespace("steady")
    for app in (f"{flaky}/app-f", f"{flaky}/app-g", f"{steady}/app-h"):
        world.app(app, tmp_path)
    configs = [world.config(tmp_path, team, registry_url=proxy.url) for team in (flaky, steady)]
    v2 = world.bases.python["v2"].version
    state = tmp_path / "state"
    args = ["images", "rollout", "python", "--to", v2, "--config", *configs, "--state-dir", str(state)]
    proxy.fail("PUT", f"/{flaky}/app-f/manifests/", status=400, times=100)  # refused for good: not retried

    first = run_cli(*args, "--per-team", "1", "--max-failures", "0", env=world.env)
    first.assert_no_traceback()
    assert first.returncode == 1
    assert f"{flaky}/app-f: rebase failed:" in first.stdout
    assert "HTTP 400" in first.stdout
    assert f"{flaky}/app-g: rebase not started" in first.stdout, "the wave after the failure did not start"
    assert "stopped: 1 app(s) failed, more than --max-failures 0; run the same command again" in first.stdout
    assert f"{steady}/app-h: rebase done" in first.stdout
    assert (len(world.said(flaky)), len(world.said(steady))) == (0, 1)
    client = RegistryClient(world.registry.url)
    assert _every_tag_names_a_complete_image(client, f"{flaky}/app-f") == ["1.7.0"], "no tag for a failed rebase"

    proxy.clear()
    proxy.fail("PUT", f"/{flaky}/app-g/manifests/", status=500, times=2)  # a hiccup: the client retries it
    second = run_cli(*args, env=world.env)
    second.assert_success()
    assert f"{flaky}/app-g: rebase done" in second.stdout
    assert "(after 2 retries)" in second.stdout
    assert "2 done, 0 failed;" in second.stdout, "app-h, rebased before, is on v2 now and out of the plan"
    assert f"{steady}/app-h" not in second.stdout
    assert proxy.failed == 3, "app-f refused once (a 400 is final), app-g's hiccup twice"
    assert (len(world.said(flaky)), len(world.said(steady))) == (1, 1), "one message per team, none repeated"
    assert world.said(flaky)[0].splitlines()[1:] == [
        f"• {flaky}/{name}: from {world.bases.python['v1'].version} ({world.bases.python['v1'].digest[:19]}),"
        f" tagged 1.7.0-base-{v2}"
        for name in ("app-f", "app-g")
    ]
    states = _states(state)
    assert states[f"{steady}/app-h"] == ("done", 1), "a finished app is not redone"
    assert states[f"{flaky}/app-f"] == ("done", 2)
    tag = f"1.7.0-base-{v2}"
    for app in (f"{flaky}/app-f", f"{flaky}/app-g", f"{steady}/app-h"):
        assert sorted(_every_tag_names_a_complete_image(client, app)) == ["1.7.0", tag]


def test_a_killed_rollout_resumes_without_redoing_finished_apps(
    world: World, proxy: FailingProxy, tmp_path: Path
) -> None:
    team = world.registry.namespace("slow")
    apps = [f"{team}/app-{i}" for i in range(4)]
    for app in apps:
        world.app(app, tmp_path)
    config = world.config(tmp_path, team, registry_url=proxy.url)
    v2 = world.bases.python["v2"].version
    state = tmp_path / "state"
    args = ["images", "rollout", "python", "--to", v2, "--config", config, "--state-dir", str(state)]
    proxy.delay("PUT", "/manifests/", 0.4)
    running = subprocess.Popen(
        [sys.executable, "-m", "buildplat", *args, "--per-team", "1", "--workers", "1"],
        env={**os.environ, **world.env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if any(status == "done" for status, _ in _states(state).values()):
            break
        time.sleep(0.05)
    time.sleep(0.5)  # into the middle of the next app
    running.send_signal(signal.SIGKILL)
    running.wait(timeout=30)
    killed = _states(state)
    finished = {app for app, (status, _) in killed.items() if status == "done"}
    assert finished, "the first run finished at least one app"
    assert len(finished) < len(apps), "and was killed before the last"
    client = RegistryClient(world.registry.url)
    for app in apps:
        _every_tag_names_a_complete_image(client, app)

    proxy.clear()
    resumed = run_cli(*args, env=world.env)
    resumed.assert_success()
    assert "rollout: resuming" in resumed.stderr
    states = _states(state)
    for app in apps:
        assert states[app][0] == "done"
        assert sorted(_every_tag_names_a_complete_image(client, app)) == ["1.7.0", f"1.7.0-base-{v2}"]
    for app in finished:
        assert states[app] == ("done", 1), f"{app} finished before the kill and was not redone"
    [message] = world.said(team)  # the team's last wave was never reached before the kill: one message in all
    assert [line.split(":")[0] for line in message.splitlines()[1:]] == [f"• {app}" for app in apps]


def test_an_app_tagged_just_before_a_kill_is_noted_and_announced_on_resume(world: World, tmp_path: Path) -> None:
    """The window a kill -9 can hit: the new tag is written, the state still says "running"."""
    from buildplat.images.rollout_state import RolloutState

    team = world.registry.namespace("window")
    app = f"{team}/app-w"
    world.app(app, tmp_path)
    config = world.config(tmp_path, team)
    v1, v2 = world.bases.python["v1"], world.bases.python["v2"]
    args = ["images", "rollout", "python", "--to", v2.version, "--config", config, "--state-dir"]
    run_cli(*args, str(tmp_path / "elsewhere"), env=world.env).assert_success()  # writes the tag
    assert len(world.said(team)) == 1
    interrupted = RolloutState(tmp_path / "state")  # the killed run's state: started, attempt under way
    rollout = f"{world.registry.host}/{world.bases.root}/python@{v2.digest}"
    interrupted.start(rollout, "python", v2.version, v2.digest)
    notice = json.dumps({
        "app": app, "buildfact": "python", "event": "base-image", "tag": f"1.7.0-base-{v2.version}",
        "new": {"digest": v2.digest, "version": v2.version}, "old": {"digest": v1.digest, "version": v1.version},
    })  # fmt: skip
    interrupted.begin(rollout, app, team, "rebase", notice)
    interrupted.close()
    resumed = run_cli(*args, str(tmp_path / "state"), env=world.env).assert_success()
    assert f"{app}: rebase done: found as {app}:1.7.0-base-{v2.version}" in resumed.stdout
    assert _states(tmp_path / "state")[app] == ("done", 1)
    assert len(world.said(team)) == 2, "the interrupted run's announcement is made, once"
    again = run_cli(*args, str(tmp_path / "state"), env=world.env).assert_success()
    assert "nothing to do" in again.stdout
    assert len(world.said(team)) == 2


def test_a_rebase_is_verified_before_it_is_tagged(world: World, proxy: FailingProxy, tmp_path: Path) -> None:
    """The registry's word on what it stored is checked, asked for when it gives none, and no tag names an image
    that fails the check."""
    team = world.registry.namespace("verify")
    quiet, holey, liar = (f"{team}/app-{name}" for name in ("quiet", "holey", "liar"))
    client = RegistryClient(world.registry.url)
    built = {app: world.app(app, tmp_path) for app in (quiet, holey, liar)}
    app_layer = client.get_manifest(holey, built[holey]["digest"]).layers[-1].digest
    config = world.config(tmp_path, team, registry_url=proxy.url)
    v2 = world.bases.python["v2"].version
    proxy.rewrite_header("PUT", f"/{quiet}/manifests/sha256:", "Docker-Content-Digest", None)  # says nothing
    proxy.fail("HEAD", f"/{holey}/blobs/{app_layer}", status=404, times=100)  # the app's layer is gone
    proxy.rewrite_header("PUT", f"/{liar}/manifests/sha256:", "Docker-Content-Digest", "sha256:" + "0" * 64)

    done = run_cli("images", "rollout", "python", "--to", v2, "--config", config, "--state-dir",
                   str(tmp_path / "state"), env=world.env)  # fmt: skip
    done.assert_no_traceback()
    assert done.returncode == 1
    assert f"{quiet}: rebase done" in done.stdout
    assert f"{holey}: rebase failed: " in done.stdout
    assert f"blob {app_layer} is missing" in done.stdout
    assert f"{liar}: rebase failed: registry: the registry stored the manifest as sha256:000" in done.stdout
    tag = f"1.7.0-base-{v2}"
    assert sorted(_every_tag_names_a_complete_image(client, quiet)) == ["1.7.0", tag]
    assert _every_tag_names_a_complete_image(client, holey) == ["1.7.0"], "a failed check leaves no tag"
    assert _every_tag_names_a_complete_image(client, liar) == ["1.7.0"]

    def read_by_digest(app: str) -> set[str]:
        prefix = f"/v2/{app}/manifests/"
        return {path[len(prefix) :] for method, path in proxy.seen if method == "GET" and path.startswith(prefix)} - {
            "buildplat-index"
        }

    rebased = client.manifest_digest(quiet, tag)
    assert read_by_digest(quiet) == {built[quiet]["digest"], rebased}, "read back: the registry did not say"
    assert read_by_digest(holey) == {built[holey]["digest"]}, "the registry named the digest it stored: not read back"
