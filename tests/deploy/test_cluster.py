"""The shared cluster services (deploy/cluster): overlays build, images are pinned parameters, Consul bootstraps
itself, Vault stores in Consul over TLS and its init Job only ever hands out encrypted key shares."""

from __future__ import annotations

import re
from typing import Any

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


def hcl(text: str) -> Any:
    """HCL as plain data: python-hcl2 keeps the quotes of strings and marks blocks; neither matters here."""
    import hcl2

    def plain(value: Any) -> Any:
        if isinstance(value, dict):
            return {plain(k): plain(v) for k, v in value.items() if k not in ("__is_block__", "__comments__")}
        if isinstance(value, list):
            return [plain(item) for item in value]
        if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
            return value[1:-1]
        return value

    return plain(hcl2.loads(text))


def test_vault_uses_consul_storage_and_tls(built: list[dict]) -> None:
    config = hcl(find(built, "ConfigMap", "vault-config")["data"]["vault.hcl"])
    (listener,) = config["listener"]
    assert listener["tcp"]["tls_cert_file"] == "/vault/tls/tls.crt"
    assert "tls_disable" not in listener["tcp"]
    # Storage: Consul's HTTPS API, its certificate checked against Consul's CA.
    (storage,) = config["storage"]
    consul = storage["consul"]
    assert consul["address"] == "consul.consul.svc.cluster.local:8501"
    assert consul["scheme"] == "https"
    assert consul["tls_ca_file"] == "/vault/consul-ca/ca.crt"
    assert "tls_skip_verify" not in consul
    vault = find(built, "StatefulSet", "vault")["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in vault["volumes"]}
    assert volumes["tls"]["secret"]["secretName"] == "vault-tls"
    assert volumes["consul-ca"]["secret"]["secretName"] == "consul-ca"
    mounts = {m["name"]: m["mountPath"] for m in vault["containers"][0]["volumeMounts"]}
    assert mounts["consul-ca"] == "/vault/consul-ca"
    assert volumes["config"]["configMap"]["name"] == find(built, "ConfigMap", "vault-config")["metadata"]["name"]


def test_consul_speaks_tls_to_vault_and_between_servers(built: list[dict]) -> None:
    server = find(built, "StatefulSet", "consul-server")["spec"]["template"]["spec"]
    config_map = find(built, "ConfigMap", "consul-config")
    tls = hcl(config_map["data"]["tls.hcl"])
    assert tls["addresses"][0] == {"http": "127.0.0.1"}, "plain HTTP on the pod's loopback only"
    assert tls["ports"][0] == {"https": 8501}
    settings = tls["tls"][0]
    assert settings["defaults"][0]["verify_outgoing"] is True
    assert settings["internal_rpc"][0] == {"verify_incoming": True, "verify_server_hostname": True}
    mounts = {m["name"]: m["mountPath"] for m in server["containers"][0]["volumeMounts"]}
    assert {settings["defaults"][0][key].rsplit("/", 1)[0] for key in ("ca_file", "cert_file", "key_file")} == {
        mounts["tls"]
    }
    volumes = {v["name"]: v for v in server["volumes"]}
    assert volumes["tls"]["secret"] == {"secretName": "consul-tls"}, "required: no server starts without it"
    assert volumes["config"]["configMap"]["name"] == config_map["metadata"]["name"]
    assert f"-config-file={mounts['config']}/tls.hcl" in server["containers"][0]["args"]
    # The client Service offers HTTPS only, and only Vault's namespace may use it.
    (client,) = (o["spec"]["ports"] for o in built if o["kind"] == "Service" and o["metadata"]["name"] == "consul")
    assert [(p["name"], p["port"]) for p in client] == [("https", 8501)]
    policy = find(built, "NetworkPolicy", "consul-clients")["spec"]["ingress"]
    from_vault = next(rule for rule in policy if "namespaceSelector" in rule["from"][0])
    assert from_vault["from"][0]["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "vault"}
    assert from_vault["ports"] == [{"port": 8501, "protocol": "TCP"}]


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
