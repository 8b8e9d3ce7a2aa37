"""The Kubernetes API, as the deploy and promote stages need it: the one module that imports ``kubernetes``.

Objects travel as plain JSON dictionaries (what the API server sends and takes), not the client's model classes:
the stages render manifests as dictionaries and read only a handful of status fields. Every request goes through
:meth:`KubeClient.request`, which uses the client library's configuration (server, TLS, token refresh) and turns
failures into :class:`~buildplat.errors.ServiceError`: connection failures, timeouts, 429 and 5xx are retried on an
explicit backoff list, honouring Retry-After. Credentials never appear in a message.

Server-side apply is a PATCH with ``Content-Type: application/apply-patch+yaml`` (JSON is YAML), ``fieldManager=
buildplat`` and ``force=true``; the generated API methods would pick a JSON patch type, so the header is set here.
Kubernetes v1.20 serves it (beta, on by default since v1.16) and has no rollback endpoint for Deployments, so
:meth:`KubeClient.rollback` puts back the pod template of the ReplicaSet carrying the wanted
``deployment.kubernetes.io/revision``, as ``kubectl rollout undo`` does.
"""

from __future__ import annotations

import copy
import json
import os
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote

from buildplat.errors import BuildplatError, ServiceError

SERVICE = "Kubernetes"
FIELD_MANAGER = "buildplat"
APPLY = "application/apply-patch+yaml"
JSON_PATCH = "application/json-patch+json"
REVISION = "deployment.kubernetes.io/revision"
DEFAULT_BACKOFF: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)
MAX_RETRY_AFTER = 30.0
REQUEST_TIMEOUT = 30.0
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Newest first: what the stages render, in the order they prefer it.
AUTOSCALING_VERSIONS = ("autoscaling/v2", "autoscaling/v2beta2", "autoscaling/v1")
INGRESS_VERSIONS = ("networking.k8s.io/v1", "networking.k8s.io/v1beta1")
PLURALS = {
    "Deployment": "deployments",
    "ReplicaSet": "replicasets",
    "Service": "services",
    "Pod": "pods",
    "Event": "events",
    "HorizontalPodAutoscaler": "horizontalpodautoscalers",
    "Ingress": "ingresses",
}


def collection_path(api_version: str, kind: str, namespace: str | None) -> str:
    """``/apis/apps/v1/namespaces/NS/deployments`` (or cluster-wide without a namespace); segments are quoted."""
    root = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    where = f"/namespaces/{quote(namespace, safe='')}" if namespace else ""
    return f"{root}{where}/{PLURALS[kind]}"


def object_path(api_version: str, kind: str, namespace: str, name: str) -> str:
    return f"{collection_path(api_version, kind, namespace)}/{quote(name, safe='')}"


