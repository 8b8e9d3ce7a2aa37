"""The deploy stage: the image, by digest, rolled out into the team's dev namespace; and the release logic that
promote shares.

With a platform config, :func:`release` (1) checks the namespace, the objects it would overwrite and the Ingress
hosts (:mod:`buildplat.stages.claims`), (2) has the API server dry-run every object, (3) applies every Deployment
server-side, (4) waits for each rollout, failing fast with the pod's reason (:mod:`buildplat.stages.rollout`), and
only then (5) applies the Services, autoscalers and Ingresses. Any failure after the first change rolls every
changed Deployment back to the revision it had before (and waits for that), so a failed deploy leaves the cluster
as it was. Applying the same digest again changes nothing: no new revision. A replica count the autoscaler chose
within instances.min..max is kept. A first deploy that fails has nothing to go back to and is left for inspection.

For ``buildplat run`` (no platform config) the manifests are written to ``<out>/manifests/<environment>/``.
Either way the result goes to ``state.deployments[environment]``: ``namespace``, ``image``, ``digest``,
``revision`` (of the first service), and per service ``revision``, ``url`` (in-cluster, HTTP types) and ``host``.
"""

from __future__ import annotations

import time
from typing import Any

from buildplat.clients import kube
from buildplat.errors import BuildplatError
from buildplat.spec.platform import PlatformConfig
from buildplat.stages import claims, manifests, rollout
from buildplat.stages.context import PipelineState, StageContext, safe_file_name
from buildplat.stages.manifests import Target

MANIFEST_DIR = "manifests"
LOCAL_REGISTRY = "buildplat-local"


def run_deploy(ctx: StageContext, state: PipelineState) -> None:
    """Deploy the image the image stage built into dev; record the result in ``state.deployments["dev"]``."""
    image = state.require("image", "deploy")
    reference, digest = str(image["reference"]), str(image["digest"])
    if ctx.platform is None:
        reference = f"{LOCAL_REGISTRY}/{ctx.app.name}@{digest}"  # the image lives in an OCI layout, not a registry
    annotations = {manifests.VERSION_ANNOTATION: ctx.version}
    if ctx.commit:
        annotations["buildplat.dev/commit"] = ctx.commit
    state.deployments["dev"] = release(ctx, "dev", reference, annotations)


def digest_of(reference: str) -> str:
    if "@sha256:" not in reference:
        raise BuildplatError(f"the image reference {reference!r} has no digest", hint="deploy images by digest")
    return reference.rsplit("@", 1)[1]


def release(ctx: StageContext, environment: str, reference: str, annotations: dict[str, str]) -> dict[str, Any]:
    """Put ``reference`` (an image by digest) into ``environment``; return what to record in the pipeline state."""
    app = ctx.app
    record: dict[str, Any] = {
        "image": reference,
        "digest": digest_of(reference),
        "version": annotations.get(manifests.VERSION_ANNOTATION),
        "revision": None,
        "services": {},
    }
    if ctx.platform is None:
        namespace = f"{app.namespace}-{environment}"
        target = Target(namespace, environment, reference, annotations=annotations)
        return {**record, "namespace": namespace, **write_manifests(ctx, target)}
    namespace = claims.target_namespace(ctx.platform, app, environment)
    record["namespace"] = namespace
    if not app.services:
        ctx.say(f"{environment}: default.json has no services, nothing to deploy")
        return record
    client = kube.connect(ctx.platform.kubernetes.kubeconfig, ctx.platform.kubernetes.context)
    try:
        return {
            **record,
            **_release(
                ctx,
                ctx.platform,
                client,
                environment=environment,
                namespace=namespace,
                reference=reference,
                annotations=annotations,
            ),
        }
    finally:
        client.close()


def write_manifests(ctx: StageContext, target: Target) -> dict[str, Any]:
    """``buildplat run``: the manifests as YAML files, one per object, instead of applying them."""
    directory = ctx.out / MANIFEST_DIR / target.environment
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.yaml"):
        stale.unlink()
    services: dict[str, Any] = {}
    for name, objects in manifests.render(ctx.app, target).items():
        for obj in objects:
            path = directory / safe_file_name(f"{name}-{obj['kind'].lower()}.yaml")
            path.write_text(manifests.to_yaml(obj), encoding="utf-8")
        services[name] = _service_record(ctx, name, target, None, in_cluster=False)
    ctx.say(f"{target.environment}: manifests for {len(services)} service(s) written to {directory} (not applied)")
    return {"applied": False, "manifests": str(directory.resolve()), "services": services}


