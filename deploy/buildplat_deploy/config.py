"""The team config: built-in defaults (data/defaults.json) overlaid by an optional team.json, checked, then frozen.

team.json never holds secret values. A key that looks like one, or a URL with credentials in it, is an error
that names the place, never the value.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from buildplat_deploy.errors import DeployError, UsageError

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# The longest suffix we add is "-stage"; a namespace is a DNS-1123 label of at most 63 characters.
MAX_TEAM_LENGTH = 63 - len("-stage")
ENVIRONMENTS = ("dev", "stage", "prod")
BUILDFACTS = ("java", "nodejs", "go", "ruby", "python")
SECRET_KEY = re.compile(r"(^|_)(password|passwd|secret|token|apikey|api_key|private_key|unseal)s?($|_)", re.I)
CREDENTIALS_IN_URL = re.compile(r"^[a-z][a-z0-9+.-]*://[^/@\s]*@", re.I)
IMAGE_REF = re.compile(r"^[a-z0-9.-]+(:[0-9]+)?$")
VERSION = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
# A Jenkins user ID or group name, as buildplat's platform schema allows in jenkins.prod_approvers.
APPROVER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._@-]{0,127}$")
# Cron specs as Jenkins reads them (H, ranges, @hourly); no quotes: the spec is embedded in a Groovy string.
CRON = re.compile(r"^[0-9A-Za-z*/,() @-]{1,100}$")
QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$")


@dataclass(frozen=True)
class Repository:
    """One application repository the team's seed job reconciles."""

    url: str
    branch: str


@dataclass(frozen=True)
class Vault:
    """Where Jenkins' Configuration as Code reads credentials when credentials_source is "vault"."""

    url: str
    role: str
    paths: tuple[str, ...]


@dataclass(frozen=True)
class TeamConfig:
    """Everything the renderer needs for one team; built by :func:`load`, never from raw dicts elsewhere."""

    team: str
    registry: str
    platform_version: str
    buildfacts: tuple[str, ...]
    domain: str
    ingress_class: str
    ingress_namespace: str
    repositories: tuple[Repository, ...]
    hubot_room: str
    prod_approvers: tuple[str, ...]
    seed_schedule: str
    credentials_source: str
    vault: Vault
    apt_url: str
    apt_public_url: str
    jenkins_storage: str
    agent_cap: int
    quotas: dict[str, dict[str, str]]
    limits: dict[str, dict[str, str]]

    @property
    def ci_namespace(self) -> str:
        return f"{self.team}-ci"

    def namespace(self, environment: str) -> str:
        return f"{self.team}-{environment}"

    @property
    def deploy_namespaces(self) -> tuple[str, ...]:
        return tuple(self.namespace(env) for env in ENVIRONMENTS)

    def image(self, name: str) -> str:
        """A platform image in the team's registry, at the platform version (never ``latest``)."""
        return f"{self.registry}/buildplat/{name}:{self.platform_version}"


def check_team(team: str) -> str:
    if not team or len(team) > MAX_TEAM_LENGTH or not DNS_LABEL.match(team):
        raise UsageError(
            f"invalid team name {team!r}: it must be a DNS-1123 label of at most {MAX_TEAM_LENGTH} characters",
            hint="lowercase letters, digits and '-', starting and ending with a letter or digit "
            "(so that '<team>-stage' is still a namespace name)",
        )
    return team


