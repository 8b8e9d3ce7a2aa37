"""Rendering the app's Kubernetes objects: pure functions of a validated default.json (no cluster needed)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate import utils

from buildplat.errors import BuildplatError
from buildplat.spec.model import Instances, Runtime, Service
from buildplat.stages import manifests
from buildplat.stages.manifests import Target
from tests.deploy_stage.helpers import DIGEST, IMAGE, app_doc, write_app

VERSIONS = sorted(set(utils.all_versions()), key=lambda v: tuple(int(p) for p in v.split(".")))


def target(**changes: object) -> Target:
    base = Target("team-dev", "dev", IMAGE, annotations={"buildplat.dev/version": "1.7.0"})
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def by_kind(objects: list[dict]) -> dict[str, dict]:
    return {obj["kind"]: obj for obj in objects}


@pytest.fixture
def http_app(tmp_path: Path):
    return write_app(tmp_path / "http", app_doc())


@pytest.fixture
def worker_app(tmp_path: Path):
    return write_app(tmp_path / "worker", app_doc(app_type="worker"))


def test_http_service_gets_all_four_objects_with_labels_and_namespace(http_app) -> None:
    rendered = manifests.render(http_app, target())
    assert list(rendered) == ["web"]
    objects = rendered["web"]
    assert [o["kind"] for o in objects] == ["Deployment", "Service", "HorizontalPodAutoscaler", "Ingress"]
    for obj in objects:
        assert obj["metadata"]["name"] == "web"
        assert obj["metadata"]["namespace"] == "team-dev"
        assert obj["metadata"]["labels"] == {
            "app.kubernetes.io/name": "web",
            "app.kubernetes.io/instance": "web",
            "app.kubernetes.io/managed-by": "buildplat",
            "buildplat.dev/app": "team.web",
        }


def test_deployment_runs_the_image_by_digest_with_probes_env_and_limits(http_app) -> None:
    deployment = manifests.deployment(http_app, http_app.services[0], target())
    spec = deployment["spec"]
    assert spec["replicas"] == 2  # instances.min
    assert spec["selector"]["matchLabels"] == {"app.kubernetes.io/name": "web", "app.kubernetes.io/instance": "web"}
    assert spec["template"]["metadata"]["labels"]["buildplat.dev/app"] == "team.web"
    assert spec["revisionHistoryLimit"] >= 2
    assert spec["progressDeadlineSeconds"] == 600
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    (container,) = spec["template"]["spec"]["containers"]
    assert container["image"] == IMAGE
    assert container["image"].endswith("@" + DIGEST)
    assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert container["env"] == [{"name": "PORT", "value": "8080"}, {"name": "LOG_LEVEL", "value": "info"}]
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/index.html", "port": "http"}
    assert set(container["resources"]) == {"requests", "limits"}
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert spec["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    assert spec["template"]["spec"]["automountServiceAccountToken"] is False
    # Build metadata sits on the Deployment, never in the pod template (it would restart pods for nothing).
    assert deployment["metadata"]["annotations"] == {"buildplat.dev/version": "1.7.0"}
    assert "annotations" not in spec["template"]["metadata"]


def test_a_kept_replica_count_overrides_min(http_app) -> None:
    assert manifests.deployment(http_app, http_app.services[0], target(), replicas=3)["spec"]["replicas"] == 3


def test_worker_has_no_probes_service_or_ingress(worker_app) -> None:
    objects = manifests.render(worker_app, target())["web"]
    assert [o["kind"] for o in objects] == ["Deployment", "HorizontalPodAutoscaler"]
    (container,) = objects[0]["spec"]["template"]["spec"]["containers"]
    assert "readinessProbe" not in container
    assert "livenessProbe" not in container


@pytest.mark.parametrize(
    ("version", "metrics"),
    [("autoscaling/v2", True), ("autoscaling/v2beta2", True), ("autoscaling/v1", False)],
)
def test_autoscaler_for_each_api_version(http_app, version: str, metrics: bool) -> None:
    hpa = manifests.autoscaler(http_app, http_app.services[0], target(autoscaling=version))
    assert hpa["apiVersion"] == version
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 4)
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
    if metrics:
        (metric,) = hpa["spec"]["metrics"]
        assert metric["resource"]["name"] == "cpu"
        assert metric["resource"]["target"]["type"] == "Utilization"
        assert "targetCPUUtilizationPercentage" not in hpa["spec"]
    else:
        assert hpa["spec"]["targetCPUUtilizationPercentage"] == manifests.CPU_TARGET_PERCENT
        assert "metrics" not in hpa["spec"]


@pytest.mark.parametrize("version", ["networking.k8s.io/v1", "networking.k8s.io/v1beta1"])
def test_ingress_for_each_api_version(http_app, version: str) -> None:
    ingress = manifests.ingress(http_app, http_app.services[0], target(ingress=version))
    assert ingress["apiVersion"] == version
    assert ingress["spec"]["ingressClassName"] == "nginx"
    (rule,) = ingress["spec"]["rules"]
    (path,) = rule["http"]["paths"]
    assert (path["path"], path["pathType"]) == ("/", "Prefix")
    if version.endswith("v1"):
        assert path["backend"] == {"service": {"name": "web", "port": {"number": 80}}}
    else:
        assert path["backend"] == {"serviceName": "web", "servicePort": 80}


@pytest.mark.parametrize(
    ("environment", "host"),
    [("dev", "dev.web.team.example.com"), ("stage", "stage.web.team.example.com"), ("prod", "web.team.example.com")],
)
def test_ingress_host_per_environment(http_app, environment: str, host: str) -> None:
    ingress = manifests.ingress(http_app, http_app.services[0], target(environment=environment))
    assert ingress["spec"]["rules"][0]["host"] == host


@pytest.mark.parametrize("version", [VERSIONS[0], VERSIONS[-1]])
def test_rendered_objects_validate_strictly_against_kubernetes_schemas(http_app, version: str) -> None:
    for obj in manifests.render(http_app, target())["web"]:
        kubernetes_validate.validate(obj, version, strict=True)


def test_yaml_round_trips_hostile_env_values(tmp_path: Path) -> None:
    """Values are data, never YAML text: quotes, newlines and YAML syntax survive unchanged."""
    nasty = 'x"\n- evil: true\n{a: b} # not a comment'
    app = write_app(tmp_path, app_doc(runtime={"env": {"NASTY": nasty}}))
    deployment = manifests.deployment(app, app.services[0], target())
    loaded = yaml.safe_load(manifests.to_yaml(deployment))
    assert loaded == deployment
    assert {"name": "NASTY", "value": nasty} in loaded["spec"]["template"]["spec"]["containers"][0]["env"]


def test_long_app_label_is_shortened_to_a_valid_unique_value(tmp_path: Path) -> None:
    namespace, name = "n" * 50, "a" * 40
    app = write_app(tmp_path, app_doc(namespace=namespace, name=name))
    value = manifests.app_label(app)
    assert len(value) <= 63
    assert value.startswith(f"{namespace}.")
    other = write_app(tmp_path / "other", app_doc(namespace=namespace, name=name[:-1] + "b"))
    assert manifests.app_label(other) != value


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"namespace": "Team/../x"}, "namespace"),
        ({"name": "web\nkind: Secret"}, "application.name"),
        ({"services": (Service("a/b", "team/web", Instances(1, 1), "x.example.com"),)}, "services[].name"),
        ({"services": (Service("web", "team/web", Instances(1, 1), "evil.com/path?"),)}, "external_url"),
        ({"runtime": Runtime(health_path="http://elsewhere/")}, "health_path"),
        ({"runtime": Runtime(env=(("BAD NAME", "x"),))}, "runtime.env"),
        ({"runtime": Runtime(env=(("PORT", "1"),))}, "PORT"),
    ],
)
def test_records_built_by_code_cannot_inject(http_app, change: dict, message: str) -> None:
    """The schema stops these in default.json; the renderer refuses them again when a record skipped it."""
    bad = dataclasses.replace(http_app, **change)
    with pytest.raises(BuildplatError, match=message.replace("[", r"\[").replace("]", r"\]")):
        manifests.render(bad, target())


@pytest.mark.parametrize(
    "image",
    [
        "registry.example.com/team/web:1.7.0",  # a tag, not a digest
        "registry.example.com/team/web@sha256:abc",  # a short digest
        "registry.example.com/team/web@sha256:" + "ab" * 32 + "\nkind: Secret",
        "registry.example.com/team/web@sha256:" + "ab" * 32 + "\n",  # `$` alone would let this through
    ],
)
def test_only_images_by_full_digest_are_rendered(http_app, image: str) -> None:
    with pytest.raises(BuildplatError, match="HOST/REPOSITORY@sha256:DIGEST"):
        manifests.render(http_app, target(image=image))


def test_service_url_is_the_in_cluster_name() -> None:
    service = Service("web", "team/web", Instances(1, 2), "web.example.com")
    assert manifests.service_url(service, "team-dev") == "http://web.team-dev.svc.cluster.local:80"
