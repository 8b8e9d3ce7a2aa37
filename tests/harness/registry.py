"""A Docker registry (Debian's ``docker-registry``, distribution v2) on 127.0.0.1 for the tests.

It runs from a config of our own (the package's default listens on every interface with auth), stores blobs in the
run directory and allows deletes. Plain HTTP: Docker treats registries on 127.0.0.0/8 as insecure by default, so
dockerd (and kubelet through it) pulls from it without extra configuration.
"""

from __future__ import annotations

import itertools
import re
import shutil
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.harness.process import ManagedProcess, free_port

REGISTRY_BIN = "docker-registry"


@dataclass
class Registry:
    url: str  # http://127.0.0.1:PORT
    host: str  # 127.0.0.1:PORT, the prefix of image references
    data_dir: Path
    process: ManagedProcess
    _counter: Iterator[int] = field(default_factory=itertools.count, repr=False)

    def namespace(self, hint: str = "t") -> str:
        """A repository namespace no other test of this session uses, e.g. ``t3-test-push``."""
        slug = re.sub(r"[^a-z0-9]+", "-", hint.lower())[:40].strip("-") or "t"
        return f"t{next(self._counter)}-{slug}"


def _config(port: int, data_dir: Path) -> str:
    return f"""version: 0.1
log:
  level: warn  # request lines would drown the log tail shown with a failure
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {data_dir}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:{port}
  secret: buildplat-tests-only
"""


def _answers(url: str) -> bool:
    with urllib.request.urlopen(f"{url}/v2/", timeout=2) as response:
        return bool(response.status == 200)


def start_registry(base: Path) -> Registry:
    """Start the registry with its config, data and log under ``base``; the caller stops ``registry.process``."""
    data_dir = base / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = base / "config.yml"
    config.write_text(_config(port, data_dir))
    url = f"http://127.0.0.1:{port}"
    process = ManagedProcess("docker-registry", [REGISTRY_BIN, "serve", str(config)], base / "registry.log")
    process.start(ready=lambda: _answers(url), timeout=30)
    return Registry(url=url, host=f"127.0.0.1:{port}", data_dir=data_dir, process=process)


@pytest.fixture(scope="session")
def registry(run_dir: Path) -> Iterator[Registry]:
    """A plain-HTTP registry on 127.0.0.1 for the whole session."""
    if shutil.which(REGISTRY_BIN) is None:
        pytest.skip("docker-registry is not installed: run scripts/install-test-deps")
    started = start_registry(run_dir / "registry")
    try:
        yield started
    finally:
        started.process.stop()


@pytest.fixture
def registry_namespace(registry: Registry, request: pytest.FixtureRequest) -> str:
    """A fresh repository namespace for one test: push to ``f"{registry.host}/{registry_namespace}/NAME"``."""
    return registry.namespace(request.node.name)
