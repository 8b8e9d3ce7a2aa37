"""The build stage: default.json's ``build_steps`` in order, then its ``build_command``, in the repository root.

Each step becomes one or more argv commands through the buildfact registry (never a shell, except a ``shell``
step and ``build_command``, which are shell the user wrote). Output streams as it arrives. Before anything runs,
every program the steps need is looked up, so a missing tool is reported by name and buildfact, not as an
obscure failure half-way through. A failing command names the step's number, its type and the exit code.
"""

from __future__ import annotations

import os
import shlex
import shutil
import time
from dataclasses import dataclass

from buildplat import proc
from buildplat.buildfacts.base import Command, shell_step
from buildplat.buildfacts.registry import commands_for_step, owner_of_step
from buildplat.errors import BuildplatError
from buildplat.stages.context import PipelineState, StageContext


@dataclass(frozen=True)
class PlannedCommand:
    """A command with the words that name it in progress lines and errors."""

    command: Command
    what: str  # "build step 2 (gradle)" or "build_command"
    buildfact: str | None


def plan(ctx: StageContext) -> list[PlannedCommand]:
    """Every command the build runs, in order."""
    planned: list[PlannedCommand] = []
    for number, step in enumerate(ctx.app.build_steps, start=1):
        owner = owner_of_step(step.kind)
        commands = commands_for_step(step, ctx.repo)
        for command in commands:
            label = step.kind if len(commands) == 1 else f"{step.kind}: {command.label}"
            planned.append(PlannedCommand(command, f"build step {number} ({label})", owner))
    if ctx.app.build_command:
        planned.append(PlannedCommand(shell_step(ctx.app.build_command), "build_command", None))
    return planned


def build_environment(ctx: StageContext) -> dict[str, str]:
    """The environment build tools see: the stage's own, plus what says which build this is."""
    env = dict(os.environ)
    env.update(ctx.environ)
    env["BUILDPLAT_APP"] = ctx.app.full_name
    env["BUILDPLAT_VERSION"] = ctx.version
    env["BUILD_NUMBER"] = str(ctx.build_number)
    return env


def check_tools(planned: list[PlannedCommand], env: dict[str, str]) -> None:
    """Fail before the first step when a program a step needs is missing."""
    missing: list[str] = []
    for item in planned:
        program = item.command.argv[0]
        if "/" in program:
            # ./gradlew and friends live in the repository; an earlier step may still create them,
            # so only an absolute path is checked up front.
            if os.path.isabs(program) and not os.access(program, os.X_OK):
                missing.append(f"{item.what} needs {program}, which does not exist or is not executable")
            continue
        if shutil.which(program, path=env.get("PATH")) is None:
            needs = f"the {item.buildfact} buildfact's program" if item.buildfact else "the program"
            missing.append(f"{item.what} needs {needs} {program!r}, which is not installed or not on PATH")
    if missing:
        raise BuildplatError(
            "the build cannot start:\n    " + "\n    ".join(dict.fromkeys(missing)),
            hint="install the missing programs on the build machine (the buildfact's agent image has them in CI)",
        )


def run_build(ctx: StageContext, state: PipelineState) -> None:
    planned = plan(ctx)
    env = build_environment(ctx)
    check_tools(planned, env)
    if not planned:
        ctx.say("build: default.json has no build steps and no build_command; nothing to run")
        return
    started = time.monotonic()
    for item in planned:
        command = item.command
        ctx.say(f"build: {item.what}: {_shown(command)}")
        if ctx.tool_output is not None:  # the log then says which command wrote what follows
            ctx.stream.write(f"==> {item.what}: {_shown(command)}\n")
        proc.run(
            command.argv,
            cwd=ctx.repo,
            env={**dict(command.env_defaults), **env, **dict(command.env)},
            stream_to=ctx.stream,
            what=item.what,
        )
    plural = "s" if len(planned) != 1 else ""
    ctx.say(f"build: {len(planned)} command{plural} succeeded in {time.monotonic() - started:.1f} s")


def _shown(command: Command) -> str:
    # A shell step is shown as the user wrote it, not as `/bin/sh -ec '…'`.
    if command.label == "shell":
        return command.argv[-1].strip().replace("\n", "; ")
    return shlex.join(command.argv)
