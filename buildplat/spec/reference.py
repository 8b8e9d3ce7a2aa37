"""The schema as a Markdown reference: one row per field, with its type, whether it is required, its default
and its description. The README's default.json reference is this output (a test keeps them equal)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in node:
        target = schema
        for part in node["$ref"][2:].split("/"):
            target = target[part]
        return {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _type_of(node: dict[str, Any]) -> str:
    if "enum" in node:
        return " \\| ".join(f"`{json.dumps(v)}`" for v in node["enum"])
    kind = node.get("type", "any")
    text = " or ".join(kind) if isinstance(kind, list) else str(kind)
    if text == "array" and isinstance(node.get("items"), dict):
        items = node["items"]
        inner = "object" if "$ref" in items else _type_of(items)
        text = f"array of {inner}"
    return text


def _rows(schema: dict[str, Any], node: dict[str, Any], prefix: str) -> Iterator[str]:
    node = _resolve(schema, node)
    required = set(node.get("required", ()))
    for name, raw in node.get("properties", {}).items():
        sub = _resolve(schema, raw)
        field = f"{prefix}{name}"
        default = f"`{json.dumps(sub['default'])}`" if "default" in sub else ""
        description = " ".join(str(sub.get("description", "")).split()).replace("|", "\\|")
        needed = "yes" if name in required else ""
        yield f"| `{field}` | {_type_of(sub)} | {needed} | {default} | {description} |"
        if sub.get("type") == "object" and "properties" in sub:
            yield from _rows(schema, sub, f"{field}.")
        items = sub.get("items")
        if sub.get("type") == "array" and isinstance(items, dict):
            item = _resolve(schema, items)
            if "properties" in item:
                yield from _rows(schema, item, f"{field}[].")


def markdown_reference(schema: dict[str, Any]) -> str:
    """A Markdown table of every field, in schema order (build step types appear under build_steps[])."""
    lines = ["| field | type | required | default | description |", "|---|---|---|---|---|"]
    lines += _rows(schema, schema, "")
    return "\n".join(lines) + "\n"
