"""Everything a rendered job depends on, and the fingerprint of it.

A job is a function of: the app's default.json (its exact bytes), where the app comes from (repository URL and
branch), the team's folder and credential IDs (from the platform config), the job templates and buildplat itself.
The fingerprint digests all of it without rendering, so sync can tell an unchanged job from a listing of the folder.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field

from buildplat import __version__
from buildplat.errors import BuildplatError
from buildplat.spec.model import AppSpec
from buildplat.spec.platform import DEFAULT_CREDENTIAL_IDS, PlatformConfig

# What may be written into the Jenkinsfile as a Groovy string: checked here even though the platform schema
# already allows nothing else, because these values are pasted into a script.
_CREDENTIAL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,127}$")
# A Jenkins user ID or group name in the approval's comma-separated submitter list: no comma, quote or space.
_APPROVER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._@-]{0,127}$")


@dataclass(frozen=True)
class Credentials:
    """Jenkins credential IDs the job binds, and the environment variables it binds them to.

    The variable names are the ones the platform config tells ``buildplat step`` to read, so a binding and the
    step that reads it can never disagree. ``kubernetes`` None: no kubeconfig is bound (in-cluster agents).
    """

    registry: str = DEFAULT_CREDENTIAL_IDS["registry"]
    registry_user_env: str = "BUILDPLAT_REGISTRY_USER"
    registry_password_env: str = "BUILDPLAT_REGISTRY_PASSWORD"  # noqa: S105 - a variable name
    apt: str = DEFAULT_CREDENTIAL_IDS["apt"]
    apt_user_env: str = "BUILDPLAT_APT_USER"
    apt_password_env: str = "BUILDPLAT_APT_PASSWORD"  # noqa: S105 - a variable name
    hubot: str = DEFAULT_CREDENTIAL_IDS["hubot"]
    hubot_token_env: str = "BUILDPLAT_HUBOT_TOKEN"  # noqa: S105 - a variable name
    kubernetes: str | None = None

    def __post_init__(self) -> None:
        for key, value in asdict(self).items():
            pattern = _ENV_NAME if key.endswith("_env") else _CREDENTIAL_ID
            if value is not None and not pattern.match(value):
                raise BuildplatError(
                    f"invalid {key.replace('_', ' ')} {value!r} for the Jenkins job",
                    hint="credential IDs are letters, digits, '.', '_' and '-'; variables are A-Z, 0-9 and '_'",
                )

    @classmethod
    def from_platform(cls, platform: PlatformConfig) -> Credentials:
        ids = platform.jenkins.credential_ids
        defaults = cls()
        registry, apt, hubot = platform.registry, platform.apt, platform.hubot
        return cls(
            registry=ids.get("registry", defaults.registry),
            registry_user_env=(registry.user.env if registry else None) or defaults.registry_user_env,
            registry_password_env=(registry.password.env if registry else None) or defaults.registry_password_env,
            apt=ids.get("apt", defaults.apt),
            apt_user_env=(apt.user.env if apt else None) or defaults.apt_user_env,
            apt_password_env=(apt.password.env if apt else None) or defaults.apt_password_env,
            hubot=ids.get("hubot", defaults.hubot),
            hubot_token_env=(hubot.token.env if hubot else None) or defaults.hubot_token_env,
            kubernetes=ids.get("kubernetes"),
        )


@dataclass(frozen=True)
class JobTarget:
    """Where an app's job goes and what it checks out: the platform side of a job's inputs."""

    team: str
    folder: str
    repo_url: str
    branch: str = "main"
    credentials: Credentials = field(default_factory=Credentials)
    prod_approvers: tuple[str, ...] = ()  # who may approve the prod promotion; empty: anyone who may build

    def __post_init__(self) -> None:
        for approver in self.prod_approvers:
            if not _APPROVER.match(approver):
                raise BuildplatError(
                    f"invalid prod approver {approver!r} for the Jenkins job",
                    hint="approvers are Jenkins user IDs or group names: letters, digits, '.', '_', '@' and '-'",
                )

    @classmethod
    def from_platform(
        cls, platform: PlatformConfig, repo_url: str, branch: str, credentials: Credentials | None = None
    ) -> JobTarget:
        """The job of ``repo_url``'s ``branch`` in the team's folder, as the platform config sets it up
        (``credentials``: :meth:`Credentials.from_platform`'s answer, when the caller has it already)."""
        return cls(
            platform.team,
            platform.jenkins.folder,
            repo_url,
            branch,
            credentials or Credentials.from_platform(platform),
            platform.jenkins.prod_approvers,
        )

    def digest_input(self) -> dict[str, object]:
        document = asdict(self)
        # Absent rather than empty, so that jobs of teams without approvers keep the fingerprint they had.
        if not self.prod_approvers:
            del document["prod_approvers"]
        return document


@dataclass(frozen=True)
class JobInputs:
    """One app's job: its validated default.json, the exact bytes it came from, and its target."""

    app: AppSpec
    source: bytes
    target: JobTarget

    @property
    def job_name(self) -> str:
        return self.app.name

    @property
    def full_name(self) -> str:
        return f"{self.target.folder}/{self.app.name}"

    def fingerprint(self, templates_version: str) -> str:
        return fingerprint(source_digest(self.source), self.target, templates_version)


def source_digest(source: bytes) -> str:
    return hashlib.sha256(source).hexdigest()


def fingerprint(source_sha256: str, target: JobTarget, templates_version: str) -> str:
    """The digest of a job's inputs; equal fingerprints render equal jobs."""
    document = {
        "buildplat": __version__,
        "templates": templates_version,
        "target": target.digest_input(),
        "default.json": source_sha256,
    }
    encoded = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()[:32]


def folder_fingerprint(team: str, folder: str, templates_version: str) -> str:
    document = {"buildplat": __version__, "templates": templates_version, "team": team, "folder": folder}
    encoded = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()[:32]
