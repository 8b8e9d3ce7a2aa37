"""Jenkins Configuration as Code (JCasC) for a team's Jenkins: the Kubernetes cloud, credentials, the seed job.

Credentials are never values here. JCasC resolves ``${name}`` at start-up, either from the files of the mounted
Kubernetes Secret ``buildplat-credentials`` (the ``SECRETS`` directory) or, with credentials_source "vault", from
Vault through the hashicorp-vault plugin (``CASC_VAULT_*`` environment variables). The key names are the same
either way, and listed in :data:`SECRET_KEYS`.
"""

from __future__ import annotations

from typing import Any

from buildplat_deploy.config import TeamConfig
from buildplat_deploy.meta import COMPONENT, PART_OF, TEAM
from buildplat_deploy.rbac import AGENT_SA, SEED_SA

CREDENTIALS_SECRET = "buildplat-credentials"  # noqa: S105 (a Secret's name, not a value)
PLATFORM_CONFIGMAP = "buildplat-platform"
PLATFORM_DIR = "/etc/buildplat"
SECRETS_DIR = "/run/secrets/buildplat"
SEED_LABEL = "buildplat-seed"
SEED_CREDENTIAL = "buildplat-seed"
JENKINS_AGENT_PORT = 50000

# Key of the credentials Secret (or Vault secret) -> the environment variable agents see it as ("" = Jenkins only).
SECRET_KEYS: dict[str, str] = {
    "admin-user": "",
    "admin-password": "",
    "apt-password": "BUILDPLAT_APT_PASSWORD",
    "apt-username": "BUILDPLAT_APT_USER",
    "hubot-token": "BUILDPLAT_HUBOT_TOKEN",
    "registry-password": "BUILDPLAT_REGISTRY_PASSWORD",
    "registry-username": "BUILDPLAT_REGISTRY_USER",
    "seed-token": "BUILDPLAT_JENKINS_TOKEN",
    "seed-user": "BUILDPLAT_JENKINS_USER",
}
SEED_ONLY = ("seed-token", "seed-user")


def jenkins_service_host(cfg: TeamConfig) -> str:
    return f"jenkins.{cfg.ci_namespace}.svc.cluster.local"


def _ref(key: str) -> str:
    return "${" + key + "}"


def _agent_env(cfg: TeamConfig, seed: bool) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [{"envVar": {"key": "BUILDPLAT_CONFIG", "value": f"{PLATFORM_DIR}/platform.json"}}]
    if cfg.credentials_source != "kubernetes":
        return env  # with Vault, jobs bind Jenkins credentials by ID; agents get no secret environment
    for key, variable in sorted(SECRET_KEYS.items()):
        if variable and (seed or key not in SEED_ONLY):
            ref = {"key": variable, "secretName": CREDENTIALS_SECRET, "secretKey": key, "optional": True}
            env.append({"secretEnvVar": ref})
    return env


def _template(cfg: TeamConfig, label: str, image: str, seed: bool = False) -> dict[str, Any]:
    return {
        "name": label,
        "label": label,
        "namespace": cfg.ci_namespace,
        # The agents deploy (rbac.AGENT_SA); the seed job only talks to git and Jenkins (rbac.SEED_SA: no token).
        "serviceAccount": SEED_SA if seed else AGENT_SA,
        "nodeUsageMode": "EXCLUSIVE",
        "idleMinutes": 0,
        "containers": [
            {
                # Named jnlp so it replaces the plugin's default agent container: the agent images carry the
                # inbound agent, the buildfact's toolchain and buildplat itself.
                "name": "jnlp",
                "image": image,
                "alwaysPullImage": False,
                "workingDir": "/home/jenkins/agent",
                "resourceRequestCpu": "500m",
                "resourceRequestMemory": "1Gi",
                "resourceLimitCpu": "2",
                "resourceLimitMemory": "4Gi",
            }
        ],
        "envVars": _agent_env(cfg, seed),
        "volumes": [{"configMapVolume": {"configMapName": PLATFORM_CONFIGMAP, "mountPath": PLATFORM_DIR}}],
    }


