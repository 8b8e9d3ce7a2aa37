"""App Eng's world for the slow tests: base images built by `buildplat images build` on a real dockerd, pushed
to the real registry, and app images built on them by the image stage.

The bases are busybox-based (seconds to build): their Dockerfiles write a dpkg status naming the runtime package
and a version, so the safe-rebase rule has something real to read, and ``/etc/base-release`` says which base an
image runs on. They are built once per session into ``<ns>/base/<buildfact>``:

- python ``v1`` (python3 3.11.2-1), ``v2`` (3.11.4-1: a rebase) and ``v3`` (3.12.1-1: a rebuild);
- java ``v1``.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.appeng.helpers import BUSYBOX, Bases, World, build_base, busybox_context, pushed, write_platform
from tests.harness.docker import DockerEngine
from tests.harness.registry import Registry


@pytest.fixture(scope="session")
def busybox(docker_engine: DockerEngine) -> str:
    docker_engine.import_busybox(BUSYBOX)
    return BUSYBOX


@pytest.fixture(scope="session")
def bases(
    docker_engine: DockerEngine, registry: Registry, busybox: str, tmp_path_factory: pytest.TempPathFactory
) -> Bases:
    work = tmp_path_factory.mktemp("appeng-bases")
    root = f"{registry.namespace('appeng')}/base"
    config = write_platform(work / "appeng.json", team="appeng", registry_url=registry.url, root=root)
    python = {}
    for name, version in (("v1", "3.11.2-1"), ("v2", "3.11.4-1"), ("v3", "3.12.1-1")):
        contexts = busybox_context(work / name, "python", version, name)
        python[name] = pushed(build_base(docker_engine, config, contexts, "python"))
    java = pushed(build_base(docker_engine, config, busybox_context(work / "java", "java", "17.0.9-1", "j1"), "java"))
    return Bases(root, python, java, config)


@pytest.fixture
def world(bases: Bases, registry: Registry, docker_engine: DockerEngine, hubot: Any) -> World:
    return World(bases, registry, docker_engine, hubot)
