"""The README is part of the product: its first two commands and its reference tables must stay true."""

from __future__ import annotations

import re

from buildplat.spec.reference import markdown_reference
from buildplat.spec.schemas import load_schema
from tests.cli_helpers import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")


def section(label: str) -> str:
    match = re.search(f"<!-- BEGIN {label} -->\n(.*?)<!-- END {label} -->", README, re.S)
    assert match is not None, f"README has no {label} section"
    return match.group(1)


def test_readme_starts_with_exactly_the_two_commands() -> None:
    block = re.search(r"```sh\n(.*?)```", README, re.S)
    assert block is not None
    assert README.index("```sh") < README.index("## ")
    commands = [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]
    assert commands == ["./scripts/demo", "./scripts/test"]
    for command in commands:
        script = REPO_ROOT / command
        assert script.exists(), command
        assert script.stat().st_mode & 0o111, f"{command} is not executable"


def test_ci_runs_the_readme_test_command() -> None:
    ci = (REPO_ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "./scripts/test" in ci


def test_default_json_reference_is_current() -> None:
    assert section("default.json reference") == markdown_reference(load_schema("default.schema.json"))


def test_platform_reference_is_current() -> None:
    assert section("platform config reference") == markdown_reference(load_schema("platform.schema.json"))


def test_every_registered_command_is_in_the_readme_table() -> None:
    from buildplat.cli import COMMANDS

    for name in COMMANDS:
        assert f"| `buildplat {name}" in README, f"README's command table lacks `buildplat {name}`"
