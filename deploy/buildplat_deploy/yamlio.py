"""Deterministic YAML: sorted keys, block style, multi-line strings as literal blocks, no timestamps or anchors."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import yaml


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True  # the same list object reused in two places must not become an anchor


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _str)


def dump(document: Any) -> str:
    return yaml.dump(document, Dumper=_Dumper, sort_keys=True, default_flow_style=False, allow_unicode=True, width=120)


def dump_all(documents: Iterable[Any]) -> str:
    return "".join("---\n" + dump(document) for document in documents)


def dump_json(document: Any) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"
