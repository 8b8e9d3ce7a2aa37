"""Promotion against the real cluster: one digest travels dev -> stage -> prod; prod needs an approval."""

from __future__ import annotations

from pathlib import Path

import pytest

from buildplat.errors import BuildplatError
from buildplat.stages.context import PipelineState
from buildplat.stages.deploy import run_deploy
from buildplat.stages.promote import run_promote
from tests.deploy_stage.conftest import Images, Team
from tests.deploy_stage.helpers import app_doc, context, said, state_with_image, write_app

pytestmark = [pytest.mark.slow, pytest.mark.kube]


def test_the_tested_digest_goes_to_stage_then_prod_with_approval(team: Team, images: Images, tmp_path: Path) -> None:
    app = write_app(tmp_path / "repo", app_doc(namespace=team.name))
    ctx = context(app, tmp_path / "repo", team.platform)
    state = state_with_image(images.v1)
    run_deploy(ctx, state)
    run_promote(ctx, state, "stage")
    assert team.image("stage") == team.image("dev") == images.v1
    assert state.deployments["stage"]["digest"] == state.deployments["dev"]["digest"]
    assert state.deployments["stage"]["namespace"] == team.namespace("stage")
    assert team.proxy("stage", "web", "/index.html") == "<h1>v1</h1>\n"
    ingress = team.get(f"/apis/networking.k8s.io/v1/namespaces/{team.namespace('stage')}/ingresses/web")
    assert ingress["spec"]["rules"][0]["host"] == f"stage.web.{team.name}.example.com"

    with pytest.raises(BuildplatError, match="needs an approval") as refused:
        run_promote(ctx, state, "prod")
    assert refused.value.exit_code == 1
    assert "--approved-by" in (refused.value.hint or "")
    assert team.get(f"/apis/apps/v1/namespaces/{team.namespace('prod')}/deployments")["items"] == []
    assert "prod" not in state.deployments

    run_promote(ctx, state, "prod", approved_by="alice")
    prod = team.deployment("prod")
    assert team.image("prod") == images.v1
    assert prod["metadata"]["annotations"]["buildplat.dev/approved-by"] == "alice"
    assert prod["metadata"]["annotations"]["buildplat.dev/promoted-from"] == "stage"
    assert state.deployments["prod"]["approved_by"] == "alice"
    assert team.running_images("prod") == {images.v1.rsplit("@", 1)[1]}
    host = team.get(f"/apis/networking.k8s.io/v1/namespaces/{team.namespace('prod')}/ingresses/web")
    assert host["spec"]["rules"][0]["host"] == f"web.{team.name}.example.com"
    assert "approved by alice" in said(ctx)


def test_a_later_promotion_job_promotes_what_runs_in_the_source_not_a_newer_build(
    team: Team, images: Images, tmp_path: Path
) -> None:
    """Without the pipeline's state (a separate job, later), the live source Deployment says what was tested."""
    app = write_app(tmp_path / "repo", app_doc(namespace=team.name))
    ctx = context(app, tmp_path / "repo", team.platform)
    run_deploy(ctx, state_with_image(images.v2))
    later = PipelineState()  # a fresh workspace: nothing recorded
    run_promote(ctx, later, "stage")
    assert team.image("stage") == images.v2
    assert later.deployments["stage"]["image"] == images.v2
    # The version annotation travels with it.
    assert team.deployment("stage")["metadata"]["annotations"]["buildplat.dev/version"] == "1.7.0"
    run_promote(ctx, PipelineState(), "prod", approved_by="bob")
    assert team.image("prod") == images.v2


def test_promoting_from_an_empty_environment_is_refused(team: Team, tmp_path: Path) -> None:
    app = write_app(tmp_path / "repo", app_doc(namespace=team.name))
    ctx = context(app, tmp_path / "repo", team.platform)
    with pytest.raises(BuildplatError, match=f"service web is not deployed in {team.namespace('dev')}"):
        run_promote(ctx, PipelineState(), "stage")
