"""``buildplat images build``: App Eng's runtime (and build-agent) images, built by a Docker engine, versioned.

For each buildfact: build ``base-images/<buildfact>/`` ``FROM`` the given Debian image, read the Debian package
database of the result, derive the version (``versions``), build again with the labels that name it (every step
comes from the engine's cache, so this costs a second), and with ``push`` push the version tag. A version is
never overwritten: when its tag already names another image the build is refused; when it names this image, or
another version has the same content hash, there is nothing to do. ``stable`` is moved by ``promote`` only.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from buildplat.buildfacts.registry import get as get_buildfact
from buildplat.clients import oci
from buildplat.errors import BuildplatError
from buildplat.images import versions

if TYPE_CHECKING:
    from buildplat.clients.docker_engine import DockerEngine
    from buildplat.clients.registry import RegistryClient

AGENT_REPOSITORY = "buildplat/agent-{buildfact}"  # what deploy/ renders: REGISTRY/buildplat/agent-<buildfact>:TAG
PACKAGES_LABEL = "dev.buildplat.base.packages"  # "python3=3.11.2-1+b1 …": what `images plan` compares
DPKG_STATUS = "/var/lib/dpkg/status"


@dataclass(frozen=True)
class BuildOptions:
    contexts: Path  # the base-images directory
    base: str  # FROM of the runtime images (ARG BASE)
    base_repository: str  # <base_repository>/<buildfact> in the registry
    push: bool = False
    agents: bool = False
    agent_tag: str | None = None  # an extra tag for the agent images, e.g. the platform version deploy/ uses
    network: str | None = None  # docker build --network (host: RUN reaches loopback mirrors)
    no_cache: bool = False
    buildplat_spec: str = "buildplat"  # what the agent's pip installs
    pip_index_url: str = ""
    today: datetime.date = field(default_factory=lambda: datetime.datetime.now(datetime.UTC).date())


@dataclass(frozen=True)
class Built:
    buildfact: str
    kind: str  # "runtime" or "agent"
    reference: str  # host/repository:version (or repository:version without a registry)
    version: str
    image_id: str | None
    digest: str | None  # the manifest digest in the registry, when it is there
    status: str  # "pushed", "built" (not pushed), "unchanged" (the registry has this content already)
    packages: dict[str, str] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v not in (None, {})}


@dataclass(frozen=True)
class _Job:
    """One image to finish: build it with its labels, compare with the registry, push."""

    kind: str
    context: Path
    repository: str
    version: str
    args: dict[str, str]
    labels: dict[str, str]
    packages: dict[str, str]


def installed_versions(status: bytes, names: tuple[str, ...]) -> dict[str, str]:
    """``{package: version}`` of the installed ``names``, from a dpkg status file."""
    found: dict[str, str] = {}
    for stanza in status.decode("utf-8", errors="replace").split("\n\n"):
        fields = dict(line.split(": ", 1) for line in stanza.splitlines() if ": " in line and line[0] != " ")
        if fields.get("Package") in names and fields.get("Status", "").endswith(" installed"):
            found[fields["Package"]] = fields.get("Version", "")
    return found


def parse_packages(label: str | None) -> dict[str, str] | None:
    if not label:
        return None
    return dict(word.split("=", 1) for word in label.split() if "=" in word)


class Builder:
    def __init__(
        self,
        engine: DockerEngine,
        options: BuildOptions,
        registry: RegistryClient | None,
        say: Callable[[str], None],
    ) -> None:
        self.engine = engine
        self.options = options
        self.registry = registry
        self.say = say

    def build(self, buildfact: str) -> list[Built]:
        runtime = self._runtime(buildfact)
        if not self.options.agents:
            return [runtime]
        return [runtime, *self._agent(buildfact, runtime)]

    def _runtime(self, buildfact: str) -> Built:
        spec = get_buildfact(buildfact)
        context = self.options.contexts / buildfact
        if not (context / "Dockerfile").is_file():
            raise BuildplatError(
                f"there is no Dockerfile for {buildfact} in {context}",
                hint="run `python -m buildplat.images.dockerfiles --write`, or point --contexts at base-images/",
            )
        repository = oci.check_repository(f"{self.options.base_repository}/{buildfact}")
        self.say(f"images: {buildfact}: building FROM {self.options.base}")
        args = {"BASE": self.options.base}
        candidate = self._docker_build(context, f"buildplat-images/{buildfact}:candidate", args, {})
        status = self.engine.read_file(candidate, DPKG_STATUS) or b""
        base_id = self.engine.image_id(self.options.base) or self.options.base
        digest = versions.tree_digest(context, exclude=["agent"])
        version = versions.make_version(self.options.today, digest, base_id, status)
        packages = installed_versions(status, spec.runtime_packages)
        missing = sorted(set(spec.runtime_packages) - set(packages))
        if missing:
            self.say(f"images: {buildfact}: warning: {', '.join(missing)} not in the image's dpkg database")
        labels = {
            "org.opencontainers.image.version": version,
            "org.opencontainers.image.created": versions.created_label(version),
            "org.opencontainers.image.base.name": self.options.base,
        }
        if packages and not missing:
            labels[PACKAGES_LABEL] = " ".join(f"{name}={packages[name]}" for name in sorted(packages))
        return self._finish(buildfact, _Job("runtime", context, repository, version, args, labels, packages))

    def _agent(self, buildfact: str, runtime: Built) -> list[Built]:
        context = self.options.contexts / buildfact / "agent"
        if not (context / "Dockerfile").is_file():
            raise BuildplatError(f"there is no agent Dockerfile for {buildfact} in {context}")
        repository = AGENT_REPOSITORY.format(buildfact=buildfact)
        if runtime.image_id is None:  # unchanged and not built here: the agent starts from the registry's copy
            base = f"{self._host_prefix()}{self.options.base_repository}/{buildfact}@{runtime.digest}"
        else:
            base = runtime.reference
        parts = (versions.tree_digest(context), runtime.digest or runtime.image_id or "", self.options.buildplat_spec)
        version = versions.make_version(self.options.today, *parts)
        args = {
            "BASE": base,
            "BUILDPLAT_SPEC": self.options.buildplat_spec,
            "PIP_INDEX_URL": self.options.pip_index_url,
        }
        labels = {
            "org.opencontainers.image.version": version,
            "org.opencontainers.image.created": versions.created_label(version),
            "org.opencontainers.image.base.name": runtime.reference,
        }
        if runtime.digest:
            labels["org.opencontainers.image.base.digest"] = runtime.digest
        self.say(f"images: {buildfact}: building the agent FROM {base}")
        agent = self._finish(buildfact, _Job("agent", context, repository, version, args, labels, {}))
        if self.options.agent_tag and self.registry is not None and self.options.push and agent.digest:
            self._extra_tag(repository, agent, self.options.agent_tag)
        return [agent]

    def _finish(self, buildfact: str, job: _Job) -> Built:
        kind, context, repository, version, packages = job.kind, job.context, job.repository, job.version, job.packages
        reference = f"{self._host_prefix()}{repository}:{version}"
        tags = self._tags(repository)
        earlier = versions.same_content(version, tags)
        if earlier is not None and earlier != version:
            assert self.registry is not None
            digest = self.registry.manifest_digest(repository, earlier)
            self.say(f"images: {buildfact} {kind}: unchanged, the registry has this content as {earlier}")
            return Built(buildfact, kind, f"{self._host_prefix()}{repository}:{earlier}", earlier, None, digest,
                         "unchanged", packages)  # fmt: skip
        image_id = self._docker_build(context, reference, job.args, job.labels)
        if version in tags:
            assert self.registry is not None
            remote = self.registry.get_manifest(repository, version)
            if remote.config.digest != image_id:
                raise BuildplatError(
                    f"{reference} already exists in the registry as another image "
                    f"(its config is {remote.config.digest}, this build's is {image_id}); "
                    "versions are never overwritten",
                    hint="the same content built elsewhere gives other layer bytes: use the registry's version, "
                    "or build again tomorrow (a new date is a new version)",
                )
            self.say(f"images: {buildfact} {kind}: {reference} is already in the registry ({remote.digest})")
            return Built(buildfact, kind, reference, version, image_id, remote.digest, "unchanged", packages)
        if not self.options.push or self.registry is None:
            self.say(f"images: {buildfact} {kind}: built {reference} ({image_id}), not pushed")
            return Built(buildfact, kind, reference, version, image_id, None, "built", packages)
        digest = self.engine.push(f"{self.registry.host}/{repository}", version, progress=self.say)
        stored = self.registry.manifest_digest(repository, version)
        if stored != digest:
            raise BuildplatError(f"the engine pushed {reference} as {digest}, but the registry's tag names {stored}")
        self.say(f"images: {buildfact} {kind}: pushed {reference} ({digest})")
        return Built(buildfact, kind, reference, version, image_id, digest, "pushed", packages)

    def _extra_tag(self, repository: str, built: Built, tag: str) -> None:
        assert self.registry is not None
        assert built.digest is not None
        existing = self.registry.manifest_digest(repository, oci.check_tag(tag))
        if existing == built.digest:
            return
        if existing is not None:
            raise BuildplatError(
                f"{self.registry.describe(repository, tag)} already names {existing}; tags are never moved here",
                hint="choose a new --agent-tag (deploy/'s platform_version)",
            )
        manifest = self.registry.get_manifest(repository, built.digest)
        self.registry.put_manifest(repository, tag, manifest.raw, manifest.media_type)
        self.say(f"images: {built.buildfact} agent: tagged {self.registry.describe(repository, tag)}")

    def _docker_build(self, context: Path, tag: str, args: dict[str, str], labels: dict[str, str]) -> str:
        return self.engine.build_directory(
            context,
            tag,
            buildargs=args,
            labels=labels,
            network_mode=self.options.network,
            nocache=self.options.no_cache,
            progress=lambda line: self.say(f"  {line}") if line.startswith("docker build: Step") else None,
        )

    def _tags(self, repository: str) -> list[str]:
        if self.registry is None:
            return []
        from buildplat.clients.registry import NotFound

        try:
            return self.registry.tags(repository)
        except NotFound:
            return []

    def _host_prefix(self) -> str:
        return f"{self.registry.host}/" if self.registry is not None else ""
