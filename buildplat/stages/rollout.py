"""Waiting for a Deployment's rollout, and failing it fast with the reason a pod shows.

:func:`rollout_status` reads a Deployment the way ``kubectl rollout status`` does: done when the controller has seen
the latest spec and every replica is updated and available; failed on ``ProgressDeadlineExceeded``.
:func:`pod_failures` finds the new ReplicaSet's pods that show a state that does not heal by waiting
(``CrashLoopBackOff``, ``ImagePullBackOff``, ...). The waiter fails once such a state has lasted the grace period,
instead of waiting for the whole progress deadline, and names the pod, the container, the reason, the message,
the pod's latest warning events and, for a container that keeps exiting, the last lines it wrote (``kubectl logs
--previous``; nothing when the deployer may not read logs). A Deployment whose pods cannot even be created
(``ReplicaFailure``: a quota or a LimitRange refuses them) fails the same way.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from buildplat.clients.kube import KubeClient, label_selector, revision_of
from buildplat.errors import BuildplatError

FAILING_REASONS = frozenset(
    {
        "CrashLoopBackOff",
        "ImagePullBackOff",
        "ErrImagePull",
        "ErrImageNeverPull",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)
EVENTS_SHOWN = 3
LOG_LINES_SHOWN = 10
# Reasons where the container ran and exited: its own output usually says why.
CRASHING = frozenset({"CrashLoopBackOff", "RunContainerError"})


@dataclass(frozen=True)
class Settings:
    timeout: float  # the whole wait
    grace: float  # how long a pod may show a failing reason
    poll: float = 1.0


@dataclass(frozen=True)
class PodFailure:
    pod: str
    container: str
    reason: str
    message: str


@dataclass(frozen=True)
class Status:
    done: bool
    ready: int
    updated: int
    wanted: int
    revision: int | None
    failure: str | None = None  # ProgressDeadlineExceeded and its message
    create_failure: PodFailure | None = None  # ReplicaFailure: pods cannot even be created (quota, limits)


class RolloutFailed(BuildplatError):
    """A rollout failed; ``reason`` is the Kubernetes reason (CrashLoopBackOff, ProgressDeadlineExceeded, ...)."""

    def __init__(self, message: str, reason: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.reason = reason


def rollout_status(deployment: dict[str, Any]) -> Status:
    meta, spec = deployment["metadata"], deployment.get("spec") or {}
    status = deployment.get("status") or {}
    wanted = int(spec.get("replicas", 1))
    ready = int(status.get("readyReplicas") or 0)
    updated = int(status.get("updatedReplicas") or 0)
    revision = revision_of(deployment)
    if int(status.get("observedGeneration") or 0) < int(meta.get("generation") or 0):
        return Status(False, ready, 0, wanted, revision)
    create_failure = None
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Progressing" and condition.get("reason") == "ProgressDeadlineExceeded":
            failure = f"ProgressDeadlineExceeded: {condition.get('message')}"
            return Status(False, ready, updated, wanted, revision, failure)
        if condition.get("type") == "ReplicaFailure" and condition.get("status") == "True":
            reason = str(condition.get("reason") or "ReplicaFailure")
            create_failure = PodFailure("", "", reason, str(condition.get("message") or ""))
    total = int(status.get("replicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    done = updated >= wanted and total <= updated and available >= updated
    return Status(done, ready, updated, wanted, revision, create_failure=create_failure)


def pod_failures(pods: list[dict[str, Any]]) -> list[PodFailure]:
    """The failing container states among ``pods``, init containers included."""
    found = []
    for pod in pods:
        status = pod.get("status") or {}
        for container in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]:
            waiting = (container.get("state") or {}).get("waiting") or {}
            reason = str(waiting.get("reason") or "")
            if reason in FAILING_REASONS:
                message = str(waiting.get("message") or "")
                last = ((container.get("lastState") or {}).get("terminated")) or {}
                if reason == "CrashLoopBackOff" and last:
                    message = f"exited with code {last.get('exitCode')} ({last.get('reason')}); {message}".strip()
                found.append(PodFailure(pod["metadata"]["name"], str(container.get("name")), reason, message))
    return found


def newest_replica_set(client: KubeClient, deployment: dict[str, Any]) -> dict[str, Any] | None:
    """The Deployment's ReplicaSet with the highest revision: the one being rolled out (the Deployment's own
    revision annotation lags behind it for a moment after each change)."""
    owned = client.replica_sets(deployment)
    return max(owned, key=lambda rs: revision_of(rs) or 0) if owned else None


def pods_of(client: KubeClient, replica_set: dict[str, Any]) -> list[dict[str, Any]]:
    labels = replica_set["spec"]["selector"].get("matchLabels") or {}
    return client.list_objects("v1", "Pod", replica_set["metadata"]["namespace"], labels=label_selector(labels))


def warnings_for(client: KubeClient, namespace: str, pod: str) -> list[str]:
    fields = f"involvedObject.kind=Pod,involvedObject.name={pod},type=Warning"
    events = client.list_objects("v1", "Event", namespace, fields=fields)
    events.sort(key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""))
    return [f"{e.get('reason')}: {e.get('message')}" for e in events[-EVENTS_SHOWN:]]


def wait(
    client: KubeClient,
    namespace: str,
    name: str,
    settings: Settings,
    say: Callable[[str], None],
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Status:
    """Wait until Deployment ``name`` is rolled out; raise :class:`RolloutFailed` as soon as it cannot be."""
    started = clock()
    first_seen: dict[tuple[str, str, str], float] = {}
    shown: tuple[int, int, int, int | None] | None = None
    while True:
        deployment = client.deployment(namespace, name)
        if deployment is None:
            raise RolloutFailed(f"Deployment {name} in {namespace} disappeared during the rollout", "NotFound")
        status = rollout_status(deployment)
        newest = newest_replica_set(client, deployment)
        latest = revision_of(newest) if newest else None
        progress = (status.ready, status.updated, status.wanted, latest)
        if progress != shown:
            shown = progress
            which = f" (revision {latest})" if latest is not None else ""
            say(f"  {name}: {status.ready}/{status.wanted} replicas ready, {status.updated} updated{which}")
        if status.done and latest == status.revision:
            return status
        if status.failure:
            raise _failed(client, namespace, name, "ProgressDeadlineExceeded", detail=status.failure, pod=None)
        now = clock()
        failures = pod_failures(pods_of(client, newest)) if newest else []
        if status.create_failure:
            failures.append(status.create_failure)
        seen_now = {(f.pod, f.container, f.reason) for f in failures}
        first_seen = {key: first_seen.get(key, now) for key in seen_now}
        for failure in failures:
            if now - first_seen[(failure.pod, failure.container, failure.reason)] >= settings.grace:
                where = f"pod {failure.pod}, container {failure.container}" if failure.pod else "creating pods"
                detail = f"{where}: {failure.reason}"
                if failure.message:
                    detail += f": {failure.message}"
                raise _failed(
                    client,
                    namespace,
                    name,
                    failure.reason,
                    detail=detail,
                    pod=failure.pod or None,
                    container=failure.container or None,
                )
        if now - started >= settings.timeout:
            raise RolloutFailed(
                f"the rollout of Deployment {name} in {namespace} did not finish within {settings.timeout:g} s "
                f"({status.ready}/{status.wanted} replicas ready)",
                "Timeout",
                hint="raise kubernetes.rollout_timeout_seconds in the platform config if the app starts slowly",
            )
        sleep(settings.poll)


def _last_output(client: KubeClient, namespace: str, pod: str, container: str) -> list[str]:
    """The end of what the crashed container printed (its previous run), cleaned for a console; [] if none."""
    try:
        text = client.pod_log(namespace, pod, container, previous=True, lines=LOG_LINES_SHOWN)
    except BuildplatError:
        return []  # the failure is what matters; its log is a courtesy
    cleaned = ("".join(ch if ch >= " " or ch == "\t" else "?" for ch in line) for line in (text or "").splitlines())
    return [line[:300] for line in cleaned if line.strip()][-LOG_LINES_SHOWN:]


def _failed(
    client: KubeClient,
    namespace: str,
    name: str,
    reason: str,
    *,
    detail: str,
    pod: str | None,
    container: str | None = None,
) -> RolloutFailed:
    lines = [f"the rollout of Deployment {name} in {namespace} failed: {detail}"]
    if pod:
        lines += [f"    {line}" for line in warnings_for(client, namespace, pod)]
    if pod and container and reason in CRASHING:
        output = _last_output(client, namespace, pod, container)
        if output:
            lines.append(f"    the last {len(output)} line(s) the container wrote before it exited:")
            lines += [f"      | {line}" for line in output]
    hints = {
        "CrashLoopBackOff": f"the container keeps exiting: see `kubectl -n {namespace} logs --previous {pod}`",
        "ImagePullBackOff": "the image cannot be pulled: check the reference and the registry's credentials",
        "ErrImagePull": "the image cannot be pulled: check the reference and the registry's credentials",
        "ProgressDeadlineExceeded": "pods did not become ready in time: check the health path, the port and events",
        "FailedCreate": f"pods cannot be created: check the ResourceQuota and LimitRange of {namespace}",
    }
    return RolloutFailed("\n".join(lines), reason, hint=hints.get(reason))
