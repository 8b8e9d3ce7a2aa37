"""App Eng's base images: build and push them, promote one to stable, and roll a new one out to every app.

``build`` builds base-images/<buildfact>/ with a Docker engine (``--agents``: the build-agent images too) and
with ``--push`` pushes version tags ``<YYYYMMDD>-<content hash>``, never overwriting one; pushing never moves
``stable``: ``promote BUILDFACT VERSION`` does, when App Eng decides. ``plan BUILDFACT --to VERSION`` lists every
app of the teams' namespaces (one platform config per team, all naming one registry) whose current image is on an
older version of that base, each with "rebase" or "rebuild" and why; ``rollout`` does it, in waves, resumable,
telling each team. Exit status: 0 done; 1 a check or a service failed, or an app could not be rolled out
(``rollout`` resumes where it stopped when run again); 2 a usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from buildplat.errors import BuildplatError, UsageError

if TYPE_CHECKING:
    from buildplat.spec.platform import PlatformConfig, RegistryConfig

HELP = "App Eng's base images: build|promote|plan|rollout"
DEFAULT_BASE = "debian:bookworm-slim"
NO_ENGINE_HINT = (
    "`buildplat images build` needs a Docker engine: start dockerd, or set DOCKER_HOST to one that is reachable"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="images_command", metavar="SUBCOMMAND", required=True)
    build = sub.add_parser("build", help="build the runtime (and agent) images of base-images/ with Docker")
    build.add_argument("buildfacts", nargs="*", metavar="BUILDFACT", help="default: every buildfact")
    build.add_argument("--push", action="store_true", help="push the version tags (never stable: see promote)")
    build.add_argument("--config", metavar="FILE", help="a platform config naming the registry (needed with --push)")
    build.add_argument(
        "--base", default=DEFAULT_BASE, metavar="IMAGE", help=f"the Debian image (default {DEFAULT_BASE})"
    )
    build.add_argument("--contexts", metavar="DIR", help="the base-images directory (default: buildplat's own)")
    build.add_argument("--agents", action="store_true", help="also build the build-agent images")
    build.add_argument("--agent-tag", metavar="TAG", help="also tag the agent images TAG (deploy/'s platform_version)")
    build.add_argument("--network", metavar="MODE", help="docker build --network (host: RUN reaches local mirrors)")
    build.add_argument("--no-cache", action="store_true", help="build every step again")
    build.add_argument("--buildplat-spec", default="buildplat", metavar="SPEC", help="what the agents pip-install")
    build.add_argument("--pip-index-url", default="", metavar="URL", help="the package index the agents install from")
    build.add_argument("--state-dir", metavar="DIR", help=f"where builds are recorded (default {_state_dir()})")
    promote = sub.add_parser("promote", help="point the base tag new builds use (stable) at a version")
    promote.add_argument("buildfact", metavar="BUILDFACT")
    promote.add_argument("version", metavar="VERSION")
    promote.add_argument("--config", required=True, metavar="FILE", help="a platform config naming the registry")
    for name, text in (
        ("plan", "which apps are built on an older version of a base"),
        ("rollout", "rebase or rebuild them"),
    ):
        command = sub.add_parser(name, help=text)
        command.add_argument("buildfact", metavar="BUILDFACT")
        command.add_argument("--to", required=True, metavar="VERSION", help="the base version to move to")
        command.add_argument("--config", required=True, action="extend", nargs="+", metavar="FILE",
                             help="the teams' platform configs")  # fmt: skip
        command.add_argument("--format", choices=("text", "json"), default="text")
    rollout = sub.choices["rollout"]
    rollout.add_argument("--per-team", type=int, default=5, metavar="N", help="apps of one team per wave (5)")
    rollout.add_argument("--workers", type=int, default=8, metavar="N", help="apps at once (8)")
    rollout.add_argument("--max-failures", type=int, default=3, metavar="N", help="stop when more fail (3)")
    rollout.add_argument("--rebase-only", action="store_true", help="leave the apps that need a rebuild for later")
    rollout.add_argument("--state-dir", metavar="DIR", help=f"where rollouts are recorded (default {_state_dir()})")


def run(args: argparse.Namespace) -> int:
    handler = {"build": _build, "promote": _promote, "plan": _plan, "rollout": _rollout}[args.images_command]
    return handler(args)


def _say(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def _state_dir(given: str | None = None) -> Path:
    if given:
        return Path(given)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "buildplat" / "images"


def _buildfact(name: str) -> str:
    from buildplat.buildfacts.registry import BUILDFACTS

    if name not in BUILDFACTS:
        raise UsageError(f"unknown buildfact {name!r}", hint="known: " + ", ".join(BUILDFACTS))
    return name


def _configs(paths: Sequence[str]) -> tuple[dict[str, PlatformConfig], RegistryConfig]:
    """The teams' configs by team, and the one registry they all name."""
    from buildplat.spec.platform import load_platform_file

    teams: dict[str, PlatformConfig] = {}
    for path in paths:
        config = load_platform_file(Path(path))
        if config.registry is None:
            raise BuildplatError(f"{path} has no registry section", hint='add "registry": {"url": …} to it')
        if config.team in teams:
            raise UsageError(f"{path} and {teams[config.team].source} are both configs of team {config.team}")
        teams[config.team] = config
    registries = {(c.registry.url, c.registry.base_repository) for c in teams.values() if c.registry}
    if len(registries) > 1:
        listed = "; ".join(
            f"{c.source}: {c.registry.url} {c.registry.base_repository}" for c in teams.values() if c.registry
        )
        raise UsageError(f"the platform configs name different registries or base repositories ({listed})")
    registry = next(iter(teams.values())).registry
    assert registry is not None
    return teams, registry


