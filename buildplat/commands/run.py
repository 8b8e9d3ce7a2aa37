"""Run the pipeline on this machine with no servers at all, as CI would run it: ``buildplat run [APP_DIR]``.

The same stages as the Jenkins job, on embedded local targets: the deb goes into a flat apt repository
directory, the image into an OCI image layout (built on a local base image), notifications to the console,
Kubernetes manifests into a directory instead of a cluster. Everything lands in ``--out`` (default
``APP_DIR/.buildplat``), whose ``build-number`` counter makes the version grow with every run. ``--until STAGE``
stops after that stage. A stage that is not part of this buildplat yet ends the run there, saying so.
Exit status: 0 every stage that ran succeeded, 1 a stage failed (with the reason), 2 a usage error.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

from buildplat.errors import EXIT_OK, BuildplatError
from buildplat.spec.model import AppSpec, load_app_file
from buildplat.stages.context import STAGES, PipelineState, StageContext

LOG_FILE = "run.log"
# Locally, promotion goes as far as CI goes without a human: to stage. Prod needs an approval.
LOCAL_OPTIONS: dict[str, dict[str, object]] = {
    "promote": {"environment": "stage"},
    "image": {"how_to_run": False},  # the summary says it, once, at the end
}
HELP = "run the whole pipeline locally with no servers: deb, apt repository, image, manifests"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("app", nargs="?", default=".", metavar="APP_DIR", help="the application (default: .)")
    parser.add_argument("--until", choices=STAGES, metavar="STAGE", help="stop after this stage: " + ", ".join(STAGES))
    parser.add_argument("--out", metavar="DIR", help="where everything goes (default: APP_DIR/.buildplat)")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="show the build's and tests' output here, not only in run.log"
    )


def run(args: argparse.Namespace) -> int:
    from buildplat.stages import local
    from buildplat.stages.runner import available, run_stage, stages_until

    started = time.monotonic()
    repo = Path(args.app)
    app = load_app_file(repo)
    out = Path(args.out) if args.out else repo / ".buildplat"
    console = sys.stdout
    number = local.next_build_number(out)
    local.ignore_in_git(out)
    commit, origin = local.git_revision(repo)
    log_path = out / LOG_FILE
    with log_path.open("w", encoding="utf-8") as log:
        tool_output = None if args.verbose else log
        ctx = _context(
            app=app,
            repo=repo,
            out=out,
            number=number,
            commit=commit,
            origin=origin,
            console=console,
            tool_output=tool_output,
        )
        state = PipelineState(app=app.full_name, version=ctx.version, build_number=number, commit=commit)
        state.save(out)
        ctx.say(f"buildplat run: {app.full_name} {ctx.version} (local build {number}), output in {_shown(out)}")
        stopped: str | None = None
        for stage in stages_until(args.until):
            if not available(stage):
                stopped = stage
                ctx.say(f"{stage}: not part of this version of buildplat yet, so the run stops here")
                break
            try:
                run_stage(stage, ctx, state, LOCAL_OPTIONS.get(stage))
            except BuildplatError as exc:
                if not args.verbose and log.tell() > 0:
                    exc.hint = f"{exc.hint}; " if exc.hint else ""
                    exc.hint += f"the build's full output is in {_shown(log_path)}"
                raise
    _summary(ctx, state, stopped, time.monotonic() - started)
    return EXIT_OK


def _context(
    *,
    app: AppSpec,
    repo: Path,
    out: Path,
    number: int,
    commit: str | None,
    origin: str | None,
    console: IO[str],
    tool_output: IO[str] | None,
) -> StageContext:
    return StageContext(
        app=app,
        repo=repo,
        out=out,
        build_number=number,
        commit=commit,
        source_url=origin,
        environ=dict(os.environ),
        console=console,
        tool_output=tool_output,
        state_dir=out / "state",
        base_images=local_base_images(_printer(console)),
    )


def _printer(console: IO[str]) -> Callable[[str], None]:
    def say(text: str) -> None:
        console.write(text + "\n")
        console.flush()

    return say


def local_base_images(say: Callable[[str], None]) -> Callable[[str], Path] | None:
    """The image stage's local base images, when this buildplat has them (built on first use)."""
    try:
        from buildplat.images.rootfs import local_base_provider
    except ModuleNotFoundError:
        return None
    return local_base_provider(say)


def _summary(ctx: StageContext, state: PipelineState, stopped: str | None, seconds: float) -> None:
    ran = [s for s in STAGES if state.stages.get(s) == "succeeded"]
    ending = f"; stopped before {stopped}" if stopped else ""
    ctx.say(f"buildplat run: {len(ran)} stage{'s' if len(ran) != 1 else ''} done in {seconds:.1f} s{ending}")
    if state.deb:
        deb = ctx.out / state.deb
        ctx.say(f"  deb:        {_shown(deb)}")
        ctx.say(f"              install it: apt install {shlex.quote(_shown(deb, dot=True))}")
    if state.published and state.published.get("sources_line"):
        ctx.say(f"  apt:        {state.published['sources_line']}")
    if state.image:
        from buildplat.stages.image import run_commands

        layout = Path(str(state.image.get("layout") or ctx.out / "image"))
        tag = str(state.image.get("tag") or ctx.version)
        copy, _, start = run_commands(ctx.app, Path(_shown(layout)), tag)[0].partition(" && ")
        ctx.say(f"  image:      oci:{_shown(layout)}:{tag} (digest {state.image.get('digest')})")
        ctx.say(f"              run it: {copy}")
        ctx.say(f"                      {start}")
    manifests = ctx.out / "manifests"
    if manifests.is_dir():
        ctx.say(f"  manifests:  {_shown(manifests)}/")
    if state.verify and state.verify.get("report"):
        ctx.say(f"  tests:      {_shown(ctx.out / str(state.verify['report']))}")
    ctx.say(f"  state:      {_shown(ctx.out / 'pipeline.json')}")


def _shown(path: Path, *, dot: bool = False) -> str:
    """A path as short as it can be said: relative to the current directory when it is under it."""
    try:
        relative = path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return str(path.resolve())
    text = str(relative)
    return f"./{text}" if dot and not text.startswith("./") else text
