"""The team's four namespaces, each with a ResourceQuota and a LimitRange."""

from __future__ import annotations

from buildplat_deploy.config import ENVIRONMENTS, TeamConfig
from buildplat_deploy.meta import ENVIRONMENT, Manifest, manifest


def namespace_names(cfg: TeamConfig) -> dict[str, str]:
    """Role of each namespace ("ci", "dev", "stage", "prod") -> its name."""
    return {"ci": cfg.ci_namespace, **{env: cfg.namespace(env) for env in ENVIRONMENTS}}


def objects(cfg: TeamConfig) -> list[Manifest]:
    result: list[Manifest] = []
    for role, name in namespace_names(cfg).items():
        # kubernetes.io/metadata.name is set by the API server from v1.21; we set it ourselves so that
        # NetworkPolicy namespace selectors work the same on v1.20.
        role_labels = {ENVIRONMENT: role, "kubernetes.io/metadata.name": name}
        result.append(manifest("v1", "Namespace", cfg, name, None, extra_labels=role_labels))
        result.append(
            manifest(
                "v1",
                "ResourceQuota",
                cfg,
                "buildplat-quota",
                name,
                spec={"hard": dict(sorted(cfg.quotas[role].items()))},
            )
        )
        result.append(
            manifest(
                "v1",
                "LimitRange",
                cfg,
                "buildplat-limits",
                name,
                spec={"limits": [{"type": "Container", **{key: dict(value) for key, value in cfg.limits.items()}}]},
            )
        )
    return result
