"""The Kubernetes objects of an application, as dictionaries: pure functions of a validated default.json.

Per service: a Deployment (replicas = instances.min, the image by digest, probes for HTTP types), a Service and an
Ingress for HTTP types, and a HorizontalPodAutoscaler, rendered for the API versions the cluster serves. Names and
labels come only from the validated :class:`~buildplat.spec.model.AppSpec`, and are checked again here (defence in
depth: a record built by code skips the schema); nothing is ever formatted into YAML text, :func:`to_yaml`
serialises the dictionaries.

The Ingress host is ``external_url`` in prod and ``<environment>.<external_url>`` in dev and stage: the three
namespaces share one cluster and its ingress controller, where two Ingresses with one host cannot both win.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from buildplat.errors import BuildplatError
from buildplat.spec.model import AppSpec, Service

MANAGED_BY = "buildplat"
APP_LABEL = "buildplat.dev/app"
VERSION_ANNOTATION = "buildplat.dev/version"
INGRESS_CLASS = "nginx"
SERVICE_PORT = 80
CPU_TARGET_PERCENT = 70
REVISION_HISTORY = 10
REQUESTS = (("cpu", "100m"), ("memory", "128Mi"))
LIMITS = (("cpu", "1"), ("memory", "512Mi"))
_LABEL = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_HOST = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$")
_IMAGE = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)+@sha256:[0-9a-f]{64}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PATH = re.compile(r"^/[A-Za-z0-9._~!$&'()*+,;=:@/%-]*$")


@dataclass(frozen=True)
class Target:
    """Where and what to render: the namespace of one environment, the image, and the cluster's API versions."""

    namespace: str
    environment: str  # dev, stage or prod
    image: str  # host/repository@sha256:…, never a tag
    autoscaling: str = "autoscaling/v2"
    ingress: str = "networking.k8s.io/v1"
    progress_deadline_seconds: int = 600
    annotations: dict[str, str] = field(default_factory=dict)  # on each Deployment (not its pods)


def check(app: AppSpec, target: Target) -> None:
    """Refuse anything that is not a plain name where a name goes (validation ran; this is defence in depth)."""
    _must(_NAMESPACE, app.namespace, "namespace")
    _must(_LABEL, app.name, "application.name")
    _must(_NAMESPACE, target.namespace, "the target namespace")
    if not _IMAGE.fullmatch(target.image):
        raise BuildplatError(
            f"the image reference {target.image!r} is not HOST/REPOSITORY@sha256:DIGEST",
            hint="deploy an image by the digest the image stage printed, never by tag",
        )
    _must(_PATH, app.runtime.health_path, "runtime.health_path")
    for name, _ in app.runtime.env:
        _must(_ENV_NAME, name, "a runtime.env name")
        if name == "PORT":
            raise BuildplatError(
                "runtime.env sets PORT, which buildplat sets from runtime.port",
                hint="remove PORT from runtime.env and set runtime.port instead",
            )
    for service in app.services:
        _must(_LABEL, service.name, "services[].name")
        if service.external_url is not None:
            _must(_HOST, service.external_url, f"services[{service.name}].external_url")
        if not 1 <= service.instances.min <= service.instances.max:
            raise BuildplatError(f"service {service.name}: instances need 1 <= min <= max")


def _must(pattern: re.Pattern[str], value: str, what: str) -> None:
    if not pattern.fullmatch(value):
        raise BuildplatError(f"{what} {value!r} is not a valid name", hint="run `buildplat validate` on default.json")


def app_label(app: AppSpec) -> str:
    """``<namespace>.<name>``: a label value cannot hold ``/``, nor more than 63 characters (then hashed)."""
    value = f"{app.namespace}.{app.name}"
    if len(value) <= 63:
        return value
    return f"{value[:52]}-{hashlib.sha256(value.encode()).hexdigest()[:10]}"


def selector(app: AppSpec, service: Service) -> dict[str, str]:
    return {"app.kubernetes.io/name": app.name, "app.kubernetes.io/instance": service.name}


def labels(app: AppSpec, service: Service) -> dict[str, str]:
    return {**selector(app, service), "app.kubernetes.io/managed-by": MANAGED_BY, APP_LABEL: app_label(app)}


def ingress_host(external_url: str, environment: str) -> str:
    return external_url if environment == "prod" else f"{environment}.{external_url}"


def _metadata(app: AppSpec, service: Service, target: Target) -> dict[str, Any]:
    return {"name": service.name, "namespace": target.namespace, "labels": labels(app, service)}


