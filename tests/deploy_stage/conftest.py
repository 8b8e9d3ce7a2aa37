"""Fixtures for the deploy tests against the harness's real cluster: images built from busybox and pushed to the
harness registry, and a fresh team (three namespaces and a platform config) per test."""

from __future__ import annotations

import itertools
import json
import ssl
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from buildplat.spec.platform import PlatformConfig
from tests.deploy_stage.helpers import write_platform
from tests.harness.docker import DockerEngine
from tests.harness.kube import KubeCluster
from tests.harness.registry import Registry

# Short deadlines so failing rollouts fail in seconds (settings of the platform config, as a team would set them).
FAST = {"progress_deadline_seconds": 30, "failure_grace_seconds": 2, "rollout_timeout_seconds": 120}
_teams = itertools.count(1)


@dataclass
class Images:
    """References by digest (``host/repo@sha256:…``) in the harness registry."""

    v1: str
    v2: str
    crash: str
    missing: str  # a well-formed reference to a digest the registry does not have


def _build(engine: DockerEngine, registry: Registry, repo: str, tag: str, *, context: Path, cmd: list[str]) -> str:
    base = "buildplat.local/busybox:deploy-tests"
    engine.import_busybox(base)
    context.mkdir(parents=True)
    (context / "index.html").write_text(f"<h1>{tag}</h1>\n")
    (context / "Dockerfile").write_text(
        f"FROM {base}\nCOPY index.html /var/www/index.html\nUSER 65532:65532\nCMD {json.dumps(cmd)}\n"
    )
    ref = f"{registry.host}/{repo}:{tag}"
    engine.build(context, ref)
    digest = engine.push(ref)
    engine.cli("rmi", ref)  # kubelet must pull it from the registry
    return f"{registry.host}/{repo}@{digest}"


@pytest.fixture(scope="session")
def images(docker_engine: DockerEngine, registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> Images:
    root = tmp_path_factory.mktemp("deploy-images")
    repo = f"{registry.namespace('deploy')}/web"
    # busybox httpd as PID 1 ignores SIGTERM; exit on it so replaced pods go at once.
    serve = ["sh", "-c", "trap 'exit 0' TERM; httpd -f -p 8080 -h /var/www & wait"]
    v1 = _build(docker_engine, registry, repo, "v1", context=root / "v1", cmd=serve)
    v2 = _build(docker_engine, registry, repo, "v2", context=root / "v2", cmd=serve)
    dying = ["sh", "-c", "echo dying; exit 3"]
    crash = _build(docker_engine, registry, repo, "crash", context=root / "crash", cmd=dying)
    missing = f"{registry.host}/{repo}@sha256:{'0' * 64}"
    return Images(v1, v2, crash, missing)


@dataclass
class Team:
    name: str
    platform: PlatformConfig
    cluster: KubeCluster

    def namespace(self, environment: str) -> str:
        return self.platform.namespace(environment)

    def get(self, path: str) -> Any:
        return self.cluster.get(path)

    def deployment(self, environment: str, name: str = "web") -> dict[str, Any]:
        return self.get(f"/apis/apps/v1/namespaces/{self.namespace(environment)}/deployments/{name}")

    def image(self, environment: str, name: str = "web") -> str:
        return str(self.deployment(environment, name)["spec"]["template"]["spec"]["containers"][0]["image"])

    def revision(self, environment: str, name: str = "web") -> int:
        return int(self.deployment(environment, name)["metadata"]["annotations"]["deployment.kubernetes.io/revision"])

    def running_images(self, environment: str) -> set[str]:
        """Images of the Ready pods, as the kubelet reports them (by digest)."""
        pods = self.get(f"/api/v1/namespaces/{self.namespace(environment)}/pods")["items"]
        ready = [p for p in pods if _ready(p) and not p["metadata"].get("deletionTimestamp")]
        return {s["imageID"].split("@")[-1] for p in ready for s in p["status"]["containerStatuses"]}

    def proxy(self, environment: str, service: str, path: str) -> str:
        """GET through the API server's service proxy (the cluster's own view of the Service)."""
        url = f"{self.cluster.server}/api/v1/namespaces/{self.namespace(environment)}/services/{service}:80/proxy{path}"
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {self.cluster.token}"})
        context = ssl.create_default_context(cafile=str(self.cluster.ca_file))
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            return str(response.read().decode())


def _ready(pod: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions") or [])


def make_team(cluster: KubeCluster, directory: Path, **settings: Any) -> Team:
    from kubernetes import client

    name = f"dt{next(_teams)}"
    platform = write_platform(directory / f"{name}.json", name, kubeconfig=str(cluster.kubeconfig), **settings)
    core = client.CoreV1Api(cluster.api_client())
    for environment in ("dev", "stage", "prod"):
        core.create_namespace({"metadata": {"name": platform.namespace(environment)}})
    return Team(name, platform, cluster)


def delete_namespaces(cluster: KubeCluster, team: Team) -> None:
    from kubernetes import client

    core = client.CoreV1Api(cluster.api_client())
    for environment in ("dev", "stage", "prod"):
        core.delete_namespace(team.namespace(environment))  # not waited for: pods go in the background


@pytest.fixture
def team(kube_cluster: KubeCluster, tmp_path: Path) -> Iterator[Team]:
    made = make_team(kube_cluster, tmp_path, **FAST)
    yield made
    delete_namespaces(kube_cluster, made)
