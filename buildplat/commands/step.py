"""Run one pipeline stage, as the generated Jenkins job does: ``buildplat step STAGE``.

The application is the default.json in ``--app`` (default: the current directory, the job's workspace). Results
and the hand-over between stages live in ``--out`` (default ``<app>/.buildplat``): the deb, reports and
``pipeline.json``. From the environment, as Jenkins sets it: ``BUILD_NUMBER`` (fills the version; or
``--build-number``), ``GIT_COMMIT`` and ``GIT_URL`` (else read from the checkout), ``BUILD_URL`` (the link in
notifications) and ``BRANCH_NAME`` or ``GIT_BRANCH`` (notify keeps one last result per branch). The platform
config is ``--config`` or ``$BUILDPLAT_CONFIG``; publish, image, deploy, notify and promote need it, unless
``--local`` sends them to the local targets ``buildplat run`` uses. Exit status: 0 the stage succeeded, 1 it
failed (the reason is printed and recorded in pipeline.json for notify), 2 a usage error.
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path
from typing import Any

from buildplat.errors import EXIT_OK, BuildplatError, UsageError
from buildplat.stages.context import STAGES, PipelineState, StageContext

HELP = "run one pipeline stage, as the Jenkins job does"
# Jenkins' build results -> what notify compares; None: nothing known (no previous build, or it was stopped).
JENKINS_RESULTS: dict[str, str | None] = {
    "SUCCESS": "success",
    "FAILURE": "failure",
    "UNSTABLE": "failure",
    "ABORTED": None,
    "NOT_BUILT": None,
    "NULL": None,
    "": None,
}
NEEDS_PLATFORM = frozenset({"publish", "image", "deploy", "notify", "promote"})
_SERVICE_URL = re.compile(r"^(?P<name>[a-z0-9]([-a-z0-9]*[a-z0-9])?)=(?P<url>https?://\S+)$")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("stage", choices=STAGES, metavar="STAGE", help="one of: " + ", ".join(STAGES))
    parser.add_argument("--app", metavar="DIR", default=".", help="the application's checkout (default: .)")
    parser.add_argument("--out", metavar="DIR", help="where stages write and hand over (default: APP/.buildplat)")
    parser.add_argument("--config", metavar="PLATFORM.json", help="the team's platform config ($BUILDPLAT_CONFIG)")
    parser.add_argument("--local", action="store_true", help="use the local targets of `buildplat run`, no servers")
    parser.add_argument("--build-number", type=int, metavar="N", help="the build number (default: $BUILD_NUMBER)")
    parser.add_argument(
        "--service-url",
        action="append",
        default=[],
        metavar="NAME=URL",
        help="verify: the URL of a service (repeatable); wins over what the deploy stage recorded",
    )
    parser.add_argument("--state-dir", metavar="DIR", help="notify: where the last result per branch is kept")
    parser.add_argument(
        "--result", choices=("success", "failure"), help="notify: the pipeline's result as Jenkins saw it"
    )
    parser.add_argument(
        "--previous-result",
        metavar="RESULT",
        help="notify: the previous build's result as Jenkins reports it (SUCCESS, FAILURE, UNSTABLE, ABORTED or "
        "empty); wins over the state file",
    )
    parser.add_argument(
        "--engine", choices=("registry", "docker"), default="registry", help="image: how to build (default: registry)"
    )
    parser.add_argument("--to", choices=("stage", "prod"), help="promote: the environment to promote to (required)")
    parser.add_argument(
        "--approved-by", metavar="USER", help="promote --to prod: who approved it ($BUILDPLAT_APPROVED_BY)"
    )


def run(args: argparse.Namespace) -> int:
    from buildplat.spec.model import load_app_file
    from buildplat.spec.platform import load_platform_file
    from buildplat.stages.runner import run_stage

    stage: str = args.stage
    repo = Path(args.app)
    app = load_app_file(repo)
    out = Path(args.out) if args.out else repo / ".buildplat"
    config = args.config or os.environ.get("BUILDPLAT_CONFIG")
    if args.local and config:
        raise UsageError("--local and a platform config exclude each other", hint="drop one of them")
    if stage in NEEDS_PLATFORM and not config and not args.local:
        raise UsageError(
            f"the {stage} stage needs the team's platform config",
            hint="pass --config PLATFORM.json or set BUILDPLAT_CONFIG (or --local for the local targets)",
        )
    platform = load_platform_file(Path(config)) if config else None
    build_number = _build_number(args.build_number)
    commit, source_url = _revision(repo)
    ctx = StageContext(
        app=app,
        repo=repo,
        out=out,
        build_number=build_number,
        platform=platform,
        commit=commit,
        source_url=source_url,
        build_url=os.environ.get("BUILD_URL") or None,
        environ=dict(os.environ),
        state_dir=Path(args.state_dir) if args.state_dir else None,
        service_urls=_service_urls(args.service_url),
        pipeline_result=args.result,
        base_images=_local_base_images() if platform is None and stage == "image" else None,
    )
    state = _state_for(stage, ctx, PipelineState.load(out))
    options = _stage_options(stage, args)
    run_stage(stage, ctx, state, options)
    if stage == "image" and state.image:
        # The one line on stdout, for the Jenkinsfile or a script to read; progress went to stderr.
        print(state.image["digest"], flush=True)
    return EXIT_OK


def _local_base_images() -> Any:
    """``step image --local`` builds on the same local base images as ``buildplat run``."""
    import sys

    from buildplat.commands.run import local_base_images

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)  # stdout is for the digest alone

    return local_base_images(say)


def _stage_options(stage: str, args: argparse.Namespace) -> dict[str, Any]:
    """The arguments only one stage takes, checked here so a wrong combination is a usage error."""
    if (args.to or args.approved_by) and stage != "promote":
        raise UsageError("--to and --approved-by are options of the promote stage only")
    if (args.result or args.previous_result is not None) and stage != "notify":
        raise UsageError("--result and --previous-result are options of the notify stage only")
    if args.service_url and stage != "verify":
        raise UsageError("--service-url is an option of the verify stage only")
    if stage == "image" and args.engine != "registry":
        return {"engine": args.engine}
    if stage == "notify":
        previous = JENKINS_RESULTS.get((args.previous_result or "").strip().upper(), "unknown")
        if previous == "unknown":
            raise UsageError(
                f"--previous-result {args.previous_result!r} is not a Jenkins build result",
                hint="SUCCESS, FAILURE, UNSTABLE, ABORTED, NOT_BUILT, or empty when there was no previous build",
            )
        return {"previous_result": previous} if previous else {}
    if stage == "promote":
        if not args.to:
            raise UsageError("promote needs --to stage or --to prod")
        options: dict[str, Any] = {"environment": args.to}
        if args.approved_by:
            options["approved_by"] = args.approved_by
        return options
    return {}


def _revision(repo: Path) -> tuple[str | None, str | None]:
    """(commit, repository URL): ``GIT_COMMIT``/``GIT_URL`` when Jenkins set them, else what the checkout says.

    A pipeline's explicit ``checkout(...)`` step does not export them (only the declarative default checkout
    does), so the checkout itself is the reliable source; the URL loses any user or token either way.
    """
    from buildplat.stages.local import git_revision, without_credentials

    commit, url = os.environ.get("GIT_COMMIT") or None, os.environ.get("GIT_URL") or None
    if commit is None or url is None:
        found_commit, found_url = git_revision(repo)
        commit, url = commit or found_commit, url or found_url
    return commit, without_credentials(url) if url else None


def _build_number(given: int | None) -> int:
    if given is not None:
        if given < 1:
            raise UsageError(f"--build-number must be at least 1, got {given}")
        return given
    raw = os.environ.get("BUILD_NUMBER", "").strip()
    if not raw:
        raise UsageError("BUILD_NUMBER is not set", hint="Jenkins sets it; by hand, pass --build-number N")
    if not raw.isdigit() or int(raw) < 1:
        raise UsageError(f"BUILD_NUMBER must be a positive whole number, got {raw!r}")
    return int(raw)


def _service_urls(values: list[str]) -> dict[str, str]:
    urls: dict[str, str] = {}
    for value in values:
        match = _SERVICE_URL.match(value)
        if not match:
            raise UsageError(
                f"--service-url {value!r} is not NAME=URL",
                hint="for example --service-url sample-service=http://sample-service.someproject-dev:8080",
            )
        urls[match["name"]] = match["url"]
    return urls


def _state_for(stage: str, ctx: StageContext, state: PipelineState) -> PipelineState:
    """The pipeline state this stage continues; the build stage starts a new one for each build."""
    same_build = state.app == ctx.app.full_name and state.build_number == ctx.build_number
    # notify must speak for this build even when it failed before its first stage (a checkout failure in a
    # reused workspace), so an earlier build's state is not an error there; it is simply not this build's.
    if stage == "build" or not state.app or (stage == "notify" and not same_build):
        state = PipelineState()
    elif not same_build:
        raise BuildplatError(
            f"{ctx.out / 'pipeline.json'} belongs to build {state.build_number} of {state.app}, "
            f"not to build {ctx.build_number} of {ctx.app.full_name}",
            hint="run the stages of one build in order, starting with `buildplat step build`",
        )
    state.app = ctx.app.full_name
    state.version = ctx.version
    state.build_number = ctx.build_number
    state.commit = ctx.commit
    return state
