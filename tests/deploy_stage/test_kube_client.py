"""The Kubernetes client layer against a scripted HTTP server: what it sends, what it retries, what it reports."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from buildplat.clients import kube
from buildplat.errors import BuildplatError, ServiceError

TOKEN = "s3cret-token-never-shown"


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeApiServer:
    """Answers each request with the next scripted reply for its path (the last one repeats) and records it."""

    url: str = ""
    replies: dict[str, list[Reply]] = field(default_factory=dict)
    seen: list[dict[str, Any]] = field(default_factory=list)

    def reply(self, path: str, *replies: Reply) -> None:
        self.replies[path] = list(replies)

    def answer(self, path: str) -> Reply:
        queue = self.replies.get(path.split("?", 1)[0]) or [Reply(404, {"kind": "Status", "message": "not found"})]
        return queue.pop(0) if len(queue) > 1 else queue[0]


@pytest.fixture
def server() -> Iterator[FakeApiServer]:
    fake = FakeApiServer()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            fake.seen.append(
                {
                    "method": self.command,
                    "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": body,
                }
            )
            reply = fake.answer(self.path)
            raw = isinstance(reply.body, bytes)  # sent as it is (a log), else as JSON
            data = reply.body if raw else json.dumps(reply.body).encode() if reply.body is not None else b""
            self.send_response(reply.status)
            for key, value in {"Content-Type": "application/json", **reply.headers}.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_PATCH = _serve

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield fake
    httpd.shutdown()
    httpd.server_close()


def client_for(url: str, tmp_path: Path, sleeps: list[float]) -> kube.KubeClient:
    """A client built the production way, from a kubeconfig file, with a recording sleep."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": url}}],
        "users": [{"name": "u", "user": {"token": TOKEN}}],
        "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "ctx",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    client = kube.connect(str(path), "ctx")
    client.sleep = sleeps.append
    return client


def test_apply_is_a_server_side_apply_patch(server: FakeApiServer, tmp_path: Path) -> None:
    path = "/apis/apps/v1/namespaces/team-dev/deployments/web"
    server.reply(path, Reply(200, {"kind": "Deployment", "metadata": {"name": "web"}}))
    manifest = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "team-dev"}}
    answer = client_for(server.url, tmp_path, []).apply(manifest)
    assert answer["metadata"]["name"] == "web"
    (request,) = server.seen
    assert request["method"] == "PATCH"
    assert request["path"] == f"{path}?fieldManager=buildplat&force=true"
    assert request["headers"]["content-type"] == "application/apply-patch+yaml"
    assert request["headers"]["authorization"] == f"Bearer {TOKEN}"
    assert yaml.safe_load(request["body"]) == manifest


def test_names_are_quoted_into_paths() -> None:
    assert kube.object_path("v1", "Service", "team-dev", "a/b?c") == "/api/v1/namespaces/team-dev/services/a%2Fb%3Fc"


def test_discovery_picks_the_newest_served_version(server: FakeApiServer, tmp_path: Path) -> None:
    versions = [{"groupVersion": "autoscaling/v1"}, {"groupVersion": "autoscaling/v2beta2"}]
    server.reply("/apis/autoscaling", Reply(200, {"versions": versions}))
    server.reply("/apis/networking.k8s.io", Reply(200, {"versions": [{"groupVersion": "networking.k8s.io/v1beta1"}]}))
    client = client_for(server.url, tmp_path, [])
    assert client.autoscaling_version() == "autoscaling/v2beta2"
    assert client.ingress_version() == "networking.k8s.io/v1beta1"


def test_no_served_version_is_a_clear_error(server: FakeApiServer, tmp_path: Path) -> None:
    with pytest.raises(ServiceError, match=re.escape("serves none of networking.k8s.io/v1, networking.k8s.io/v1beta1")):
        client_for(server.url, tmp_path, []).ingress_version()


def test_429_and_5xx_are_retried_honouring_retry_after(server: FakeApiServer, tmp_path: Path) -> None:
    path = "/apis/apps/v1/namespaces/team-dev/deployments/web"
    busy = {"kind": "Status", "message": "too many requests"}
    server.reply(path, Reply(429, busy, {"Retry-After": "3"}), Reply(503, busy), Reply(200, {"metadata": {}}))
    sleeps: list[float] = []
    assert client_for(server.url, tmp_path, sleeps).deployment("team-dev", "web") == {"metadata": {}}
    assert sleeps == [3.0, kube.DEFAULT_BACKOFF[1]]
    assert len(server.seen) == 3


