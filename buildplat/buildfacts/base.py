"""What every buildfact (a language a build needs) provides, and the defaults they share.

A buildfact module exposes one object satisfying :class:`Buildfact`. The registry in
``buildplat.buildfacts.registry`` lists them explicitly; the schema's buildfact enum and its step ownership
(``x-buildfact``) are tested to equal the registry.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from buildplat.spec.model import AppSpec, Step


@dataclass(frozen=True)
class JenkinsTool:
    """A global tool installation Jenkins needs for a buildfact (Manage Jenkins > Tools)."""

    kind: str  # the JCasC tool key, e.g. "jdk", "nodejs", "go"
    name: str  # the installation name pipelines refer to
    home: str  # where the build-agent image has it


@dataclass(frozen=True)
class Command:
    """One program a build step runs: an argv list (never a shell line) and a label for errors.

    ``env`` is set for the command whatever the build environment says; ``env_defaults`` only where the build
    environment (the agent's, or the developer's shell) does not set that variable itself.
    """

    argv: tuple[str, ...]
    label: str
    env: tuple[tuple[str, str], ...] = ()
    env_defaults: tuple[tuple[str, str], ...] = ()


class Buildfact(Protocol):
    """A language a build needs. Attributes are read-only: buildfacts are frozen values."""

    @property
    def name(self) -> str: ...

    @property
    def step_types(self) -> tuple[str, ...]:
        """Step types this buildfact owns: a step of that type needs the buildfact."""
        ...

    @property
    def jenkins_plugins(self) -> tuple[str, ...]:
        """Jenkins plugin ids the team's Jenkins needs for this buildfact."""
        ...

    @property
    def jenkins_tools(self) -> tuple[JenkinsTool, ...]: ...

    @property
    def runtime_packages(self) -> tuple[str, ...]:
        """Debian packages the runtime base image installs."""
        ...

    @property
    def build_packages(self) -> tuple[str, ...]:
        """Debian packages the build-agent image adds on top of the runtime ones."""
        ...

    @property
    def agent_label(self) -> str: ...

    def step_commands(self, step: Step, repo: Path) -> list[Command]:
        """The commands that perform ``step`` in the checked-out repository ``repo``."""
        ...

    def default_runtime_command(self, app: AppSpec) -> tuple[str, ...]:
        """The container command when default.json's runtime.command is not given."""
        ...


@dataclass(frozen=True)
class BuildfactBase:
    """Shared defaults; a language module subclasses it and fills in its specifics."""

    name: str
    step_types: tuple[str, ...] = ()
    jenkins_plugins: tuple[str, ...] = ()
    jenkins_tools: tuple[JenkinsTool, ...] = ()
    runtime_packages: tuple[str, ...] = ()
    build_packages: tuple[str, ...] = field(default_factory=tuple)

    @property
    def agent_label(self) -> str:
        return f"buildplat-{self.name}"

    def step_commands(self, step: Step, repo: Path) -> list[Command]:
        raise NotImplementedError(f"the {self.name} buildfact has no step {step.kind!r}")

    def default_runtime_command(self, app: AppSpec) -> tuple[str, ...]:
        raise NotImplementedError


def shell_step(text: str) -> Command:
    """A ``shell`` step: the only place text from default.json is run by a shell, because it is shell."""
    return Command(("/bin/sh", "-ec", text), "shell")


def split_words(value: str) -> tuple[str, ...]:
    return tuple(shlex.split(value))
