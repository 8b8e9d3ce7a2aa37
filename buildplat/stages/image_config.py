"""The app image's configuration, labels and manifest, shared by the registry path and the Docker-engine path.

Both paths give the image the same entrypoint, user, environment, working directory, ports and labels; the
registry path also puts the labels on the manifest as OCI annotations (which is what ``buildplat images plan``
reads to find the apps built on a base: ``dev.buildplat.app``, ``dev.buildplat.buildfact``,
``org.opencontainers.image.base.name`` and ``.base.digest``).
"""

from __future__ import annotations

import copy
import datetime
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from buildplat.buildfacts.registry import runtime_command
from buildplat.clients import oci
from buildplat.clients.oci import Descriptor, Manifest
from buildplat.errors import BuildplatError
from buildplat.spec.model import AppSpec

NONROOT_USER = "65532:65532"  # the distroless "nonroot" ids: numeric, so Kubernetes can check runAsNonRoot
ROOT_USERS = ("", "0", "root", "0:0", "root:root", "root:0", "0:root")
USER_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*(?::[A-Za-z0-9_][A-Za-z0-9_.-]*)?$")
PATH_DEFAULT = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class ImageMetadata:
    """What the labels and annotations record about one build."""

    app: AppSpec
    version: str
    created: int  # seconds since the epoch: SOURCE_DATE_EPOCH, else the commit time, else the deb's time
    base_name: str  # the base image reference as built from, e.g. host/buildplat/base/python:stable
    base_digest: str
    source: str | None = None
    revision: str | None = None

    @property
    def created_text(self) -> str:
        moment = datetime.datetime.fromtimestamp(self.created, tz=datetime.UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

    def labels(self) -> dict[str, str]:
        labels = {
            "org.opencontainers.image.title": self.app.name,
            "org.opencontainers.image.description": self.app.description,
            "org.opencontainers.image.version": self.version,
            "org.opencontainers.image.created": self.created_text,
            "org.opencontainers.image.base.name": self.base_name,
            "org.opencontainers.image.base.digest": self.base_digest,
            "dev.buildplat.app": self.app.full_name,
            "dev.buildplat.buildfact": self.app.primary_buildfact,
        }
        if self.source:
            labels["org.opencontainers.image.source"] = public_url(self.source)
        if self.revision:
            labels["org.opencontainers.image.revision"] = self.revision
        return labels


@dataclass(frozen=True)
class RuntimeSettings:
    """How the container starts: the same for both build paths."""

    entrypoint: tuple[str, ...]
    user: str
    env: tuple[tuple[str, str], ...]  # added to (and overriding) the base image's environment
    workdir: str
    ports: tuple[int, ...]


def runtime_settings(app: AppSpec, base_config: dict[str, Any]) -> RuntimeSettings:
    base_user = str((base_config.get("config") or {}).get("User") or "")
    if base_user and not USER_RE.match(base_user):
        raise BuildplatError(
            f"the base image's user {base_user!r} is not a user[:group] name or id",
            hint="fix the USER of the base image (base-images/<buildfact>/Dockerfile)",
        )
    user = base_user if base_user not in ROOT_USERS else NONROOT_USER
    env = (("PORT", str(app.runtime.port)), *app.runtime.env)
    ports = (app.runtime.port,) if app.is_http else ()
    return RuntimeSettings(runtime_command(app), user, env, f"/opt/{app.name}", ports)


def image_config(
    base_config: dict[str, Any], settings: RuntimeSettings, meta: ImageMetadata, diff_id: str, created_by: str
) -> dict[str, Any]:
    """The base image's config with the app's settings, labels, one more layer and one more history entry."""
    config = copy.deepcopy(base_config)
    run = dict(config.get("config") or {})
    env = list(run.get("Env") or [PATH_DEFAULT])
    for name, value in settings.env:
        env = [e for e in env if e.split("=", 1)[0] != name] + [f"{name}={value}"]
    run.update(
        {
            "Entrypoint": list(settings.entrypoint),
            "Cmd": None,  # the base's Cmd would become arguments of the app's command
            "User": settings.user,
            "Env": env,
            "WorkingDir": settings.workdir,
            "Labels": {**(run.get("Labels") or {}), **meta.labels()},
        }
    )
    if settings.ports:
        run["ExposedPorts"] = {**(run.get("ExposedPorts") or {}), **{f"{p}/tcp": {} for p in settings.ports}}
    config["config"] = run
    config["created"] = meta.created_text
    config.setdefault("architecture", "amd64")
    config.setdefault("os", "linux")
    rootfs = config.get("rootfs") or {"type": "layers", "diff_ids": []}
    config["rootfs"] = {"type": "layers", "diff_ids": [*rootfs.get("diff_ids", []), diff_id]}
    history = list(config.get("history") or [])
    history.append({"created": meta.created_text, "created_by": created_by, "comment": "buildplat image stage"})
    config["history"] = history
    for stale in ("container", "container_config", "docker_version", "id", "parent"):
        config.pop(stale, None)  # Docker's build bookkeeping of the base: not true of this image
    return config


def image_manifest(base: Manifest, config: Descriptor, layer: Descriptor, meta: ImageMetadata) -> dict[str, Any]:
    """An OCI manifest: the base's layers (same bytes, OCI media types), the app layer, annotations."""
    layers = [
        Descriptor(oci.OCI_EQUIVALENT.get(d.media_type, d.media_type), d.digest, d.size, d.annotations).to_json()
        for d in base.layers
    ]
    return {
        "schemaVersion": 2,
        "mediaType": oci.OCI_MANIFEST,
        "config": config.to_json(),
        "layers": [*layers, layer.to_json()],
        "annotations": meta.labels(),
    }


def public_url(url: str) -> str:
    """``url`` without any user or token in it: it goes into image metadata that anyone who pulls can read."""
    parts = urlsplit(url)
    if not parts.netloc or "@" not in parts.netloc:
        return url
    return urlunsplit((parts.scheme, parts.netloc.rsplit("@", 1)[1], parts.path, parts.query, parts.fragment))
