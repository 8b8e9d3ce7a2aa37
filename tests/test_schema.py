"""The schemas as a product: valid 2020-12, documented, tied to the buildfact registry, and our checker agrees
with the reference implementation (the jsonschema package) on what is valid."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from buildplat.buildfacts.registry import BUILDFACTS, owner_of_step
from buildplat.spec.checker import SUPPORTED_KEYWORDS, SchemaChecker
from buildplat.spec.jsontext import parse_located
from buildplat.spec.rules import step_buildfacts
from buildplat.spec.schemas import load_schema

SCHEMAS = ["default.schema.json", "platform.schema.json"]
REPO = Path(__file__).resolve().parent.parent
CASES = Path(__file__).parent / "spec_cases"


def walk(node: Any, path: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every subschema with its location."""
    if not isinstance(node, dict):
        return
    yield path, node
    for key in ("properties", "$defs"):
        for name, sub in node.get(key, {}).items():
            yield from walk(sub, f"{path}/{key}/{name}")
    for key in ("items", "additionalProperties", "propertyNames", "not", "if", "then", "else"):
        if isinstance(node.get(key), dict):
            yield from walk(node[key], f"{path}/{key}")
    for key in ("allOf", "anyOf", "oneOf"):
        for index, sub in enumerate(node.get(key, [])):
            yield from walk(sub, f"{path}/{key}/{index}")


@pytest.mark.parametrize("name", SCHEMAS)
def test_schema_is_valid_json_schema_2020_12(name: str) -> None:
    schema = load_schema(name)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith("/" + name)
    jsonschema.Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("name", SCHEMAS)
def test_repository_copy_is_the_packaged_copy(name: str) -> None:
    assert (REPO / "schemas" / name).read_text() == (REPO / "buildplat" / "data" / "schemas" / name).read_text()


@pytest.mark.parametrize("name", SCHEMAS)
def test_every_property_has_a_description(name: str) -> None:
    missing = [
        f"{where}/properties/{prop}"
        for where, node in walk(load_schema(name))
        for prop, sub in node.get("properties", {}).items()
        if "description" not in sub
    ]
    assert missing == []


@pytest.mark.parametrize("name", SCHEMAS)
def test_schema_uses_only_keywords_our_checker_understands(name: str) -> None:
    used = {key for _where, node in walk(load_schema(name)) for key in node if key not in ("properties", "$defs")}
    assert used <= SUPPORTED_KEYWORDS, used - SUPPORTED_KEYWORDS


def test_top_level_properties_have_examples() -> None:
    schema = load_schema()
    assert schema["examples"]
    lacking = [
        name for name, sub in schema["properties"].items() if "examples" not in sub and sub.get("type") != "object"
    ]
    assert lacking == []


def test_schema_examples_are_valid() -> None:
    schema = load_schema()
    for example in schema["examples"]:
        assert SchemaChecker(schema).check(example) == []


def test_buildfact_enum_is_the_registry() -> None:
    items = load_schema()["properties"]["build"]["properties"]["system_setup"]["properties"]["buildfacts"]["items"]
    assert items["enum"] == list(BUILDFACTS)


def test_step_ownership_in_the_schema_is_the_registry() -> None:
    schema = load_schema()
    steps = schema["$defs"]["step"]["properties"]
    assert step_buildfacts(schema) == {kind: owner_of_step(kind) for kind in steps if owner_of_step(kind)}
    assert owner_of_step("shell") is None
    assert {k for b in BUILDFACTS.values() for k in b.step_types} == set(steps) - {"shell"}


# -- our checker versus the reference implementation ------------------------------------------------------------


def reference_valid(schema: dict[str, Any], value: Any) -> bool:
    return jsonschema.Draft202012Validator(schema).is_valid(value)


def case_values() -> list[tuple[str, Any]]:
    values = []
    for path in sorted((CASES / "valid").glob("*.json")) + sorted((CASES / "invalid").glob("*.json")):
        try:
            text = path.read_bytes().decode("utf-8-sig")
            value, _located = parse_located(text)
        except Exception:
            continue
        values.append((path.name, value))
    return values


@pytest.mark.parametrize(("name", "value"), case_values(), ids=[n for n, _ in case_values()])
def test_checker_agrees_with_jsonschema_on_every_case(name: str, value: Any) -> None:
    schema = load_schema()
    assert (SchemaChecker(schema).check(value) == []) == reference_valid(schema, value)


SEED = json.loads((CASES / "valid" / "all-options.json").read_text())

json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 200), st.sampled_from(["", "x", "java", "3.x.x", "a/b", "UPPER", "2"])
)


def paths_of(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, sub in value.items():
            found += paths_of(sub, (*prefix, key))
    elif isinstance(value, list):
        for index, sub in enumerate(value):
            found += paths_of(sub, (*prefix, index))
    return found


SEED_PATHS = paths_of(SEED)[1:]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(SEED_PATHS), json_leaf, st.booleans()), min_size=1, max_size=4))
def test_checker_agrees_with_jsonschema_on_mutations(mutations: list[tuple[tuple[Any, ...], Any, bool]]) -> None:
    """Replace or delete random parts of a rich valid document; both checkers must give the same verdict."""
    document = copy.deepcopy(SEED)
    for path, leaf, delete in mutations:
        parent: Any = document
        try:
            for part in path[:-1]:
                parent = parent[part]
            if delete and isinstance(parent, dict):
                parent.pop(path[-1], None)
            else:
                parent[path[-1]] = leaf
        except (KeyError, IndexError, TypeError):
            continue
    schema = load_schema()
    assert (SchemaChecker(schema).check(document) == []) == reference_valid(schema, document)


@pytest.mark.parametrize(
    "value",
    [
        {},
        [],
        "x",
        1,
        None,
        {"team": "a", "repositories": [], "jenkins": {"url": "http://j/"}},
        {"team": "a", "repositories": [{"url": "ftp://x"}], "jenkins": {"url": "http://u:p@j/"}},
        {
            "team": "a",
            "repositories": [{"url": "/srv/git/a.git", "branch": "-x"}],
            "jenkins": {"url": "https://j"},
            "sync": {"git_concurrency": 0},
        },
    ],
)
def test_checker_agrees_with_jsonschema_on_platform_configs(value: Any) -> None:
    schema = load_schema("platform.schema.json")
    assert (SchemaChecker(schema).check(value) == []) == reference_valid(schema, value)
