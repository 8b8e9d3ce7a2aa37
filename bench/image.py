#!/usr/bin/env python3
"""bench/image: the daemonless image stage against `docker build` + `docker push`, same base, same deb.

Run (as root, like the test suite): `.venv/bin/python bench/image.py [--base debian|busybox] [--payload-mb N]`.

It starts its own registry and dockerd with the test harness (tests/harness/registry.py, docker.py), in a
temporary directory, and a counting HTTP proxy in front of the registry (tests/image/proxy.py, in a process of
its own) through which both contenders push, so the bytes each uploads are measured the same way. Setup, not timed:

- the base: `debian` is buildplat's local python base (Debian bookworm minbase + python3, built by
  buildplat.images.rootfs on first use, cached), `busybox` a one-layer busybox image; pushed to the registry
  with skopeo and pulled into dockerd (so `docker build` starts from a local FROM, as on a warm CI host);
- the deb: dpkg-deb of a payload of N MB (random bytes, so compression does not flatter anyone).

Timed, one run each, into separate repositories:
- docker: `docker build` (FROM base@digest, COPY the deb, RUN dpkg -i; classic builder) + `docker push`;
- buildplat: read the deb, build the layer, mount the base layers, upload layer + config, put manifest and tag
  (`buildplat.stages.image.assemble`, what `buildplat step image` runs).

Targets (issue 5): buildplat at most one fifth of docker's wall time; zero base-layer bytes uploaded.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from buildplat.clients.oci_layout import OciLayout  # noqa: E402
from buildplat.clients.registry import RegistryClient  # noqa: E402
from buildplat.stages.context import StageContext  # noqa: E402
from buildplat.stages.image import assemble  # noqa: E402
from buildplat.stages.image_layer import read_deb  # noqa: E402
from tests.harness import process  # noqa: E402
from tests.harness.docker import start_engine  # noqa: E402
from tests.harness.registry import start_registry  # noqa: E402
from tests.image.helpers import make_app, make_base_layout, skopeo_push_layout  # noqa: E402

TAG = "1.0.0"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", choices=("debian", "busybox"), default="debian")
    parser.add_argument("--payload-mb", type=float, default=5.0)
    parser.add_argument(
        "--deb-compression", choices=("gzip", "xz"), default="gzip", help="gzip (default): what the package stage makes"
    )
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/image: run as root (dockerd and the Debian base need it)", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="bench-image-"))
    try:
        return _bench(work, args.base, args.payload_mb, args.deb_compression)
    finally:
        process.stop_all()
        subprocess.run(["rm", "-rf", str(work)], check=False)


def _bench(work: Path, base_kind: str, payload_mb: float, compression: str) -> int:
    say = lambda text: print(f"bench/image: {text}", file=sys.stderr, flush=True)  # noqa: E731
    registry = start_registry(work / "registry")
    engine = start_engine(work / "docker")
    proxy = _start_proxy(registry.host, work)
    host = proxy.url.split("://", 1)[1]
    layout = _base_layout(work, base_kind, say)
    base_repo = "bench/base/python"
    say(f"pushing the {base_kind} base to the registry and pulling it into dockerd (not timed)")
    skopeo_push_layout(layout, "stable", f"{registry.host}/{base_repo}:stable")
    client = RegistryClient(proxy.url)
    base = client.get_manifest(base_repo, "stable")
    base_layers = {d.digest: d.size for d in base.layers}
    engine.cli("pull", f"{host}/{base_repo}@{base.digest}")
    deb = _make_deb(work, payload_mb, compression)
    say(
        f"deb: {deb.name}, {deb.stat().st_size / 1e6:.1f} MB; base: {len(base_layers)} layer(s), "
        f"{sum(base_layers.values()) / 1e6:.1f} MB"
    )

    # docker build + docker push
    context = work / "docker-context"
    context.mkdir()
    (context / "app.deb").write_bytes(deb.read_bytes())
    (context / "Dockerfile").write_text(
        f"FROM {host}/{base_repo}@{base.digest}\nUSER 0\nCOPY app.deb /tmp/app.deb\n"
        "RUN dpkg -i /tmp/app.deb && rm -f /tmp/app.deb\nUSER 65532:65532\n"
    )
    proxy.take_counts()
    started = time.monotonic()
    engine.cli("build", "--quiet", "--tag", f"{host}/bench/app-docker:{TAG}", str(context))
    engine.cli("push", f"{host}/bench/app-docker:{TAG}")
    docker_seconds = time.monotonic() - started
    docker_bytes = proxy.take_counts()

    # buildplat: the daemonless image stage
    app = make_app(name="bench-app", namespace="bench")
    out = work / "out"
    out.mkdir()
    console = _Timestamped()
    ctx = StageContext(app=app, repo=out, out=out, build_number=1, console=console)
    proxy.take_counts()
    ours_client = RegistryClient(proxy.url)
    started = console.started = time.monotonic()
    pushed = assemble(
        ctx,
        read_deb(deb),
        base=ours_client,
        base_repository=base_repo,
        base_reference="stable",
        target=ours_client,
        target_repository="bench/app-buildplat",
        tag=TAG,
    )
    ours_seconds = time.monotonic() - started
    ours_bytes = proxy.take_counts()

    check = engine.cli(
        "run",
        "--rm",
        "--entrypoint",
        "/bin/cat",
        f"{host}/bench/app-buildplat@{pushed.digest}",
        "/var/lib/dpkg/status.d/bench-app",
    ).stdout.decode()
    assert "Package: bench-app" in check, "the pushed image runs and holds the package"

    for line in console.lines:
        say(f"  {line}")
    ratio = ours_seconds / docker_seconds
    base_docker = sum(v for k, v in docker_bytes.items() if k in base_layers)
    base_ours = sum(v for k, v in ours_bytes.items() if k in base_layers)
    print(f"bench/image ({base_kind} base, {payload_mb:g} MB payload, {compression} deb, one run each)")
    print(
        f"  docker build + push   {docker_seconds:7.2f} s   uploaded {sum(docker_bytes.values()) / 1e6:7.2f} MB"
        f"   base-layer bytes uploaded {base_docker}"
    )
    print(
        f"  buildplat image       {ours_seconds:7.2f} s   uploaded {sum(ours_bytes.values()) / 1e6:7.2f} MB"
        f"   base-layer bytes uploaded {base_ours}   (client count: {ours_client.stats.bytes_uploaded} B,"
        f" {len(ours_client.stats.mounted)} mounted)"
    )
    print(f"  ratio buildplat/docker {ratio:.3f} (target <= 0.2); docker/buildplat {1 / ratio:.1f}x")
    ok = ratio <= 0.2 and base_ours == 0
    print(f"  {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


class _ProxyProcess:
    """The counting proxy in a process of its own, so it takes no time from the contenders' processes."""

    def __init__(self, url: str) -> None:
        self.url = url

    def take_counts(self) -> dict[str, int]:
        with urllib.request.urlopen(f"{self.url}/_proxy/uploaded", timeout=10) as reply:  # noqa: S310 - http on loopback
            counts: dict[str, int] = json.loads(reply.read())
        return counts