def _build(args: argparse.Namespace) -> int:
    from buildplat.clients.docker_engine import DockerEngine
    from buildplat.images.build import Builder, BuildOptions
    from buildplat.images.dockerfiles import base_images_dir
    from buildplat.stages.image import registry_client

    buildfacts = [_buildfact(name) for name in args.buildfacts] or _all_buildfacts()
    if args.push and not args.config:
        raise UsageError("--push needs --config FILE: the platform config names the registry")
    registry = _configs([args.config])[1] if args.config else None
    options = BuildOptions(
        contexts=Path(args.contexts) if args.contexts else base_images_dir(),
        base=args.base,
        base_repository=registry.base_repository if registry else "buildplat/base",
        push=args.push,
        agents=args.agents,
        agent_tag=args.agent_tag,
        network=args.network,
        no_cache=args.no_cache,
        buildplat_spec=args.buildplat_spec,
        pip_index_url=args.pip_index_url,
    )
    client = registry_client(registry) if registry else None
    engine = DockerEngine(os.environ.get("DOCKER_HOST") or None, hint=NO_ENGINE_HINT)
    state = _state_dir(args.state_dir)
    try:
        for buildfact in buildfacts:
            for built in Builder(engine, options, client, _say).build(buildfact):
                _record(state, built.record())
                sys.stdout.write(
                    f"{built.buildfact} {built.kind} {built.reference} {built.digest or '-'} {built.status}\n"
                )
                sys.stdout.flush()
    finally:
        engine.close()
    return 0


def _all_buildfacts() -> list[str]:
    from buildplat.buildfacts.registry import BUILDFACTS

    return list(BUILDFACTS)


def _record(state: Path, record: dict[str, object]) -> None:
    """One JSON line per image built, so the digests stay on record next to the registry's tags."""
    try:
        state.mkdir(parents=True, exist_ok=True)
        with (state / "builds.jsonl").open("a", encoding="utf-8") as stream:
            stream.write(json.dumps(record, sort_keys=True) + "\n")
    except OSError as exc:
        _say(f"images: warning: cannot record the build in {state}: {exc.strerror or exc}")


def _promote(args: argparse.Namespace) -> int:
    from buildplat.images.promote import promote
    from buildplat.stages.image import registry_client

    buildfact = _buildfact(args.buildfact)
    registry = _configs([args.config])[1]
    repository = f"{registry.base_repository}/{buildfact}"
    done = promote(registry_client(registry), repository, args.version, registry.base_tag)
    before = done.previous or "nothing"
    sys.stdout.write(f"{done.reference}: {before} -> {done.digest} ({done.version})\n")
    return 0


def _plan(args: argparse.Namespace) -> int:
    from buildplat.images.plan import make_plan
    from buildplat.images.report import plan_json, plan_text
    from buildplat.stages.image import registry_client

    buildfact = _buildfact(args.buildfact)
    teams, registry = _configs(args.config)
    client = registry_client(registry)
    plan = make_plan(
        client,
        buildfact=buildfact,
        version=args.to,
        teams=teams,
        base_root=registry.base_repository,
        say=_say,
        new_client=lambda: registry_client(registry),
    )
    if args.format == "json":
        sys.stdout.write(json.dumps(plan_json(plan), indent=2) + "\n")
    else:
        sys.stdout.write(plan_text(plan))
    return 0


def _rollout(args: argparse.Namespace) -> int:
    from buildplat.images.plan import make_plan
    from buildplat.images.report import rollout_json, rollout_text
    from buildplat.images.rollout import Rollout, RolloutOptions
    from buildplat.images.rollout_state import RolloutState
    from buildplat.stages.image import registry_client

    for option in ("per_team", "workers"):
        if getattr(args, option) < 1:
            raise UsageError(f"--{option.replace('_', '-')} must be at least 1")
    if args.max_failures < 0:
        raise UsageError("--max-failures must be 0 or more")
    buildfact = _buildfact(args.buildfact)
    teams, registry = _configs(args.config)
    plan = make_plan(
        registry_client(registry),
        buildfact=buildfact,
        version=args.to,
        teams=teams,
        base_root=registry.base_repository,
        say=_say,
        new_client=lambda: registry_client(registry),
    )
    options = RolloutOptions(args.per_team, args.workers, args.max_failures, rebase_only=args.rebase_only)
    state = RolloutState(_state_dir(args.state_dir))
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda _signum, _frame: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        rollout = Rollout(
            plan, teams=teams, state=state, registry=lambda: registry_client(registry), options=options, say=_say
        )
        report = rollout.run(stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        state.close()
    if args.format == "json":
        sys.stdout.write(json.dumps(rollout_json(report), indent=2) + "\n")
    else:
        sys.stdout.write(rollout_text(report))
    return 0 if report.ok else 1
