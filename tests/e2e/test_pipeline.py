"""The whole pipeline as a Jenkins job runs it, against every real component of the harness.

examples/hello-python lives in a git repository on the harness's git daemon. Each "build" is what the generated
Jenkinsfile does on a fresh pod agent: clone into an empty workspace, then one ``buildplat step STAGE --config
"$BUILDPLAT_CONFIG"`` process per stage in that workspace, with Jenkins' environment (``BUILD_NUMBER``,
``BUILD_URL``; no ``GIT_COMMIT``, which an explicit ``checkout(...)`` step does not export), each credential only
in the stage that binds it, and notify told the previous build's result. The platform config points at the
harness: aptly, the registry (the base image is the local Debian python base, pushed there), the cluster,
Hubot.

1. a good commit: build -> deb -> aptly (apt-get sees it and installs it) -> image in the registry -> deployed to
   dev, pods Ready -> verify runs the app's system tests against a pod over HTTP -> notify (first build, green:
   silent) -> promoted to stage;
2. a commit whose app exits at start: deploy fails fast with CrashLoopBackOff and rolls dev back to build 1; the
   failure handler's notify puts the reason in the team's room;
3. the fix: green again, Hubot says it is fixed, with the build's link; promoted to stage, then to prod only with
   an approval, on a fresh agent holding only the stashed pipeline state;
4. build 3 run again (same build number, a fresh workspace): the same deb, nothing published, the same image
   digest, no new revision.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.harness.aptly import AptRepo
from tests.harness.docker import DockerEngine
from tests.harness.gitd import GitServer, git
from tests.harness.hubot import Hubot
from tests.harness.kube import KubeCluster
from tests.harness.registry import Registry

pytestmark = [pytest.mark.slow, pytest.mark.docker, pytest.mark.kube]

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = REPO_ROOT / "examples" / "hello-python"
TEAM, APP = "examples", "hello-python"  # as examples/hello-python/default.json says
HUBOT_TOKEN_ENV = "BUILDPLAT_HUBOT_TOKEN"
CI_VARIABLES = ("BUILD_NUMBER", "BUILD_URL", "GIT_COMMIT", "GIT_URL", "GIT_BRANCH", "BRANCH_NAME", "BUILDPLAT_CONFIG")
CI_VARIABLES += ("BUILDPLAT_APPROVED_BY", "BUILDPLAT_STATE_DIR", "SOURCE_DATE_EPOCH", HUBOT_TOKEN_ENV, "KUBECONFIG")
# What a crashing commit does to app.py: the service exits before it listens.
CRASH = (
    'if __name__ == "__main__":\n    main()\n',
    'if __name__ == "__main__":\n    sys.exit("DATABASE_URL is not set")\n',
)


@dataclass
class Pipeline:
    """The team's side of things: the app repository, the platform config, and the servers behind it."""

    tmp: Path
    git_server: GitServer
    config: Path
    apt: dict[str, str]
    room: str
    hubot: Hubot
    cluster: KubeCluster
    registry: Registry
    docker: DockerEngine
    apt_repo: AptRepo

    def checkout(self, build: int, workspace: str | None = None) -> Path:
        """A fresh pod agent's workspace: an empty directory, then the job's checkout of the branch."""
        directory = self.tmp / (workspace or f"ws-{build}")
        git("clone", "--quiet", "--branch", "main", self.git_server.url(APP), str(directory))
        return directory

    def step(self, workspace: Path, build: int, *args: str, env: dict[str, str] | None = None) -> Step:
        """``sh 'buildplat step …'`` in the workspace, with the environment Jenkins gives that stage."""
        environment = {k: v for k, v in os.environ.items() if k not in CI_VARIABLES}
        environment.update(
            BUILD_NUMBER=str(build),
            BUILD_URL=f"https://jenkins.example.com/job/{TEAM}/job/{APP}/{build}/",
            BUILDPLAT_CONFIG=str(self.config),
            # A pod agent's home is as fresh as its workspace: notify's state file does not outlive the build.
            BUILDPLAT_STATE_DIR=str(workspace.parent / f"{workspace.name}-agent-state"),
            **(env or {}),
        )
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "buildplat", "step", *args],
            cwd=workspace,
            env=environment,
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        outcome = Step(args[0], done.returncode, done.stdout, done.stderr, time.monotonic() - started)
        assert "Traceback" not in outcome.output, outcome.output
        return outcome

    def notify(self, workspace: Path, build: int, *args: str) -> Step:
        """The notify stage, or the failure handler's notify: the only place the Hubot token is bound."""
        return self.step(workspace, build, "notify", *args, env={HUBOT_TOKEN_ENV: str(self.hubot.token)})

    def ci(self, build: int, previous: str, workspace: str | None = None) -> tuple[Path, dict[str, Step]]:
        """The CI stages of one build as the Jenkinsfile runs them, up to the first failure (then its handler)."""
        ws = self.checkout(build, workspace)
        done: dict[str, Step] = {}
        for stage in ("build", "package", "publish", "image", "deploy", "verify", "notify", "promote"):
            if stage == "verify":
                done[stage] = self.step(ws, build, "verify", "--service-url", f"{APP}={self.pod_url('dev')}")
            elif stage == "notify":
                done[stage] = self.notify(ws, build, "--previous-result", previous)
            elif stage == "promote":
                done[stage] = self.step(ws, build, "promote", "--to", "stage")
            else:
                done[stage] = self.step(ws, build, stage)
            if done[stage].returncode != 0:
                done["failure handler"] = self.notify(ws, build, "--result", "failure", "--previous-result", previous)
                break
        return ws, done

    # What the cluster and the registry say --------------------------------------------------------------------

    def get(self, path: str) -> Any:
        return self.cluster.get(path)

    def deployment(self, environment: str) -> dict[str, Any]:
        return dict(self.get(f"/apis/apps/v1/namespaces/{TEAM}-{environment}/deployments/{APP}"))

    def image(self, environment: str) -> str:
        return str(self.deployment(environment)["spec"]["template"]["spec"]["containers"][0]["image"])

    def revision(self, environment: str) -> int:
        return int(self.deployment(environment)["metadata"]["annotations"]["deployment.kubernetes.io/revision"])

    def ready_pods(self, environment: str) -> list[dict[str, Any]]:
        pods = self.get(f"/api/v1/namespaces/{TEAM}-{environment}/pods")["items"]
        return [p for p in pods if _ready(p) and not p["metadata"].get("deletionTimestamp")]

    def pod_url(self, environment: str) -> str:
        """A Ready pod's own address: this cluster has no kube-proxy or DNS, and the host reaches pod IPs."""
        pods = self.ready_pods(environment)
        return f"http://{pods[0]['status']['podIP']}:8080" if pods else "http://127.0.0.1:9"

    def ingress_host(self, environment: str) -> str:
        ingress = self.get(f"/apis/networking.k8s.io/v1/namespaces/{TEAM}-{environment}/ingresses/{APP}")
        return str(ingress["spec"]["rules"][0]["host"])

    def through_service(self, environment: str, path: str) -> str:
        """GET through the API server's proxy to the Service (the cluster's own view of it)."""
        url = f"{self.cluster.server}/api/v1/namespaces/{TEAM}-{environment}/services/{APP}:80/proxy{path}"
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {self.cluster.token}"})
        context = ssl.create_default_context(cafile=str(self.cluster.ca_file))
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            return str(response.read().decode())

    def labels(self, reference: str) -> dict[str, str]:
        """The image's labels as skopeo reads them from the registry (a tool independent of buildplat)."""
        done = subprocess.run(
            ["skopeo", "inspect", "--tls-verify=false", f"docker://{reference}"],
            capture_output=True,
            text=True,
            check=True,
        )
        return dict(json.loads(done.stdout)["Labels"] or {})


