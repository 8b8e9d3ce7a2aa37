"""The platform config: one JSON file per team, checked like default.json, read into frozen records.

Secrets are never in the file; :func:`read_secret` reads them from the environment variable or file the
config names, at the moment they are needed, so they never sit in a record that might be printed.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from buildplat.errors import BuildplatError, UsageError
from buildplat.spec.document import CheckedDocument, DocumentKind, check_bytes
from buildplat.spec.model import InvalidDocument

PLATFORM_SCHEMA = "platform.schema.json"


@dataclass(frozen=True)
class Repository:
    url: str
    branch: str = "main"


@dataclass(frozen=True)
class SecretRef:
    """Where a secret lives: an environment variable, else a file. Never the secret itself."""

    env: str | None = None
    file: str | None = None

    def read(self, what: str) -> str | None:
        """The secret, or None when neither the variable nor the file is set."""
        if self.env and os.environ.get(self.env):
            return os.environ[self.env].strip()
        if self.file:
            try:
                return Path(self.file).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise BuildplatError(f"cannot read the {what} from {self.file}: {exc.strerror or exc}") from exc
        return None


@dataclass(frozen=True)
class JenkinsConfig:
    url: str
    folder: str
    user: SecretRef
    token: SecretRef
    credential_ids: dict[str, str]
    # Jenkins user IDs or group names allowed to approve the prod promotion; empty: whoever may build the job.
    prod_approvers: tuple[str, ...] = ()


@dataclass(frozen=True)
class RegistryConfig:
    url: str
    user: SecretRef = field(default_factory=SecretRef)
    password: SecretRef = field(default_factory=SecretRef)
    base_repository: str = "buildplat/base"
    base_tag: str = "stable"

    @property
    def host(self) -> str:
        """``registry.example.com:5000``: the host part image references start with."""
        return self.url.split("://", 1)[1].split("/", 1)[0]


@dataclass(frozen=True)
class AptConfig:
    api_url: str
    public_url: str | None
    repo: str
    distribution: str
    component: str
    prefix: str
    user: SecretRef = field(default_factory=SecretRef)
    password: SecretRef = field(default_factory=SecretRef)


@dataclass(frozen=True)
class HubotConfig:
    url: str
    room: str
    token: SecretRef


@dataclass(frozen=True)
class KubernetesConfig:
    kubeconfig: str | None = None
    context: str | None = None
    rollout_timeout_seconds: int = 300
    progress_deadline_seconds: int = 180  # the Deployments' progressDeadlineSeconds
    failure_grace_seconds: int = 15  # how long a pod may look failed (CrashLoopBackOff, …) before the rollout fails


@dataclass(frozen=True)
class SyncConfig:
    interval_seconds: int
    state_dir: Path
    git_concurrency: int = 8
    jenkins_concurrency: int = 4
    delete_grace_seconds: int = 7 * 24 * 3600
    # Unchanged jobs whose config.xml is read per cycle to catch UI edits; None: one per 50 jobs less one, at least 1.
    drift_checks_per_cycle: int | None = None


@dataclass(frozen=True)
class PlatformConfig:
    """A team's whole platform config, defaults filled in."""

    source: str
    team: str
    namespaces: dict[str, str]
    repositories: tuple[Repository, ...]
    jenkins: JenkinsConfig
    sync: SyncConfig
    registry: RegistryConfig | None = None
    apt: AptConfig | None = None
    hubot: HubotConfig | None = None
    kubernetes: KubernetesConfig = field(default_factory=KubernetesConfig)

    def namespace(self, environment: str) -> str:
        return self.namespaces[environment]


# No kubeconfig credential by default: agents deploy with their pod's service account (deploy/ sets up the RBAC);
# a team whose agents run outside the cluster names a secret-file credential in jenkins.credentials.kubernetes.
DEFAULT_CREDENTIAL_IDS = {
    "registry": "buildplat-registry",
    "apt": "buildplat-apt",
    "hubot": "buildplat-hubot",
}


def platform_kind() -> DocumentKind:
    return DocumentKind(PLATFORM_SCHEMA)


def default_state_dir(team: str) -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "buildplat" / team


