"""Jenkins' remote API rendering (Stapler's exported beans): ``?depth=N`` and ``?tree=...``.

Every object is written with its ``_class`` first. Without ``tree``, Stapler prunes by depth: the top object shows
its properties of visibility >= ``1 - depth``, each level down needs one more, so at ``depth=0`` a job listed in
``jobs`` shows only ``name``, ``url`` and ``color`` (visibility 2 or 999) and deeper objects only ``_class``.
With ``tree`` only the named properties are written, at any depth, ``*`` matches any name and ``{M,N}`` slices a
list; a named object without a sub-tree is written as ``{"_class": ...}``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Prop:
    name: str
    value: Any  # a plain value, a Bean, a list of them, or a zero-argument callable computing one
    visibility: int = 1


@dataclass(frozen=True)
class Bean:
    cls: str
    props: Sequence[Prop] = ()


class BadTree(ValueError):
    pass


@dataclass
class _Tree:
    children: dict[str, _Tree] = field(default_factory=dict)
    start: int = 0
    stop: int | None = None


_TOKEN = re.compile(r"[,\[\]{}]|[^,\[\]{}]+")


def parse_tree(spec: str) -> _Tree:
    """Parse ``a,b[c,d{0,5}]``; raises :class:`BadTree` where Stapler raises IllegalArgumentException."""
    tokens = _TOKEN.findall(spec)
    pos = 0

    def peek() -> str | None:
        return tokens[pos] if pos < len(tokens) else None

    def take(expected: str | None = None) -> str:
        nonlocal pos
        token = peek()
        if token is None or (expected is not None and token != expected):
            raise BadTree(f"expected {expected or 'name'} at {pos}")
        pos += 1
        return token

    def number() -> int:
        token = take()
        if not token.isdigit():
            raise BadTree(f"expected number at {pos - 1}")
        return int(token)

    def node_list(tree: _Tree) -> None:
        while True:
            name = take()
            if name in ",[]{}":
                raise BadTree(f"expected name at {pos - 1}")
            sub = tree.children[name] = _Tree()
            if peek() == "[":
                take("[")
                node_list(sub)
                take("]")
            if peek() == "{":
                take("{")
                if peek() == ",":
                    take(",")
                    sub.stop = number()
                else:
                    sub.start = number()
                    if peek() == "}":
                        sub.stop = sub.start + 1
                    else:
                        take(",")
                        sub.stop = None if peek() == "}" else number()
                take("}")
            if peek() != ",":
                return
            take(",")

    root = _Tree()
    node_list(root)
    if peek() is not None:
        raise BadTree(f"expected EOF at {pos}")
    return root


class _Pruner:
    def accept(self, prop: Prop) -> _Pruner | None:
        raise NotImplementedError

    def window(self, items: list[Any]) -> list[Any]:
        return items


class _ByDepth(_Pruner):
    def __init__(self, n: int) -> None:
        self.n = n

    def accept(self, prop: Prop) -> _Pruner | None:
        return _ByDepth(self.n + 1) if prop.visibility >= self.n else None


class _Named(_Pruner):
    def __init__(self, tree: _Tree) -> None:
        self.tree = tree

    def accept(self, prop: Prop) -> _Pruner | None:
        sub = self.tree.children.get(prop.name) or self.tree.children.get("*")
        return _Named(sub) if sub is not None else None

    def window(self, items: list[Any]) -> list[Any]:
        return items[self.tree.start : self.tree.stop]


def _render(value: Any, pruner: _Pruner) -> Any:
    if isinstance(value, Bean):
        out: dict[str, Any] = {"_class": value.cls}
        for prop in value.props:
            child = pruner.accept(prop)
            if child is not None:
                raw = prop.value() if callable(prop.value) else prop.value
                out[prop.name] = _render(raw, child)
        return out
    if isinstance(value, list | tuple):
        return [_render(item, pruner) for item in pruner.window(list(value))]
    return value


def render(bean: Bean, *, depth: int = 0, tree: str | None = None) -> bytes:
    """The JSON Jenkins writes for ``api/json?depth=...&tree=...`` (compact, like Stapler)."""
    pruner: _Pruner = _Named(parse_tree(tree)) if tree is not None else _ByDepth(1 - depth)
    return json.dumps(_render(bean, pruner), separators=(",", ":"), ensure_ascii=False).encode("utf-8")
