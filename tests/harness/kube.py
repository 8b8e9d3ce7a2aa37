"""A real single-node Kubernetes v1.20.2 cluster for the tests, on 127.0.0.1.

etcd (Debian's etcd-server), kube-apiserver, kube-controller-manager, kube-scheduler and a kubelet that runs pods on
the session's ``docker_engine`` (dockershim) and pulls images from the session's ``registry`` through it. The four
Kubernetes binaries come from the cache that ``scripts/build-kubernetes`` fills (see REAL-COMPONENTS.md). Every file
is under the run directory; the harness authenticates with a ``system:masters`` token from a token file.
"""

from __future__ import annotations

import json
import os
import secrets
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.harness.docker import DockerEngine, unmount_under
from tests.harness.process import ManagedProcess, free_port
from tests.harness.registry import Registry

KUBE_VERSION = "v1.20.2"
BINARIES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet")
NODE_NAME = "localhost"
PAUSE_IMAGE = "buildplat.local/pause:1"
# kubelet sets these on start (vm.overcommit_memory=1, kernel.panic=10, ...); we put the host's values back.
KERNEL_TUNABLES = ("vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops")
POD_LOG_DIRS = (Path("/var/log/pods"), Path("/var/log/containers"))  # fixed paths in kubelet 1.20


def binary_dir() -> Path:
    cache = Path(os.environ.get("BUILDPLAT_CACHE", Path.home() / ".cache" / "buildplat"))
    return cache / "kubernetes" / KUBE_VERSION / "bin"


@dataclass
class KubeCluster:
    server: str  # https://127.0.0.1:PORT
    token: str  # a system:masters bearer token
    kubeconfig: Path
    version: str  # what the API server reports, e.g. v1.20.2
    ca_file: Path
    node_name: str
    processes: list[ManagedProcess] = field(default_factory=list, repr=False)

    def api_client(self) -> Any:
        """A ``kubernetes.client.ApiClient`` configured from the kubeconfig written for this cluster."""
        from kubernetes import config

        return config.new_client_from_config(config_file=str(self.kubeconfig))

    def get(self, path: str) -> Any:
        """GET an API path as JSON with the harness token (no client library needed)."""
        return json.loads(self.get_text(path))

    def get_text(self, path: str) -> str:
        request = urllib.request.Request(self.server + path, headers={"Authorization": f"Bearer {self.token}"})
        context = ssl.create_default_context(cafile=str(self.ca_file))
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            return str(response.read().decode())


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_pki(pki: Path) -> None:
    """A throwaway CA, the API server's serving certificate, and the service-account signing key pair."""
    pki.mkdir(parents=True, exist_ok=True)
    days = "7"
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")  # P-256: instant, unlike RSA
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", days,
             "-subj", "/CN=buildplat-test-ca", "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=pki)  # fmt: skip
    (pki / "serving.ext").write_text(
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n"
        "subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,"
        "DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\n"
    )
    _openssl("req", *ec, "-keyout", "apiserver.key", "-out", "apiserver.csr",
             "-subj", "/CN=kube-apiserver", cwd=pki)  # fmt: skip
    _openssl("x509", "-req", "-in", "apiserver.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "apiserver.crt", "-days", days, "-extfile", "serving.ext", cwd=pki)  # fmt: skip
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "sa.key", cwd=pki)
    _openssl("ec", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=pki)


def write_kubeconfig(path: Path, server: str, ca_file: Path, token: str) -> None:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "buildplat-test", "cluster": {"server": server, "certificate-authority": str(ca_file)}}],
        "users": [{"name": "buildplat-admin", "user": {"token": token}}],
        "contexts": [{"name": "buildplat-test", "context": {"cluster": "buildplat-test", "user": "buildplat-admin"}}],
        "current-context": "buildplat-test",
    }
    path.write_text(yaml.safe_dump(config))


def _http_ok(url: str, context: ssl.SSLContext | None = None) -> bool:
    with urllib.request.urlopen(url, timeout=2, context=context) as response:
        return bool(response.status == 200)


def _insecure() -> ssl.SSLContext:
    # Only for /healthz of components serving a self-signed certificate they made themselves.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _wait(what: str, check: Any, timeout: float, processes: list[ManagedProcess]) -> Any:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        for process in processes:
            if not process.alive():
                raise RuntimeError(f"{process.name} died while waiting for {what}:\n{process.log_tail()}")
        try:
            result = check()
            if result:
                return result
        except Exception as error:  # not up yet: keep the reason for the timeout message
            last = error
        time.sleep(0.2)
    raise RuntimeError(f"timed out after {timeout:g} s waiting for {what} (last error: {last!r})")


def _read_tunables() -> dict[str, str]:
    return {key: Path("/proc/sys", key).read_text().strip() for key in KERNEL_TUNABLES}


def _restore_tunables(saved: dict[str, str]) -> None:
    for key, value in saved.items():
        path = Path("/proc/sys", key)
        if path.read_text().strip() != value:
            path.write_text(value + "\n")


