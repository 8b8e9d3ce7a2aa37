"""The JSON Schemas shipped inside the package (``buildplat/data/schemas``, the repository's ``schemas/``)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

APP_SCHEMA = "default.schema.json"


def schema_text(name: str = APP_SCHEMA) -> str:
    return (resources.files("buildplat") / "data" / "schemas" / name).read_text(encoding="utf-8")


@cache
def load_schema(name: str = APP_SCHEMA) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(schema_text(name))
    return loaded