def test_retries_end_with_a_retryable_service_error(server: FakeApiServer, tmp_path: Path) -> None:
    server.reply("/apis/apps/v1/namespaces/x/deployments/web", Reply(500, {"message": "etcd timeout"}))
    sleeps: list[float] = []
    with pytest.raises(ServiceError) as caught:
        client_for(server.url, tmp_path, sleeps).deployment("x", "web")
    assert caught.value.retryable
    assert "answered 500: etcd timeout" in caught.value.message
    assert len(server.seen) == len(kube.DEFAULT_BACKOFF) + 1
    assert sleeps == list(kube.DEFAULT_BACKOFF)


def test_forbidden_is_not_retried_and_never_shows_the_token(server: FakeApiServer, tmp_path: Path) -> None:
    message = 'deployments.apps is forbidden: User "system:serviceaccount:x:jenkins" cannot patch'
    server.reply("/apis/apps/v1/namespaces/x/deployments/web", Reply(403, {"kind": "Status", "message": message}))
    with pytest.raises(kube.KubeStatusError) as caught:
        client_for(server.url, tmp_path, []).deployment("x", "web")
    assert caught.value.status == 403
    assert not caught.value.retryable
    assert "forbidden" in caught.value.message
    assert "Role" in (caught.value.hint or "")
    assert len(server.seen) == 1
    assert TOKEN not in caught.value.message + (caught.value.hint or "")


def test_a_missing_object_reads_as_none(server: FakeApiServer, tmp_path: Path) -> None:
    assert client_for(server.url, tmp_path, []).deployment("x", "nothing") is None


def test_an_unreachable_server_is_a_retryable_error(tmp_path: Path) -> None:
    sleeps: list[float] = []
    client = client_for("http://127.0.0.1:9", tmp_path, sleeps)
    with pytest.raises(ServiceError, match=re.escape("cannot reach http://127.0.0.1:9")) as caught:
        client.deployment("x", "web")
    assert caught.value.retryable
    assert len(sleeps) == len(kube.DEFAULT_BACKOFF)


def test_lists_follow_continue_tokens(server: FakeApiServer, tmp_path: Path) -> None:
    path = "/api/v1/namespaces/x/pods"
    first = {"items": [{"n": 1}], "metadata": {"continue": "next-page"}}
    server.reply(path, Reply(200, first), Reply(200, {"items": [{"n": 2}], "metadata": {}}))
    items = client_for(server.url, tmp_path, []).list_objects("v1", "Pod", "x", labels="a=b")
    assert items == [{"n": 1}, {"n": 2}]
    assert "continue=next-page" in server.seen[1]["path"]
    assert "labelSelector=a%3Db" in server.seen[0]["path"]


def test_a_broken_kubeconfig_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "kubeconfig").write_text("apiVersion: v1\nkind: Config\ncontexts: []\n")
    with pytest.raises(BuildplatError, match="cannot load the Kubernetes configuration") as caught:
        kube.connect(str(tmp_path / "kubeconfig"), "missing")
    assert "kubernetes.kubeconfig" in (caught.value.hint or "")


def test_a_bound_kubeconfig_wins_over_the_pods_service_account(
    server: FakeApiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Jenkins binds a kubeconfig credential as $KUBECONFIG on an agent pod that also has in-cluster settings."""
    client_for(server.url, tmp_path, [])  # writes tmp_path/kubeconfig
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "kubeconfig"))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    assert kube.connect().server == server.url


def test_pod_logs_are_read_as_text_and_an_unreadable_log_is_none(server: FakeApiServer, tmp_path: Path) -> None:
    path = "/api/v1/namespaces/team-dev/pods/web-1/log"
    server.reply(path, Reply(200, b"starting\nDATABASE_URL is not set\n", {"Content-Type": "text/plain"}))
    client = client_for(server.url, tmp_path, [])
    assert client.pod_log("team-dev", "web-1", "web", previous=True, lines=5) == "starting\nDATABASE_URL is not set\n"
    (request,) = server.seen
    assert request["path"] == f"{path}?container=web&tailLines=5&limitBytes=8192&previous=true"
    assert request["headers"]["accept"] == "*/*"  # what kubectl sends; v1.20 answers 406 to text/plain
    forbidden = {"kind": "Status", "message": 'pods "web-1" is forbidden: cannot get resource "pods/log"'}
    server.reply(path, Reply(403, forbidden))
    assert client.pod_log("team-dev", "web-1", "web") is None
    server.reply(path, Reply(400, {"kind": "Status", "message": "previous terminated container not found"}))
    assert client.pod_log("team-dev", "web-1", "web", previous=True) is None