def from_document(doc: dict[str, Any], source: str) -> PlatformConfig:
    team: str = doc["team"]
    namespaces = {env: f"{team}-{env}" for env in ("dev", "stage", "prod")}
    namespaces.update(doc.get("namespaces", {}))
    jenkins_raw = doc["jenkins"]
    jenkins = JenkinsConfig(
        url=jenkins_raw["url"].rstrip("/") + "/",
        folder=jenkins_raw.get("folder", team),
        user=SecretRef(env=jenkins_raw.get("user_env", "BUILDPLAT_JENKINS_USER")),
        token=SecretRef(
            env=jenkins_raw.get("token_env", "BUILDPLAT_JENKINS_TOKEN"), file=jenkins_raw.get("token_file")
        ),
        credential_ids={**DEFAULT_CREDENTIAL_IDS, **jenkins_raw.get("credentials", {})},
        prod_approvers=tuple(jenkins_raw.get("prod_approvers", ())),
    )
    registry = None
    if "registry" in doc:
        raw = doc["registry"]
        registry = RegistryConfig(
            url=raw["url"].rstrip("/"),
            user=SecretRef(env=raw.get("user_env")),
            password=SecretRef(env=raw.get("password_env")),
            base_repository=raw.get("base_repository", "buildplat/base"),
            base_tag=raw.get("base_tag", "stable"),
        )
    apt = None
    if "apt" in doc:
        raw = doc["apt"]
        apt = AptConfig(
            api_url=raw["api_url"].rstrip("/"),
            public_url=raw.get("public_url"),
            repo=raw.get("repo", team),
            distribution=raw.get("distribution", "bookworm"),
            component=raw.get("component", "main"),
            prefix=raw.get("prefix", team),
            user=SecretRef(env=raw.get("user_env")),
            password=SecretRef(env=raw.get("password_env")),
        )
    hubot = None
    if "hubot" in doc:
        raw = doc["hubot"]
        hubot = HubotConfig(
            raw["url"].rstrip("/"), raw["room"], SecretRef(env=raw.get("token_env", "BUILDPLAT_HUBOT_TOKEN"))
        )
    kube_raw = doc.get("kubernetes", {})
    sync_raw = doc.get("sync", {})
    return PlatformConfig(
        source=source,
        team=team,
        namespaces=namespaces,
        repositories=tuple(Repository(r["url"], r.get("branch", "main")) for r in doc["repositories"]),
        jenkins=jenkins,
        registry=registry,
        apt=apt,
        hubot=hubot,
        kubernetes=KubernetesConfig(
            kube_raw.get("kubeconfig"),
            kube_raw.get("context"),
            kube_raw.get("rollout_timeout_seconds", 300),
            kube_raw.get("progress_deadline_seconds", 180),
            kube_raw.get("failure_grace_seconds", 15),
        ),
        sync=SyncConfig(
            interval_seconds=sync_raw.get("interval_seconds", 300),
            state_dir=Path(sync_raw["state_dir"]) if "state_dir" in sync_raw else default_state_dir(team),
            git_concurrency=sync_raw.get("git_concurrency", 8),
            jenkins_concurrency=sync_raw.get("jenkins_concurrency", 4),
            delete_grace_seconds=sync_raw.get("delete_grace_seconds", 7 * 24 * 3600),
            drift_checks_per_cycle=sync_raw.get("drift_checks_per_cycle"),
        ),
    )


# The user part of a URL: a platform config that breaks the rule and holds a token must not have its error
# message print the token (seed-job logs are kept and read widely).
_URL_USER = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s\"'@\[\]]+@")


def check_platform_bytes(data: bytes, file: str) -> CheckedDocument:
    checked = check_bytes(data, file, platform_kind())
    checked.problems = [replace(p, message=_URL_USER.sub(r"\1...@", p.message)) for p in checked.problems]
    return checked


def load_platform_file(path: Path) -> PlatformConfig:
    """Read and validate a platform config; every problem is listed in the error (exit 1)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read the platform config {path}: {exc.strerror or exc}") from exc
    checked = check_platform_bytes(data, str(path))
    if not checked.ok:
        raise InvalidDocument(checked, hint="`buildplat schema --platform` describes every field")
    return from_document(checked.value, str(path))
