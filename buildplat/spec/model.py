"""Typed, frozen records of a validated default.json, with every default filled in.

The rest of buildplat receives an :class:`AppSpec`, never the raw dictionary: defaults live in one place and
a field that is missing cannot be silently read as something else.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from buildplat.errors import BuildplatError
from buildplat.spec.document import CheckedDocument, Problem, app_kind, check_bytes

HTTP_TYPES = ("http_html", "http_api")


@dataclass(frozen=True)
class Step:
    """One build step: ``kind`` is the step type ("shell", "gradle", …), ``options`` its settings."""

    kind: str
    options: dict[str, Any]
    shell: str | None = None  # the text of a shell step

    def words(self, key: str, default: str) -> list[str]:
        """An option holding arguments, split like a shell would split it (it never reaches a shell)."""
        value = self.options.get(key, default)
        return shlex.split(value) if isinstance(value, str) else []


@dataclass(frozen=True)
class Instances:
    min: int
    max: int


@dataclass(frozen=True)
class Service:
    name: str
    application: str
    instances: Instances
    external_url: str | None = None


@dataclass(frozen=True)
class Runtime:
    command: tuple[str, ...] | None = None  # None: the primary buildfact's default
    port: int = 8080
    health_path: str = "/"
    env: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class SystemTest:
    command: str | None = None  # None: GET health_path on every HTTP service
    timeout_seconds: int = 600


@dataclass(frozen=True)
class AppSpec:
    """A whole, valid default.json."""

    namespace: str
    name: str
    type: str
    version: str
    description: str
    buildfacts: tuple[str, ...]
    build_steps: tuple[Step, ...]
    build_command: str | None
    artifacts: str
    runtime: Runtime = field(default_factory=Runtime)
    system_test: SystemTest = field(default_factory=SystemTest)
    room: str | None = None
    services: tuple[Service, ...] = ()

    @property
    def primary_buildfact(self) -> str:
        return self.buildfacts[0]

    @property
    def is_http(self) -> bool:
        return self.type in HTTP_TYPES

    @property
    def full_name(self) -> str:
        return f"{self.namespace}/{self.name}"


def from_document(doc: dict[str, Any]) -> AppSpec:
    """Build the record from a document that has already passed validation."""
    application = doc["application"]
    build = doc["build"]
    steps = []
    for raw in build.get("build_steps", []):
        ((kind, options),) = raw.items()
        if kind == "shell":
            steps.append(Step(kind, {}, shell=options))
        else:
            steps.append(Step(kind, dict(options)))
    runtime_raw = doc.get("runtime", {})
    command = runtime_raw.get("command")
    runtime = Runtime(
        command=tuple(command) if command else None,
        port=runtime_raw.get("port", 8080),
        health_path=runtime_raw.get("health_path", "/"),
        env=tuple(sorted(runtime_raw.get("env", {}).items())),
    )
    system_test_raw = doc.get("system_test", {})
    system_test = SystemTest(system_test_raw.get("command"), system_test_raw.get("timeout_seconds", 600))
    services = tuple(
        Service(
            name=s["name"],
            application=s["application"],
            instances=Instances(s["instances"]["min"], s["instances"]["max"]),
            external_url=s.get("external_url"),
        )
        for s in doc.get("services", [])
    )
    return AppSpec(
        namespace=doc["namespace"],
        name=application["name"],
        type=application["type"],
        version=application["version"],
        description=application.get("description") or f"{application['name']} ({doc['namespace']})",
        buildfacts=tuple(build["system_setup"]["buildfacts"]),
        build_steps=tuple(steps),
        build_command=doc.get("build_command"),
        artifacts=doc["artifacts"],
        runtime=runtime,
        system_test=system_test,
        room=doc.get("notifications", {}).get("room"),
        services=services,
    )


class InvalidDocument(BuildplatError):
    """A default.json with problems; the message lists them in the validate format."""

    def __init__(self, checked: CheckedDocument, *, hint: str | None = None) -> None:
        self.problems = checked.problems
        lines = [format_problem(p) for p in checked.problems]
        super().__init__(
            f"{checked.file} is not valid ({len(checked.problems)} "
            f"problem{'s' if len(checked.problems) != 1 else ''}):\n" + "\n".join(lines),
            hint=hint or f"fix them, then check again with `buildplat validate {checked.file}`",
        )


def format_problem(problem: Problem) -> str:
    where = f" (at {problem.json_path})" if problem.json_path else ""
    text = f"{problem.file}:{problem.line}:{problem.column}: error: {problem.message}{where}"
    if problem.hint:
        text += f"\n{problem.file}:{problem.line}:{problem.column}: hint: {problem.hint}"
    return text


def check_app_bytes(data: bytes, file: str) -> CheckedDocument:
    return check_bytes(data, file, app_kind())


def load_app(data: bytes, file: str) -> AppSpec:
    """Parse and validate a default.json; raise :class:`InvalidDocument` listing every problem."""
    checked = check_app_bytes(data, file)
    if not checked.ok:
        raise InvalidDocument(checked)
    return from_document(checked.value)


def load_app_file(path: Path) -> AppSpec:
    """Read ``path`` (a default.json, or a directory holding one) and return its record."""
    from buildplat.errors import UsageError

    target = path / "default.json" if path.is_dir() else path
    try:
        data = target.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {target}: {exc.strerror or exc}") from exc
    return load_app(data, str(target))
