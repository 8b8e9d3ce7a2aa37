"""Ruby: bundler installs gems into vendor/bundle and may run rake tasks; ruby at runtime."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from buildplat.buildfacts.base import BuildfactBase, Command
from buildplat.spec.model import AppSpec, Step


@dataclass(frozen=True)
class Ruby(BuildfactBase):
    def step_commands(self, step: Step, repo: Path) -> list[Command]:
        if step.kind == "bundler":
            env = (("BUNDLE_PATH", "vendor/bundle"), ("BUNDLE_DEPLOYMENT", "true"))
            commands = [Command(("bundle", "install"), "bundle install", env)]
            tasks = step.words("tasks", "")
            if tasks:
                commands.append(Command(("bundle", "exec", "rake", *tasks), "rake", env))
            return commands
        return super().step_commands(step, repo)

    def default_runtime_command(self, app: AppSpec) -> tuple[str, ...]:
        return ("ruby", f"/opt/{app.name}/app.rb")


BUILDFACT = Ruby(
    name="ruby",
    step_types=("bundler",),
    jenkins_plugins=("rbenv",),
    runtime_packages=("ruby",),
    build_packages=("bundler", "ruby-dev", "build-essential"),
)
