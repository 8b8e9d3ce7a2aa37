"""The team's Hubot: a Deployment and a Service in ``<team>-ci`` that announce pipeline results.

It runs ``REGISTRY/buildplat/hubot:VERSION``, an image built from the project's Hubot package in deploy/hubot/
(deploy/images/hubot/Dockerfile), so the notification script ships exactly as tested. Hubot has a service account
with no bindings and no token mounted: it never talks to the Kubernetes API.
"""

from __future__ import annotations

from buildplat_deploy.casc import CREDENTIALS_SECRET
from buildplat_deploy.config import TeamConfig
from buildplat_deploy.meta import Manifest, labels, manifest, pod_security, selector
from buildplat_deploy.rbac import HUBOT_SA

PORT = 8080
# Chat adapter settings (for example HUBOT_SLACK_TOKEN) come from this optional Secret, created by the operator.
ADAPTER_SECRET = "hubot-adapter"  # noqa: S105 (a Secret's name, not a value)


def objects(cfg: TeamConfig) -> list[Manifest]:
    ci = cfg.ci_namespace
    container = {
        "name": "hubot",
        "image": cfg.image("hubot"),
        "imagePullPolicy": "IfNotPresent",
        "env": [
            {
                "name": "BUILDPLAT_HUBOT_TOKEN",
                "valueFrom": {"secretKeyRef": {"name": CREDENTIALS_SECRET, "key": "hubot-token", "optional": True}},
            },
            # In a pod, all interfaces is the pod IP; the NetworkPolicy decides who gets there.
            {"name": "EXPRESS_BIND_ADDRESS", "value": "0.0.0.0"},  # noqa: S104
            {"name": "EXPRESS_PORT", "value": str(PORT)},
            {"name": "HUBOT_NAME", "value": "buildplat"},
        ],
        "envFrom": [{"secretRef": {"name": ADAPTER_SECRET, "optional": True}}],
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        # Hubot opens its port before its scripts load: ready is the notify script's own health route.
        "readinessProbe": {"httpGet": {"path": "/buildplat/health", "port": "http"}, "periodSeconds": 10},
        "livenessProbe": {"tcpSocket": {"port": "http"}, "periodSeconds": 20, "initialDelaySeconds": 30},
        "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}},
        "securityContext": pod_security(),
    }
    deployment = {
        "replicas": 1,
        "selector": {"matchLabels": selector(cfg, "hubot")},
        "template": {
            "metadata": {"labels": labels(cfg, "hubot")},
            "spec": {
                "serviceAccountName": HUBOT_SA,
                "automountServiceAccountToken": False,
                "securityContext": {"runAsGroup": 1000, "runAsUser": 1000},
                "containers": [container],
            },
        },
    }
    service = {
        "type": "ClusterIP",
        "selector": selector(cfg, "hubot"),
        "ports": [{"name": "http", "port": PORT, "targetPort": "http", "protocol": "TCP"}],
    }
    return [
        manifest("apps/v1", "Deployment", cfg, "hubot", ci, app="hubot", spec=deployment),
        manifest("v1", "Service", cfg, "hubot", ci, app="hubot", spec=service),
    ]
