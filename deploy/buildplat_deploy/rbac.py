"""Who may do what: Jenkins deploys into the team's three namespaces and runs agents in its own; Hubot may do nothing.

One identity, the ``jenkins`` service account in ``<team>-ci``, is used by the Jenkins controller and by its agent
pods (the pipeline stages run ``buildplat step deploy`` on an agent). It may
- in ``<team>-ci``: manage agent pods (create, delete, exec, logs) and nothing else;
- in ``<team>-dev|stage|prod``: manage Deployments, Services, HPAs, Ingresses and ConfigMaps and read pods, their
  logs, ReplicaSets and events (what a rollout wait needs); never Secrets, never RBAC;
- anywhere else: read Ingresses and nothing more, because the deploy stage refuses an Ingress host another app
  claimed first and must see every claim to know. The ClusterRole ``buildplat-ingress-reader`` is shared by every
  team and comes with the cluster services (deploy/cluster/base/buildplat-rbac.yaml); the team's stack only binds
  its Jenkins to it. Nothing else is granted cluster-wide.
The ``hubot`` service account has no binding at all and no token mounted.
"""

from __future__ import annotations

from typing import Any

from buildplat_deploy.config import TeamConfig
from buildplat_deploy.meta import Manifest, manifest

JENKINS_SA = "jenkins"
HUBOT_SA = "hubot"
WRITE = ["create", "delete", "get", "list", "patch", "update", "watch"]
READ = ["get", "list", "watch"]

DEPLOYER_RULES: list[dict[str, Any]] = [
    {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": WRITE},
    {
        "apiGroups": ["apps"],
        "resources": ["deployments/scale", "deployments/status"],
        "verbs": ["get", "patch", "update"],
    },
    {"apiGroups": ["apps"], "resources": ["replicasets"], "verbs": READ},
    {"apiGroups": [""], "resources": ["configmaps", "services"], "verbs": WRITE},
    {"apiGroups": [""], "resources": ["events", "pods", "pods/log"], "verbs": READ},
    {"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": WRITE},
    {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses"], "verbs": WRITE},
]

# Cluster-wide, read-only: the deploy stage's oldest-claim check on Ingress hosts (buildplat/stages/claims.py).
# Defined once for the cluster in deploy/cluster/base/buildplat-rbac.yaml.
INGRESS_READER = "buildplat-ingress-reader"

AGENT_RULES: list[dict[str, Any]] = [
    {"apiGroups": [""], "resources": ["pods"], "verbs": WRITE},
    {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create", "get"]},
    {"apiGroups": [""], "resources": ["events", "pods/log"], "verbs": READ},
]


def _binding(cfg: TeamConfig, name: str, namespace: str) -> Manifest:
    return manifest(
        "rbac.authorization.k8s.io/v1",
        "RoleBinding",
        cfg,
        name,
        namespace,
        roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        subjects=[{"kind": "ServiceAccount", "name": JENKINS_SA, "namespace": cfg.ci_namespace}],
    )


def objects(cfg: TeamConfig) -> list[Manifest]:
    ci = cfg.ci_namespace
    result = [
        manifest("v1", "ServiceAccount", cfg, JENKINS_SA, ci, app="jenkins", automountServiceAccountToken=True),
        manifest("v1", "ServiceAccount", cfg, HUBOT_SA, ci, app="hubot", automountServiceAccountToken=False),
        manifest("rbac.authorization.k8s.io/v1", "Role", cfg, "jenkins-agents", ci, rules=AGENT_RULES),
        _binding(cfg, "jenkins-agents", ci),
    ]
    for namespace in cfg.deploy_namespaces:
        result.append(
            manifest("rbac.authorization.k8s.io/v1", "Role", cfg, "buildplat-deployer", namespace, rules=DEPLOYER_RULES)
        )
        result.append(_binding(cfg, "buildplat-deployer", namespace))
    result.append(
        manifest(
            "rbac.authorization.k8s.io/v1",
            "ClusterRoleBinding",
            cfg,
            f"{INGRESS_READER}-{cfg.team}",
            None,
            roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": INGRESS_READER},
            subjects=[{"kind": "ServiceAccount", "name": JENKINS_SA, "namespace": ci}],
        )
    )
    return result
