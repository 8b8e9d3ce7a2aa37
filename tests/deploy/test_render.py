"""buildplat-deploy team render: determinism, names and labels, team-name and config checks, no secrets out."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests.deploy.conftest import REPO, by_kind, find, run_cli, stack

TEAM_NAMESPACES = {"alpha-ci", "alpha-dev", "alpha-stage", "alpha-prod"}


def test_render_twice_is_byte_identical(tmp_path: Path) -> None:
    first = run_cli("team", "render", "alpha")
    # A different hash seed in the second run catches any ordering that leans on set or dict iteration.
    second = run_cli("team", "render", "alpha", env={"PYTHONHASHSEED": "12345"})
    assert first.code == 0, first.stderr
    assert first.stdout == second.stdout
    assert "creationTimestamp" not in first.stdout

    out_a, out_b = tmp_path / "a", tmp_path / "b"
    assert run_cli("team", "render", "alpha", "--out", str(out_a)).code == 0
    assert run_cli("team", "render", "alpha", "--out", str(out_b)).code == 0
    files_a = sorted(p.name for p in out_a.iterdir())
    assert files_a == sorted(p.name for p in out_b.iterdir())
    assert files_a == [
        "00-cluster.yaml",
        "00-namespaces.yaml",
        "01-alpha-ci.yaml",
        "02-alpha-dev.yaml",
        "03-alpha-stage.yaml",
        "04-alpha-prod.yaml",
        "kustomization.yaml",
    ]
    for name in files_a:
        assert (out_a / name).read_bytes() == (out_b / name).read_bytes(), name


def test_out_dir_holds_the_same_objects_as_stdout(tmp_path: Path) -> None:
    streamed = run_cli("team", "render", "alpha").documents()
    assert run_cli("team", "render", "alpha", "--out", str(tmp_path)).code == 0
    written = []
    for path in sorted(tmp_path.glob("0*.yaml")):
        written += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    key = lambda o: (o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"])  # noqa: E731
    assert sorted(written, key=key) == sorted(streamed, key=key)
    kustomization = yaml.safe_load((tmp_path / "kustomization.yaml").read_text())
    assert kustomization["resources"][:2] == ["00-cluster.yaml", "00-namespaces.yaml"]


def test_every_object_carries_the_team_and_platform_labels(alpha_stack: list[dict]) -> None:
    assert len(alpha_stack) > 30
    for obj in alpha_stack:
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/part-of"] == "buildplat", obj["metadata"]
        assert labels["buildplat.dev/team"] == "alpha", obj["metadata"]
        if obj["kind"] == "ClusterRoleBinding":  # cluster-wide objects carry the team in their name
            assert obj["metadata"]["name"].endswith("-alpha"), obj["metadata"]
        else:
            assert obj["metadata"].get("namespace", obj["metadata"]["name"]) in TEAM_NAMESPACES
    for kind in ("Deployment",):
        for obj in by_kind(alpha_stack, kind):
            template_labels = obj["spec"]["template"]["metadata"]["labels"]
            assert template_labels["buildplat.dev/team"] == "alpha"
            assert obj["spec"]["selector"]["matchLabels"].items() <= template_labels.items()


def test_namespaces_quotas_and_limits(alpha_stack: list[dict]) -> None:
    assert {ns["metadata"]["name"] for ns in by_kind(alpha_stack, "Namespace")} == TEAM_NAMESPACES
    for namespace in TEAM_NAMESPACES:
        quota = find(alpha_stack, "ResourceQuota", "buildplat-quota", namespace)
        assert {"pods", "requests.cpu", "limits.memory"} <= set(quota["spec"]["hard"])
        limits = find(alpha_stack, "LimitRange", "buildplat-limits", namespace)["spec"]["limits"][0]
        assert limits["type"] == "Container"
        assert limits["default"]["memory"]
        assert limits["defaultRequest"]["cpu"]
    # Jenkins and Hubot live in the ci namespace only.
    deployments = {(d["metadata"]["namespace"], d["metadata"]["name"]) for d in by_kind(alpha_stack, "Deployment")}
    assert deployments == {("alpha-ci", "jenkins"), ("alpha-ci", "hubot")}


def test_two_teams_share_no_object_names(alpha_stack: list[dict]) -> None:
    def identities(objects: list[dict]) -> set[tuple[str, str, str]]:
        return {(o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]) for o in objects}

    assert not identities(alpha_stack) & identities(stack("bravo"))


@pytest.mark.parametrize(
    "team",
    ["", "Alpha", "-alpha", "alpha-", "al_pha", "al.pha", "a" * 58, "ü", "alpha beta", "--help-me"],
)
def test_invalid_team_names_are_usage_errors_without_traceback(team: str) -> None:
    outcome = run_cli("team", "render", "--", team)
    assert outcome.code == 2, outcome
    assert "invalid team name" in outcome.stderr
    assert "Traceback" not in outcome.stderr
    assert outcome.stdout == ""


def test_longest_team_name_still_fits_stage_namespace() -> None:
    team = "a" * 57
    outcome = run_cli("team", "render", team)
    assert outcome.code == 0, outcome.stderr
    names = {doc["metadata"]["name"] for doc in outcome.documents() if doc["kind"] == "Namespace"}
    assert f"{team}-stage" in names
    assert max(len(name) for name in names) == 63


def test_usage_errors_exit_2() -> None:
    assert run_cli("team").code == 2
    assert run_cli("team", "render").code == 2
    missing = run_cli("team", "render", "alpha", "--config", "/nonexistent/team.json")
    assert missing.code == 2
    assert "cannot read" in missing.stderr
    assert "Traceback" not in missing.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "must be a JSON object"),
        ('{"registy": "r:5000"}', "unknown key $.registy"),
        ('{"buildfacts": ["cobol"]}', "unknown buildfact"),
        ('{"buildfacts": []}', "at least one"),
        ('{"seed_schedule": "H * * * * \'; rm"}', "$.seed_schedule is not valid"),
        ('{"quotas": {"dev": {"pods": "many"}}}', "not a Kubernetes quantity"),
        ('{"credentials_source": "vault"}', "needs $.vault.role"),
        ('{"repositories": [{"branch": "main"}]}', "url is required"),
    ],
)
def test_invalid_team_json_exits_1_with_the_place(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "team.json"
    path.write_text(content)
    outcome = run_cli("team", "render", "alpha", "--config", str(path))
    assert outcome.code == 1, outcome
    assert message in outcome.stderr
    assert str(path) in outcome.stderr
    assert "Traceback" not in outcome.stderr


CANARY = "canary-s3cr3t-4f9d2c"


@pytest.mark.parametrize(
    "config",
    [
        {"registry_password": CANARY},
        {"vault": {"token": CANARY}},
        {"repositories": [{"url": f"https://deployer:{CANARY}@git.example.com/app.git"}]},
    ],
)
def test_secret_values_in_team_json_are_refused_and_never_echoed(tmp_path: Path, config: dict) -> None:
    path = tmp_path / "team.json"
    path.write_text(json.dumps(config))
    outcome = run_cli("team", "render", "alpha", "--config", str(path))
    assert outcome.code == 1
    assert "secret" in outcome.stderr or "credentials" in outcome.stderr
    assert CANARY not in outcome.stderr + outcome.stdout


def test_secrets_in_the_environment_never_reach_the_output(tmp_path: Path) -> None:
    env = dict.fromkeys(
        (
            "BUILDPLAT_REGISTRY_PASSWORD",
            "BUILDPLAT_JENKINS_TOKEN",
            "BUILDPLAT_HUBOT_TOKEN",
            "BUILDPLAT_APT_PASSWORD",
            "VAULT_TOKEN",
            "ADMIN_PASSWORD",
        ),
        CANARY,
    )
    for source in ("kubernetes", "vault"):
        path = tmp_path / f"{source}.json"
        path.write_text(json.dumps({"credentials_source": source, "vault": {"role": "jenkins", "paths": ["kv/ci"]}}))
        outcome = run_cli("team", "render", "alpha", "--config", str(path), env=env)
        assert outcome.code == 0, outcome.stderr
        assert CANARY not in outcome.stdout
        # Secrets are referenced by name: the Secret the stack reads from exists only in the cluster.
        assert all(doc["kind"] != "Secret" for doc in outcome.documents())
        assert "${registry-password}" in outcome.stdout


def test_team_json_overrides_defaults(tmp_path: Path) -> None:
    path = tmp_path / "team.json"
    path.write_text(
        json.dumps(
            {
                "registry": "registry.example.com:5000",
                "platform_version": "1.4.2",
                "buildfacts": ["go", "python"],
                "quotas": {"prod": {"pods": "7", "requests.storage": "10Gi"}},
                "repositories": [{"url": "git://git.example.com/alpha/app.git"}],
                "prod_approvers": ["alice", "alpha-release"],
            }
        )
    )
    objects = stack("alpha", path)
    jenkins = find(objects, "Deployment", "jenkins", "alpha-ci")
    assert (
        jenkins["spec"]["template"]["spec"]["containers"][0]["image"]
        == "registry.example.com:5000/buildplat/jenkins:1.4.2"
    )
    quota = find(objects, "ResourceQuota", "buildplat-quota", "alpha-prod")["spec"]["hard"]
    assert quota["pods"] == "7"
    assert quota["requests.storage"] == "10Gi"
    assert quota["requests.cpu"] == "8"
    casc = yaml.safe_load(find(objects, "ConfigMap", "jenkins-casc", "alpha-ci")["data"]["jenkins.yaml"])
    labels = [t["label"] for t in casc["jenkins"]["clouds"][0]["kubernetes"]["templates"]]
    assert labels == ["buildplat-go", "buildplat-python", "buildplat-seed"]
    platform = json.loads(find(objects, "ConfigMap", "buildplat-platform", "alpha-ci")["data"]["platform.json"])
    assert platform["repositories"] == [{"url": "git://git.example.com/alpha/app.git", "branch": "main"}]
    assert platform["registry"]["url"] == "https://registry.example.com:5000"
    assert platform["jenkins"]["prod_approvers"] == ["alice", "alpha-release"]
    schema = json.loads((REPO / "buildplat" / "data" / "schemas" / "platform.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(platform)


@pytest.mark.parametrize("approvers", [["alice,bob"], ["o'brien"], [7], ["alice", "alice"]])
def test_a_prod_approver_that_is_no_jenkins_name_is_refused(tmp_path: Path, approvers: list[object]) -> None:
    path = tmp_path / "team.json"
    path.write_text(json.dumps({"prod_approvers": approvers}))
    outcome = run_cli("team", "render", "alpha", "--config", str(path))
    assert outcome.code == 1, outcome.stderr
    assert "$.prod_approvers" in outcome.stderr
    assert "Traceback" not in outcome.stderr


def test_console_script_is_installed() -> None:
    script = REPO / ".venv" / "bin" / "buildplat-deploy"
    if not script.exists():
        pytest.skip("buildplat-deploy is not installed in .venv (scripts/setup-venv installs it)")
    import subprocess

    done = subprocess.run([str(script), "--version"], capture_output=True, text=True, check=False, timeout=30)
    assert done.returncode == 0
    assert "buildplat-deploy" in done.stdout
