"""The image stage's ``--engine docker`` path: the same image, built by a Docker engine and pushed by it.

It reads the base manifest and config over the registry API (for the digest it pins ``FROM`` to, and the base
user), builds ``FROM <base>@<digest>`` + ``COPY`` + ``dpkg -i`` with the same settings and labels as the
daemonless path, pushes, and checks that the registry's tag now names the digest the engine reported.
"""

from __future__ import annotations

import json
from pathlib import Path

from buildplat.clients.docker_engine import DockerBuild, DockerEngine
from buildplat.clients.registry import RegistryClient
from buildplat.errors import BuildplatError
from buildplat.stages.context import StageContext
from buildplat.stages.image import Pushed, created_time, registry_client
from buildplat.stages.image_config import ImageMetadata, runtime_settings
from buildplat.stages.image_layer import Deb


def build_with_docker(ctx: StageContext, deb_path: Path, deb: Deb, target_repository: str, tag: str) -> Pushed:
    if ctx.platform is None or ctx.platform.registry is None:
        raise BuildplatError(
            "the docker engine path pushes to the platform's registry, and there is none here",
            hint="run it from `buildplat step image` with a platform config that has a registry; "
            "`buildplat run` uses the daemonless path",
        )
    config = ctx.platform.registry
    client = registry_client(config)
    base_repository = f"{config.base_repository}/{ctx.app.primary_buildfact}"
    base_name = client.describe(base_repository, config.base_tag)
    base_manifest = client.get_manifest(base_repository, config.base_tag)
    base_config = json.loads(client.get_blob(base_repository, base_manifest.config.digest))
    ctx.say(f"image: base {base_name} ({base_manifest.digest}), building with the Docker engine")
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
    build = DockerBuild(
        base=f"{client.host}/{base_repository}@{base_manifest.digest}",
        deb=deb_path,
        entrypoint=settings.entrypoint,
        user=settings.user,
        env=settings.env,
        workdir=settings.workdir,
        ports=settings.ports,
        labels=meta.labels(),
    )
    engine = DockerEngine(ctx.environ.get("DOCKER_HOST") or None)
    try:
        username = config.user.read("registry user")
        if username is not None:
            engine.login(client.host, username, config.password.read("registry password") or "")
        target = f"{client.host}/{target_repository}"
        engine.build(build, f"{target}:{tag}", progress=ctx.say)
        digest = engine.push(target, tag, progress=ctx.say)
    finally:
        engine.close()
    _check_pushed(client, target_repository, tag, digest)
    return Pushed(client.describe(target_repository, digest), tag, digest, base_name, base_manifest.digest)


def _check_pushed(client: RegistryClient, repository: str, tag: str, digest: str) -> None:
    found = client.manifest_digest(repository, tag)
    if found != digest:
        raise BuildplatError(
            f"the Docker engine reported {digest} for {client.describe(repository, tag)}, the registry has {found}"
        )
