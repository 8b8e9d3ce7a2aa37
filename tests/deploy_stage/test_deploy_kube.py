"""The deploy stage against the real v1.20 cluster: rollouts, fail-fast, rollback, idempotency, refusals."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from buildplat.errors import BuildplatError
from buildplat.stages.deploy import run_deploy
from buildplat.stages.rollout import RolloutFailed
from tests.deploy_stage.conftest import FAST, Images, Team, delete_namespaces, make_team
from tests.deploy_stage.helpers import app_doc, context, said, state_with_image, wait_for, write_app
from tests.harness.kube import KubeCluster

pytestmark = [pytest.mark.slow, pytest.mark.kube]


def deploy(team: Team, tmp_path: Path, image: str, **doc: object):
    app = write_app(tmp_path / "repo", app_doc(namespace=team.name, **doc))  # type: ignore[arg-type]
    ctx = context(app, tmp_path / "repo", team.platform)
    state = state_with_image(image)
    started = time.monotonic()
    try:
        run_deploy(ctx, state)
    finally:
        print(f"deploy of {image.rsplit('@')[1][:19]} took {time.monotonic() - started:.1f} s:\n{said(ctx)}")
    return ctx, state


def test_deploy_serves_http_and_records_the_release(team: Team, images: Images, tmp_path: Path) -> None:
    ctx, state = deploy(team, tmp_path, images.v1)
    namespace = team.namespace("dev")
    record = state.deployments["dev"]
    assert record["namespace"] == namespace
    assert record["digest"] == images.v1.rsplit("@", 1)[1]
    assert record["image"] == images.v1
    assert record["revision"] == team.revision("dev") == 1
    assert record["services"]["web"]["url"] == f"http://web.{namespace}.svc.cluster.local:80"
    assert record["services"]["web"]["host"] == f"dev.web.{team.name}.example.com"
    assert team.image("dev") == images.v1
    assert team.deployment("dev")["status"]["readyReplicas"] == 2
    assert team.running_images("dev") == {record["digest"]}
    assert team.proxy("dev", "web", "/index.html") == "<h1>v1</h1>\n"
    hpa = team.get(f"/apis/autoscaling/v2beta2/namespaces/{namespace}/horizontalpodautoscalers/web")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 4)
    ingress = team.get(f"/apis/networking.k8s.io/v1/namespaces/{namespace}/ingresses/web")
    assert ingress["spec"]["rules"][0]["host"] == f"dev.web.{team.name}.example.com"
    managers = {m["manager"] for m in team.deployment("dev")["metadata"]["managedFields"]}
    assert "buildplat" in managers
    assert "web: 2/2 replicas ready" in said(ctx)


def test_same_digest_again_is_a_no_op_and_a_new_one_rolls(team: Team, images: Images, tmp_path: Path) -> None:
    deploy(team, tmp_path, images.v1)
    generation = team.deployment("dev")["metadata"]["generation"]
    _, state = deploy(team, tmp_path, images.v1)
    assert state.deployments["dev"]["revision"] == team.revision("dev") == 1
    assert team.deployment("dev")["metadata"]["generation"] == generation
    _, state = deploy(team, tmp_path, images.v2)
    assert state.deployments["dev"]["revision"] == team.revision("dev") == 2
    assert team.proxy("dev", "web", "/index.html") == "<h1>v2</h1>\n"


@pytest.mark.parametrize(
    ("bad", "reasons"),
    [("crash", {"CrashLoopBackOff"}), ("missing", {"ImagePullBackOff", "ErrImagePull"})],
)
def test_a_failing_rollout_fails_fast_and_rolls_back(
    team: Team, images: Images, tmp_path: Path, bad: str, reasons: set[str]
) -> None:
    deploy(team, tmp_path, images.v1)
    good_digest = images.v1.rsplit("@", 1)[1]
    started = time.monotonic()
    with pytest.raises(RolloutFailed) as caught:
        deploy(team, tmp_path, getattr(images, bad))
    took = time.monotonic() - started
    print(f"{bad}: failed and rolled back in {took:.1f} s")
    assert caught.value.reason in reasons
    assert any(reason in caught.value.message for reason in reasons)
    assert "rolled back to the pod template of revision 1" in caught.value.message
    assert took < 60  # the progress deadline (30 s) plus a rollback would take longer than fail-fast
    # The previous good digest is what runs and answers again, as a new revision of the same template.
    assert team.image("dev") == images.v1
    assert team.revision("dev") == 3
    assert team.running_images("dev") == {good_digest}
    assert team.proxy("dev", "web", "/index.html") == "<h1>v1</h1>\n"


def test_a_first_deploy_that_fails_says_there_is_nothing_to_roll_back(
    team: Team, images: Images, tmp_path: Path
) -> None:
    with pytest.raises(RolloutFailed, match="first deploy, there is no earlier revision") as caught:
        deploy(team, tmp_path, images.crash)
    assert caught.value.reason == "CrashLoopBackOff"
    assert "exited with code 3" in caught.value.message
    assert "      | dying" in caught.value.message  # what the container said before it exited


def test_another_teams_namespace_is_refused(team: Team, images: Images, tmp_path: Path) -> None:
    app = write_app(tmp_path / "repo", app_doc(namespace="someone-else"))
    ctx = context(app, tmp_path / "repo", team.platform)
    with pytest.raises(BuildplatError, match="may only deploy into its own team's namespaces") as caught:
        run_deploy(ctx, state_with_image(images.v1))
    assert caught.value.exit_code == 1
    listed = team.get(f"/apis/apps/v1/namespaces/{team.namespace('dev')}/deployments")["items"]
    assert listed == []


def test_pods_that_never_get_ready_fail_at_the_progress_deadline_and_roll_back(
    images: Images, tmp_path: Path, kube_cluster: KubeCluster
) -> None:
    """No pod shows a failing state (the health path answers 404), so only the Deployment's deadline can tell."""
    team = make_team(kube_cluster, tmp_path, **{**FAST, "progress_deadline_seconds": 8})
    try:
        deploy(team, tmp_path, images.v1)
        started = time.monotonic()
        with pytest.raises(RolloutFailed, match="ProgressDeadlineExceeded") as caught:
            deploy(team, tmp_path, images.v2, runtime={"health_path": "/not-there"})
        print(f"deadline: failed and rolled back in {time.monotonic() - started:.1f} s")
        assert caught.value.reason == "ProgressDeadlineExceeded"
        assert "rolled back to the pod template of revision 1" in caught.value.message
        assert team.image("dev") == images.v1
        assert team.proxy("dev", "web", "/index.html") == "<h1>v1</h1>\n"
    finally:
        delete_namespaces(kube_cluster, team)


def test_pods_refused_by_a_quota_fail_fast_and_roll_back(
    team: Team, images: Images, tmp_path: Path, kube_cluster: KubeCluster
) -> None:
    """A full pod quota leaves no room for the surge pod: ReplicaFailure (FailedCreate) names the quota."""
    from kubernetes import client

    deploy(team, tmp_path, images.v1)
    quota = {"metadata": {"name": "pods"}, "spec": {"hard": {"pods": "2"}}}
    client.CoreV1Api(kube_cluster.api_client()).create_namespaced_resource_quota(team.namespace("dev"), quota)
    wait_for("the quota to count the pods", lambda: _quota_used(team) == "2", 30)
    with pytest.raises(RolloutFailed, match="exceeded quota") as caught:
        deploy(team, tmp_path, images.v2)
    assert caught.value.reason == "FailedCreate"
    assert "ResourceQuota" in (caught.value.hint or "")
    assert team.image("dev") == images.v1
    assert team.proxy("dev", "web", "/index.html") == "<h1>v1</h1>\n"


def _quota_used(team: Team) -> str | None:
    quota = team.get(f"/api/v1/namespaces/{team.namespace('dev')}/resourcequotas/pods")
    return (quota.get("status", {}).get("used") or {}).get("pods")
