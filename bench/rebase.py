#!/usr/bin/env python3
"""bench/rebase: rolling a new base out to N app images by rebasing them, against rebuilding them with the image stage.

Run (as root, like the test suite): `.venv/bin/python bench/rebase.py [--apps 100] [--teams 10] [--payload-mb 5]`.

It starts its own registry and dockerd with the test harness (tests/harness/), in a temporary directory, and the
counting HTTP proxy of tests/image/proxy.py in a process of its own, through which both contenders talk to the
registry, so the bytes each uploads are measured the same way. Setup, not timed:

- two versions of a python base, busybox-based, built and pushed by `buildplat images build` (v1: python3
  3.11.2-1, v2: 3.11.4-1, so every app is a safe rebase);
- N apps over T teams, each a .deb made by dpkg-deb (-Zgzip, as the package stage does) with a payload of random
  bytes, built on v1 by the image stage (`run_image`, what `buildplat step image` runs).

Timed, one run each, both as the command line runs them, with the same number of apps at once (--workers):
- rebase: one `buildplat images rollout python --to v2` (the plan: catalog, tags, image indexes, manifests; then
  per app: mount the new base's layers, upload the new config, put the manifest, verify it, tag it, update the
  index; state in SQLite);
- rebuild: `buildplat step image` for every app on v2, as each app's pipeline runs it after packaging the next
  version (read the deb, build and upload the app layer, mount the base layers, upload the config, put the
  manifest and tag). Only the image stage is timed: a real rebuild also runs the whole pipeline before it.

Targets (issue 6): rebase at least 20 times faster than rebuilding; no layer bytes uploaded by the rebase.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from buildplat.clients.registry import RegistryClient  # noqa: E402
from buildplat.stages.context import PipelineState, StageContext  # noqa: E402
from buildplat.stages.image import run_image  # noqa: E402
from tests.appeng.helpers import BUSYBOX, build_base, busybox_context, pushed, write_platform  # noqa: E402
from tests.harness import process  # noqa: E402
from tests.harness.docker import start_engine  # noqa: E402
from tests.harness.registry import start_registry  # noqa: E402
from tests.image.helpers import platform_config  # noqa: E402

ROOT = "bench/base"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--apps", type=int, default=100)
    parser.add_argument("--teams", type=int, default=10)
    parser.add_argument("--payload-mb", type=float, default=5.0, help="random bytes in each app's deb")
    parser.add_argument("--workers", type=int, default=4, help="apps at once, for both contenders")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/rebase: run as root (dockerd needs it)", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="bench-rebase-"))
    try:
        return _bench(work, args.apps, args.teams, args.payload_mb, args.workers)
    finally:
        process.stop_all()
        subprocess.run(["rm", "-rf", str(work)], check=False)


def _say(text: str) -> None:
    print(f"bench/rebase: {text}", file=sys.stderr, flush=True)


def _bench(work: Path, count: int, teams: int, payload_mb: float, workers: int) -> int:
    registry = start_registry(work / "registry")
    engine = start_engine(work / "docker")
    proxy = _CountingProxy(registry.host, work)
    engine.import_busybox(BUSYBOX)
    config = write_platform(work / "appeng.json", team="appeng", registry_url=registry.url, root=ROOT)
    _say("building and pushing base v1 and v2 with `buildplat images build` (not timed)")
    v1 = pushed(build_base(engine, config, busybox_context(work / "v1", "python", "3.11.2-1", "v1"), "python"))
    v2 = pushed(build_base(engine, config, busybox_context(work / "v2", "python", "3.11.4-1", "v2"), "python"))
    team_names = [f"team{i:02d}" for i in range(teams)]
    apps = [f"{team_names[i % teams]}/app{i:03d}" for i in range(count)]
    _say(f"making {count} debs of {payload_mb:g} MB and building the apps on v1 with the image stage (not timed)")
    debs = {app: _make_deb(work / "debs", app, "1.1.0", payload_mb, seed) for seed, app in enumerate(apps)}
    # What each app's pipeline would package again before its image stage: the same payload, the next version.
    rebuilt = {app: _make_deb(work / "debs", app, "1.2.0", payload_mb, seed) for seed, app in enumerate(apps)}
    with contextlib.redirect_stdout(io.StringIO()):
        for app in apps:
            _image_stage(registry.url, v1.version, app, debs[app], work / "v1-apps")
    configs = [str(write_platform(work / f"{team}.json", team=team, registry_url=proxy.url, root=ROOT))
               for team in team_names]  # fmt: skip

    _say(f"rebase: buildplat images rollout of {count} apps onto v2, {workers} workers")
    proxy.take_counts()
    started = time.monotonic()
    rollout = _cli("images", "rollout", "python", "--to", v2.version, "--config", *configs, "--state-dir",
                   str(work / "state"), "--workers", str(workers), "--per-team", str(count))  # fmt: skip
    rebase_seconds = time.monotonic() - started
    rebase_bytes = proxy.take_counts()
    assert f"{count} done, 0 failed" in rollout, rollout

    _say(f"rebuild: buildplat step image for {count} apps on v2, {workers} at a time")
    for app in apps:
        _app_dir(work / "v2-apps", app, rebuilt[app], build_number=2)
    v2_config = write_platform(work / "rebuild.json", team="appeng", registry_url=proxy.url, root=ROOT,
                               base_tag=v2.version)  # fmt: skip
    started = time.monotonic()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda app: _cli("step", "image", "--app", str(work / "v2-apps" / app), "--config",
                                       str(v2_config), "--build-number", "2"), apps))  # fmt: skip
    rebuild_seconds = time.monotonic() - started
    rebuild_bytes = proxy.take_counts()

    client = RegistryClient(registry.url)
    rebased_tag = f"1.1.0-base-{v2.version}"
    rebase_configs = {client.get_manifest(app, rebased_tag).config.digest for app in apps}
    rebuild_configs = {client.get_manifest(app, "1.2.0").config.digest for app in apps}
    rebase_layer_bytes = sum(size for digest, size in rebase_bytes.items() if digest not in rebase_configs)
    rebuild_layer_bytes = sum(size for digest, size in rebuild_bytes.items() if digest not in rebuild_configs)
    sample = apps[-1]
    ran = engine.cli("run", "--rm", f"{registry.host}/{sample}:{rebased_tag}").stdout.decode().split()
    assert ran == [f"hello-from-{sample.split('/')[1]}", "v2"], ran

    ratio = rebuild_seconds / rebase_seconds
    print(f"bench/rebase ({count} apps in {teams} teams, {payload_mb:g} MB payload each, {workers} workers, one run)")
    print(f"  base v1 {v1.version} -> v2 {v2.version}")
    print(
        f"  rebase  (images rollout)   {rebase_seconds:7.2f} s   uploaded {sum(rebase_bytes.values()) / 1e6:8.3f} MB"
        f"   layer bytes {rebase_layer_bytes}   ({len(rebase_bytes)} blobs: configs only)"
    )
    print(
        f"  rebuild (image stage)      {rebuild_seconds:7.2f} s   uploaded {sum(rebuild_bytes.values()) / 1e6:8.3f} MB"
        f"   layer bytes {rebuild_layer_bytes}"
    )
    print(f"  rebuild/rebase {ratio:.1f}x (target >= 20x); rebase layer bytes {rebase_layer_bytes} (target 0)")
    ok = ratio >= 20 and rebase_layer_bytes == 0
    print(f"  {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


class _CountingProxy:
    """tests/image/proxy.py in a process of its own: it counts the body bytes of every blob upload by digest."""

    def __init__(self, upstream: str, work: Path) -> None:
        port_file = work / "proxy.port"
        argv = [sys.executable, "-m", "tests.image.proxy", upstream, str(port_file)]
        managed = process.ManagedProcess("proxy", argv, work / "proxy.log", cwd=REPO)
        managed.start(ready=lambda: port_file.exists() and bool(port_file.read_text()), timeout=30)
        self.url = f"http://127.0.0.1:{port_file.read_text()}"

    def take_counts(self) -> dict[str, int]:
        """Blob digest -> bytes uploaded since the last call."""
        with urllib.request.urlopen(f"{self.url}/_proxy/uploaded", timeout=10) as reply:  # noqa: S310 - loopback
            counts: dict[str, int] = json.loads(reply.read())
        return counts


def _image_stage(url: str, base_version: str, app: str, deb: Path, out: Path) -> None:
    """Setup: the image stage in this process, the app's deb onto ROOT/python:<base_version>, tagged 1.1.0."""
    from buildplat.spec.model import load_app_file

    directory = _app_dir(out, app, deb, build_number=1)
    spec = load_app_file(directory)
    platform = platform_config(url, ROOT, base_tag=base_version)
    ctx = StageContext(app=spec, repo=directory, out=directory / ".buildplat", build_number=1, platform=platform,
                       console=io.StringIO())  # fmt: skip
    run_image(ctx, PipelineState(app=app, version=ctx.version, build_number=1, deb=deb.name))


