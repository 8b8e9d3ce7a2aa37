"""What a deploy may not take: an Ingress host claimed first, another app's objects; and the RBAC it runs with."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import yaml

from buildplat.errors import BuildplatError
from buildplat.stages.deploy import run_deploy
from buildplat.stages.promote import run_promote
from tests.deploy_stage.conftest import FAST, Images, Team, delete_namespaces, make_team
from tests.deploy_stage.helpers import app_doc, context, said, state_with_image, wait_for, write_app, write_platform
from tests.harness.kube import KubeCluster

pytestmark = [pytest.mark.slow, pytest.mark.kube]


def ingress(namespace: str, name: str, host: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    backend = {"service": {"name": name, "port": {"number": 80}}}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
        "spec": {
            "rules": [{"host": host, "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]}}]
        },
    }


def create_ingress(cluster: KubeCluster, body: dict[str, Any]) -> None:
    from kubernetes import client

    client.NetworkingV1Api(cluster.api_client()).create_namespaced_ingress(body["metadata"]["namespace"], body)


@pytest.fixture
def other_team(kube_cluster: KubeCluster, tmp_path: Path):
    (tmp_path / "other").mkdir()
    made = make_team(kube_cluster, tmp_path / "other", **FAST)
    yield made
    delete_namespaces(kube_cluster, made)


def test_a_host_claimed_earlier_by_another_app_is_refused(
    team: Team, other_team: Team, images: Images, tmp_path: Path, kube_cluster: KubeCluster
) -> None:
    host = f"dev.web.{team.name}.example.com"
    create_ingress(kube_cluster, ingress(other_team.namespace("dev"), "squatter", host, {"buildplat.dev/app": "x.y"}))
    app = write_app(tmp_path / "repo", app_doc(namespace=team.name))
    with pytest.raises(BuildplatError, match=f"host {host} is already claimed by Ingress squatter") as caught:
        run_deploy(context(app, tmp_path / "repo", team.platform), state_with_image(images.v1))
    assert f"in {other_team.namespace('dev')} (app x.y" in caught.value.message
    assert team.get(f"/apis/apps/v1/namespaces/{team.namespace('dev')}/deployments")["items"] == []


def test_an_older_own_claim_keeps_its_host(
    team: Team, other_team: Team, images: Images, tmp_path: Path, kube_cluster: KubeCluster
) -> None:
    app = write_app(tmp_path / "repo", app_doc(namespace=team.name))
    run_deploy(context(app, tmp_path / "repo", team.platform), state_with_image(images.v1))
    host = f"dev.web.{team.name}.example.com"
    create_ingress(kube_cluster, ingress(other_team.namespace("dev"), "latecomer", host))
    state = state_with_image(images.v2)
    run_deploy(context(app, tmp_path / "repo", team.platform), state)  # ours is older: it still wins
    assert team.image("dev") == images.v2


def test_another_apps_object_of_the_same_name_is_not_overwritten(team: Team, images: Images, tmp_path: Path) -> None:
    first = write_app(tmp_path / "first", app_doc(namespace=team.name, name="first"))
    run_deploy(context(first, tmp_path / "first", team.platform), state_with_image(images.v1))
    second = write_app(tmp_path / "second", app_doc(namespace=team.name, name="second"))  # also a service "web"
    with pytest.raises(BuildplatError, match=f"belongs to app {team.name}.first"):
        run_deploy(context(second, tmp_path / "second", team.platform), state_with_image(images.v2))
    assert team.image("dev") == images.v1


def test_the_deployer_role_is_enough_and_the_ingress_check_falls_back_with_a_warning(
    team: Team, images: Images, tmp_path: Path, kube_cluster: KubeCluster
) -> None:
    """Deploy as a service account bound only to buildplat-deploy's Role: it cannot list Ingresses cluster-wide."""
    rbac = pytest.importorskip("buildplat_deploy.rbac")
    from kubernetes import client

    api = kube_cluster.api_client()
    core, authz = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    home = team.namespace("dev")
    core.create_namespaced_service_account(home, {"metadata": {"name": "deployer"}})
    for environment in ("dev", "stage", "prod"):
        namespace = team.namespace(environment)
        authz.create_namespaced_role(namespace, {"metadata": {"name": "deployer"}, "rules": rbac.DEPLOYER_RULES})
        subject = {"kind": "ServiceAccount", "name": "deployer", "namespace": home}
        role = {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "deployer"}
        binding = {"metadata": {"name": "deployer"}, "roleRef": role, "subjects": [subject]}
        authz.create_namespaced_role_binding(namespace, binding)
    token = wait_for("the deployer's token", lambda: _token(core, home), 30)
    kubeconfig = yaml.safe_load(kube_cluster.kubeconfig.read_text())
    kubeconfig["users"][0]["user"]["token"] = token
    (tmp_path / "deployer.kubeconfig").write_text(yaml.safe_dump(kubeconfig))
    platform = write_platform(
        tmp_path / "deployer.json", team.name, kubeconfig=str(tmp_path / "deployer.kubeconfig"), **FAST
    )

    app = write_app(tmp_path / "repo", app_doc(namespace=team.name))
    ctx = context(app, tmp_path / "repo", platform)
    run_deploy(ctx, state_with_image(images.v1))
    assert "cannot list Ingresses in all namespaces (forbidden)" in said(ctx)
    assert "buildplat-ingress-reader" in said(ctx)
    assert team.image("dev") == images.v1
    # Within the team's own namespaces the check still works: an older Ingress there keeps stage's host.
    create_ingress(kube_cluster, ingress(team.namespace("stage"), "squatter", f"stage.web.{team.name}.example.com"))
    with pytest.raises(BuildplatError, match="already claimed by Ingress squatter in " + team.namespace("stage")):
        run_promote(context(app, tmp_path / "repo", platform), state_with_image(images.v1), "stage")


def _token(core: Any, namespace: str) -> str | None:
    account = core.read_namespaced_service_account("deployer", namespace)
    for ref in account.secrets or []:
        secret = core.read_namespaced_secret(ref.name, namespace)
        if secret.data and secret.data.get("token"):
            return base64.b64decode(secret.data["token"]).decode()
    return None
