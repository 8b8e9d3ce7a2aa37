"""Object metadata shared by every rendered object: names, the labels that tie an object to its team."""

from __future__ import annotations

from typing import Any

from buildplat_deploy import __version__
from buildplat_deploy.config import TeamConfig

PART_OF = "app.kubernetes.io/part-of"
TEAM = "buildplat.dev/team"
NAME = "app.kubernetes.io/name"
COMPONENT = "buildplat.dev/component"
ENVIRONMENT = "buildplat.dev/environment"

Manifest = dict[str, Any]


def labels(cfg: TeamConfig, name: str | None = None) -> dict[str, str]:
    """The labels every object carries; ``name`` adds the app name used by selectors."""
    result = {
        PART_OF: "buildplat",
        TEAM: cfg.team,
        "app.kubernetes.io/managed-by": "buildplat-deploy",
        "app.kubernetes.io/version": __version__,
    }
    if name is not None:
        result[NAME] = name
    return result


def selector(cfg: TeamConfig, name: str) -> dict[str, str]:
    """Selector labels: stable across versions, so never the version label."""
    return {NAME: name, TEAM: cfg.team}


def manifest(
    api_version: str,
    kind: str,
    cfg: TeamConfig,
    name: str,
    namespace: str | None,
    *,
    app: str | None = None,
    extra_labels: dict[str, str] | None = None,
    **body: Any,
) -> Manifest:
    """One Kubernetes object; ``body`` holds the top-level fields after metadata (spec, data, rules…)."""
    metadata: dict[str, Any] = {"name": name, "labels": {**labels(cfg, app), **(extra_labels or {})}}
    if namespace is not None:
        metadata["namespace"] = namespace
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata, **body}


def pod_security() -> dict[str, Any]:
    """The container security context every long-running container of the stack gets."""
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": False,
        "runAsNonRoot": True,
    }
