#!/usr/bin/env python3
"""bench/validate: `buildplat validate` against check-jsonschema and ajv-cli on the same schema and files.

Run: `.venv/bin/python bench/validate.py [--runs N]`. It installs the peers itself (pinned, into a cache
directory outside the repository): check-jsonschema from PyPI into its own virtualenv, ajv-cli from npm.
Every tool validates (a) one file and (b) 1,000 files, in one run of this script on the same machine; each
figure is the best of N runs of the whole command, process start-up included, because that is what a developer
and a pre-commit hook pay. The peers get comment-free copies of the files (neither reads JSON with comments)
and `--strict=false` for ajv (our schema carries the `x-buildfact` annotation).

Targets (issue 2): one file under 0.2 s and at most half of either peer; 1,000 files under 0.45 s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("BUILDPLAT_CACHE", Path.home() / ".cache" / "buildplat")) / "bench-validate"
CHECK_JSONSCHEMA = "check-jsonschema==0.39.0"
AJV_CLI = "ajv-cli@5.0.0"
BUILDPLAT = [sys.executable, "-m", "buildplat"]


def ensure_peers() -> tuple[list[str], list[str]]:
    """Install the peer tools if missing; return their command prefixes."""
    CACHE.mkdir(parents=True, exist_ok=True)
    venv = CACHE / "venv"
    cjs = venv / "bin" / "check-jsonschema"
    if not cjs.exists():
        print("installing check-jsonschema (once)...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(venv / "bin" / "pip"), "install", "-q", CHECK_JSONSCHEMA], check=True, stderr=subprocess.DEVNULL
        )
    node_prefix = CACHE / "node"
    ajv = node_prefix / "node_modules" / ".bin" / "ajv"
    if not ajv.exists():
        print("installing ajv-cli (once)...", file=sys.stderr)
        node_prefix.mkdir(exist_ok=True)
        subprocess.run(
            ["npm", "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(node_prefix), AJV_CLI], check=True
        )
    return [str(cjs)], [str(ajv)]


def make_files(root: Path, count: int) -> tuple[list[Path], list[Path]]:
    """``count`` distinct valid default.json files, with comments (ours) and without (the peers')."""
    seed = (REPO / "examples" / "sample-application" / "default.json").read_text(encoding="utf-8")
    ours, plain = root / "with-comments", root / "plain"
    ours.mkdir()
    plain.mkdir()
    with_comments: list[Path] = []
    without: list[Path] = []
    for index in range(count):
        name = f"app-{index:04d}"
        text = seed.replace("sample-application", name).replace("sample-service", f"svc-{index:04d}")
        (ours / f"{name}.json").write_text(text, encoding="utf-8")
        with_comments.append(ours / f"{name}.json")
        document = json.loads(text.replace("// Configure the Jenkins server", ""))
        (plain / f"{name}.json").write_text(json.dumps(document, indent=2), encoding="utf-8")
        without.append(plain / f"{name}.json")
    return with_comments, without


def best_of(runs: int, argv: list[str]) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, check=False)
        elapsed = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"{argv[0]} failed ({done.returncode}):\n{done.stdout.decode()}{done.stderr.decode()}")
        best = min(best, elapsed)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per figure; the best is reported (default 5)")
    args = parser.parse_args()
    cjs, ajv = ensure_peers()
    schema = REPO / "schemas" / "default.schema.json"
    with tempfile.TemporaryDirectory(prefix="bench-validate-") as temp:
        ours, plain = make_files(Path(temp), 1000)
        one_ours, one_plain = [str(ours[0])], [str(plain[0])]
        all_ours, all_plain = [str(p) for p in ours], [str(p) for p in plain]
        ajv_base = [*ajv, "validate", "--spec=draft2020", "--strict=false", "-s", str(schema)]
        figures = {
            "buildplat validate": (
                best_of(args.runs, [*BUILDPLAT, "validate", *one_ours]),
                best_of(args.runs, [*BUILDPLAT, "validate", *all_ours]),
            ),
            "check-jsonschema": (
                best_of(args.runs, [*cjs, "--schemafile", str(schema), *one_plain]),
                best_of(args.runs, [*cjs, "--schemafile", str(schema), *all_plain]),
            ),
            "ajv-cli": (
                best_of(args.runs, [*ajv_base, "-d", one_plain[0]]),
                best_of(args.runs, [*ajv_base, "-d", str(Path(temp) / "plain" / "*.json")]),
            ),
        }
    ours_one, ours_many = figures["buildplat validate"]
    print(f"{'tool':<20} {'1 file':>10} {'1,000 files':>12}")
    for tool, (one, many) in figures.items():
        print(f"{tool:<20} {one:>9.3f}s {many:>11.3f}s")
    print()
    for tool in ("check-jsonschema", "ajv-cli"):
        one, many = figures[tool]
        print(f"buildplat / {tool}: 1 file {ours_one / one:.2f}x, 1,000 files {ours_many / many:.2f}x")
    print()
    peers_one = [one for tool, (one, _many) in figures.items() if tool != "buildplat validate"]
    one_met = ours_one < 0.2 and all(ours_one <= one / 2 for one in peers_one)
    print(f"target: 1 file < 0.200 s and <= half of each peer: {ours_one:.3f} s -> {'met' if one_met else 'NOT met'}")
    print(f"target: 1,000 files < 0.450 s: {ours_many:.3f} s -> {'met' if ours_many < 0.45 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    if shutil.which("npm") is None:
        raise SystemExit("bench/validate needs npm (Debian: apt-get install npm) to install ajv-cli")
    sys.exit(main())