def _start_proxy(upstream: str, work: Path) -> _ProxyProcess:
    port_file = work / "proxy.port"
    managed = process.ManagedProcess(
        "proxy", [sys.executable, "-m", "tests.image.proxy", upstream, str(port_file)], work / "proxy.log", cwd=REPO
    )
    managed.start(ready=lambda: port_file.exists() and bool(port_file.read_text()), timeout=30)
    return _ProxyProcess(f"http://127.0.0.1:{port_file.read_text()}")


class _Timestamped(io.StringIO):
    """The stage's progress lines, each with the time since the stage started."""

    def __init__(self) -> None:
        super().__init__()
        self.started = time.monotonic()
        self.lines: list[str] = []

    def write(self, text: str, /) -> int:
        for line in text.splitlines():
            self.lines.append(f"+{time.monotonic() - self.started:5.2f} s {line}")
        return len(text)


def _base_layout(work: Path, kind: str, say: object) -> Path:
    if kind == "busybox":
        path = work / "busybox-base"
        make_base_layout(path, "stable")
        return path
    from buildplat.images.rootfs import ensure_local_base
    from buildplat.stages.image import LOCAL_BASE_TAG

    cached = ensure_local_base("python", say=say)  # type: ignore[arg-type]
    path = work / "debian-base"  # the same image, re-tagged "stable" in a copy of the layout
    store, source = OciLayout(path), OciLayout(cached)
    manifest = source.get_manifest("base", LOCAL_BASE_TAG)
    for blob in [manifest.config, *manifest.layers]:
        store.copy_blob("base", blob, source, "base")
    store.put_manifest("base", "stable", manifest.raw, manifest.media_type)
    return path


def _make_deb(work: Path, payload_mb: float, compression: str) -> Path:
    root = work / "deb-root"
    payload = root / "opt" / "bench-app"
    payload.mkdir(parents=True)
    generator = random.Random(5)
    remaining = int(payload_mb * 1e6)
    index = 0
    while remaining > 0:
        size = min(remaining, generator.randint(1_000, 200_000))
        (payload / f"file-{index:04d}.bin").write_bytes(generator.randbytes(size))
        remaining -= size
        index += 1
    (root / "DEBIAN").mkdir()
    (root / "DEBIAN" / "control").write_text(
        "Package: bench-app\nVersion: 1.0.0\nArchitecture: all\nMaintainer: Bench <bench@example.com>\n"
        "Description: benchmark payload\n"
    )
    deb = work / "bench-app_1.0.0_all.deb"
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", f"-Z{compression}", "--build", str(root), str(deb)],
        check=True,
        capture_output=True,
    )
    return deb


if __name__ == "__main__":
    sys.exit(main())