def _remove_pod_logs(engine: DockerEngine, existed: set[Path]) -> None:
    """Remove kubelet's log entries for the pods still on ``engine`` (kubelet removes those of deleted pods).

    Only this cluster's entries: another test run's kubelet may share these directories.
    """
    import shutil

    listed = engine.cli("ps", "-a", "--no-trunc", "--format", '{{.ID}} {{.Label "io.kubernetes.pod.uid"}}')
    pairs = [line.split() for line in listed.stdout.decode().splitlines() if len(line.split()) == 2]
    uids, ids = {uid for _, uid in pairs}, {cid for cid, _ in pairs}
    pods, containers = POD_LOG_DIRS
    if pods.is_dir():
        for entry in pods.iterdir():
            if entry.name.rsplit("_", 1)[-1] in uids:
                shutil.rmtree(entry, ignore_errors=True)
    if containers.is_dir():
        for entry in containers.iterdir():
            if entry.name.removesuffix(".log").rsplit("-", 1)[-1] in ids:
                entry.unlink(missing_ok=True)
    for directory in POD_LOG_DIRS:
        if directory not in existed and directory.is_dir() and not any(directory.iterdir()):
            directory.rmdir()


def _node_ready(cluster: KubeCluster) -> bool:
    node = cluster.get(f"/api/v1/nodes/{cluster.node_name}")
    ready = any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"].get("conditions", []))
    return ready and not node["spec"].get("taints")


def _default_token_ready(cluster: KubeCluster) -> bool:
    # Pods are refused until their namespace's service account has a token; the tokens controller makes it.
    return bool(cluster.get("/api/v1/namespaces/default/serviceaccounts/default").get("secrets"))


