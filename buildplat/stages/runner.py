"""The ordered table of stages, and running one stage so that its outcome lands in ``pipeline.json``.

``STAGE_FUNCTIONS`` is the one place a stage is plugged in: stage name -> ``module:function``, in pipeline order
(equal to ``context.STAGES``, which a test checks). Modules are imported when the stage runs, so a stage whose
module is not part of this buildplat yet is reported as unavailable instead of breaking every other stage.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from buildplat.errors import BuildplatError
from buildplat.stages.context import STAGES, PipelineState, StageContext

StageFunction = Callable[..., None]

STAGE_FUNCTIONS: dict[str, str] = {
    "build": "buildplat.stages.build:run_build",
    "package": "buildplat.stages.package:run_package",
    "publish": "buildplat.stages.publish:run_publish",
    "image": "buildplat.stages.image:run_image",
    "deploy": "buildplat.stages.deploy:run_deploy",
    "verify": "buildplat.stages.verify:run_verify",
    "notify": "buildplat.stages.notify:run_notify",
    "promote": "buildplat.stages.promote:run_promote",
}


class StageUnavailable(BuildplatError):
    """The stage exists in the pipeline but its module is not in this installation of buildplat."""

    def __init__(self, stage: str) -> None:
        super().__init__(
            f"the {stage} stage is not available in this version of buildplat",
            hint="update buildplat, or stop before it (buildplat run --until STAGE)",
        )
        self.stage = stage


def load(stage: str) -> StageFunction:
    """The stage's function; :class:`StageUnavailable` when its module does not exist (yet)."""
    if stage not in STAGE_FUNCTIONS:
        raise BuildplatError(f"unknown stage {stage!r}", hint="stages: " + ", ".join(STAGE_FUNCTIONS))
    module_name, _, function_name = STAGE_FUNCTIONS[stage].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:  # the stage's own module; a missing dependency inside it is a real error
            raise StageUnavailable(stage) from None
        raise
    function: StageFunction = getattr(module, function_name)
    return function


def available(stage: str) -> bool:
    try:
        load(stage)
    except StageUnavailable:
        return False
    return True


def stages_until(until: str | None) -> list[str]:
    """The stages in order, up to and including ``until`` (all of them when None)."""
    if until is None:
        return list(STAGES)
    return list(STAGES[: STAGES.index(until) + 1])


def run_stage(stage: str, ctx: StageContext, state: PipelineState, options: dict[str, Any] | None = None) -> None:
    """Run one stage and record its outcome in ``<out>/pipeline.json``, failed or not.

    A failure is re-raised with the stage's name in front of its message, so every error says where it happened.
    """
    function = load(stage)
    state.stages.pop(stage, None)
    try:
        function(ctx, state, **(options or {}))
    except BuildplatError as exc:
        state.stages[stage] = "failed: " + _first_line(exc.message)
        state.save(ctx.out)
        failure = BuildplatError(f"the {stage} stage failed: {exc.message}", hint=exc.hint)
        failure.exit_code = exc.exit_code
        raise failure from exc
    except BaseException as exc:
        interrupted = isinstance(exc, KeyboardInterrupt)
        state.stages[stage] = "failed: interrupted" if interrupted else f"failed: internal error ({type(exc).__name__})"
        state.save(ctx.out)
        raise
    state.stages[stage] = "succeeded"
    state.save(ctx.out)


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else "failed"
    return line.rstrip(":")[:300]
