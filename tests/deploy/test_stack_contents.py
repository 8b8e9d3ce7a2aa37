"""What the team stack says: JCasC, the seed job, RBAC scope, NetworkPolicies, Hubot, the platform config."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.deploy.conftest import REPO, by_kind, find

CI = "alpha-ci"
DEPLOY_NAMESPACES = {"alpha-dev", "alpha-stage", "alpha-prod"}


def casc(objects: list[dict]) -> dict[str, Any]:
    return yaml.safe_load(find(objects, "ConfigMap", "jenkins-casc", CI)["data"]["jenkins.yaml"])


def test_pod_template_per_buildfact_with_agent_images(alpha_stack: list[dict]) -> None:
    cloud = casc(alpha_stack)["jenkins"]["clouds"][0]["kubernetes"]
    assert cloud["namespace"] == CI
    templates = {t["label"]: t for t in cloud["templates"]}
    for fact in ("java", "nodejs", "go", "ruby", "python"):
        template = templates[f"buildplat-{fact}"]
        assert template["containers"][0]["image"] == f"localhost:5000/buildplat/agent-{fact}:0.1.0"
        assert template["serviceAccount"] == "jenkins-agent", "builds deploy, but never as the controller"
        assert template["namespace"] == CI
    assert templates["buildplat-seed"]["serviceAccount"] == "buildplat-seed"
    # Agents carry the label the NetworkPolicies select on.
    assert {"key": "buildplat.dev/component", "value": "agent"} in cloud["podLabels"]
    # The inbound agents' port is fixed in JCasC, and is the one the tunnel and the Service name.
    jenkins = casc(alpha_stack)["jenkins"]
    assert jenkins["slaveAgentPort"] == 50000
    assert cloud["jenkinsTunnel"] == "jenkins.alpha-ci.svc.cluster.local:50000"
    service = find(alpha_stack, "Service", "jenkins", CI)["spec"]["ports"]
    assert {"name": "agent", "port": 50000, "protocol": "TCP", "targetPort": "agent"} in service


def test_buildfacts_match_the_default_json_schema(alpha_stack: list[dict]) -> None:
    schema = json.loads((REPO / "schemas" / "default.schema.json").read_text())
    facts = schema["properties"]["build"]["properties"]["system_setup"]["properties"]["buildfacts"]["items"]["enum"]
    labels = {t["label"] for t in casc(alpha_stack)["jenkins"]["clouds"][0]["kubernetes"]["templates"]}
    assert labels == {f"buildplat-{fact}" for fact in facts} | {"buildplat-seed"}


def test_seed_job_runs_sync_once_on_a_schedule_with_the_mounted_config(alpha_stack: list[dict]) -> None:
    document = casc(alpha_stack)
    script = document["jobs"][0]["script"]
    assert "buildplat sync --config /etc/buildplat/platform.json --once" in script
    assert "cron('H/5 * * * *')" in script
    assert "label('buildplat-seed')" in script
    seed = next(
        t for t in document["jenkins"]["clouds"][0]["kubernetes"]["templates"] if t["label"] == "buildplat-seed"
    )
    volume = seed["volumes"][0]["configMapVolume"]
    assert volume == {"configMapName": "buildplat-platform", "mountPath": "/etc/buildplat"}
    seed_env = {e["secretEnvVar"]["key"] for e in seed["envVars"] if "secretEnvVar" in e}
    assert {"BUILDPLAT_JENKINS_USER", "BUILDPLAT_JENKINS_TOKEN"} <= seed_env
    java = next(
        t for t in document["jenkins"]["clouds"][0]["kubernetes"]["templates"] if t["label"] == "buildplat-java"
    )
    assert "BUILDPLAT_JENKINS_TOKEN" not in {e["secretEnvVar"]["key"] for e in java["envVars"] if "secretEnvVar" in e}


@pytest.mark.parametrize("source", ["kubernetes", "vault"])
def test_the_seed_job_logs_in_through_its_bound_credential(source: str, tmp_path: Path) -> None:
    """With Vault the agents get no secret environment: the job binds the seed user's credential itself."""
    from tests.deploy.conftest import stack

    config = tmp_path / "team.json"
    config.write_text(json.dumps({"credentials_source": source, "vault": {"role": "jenkins", "paths": ["kv/ci"]}}))
    document = casc(stack("alpha", config))
    script = document["jobs"][0]["script"]
    binding = "usernamePassword('BUILDPLAT_JENKINS_USER', 'BUILDPLAT_JENKINS_TOKEN', 'buildplat-seed')"
    assert f"wrappers {{ credentialsBinding {{ {binding} }} }}" in script
    credentials = document["credentials"]["system"]["domainCredentials"][0]["credentials"]
    seed = next(
        c["usernamePassword"] for c in credentials if c.get("usernamePassword", {}).get("id") == "buildplat-seed"
    )
    assert (seed["username"], seed["password"]) == ("${seed-user}", "${seed-token}")
    if shutil.which("groovy"):  # the Job DSL script is Groovy: it must at least compile
        from tests.harness.groovy import compile_jenkinsfile

        compile_jenkinsfile(script, name="seed.groovy")


