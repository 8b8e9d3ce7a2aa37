"""Go: go test and go build on the agent; the runtime image needs no language runtime."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from buildplat.buildfacts.base import BuildfactBase, Command, JenkinsTool
from buildplat.spec.model import AppSpec, Step


@dataclass(frozen=True)
class Go(BuildfactBase):
    def step_commands(self, step: Step, repo: Path) -> list[Command]:
        if step.kind == "go":
            packages = step.words("packages", "./...")
            output = str(step.options.get("output", "bin/"))
            commands = []
            if step.options.get("test", True):
                commands.append(Command(("go", "test", *packages), "go test"))
            # Build into the output directory; "--" keeps package patterns from being read as flags.
            commands.append(Command(("go", "build", "-o", output, "--", *packages), "go build"))
            return commands
        return super().step_commands(step, repo)

    def default_runtime_command(self, app: AppSpec) -> tuple[str, ...]:
        return (f"/opt/{app.name}/{app.name}",)


BUILDFACT = Go(
    name="go",
    step_types=("go",),
    jenkins_plugins=("golang",),
    jenkins_tools=(JenkinsTool("go", "go", "/usr/lib/go"),),
    runtime_packages=("ca-certificates",),
    build_packages=("golang-go", "git"),
)
