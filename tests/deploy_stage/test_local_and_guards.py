"""Without a cluster: `buildplat run` writes manifests instead of applying them, and the stages' refusals come
before any connection is made."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from buildplat.errors import BuildplatError, UsageError
from buildplat.stages.deploy import run_deploy
from buildplat.stages.promote import run_promote
from tests.deploy_stage.helpers import (
    DIGEST,
    IMAGE,
    app_doc,
    context,
    said,
    state_with_image,
    write_app,
    write_platform,
)

UNREACHABLE = {"kubeconfig": "/nonexistent/kubeconfig"}  # a stage that tried to connect would fail differently


def test_local_run_writes_manifests_by_digest_and_records_them(tmp_path: Path) -> None:
    app = write_app(tmp_path / "repo", app_doc())
    ctx = context(app, tmp_path / "repo")
    state = state_with_image(f"oci:{tmp_path}/out/image@{DIGEST}")
    run_deploy(ctx, state)
    directory = tmp_path / "repo" / "out" / "manifests" / "dev"
    files = sorted(p.name for p in directory.iterdir())
    assert files == ["web-deployment.yaml", "web-horizontalpodautoscaler.yaml", "web-ingress.yaml", "web-service.yaml"]
    deployment = yaml.safe_load((directory / "web-deployment.yaml").read_text())
    assert deployment["metadata"]["namespace"] == "team-dev"
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == f"buildplat-local/web@{DIGEST}"
    record = state.deployments["dev"]
    assert record["applied"] is False
    assert record["manifests"] == str(directory.resolve())
    assert record["digest"] == DIGEST
    assert "url" not in record["services"]["web"]  # nothing answers there: verify skips a local run
    assert record["services"]["web"]["host"] == "dev.web.team.example.com"
    assert "not applied" in said(ctx)


def test_local_run_removes_manifests_of_services_that_are_gone(tmp_path: Path) -> None:
    app = write_app(tmp_path / "repo", app_doc())
    stale = tmp_path / "repo" / "out" / "manifests" / "dev" / "old-deployment.yaml"
    stale.parent.mkdir(parents=True)
    stale.write_text("kind: Deployment\n")
    run_deploy(context(app, tmp_path / "repo"), state_with_image(IMAGE))
    assert not stale.exists()


def test_local_promote_keeps_the_digest_and_still_needs_approval_for_prod(tmp_path: Path) -> None:
    app = write_app(tmp_path / "repo", app_doc())
    ctx = context(app, tmp_path / "repo")
    state = state_with_image(IMAGE)
    run_deploy(ctx, state)
    run_promote(ctx, state, "stage")
    with pytest.raises(BuildplatError, match="needs an approval"):
        run_promote(ctx, state, "prod")
    run_promote(ctx, state, "prod", approved_by="carol@example.com")
    prod = yaml.safe_load((tmp_path / "repo" / "out" / "manifests" / "prod" / "web-deployment.yaml").read_text())
    assert prod["metadata"]["annotations"]["buildplat.dev/approved-by"] == "carol@example.com"
    images = {state.deployments[env]["image"] for env in ("dev", "stage", "prod")}
    assert len(images) == 1
    assert prod["spec"]["template"]["spec"]["containers"][0]["image"] in images


def test_deploy_needs_an_image_from_the_image_stage(tmp_path: Path) -> None:
    from buildplat.stages.context import PipelineState

    app = write_app(tmp_path / "repo", app_doc())
    with pytest.raises(BuildplatError, match="needs the image from an earlier stage"):
        run_deploy(context(app, tmp_path / "repo"), PipelineState())


def test_another_teams_namespace_is_refused_before_connecting(tmp_path: Path) -> None:
    platform = write_platform(tmp_path / "platform.json", "mine", **UNREACHABLE)
    app = write_app(tmp_path / "repo", app_doc(namespace="theirs"))
    with pytest.raises(BuildplatError, match="namespace 'theirs' is not this platform's team 'mine'") as caught:
        run_deploy(context(app, tmp_path / "repo", platform), state_with_image(IMAGE))
    assert caught.value.exit_code == 1
    assert '"namespace": "mine"' in (caught.value.hint or "")


def test_prod_without_approval_is_refused_before_connecting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BUILDPLAT_APPROVED_BY", raising=False)
    platform = write_platform(tmp_path / "platform.json", "team", **UNREACHABLE)
    app = write_app(tmp_path / "repo", app_doc())
    with pytest.raises(BuildplatError, match="promotion to prod needs an approval") as caught:
        run_promote(context(app, tmp_path / "repo", platform), state_with_image(IMAGE), "prod")
    assert caught.value.exit_code == 1


@pytest.mark.parametrize("approver", ["alice\nbuildplat.dev/x: y", "-rf", "x" * 200])
def test_an_approver_must_be_a_plain_user_name(tmp_path: Path, approver: str) -> None:
    app = write_app(tmp_path / "repo", app_doc())
    with pytest.raises(UsageError, match="is not a user name"):
        run_promote(context(app, tmp_path / "repo"), state_with_image(IMAGE), "prod", approved_by=approver)


def test_the_approver_can_come_from_the_environment(tmp_path: Path) -> None:
    app = write_app(tmp_path / "repo", app_doc())
    ctx = context(app, tmp_path / "repo")
    ctx.environ["BUILDPLAT_APPROVED_BY"] = "dave"
    state = state_with_image(IMAGE)
    run_deploy(ctx, state)
    run_promote(ctx, state, "stage")
    run_promote(ctx, state, "prod")
    assert state.deployments["prod"]["approved_by"] == "dave"


@pytest.mark.parametrize("environment", ["dev", "qa", "../prod"])
def test_promote_only_to_stage_or_prod(tmp_path: Path, environment: str) -> None:
    app = write_app(tmp_path / "repo", app_doc())
    with pytest.raises(UsageError, match="cannot promote to"):
        run_promote(context(app, tmp_path / "repo"), state_with_image(IMAGE), environment)


def test_a_failed_system_test_is_never_promoted(tmp_path: Path) -> None:
    app = write_app(tmp_path / "repo", app_doc())
    ctx = context(app, tmp_path / "repo")
    state = state_with_image(IMAGE)
    run_deploy(ctx, state)
    state.verify = {"result": "failed"}
    with pytest.raises(BuildplatError, match="system tests of this build failed"):
        run_promote(ctx, state, "stage")
    assert "stage" not in state.deployments