def seed_job_dsl(cfg: TeamConfig) -> str:
    """The Job DSL script of the seed job: ``buildplat sync --once`` on the seed agent, on a schedule.

    sync logs in to Jenkins as the seed user: the job binds the ``buildplat-seed`` credential to the variables
    sync reads, so it works whichever source JCasC read the credentials from (with Vault the agents get no secret
    environment of their own).
    """
    # The schedule was checked against config.CRON, which admits no quote or backslash.
    return "\n".join(
        [
            "job('buildplat-seed') {",
            "  description('Keeps this Jenkins in line with the team repositories (buildplat sync). "
            "Managed by buildplat-deploy: edits here are overwritten.')",
            f"  label('{SEED_LABEL}')",
            "  concurrentBuild(false)",
            "  logRotator { numToKeep(50) }",
            f"  triggers {{ cron('{cfg.seed_schedule}') }}",
            "  wrappers { credentialsBinding { "
            f"usernamePassword('BUILDPLAT_JENKINS_USER', 'BUILDPLAT_JENKINS_TOKEN', '{SEED_CREDENTIAL}') }} }}",
            f"  steps {{ shell('buildplat sync --config {PLATFORM_DIR}/platform.json --once') }}",
            "}",
            "",
        ]
    )


def _credentials() -> list[dict[str, Any]]:
    return [
        {
            "usernamePassword": {
                "scope": "GLOBAL",
                "id": "buildplat-registry",
                "description": "Pushes images to the platform registry",
                "username": _ref("registry-username"),
                "password": _ref("registry-password"),
            }
        },
        {
            "usernamePassword": {
                "scope": "GLOBAL",
                "id": "buildplat-apt",
                "description": "Publishes packages through the aptly API",
                "username": _ref("apt-username"),
                "password": _ref("apt-password"),
            }
        },
        {
            "usernamePassword": {
                "scope": "GLOBAL",
                "id": SEED_CREDENTIAL,
                "description": "The seed job's Jenkins user and API token (buildplat sync)",
                "username": _ref("seed-user"),
                "password": _ref("seed-token"),
            }
        },
        {
            "string": {
                "scope": "GLOBAL",
                "id": "buildplat-hubot",
                "description": "Bearer token of the team's Hubot",
                "secret": _ref("hubot-token"),
            }
        },
    ]


def casc(cfg: TeamConfig) -> dict[str, Any]:
    """The JCasC document for the team's Jenkins."""
    host = jenkins_service_host(cfg)
    templates = [_template(cfg, f"buildplat-{fact}", cfg.image(f"agent-{fact}")) for fact in cfg.buildfacts]
    templates.append(_template(cfg, SEED_LABEL, cfg.image("agent-python"), seed=True))
    cloud = {
        "name": "kubernetes",
        "namespace": cfg.ci_namespace,
        "jenkinsUrl": f"http://{host}:8080",
        "jenkinsTunnel": f"{host}:{JENKINS_AGENT_PORT}",
        "containerCapStr": str(cfg.agent_cap),
        "podLabels": [
            {"key": COMPONENT, "value": "agent"},
            {"key": PART_OF, "value": "buildplat"},
            {"key": TEAM, "value": cfg.team},
        ],
        "templates": templates,
    }
    return {
        "jenkins": {
            "systemMessage": f"buildplat Jenkins of team {cfg.team}. Configured as code: edits in the UI are lost.",
            "numExecutors": 0,
            "mode": "EXCLUSIVE",
            # The inbound agents' TCP port (the cloud's jenkinsTunnel, the Service's "agent" port), fixed here
            # rather than left to the image's launcher.
            "slaveAgentPort": JENKINS_AGENT_PORT,
            "crumbIssuer": {"standard": {"excludeClientIPFromCrumb": True}},
            "securityRealm": {
                "local": {
                    "allowsSignup": False,
                    "users": [
                        {"id": _ref("admin-user"), "password": _ref("admin-password")},
                        {"id": _ref("seed-user"), "password": _ref("seed-token")},
                    ],
                }
            },
            "authorizationStrategy": {"loggedInUsersCanDoAnything": {"allowAnonymousRead": False}},
            "clouds": [{"kubernetes": cloud}],
        },
        "credentials": {"system": {"domainCredentials": [{"credentials": _credentials()}]}},
        "unclassified": {"location": {"url": f"https://jenkins.{cfg.team}.{cfg.domain}/"}},
        "jobs": [{"script": seed_job_dsl(cfg)}],
    }