def start_cluster(base: Path, bins: Path, engine: DockerEngine, procs: list[ManagedProcess]) -> KubeCluster:
    """Start the whole cluster under ``base``; every process started is appended to ``procs`` at once, so a
    caller can stop them (newest first) whether or not the start succeeded."""
    base.mkdir(parents=True, exist_ok=True)
    timings = base / "startup.log"
    began = phase_started = time.monotonic()

    def phase(what: str) -> None:  # startup.log says where the seconds went
        nonlocal phase_started
        now = time.monotonic()
        with timings.open("a") as log:
            log.write(f"{what}: {now - phase_started:.2f} s (total {now - began:.2f} s)\n")
        phase_started = now

    def start(name: str, argv: list[str], ready: Any, timeout: float = 60) -> ManagedProcess:
        process = ManagedProcess(name, argv, base / "logs" / f"{name}.log")
        procs.append(process)
        return process.start(ready=ready, timeout=timeout)

    pki = base / "pki"
    make_pki(pki)
    token = secrets.token_hex(24)
    (base / "tokens.csv").write_text(f'{token},buildplat-admin,buildplat-admin,"system:masters"\n')
    api_port = free_port()
    server = f"https://127.0.0.1:{api_port}"
    kubeconfig = base / "kubeconfig"
    write_kubeconfig(kubeconfig, server, pki / "ca.crt", token)
    cluster = KubeCluster(server, token, kubeconfig, "", pki / "ca.crt", NODE_NAME, procs)
    phase("pki")

    client_port, peer_port = free_port(), free_port()

    def etcd_healthy() -> bool:
        with urllib.request.urlopen(f"http://127.0.0.1:{client_port}/health", timeout=2) as response:
            return bool(json.loads(response.read())["health"] == "true")

    start("etcd", [
        "etcd", "--name=buildplat", f"--data-dir={base / 'etcd'}", "--logger=zap", "--log-level=warn",
        f"--listen-client-urls=http://127.0.0.1:{client_port}", f"--advertise-client-urls=http://127.0.0.1:{client_port}",
        f"--listen-peer-urls=http://127.0.0.1:{peer_port}", f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
        f"--initial-cluster=buildplat=http://127.0.0.1:{peer_port}",
        "--unsafe-no-fsync",  # throwaway data: speed over durability
    ], ready=etcd_healthy)  # fmt: skip
    phase("etcd")

    start("kube-apiserver", [
        str(bins / "kube-apiserver"), f"--etcd-servers=http://127.0.0.1:{client_port}",
        "--bind-address=127.0.0.1", f"--secure-port={api_port}", "--insecure-port=0",
        f"--cert-dir={base / 'apiserver'}",
        f"--tls-cert-file={pki / 'apiserver.crt'}", f"--tls-private-key-file={pki / 'apiserver.key'}",
        f"--client-ca-file={pki / 'ca.crt'}", f"--token-auth-file={base / 'tokens.csv'}", "--authorization-mode=RBAC",
        f"--service-account-key-file={pki / 'sa.pub'}", f"--service-account-signing-key-file={pki / 'sa.key'}",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        "--service-cluster-ip-range=10.0.0.0/24", "--allow-privileged=true", "--profiling=false",
        # The kubernetes Service cannot point at a loopback address; nothing here needs it.
        "--endpoint-reconciler-type=none",
    ], ready=lambda: cluster.get_text("/readyz") == "ok")  # fmt: skip
    cluster.version = str(cluster.get("/version")["gitVersion"])
    phase("kube-apiserver")

    common = [f"--kubeconfig={kubeconfig}", "--bind-address=127.0.0.1", "--port=0", "--leader-elect=false"]
    cm_port, sched_port = free_port(), free_port()
    start("kube-controller-manager", [
        str(bins / "kube-controller-manager"), *common, f"--secure-port={cm_port}",
        f"--cert-dir={base / 'controller-manager'}", f"--service-account-private-key-file={pki / 'sa.key'}",
        f"--root-ca-file={pki / 'ca.crt'}", "--use-service-account-credentials=false", "--profiling=false",
    ], ready=lambda: True)  # fmt: skip
    start("kube-scheduler", [
        str(bins / "kube-scheduler"), *common, f"--secure-port={sched_port}", f"--cert-dir={base / 'scheduler'}",
        "--profiling=false",
    ], ready=lambda: True)  # fmt: skip

    # The pod sandbox ("pause") image: busybox sh that exits at once on TERM, so pods stop without a grace wait.
    pause = "trap 'exit 0' TERM INT; sleep 2147483647 & wait"
    engine.import_busybox(PAUSE_IMAGE, [f"ENTRYPOINT {json.dumps(['/bin/sh', '-c', pause])}"])
    kubelet_dir, healthz_port = base / "kubelet", free_port()
    saved_tunables = _read_tunables()
    existed = {d for d in POD_LOG_DIRS if d.exists()}
    kubelet = ManagedProcess("kubelet", [
        str(bins / "kubelet"), f"--kubeconfig={kubeconfig}", f"--root-dir={kubelet_dir}",
        f"--cert-dir={kubelet_dir / 'pki'}", f"--volume-plugin-dir={kubelet_dir / 'volume-plugins'}",
        f"--seccomp-profile-root={kubelet_dir / 'seccomp'}",
        "--container-runtime=docker", f"--docker-endpoint={engine.host}",
        # cAdvisor's own endpoints: our engine, not the host defaults (its containerd probe waits 5 s for none).
        f"--docker={engine.host}", f"--containerd={engine.exec_root / 'containerd' / 'containerd.sock'}",
        f"--container-runtime-endpoint=unix://{base / 'dockershim.sock'}",
        f"--experimental-dockershim-root-directory={base / 'dockershim'}", f"--pod-infra-container-image={PAUSE_IMAGE}",
        # No --node-ip: kubelet refuses a loopback one; the API server reaches it by its Hostname, localhost.
        f"--hostname-override={NODE_NAME}", "--address=127.0.0.1", f"--port={free_port()}",
        "--read-only-port=0", f"--healthz-port={healthz_port}", "--healthz-bind-address=127.0.0.1",
        "--cgroup-driver=cgroupfs", "--cgroups-per-qos=false", "--enforce-node-allocatable=", "--fail-swap-on=false",
        "--eviction-hard=", "--oom-score-adj=0", "--make-iptables-util-chains=false",
        "--image-gc-high-threshold=100", "--image-gc-low-threshold=99", "--serialize-image-pulls=false",
        "--node-status-update-frequency=2s", "--v=1",
    ], base / "logs" / "kubelet.log")  # fmt: skip
    procs.append(kubelet)

    def after_kubelet() -> None:
        _remove_pod_logs(engine, existed)
        engine.remove_containers("k8s_")
        unmount_under(kubelet_dir)
        _restore_tunables(saved_tunables)

    kubelet.after_stop = after_kubelet
    kubelet.start(ready=lambda: True)
    # controller-manager, scheduler and kubelet need only the API server: they started together; now wait for each.
    _wait("kube-controller-manager", lambda: _http_ok(f"https://127.0.0.1:{cm_port}/healthz", _insecure()), 60, procs)
    _wait("kube-scheduler", lambda: _http_ok(f"https://127.0.0.1:{sched_port}/healthz", _insecure()), 60, procs)
    _wait("kubelet", lambda: _http_ok(f"http://127.0.0.1:{healthz_port}/healthz"), 60, procs)
    phase("controller-manager, scheduler, kubelet")
    _wait("node to be Ready and untainted", lambda: _node_ready(cluster), 90, procs)
    _wait("the default service account's token", lambda: _default_token_ready(cluster), 60, procs)
    phase("node Ready")
    return cluster


def stop_processes(procs: list[ManagedProcess]) -> None:
    for process in reversed(procs):  # kubelet first, etcd last
        process.stop()


@pytest.fixture(scope="session")
def kube_cluster(run_dir: Path, docker_engine: DockerEngine, registry: Registry) -> Iterator[KubeCluster]:
    """A Ready single-node cluster; pods pull ``{registry.host}/...`` images through ``docker_engine``."""
    bins = binary_dir()
    missing = [name for name in BINARIES if not os.access(bins / name, os.X_OK)]
    if missing:
        pytest.skip(f"Kubernetes {KUBE_VERSION} binaries {missing} not in {bins}: run scripts/install-test-deps")
    procs: list[ManagedProcess] = []
    try:
        yield start_cluster(run_dir / "kube", bins, docker_engine, procs)
    finally:
        stop_processes(procs)