def deployment(app: AppSpec, service: Service, target: Target, replicas: int | None = None) -> dict[str, Any]:
    """The Deployment; ``replicas`` keeps a count the autoscaler chose (default: instances.min)."""
    port = app.runtime.port
    container: dict[str, Any] = {
        "name": app.name,
        "image": target.image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
        "env": [{"name": "PORT", "value": str(port)}, *({"name": k, "value": v} for k, v in app.runtime.env)],
        "resources": {"requests": dict(REQUESTS), "limits": dict(LIMITS)},
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
    }
    if app.is_http:
        probe = {"httpGet": {"path": app.runtime.health_path, "port": "http"}, "timeoutSeconds": 2}
        container["readinessProbe"] = {**probe, "periodSeconds": 2, "failureThreshold": 3}
        container["livenessProbe"] = {**probe, "initialDelaySeconds": 30, "periodSeconds": 10, "failureThreshold": 3}
    pod_spec = {
        "containers": [container],
        "automountServiceAccountToken": False,  # apps do not talk to the Kubernetes API
        "enableServiceLinks": False,
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
    }
    metadata = _metadata(app, service, target)
    if target.annotations:
        metadata["annotations"] = dict(target.annotations)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": {
            "replicas": service.instances.min if replicas is None else replicas,
            "revisionHistoryLimit": REVISION_HISTORY,
            "progressDeadlineSeconds": target.progress_deadline_seconds,
            # Never take a serving pod away before its replacement is ready: a failed rollout costs nothing.
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "selector": {"matchLabels": selector(app, service)},
            "template": {"metadata": {"labels": labels(app, service)}, "spec": pod_spec},
        },
    }


def service_object(app: AppSpec, service: Service, target: Target) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(app, service, target),
        "spec": {
            "type": "ClusterIP",
            "selector": selector(app, service),
            "ports": [{"name": "http", "port": SERVICE_PORT, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def autoscaler(app: AppSpec, service: Service, target: Target) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": service.name},
        "minReplicas": service.instances.min,
        "maxReplicas": service.instances.max,
    }
    if target.autoscaling == "autoscaling/v1":
        spec["targetCPUUtilizationPercentage"] = CPU_TARGET_PERCENT
    else:
        target_cpu = {"type": "Utilization", "averageUtilization": CPU_TARGET_PERCENT}
        spec["metrics"] = [{"type": "Resource", "resource": {"name": "cpu", "target": target_cpu}}]
    return {
        "apiVersion": target.autoscaling,
        "kind": "HorizontalPodAutoscaler",
        "metadata": _metadata(app, service, target),
        "spec": spec,
    }


def ingress(app: AppSpec, service: Service, target: Target) -> dict[str, Any]:
    assert service.external_url is not None
    if target.ingress == "networking.k8s.io/v1beta1":
        backend: dict[str, Any] = {"serviceName": service.name, "servicePort": SERVICE_PORT}
    else:
        backend = {"service": {"name": service.name, "port": {"number": SERVICE_PORT}}}
    path = {"path": "/", "pathType": "Prefix", "backend": backend}
    return {
        "apiVersion": target.ingress,
        "kind": "Ingress",
        "metadata": _metadata(app, service, target),
        "spec": {
            "ingressClassName": INGRESS_CLASS,
            "rules": [{"host": ingress_host(service.external_url, target.environment), "http": {"paths": [path]}}],
        },
    }


def render_service(app: AppSpec, service: Service, target: Target, replicas: int | None = None) -> list[dict[str, Any]]:
    """One service's objects, the Deployment first."""
    objects = [deployment(app, service, target, replicas)]
    if app.is_http:
        objects.append(service_object(app, service, target))
    objects.append(autoscaler(app, service, target))
    if app.is_http and service.external_url is not None:
        objects.append(ingress(app, service, target))
    return objects


def render(app: AppSpec, target: Target) -> dict[str, list[dict[str, Any]]]:
    """Service name -> its objects, for every service in default.json (checked first)."""
    check(app, target)
    return {service.name: render_service(app, service, target) for service in app.services}


def service_url(service: Service, namespace: str) -> str:
    """The in-cluster URL of an HTTP service (what the verify stage tests)."""
    return f"http://{service.name}.{namespace}.svc.cluster.local:{SERVICE_PORT}"


def to_yaml(obj: dict[str, Any]) -> str:
    return yaml.safe_dump(obj, sort_keys=False, default_flow_style=False)