def test_credentials_are_references_only(alpha_stack: list[dict]) -> None:
    credentials = casc(alpha_stack)["credentials"]["system"]["domainCredentials"][0]["credentials"]
    ids = set()
    for credential in credentials:
        ((kind, body),) = credential.items()
        ids.add(body["id"])
        for field in ("username", "password", "secret"):
            if field in body:
                assert re.fullmatch(r"\$\{[a-z-]+\}", body[field]), (kind, field)
    assert ids == {"buildplat-registry", "buildplat-apt", "buildplat-seed", "buildplat-hubot"}
    jenkins = find(alpha_stack, "Deployment", "jenkins", CI)["spec"]["template"]["spec"]
    secret_volume = next(v for v in jenkins["volumes"] if "secret" in v)
    assert secret_volume["secret"]["secretName"] == "buildplat-credentials"
    env = {e["name"]: e.get("value") for e in jenkins["containers"][0]["env"]}
    assert env["CASC_JENKINS_CONFIG"] == "/var/jenkins_casc/jenkins.yaml"
    assert env["SECRETS"] == "/run/secrets/buildplat"


def test_platform_config_follows_buildplats_platform_schema(alpha_stack: list[dict]) -> None:
    schema = json.loads((REPO / "buildplat" / "data" / "schemas" / "platform.schema.json").read_text())
    platform = json.loads(find(alpha_stack, "ConfigMap", "buildplat-platform", CI)["data"]["platform.json"])
    jsonschema.Draft202012Validator(schema).validate(platform)
    assert platform["team"] == "alpha"
    assert platform["namespaces"] == {"dev": "alpha-dev", "stage": "alpha-stage", "prod": "alpha-prod"}
    assert "prod_approvers" not in platform["jenkins"]  # none by default: anyone who may build approves


