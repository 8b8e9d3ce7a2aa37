"""Go: go test and go build on the agent; the runtime image needs no language runtime.

Binaries are built to be shipped in a package and an image: ``CGO_ENABLED=0`` (a static binary, so the package
needs no libc dependency and runs on any base), ``-trimpath`` (no build-machine paths inside, reproducible) and
``-ldflags=-s -w`` (no symbol table or DWARF: a third smaller, and what Debian means by stripped). An app that
needs cgo sets ``CGO_ENABLED=1`` in the build environment; other flags need a ``shell`` step.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from buildplat.buildfacts.base import BuildfactBase, Command, JenkinsTool
from buildplat.spec.model import AppSpec, Step

BUILD_FLAGS = ("-trimpath", "-ldflags=-s -w")
ENV_DEFAULTS = (("CGO_ENABLED", "0"),)


@dataclass(frozen=True)
class Go(BuildfactBase):
    def step_commands(self, step: Step, repo: Path) -> list[Command]:
        if step.kind == "go":
            packages = step.words("packages", "./...")
            output = str(step.options.get("output", "bin/"))
            commands = []
            if step.options.get("test", True):  # tested as built: the same cgo setting
                commands.append(Command(("go", "test", *packages), "go test", env_defaults=ENV_DEFAULTS))
            # Build into the output directory; "--" keeps package patterns from being read as flags.
            argv = ("go", "build", *BUILD_FLAGS, "-o", output, "--", *packages)
            commands.append(Command(argv, "go build", env_defaults=ENV_DEFAULTS))
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
