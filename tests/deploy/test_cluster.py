"""The shared cluster services (deploy/cluster): overlays build, images are pinned parameters, Consul bootstraps
itself, Vault stores in Consul over TLS and its init Job only ever hands out encrypted key shares."""

from __future__ import annotations

import re

import pytest

from tests.deploy.conftest import CLUSTER, kustomize_build

OVERLAYS = ["production", "local"]


@pytest.fixture(scope="module", params=OVERLAYS)
def built(request: pytest.FixtureRequest) -> list[dict]:
    return kustomize_build(CLUSTER / "overlays" / request.param)


def find(objects: list[dict], kind: str, name: str) -> dict:
    matches = [o for o in objects if o["kind"] == kind and o["metadata"]["name"].startswith(name)]
    assert len(matches) == 1, f"{kind} {name}: {len(matches)} found"
    return matches[0]


def containers(obj: dict) -> list[dict]:
    spec = obj["spec"]["template"]["spec"] if obj["kind"] != "Pod" else obj["spec"]
    return spec.get("initContainers", []) + spec["containers"]


def test_every_service_is_there(built: list[dict]) -> None:
    workloads = {
        (o["kind"], o["metadata"]["namespace"], o["metadata"]["name"]) for o in built if "template" in o.get("spec", {})
    }
    assert workloads == {
        ("Deployment", "buildplat-system", "registry"),
        ("Deployment", "buildplat-system", "aptly"),
        ("DaemonSet", "ingress-nginx", "ingress-nginx-controller"),
        ("StatefulSet", "consul", "consul-server"),
        ("StatefulSet", "vault", "vault"),
        ("Job", "vault", "vault-init"),
    }
    for obj in built:
        assert obj["metadata"]["labels"]["app.kubernetes.io/part-of"] == "buildplat", obj["metadata"]["name"]


def test_images_are_pinned_and_never_latest(built: list[dict]) -> None:
    images = [c["image"] for o in built if "template" in o.get("spec", {}) for c in containers(o)]
    assert len(images) == 7
    for image in images:
        name, _, tag = image.rpartition(":")
        assert name, f"{image} has no tag"
        assert "/" not in tag
        assert tag != "latest"
        assert re.fullmatch(r"v?[0-9][0-9A-Za-z.-]*", tag), image


def test_overlays_set_images_through_kustomize_images() -> None:
    production = kustomize_build(CLUSTER / "overlays" / "production")
    local = kustomize_build(CLUSTER / "overlays" / "local")
    consul = {obj["metadata"]["name"]: containers(obj)[0]["image"] for obj in local if obj["kind"] == "StatefulSet"}
    assert consul["consul-server"] == "localhost:5000/mirror/consul:1.20.1"
    assert find(production, "StatefulSet", "consul-server")["spec"]["template"]["spec"]["containers"][0]["image"] == (
        "hashicorp/consul:1.20.1"
    )
    # The single-node overlay drops the one-replica-per-node rule; production keeps it.
    assert "affinity" not in find(local, "StatefulSet", "vault")["spec"]["template"]["spec"]
    assert "podAntiAffinity" in find(production, "StatefulSet", "vault")["spec"]["template"]["spec"]["affinity"]


def test_consul_bootstraps_three_servers_through_the_headless_service(built: list[dict]) -> None:
    server = find(built, "StatefulSet", "consul-server")
    assert server["spec"]["replicas"] == 3
    assert server["spec"]["serviceName"] == "consul-server"
    args = server["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "-bootstrap-expect=3" in args
    joins = [a.split("=", 1)[1] for a in args if a.startswith("-retry-join=")]
    assert joins == [f"consul-server-{i}.consul-server.consul.svc.cluster.local" for i in range(3)]
    headless = find(built, "Service", "consul-server")["spec"]
    assert headless["clusterIP"] == "None"
    assert headless["publishNotReadyAddresses"] is True


def test_vault_uses_consul_storage_and_tls(built: list[dict]) -> None:
    config = find(built, "ConfigMap", "vault-config")["data"]["vault.hcl"]
    assert re.search(r'storage "consul" \{[^}]*address\s*=\s*"consul\.consul\.svc\.cluster\.local:8500"', config)
    assert re.search(r'tls_cert_file\s*=\s*"/vault/tls/tls.crt"', config)
    assert "tls_disable" not in config
    vault = find(built, "StatefulSet", "vault")["spec"]["template"]["spec"]
    tls = next(v for v in vault["volumes"] if v["name"] == "tls")
    assert tls["secret"]["secretName"] == "vault-tls"
    config_volume = next(v for v in vault["volumes"] if v["name"] == "config")
    assert config_volume["configMap"]["name"] == find(built, "ConfigMap", "vault-config")["metadata"]["name"]


def test_vault_init_job_gets_admin_keys_and_keeps_nothing_in_clear(built: list[dict]) -> None:
    job = find(built, "Job", "vault-init")
    spec = job["spec"]["template"]["spec"]
    admins = find(built, "ConfigMap", "vault-admins")
    assert sorted(admins["data"]) == ["alice.asc", "bob.asc", "carol.asc"]
    assert all(key.startswith("-----BEGIN PGP PUBLIC KEY BLOCK-----") for key in admins["data"].values())
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["admins"]["configMap"]["name"] == admins["metadata"]["name"]
    # Scratch space is in memory and the root filesystem is read-only: nothing can be left on a disk.
    assert volumes["gnupg"]["emptyDir"]["medium"] == "Memory"
    assert volumes["work"]["emptyDir"]["medium"] == "Memory"
    assert spec["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True
    assert not any("persistentVolumeClaim" in v for v in spec["volumes"])
    assert job["spec"]["backoffLimit"] == 0
    role = find(built, "Role", "vault-init")
    assert {r for rule in role["rules"] for r in rule["resources"]} == {"configmaps"}
    threshold = int(find(built, "ConfigMap", "vault-init-settings")["data"]["threshold"])
    assert 1 < threshold <= len(admins["data"])


def test_ingress_controller_runs_on_load_balancer_nodes() -> None:
    production = kustomize_build(CLUSTER / "overlays" / "production")
    controller = find(production, "DaemonSet", "ingress-nginx-controller")["spec"]["template"]
    assert controller["spec"]["nodeSelector"] == {"node-role.buildplat.dev/loadbalancer": "true"}
    assert controller["metadata"]["labels"]["app.kubernetes.io/name"] == "ingress-nginx"
    namespace = find(production, "Namespace", "ingress-nginx")
    # The label the teams' NetworkPolicies select the controller's namespace by.
    assert namespace["metadata"]["labels"]["kubernetes.io/metadata.name"] == "ingress-nginx"
    assert find(production, "IngressClass", "nginx")["spec"]["controller"] == "k8s.io/ingress-nginx"


@pytest.mark.parametrize(("name", "workload"), [("consul-server", "consul-server"), ("vault", "vault")])
def test_quorum_services_are_disrupted_one_pod_at_a_time(built: list[dict], name: str, workload: str) -> None:
    budget = find(built, "PodDisruptionBudget", name)
    assert budget["apiVersion"] == "policy/v1"
    assert budget["spec"]["maxUnavailable"] == 1
    pods = find(built, "StatefulSet", workload)["spec"]["template"]["metadata"]["labels"]
    assert budget["spec"]["selector"]["matchLabels"].items() <= pods.items()
    assert budget["metadata"]["namespace"] == find(built, "StatefulSet", workload)["metadata"]["namespace"]
