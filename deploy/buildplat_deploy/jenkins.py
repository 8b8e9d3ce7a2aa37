"""The team's Jenkins controller: Deployment, Service, PVC, Ingress and its two ConfigMaps (JCasC, platform.json).

The controller runs ``REGISTRY/buildplat/jenkins:VERSION`` (built from deploy/images/jenkins/, plugins baked in)
and is configured only through JCasC; a checksum of the JCasC text in the pod template rolls it on every change.
"""

from __future__ import annotations

import hashlib
from typing import Any

from buildplat_deploy import yamlio
from buildplat_deploy.casc import CREDENTIALS_SECRET, PLATFORM_CONFIGMAP, SECRETS_DIR, casc
from buildplat_deploy.config import TeamConfig
from buildplat_deploy.meta import Manifest, labels, manifest, pod_security, selector
from buildplat_deploy.platform import platform_config
from buildplat_deploy.rbac import JENKINS_SA

CASC_CONFIGMAP = "jenkins-casc"
CASC_DIR = "/var/jenkins_casc"
HOME = "/var/jenkins_home"


def _vault_env(cfg: TeamConfig) -> list[dict[str, Any]]:
    if cfg.credentials_source != "vault":
        return []
    # hashicorp-vault plugin: JCasC reads ${key} from these Vault paths, logging in with the pod's service
    # account token through Vault's Kubernetes auth method.
    return [
        {"name": "CASC_VAULT_ENGINE_VERSION", "value": "2"},
        {"name": "CASC_VAULT_KUBERNETES_ROLE", "value": cfg.vault.role},
        {"name": "CASC_VAULT_PATHS", "value": ",".join(cfg.vault.paths)},
        {"name": "CASC_VAULT_URL", "value": cfg.vault.url},
    ]


def _deployment(cfg: TeamConfig, casc_text: str) -> Manifest:
    checksum = hashlib.sha256(casc_text.encode()).hexdigest()
    volumes: list[dict[str, Any]] = [
        {"name": "home", "persistentVolumeClaim": {"claimName": "jenkins-home"}},
        {"name": "casc", "configMap": {"name": CASC_CONFIGMAP}},
    ]
    mounts: list[dict[str, Any]] = [
        {"name": "home", "mountPath": HOME},
        {"name": "casc", "mountPath": CASC_DIR, "readOnly": True},
    ]
    env: list[dict[str, Any]] = [
        {"name": "CASC_JENKINS_CONFIG", "value": f"{CASC_DIR}/jenkins.yaml"},
        {"name": "JAVA_OPTS", "value": "-Djenkins.install.runSetupWizard=false -XX:MaxRAMPercentage=75"},
    ]
    if cfg.credentials_source == "kubernetes":
        # The Secret is created by the operator (kubectl create secret generic buildplat-credentials ...);
        # JCasC resolves ${key} from the files under SECRETS.
        volumes.append({"name": "credentials", "secret": {"secretName": CREDENTIALS_SECRET, "optional": True}})
        mounts.append({"name": "credentials", "mountPath": SECRETS_DIR, "readOnly": True})
        env.append({"name": "SECRETS", "value": SECRETS_DIR})
    env += _vault_env(cfg)
    probe = {"httpGet": {"path": "/login", "port": "http"}, "periodSeconds": 10, "timeoutSeconds": 5}
    container = {
        "name": "jenkins",
        "image": cfg.image("jenkins"),
        "imagePullPolicy": "IfNotPresent",
        "env": env,
        "ports": [
            {"name": "http", "containerPort": 8080, "protocol": "TCP"},
            {"name": "agent", "containerPort": 50000, "protocol": "TCP"},
        ],
        "readinessProbe": {**probe, "failureThreshold": 3},
        "livenessProbe": {**probe, "failureThreshold": 12, "initialDelaySeconds": 120},
        "resources": {"requests": {"cpu": "500m", "memory": "2Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}},
        "securityContext": pod_security(),
        "volumeMounts": mounts,
    }
    template = {
        "metadata": {
            "labels": {**labels(cfg, "jenkins")},
            "annotations": {"buildplat.dev/casc-sha256": checksum},
        },
        "spec": {
            "serviceAccountName": JENKINS_SA,
            "automountServiceAccountToken": True,  # the Kubernetes plugin starts agent pods with it
            "securityContext": {"fsGroup": 1000, "runAsGroup": 1000, "runAsUser": 1000},
            "containers": [container],
            "volumes": volumes,
        },
    }
    spec = {
        "replicas": 1,
        "strategy": {"type": "Recreate"},  # one controller owns JENKINS_HOME at a time
        "selector": {"matchLabels": selector(cfg, "jenkins")},
        "template": template,
    }
    return manifest("apps/v1", "Deployment", cfg, "jenkins", cfg.ci_namespace, app="jenkins", spec=spec)


def objects(cfg: TeamConfig) -> list[Manifest]:
    ci = cfg.ci_namespace
    casc_text = yamlio.dump(casc(cfg))
    host = f"jenkins.{cfg.team}.{cfg.domain}"
    return [
        manifest("v1", "ConfigMap", cfg, CASC_CONFIGMAP, ci, app="jenkins", data={"jenkins.yaml": casc_text}),
        manifest(
            "v1",
            "ConfigMap",
            cfg,
            PLATFORM_CONFIGMAP,
            ci,
            app="jenkins",
            data={"platform.json": yamlio.dump_json(platform_config(cfg))},
        ),
        manifest(
            "v1",
            "PersistentVolumeClaim",
            cfg,
            "jenkins-home",
            ci,
            app="jenkins",
            spec={"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": cfg.jenkins_storage}}},
        ),
        _deployment(cfg, casc_text),
        manifest(
            "v1",
            "Service",
            cfg,
            "jenkins",
            ci,
            app="jenkins",
            spec={
                "type": "ClusterIP",
                "selector": selector(cfg, "jenkins"),
                "ports": [
                    {"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP"},
                    {"name": "agent", "port": 50000, "targetPort": "agent", "protocol": "TCP"},
                ],
            },
        ),
        manifest(
            "networking.k8s.io/v1",
            "Ingress",
            cfg,
            "jenkins",
            ci,
            app="jenkins",
            spec={
                "ingressClassName": cfg.ingress_class,
                "rules": [
                    {
                        "host": host,
                        "http": {
                            "paths": [
                                {
                                    "path": "/",
                                    "pathType": "Prefix",
                                    "backend": {"service": {"name": "jenkins", "port": {"name": "http"}}},
                                }
                            ]
                        },
                    }
                ],
            },
        ),
    ]
