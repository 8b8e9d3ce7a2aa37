"""The harness's Kubernetes cluster runs real pods from images in the harness's registry."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.harness.docker import DockerEngine
from tests.harness.kube import KUBE_VERSION, KubeCluster
from tests.harness.registry import Registry

pytestmark = [pytest.mark.slow, pytest.mark.kube]


def wait_for(what: str, check: Callable[[], Any], timeout: float, describe: Callable[[], str] = str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout:g} s waiting for {what}\n{describe()}")


def test_cluster_is_up_with_one_ready_node(kube_cluster: KubeCluster) -> None:
    from kubernetes import client

    assert kube_cluster.version == KUBE_VERSION
    assert client.VersionApi(kube_cluster.api_client()).get_code().git_version == KUBE_VERSION
    nodes = client.CoreV1Api(kube_cluster.api_client()).list_node().items
    assert [node.metadata.name for node in nodes] == [kube_cluster.node_name]
    conditions = {c.type: c.status for c in nodes[0].status.conditions}
    assert conditions["Ready"] == "True"
    assert not nodes[0].spec.taints
    assert kube_cluster.kubeconfig.read_text().count(kube_cluster.server) == 1


def build_httpd_image(engine: DockerEngine, registry: Registry, namespace: str, context: Path, page: str) -> str:
    """An image serving ``page`` with busybox httpd on :8080, pushed to the registry; returns its reference."""
    base = f"buildplat.local/busybox:{namespace}"
    engine.import_busybox(base)
    (context / "index.html").write_text(page)
    (context / "Dockerfile").write_text(
        f'FROM {base}\nCOPY index.html /var/www/index.html\nCMD ["httpd", "-f", "-p", "8080", "-h", "/var/www"]\n'
    )
    ref = f"{registry.host}/{namespace}/web:1"
    engine.build(context, ref)
    engine.push(ref)
    # Kubelet must pull it from the registry, not find it locally.
    engine.cli("rmi", ref)
    return ref


def deployment(name: str, image: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name}
    container = {
        "name": "web",
        "image": image,
        "imagePullPolicy": "Always",
        "ports": [{"containerPort": 8080}],
        "readinessProbe": {"httpGet": {"path": "/", "port": 8080}, "periodSeconds": 1},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                # busybox httpd as PID 1 ignores SIGTERM; do not wait 30 s for it on delete.
                "spec": {"containers": [container], "terminationGracePeriodSeconds": 1},
            },
        },
    }


def test_deployment_from_local_registry_serves_http(
    kube_cluster: KubeCluster,
    docker_engine: DockerEngine,
    registry: Registry,
    registry_namespace: str,
    tmp_path: Path,
) -> None:
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    page = f"<h1>hello from {registry_namespace}</h1>\n"
    image = build_httpd_image(docker_engine, registry, registry_namespace, tmp_path, page)
    api = kube_cluster.api_client()
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    namespace = f"harness-{registry_namespace}"[:63].rstrip("-")
    core.create_namespace({"metadata": {"name": namespace}})
    apps.create_namespaced_deployment(namespace, deployment("web", image, replicas=2))

    def events() -> str:
        listed = core.list_namespaced_event(namespace).items
        return "\n".join(f"{e.involved_object.name}: {e.reason}: {e.message}" for e in listed)

    def ready_replicas() -> bool:
        status = apps.read_namespaced_deployment_status("web", namespace).status
        return status.ready_replicas == 2 and status.updated_replicas == 2

    wait_for("2 ready replicas", ready_replicas, 120, events)
    pods = core.list_namespaced_pod(namespace, label_selector="app=web").items
    assert len(pods) == 2
    for pod in pods:
        assert pod.status.pod_ip
        assert pod.status.container_statuses[0].image_id.endswith(
            manifest_digest(registry, f"{registry_namespace}/web", "1")
        )
        # Straight to the pod from the host, over the engine's bridge...
        with urllib.request.urlopen(f"http://{pod.status.pod_ip}:8080/", timeout=10) as response:
            assert response.read().decode() == page
        # ...and through the API server's pod proxy.
        proxied = core.connect_get_namespaced_pod_proxy_with_path(f"{pod.metadata.name}:8080", namespace, "index.html")
        assert proxied == page

    core.delete_namespace(namespace)

    def namespace_gone() -> bool:
        try:
            core.read_namespace(namespace)
        except ApiException as error:
            return error.status == 404
        return False

    wait_for(f"namespace {namespace} to be deleted", namespace_gone, 120, events)
    # Kubelet stopped every container of those pods (dead ones are garbage-collected later).
    assert running_containers(docker_engine, namespace) == []


def running_containers(engine: DockerEngine, namespace: str) -> list[str]:
    listed = engine.cli("ps", "--filter", f"label=io.kubernetes.pod.namespace={namespace}", "--quiet").stdout
    return listed.decode().split()


def manifest_digest(registry: Registry, repo: str, tag: str) -> str:
    import requests

    accept = "application/vnd.docker.distribution.manifest.v2+json"
    response = requests.head(f"{registry.url}/v2/{repo}/manifests/{tag}", headers={"Accept": accept}, timeout=10)
    response.raise_for_status()
    return str(response.headers["Docker-Content-Digest"])