class KubeClient:
    """A Kubernetes API server reached through a configured ``kubernetes.client.ApiClient``."""

    def __init__(
        self,
        api_client: Any,
        *,
        backoff: Sequence[float] = DEFAULT_BACKOFF,
        timeout: float = REQUEST_TIMEOUT,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api = api_client
        self.backoff = tuple(backoff)
        self.timeout = timeout
        self.sleep = sleep

    @property
    def server(self) -> str:
        return str(self.api.configuration.host)

    def close(self) -> None:
        self.api.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Sequence[tuple[str, str]] = (),
        body: Any = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        """One API call, answered with its JSON body; retried while the failure is retryable."""
        data = self._with_retries(method, path, query=query, body=body, content_type=content_type)
        return dict(json.loads(data)) if data else {}

    def _with_retries(
        self,
        method: str,
        path: str,
        *,
        query: Sequence[tuple[str, str]] = (),
        body: Any = None,
        content_type: str = "application/json",
        accept: str = "application/json",
    ) -> bytes:
        attempts = len(self.backoff) + 1
        for attempt in range(attempts):
            try:
                return self._once(method, path, query=query, body=body, content_type=content_type, accept=accept)
            except _Retry as retry:
                if attempt == attempts - 1:
                    raise retry.error from None
                self.sleep(max(self.backoff[attempt], retry.after))
        raise AssertionError("unreachable")

    def _once(
        self, method: str, path: str, *, query: Sequence[tuple[str, str]], body: Any, content_type: str, accept: str
    ) -> bytes:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        what = f"{method} {path}"
        headers = {"Accept": accept, "Content-Type": content_type}
        try:
            prepared = self.api.param_serialize(
                method, path, query_params=list(query), header_params=headers, body=body, auth_settings=["BearerToken"]
            )
            response = self.api.call_api(*prepared, _request_timeout=self.timeout)
            data = response.read()
        except ApiException as exc:  # raised for TLS failures, with status 0
            raise _Retry(ServiceError(SERVICE, f"{what}: {exc.reason}", retryable=True)) from exc
        except (HTTPError, OSError) as exc:
            message = f"cannot reach {self.server} ({what}): {type(exc).__name__}"
            raise _Retry(ServiceError(SERVICE, message, retryable=True)) from exc
        if 200 <= response.status < 300:
            return bytes(data or b"")
        error = status_error(what, response.status, data)
        if response.status in _RETRY_STATUSES:
            raise _Retry(error, _retry_after(response.headers.get("Retry-After")))
        raise error

    def get(self, path: str, query: Sequence[tuple[str, str]] = ()) -> dict[str, Any] | None:
        """The object at ``path``, or None when it does not exist."""
        try:
            return self.request("GET", path, query=query)
        except KubeStatusError as exc:
            if exc.status == 404:
                return None
            raise

    def list_objects(
        self, api_version: str, kind: str, namespace: str | None, *, labels: str = "", fields: str = ""
    ) -> list[dict[str, Any]]:
        """Every object of a kind (a label and a field selector narrow it), paged through ``continue``."""
        query = [(key, value) for key, value in (("labelSelector", labels), ("fieldSelector", fields)) if value]
        items: list[dict[str, Any]] = []
        token = ""
        while True:
            page = self.request("GET", collection_path(api_version, kind, namespace), query=[*query, *_limit(token)])
            items.extend(page.get("items") or [])
            token = str((page.get("metadata") or {}).get("continue") or "")
            if not token:
                return items

    def apply(self, manifest: dict[str, Any], *, dry_run: bool = False) -> dict[str, Any]:
        """Server-side apply ``manifest`` (which names its namespace) as buildplat, forcing ownership.

        ``dry_run``: the API server validates and admits it, and changes nothing."""
        meta = manifest["metadata"]
        path = object_path(manifest["apiVersion"], manifest["kind"], meta["namespace"], meta["name"])
        query = [("fieldManager", FIELD_MANAGER), ("force", "true"), *([("dryRun", "All")] if dry_run else [])]
        return self.request("PATCH", path, query=query, body=manifest, content_type=APPLY)

    def served_versions(self, group: str) -> list[str]:
        """``group/version`` strings the API server serves for ``group`` (empty when it serves none)."""
        found = self.get(f"/apis/{quote(group, safe='')}")
        return [str(v["groupVersion"]) for v in (found or {}).get("versions") or []]

    def newest(self, candidates: Sequence[str]) -> str:
        """The first of ``candidates`` (all in one group, newest first) that the server serves."""
        served = set(self.served_versions(candidates[0].split("/", 1)[0]))
        for version in candidates:
            if version in served:
                return version
        raise ServiceError(
            SERVICE,
            f"the API server at {self.server} serves none of {', '.join(candidates)}",
            hint="buildplat needs Kubernetes 1.19 or newer",
        )

    def autoscaling_version(self) -> str:
        return self.newest(AUTOSCALING_VERSIONS)

    def ingress_version(self) -> str:
        return self.newest(INGRESS_VERSIONS)

    def deployment(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.get(object_path("apps/v1", "Deployment", namespace, name))

    def pod_log(
        self, namespace: str, pod: str, container: str, *, previous: bool = False, lines: int = 20
    ) -> str | None:
        """The last ``lines`` of a container's log (``previous``: of its last run, as ``kubectl logs --previous``),
        at most 8 KiB; None when there is none or reading it is not allowed."""
        query = [("container", container), ("tailLines", str(lines)), ("limitBytes", "8192")]
        if previous:
            query.append(("previous", "true"))
        path = object_path("v1", "Pod", namespace, pod) + "/log"
        try:
            data = self._with_retries("GET", path, query=query, accept="*/*")  # a v1.20 server refuses text/plain
        except KubeStatusError as exc:
            if exc.status in (400, 403, 404):  # not started yet, no previous run, or no pods/log permission
                return None
            raise
        return data.decode("utf-8", "replace")

    def replica_sets(self, deployment: dict[str, Any]) -> list[dict[str, Any]]:
        """The ReplicaSets ``deployment`` owns, each with its revision in :data:`REVISION`."""
        meta = deployment["metadata"]
        selector = label_selector(deployment["spec"]["selector"].get("matchLabels") or {})
        listed = self.list_objects("apps/v1", "ReplicaSet", meta["namespace"], labels=selector)
        return [rs for rs in listed if _owned_by(rs, meta["uid"])]

    def rollback(self, namespace: str, name: str, revision: int) -> None:
        """Put the pod template (and buildplat's annotations) of ``revision`` back on the Deployment."""
        live = self.deployment(namespace, name)
        if live is None:
            raise BuildplatError(f"cannot roll back Deployment {name} in {namespace}: it no longer exists")
        match = [rs for rs in self.replica_sets(live) if revision_of(rs) == revision]
        if not match:
            raise BuildplatError(
                f"cannot roll back Deployment {name} in {namespace}: no ReplicaSet has revision {revision}",
                hint="it was pruned (revisionHistoryLimit); deploy a known good build again",
            )
        template = copy.deepcopy(match[0]["spec"]["template"])
        template.get("metadata", {}).get("labels", {}).pop("pod-template-hash", None)
        ops: list[dict[str, Any]] = [{"op": "replace", "path": "/spec/template", "value": template}]
        ours = {
            k: v for k, v in (match[0]["metadata"].get("annotations") or {}).items() if k.startswith("buildplat.dev/")
        }
        if live["metadata"].get("annotations"):
            ops += [{"op": "add", "path": "/metadata/annotations/" + _pointer(k), "value": v} for k, v in ours.items()]
        elif ours:
            ops.append({"op": "add", "path": "/metadata/annotations", "value": ours})
        path = object_path("apps/v1", "Deployment", namespace, name)
        self.request("PATCH", path, query=[("fieldManager", FIELD_MANAGER)], body=ops, content_type=JSON_PATCH)


class KubeStatusError(ServiceError):
    """The API server answered with an error status (``status``, ``reason`` from its Status object)."""

    def __init__(self, message: str, status: int, reason: str, *, retryable: bool, hint: str | None) -> None:
        super().__init__(SERVICE, message, retryable=retryable, hint=hint)
        self.status = status
        self.reason = reason


class _Retry(Exception):
    def __init__(self, error: ServiceError, after: float = 0.0) -> None:
        super().__init__(error.message)
        self.error = error
        self.after = after


def status_error(what: str, status: int, data: bytes) -> KubeStatusError:
    try:
        body = json.loads(data)
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    message = str(body.get("message") or data[:200].decode("utf-8", "replace").strip() or "no message")
    reason = str(body.get("reason") or "")
    hints = {
        401: "the cluster refused the credentials: check the kubeconfig (kubernetes.kubeconfig in the platform config)",
        403: "the service account lacks this permission: see the buildplat-deployer Role made by buildplat-deploy",
        404: "does the namespace exist? Platform operators create a team's namespaces with buildplat-deploy",
    }
    return KubeStatusError(
        f"{what} answered {status}: {message}",
        status,
        reason,
        retryable=status in _RETRY_STATUSES,
        hint=hints.get(status),
    )


def connect(kubeconfig: str | None = None, context: str | None = None) -> KubeClient:
    """A client for the cluster: ``kubeconfig`` (and ``context``) when given, else ``$KUBECONFIG`` when set (Jenkins
    binds a kubeconfig credential so), else the in-cluster service account (inside a pod), else ``~/.kube/config``."""
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    kubeconfig = kubeconfig or os.environ.get("KUBECONFIG") or None  # read now, not when kubernetes was imported
    configuration = client.Configuration()
    configuration.retries = False  # urllib3 would retry (and sleep on Retry-After) under our own backoff
    try:
        if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        else:
            config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=kubeconfig, context=context, client_configuration=configuration, persist_config=False
            )
    except (ConfigException, OSError, ValueError) as exc:
        where = kubeconfig or "~/.kube/config"
        raise BuildplatError(
            f"cannot load the Kubernetes configuration ({where}): {exc}",
            hint="set kubernetes.kubeconfig (and context) in the platform config, or run inside the cluster",
        ) from exc
    api = client.ApiClient(configuration)
    return KubeClient(api)


def label_selector(labels: dict[str, str]) -> str:
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))


def revision_of(obj: dict[str, Any]) -> int | None:
    value = ((obj.get("metadata") or {}).get("annotations") or {}).get(REVISION)
    return int(value) if value and str(value).isdigit() else None


def _owned_by(obj: dict[str, Any], uid: str) -> bool:
    return any(ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences") or [])


def _pointer(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _limit(token: str) -> list[tuple[str, str]]:
    return [("limit", "500"), ("continue", token)] if token else [("limit", "500")]


def _retry_after(value: str | None) -> float:
    try:
        return min(max(float(value or ""), 0.0), MAX_RETRY_AFTER)
    except ValueError:
        return 0.0
