#!/usr/bin/env python3
"""bench/rebase: rolling a new base out to N app images by rebasing them, against rebuilding them with the image stage.

Run (as root, like the test suite): `.venv/bin/python bench/rebase.py [--apps 100] [--teams 10] [--payload-mb 5]`.

It starts its own registry and dockerd with the test harness (tests/harness/), in a temporary directory. Setup, not
timed:

- three versions of a python base, busybox-based, built and pushed by `buildplat images build` (python3 3.11.2-1,
  3.11.4-1, 3.11.5-1: every app is a safe rebase each time);
- N apps over T teams, each a .deb made by dpkg-deb (-Zgzip, as the package stage does) with a payload of random
  bytes, built on v1 by the image stage (`run_image`, what `buildplat step image` runs).

Each contender runs twice, both times as the command line runs it and with the same number of apps at once
(--workers):
- counted: through the counting HTTP proxy of tests/image/proxy.py (a process of its own), which measures the
  bytes of every blob upload by digest, the same way for both: the rebase onto v2, the rebuild on v2;
- timed: straight to the registry, the figure the target is about: the rebase onto v3, the rebuild on v3 (the
  proxy opens a connection to the registry per request and costs a few milliseconds each, which weighs on the
  rebase's small requests far more than on the rebuild's uploads, so its timings are printed for reference only).

- rebase: one `buildplat images rollout python --to vN` (the plan: catalog, tags, image indexes, manifests and
  configs; then per app: mount the new base's layers, upload the new config, put the manifest, verify it, tag it,
  update the index; state in SQLite);
- rebuild: `buildplat step image` for every app on vN, as each app's pipeline runs it after packaging the next
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
    _say("building and pushing base v1, v2 and v3 with `buildplat images build` (not timed)")
    bases = [
        pushed(build_base(engine, config, busybox_context(work / name, "python", python, name), "python"))
        for name, python in (("v1", "3.11.2-1"), ("v2", "3.11.4-1"), ("v3", "3.11.5-1"))
    ]
    team_names = [f"team{i:02d}" for i in range(teams)]
    apps = [f"{team_names[i % teams]}/app{i:03d}" for i in range(count)]
    _say(f"making {count} debs of {payload_mb:g} MB and building the apps on v1 with the image stage (not timed)")
    debs = {app: _make_deb(work / "debs", app, "1.1.0", payload_mb, seed) for seed, app in enumerate(apps)}
    with contextlib.redirect_stdout(io.StringIO()):
        for app in apps:
            _image_stage(registry.url, bases[0].version, app, debs[app], work / "v1-apps")

    runs: dict[tuple[str, str], tuple[float, dict[str, int]]] = {}
    for via, base, url in (("proxy", bases[1], proxy.url), ("direct", bases[2], registry.url)):
        configs = [str(write_platform(work / f"{via}-{team}.json", team=team, registry_url=url, root=ROOT))
                   for team in team_names]  # fmt: skip
        _say(f"rebase ({via}): buildplat images rollout of {count} apps onto {base.version}, {workers} workers")
        proxy.take_counts()
        started = time.monotonic()
        rollout = _cli("images", "rollout", "python", "--to", base.version, "--config", *configs, "--state-dir",
                       str(work / f"state-{via}"), "--workers", str(workers), "--per-team", str(count))  # fmt: skip
        runs["rebase", via] = time.monotonic() - started, proxy.take_counts()
        assert f"{count} done, 0 failed" in rollout, rollout

        build = 2 if via == "proxy" else 3
        _say(f"rebuild ({via}): buildplat step image for {count} apps on {base.version}, {workers} at a time")
        for seed, app in enumerate(apps):  # what each app's pipeline packaged: the same payload, the next version
            deb = _make_deb(work / f"debs-{build}", app, f"1.{build}.0", payload_mb, seed)
            _app_dir(work / f"v{build}-apps", app, deb, build_number=build)
        rebuild_config = write_platform(work / f"rebuild-{via}.json", team="appeng", registry_url=url, root=ROOT,
                                        base_tag=base.version)  # fmt: skip
        commands = [("step", "image", "--app", str(work / f"v{build}-apps" / app), "--config", str(rebuild_config),
                     "--build-number", str(build)) for app in apps]  # fmt: skip
        started = time.monotonic()
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(lambda command: _cli(*command), commands))
        runs["rebuild", via] = time.monotonic() - started, proxy.take_counts()

    client = RegistryClient(registry.url)
    rebase_configs = {client.get_manifest(app, f"1.1.0-base-{bases[1].version}").config.digest for app in apps}
    rebuild_configs = {client.get_manifest(app, "1.2.0").config.digest for app in apps}
    counted = {"rebase": (runs["rebase", "proxy"][1], rebase_configs),
               "rebuild": (runs["rebuild", "proxy"][1], rebuild_configs)}  # fmt: skip
    layer_bytes = {who: sum(n for digest, n in sent.items() if digest not in configs)
                   for who, (sent, configs) in counted.items()}  # fmt: skip
    untouched = runs["rebase", "direct"][1]
    assert not untouched, f"the direct runs went around the proxy: {len(untouched)} blob(s) counted"
    sample = apps[-1]
    ran = engine.cli("run", "--rm", f"{registry.host}/{sample}:1.2.0-base-{bases[2].version}").stdout.decode().split()
    assert ran == [f"hello-from-{sample.split('/')[1]}", "v3"], ran

    print(f"bench/rebase ({count} apps in {teams} teams, {payload_mb:g} MB payload each, {workers} workers, one run)")
    print(f"  bases {' -> '.join(b.version for b in bases)}")
    for who, label in (("rebase", "rebase  (images rollout)"), ("rebuild", "rebuild (image stage)   ")):
        sent = counted[who][0]
        print(
            f"  {label}  {runs[who, 'direct'][0]:7.2f} s   (through the proxy {runs[who, 'proxy'][0]:6.2f} s)"
            f"   uploaded {sum(sent.values()) / 1e6:8.3f} MB   layer bytes {layer_bytes[who]}   ({len(sent)} blobs)"
        )
    ratio = runs["rebuild", "direct"][0] / runs["rebase", "direct"][0]
    through_proxy = runs["rebuild", "proxy"][0] / runs["rebase", "proxy"][0]
    print(f"  rebuild/rebase {ratio:.1f}x (target >= 20x; through the proxy {through_proxy:.1f}x);"
          f" rebase layer bytes {layer_bytes['rebase']} (target 0)")  # fmt: skip
    ok = ratio >= 20 and layer_bytes["rebase"] == 0
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
