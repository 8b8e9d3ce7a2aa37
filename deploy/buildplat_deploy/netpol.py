"""NetworkPolicies: deny all ingress in every team namespace, then open only the paths the platform uses.

- app namespaces (dev/stage/prod): from the ingress controller and from pods of the same namespace; dev also from
  the team's agents (the verify stage's system tests run there; stage and prod are reached through the API only);
- ci namespace: Jenkins from agents (HTTP, websocket agents and the agent.jar download; the inbound-agent TCP
  port) and from the ingress controller (UI); Hubot from Jenkins and agents (notifications). Nothing dials an
  agent: agents connect to Jenkins, and `container` steps go through the API server.
Egress is not restricted: builds fetch from git, the registry and the apt repository.
"""

from __future__ import annotations

from typing import Any

from buildplat_deploy.config import TeamConfig
from buildplat_deploy.meta import COMPONENT, NAME, TEAM, Manifest, manifest

NS_NAME = "kubernetes.io/metadata.name"
JENKINS_HTTP = 8080
JENKINS_AGENT = 50000
HUBOT_HTTP = 8080


def _policy(
    cfg: TeamConfig,
    name: str,
    namespace: str,
    pods: dict[str, str],
    sources: list[Any] | None = None,
    *,
    ports: tuple[int, ...] = (),
) -> Manifest:
    rule: dict[str, Any] = {"from": sources} if sources else {}
    if ports:
        rule["ports"] = [{"port": port, "protocol": "TCP"} for port in ports]
    spec: dict[str, Any] = {"podSelector": {"matchLabels": pods} if pods else {}, "policyTypes": ["Ingress"]}
    spec["ingress"] = [rule] if sources or ports else []
    return manifest("networking.k8s.io/v1", "NetworkPolicy", cfg, name, namespace, spec=spec)


def _ingress_controller(cfg: TeamConfig) -> dict[str, Any]:
    return {
        "namespaceSelector": {"matchLabels": {NS_NAME: cfg.ingress_namespace}},
        "podSelector": {"matchLabels": {NAME: "ingress-nginx"}},
    }


def _ci_pods(cfg: TeamConfig, labels: dict[str, str]) -> dict[str, Any]:
    return {"namespaceSelector": {"matchLabels": {NS_NAME: cfg.ci_namespace}}, "podSelector": {"matchLabels": labels}}


def objects(cfg: TeamConfig) -> list[Manifest]:
    ci = cfg.ci_namespace
    jenkins = {NAME: "jenkins", TEAM: cfg.team}
    agents = {COMPONENT: "agent", TEAM: cfg.team}
    hubot = {NAME: "hubot", TEAM: cfg.team}
    result: list[Manifest] = []
    for namespace in (ci, *cfg.deploy_namespaces):
        result.append(_policy(cfg, "default-deny-ingress", namespace, {}))
    for namespace in cfg.deploy_namespaces:
        result.append(_policy(cfg, "allow-from-ingress-controller", namespace, {}, [_ingress_controller(cfg)]))
        result.append(_policy(cfg, "allow-same-namespace", namespace, {}, [{"podSelector": {}}]))
    result.append(_policy(cfg, "allow-from-team-agents", cfg.namespace("dev"), {}, [_ci_pods(cfg, agents)]))
    result += [
        _policy(
            cfg,
            "allow-jenkins-from-agents",
            ci,
            jenkins,
            [{"podSelector": {"matchLabels": agents}}],
            ports=(JENKINS_HTTP, JENKINS_AGENT),
        ),
        _policy(
            cfg, "allow-jenkins-from-ingress-controller", ci, jenkins, [_ingress_controller(cfg)], ports=(JENKINS_HTTP,)
        ),
        _policy(
            cfg,
            "allow-hubot-from-jenkins-and-agents",
            ci,
            hubot,
            [{"podSelector": {"matchLabels": jenkins}}, {"podSelector": {"matchLabels": agents}}],
            ports=(HUBOT_HTTP,),
        ),
    ]
    return result
