"""What a deploy may touch: its own team's namespaces, its own objects, and Ingress hosts nobody claimed first.

- The target namespace is one of the platform config's three, and default.json's namespace is the config's team:
  a repository can never act on another team's namespace, whatever its default.json says.
- An object buildplat would apply that already exists must carry this app's ``buildplat.dev/app`` label: two apps
  of a team cannot overwrite each other's Deployment by choosing the same service name.
- An Ingress host belongs to the oldest Ingress that names it (ingress controllers resolve duplicates so): a host
  claimed earlier by any other Ingress, in any namespace, is refused. That needs a cluster-wide list of Ingresses;
  the deployer's Roles do not grant it, so a platform binds this ClusterRole to the deploying service account::

      apiVersion: rbac.authorization.k8s.io/v1
      kind: ClusterRole
      metadata: {name: buildplat-ingress-reader}
      rules: [{apiGroups: [networking.k8s.io], resources: [ingresses], verbs: [get, list]}]

  Without it, the check falls back to the team's own namespaces and says so in a warning.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from buildplat.clients.kube import KubeClient, KubeStatusError, object_path
from buildplat.errors import BuildplatError, UsageError
from buildplat.spec.model import AppSpec
from buildplat.spec.platform import PlatformConfig
from buildplat.stages.manifests import APP_LABEL, app_label

CLUSTER_ROLE = "buildplat-ingress-reader"


def target_namespace(platform: PlatformConfig, app: AppSpec, environment: str) -> str:
    """The namespace of ``environment``, after checking the app belongs to this platform's team."""
    if environment not in platform.namespaces:
        raise UsageError(
            f"unknown environment {environment!r}", hint="environments: " + ", ".join(sorted(platform.namespaces))
        )
    if app.namespace != platform.team:
        raise BuildplatError(
            f"default.json's namespace {app.namespace!r} is not this platform's team {platform.team!r} "
            f"({platform.source}); a repository may only deploy into its own team's namespaces",
            hint=f'set "namespace": "{platform.team}" in default.json, or run the job of team {app.namespace!r}',
        )
    namespace = platform.namespace(environment)
    if namespace not in set(platform.namespaces.values()):  # defence in depth: only the config's three
        raise BuildplatError(f"namespace {namespace!r} is not one of team {platform.team!r}'s namespaces")
    return namespace


def check_ownership(client: KubeClient, app: AppSpec, objects: Iterable[dict[str, Any]]) -> None:
    """Refuse to overwrite an object that exists but belongs to another app, or to nobody managed by buildplat."""
    mine = app_label(app)
    for obj in objects:
        meta = obj["metadata"]
        live = client.get(object_path(obj["apiVersion"], obj["kind"], meta["namespace"], meta["name"]))
        if live is None:
            continue
        owner = (live["metadata"].get("labels") or {}).get(APP_LABEL)
        if owner != mine:
            whose = f"app {owner}" if owner else "no buildplat app (it was made by hand or by another tool)"
            raise BuildplatError(
                f"{obj['kind']} {meta['name']} in {meta['namespace']} already exists and belongs to {whose}; "
                f"buildplat will not overwrite it for {app.full_name}",
                hint="rename the service in default.json, or have the owner delete that object",
            )


def check_hosts(
    client: KubeClient,
    ingresses: list[dict[str, Any]],
    team_namespaces: Iterable[str],
    warn: Callable[[str], None],
) -> None:
    """Refuse any host of ``ingresses`` (about to be applied) that an older Ingress of someone else claims."""
    if not ingresses:
        return
    version = ingresses[0]["apiVersion"]
    existing = _all_ingresses(client, version, sorted(set(team_namespaces)), warn)
    for ours in ingresses:
        namespace, name = ours["metadata"]["namespace"], ours["metadata"]["name"]
        for host in _hosts(ours):
            claims = [item for item in existing if host in _hosts(item)]
            mine = [c for c in claims if _key(c)[1:] == (namespace, name)]
            others = [c for c in claims if _key(c)[1:] != (namespace, name)]
            older = sorted((c for c in others if not mine or _key(c) < _key(mine[0])), key=_key)
            if older:
                raise BuildplatError(
                    f"the Ingress host {host} is already claimed by {_describe(older[0])}; "
                    "the oldest claim wins, so this deploy would not receive that host's traffic",
                    hint="choose another external_url in default.json, or have the owner give the host up",
                )


def _all_ingresses(
    client: KubeClient, version: str, team_namespaces: list[str], warn: Callable[[str], None]
) -> list[dict[str, Any]]:
    try:
        return client.list_objects(version, "Ingress", None)
    except KubeStatusError as exc:
        if exc.status != 403:
            raise
    warn(
        "warning: cannot list Ingresses in all namespaces (forbidden), so an Ingress host is checked against "
        f"team namespaces {', '.join(team_namespaces)} only; bind the ClusterRole {CLUSTER_ROLE} "
        "(get, list on networking.k8s.io ingresses) to the deploying service account for the full check"
    )
    found: list[dict[str, Any]] = []
    for namespace in team_namespaces:
        try:
            found.extend(client.list_objects(version, "Ingress", namespace))
        except KubeStatusError as exc:
            if exc.status not in (403, 404):
                raise
    return found


def _hosts(ingress: dict[str, Any]) -> set[str]:
    return {str(rule["host"]) for rule in (ingress.get("spec") or {}).get("rules") or [] if rule.get("host")}


def _key(ingress: dict[str, Any]) -> tuple[str, str, str]:
    meta = ingress["metadata"]
    return (str(meta.get("creationTimestamp") or ""), str(meta["namespace"]), str(meta["name"]))


def _describe(ingress: dict[str, Any]) -> str:
    meta = ingress["metadata"]
    owner = (meta.get("labels") or {}).get(APP_LABEL) or "not managed by buildplat"
    return f"Ingress {meta['name']} in {meta['namespace']} (app {owner}, created {meta.get('creationTimestamp')})"
