"""The explicit buildfact registry: name -> buildfact. Adding a language means adding it here."""

from __future__ import annotations

from pathlib import Path

from buildplat.buildfacts import go, java, nodejs, python, ruby
from buildplat.buildfacts.base import Buildfact, BuildfactBase, Command, shell_step
from buildplat.errors import BuildplatError
from buildplat.spec.model import AppSpec, Step

BUILDFACTS: dict[str, BuildfactBase] = {
    "java": java.BUILDFACT,
    "nodejs": nodejs.BUILDFACT,
    "go": go.BUILDFACT,
    "ruby": ruby.BUILDFACT,
    "python": python.BUILDFACT,
}


def get(name: str) -> Buildfact:
    try:
        return BUILDFACTS[name]
    except KeyError:
        raise BuildplatError(f"unknown buildfact {name!r}", hint="known: " + ", ".join(BUILDFACTS)) from None


def owner_of_step(kind: str) -> str | None:
    """The buildfact a step type needs, or None for steps that need none (shell)."""
    for name, buildfact in BUILDFACTS.items():
        if kind in buildfact.step_types:
            return name
    return None


def commands_for_step(step: Step, repo: Path) -> list[Command]:
    if step.kind == "shell":
        assert step.shell is not None
        return [shell_step(step.shell)]
    owner = owner_of_step(step.kind)
    if owner is None:
        raise BuildplatError(f"no buildfact provides the step type {step.kind!r}")
    return get(owner).step_commands(step, repo)


def runtime_command(app: AppSpec) -> tuple[str, ...]:
    """The container command: default.json's runtime.command, else the primary buildfact's default."""
    if app.runtime.command:
        return app.runtime.command
    return get(app.primary_buildfact).default_runtime_command(app)


def jenkins_plugins(buildfacts: list[str] | tuple[str, ...]) -> list[str]:
    """The plugins a team's Jenkins needs for these buildfacts, plus the ones every pipeline needs."""
    needed = set(BASE_PLUGINS)
    for name in buildfacts:
        needed.update(get(name).jenkins_plugins)
    return sorted(needed)


# Every buildplat pipeline needs these, whatever the language.
BASE_PLUGINS = ("workflow-aggregator", "kubernetes", "git", "junit", "credentials-binding", "cloudbees-folder")
