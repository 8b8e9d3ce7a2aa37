"""Node.js: npm steps, node and npm on the agent, node in the runtime image."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from buildplat.buildfacts.base import BuildfactBase, Command, JenkinsTool
from buildplat.spec.model import AppSpec, Step


@dataclass(frozen=True)
class NodeJs(BuildfactBase):
    def step_commands(self, step: Step, repo: Path) -> list[Command]:
        if step.kind == "npm":
            commands = []
            if step.options.get("install", True):
                verb = "ci" if (repo / "package-lock.json").exists() else "install"
                commands.append(Command(("npm", verb, "--no-audit", "--no-fund"), f"npm {verb}"))
            script = step.options.get("script", "build")
            if script is not None:
                commands.append(Command(("npm", "run", script), f"npm run {script}"))
            return commands
        return super().step_commands(step, repo)

    def default_runtime_command(self, app: AppSpec) -> tuple[str, ...]:
        return ("node", f"/opt/{app.name}/server.js")


BUILDFACT = NodeJs(
    name="nodejs",
    step_types=("npm",),
    jenkins_plugins=("nodejs",),
    jenkins_tools=(JenkinsTool("nodejs", "node", "/usr"),),
    runtime_packages=("nodejs",),
    build_packages=("npm",),
)
