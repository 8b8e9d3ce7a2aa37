"""Puts a team's stack together in a stable order and writes it out.

Order: cluster-scoped Namespaces first, then per namespace (ci, dev, stage, prod) by kind in dependency order
(service accounts and RBAC before the workloads that use them), then by name. With ``--out DIR`` the stack is one
file per namespace plus a kustomization.yaml listing them, so ``kubectl apply -k DIR`` and ``kubectl apply -f DIR``
both work.
"""

from __future__ import annotations

from pathlib import Path

from buildplat_deploy import hubot, jenkins, namespaces, netpol, rbac, yamlio
from buildplat_deploy.config import TeamConfig
from buildplat_deploy.meta import Manifest

KIND_ORDER = (
    "Namespace",
    "ClusterRoleBinding",
    "ResourceQuota",
    "LimitRange",
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "NetworkPolicy",
    "ConfigMap",
    "PersistentVolumeClaim",
    "Service",
    "Deployment",
    "Ingress",
)


def stack(cfg: TeamConfig) -> list[Manifest]:
    """Every object of the team's stack, in apply order."""
    objects = namespaces.objects(cfg) + rbac.objects(cfg) + netpol.objects(cfg) + jenkins.objects(cfg)
    objects += hubot.objects(cfg)
    order = {name: index for index, name in enumerate(namespaces.namespace_names(cfg).values())}

    def key(obj: Manifest) -> tuple[int, int, int, str]:
        meta = obj["metadata"]
        cluster_scoped = "namespace" not in meta
        place = order.get(meta["name"] if cluster_scoped else meta["namespace"], -1)
        return (0 if cluster_scoped else 1, place, KIND_ORDER.index(obj["kind"]), meta["name"])

    return sorted(objects, key=key)


def files(cfg: TeamConfig) -> dict[str, str]:
    """File name -> content for ``--out``: 00-namespaces.yaml, 00-cluster.yaml (the team's cluster-wide binding), then
    NN-<namespace>.yaml, then kustomization.yaml."""
    objects = stack(cfg)
    result = {"00-namespaces.yaml": yamlio.dump_all(o for o in objects if o["kind"] == "Namespace")}
    cluster_wide = [o for o in objects if "namespace" not in o["metadata"] and o["kind"] != "Namespace"]
    if cluster_wide:
        result["00-cluster.yaml"] = yamlio.dump_all(cluster_wide)
    for index, name in enumerate(namespaces.namespace_names(cfg).values(), start=1):
        in_namespace = [o for o in objects if o["metadata"].get("namespace") == name]
        result[f"{index:02d}-{name}.yaml"] = yamlio.dump_all(in_namespace)
    result["kustomization.yaml"] = yamlio.dump(
        {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": sorted(result)}
    )
    return result


def write(cfg: TeamConfig, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in files(cfg).items():
        path = out / name
        path.write_text(content, encoding="utf-8")
        written.append(path)
    return written
