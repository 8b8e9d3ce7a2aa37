"""Every rendered manifest (team stacks and the cluster overlays) validates against the Kubernetes schemas.

kubernetes-validate bundles the OpenAPI-derived schemas of current Kubernetes releases (1.25 and newer): we check
the oldest and the newest it has, strictly (unknown fields are errors). v1.20 is covered by the real cluster in
test_kube.py, which accepts the same output.
"""

from __future__ import annotations

import copy

import kubernetes_validate
import pytest
from kubernetes_validate import utils

from tests.deploy.conftest import CLUSTER, kustomize_build, stack

VERSIONS = sorted(set(utils.all_versions()), key=lambda v: tuple(int(p) for p in v.split(".")))
CHECKED = [VERSIONS[0], VERSIONS[-1]]


def assert_valid(objects: list[dict], version: str) -> None:
    problems = []
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            problems.append(f"{obj['kind']} {obj['metadata'].get('namespace', '')}/{obj['metadata']['name']}: {exc}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("version", CHECKED)
def test_team_stacks_validate(version: str, tmp_path) -> None:
    import json

    vault = tmp_path / "vault.json"
    vault.write_text(json.dumps({"credentials_source": "vault", "vault": {"role": "jenkins", "paths": ["kv/ci"]}}))
    assert_valid(stack("alpha"), version)
    assert_valid(stack("zulu-team", vault), version)


@pytest.mark.parametrize("overlay", ["production", "local"])
@pytest.mark.parametrize("version", CHECKED)
def test_cluster_overlays_validate(overlay: str, version: str) -> None:
    objects = kustomize_build(CLUSTER / "overlays" / overlay)
    assert len(objects) > 30
    assert_valid(objects, version)


def test_the_validator_rejects_what_it_should(alpha_stack: list[dict]) -> None:
    """Guards the tests above: a misspelt field and a wrong type are caught."""
    deployment = copy.deepcopy(next(o for o in alpha_stack if o["kind"] == "Deployment"))
    deployment["spec"]["replica"] = 1
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, CHECKED[-1], strict=True)
    quota = copy.deepcopy(next(o for o in alpha_stack if o["kind"] == "ResourceQuota"))
    quota["spec"]["hard"] = ["pods"]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(quota, CHECKED[-1], strict=True)