@dataclass
class Step:
    stage: str
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def ok(self) -> Step:
        assert self.returncode == 0, f"buildplat step {self.stage} exited {self.returncode}:\n{self.output}"
        return self


def _ready(pod: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions") or [])


def _local_python_base() -> Path:
    """The local Debian python base of `buildplat run` (built once per machine, then cached)."""
    from buildplat.images.rootfs import local_base_provider

    try:
        return local_base_provider(lambda text: print(text, file=sys.stderr))("python")
    except Exception as exc:  # any reason it cannot be built is a reason to skip here (not in CI)
        if os.environ.get("CI"):
            raise
        pytest.skip(f"the local python base image cannot be built here: {exc}")


@pytest.fixture
def pipeline(
    tmp_path: Path,
    *,
    git_server: GitServer,
    registry: Registry,
    docker_engine: DockerEngine,
    kube_cluster: KubeCluster,
    apt_repo: AptRepo,
    hubot: Hubot,
) -> Iterator[Pipeline]:
    from kubernetes import client

    files = {
        str(p.relative_to(EXAMPLE)): p.read_bytes()
        for p in sorted(EXAMPLE.rglob("*"))
        if p.is_file() and not {".buildplat", "build", "__pycache__"} & set(p.relative_to(EXAMPLE).parts)
    }
    repo_url = git_server.create_repo(APP, files)
    base_repository = f"{registry.namespace('e2e')}/base"
    layout = _local_python_base()
    subprocess.run(
        ["skopeo", "copy", "--quiet", "--dest-tls-verify=false", f"oci:{layout}:local",
         f"docker://{registry.host}/{base_repository}/python:stable"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    unique = secrets.token_hex(3)
    apt = {"api_url": apt_repo.api_url, "public_url": apt_repo.public_url, "repo": f"{TEAM}-{unique}"}
    apt["prefix"] = f"{TEAM}-{unique}"
    room = f"{TEAM}-{unique}"
    config = tmp_path / "platform.json"
    config.write_text(
        json.dumps(
            {
                "team": TEAM,
                "repositories": [{"url": repo_url}],
                "jenkins": {"url": "https://jenkins.example.com/"},
                "registry": {"url": registry.url, "base_repository": base_repository},
                "apt": apt,
                "hubot": {"url": hubot.url, "room": room, "token_env": HUBOT_TOKEN_ENV},
                "kubernetes": {
                    "kubeconfig": str(kube_cluster.kubeconfig),
                    "progress_deadline_seconds": 60,
                    "failure_grace_seconds": 3,
                    "rollout_timeout_seconds": 180,
                },
            },
            indent=2,
        )
    )
    core = client.CoreV1Api(kube_cluster.api_client())
    for environment in ("dev", "stage", "prod"):
        core.create_namespace({"metadata": {"name": f"{TEAM}-{environment}"}})
    try:
        yield Pipeline(tmp_path, git_server, config, apt, room, hubot, kube_cluster, registry, docker_engine, apt_repo)
    finally:
        for environment in ("dev", "stage", "prod"):
            core.delete_namespace(f"{TEAM}-{environment}")  # not waited for: pods go in the background


def test_commits_go_from_git_to_prod_through_every_real_component(pipeline: Pipeline) -> None:
    began = time.monotonic()
    token = str(pipeline.hubot.token)

    # 1. A good commit, the job's first build. ------------------------------------------------------------------
    head = pipeline.git_server.head(APP)
    ws1, build1 = pipeline.ci(1, previous="")
    for stage in ("build", "package", "publish", "image", "deploy", "verify", "notify", "promote"):
        build1[stage].ok()
    assert "failure handler" not in build1
    state1 = json.loads((ws1 / ".buildplat" / "pipeline.json").read_text())
    assert state1["version"] == "1.1.0"
    assert state1["commit"] == head  # from the checkout: Jenkins did not export GIT_COMMIT
    digest1 = state1["image"]["digest"]
    assert build1["image"].stdout == f"{digest1}\n"  # the digest alone on stdout, for the Jenkinsfile

    # The deb: in aptly, seen by apt-get, and installed by apt-get into a Debian root that has its dependency
    # (the base image itself, in a throwaway container on the host's network, where aptly's tree is served).
    deb1 = ws1 / ".buildplat" / state1["deb"]
    seen = pipeline.apt_repo.apt_get_visible(APP, "1.1.0", prefix=pipeline.apt["prefix"])
    assert seen is not None
    assert seen.read_bytes() == deb1.read_bytes()
    sources = f"deb [trusted=yes] {pipeline.apt['public_url']}/{pipeline.apt['prefix']} bookworm main"
    installed = pipeline.docker.cli(
        "run", "--rm", "--network", "host", "--user", "0", "--entrypoint", "/bin/sh",
        state1["image"]["base"]["reference"],
        "-ec",
        f"echo {shlex.quote(sources)} > /etc/apt/sources.list; rm -rf /etc/apt/sources.list.d; "
        "apt-get -qq update && apt-get install -y -qq --no-install-recommends hello-python >/dev/null && "
        "test -f /opt/hello-python/app.py && dpkg-query -W -f '${Status} ${Version}' hello-python",
    )  # fmt: skip
    assert installed.stdout.decode().endswith("install ok installed 1.1.0")

    # The image: by digest in the registry, labelled with where it came from.
    reference = state1["image"]["reference"]
    assert reference == f"{pipeline.registry.host}/{TEAM}/{APP}@{digest1}"
    labels = pipeline.labels(reference)
    assert labels["org.opencontainers.image.revision"] == head
    assert labels["org.opencontainers.image.source"] == pipeline.git_server.url(APP)
    assert labels["org.opencontainers.image.version"] == "1.1.0"
    assert labels["org.opencontainers.image.base.name"].endswith("/base/python:stable")

    # Deployed by digest, pulled from the registry and run by dockerd, Ready, answering through its Service.
    assert pipeline.image("dev") == reference
    assert pipeline.ready_pods("dev"), "no Ready pod in dev"
    assert "Hello, world!" in pipeline.through_service("dev", "/")
    assert pipeline.ingress_host("dev") == "dev.hello-python.examples.local"

    # verify ran the app's own system tests against the pod, with a JUnit report for Jenkins.
    assert "test_greeting" in build1["verify"].output
    assert state1["verify"]["result"] == "passed"
    report = (ws1 / ".buildplat" / state1["verify"]["report"]).read_text()
    assert 'failures="0"' in report
    assert "system_test.command" in report

    # A first build that is green announces nothing; stage now runs the very same image.
    assert "nothing to announce" in build1["notify"].output
    assert pipeline.hubot.messages(pipeline.room) == []
    assert pipeline.image("stage") == reference
    assert pipeline.ingress_host("stage") == "stage.hello-python.examples.local"
    revision1 = pipeline.revision("dev")

    # 2. A commit whose service exits at start. ----------------------------------------------------------------
    app_py = (EXAMPLE / "app.py").read_text()
    assert CRASH[0] in app_py
    pipeline.git_server.commit(APP, {"app.py": app_py.replace(*CRASH)}, "Read the database URL")
    ws2, build2 = pipeline.ci(2, previous="SUCCESS")
    for stage in ("build", "package", "publish", "image"):
        build2[stage].ok()
    deploy = build2["deploy"]
    assert deploy.returncode == 1, deploy.output
    assert "CrashLoopBackOff" in deploy.output
    assert "| DATABASE_URL is not set" in deploy.output  # the container's last words, read from its log
    assert f"rolled back to the pod template of revision {revision1}" in deploy.output
    assert deploy.seconds < 60, f"the failing deploy took {deploy.seconds:.0f} s; it should fail fast"
    assert "verify" not in build2
    assert pipeline.image("dev") == reference  # build 1's image serves again
    assert "Hello, world!" in pipeline.through_service("dev", "/")
    state2 = json.loads((ws2 / ".buildplat" / "pipeline.json").read_text())
    assert state2["stages"]["deploy"].startswith("failed: the rollout of Deployment hello-python")
    build2["failure handler"].ok()
    (failed,) = pipeline.hubot.wait_for_messages(1, room=pipeline.room)
    assert f"{TEAM}/{APP} 1.2.0" in failed["text"]
    assert "deploy failed" in failed["text"]
    assert "CrashLoopBackOff" in failed["text"]
    assert "https://jenkins.example.com/job/examples/job/hello-python/2/" in failed["text"]

    # 3. The fix: green again, announced as fixed; then stage, and prod after an approval. --------------------
    pipeline.git_server.commit(APP, {"app.py": app_py}, "Revert: read the database URL")
    ws3, build3 = pipeline.ci(3, previous="FAILURE")
    for stage in ("build", "package", "publish", "image", "deploy", "verify", "notify", "promote"):
        build3[stage].ok()
    messages = pipeline.hubot.wait_for_messages(2, room=pipeline.room)
    assert len(messages) == 2, messages
    assert f"{TEAM}/{APP} 1.3.0" in messages[1]["text"]
    assert "pipeline is fixed" in messages[1]["text"]  # a fresh agent knows only that build 2 failed
    assert "https://jenkins.example.com/job/examples/job/hello-python/3/" in messages[1]["text"]
    state3 = json.loads((ws3 / ".buildplat" / "pipeline.json").read_text())
    digest3 = state3["image"]["digest"]
    assert pipeline.image("stage").endswith(digest3)

    # The prod approval, on a fresh agent: a new checkout plus the stashed pipeline.json, nothing else.
    prod = pipeline.checkout(3, "ws-3-prod")
    (prod / ".buildplat").mkdir()
    shutil.copy2(ws3 / ".buildplat" / "pipeline.json", prod / ".buildplat" / "pipeline.json")
    unapproved = pipeline.step(prod, 3, "promote", "--to", "prod")
    assert unapproved.returncode == 1
    assert "needs an approval" in unapproved.output
    pipeline.step(prod, 3, "promote", "--to", "prod", env={"BUILDPLAT_APPROVED_BY": "erin"}).ok()
    assert pipeline.image("prod") == pipeline.image("stage") == pipeline.image("dev")
    assert pipeline.deployment("prod")["metadata"]["annotations"]["buildplat.dev/approved-by"] == "erin"
    assert pipeline.ingress_host("prod") == "hello-python.examples.local"
    assert "Hello, world!" in pipeline.through_service("prod", "/")

    # 4. Build 3 again, on a fresh agent: the same bytes everywhere, nothing new anywhere. ----------------------
    revision3 = pipeline.revision("dev")
    ws3b = pipeline.checkout(3, "ws-3-again")
    for stage in ("build", "package"):
        pipeline.step(ws3b, 3, stage).ok()
    again = json.loads((ws3b / ".buildplat" / "pipeline.json").read_text())
    assert again["deb_sha256"] == state3["deb_sha256"]  # reproducible across checkouts
    assert "already published" in pipeline.step(ws3b, 3, "publish").ok().output
    assert pipeline.step(ws3b, 3, "image").ok().stdout == f"{digest3}\n"
    pipeline.step(ws3b, 3, "deploy").ok()
    assert pipeline.revision("dev") == revision3
    assert len(pipeline.hubot.messages(pipeline.room)) == 2

    # Nothing the Hubot token could leak through.
    everything = [s.output for build in (build1, build2, build3) for s in build.values()]
    assert not any(token in text for text in everything)
    assert token not in json.dumps(pipeline.hubot.messages(pipeline.room))
    print(f"e2e pipeline: {time.monotonic() - began:.0f} s", file=sys.stderr)