def _release(
    ctx: StageContext,
    platform: PlatformConfig,
    client: kube.KubeClient,
    *,
    environment: str,
    namespace: str,
    reference: str,
    annotations: dict[str, str],
) -> dict[str, Any]:
    started = time.monotonic()
    settings = platform.kubernetes
    target = Target(
        namespace,
        environment,
        reference,
        autoscaling=client.autoscaling_version(),
        ingress=client.ingress_version(),
        progress_deadline_seconds=settings.progress_deadline_seconds,
        annotations=annotations,
    )
    rendered = manifests.render(ctx.app, target)
    everything = [obj for objects in rendered.values() for obj in objects]
    claims.check_ownership(client, ctx.app, everything)
    claims.check_hosts(client, [o for o in everything if o["kind"] == "Ingress"], platform.namespaces.values(), ctx.say)
    before: dict[str, int | None] = {}
    deployments = []
    for service in ctx.app.services:
        live = client.deployment(namespace, service.name)
        before[service.name] = kube.revision_of(live) if live else None
        replicas = _kept_replicas(live, service.instances.min, service.instances.max)
        deployments.append(manifests.deployment(ctx.app, service, target, replicas))
    others = [obj for objects in rendered.values() for obj in objects[1:]]
    for obj in [*deployments, *others]:  # the API server checks every object before any is changed
        client.apply(obj, dry_run=True)
    ctx.say(f"{environment}: deploying {reference} to {namespace} ({len(rendered)} service(s))")
    wait = rollout.Settings(
        timeout=float(settings.rollout_timeout_seconds), grace=float(settings.failure_grace_seconds)
    )
    revisions: dict[str, int | None] = {}
    try:
        for obj in deployments:
            client.apply(obj)
        for service in ctx.app.services:
            revisions[service.name] = rollout.wait(client, namespace, service.name, wait, ctx.say).revision
        for obj in others:  # only now: a failed rollout leaves Services, autoscalers and Ingresses as they were
            client.apply(obj)
    except BuildplatError as exc:
        failure = (
            exc
            if isinstance(exc, rollout.RolloutFailed)
            else rollout.RolloutFailed(exc.message, "ApplyFailed", hint=exc.hint)
        )
        ctx.say(f"{environment}: the rollout failed after {time.monotonic() - started:.1f} s: {failure.reason}")
        raise _rolled_back(ctx, client, namespace=namespace, before=before, wait=wait, failure=failure) from None
    services = {s.name: _service_record(ctx, s.name, target, revisions[s.name]) for s in ctx.app.services}
    first = ctx.app.services[0].name
    ctx.say(f"{environment}: {reference} is live in {namespace} ({time.monotonic() - started:.1f} s)")
    return {"applied": True, "revision": revisions[first], "services": services}


def _kept_replicas(live: dict[str, Any] | None, low: int, high: int) -> int | None:
    """The live replica count when it lies within the bounds (the autoscaler chose it), else None: min."""
    count = ((live or {}).get("spec") or {}).get("replicas")
    return count if isinstance(count, int) and low <= count <= high else None


def _rolled_back(
    ctx: StageContext,
    client: kube.KubeClient,
    *,
    namespace: str,
    before: dict[str, int | None],
    wait: rollout.Settings,
    failure: rollout.RolloutFailed,
) -> BuildplatError:
    """Roll every changed Deployment back to its revision from before, wait, and describe it all in one error."""
    notes: list[str] = []
    for name, previous in before.items():
        live = client.deployment(namespace, name)
        current = kube.revision_of(live) if live else None
        if previous is None:
            notes.append(f"{name}: first deploy, there is no earlier revision to roll back to")
            continue
        if current == previous:
            continue
        ctx.say(f"  {name}: rolling back from revision {current} to revision {previous}")
        started = time.monotonic()
        try:
            client.rollback(namespace, name, previous)
            done = rollout.wait(client, namespace, name, wait, ctx.say)
        except BuildplatError as exc:
            notes.append(f"{name}: the rollback to revision {previous} failed too: {exc}")
        else:
            ctx.say(f"  {name}: rolled back in {time.monotonic() - started:.1f} s")
            notes.append(
                f"{name}: rolled back to the pod template of revision {previous} (now revision {done.revision})"
            )
    message = failure.message + "".join(f"\n{note}" for note in notes)
    return rollout.RolloutFailed(message, failure.reason, hint=failure.hint)


def _service_record(
    ctx: StageContext, name: str, target: Target, revision: int | None, *, in_cluster: bool = True
) -> dict[str, Any]:
    service = next(s for s in ctx.app.services if s.name == name)
    record: dict[str, Any] = {"revision": revision}
    if ctx.app.is_http and in_cluster:  # nothing answers there after a local run
        record["url"] = manifests.service_url(service, target.namespace)
    if service.external_url:
        record["host"] = manifests.ingress_host(service.external_url, target.environment)
    return record
