"""A small JSON Schema (2020-12) checker for the keywords our schemas use, with messages people can act on.

Why not the ``jsonschema`` package: importing it alone costs 0.15-0.2 s, more than the whole budget of
``buildplat validate`` on one file, and its messages speak of schemas rather than of the user's file. This
checker understands exactly the keywords in :data:`SUPPORTED_KEYWORDS` (a test walks our schemas to make sure
they use nothing else) and is tested against ``jsonschema`` itself on valid and invalid documents, so the two
agree on what is valid.

Findings carry the JSON path they concern; positions in the text are resolved later, only for files that
have findings.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from buildplat.spec.jsontext import JsonPath
from buildplat.spec.suggest import did_you_mean

ANNOTATIONS = frozenset(
    {
        "$schema",
        "$id",
        "$comment",
        "$defs",
        "title",
        "description",
        "examples",
        "default",
        "deprecated",
        "readOnly",
        "writeOnly",
        "format",
        "x-buildfact",
    }
)
ASSERTIONS = frozenset(
    {
        "type",
        "enum",
        "const",
        "properties",
        "additionalProperties",
        "required",
        "propertyNames",
        "minProperties",
        "maxProperties",
        "items",
        "minItems",
        "maxItems",
        "uniqueItems",
        "pattern",
        "minLength",
        "maxLength",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "$ref",
        "allOf",
        "anyOf",
        "oneOf",
        "not",
        "if",
        "then",
        "else",
    }
)
SUPPORTED_KEYWORDS = ANNOTATIONS | ASSERTIONS


@dataclass(frozen=True)
class Finding:
    """One problem with a document, before it is given a line and column."""

    path: JsonPath
    message: str
    hint: str | None = None
    rule: str = ""
    at_key: bool = False  # point at the key of ``path`` rather than at its value


_JSON_TYPES = ("object", "array", "string", "integer", "number", "boolean", "null")


def json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    if isinstance(value, list):
        return "array"
    return "object"


def describe(value: Any) -> str:
    """``"2"`` -> 'the string "2"', ``[1]`` -> 'an array'."""
    kind = json_type(value)
    if kind == "string":
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the string {json.dumps(shown)}"
    if kind in ("integer", "number"):
        return f"the number {json.dumps(value)}"
    if kind == "boolean":
        return json.dumps(value)
    if kind == "null":
        return "null"
    return "an array" if kind == "array" else "an object"


def _a(kind: str) -> str:
    return {"object": "an object", "array": "an array", "integer": "an integer", "null": "null"}.get(kind, f"a {kind}")


def _type_matches(value: Any, expected: str) -> bool:
    actual = json_type(value)
    return actual == expected or (expected == "number" and actual == "integer")


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


class SchemaChecker:
    """Checks documents against one schema (with local ``$ref``s into ``$defs``)."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.root = schema

    def check(self, instance: Any) -> list[Finding]:
        return list(self._check(instance, self.root, ()))

    # -- dispatch ------------------------------------------------------------------------------------------
    def _resolve(self, ref: str) -> dict[str, Any]:
        if not ref.startswith("#"):
            raise ValueError(f"only local $ref is supported, not {ref!r}")
        node: Any = self.root
        for raw in ref[1:].split("/")[1:]:
            node = node[raw.replace("~1", "/").replace("~0", "~")]
        return node  # type: ignore[no-any-return]

    def _check(self, value: Any, schema: dict[str, Any] | bool, path: JsonPath) -> Iterator[Finding]:
        if schema is True:
            return
        if schema is False:
            yield Finding(path, "no value is allowed here", rule="false")
            return
        if "$ref" in schema:
            target = self._resolve(schema["$ref"])
            if "examples" in schema:
                # The referring property knows the better example ("someproject" for a namespace).
                target = {**target, "examples": schema["examples"]}
            yield from self._check(value, target, path)
            # As in 2020-12, keywords beside $ref apply too.
        if "type" in schema:
            expected = schema["type"]
            kinds = expected if isinstance(expected, list) else [expected]
            if not any(_type_matches(value, k) for k in kinds):
                yield self._type_finding(value, kinds, path)
                return
        if "enum" in schema and value not in schema["enum"]:
            yield self._enum_finding(value, schema["enum"], path)
        if "const" in schema and value != schema["const"]:
            yield Finding(path, f"expected {_show(schema['const'])}, got {describe(value)}", rule="const")
        if isinstance(value, dict):
            yield from self._check_object(value, schema, path)
        elif isinstance(value, list):
            yield from self._check_array(value, schema, path)
        elif isinstance(value, str):
            yield from self._check_string(value, schema, path)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            yield from self._check_number(value, schema, path)
        for sub in schema.get("allOf", ()):
            yield from self._check(value, sub, path)
        if "anyOf" in schema:
            yield from self._check_any_of(value, schema["anyOf"], path, exactly_one=False)
        if "oneOf" in schema:
            yield from self._check_any_of(value, schema["oneOf"], path, exactly_one=True)
        if "not" in schema and not any(True for _ in self._check(value, schema["not"], path)):
            yield Finding(path, f"{describe(value)} is not allowed here", rule="not")
        if "if" in schema:
            branch = "then" if not any(True for _ in self._check(value, schema["if"], path)) else "else"
            if branch in schema:
                yield from self._check(value, schema[branch], path)

    # -- per type --------------------------------------------------------------------------------------------
    def _check_object(self, value: dict[str, Any], schema: dict[str, Any], path: JsonPath) -> Iterator[Finding]:
        properties: dict[str, Any] = schema.get("properties", {})
        for name in schema.get("required", ()):
            if name not in value:
                yield self._required_finding(name, properties.get(name), path)
        count = len(value)
        low, high = schema.get("minProperties"), schema.get("maxProperties")
        if (low is not None and count < low) or (high is not None and count > high):
            yield self._count_finding(value, low, high, schema, path)
        additional = schema.get("additionalProperties", True)
        names_schema = schema.get("propertyNames")
        for key, item in value.items():
            item_path = (*path, key)
            if names_schema is not None:
                for finding in self._check(key, names_schema, item_path):
                    yield Finding(item_path, f"key {finding.message}", finding.hint, "propertyNames", at_key=True)
            if key in properties:
                yield from self._check(item, properties[key], item_path)
            elif additional is False:
                yield self._unknown_key_finding(key, list(properties), item_path)
            elif isinstance(additional, dict):
                yield from self._check(item, additional, item_path)

    def _check_array(self, value: list[Any], schema: dict[str, Any], path: JsonPath) -> Iterator[Finding]:
        low, high = schema.get("minItems"), schema.get("maxItems")
        if low is not None and len(value) < low:
            yield Finding(
                path,
                "must not be empty" if low == 1 else f"needs at least {low} items, has {len(value)}",
                self._example_hint(schema),
                "minItems",
            )
        if high is not None and len(value) > high:
            yield Finding(path, f"may have at most {high} items, has {len(value)}", rule="maxItems")
        if schema.get("uniqueItems"):
            seen: dict[str, int] = {}
            for index, item in enumerate(value):
                key = json.dumps(item, sort_keys=True)
                if key in seen:
                    yield Finding(
                        (*path, index),
                        f"{_show(item)} is listed twice (first at index {seen[key]})",
                        "remove the repeated item",
                        "uniqueItems",
                    )
                else:
                    seen[key] = index
        items = schema.get("items")
        if items is not None:
            for index, item in enumerate(value):
                yield from self._check(item, items, (*path, index))

    def _check_string(self, value: str, schema: dict[str, Any], path: JsonPath) -> Iterator[Finding]:
        length = len(value)
        low, high = schema.get("minLength"), schema.get("maxLength")
        if low is not None and length < low:
            message = (
                "must not be empty"
                if low == 1 and not value
                else (f"{_show(value)} is too short: at least {low} characters are needed")
            )
            yield Finding(path, message, self._example_hint(schema), "minLength")
            return
        if high is not None and length > high:
            yield Finding(
                path,
                f"{_show(value)} is {length} characters long; at most {high} are allowed",
                self._example_hint(schema),
                "maxLength",
            )
            return
        pattern = schema.get("pattern")
        if pattern is not None and _compiled(pattern).search(value) is None:
            title = schema.get("title")
            message = f"{_show(value)} is not {title}" if title else f"{_show(value)} does not match {pattern}"
            yield Finding(path, message, self._example_hint(schema), "pattern")

    def _check_number(self, value: float, schema: dict[str, Any], path: JsonPath) -> Iterator[Finding]:
        if "minimum" in schema and value < schema["minimum"]:
            yield Finding(path, f"{_show(value)} is less than the minimum of {schema['minimum']}", rule="minimum")
        if "maximum" in schema and value > schema["maximum"]:
            yield Finding(path, f"{_show(value)} is more than the maximum of {schema['maximum']}", rule="maximum")
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            yield Finding(
                path, f"{_show(value)} must be more than {schema['exclusiveMinimum']}", rule="exclusiveMinimum"
            )
        if "exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"]:
            yield Finding(
                path, f"{_show(value)} must be less than {schema['exclusiveMaximum']}", rule="exclusiveMaximum"
            )

    def _check_any_of(self, value: Any, branches: list[Any], path: JsonPath, *, exactly_one: bool) -> Iterator[Finding]:
        results = [list(self._check(value, branch, path)) for branch in branches]
        passing = sum(1 for findings in results if not findings)
        if passing == 1 or (passing > 1 and not exactly_one):
            return
        if passing > 1:
            yield Finding(path, f"{describe(value)} matches more than one alternative", rule="oneOf")
            return

        # Report the branch that came closest: the one whose type fits, whose problems are deepest (it got
        # furthest into the value), then the one with fewest problems.
        def closeness(findings: list[Finding]) -> tuple[int, int, int]:
            type_fits = 0 if any(f.rule == "type" and f.path == path for f in findings) else 1
            return (type_fits, max(len(f.path) for f in findings), -len(findings))

        best = max(results, key=closeness)
        yield from best

    # -- messages ----------------------------------------------------------------------------------------------
    def _example_hint(self, schema: dict[str, Any]) -> str | None:
        examples = schema.get("examples")
        if not examples and "$ref" in schema:
            examples = self._resolve(schema["$ref"]).get("examples")
        if examples:
            return f"for example {_show(examples[0])}"
        return None

    def _type_finding(self, value: Any, kinds: list[str], path: JsonPath) -> Finding:
        wanted = " or ".join(_a(k) for k in kinds)
        hint: str | None = None
        if isinstance(value, str) and any(k in ("integer", "number") for k in kinds):
            try:
                number = json.loads(value.strip())
            except ValueError:
                number = None
            if isinstance(number, (int, float)) and not isinstance(number, bool):
                hint = f"write {json.dumps(number)} without quotes"
        elif isinstance(value, str) and "boolean" in kinds and value.lower() in ("true", "false"):
            hint = f"write {value.lower()} without quotes"
        elif isinstance(value, str) and "array" in kinds:
            hint = f"use a list: [{json.dumps(value)}]"
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and "string" in kinds:
            hint = f'put it in double quotes: "{json.dumps(value)}"'
        if path == () and "object" in kinds:
            return Finding(
                path,
                f"the top level must be a JSON object, not {describe(value)}",
                "a default.json is one JSON object; `buildplat schema` describes it",
                "type",
            )
        return Finding(path, f"expected {wanted}, got {describe(value)}", hint, "type")

    def _enum_finding(self, value: Any, allowed: list[Any], path: JsonPath) -> Finding:
        choices = ", ".join(_show(a) for a in allowed)
        hint = None
        if isinstance(value, str):
            guess = did_you_mean(value, [a for a in allowed if isinstance(a, str)])
            if guess is not None:
                hint = f"did you mean {json.dumps(guess)}?"
        return Finding(path, f"{_show(value)} is not one of {choices}", hint, "enum")

    def _required_finding(self, name: str, prop: Any, path: JsonPath) -> Finding:
        hint = None
        if isinstance(prop, dict):
            examples = prop.get("examples")
            if examples:
                hint = f"add {json.dumps(name)}: {_show(examples[0])}"
        return Finding(path, f"missing required key {json.dumps(name)}", hint, "required")

    def _unknown_key_finding(self, key: str, allowed: list[str], path: JsonPath) -> Finding:
        guess = did_you_mean(key, allowed)
        if guess is not None:
            hint = f"did you mean {json.dumps(guess)}?"
        elif allowed:
            hint = "allowed keys here: " + ", ".join(allowed)
        else:
            hint = "no keys are allowed here"
        return Finding(path, f"unknown key {json.dumps(key)}", hint, "additionalProperties", at_key=True)

    def _count_finding(
        self, value: dict[str, Any], low: int | None, high: int | None, schema: dict[str, Any], path: JsonPath
    ) -> Finding:
        what = schema.get("title", "this object")
        keys = ", ".join(json.dumps(k) for k in value)
        if low == high == 1:
            if not value:
                allowed = ", ".join(schema.get("properties", {}))
                return Finding(path, f"{what} needs exactly one key", f"one of: {allowed}", "minProperties")
            return Finding(
                path,
                f"{what} has exactly one key; this one has {len(value)}: {keys}",
                "split it into separate items, one key each",
                "maxProperties",
            )
        if low is not None and len(value) < low:
            return Finding(path, f"{what} needs at least {low} keys, has {len(value)}", rule="minProperties")
        return Finding(path, f"{what} may have at most {high} keys, has {len(value)}", rule="maxProperties")
