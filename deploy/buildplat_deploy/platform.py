"""The team's platform config (platform.json) that the seed job and the pipeline stages read.

It follows buildplat's platform schema (buildplat/data/schemas/platform.schema.json; checked by the tests) and,
like it, names environment variables for secrets instead of holding them.
"""

from __future__ import annotations

from typing import Any

from buildplat_deploy.casc import SECRET_KEYS, jenkins_service_host
from buildplat_deploy.config import ENVIRONMENTS, TeamConfig


def registry_url(cfg: TeamConfig) -> str:
    host = cfg.registry.split(":", 1)[0]
    scheme = "http" if host in ("localhost", "127.0.0.1") else "https"
    return f"{scheme}://{cfg.registry}"


def platform_config(cfg: TeamConfig) -> dict[str, Any]:
    env = SECRET_KEYS
    config: dict[str, Any] = {
        "team": cfg.team,
        "namespaces": {name: cfg.namespace(name) for name in ENVIRONMENTS},
        "repositories": [{"url": repo.url, "branch": repo.branch} for repo in cfg.repositories],
        "jenkins": {
            "url": f"http://{jenkins_service_host(cfg)}:8080/",
            "folder": cfg.team,
            "user_env": env["seed-user"],
            "token_env": env["seed-token"],
            "credentials": {"registry": "buildplat-registry", "apt": "buildplat-apt", "hubot": "buildplat-hubot"},
        },
        "registry": {
            "url": registry_url(cfg),
            "user_env": env["registry-username"],
            "password_env": env["registry-password"],
        },
        "apt": {
            "api_url": cfg.apt_url,
            "public_url": cfg.apt_public_url,
            "repo": cfg.team,
            "prefix": cfg.team,
            "user_env": env["apt-username"],
            "password_env": env["apt-password"],
        },
        "hubot": {
            "url": f"http://hubot.{cfg.ci_namespace}.svc.cluster.local:8080",
            "room": cfg.hubot_room,
            "token_env": env["hubot-token"],
        },
    }
    if cfg.prod_approvers:  # absent, not empty: buildplat's schema wants at least one name when the key is there
        config["jenkins"]["prod_approvers"] = list(cfg.prod_approvers)
    return config
