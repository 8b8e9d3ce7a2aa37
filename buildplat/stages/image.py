"""The image stage: the primary buildfact's base image plus one layer made from the app's deb, with no daemon.

Registry path (Jenkins): read the base manifest and config from ``<registry>/<base_repository>/<buildfact>:
<base_tag>``, build the app layer (``image_layer``), mount every base layer into ``<namespace>/<name>`` from the
base repository (never uploaded), upload the app layer and the new config, put the manifest by digest (the
registry checks every blob is there and names the digest it stored, which must be ours), and only then tag it
``<version>``: a failed push leaves no tag pointing at a half image.

Local path (``buildplat run``, no platform config): the same assembly from a local OCI layout of the base
(``StageContext.base_images``, built by ``buildplat.images.rootfs``) into ``<out>/image/``.

``engine="docker"``: the Docker-engine path (``FROM base``, ``COPY`` the deb, ``dpkg -i``) with the same labels
and settings, pushed to the same place. Either way the digest is
recorded in ``state.image`` and ``<out>/image.json``; the labels and annotations are what ``buildplat images``
reads to find the apps built on a base (see ``image_config``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shlex
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from buildplat.clients import oci
from buildplat.clients.oci import Descriptor, ImageStore
from buildplat.clients.oci_layout import OciLayout
from buildplat.errors import BuildplatError, UsageError
from buildplat.spec.model import AppSpec
from buildplat.stages.context import PipelineState, StageContext
from buildplat.stages.image_config import ImageMetadata, image_config, image_manifest, runtime_settings
from buildplat.stages.image_layer import Deb, build_layer, read_deb

if TYPE_CHECKING:
    from buildplat.clients.registry import RegistryClient
    from buildplat.spec.platform import RegistryConfig

ENGINES = ("registry", "docker")
LOCAL_BASE_TAG = "local"
LOCAL_BASE_REPOSITORY = "buildplat/base"
RECORD_FILE = "image.json"


@dataclass(frozen=True)
class Pushed:
    """One assembled image: where it went and what it was built on."""

    reference: str  # host/ns/name@sha256:… (or oci:DIR@sha256:…)
    tag: str
    digest: str
    base_reference: str
    base_digest: str
    layer_digest: str | None = None

    def record(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "tag": self.tag,
            "digest": self.digest,
            "base": {"reference": self.base_reference, "digest": self.base_digest},
        }


def run_image(ctx: StageContext, state: PipelineState, *, engine: str = "registry", how_to_run: bool = True) -> None:
    """Build and push the app image and record it in ``state.image`` (``buildplat step image`` prints the digest).

    ``how_to_run``: locally, say how to run the image (``buildplat run`` says it in its summary instead)."""
    if engine not in ENGINES:
        raise UsageError(f"unknown image engine {engine!r}", hint="use --engine registry (default) or docker")
    if ctx.console is None:  # stdout carries the digest alone (Jenkins reads it), so progress goes to stderr
        ctx = dataclasses.replace(ctx, console=sys.stderr)
    deb_path = ctx.out / state.require("deb", "image")
    deb = read_deb(deb_path)
    buildfact = ctx.app.primary_buildfact
    target_repository = oci.check_repository(ctx.app.full_name)
    tag = oci.check_tag(ctx.version)
    started = time.monotonic()
    if engine == "docker":
        from buildplat.stages.image_docker import build_with_docker

        pushed = build_with_docker(ctx, deb_path, deb, target_repository, tag)
    else:
        base, base_repository, base_tag, target = _stores(ctx, buildfact)
        pushed = assemble(
            ctx,
            deb,
            base=base,
            base_repository=base_repository,
            base_reference=base_tag,
            target=target,
            target_repository=target_repository,
            tag=tag,
        )
    ctx.say(f"image: {pushed.reference} ({tag}) in {time.monotonic() - started:.1f} s")
    if not ctx.local:
        _record_in_index(ctx, target_repository, pushed, buildfact)
    state.image = pushed.record()
    if ctx.local:
        state.image["layout"] = str(ctx.out / "image")
    _write_record(ctx.out / RECORD_FILE, {**pushed.record(), "app": ctx.app.full_name, "buildfact": buildfact})
    if ctx.local and how_to_run:
        ctx.say(f"image: in the OCI layout {ctx.out / 'image'} (tag {tag}); to run it:")
        for command in run_commands(ctx.app, ctx.out / "image", tag):
            ctx.say(f"    {command}")


def assemble(
    ctx: StageContext,
    deb: Deb,
    *,
    base: ImageStore,
    base_repository: str,
    base_reference: str,
    target: ImageStore,
    target_repository: str,
    tag: str,
) -> Pushed:
    """Base image + app layer -> ``target_repository:tag``, pushed blobs first, manifest, then the tag."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="image-layer") as worker:
        building = worker.submit(build_layer, deb)  # CPU work, overlapped with the registry calls below
        try:
            base_name = base.describe(base_repository, base_reference)
            base_manifest = base.get_manifest(base_repository, base_reference)
            base_config = json.loads(base.get_blob(base_repository, base_manifest.config.digest))
            ctx.say(f"image: base {base_name} ({base_manifest.digest})")
            moved = sum(not target.copy_blob(target_repository, d, base, base_repository) for d in base_manifest.layers)
            ctx.say(f"image: {len(base_manifest.layers)} base layer(s) in place, {moved} of them copied")
            layer = building.result()
        except BaseException:
            building.cancel()
            with contextlib.suppress(BaseException):
                building.result()
            raise
    ctx.say(f"image: app layer {layer.digest} ({_size(layer.size)}) from {deb.package} {deb.version}")
    meta = ImageMetadata(
        app=ctx.app,
        version=tag,
        created=created_time(ctx, deb),
        base_name=base_name,
        base_digest=base_manifest.digest,
        source=ctx.source_url,
        revision=ctx.commit,
    )
    settings = runtime_settings(ctx.app, base_config)
    created_by = f"buildplat: install {deb.package} {deb.version} (payload and dpkg status entry)"
    config = oci.canonical_json(image_config(base_config, settings, meta, layer.diff_id, created_by))
    config_blob = Descriptor(oci.OCI_CONFIG, oci.sha256_digest(config), len(config))
    layer_blob = Descriptor(oci.OCI_LAYER_GZIP, layer.digest, layer.size)
    manifest = oci.canonical_json(image_manifest(base_manifest, config_blob, layer_blob, meta))
    target.put_blob(target_repository, layer.digest, layer.data)
    target.put_blob(target_repository, config_blob.digest, config)
    # By digest first (the store checks it holds every blob and reports the digest it stored, which
    # put_manifest compares with ours), then the tag: nothing names the image before all of it is there.
    digest = target.put_manifest(target_repository, oci.sha256_digest(manifest), manifest, oci.OCI_MANIFEST)
    target.put_manifest(target_repository, tag, manifest, oci.OCI_MANIFEST)
    reference = target.describe(target_repository, digest)
    return Pushed(reference, tag, digest, base_name, base_manifest.digest, layer.digest)