def test_the_agents_may_deploy_into_their_three_namespaces_only(alpha_stack: list[dict]) -> None:
    # The one cluster-wide grant: the shared read-only Ingress reader, for the deploy stage's host-claim check.
    agent = {"kind": "ServiceAccount", "name": "jenkins-agent", "namespace": CI}
    assert not by_kind(alpha_stack, "ClusterRole")
    (reader_binding,) = by_kind(alpha_stack, "ClusterRoleBinding")
    assert reader_binding["metadata"]["name"] == "buildplat-ingress-reader-alpha"
    assert reader_binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "buildplat-ingress-reader",
    }
    assert reader_binding["subjects"] == [agent]
    shared = yaml.safe_load((REPO / "deploy" / "cluster" / "base" / "buildplat-rbac.yaml").read_text())
    assert shared["metadata"]["name"] == "buildplat-ingress-reader"
    assert shared["rules"] == [
        {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses"], "verbs": ["get", "list"]}
    ]
    granted: dict[str, set[str]] = {}
    for binding in by_kind(alpha_stack, "RoleBinding"):
        ((subject),) = binding["subjects"]
        role = find(alpha_stack, "Role", binding["roleRef"]["name"], binding["metadata"]["namespace"])
        granted.setdefault(subject["name"], set()).add(binding["metadata"]["namespace"])
        for rule in role["rules"]:
            assert "*" not in rule["verbs"] + rule["resources"]
            assert not {"secrets", "configmaps", "roles", "rolebindings"} & set(rule["resources"])
        if subject == agent:
            writes = {r for rule in role["rules"] if "create" in rule["verbs"] for r in rule["resources"]}
            assert writes == {"deployments", "services", "horizontalpodautoscalers", "ingresses"}
    # The agents deploy and nothing more; the controller starts agent pods in its own namespace and never deploys.
    assert granted == {"jenkins-agent": DEPLOY_NAMESPACES, "jenkins": {CI}}
    controller = find(alpha_stack, "Role", "jenkins-agents", CI)
    assert {r for rule in controller["rules"] for r in rule["resources"]} == {"pods", "pods/exec", "pods/log", "events"}
    assert find(alpha_stack, "RoleBinding", "jenkins-agents", CI)["subjects"][0]["name"] == "jenkins"
    seed = find(alpha_stack, "ServiceAccount", "buildplat-seed", CI)
    assert seed["automountServiceAccountToken"] is False, "sync needs git and Jenkins, not the cluster"


def test_hubot_has_no_api_access_and_is_ready_once_its_script_is(alpha_stack: list[dict]) -> None:
    account = find(alpha_stack, "ServiceAccount", "hubot", CI)
    assert account["automountServiceAccountToken"] is False
    pod = find(alpha_stack, "Deployment", "hubot", CI)["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    # The port opens before the scripts load (deploy/hubot/README.md): ready means the notify script answers.
    assert pod["containers"][0]["readinessProbe"]["httpGet"] == {"path": "/buildplat/health", "port": "http"}
    assert pod["serviceAccountName"] == "hubot"
    assert all(s["name"] != "hubot" for b in by_kind(alpha_stack, "RoleBinding") for s in b["subjects"])
    assert pod["containers"][0]["image"] == "localhost:5000/buildplat/hubot:0.1.0"
    service = find(alpha_stack, "Service", "hubot", CI)
    assert (
        service["spec"]["selector"].items()
        <= find(alpha_stack, "Deployment", "hubot", CI)["spec"]["template"]["metadata"]["labels"].items()
    )


def test_network_policies_deny_by_default_and_open_only_platform_paths(alpha_stack: list[dict]) -> None:
    policies = by_kind(alpha_stack, "NetworkPolicy")
    for namespace in DEPLOY_NAMESPACES | {CI}:
        deny = find(alpha_stack, "NetworkPolicy", "default-deny-ingress", namespace)["spec"]
        assert deny == {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": []}
    for namespace in DEPLOY_NAMESPACES:
        ingress = find(alpha_stack, "NetworkPolicy", "allow-from-ingress-controller", namespace)["spec"]["ingress"]
        source = ingress[0]["from"][0]
        assert source["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "ingress-nginx"}
    hubot = find(alpha_stack, "NetworkPolicy", "allow-hubot-from-jenkins-and-agents", CI)["spec"]
    assert hubot["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "hubot"
    sources = [s["podSelector"]["matchLabels"] for s in hubot["ingress"][0]["from"]]
    assert {"app.kubernetes.io/name": "jenkins", "buildplat.dev/team": "alpha"} in sources
    assert {"buildplat.dev/component": "agent", "buildplat.dev/team": "alpha"} in sources
    jenkins = find(alpha_stack, "NetworkPolicy", "allow-jenkins-from-agents", CI)["spec"]
    assert [p["port"] for p in jenkins["ingress"][0]["ports"]] == [8080, 50000], "HTTP/websocket, inbound TCP"
    # System tests reach the dev namespace only; stage and prod are deployed to through the API.
    tested = find(alpha_stack, "NetworkPolicy", "allow-from-team-agents", "alpha-dev")["spec"]["ingress"][0]
    assert tested["from"][0]["podSelector"]["matchLabels"] == {"buildplat.dev/component": "agent",
                                                                "buildplat.dev/team": "alpha"}  # fmt: skip
    assert tested["from"][0]["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": CI}
    named = {(p["metadata"]["namespace"], p["metadata"]["name"]) for p in policies}
    assert ("alpha-prod", "allow-from-team-agents") not in named
    assert ("alpha-stage", "allow-from-team-agents") not in named
    assert (CI, "allow-agents-from-jenkins") not in named, "nothing dials an agent"
    assert len(policies) == 4 + 3 * 2 + 1 + 3


def test_jenkins_rolls_when_its_casc_changes(tmp_path) -> None:
    from tests.deploy.conftest import stack

    path = tmp_path / "team.json"
    path.write_text(json.dumps({"seed_schedule": "H/15 * * * *"}))
    annotation = "buildplat.dev/casc-sha256"

    def checksum(objects: list[dict]) -> str:
        return find(objects, "Deployment", "jenkins", CI)["spec"]["template"]["metadata"]["annotations"][annotation]

    assert checksum(stack("alpha")) != checksum(stack("alpha", path))
