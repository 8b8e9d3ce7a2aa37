"""Who may do what: the agents deploy into the team's three namespaces, the controller starts agents, Hubot nothing.

Three identities in ``<team>-ci``, so that a build, which runs whatever an app's repository says, holds only what
the pipeline needs:
- ``jenkins`` (the controller) manages its agent pods in ``<team>-ci`` (create, delete, exec, logs) and nothing
  else: it never deploys.
- ``jenkins-agent`` (the build agents: the pipeline's stages, ``buildplat step deploy`` among them, run there)
  manages Deployments, Services, HPAs and Ingresses in ``<team>-dev|stage|prod`` and reads pods, their logs,
  ReplicaSets and events there (what a rollout wait and a rollback need); never Secrets, ConfigMaps or RBAC, and
  nothing in ``<team>-ci``: a build cannot start pods there, or exec into the controller and read its home.
  Anywhere else it reads Ingresses and nothing more, because the deploy stage refuses an Ingress host another app
  claimed first and must see every claim to know. The ClusterRole ``buildplat-ingress-reader`` is shared by every
  team and comes with the cluster services (deploy/cluster/base/buildplat-rbac.yaml); the team's stack only binds
  the agents to it. Nothing else is granted cluster-wide.
- ``buildplat-seed`` (the seed job's agent: ``buildplat sync`` talks to git and Jenkins only) and ``hubot`` have no
  binding at all and no token mounted.
"""

from __future__ import annotations

from typing import Any

from buildplat_deploy.config import TeamConfig
from buildplat_deploy.meta import Manifest, manifest

JENKINS_SA = "jenkins"
AGENT_SA = "jenkins-agent"
SEED_SA = "buildplat-seed"
HUBOT_SA = "hubot"
WRITE = ["create", "delete", "get", "list", "patch", "update", "watch"]
READ = ["get", "list", "watch"]

# What `buildplat step deploy|promote` does (buildplat/stages/deploy.py, promote.py, rollout.py, claims.py): apply
# Deployments, Services, HPAs and Ingresses server-side, watch the rollout through ReplicaSets, pods, their events
# and logs, and roll a Deployment back by patching its template. tests/deploy_stage deploy with these rules alone.
DEPLOYER_RULES: list[dict[str, Any]] = [
    {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": WRITE},
    {"apiGroups": ["apps"], "resources": ["replicasets"], "verbs": READ},
    {"apiGroups": [""], "resources": ["services"], "verbs": WRITE},
    {"apiGroups": [""], "resources": ["events", "pods", "pods/log"], "verbs": READ},
    {"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": WRITE},
    {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses"], "verbs": WRITE},
]

# Cluster-wide, read-only: the deploy stage's oldest-claim check on Ingress hosts (buildplat/stages/claims.py).
# Defined once for the cluster in deploy/cluster/base/buildplat-rbac.yaml.
INGRESS_READER = "buildplat-ingress-reader"

# The controller's agent pods (the Kubernetes plugin: create, watch and delete them, read their logs and events;
# pods/exec for `container` steps).
AGENT_RULES: list[dict[str, Any]] = [
    {"apiGroups": [""], "resources": ["pods"], "verbs": WRITE},
    {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create", "get"]},
    {"apiGroups": [""], "resources": ["events", "pods/log"], "verbs": READ},
]


def _binding(cfg: TeamConfig, name: str, namespace: str, account: str) -> Manifest:
    return manifest(
        "rbac.authorization.k8s.io/v1",
        "RoleBinding",
        cfg,
        name,
        namespace,
        roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        subjects=[{"kind": "ServiceAccount", "name": account, "namespace": cfg.ci_namespace}],
    )


def objects(cfg: TeamConfig) -> list[Manifest]:
    ci = cfg.ci_namespace
    result = [
        manifest("v1", "ServiceAccount", cfg, JENKINS_SA, ci, app="jenkins", automountServiceAccountToken=True),
        manifest("v1", "ServiceAccount", cfg, AGENT_SA, ci, app="jenkins-agent", automountServiceAccountToken=True),
        manifest("v1", "ServiceAccount", cfg, SEED_SA, ci, app="buildplat-seed", automountServiceAccountToken=False),
        manifest("v1", "ServiceAccount", cfg, HUBOT_SA, ci, app="hubot", automountServiceAccountToken=False),
        manifest("rbac.authorization.k8s.io/v1", "Role", cfg, "jenkins-agents", ci, rules=AGENT_RULES),
        _binding(cfg, "jenkins-agents", ci, JENKINS_SA),
    ]
    for namespace in cfg.deploy_namespaces:
        result.append(
            manifest("rbac.authorization.k8s.io/v1", "Role", cfg, "buildplat-deployer", namespace, rules=DEPLOYER_RULES)
        )
        result.append(_binding(cfg, "buildplat-deployer", namespace, AGENT_SA))
    result.append(
        manifest(
            "rbac.authorization.k8s.io/v1",
            "ClusterRoleBinding",
            cfg,
            f"{INGRESS_READER}-{cfg.team}",
            None,
            roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": INGRESS_READER},
            subjects=[{"kind": "ServiceAccount", "name": AGENT_SA, "namespace": ci}],
        )
    )
    return result