def defaults() -> dict[str, Any]:
    text = resources.files("buildplat_deploy").joinpath("data/defaults.json").read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def read_team_json(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read the team config ({exc.__class__.__name__})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DeployError(f"{path}:{exc.lineno}:{exc.colno}: error: not valid JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise DeployError(f"{path}: error: the team config must be a JSON object")
    return data


def _reject_secrets(value: Any, where: str, source: str) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if SECRET_KEY.search(str(key)):
                raise DeployError(
                    f"{source}: error: {where}.{key} looks like a secret value; team.json never holds secrets",
                    hint="put it in a Kubernetes Secret (or Vault) and let Jenkins read it by reference",
                )
            _reject_secrets(item, f"{where}.{key}", source)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _reject_secrets(item, f"{where}[{index}]", source)
    elif isinstance(value, str) and CREDENTIALS_IN_URL.match(value):
        raise DeployError(
            f"{source}: error: {where} is a URL with credentials in it",
            hint="drop the user:password@ part; Jenkins gets credentials from a Secret",
        )


def _expect(value: Any, kind: type | tuple[type, ...], where: str, source: str) -> Any:
    if not isinstance(value, kind) or isinstance(value, bool):
        name = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise DeployError(f"{source}: error: {where} must be a {name}")
    return value


def _merge(
    base: dict[str, Any], override: dict[str, Any], where: str, source: str, *, open_keys: bool = False
) -> dict[str, Any]:
    """Overlay ``override`` onto ``base``; objects merge key by key, unknown keys are errors (except in quotas)."""
    merged = dict(base)
    for key, value in override.items():
        if key not in base and not open_keys:
            known = ", ".join(sorted(base))
            raise DeployError(f"{source}: error: unknown key {where}.{key}", hint=f"known keys: {known}")
        if isinstance(base.get(key), dict):
            inner = _expect(value, dict, f"{where}.{key}", source)
            # A quota or limit set may name any Kubernetes resource, not only the ones the defaults set.
            merged[key] = _merge(base[key], inner, f"{where}.{key}", source, open_keys=where in OPEN_PARENTS)
        else:
            merged[key] = value
    return merged


OPEN_PARENTS = ("$.quotas", "$.limits")


def _string(data: dict[str, Any], key: str, source: str, pattern: re.Pattern[str] | None = None) -> str:
    value: str = _expect(data[key], str, f"$.{key}", source)
    if pattern is not None and not pattern.match(value):
        raise DeployError(f"{source}: error: $.{key} is not valid: {value!r}")
    return value


def _quantities(data: dict[str, Any], where: str, source: str) -> dict[str, dict[str, str]]:
    checked: dict[str, dict[str, str]] = {}
    for group, values in data.items():
        checked[group] = {}
        for name, quantity in _expect(values, dict, f"{where}.{group}", source).items():
            text = str(_expect(quantity, (str, int), f"{where}.{group}.{name}", source))
            if not QUANTITY.match(text):
                raise DeployError(f"{source}: error: {where}.{group}.{name} is not a Kubernetes quantity: {text!r}")
            checked[group][name] = text
    return checked


def load(team: str, config_path: Path | None = None) -> TeamConfig:
    """The team's config: defaults, overlaid by ``config_path`` when given, checked."""
    check_team(team)
    data = defaults()
    source = str(config_path) if config_path else "defaults"
    if config_path is not None:
        override = read_team_json(config_path)
        _reject_secrets(override, "$", source)
        data = _merge(data, override, "$", source)
    buildfacts = tuple(_expect(data["buildfacts"], list, "$.buildfacts", source))
    for name in buildfacts:
        if name not in BUILDFACTS:
            raise DeployError(f"{source}: error: unknown buildfact {name!r}", hint="known: " + ", ".join(BUILDFACTS))
    if not buildfacts or len(set(buildfacts)) != len(buildfacts):
        raise DeployError(f"{source}: error: $.buildfacts must list each buildfact at most once, and at least one")
    repositories = []
    for index, repo in enumerate(_expect(data["repositories"], list, "$.repositories", source)):
        item = _merge(
            {"url": "", "branch": "main"},
            _expect(repo, dict, f"$.repositories[{index}]", source),
            f"$.repositories[{index}]",
            source,
        )
        url = _expect(item["url"], str, f"$.repositories[{index}].url", source)
        if not url:
            raise DeployError(f"{source}: error: $.repositories[{index}].url is required")
        repositories.append(Repository(url, _expect(item["branch"], str, f"$.repositories[{index}].branch", source)))
    credentials_source = _string(data, "credentials_source", source)
    if credentials_source not in ("kubernetes", "vault"):
        raise DeployError(f'{source}: error: $.credentials_source must be "kubernetes" or "vault"')
    vault = data["vault"]
    if credentials_source == "vault" and not (vault["role"] and vault["paths"]):
        raise DeployError(f'{source}: error: credentials_source "vault" needs $.vault.role and $.vault.paths')
    quotas = _quantities(data["quotas"], "$.quotas", source)
    if sorted(quotas) != sorted(("ci", *ENVIRONMENTS)):
        raise DeployError(f"{source}: error: $.quotas has one entry per namespace: ci, dev, stage, prod")
    agent_cap = _expect(data["agent_cap"], int, "$.agent_cap", source)
    approvers = tuple(_expect(data["prod_approvers"], list, "$.prod_approvers", source))
    for index, approver in enumerate(approvers):
        if not isinstance(approver, str) or not APPROVER.match(approver):
            raise DeployError(
                f"{source}: error: $.prod_approvers[{index}] is not a Jenkins user ID or group name: {approver!r}",
                hint="letters, digits, '.', '_', '@' and '-', one name per entry",
            )
    if len(set(approvers)) != len(approvers):
        raise DeployError(f"{source}: error: $.prod_approvers names someone twice")
    return TeamConfig(
        team=team,
        registry=_string(data, "registry", source, IMAGE_REF),
        platform_version=_string(data, "platform_version", source, VERSION),
        buildfacts=buildfacts,
        domain=_string(data, "domain", source, re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")),
        ingress_class=_string(data, "ingress_class", source, DNS_LABEL),
        ingress_namespace=_string(data, "ingress_namespace", source, DNS_LABEL),
        repositories=tuple(repositories),
        hubot_room=_string(data, "hubot_room", source) or f"{team}-builds",
        prod_approvers=approvers,
        seed_schedule=_string(data, "seed_schedule", source, CRON),
        credentials_source=credentials_source,
        vault=Vault(
            url=_expect(vault["url"], str, "$.vault.url", source),
            role=_expect(vault["role"], str, "$.vault.role", source),
            paths=tuple(_expect(vault["paths"], list, "$.vault.paths", source)),
        ),
        apt_url=_string(data, "apt_url", source),
        apt_public_url=_string(data, "apt_public_url", source),
        jenkins_storage=_string(data, "jenkins_storage", source, QUANTITY),
        agent_cap=agent_cap,
        quotas=quotas,
        limits=_quantities(data["limits"], "$.limits", source),
    )
