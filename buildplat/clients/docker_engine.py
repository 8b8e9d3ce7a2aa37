"""The Docker-engine image path, with the docker SDK: the only module that imports ``docker``.

``FROM <base>``, ``COPY`` the deb, ``dpkg -i`` it (so the image carries a real dpkg database entry), then the
app's settings, labels passed through the API (never spliced into the Dockerfile), and a push. Values from
default.json reach the Dockerfile only as JSON (``ENTRYPOINT``) or as build arguments (``ENV``), never as text
the Dockerfile parser would interpret.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import tarfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors

from buildplat.errors import BuildplatError, ServiceError

SERVICE = "docker engine"
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
DEB_IN_CONTEXT = "app.deb"


@dataclass(frozen=True)
class DockerBuild:
    """What to build: the base, the deb, and how the container starts."""

    base: str  # a pullable reference, e.g. host:5000/buildplat/base/python@sha256:…
    deb: Path
    entrypoint: tuple[str, ...]
    user: str
    env: tuple[tuple[str, str], ...]
    workdir: str
    ports: tuple[int, ...]
    labels: Mapping[str, str]


def dockerfile(build: DockerBuild) -> str:
    """The Dockerfile; every value that did not come from buildplat itself is checked or passed as JSON/build arg."""
    for name, _ in build.env:
        if not _ENV_NAME.match(name):
            raise BuildplatError(f"invalid environment variable name {name!r}", hint="use letters, digits and _")
    for word in (build.base, build.workdir, build.user):
        if not word or any(c.isspace() or c in "\\\"'$`" for c in word):
            raise BuildplatError(f"refusing to write {word!r} into a Dockerfile")
    lines = [
        f"FROM {build.base}",
        "USER 0",
        f"COPY {DEB_IN_CONTEXT} /tmp/buildplat-app.deb",
        'RUN ["/bin/sh", "-c", "dpkg -i /tmp/buildplat-app.deb && rm -f /tmp/buildplat-app.deb"]',
    ]
    for index, (name, _) in enumerate(build.env):  # names are validated identifiers; values come as build args
        lines += [f"ARG BUILDPLAT_ENV_{index}", f'ENV {name}="${{BUILDPLAT_ENV_{index}}}"']
    lines += [f"WORKDIR {build.workdir}", f"USER {build.user}"]
    lines += [f"EXPOSE {port}/tcp" for port in build.ports]
    lines.append("ENTRYPOINT " + json.dumps(list(build.entrypoint)))
    return "\n".join(lines) + "\n"


class DockerEngine:
    """A Docker engine reached through ``base_url`` (or the environment: ``DOCKER_HOST``)."""

    def __init__(self, base_url: str | None = None, *, timeout: int = 600, hint: str | None = None) -> None:
        try:
            if base_url:
                self._client = docker.DockerClient(base_url=base_url, version="auto", timeout=timeout)
            else:
                self._client = docker.from_env(version="auto", timeout=timeout)
            self._client.ping()
        except docker.errors.DockerException as exc:
            raise ServiceError(
                SERVICE,
                f"cannot reach a Docker engine{' at ' + base_url if base_url else ''}: {exc}",
                hint=hint or "start dockerd or set DOCKER_HOST; or use the default daemonless path (--engine registry)",
            ) from exc

    def close(self) -> None:
        self._client.close()

    def login(self, registry: str, username: str, password: str) -> None:
        try:
            self._client.login(username=username, password=password, registry=registry, reauth=True)
        except docker.errors.APIError as exc:
            raise ServiceError(SERVICE, f"login to {registry} failed: {exc.explanation}") from exc

    def build(self, build: DockerBuild, tag: str, *, progress: Any = None) -> str:
        """Build ``tag``; returns the image id. The base is pulled if the engine lacks it."""
        context = io.BytesIO()
        with tarfile.open(fileobj=context, mode="w") as tar:
            text = dockerfile(build).encode()
            info = tarfile.TarInfo("Dockerfile")
            info.size = len(text)
            tar.addfile(info, io.BytesIO(text))
            tar.add(build.deb, arcname=DEB_IN_CONTEXT)
        context.seek(0)
        build_args = {f"BUILDPLAT_ENV_{i}": value for i, (_, value) in enumerate(build.env)}
        try:
            events = self._client.api.build(
                fileobj=context,
                custom_context=True,
                tag=tag,
                labels=dict(build.labels),
                buildargs=build_args,
                rm=True,
                forcerm=True,
                decode=True,
            )
            image_id = _follow_build(events, progress)
        except docker.errors.DockerException as exc:
            raise ServiceError(SERVICE, f"docker build of {tag} failed: {exc}") from exc
        return image_id

    def build_directory(
        self,
        context: Path,
        tag: str,
        *,
        buildargs: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
        network_mode: str | None = None,
        nocache: bool = False,
        progress: Any = None,
    ) -> str:
        """``docker build`` of a directory with a Dockerfile (``.dockerignore`` honoured); returns the image id.

        Labels and build arguments go through the API, never into the Dockerfile's text.
        """
        try:
            events = self._client.api.build(
                path=str(context),
                tag=tag,
                buildargs=dict(buildargs or {}),
                labels=dict(labels or {}),
                network_mode=network_mode,
                nocache=nocache,
                rm=True,
                forcerm=True,
                decode=True,
            )
            return _follow_build(events, progress)
        except docker.errors.DockerException as exc:
            raise ServiceError(SERVICE, f"docker build of {context} failed: {exc}") from exc

    def image_id(self, reference: str) -> str | None:
        """The id (config digest) of a local image, or None when the engine has no such image."""
        try:
            return str(self._client.api.inspect_image(reference)["Id"])
        except docker.errors.ImageNotFound:
            return None
        except docker.errors.APIError as exc:
            raise ServiceError(SERVICE, f"cannot inspect {reference}: {exc.explanation}") from exc

    def read_file(self, image: str, path: str) -> bytes | None:
        """A file of an image, read from a container that is created but never started; None when absent."""
        try:
            container = self._client.api.create_container(image, command=["true"])["Id"]
        except docker.errors.DockerException as exc:
            raise ServiceError(SERVICE, f"cannot create a container of {image}: {exc}") from exc
        try:
            stream, _ = self._client.api.get_archive(container, path)
            archive = b"".join(stream)
        except docker.errors.NotFound:
            return None
        except docker.errors.DockerException as exc:
            raise ServiceError(SERVICE, f"cannot read {path} from {image}: {exc}") from exc
        finally:
            with contextlib.suppress(docker.errors.DockerException):
                self._client.api.remove_container(container, force=True)
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            member = next((m for m in tar.getmembers() if m.isfile()), None)
            extracted = tar.extractfile(member) if member is not None else None
            return extracted.read() if extracted is not None else None

    def tag(self, image: str, repository: str, tag: str) -> None:
        try:
            self._client.api.tag(image, repository, tag)
        except docker.errors.APIError as exc:
            raise ServiceError(SERVICE, f"cannot tag {image} as {repository}:{tag}: {exc.explanation}") from exc

    def push(self, repository: str, tag: str, *, progress: Any = None) -> str:
        """Push ``repository:tag`` (repository includes the registry host); returns the manifest digest."""
        try:
            events = self._client.api.push(repository, tag=tag, stream=True, decode=True)
            digest = None
            for event in events:
                if "error" in event:
                    raise ServiceError(SERVICE, f"docker push of {repository}:{tag} failed: {event['error']}")
                digest = (event.get("aux") or {}).get("Digest", digest)
                if progress is not None and event.get("status") in ("Pushed", "Mounted from", "Layer already exists"):
                    progress(f"docker push: {event.get('id', '')} {event['status']}")
        except docker.errors.DockerException as exc:
            raise ServiceError(SERVICE, f"docker push of {repository}:{tag} failed: {exc}", retryable=True) from exc
        if not digest:
            raise ServiceError(SERVICE, f"docker push of {repository}:{tag} reported no digest")
        return str(digest)

    def remove_image(self, reference: str) -> None:
        try:
            self._client.images.remove(reference, noprune=False)
        except docker.errors.ImageNotFound:
            pass
        except docker.errors.APIError as exc:
            raise ServiceError(SERVICE, f"cannot remove {reference}: {exc.explanation}") from exc


def _follow_build(events: Iterator[dict[str, Any]], progress: Any) -> str:
    image_id = None
    tail: list[str] = []
    for event in events:
        if "error" in event:
            detail = "\n    ".join(tail[-15:])
            raise BuildplatError(f"docker build failed: {event['error'].strip()}\n    {detail}")
        text = str(event.get("stream") or "").rstrip()
        if text:
            tail.append(text)
            if progress is not None:
                progress(f"docker build: {text}")
        image_id = (event.get("aux") or {}).get("ID", image_id)
    if not image_id:
        raise BuildplatError("docker build finished without an image id:\n    " + "\n    ".join(tail[-15:]))
    return str(image_id)