def _record_in_index(ctx: StageContext, repository: str, pushed: Pushed, buildfact: str) -> None:
    """Add the image to the app's index in the registry (``image_index``), which ``buildplat images plan`` reads.

    Best effort: the image is pushed and tagged already, and the plan also finds images the index lacks.
    """
    from buildplat.stages import image_index

    labels = {
        image_index.BASE_NAME: pushed.base_reference,
        image_index.BASE_DIGEST: pushed.base_digest,
        image_index.VERSION: pushed.tag,
        image_index.APP: ctx.app.full_name,
        image_index.BUILDFACT: buildfact,
    }
    try:
        assert ctx.platform is not None
        assert ctx.platform.registry is not None
        client = registry_client(ctx.platform.registry)
        image_index.record_image(client, repository, pushed.tag, pushed.digest, labels)
    except BuildplatError as exc:
        ctx.say(f"image: warning: the image index of {repository} was not updated: {exc}")


def _stores(ctx: StageContext, buildfact: str) -> tuple[ImageStore, str, str, ImageStore]:
    """(base store, base repository, base tag, target store) for this run."""
    if ctx.platform is None:
        layout = ctx.base_images(buildfact) if ctx.base_images else default_base_layout(buildfact)
        base = OciLayout(layout)
        if not base.exists():
            raise BuildplatError(
                f"there is no local base image for {buildfact} at {layout}",
                hint="`buildplat run` builds it on first use; or point BUILDPLAT_CACHE at a cache that has it",
            )
        return base, f"{LOCAL_BASE_REPOSITORY}/{buildfact}", LOCAL_BASE_TAG, OciLayout(ctx.out / "image")
    config = ctx.platform.registry
    if config is None:
        raise BuildplatError(
            f"the platform config {ctx.platform.source} has no registry section, so the image has nowhere to go",
            hint='add "registry": {"url": "https://registry.example.com"} (see `buildplat schema --platform`)',
        )
    client = registry_client(config)
    return client, f"{config.base_repository}/{buildfact}", config.base_tag, client


def registry_client(config: RegistryConfig) -> RegistryClient:
    """A client for the platform's registry, with the credentials its secret references name."""
    from buildplat.clients.registry import RegistryClient

    return RegistryClient(
        config.url, username=config.user.read("registry user"), password=config.password.read("registry password")
    )


def default_base_layout(buildfact: str) -> Path:
    """``${BUILDPLAT_CACHE:-~/.cache/buildplat}/base/<buildfact>``: where ``buildplat run`` keeps base images."""
    cache = os.environ.get("BUILDPLAT_CACHE") or str(Path.home() / ".cache" / "buildplat")
    return Path(cache) / "base" / buildfact


def created_time(ctx: StageContext, deb: Deb) -> int:
    """SOURCE_DATE_EPOCH when set, else the deb's own timestamp (the package stage's commit time)."""
    raw = ctx.environ.get("SOURCE_DATE_EPOCH") or os.environ.get("SOURCE_DATE_EPOCH")
    if raw and raw.strip().isdigit():
        return int(raw)
    return deb.mtime


def run_commands(app: AppSpec, layout: Path, tag: str) -> tuple[str, str]:
    """Shell lines that run a local image with Debian's tools: skopeo into dockerd, or into podman's storage.

    (``podman run oci:DIR`` itself rejects paths like ``.buildplat``.) The layout path is quoted for the shell.
    """
    source = shlex.quote(f"oci:{layout}:{tag}")
    name = f"buildplat-local/{app.name}:{tag}"
    port = f" -p {app.runtime.port}:{app.runtime.port}" if app.is_http else ""
    return (
        f"skopeo copy {source} docker-daemon:{name} && docker run --rm{port} {name}",
        f"skopeo copy {source} containers-storage:localhost/{name} && podman run --rm{port} localhost/{name}",
    )


def _write_record(path: Path, record: dict[str, Any]) -> None:
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    temp.replace(path)


def _size(count: int) -> str:
    for unit in ("B", "kB", "MB"):
        if count < 1000:
            return f"{count} {unit}"
        count //= 1000
    return f"{count} GB"
