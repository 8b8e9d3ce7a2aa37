"""The promote stage: the image that was tested goes, by the same digest, to stage and then prod; never a rebuild.

``run_promote(ctx, state, "stage")`` takes the image from dev, ``"prod"`` from stage: the reference recorded in
``state.deployments[source]`` by this pipeline (what its verify stage tested), or, in a promotion job run later
without that state, the image of the live Deployments in the source namespace, which must all run one digest.
Prod needs an approval: in Jenkins the pipeline's ``input`` step asks for it and passes the approver as
``--approved-by USER`` (or ``BUILDPLAT_APPROVED_BY``); without one the stage refuses. The approver is recorded in
the ``buildplat.dev/approved-by`` annotation of the prod Deployments, and in the pipeline state.
"""

from __future__ import annotations

import os
import re
from typing import Any

from buildplat.clients import kube
from buildplat.errors import BuildplatError, UsageError
from buildplat.stages import claims, manifests
from buildplat.stages.context import PipelineState, StageContext
from buildplat.stages.deploy import digest_of, release

SOURCES = {"stage": "dev", "prod": "stage"}
APPROVAL_ENV = "BUILDPLAT_APPROVED_BY"
APPROVED_BY = "buildplat.dev/approved-by"
PROMOTED_FROM = "buildplat.dev/promoted-from"
_APPROVER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+ -]{0,127}$")


def run_promote(ctx: StageContext, state: PipelineState, environment: str, *, approved_by: str | None = None) -> None:
    """Promote the source environment's image to ``environment`` (stage or prod)."""
    if environment not in SOURCES:
        raise UsageError(f"cannot promote to {environment!r}", hint="promote to stage, then to prod")
    source = SOURCES[environment]
    approver = _approver(ctx, environment, approved_by)
    if source == "dev" and (state.verify or {}).get("result") == "failed":
        raise BuildplatError(
            "the system tests of this build failed, so it is not promoted",
            hint="fix the build; only a build whose verify stage passed goes to stage",
        )
    reference, version = _source_image(ctx, state, source)
    annotations = {PROMOTED_FROM: source}
    if version:
        annotations[manifests.VERSION_ANNOTATION] = version
    if approver:
        annotations[APPROVED_BY] = approver
    ctx.say(f"promote: {reference} from {source} to {environment}" + (f", approved by {approver}" if approver else ""))
    record = release(ctx, environment, reference, annotations)
    record["promoted_from"] = source
    if approver:
        record["approved_by"] = approver
    state.deployments[environment] = record


def _approver(ctx: StageContext, environment: str, given: str | None) -> str | None:
    value = (given or ctx.environ.get(APPROVAL_ENV) or os.environ.get(APPROVAL_ENV) or "").strip()
    if environment != "prod":
        return value or None
    if not value:
        raise BuildplatError(
            "promotion to prod needs an approval, and none was given",
            hint=f"pass --approved-by USER (the Jenkins input step's approver) or set {APPROVAL_ENV}",
        )
    if not _APPROVER.fullmatch(value):
        raise UsageError(
            f"--approved-by {value!r} is not a user name",
            hint="letters, digits and . _ @ + - or spaces, at most 128 characters",
        )
    return value


def _source_image(ctx: StageContext, state: PipelineState, source: str) -> tuple[str, str | None]:
    """The image reference (by digest) and version to promote, from the pipeline state or the live source."""
    recorded = state.deployments.get(source) or {}
    if recorded.get("image"):
        reference = str(recorded["image"])
        digest_of(reference)
        return reference, recorded.get("version")
    if ctx.platform is None:
        raise BuildplatError(
            f"nothing was deployed to {source} in this pipeline, so there is nothing to promote",
            hint=f"run the {'deploy' if source == 'dev' else 'promote stage'} stage first",
        )
    namespace = claims.target_namespace(ctx.platform, ctx.app, source)
    client = kube.connect(ctx.platform.kubernetes.kubeconfig, ctx.platform.kubernetes.context)
    try:
        live = [client.deployment(namespace, service.name) for service in ctx.app.services]
    finally:
        client.close()
    return _live_image(ctx, namespace, live)


def _live_image(ctx: StageContext, namespace: str, live: list[dict[str, Any] | None]) -> tuple[str, str | None]:
    images: set[str] = set()
    versions: set[str] = set()
    for service, deployment in zip(ctx.app.services, live, strict=True):
        if deployment is None:
            raise BuildplatError(
                f"service {service.name} is not deployed in {namespace}, so there is nothing to promote",
                hint="deploy (or promote) to the earlier environment first",
            )
        containers = deployment["spec"]["template"]["spec"]["containers"]
        images.update(str(c["image"]) for c in containers if c.get("name") == ctx.app.name)
        version = ((deployment["metadata"].get("annotations") or {}).get(manifests.VERSION_ANNOTATION)) or ""
        versions.add(version)
    if len(images) != 1:
        raise BuildplatError(
            f"the services in {namespace} do not run one image ({', '.join(sorted(images)) or 'none'}), "
            "so it is unclear what was tested",
            hint="deploy one build to every service of the earlier environment, then promote",
        )
    (reference,) = images
    digest_of(reference)
    return reference, (versions.pop() or None) if len(versions) == 1 else None
