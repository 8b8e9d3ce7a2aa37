"""Two teams' stacks applied server-side to the real v1.20.2 cluster; RBAC proven with SubjectAccessReviews.

The stack renders only API versions that v1.20 serves and current clusters still serve (apps/v1, rbac/v1,
networking.k8s.io/v1 Ingress and NetworkPolicy, core/v1), so the same rendering is applied here and validated
against current schemas in test_schemas.py; no --kube-version switch is needed. (The stack has no HPA: those are
the pipeline's, per application.)
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import REPO, stack

pytestmark = [pytest.mark.slow, pytest.mark.kube]

TEAMS = ("deploya", "deployb")
FIELD_MANAGER = "buildplat-deploy-test"


def namespaces(team: str) -> list[str]:
    return [f"{team}-{role}" for role in ("ci", "dev", "stage", "prod")]


@pytest.fixture(scope="module")
def applied(kube_cluster: Any) -> Iterator[Any]:
    """Both teams' stacks, applied; yields the ApiClient. Deletes the teams' namespaces afterwards."""
    from kubernetes import client
    from kubernetes.dynamic import DynamicClient

    api = kube_cluster.api_client()
    dynamic = DynamicClient(api)
    shared = yaml.safe_load((REPO / "deploy" / "cluster" / "base" / "buildplat-rbac.yaml").read_text())
    try:
        for team in TEAMS:
            for obj in [shared, *stack(team)]:
                resource = dynamic.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
                applied_obj = dynamic.server_side_apply(
                    resource,
                    body=obj,
                    name=obj["metadata"]["name"],
                    namespace=obj["metadata"].get("namespace"),
                    field_manager=FIELD_MANAGER,
                    force_conflicts=True,
                )
                assert applied_obj.metadata.uid, obj["metadata"]
        yield api
    finally:
        core = client.CoreV1Api(api)
        for team in TEAMS:
            for name in namespaces(team):
                try:
                    core.delete_namespace(name)
                except client.ApiException as exc:  # already gone is fine
                    if exc.status != 404:
                        raise


def can(api: Any, user: str, verb: str, resource_ref: str, namespace: str) -> bool:
    """SubjectAccessReview for a service account; ``resource_ref`` is RESOURCE[.GROUP], e.g. deployments.apps."""
    from kubernetes import client

    resource, _, group = resource_ref.partition(".")
    if resource_ref.startswith("pods/"):
        resource, group = resource_ref, ""

    service_account_namespace = user.split(":")[2]
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": user,
            "groups": [
                "system:serviceaccounts",
                f"system:serviceaccounts:{service_account_namespace}",
                "system:authenticated",
            ],
            "resourceAttributes": {"namespace": namespace, "verb": verb, "group": group, "resource": resource},
        },
    }
    result = client.AuthorizationV1Api(api).create_subject_access_review(review)
    return bool(result.status.allowed)


def test_every_object_of_both_stacks_is_accepted(applied: Any, kube_cluster: Any) -> None:
    from kubernetes import client

    assert kube_cluster.version.startswith("v1.20")
    core = client.CoreV1Api(applied)
    for team in TEAMS:
        for name in namespaces(team):
            namespace = core.read_namespace(name)
            assert namespace.metadata.labels["buildplat.dev/team"] == team
        config_maps = {c.metadata.name for c in core.list_namespaced_config_map(f"{team}-ci").items}
        assert {"jenkins-casc", "buildplat-platform"} <= config_maps
        ingress = client.NetworkingV1Api(applied).read_namespaced_ingress("jenkins", f"{team}-ci")
        assert ingress.spec.rules[0].host.startswith(f"jenkins.{team}.")
        policies = client.NetworkingV1Api(applied).list_namespaced_network_policy(f"{team}-dev").items
        assert {"default-deny-ingress", "allow-from-ingress-controller"} <= {p.metadata.name for p in policies}


def test_reapplying_changes_nothing(applied: Any) -> None:
    from kubernetes import client
    from kubernetes.dynamic import DynamicClient

    dynamic = DynamicClient(applied)
    apps = client.AppsV1Api(applied)
    before = apps.read_namespaced_deployment("jenkins", "deploya-ci").metadata.generation
    for obj in stack("deploya"):
        resource = dynamic.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
        dynamic.server_side_apply(
            resource,
            body=obj,
            name=obj["metadata"]["name"],
            namespace=obj["metadata"].get("namespace"),
            field_manager=FIELD_MANAGER,
        )
    assert apps.read_namespaced_deployment("jenkins", "deploya-ci").metadata.generation == before


def test_the_agents_deploy_into_their_own_three_namespaces_only(applied: Any) -> None:
    agent_a = "system:serviceaccount:deploya-ci:jenkins-agent"
    deadline = time.monotonic() + 10  # RBAC is read from an informer cache: give it a moment to see the bindings
    while not can(applied, agent_a, "create", "deployments.apps", "deploya-dev") and time.monotonic() < deadline:
        time.sleep(0.2)
    for environment in ("dev", "stage", "prod"):
        namespace = f"deploya-{environment}"
        assert can(applied, agent_a, "create", "deployments.apps", namespace), namespace
        assert can(applied, agent_a, "patch", "services", namespace), namespace
        assert can(applied, agent_a, "create", "horizontalpodautoscalers.autoscaling", namespace), namespace
        assert can(applied, agent_a, "create", "ingresses.networking.k8s.io", namespace), namespace
        assert can(applied, agent_a, "get", "pods/log", namespace), namespace
        assert not can(applied, agent_a, "get", "secrets", namespace), namespace
        assert not can(applied, agent_a, "create", "configmaps", namespace), namespace
        assert not can(applied, agent_a, "create", "pods", namespace), namespace
        assert not can(applied, agent_a, "create", "rolebindings.rbac.authorization.k8s.io", namespace)
    for namespace in ("deployb-dev", "deployb-prod", "kube-system", "default", "deploya-ci"):
        assert not can(applied, agent_a, "create", "deployments.apps", namespace), namespace
    # A build cannot start pods next to the controller, nor exec into it.
    assert not can(applied, agent_a, "create", "pods", "deploya-ci")
    assert not can(applied, agent_a, "create", "pods/exec", "deploya-ci")
    assert not can(applied, agent_a, "list", "namespaces", "")
    # Ingress host claims are checked against every namespace: read-only, cluster-wide, Ingresses only.
    assert can(applied, agent_a, "list", "ingresses.networking.k8s.io", "deployb-prod")
    assert not can(applied, agent_a, "create", "ingresses.networking.k8s.io", "deployb-prod")
    assert not can(applied, agent_a, "list", "services", "deployb-prod")


def test_the_controller_starts_agents_in_its_own_namespace_and_never_deploys(applied: Any) -> None:
    jenkins_a = "system:serviceaccount:deploya-ci:jenkins"
    assert can(applied, jenkins_a, "create", "pods", "deploya-ci")
    assert can(applied, jenkins_a, "create", "pods/exec", "deploya-ci")
    assert can(applied, jenkins_a, "get", "pods/log", "deploya-ci")
    assert not can(applied, jenkins_a, "create", "pods", "deployb-ci")
    assert not can(applied, jenkins_a, "get", "secrets", "deploya-ci")
    for namespace in ("deploya-dev", "deploya-prod", "deployb-dev", "kube-system"):
        assert not can(applied, jenkins_a, "create", "deployments.apps", namespace), namespace
        assert not can(applied, jenkins_a, "create", "pods", namespace), namespace


@pytest.mark.parametrize("account", ["hubot", "buildplat-seed"])
def test_hubot_and_the_seed_agent_can_do_nothing(applied: Any, account: str) -> None:
    hubot = f"system:serviceaccount:deploya-ci:{account}"
    checks = [
        ("get", "pods"),
        ("list", "secrets"),
        ("get", "configmaps"),
        ("create", "deployments.apps"),
        ("create", "pods"),
        ("list", "services"),
    ]
    for namespace in (*namespaces("deploya"), "kube-system"):
        for verb, resource in checks:
            assert not can(applied, hubot, verb, resource, namespace), (namespace, verb, resource)
    # Control: the same review for Jenkins in the same place is allowed, so a denial above means something.
    assert can(applied, "system:serviceaccount:deploya-ci:jenkins", "create", "pods", "deploya-ci")