def _app_dir(root: Path, app: str, deb: Path, *, build_number: int) -> Path:
    """An app checkout as a pipeline leaves it before the image stage: default.json, and the deb in .buildplat/."""
    team, name = app.split("/")
    directory = root / app
    out = directory / ".buildplat"
    out.mkdir(parents=True)
    command = ["/bin/sh", "-c", f"cat /opt/{name}/hello.txt /etc/base-release"]
    default = {"namespace": team, "application": {"name": name, "type": "worker", "version": "1.x.x"},
               "build": {"system_setup": {"buildfacts": ["python"]}}, "artifacts": "dist/",
               "runtime": {"command": command}}  # fmt: skip
    (directory / "default.json").write_text(json.dumps(default))
    (out / deb.name).write_bytes(deb.read_bytes())
    state = {"app": app, "version": f"1.{build_number}.0", "build_number": build_number, "deb": deb.name}
    (out / "pipeline.json").write_text(json.dumps(state))
    return directory


def _cli(*args: str) -> str:
    """``buildplat ARGS`` in a process of its own, as Jenkins or App Eng run it; its stdout."""
    done = subprocess.run([sys.executable, "-m", "buildplat", *args], capture_output=True, text=True, check=False,
                          cwd=REPO)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"buildplat {' '.join(args[:2])} exited {done.returncode}:\n{done.stdout}{done.stderr}")
    return done.stdout


def _make_deb(directory: Path, app: str, version: str, payload_mb: float, seed: int) -> Path:
    name = app.split("/")[1]
    root = directory / f"root-{name}-{version}"
    payload = root / "opt" / name
    payload.mkdir(parents=True)
    (payload / "hello.txt").write_text(f"hello-from-{name}\n")
    (payload / f"{name}.jar").write_bytes(random.Random(seed).randbytes(int(payload_mb * 1e6)))
    (root / "DEBIAN").mkdir()
    (root / "DEBIAN" / "control").write_text(
        f"Package: {name}\nVersion: {version}\nArchitecture: all\nMaintainer: Bench <bench@example.com>\n"
        "Description: benchmark app\n"
    )
    deb = directory / f"{name}_{version}_all.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(root), str(deb)], check=True,
                   capture_output=True)  # fmt: skip
    return deb


if __name__ == "__main__":
    sys.exit(main())
