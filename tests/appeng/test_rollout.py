"""Plan and roll out a new base against the real registry, dockerd and Hubot: the images run, the bytes add up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from buildplat.clients.registry import RegistryClient
from buildplat.stages.image_index import read_index
from tests.appeng.helpers import Bases, World, write_platform
from tests.cli_helpers import run_cli
from tests.harness.docker import DockerEngine
from tests.harness.registry import Registry

pytestmark = [pytest.mark.slow, pytest.mark.docker]


def _run(docker: DockerEngine, reference: str) -> list[str]:
    return docker.cli("run", "--rm", reference).stdout.decode().splitlines()


def test_plan_and_rollout_rebase_every_app_on_the_old_base(world: World, tmp_path: Path) -> None:
    bases, registry, docker_engine, hubot = world.bases, world.registry, world.docker, world.hubot
    red, blue = registry.namespace("red"), registry.namespace("blue")
    v1, v2 = bases.python["v1"], bases.python["v2"]
    before = {
        f"{red}/app-a": world.app(f"{red}/app-a", tmp_path),
        f"{red}/app-b": world.app(f"{red}/app-b", tmp_path, engine="docker", docker=docker_engine),
        f"{blue}/app-c": world.app(f"{blue}/app-c", tmp_path),
    }
    world.app(f"{blue}/app-j", tmp_path, base=bases.java.version, buildfact="java")
    world.app(f"{blue}/app-new", tmp_path, base="v2")
    configs = [world.config(tmp_path, team) for team in (red, blue)]

    planned = run_cli("images", "plan", "python", "--to", v2.version, "--config", *configs, "--format", "json")
    plan = json.loads(planned.assert_success().stdout)
    assert [app["app"] for app in plan["apps"]] == sorted(before), "exactly the python apps on v1"
    assert {app["action"] for app in plan["apps"]} == {"rebase"}
    assert {app["base"]["version"] for app in plan["apps"]} == {v1.version}
    assert plan["up_to_date"] == [f"{blue}/app-new"]
    assert plan["target"] == {"version": v2.version, "digest": v2.digest}
    text = run_cli("images", "plan", "python", "--to", v2.version, "--config", *configs).assert_success().stdout
    assert f"3 app(s): 3 rebase, 0 rebuild; 1 already on {v2.version}" in text

    state = tmp_path / "state"
    args = ["images", "rollout", "python", "--to", v2.version, "--config", *configs, "--state-dir", str(state)]
    done = run_cli(*args, "--per-team", "1", env=world.env)
    done.assert_success()
    assert "rollout: wave 2: 1 app(s)" in done.stderr, "red's second app waits for the second wave"
    assert "3 done, 0 failed" in done.stdout

    client = RegistryClient(registry.url)
    v1_layers = [d.digest for d in client.get_manifest(f"{bases.root}/python", v1.digest).layers]
    v2_layers = [d.digest for d in client.get_manifest(f"{bases.root}/python", v2.digest).layers]
    tag = f"1.7.0-base-{v2.version}"
    for app, image in before.items():
        old = client.get_manifest(app, image["digest"])
        new = client.get_manifest(app, tag)
        assert client.manifest_digest(app, "1.7.0") == image["digest"], "the old tag is untouched"
        assert [d.digest for d in new.layers[: len(v2_layers)]] == v2_layers
        own = old.layers[len(v1_layers) :]
        assert [(d.digest, d.size) for d in new.layers[len(v2_layers) :]] == [(d.digest, d.size) for d in own]
        assert new.annotations["org.opencontainers.image.base.digest"] == v2.digest
        config = json.loads(client.get_blob(app, new.config.digest))
        assert config["config"]["Labels"]["org.opencontainers.image.base.digest"] == v2.digest
        assert len(config["rootfs"]["diff_ids"]) == len(new.layers)
        name = app.split("/")[1]
        assert _run(docker_engine, f"{registry.host}/{app}:{tag}") == [f"hello from {name}", "v2"]
        assert _run(docker_engine, f"{registry.host}/{app}:1.7.0") == [f"hello from {name}", "v1"]
        assert {(e.annotations or {}).get("org.opencontainers.image.ref.name") for e in read_index(client, app)} >= {
            tag
        }

    said = {team: [m["text"] for m in hubot.messages(room=f"{team}-builds")] for team in (red, blue)}
    assert [len(said[red]), len(said[blue])] == [1, 1], "one message per team, red's after its second wave"
    assert said[red][0].splitlines() == [
        f"🧱 python base image → {v2.version} ({v2.digest[:19]}) for 2 apps:",
        *(f"• {app}: from {v1.version} ({v1.digest[:19]}), tagged {tag}" for app in (f"{red}/app-a", f"{red}/app-b")),
    ]
    assert said[blue] == [
        f"🧱 {blue}/app-c: python base image {v1.version} ({v1.digest[:19]}) → {v2.version} ({v2.digest[:19]}),"
        f" tagged {tag}"
    ]

    again = run_cli(*args, env=world.env).assert_success()
    assert "rollout: finished before" in again.stderr
    assert "nothing to do" in again.stdout
    assert [len(hubot.messages(room=f"{team}-builds")) for team in (red, blue)] == [1, 1], "no second message"
    replanned = json.loads(
        run_cli("images", "plan", "python", "--to", v2.version, "--config", *configs, "--format", "json").stdout
    )
    assert replanned["apps"] == []
    assert sorted(replanned["up_to_date"]) == sorted([*before, f"{blue}/app-new"])


def test_plan_of_an_unknown_version_names_the_newest(bases: Bases, registry: Registry, tmp_path: Path) -> None:
    team = registry.namespace("plain")
    config = write_platform(tmp_path / "t.json", team=team, registry_url=registry.url, root=bases.root)
    done = run_cli("images", "plan", "python", "--to", "20000101-0123456789ab", "--config", str(config))
    done.assert_no_traceback()
    assert done.returncode == 1
    assert "20000101-0123456789ab does not exist" in done.stderr
    assert bases.python["v3"].version in done.stderr
