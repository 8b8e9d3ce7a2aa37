"""Java: gradle and maven steps, a JDK on the agent, a JRE in the runtime image."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from buildplat.buildfacts.base import BuildfactBase, Command, JenkinsTool
from buildplat.spec.model import AppSpec, Step


@dataclass(frozen=True)
class Java(BuildfactBase):
    def step_commands(self, step: Step, repo: Path) -> list[Command]:
        if step.kind == "gradle":
            program = "./gradlew" if step.options.get("useWrapper", True) else "gradle"
            return [Command((program, "--no-daemon", *step.words("tasks", "build")), "gradle")]
        if step.kind == "maven":
            program = "./mvnw" if step.options.get("useWrapper", False) else "mvn"
            return [Command((program, "--batch-mode", *step.words("goals", "package")), "maven")]
        return super().step_commands(step, repo)

    def default_runtime_command(self, app: AppSpec) -> tuple[str, ...]:
        return ("java", "-jar", f"/opt/{app.name}/{app.name}.jar")


BUILDFACT = Java(
    name="java",
    step_types=("gradle", "maven"),
    jenkins_plugins=("gradle", "pipeline-maven"),
    jenkins_tools=(JenkinsTool("jdk", "jdk17", "/usr/lib/jvm/java-17-openjdk-amd64"),),
    runtime_packages=("openjdk-17-jre-headless",),
    build_packages=("openjdk-17-jdk-headless", "maven", "gradle"),
)
