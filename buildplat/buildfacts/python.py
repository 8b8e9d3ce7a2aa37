"""Python: pip installs requirements into the repository (so the package carries them); python3 at runtime."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from buildplat.buildfacts.base import BuildfactBase, Command
from buildplat.spec.model import AppSpec, Step


@dataclass(frozen=True)
class Python(BuildfactBase):
    def step_commands(self, step: Step, repo: Path) -> list[Command]:
        if step.kind == "pip":
            requirements = str(step.options.get("requirements", "requirements.txt"))
            target = str(step.options.get("target", "vendor/"))
            argv = ("python3", "-m", "pip", "install", "--no-input", "--target", target, "-r", requirements)
            return [Command(argv, "pip install")]
        return super().step_commands(step, repo)

    def default_runtime_command(self, app: AppSpec) -> tuple[str, ...]:
        return ("python3", f"/opt/{app.name}/app.py")


BUILDFACT = Python(
    name="python",
    step_types=("pip",),
    jenkins_plugins=("pyenv-pipeline",),
    runtime_packages=("python3",),
    build_packages=("python3-pip", "python3-venv"),
)
