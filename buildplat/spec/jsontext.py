"""JSON with comments, parsed with positions.

``default.json`` allows ``//`` and ``/* */`` comments; everything else is strict JSON (no NaN, no trailing
commas, no duplicate keys). Two parsers serve two needs:

* the fast path blanks out comments (keeping every offset) and hands the text to the C ``json`` scanner. Most
  files are valid, so most files never pay for positions;
* :class:`PositionParser` is a small iterative parser that records where every key and value starts. It runs
  only when a file has a problem: it gives syntax errors their line and column, finds duplicate keys, and maps
  JSON paths back to the text for schema errors. Being iterative, 100,000 nested brackets cannot overflow the
  stack.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any

JsonPath = tuple[str | int, ...]

MAX_DEPTH = 64
MAX_BYTES = 1024 * 1024
BOM = "\ufeff"


def format_path(path: JsonPath) -> str:
    """``("services", 0, "name")`` -> ``$.services[0].name`` (keys that are not identifiers are quoted)."""
    out = ["$"]
    for part in path:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif _IDENT.fullmatch(part):
            out.append(f".{part}")
        else:
            out.append(f"[{json.dumps(part)}]")
    return "".join(out)


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


class JsonSyntaxError(Exception):
    """The text is not JSON-with-comments. ``offset`` indexes the decoded text (BOM removed)."""

    def __init__(self, offset: int, message: str, hint: str | None = None, path: JsonPath = ()) -> None:
        super().__init__(message)
        self.offset = offset
        self.message = message
        self.hint = hint
        self.path = path


@dataclass(frozen=True)
class Duplicate:
    path: JsonPath  # the path of the repeated key
    offset: int  # where the repeated key starts
    first_offset: int  # where the first occurrence starts


@dataclass
class Located:
    """Where things are in the text: value offsets and key offsets by JSON path."""

    values: dict[JsonPath, int] = field(default_factory=dict)
    keys: dict[JsonPath, int] = field(default_factory=dict)
    duplicates: list[Duplicate] = field(default_factory=list)


class LineIndex:
    """Offsets to 1-based (line, column), columns counted in characters."""

    def __init__(self, text: str) -> None:
        self._starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def line_col(self, offset: int) -> tuple[int, int]:
        line = bisect_right(self._starts, offset)
        return line, offset - self._starts[line - 1] + 1


# --------------------------------------------------------------------------------------------------------
# Fast path


_STRING_OR_COMMENT = re.compile(r'"(?:[^"\\\n]|\\.)*"|//[^\n]*|/\*.*?\*/', re.S)


def _blank(match: re.Match[str]) -> str:
    token = match.group()
    if token[0] == '"':
        return token
    # Keep newlines so that line numbers in the stripped text are the same as in the original.
    return re.sub(r"[^\n]", " ", token)


class _NeedsSlowPath(Exception):
    pass


def _pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _NeedsSlowPath
    return result


def _reject_constant(name: str) -> Any:
    raise _NeedsSlowPath


def parse_fast(text: str) -> Any:
    """Parse ``text`` if it is clean JSON-with-comments; raise ``_NeedsSlowPath`` for anything else."""
    stripped = _STRING_OR_COMMENT.sub(_blank, text) if "/" in text else text
    try:
        return json.loads(stripped, object_pairs_hook=_pairs_hook, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise _NeedsSlowPath from exc


# --------------------------------------------------------------------------------------------------------
# Slow path: positions and precise syntax errors

_WS = re.compile(r"[ \t\n\r]*")
_STRING = re.compile(r'"(?:[^"\\\x00-\x1f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"')
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_BAREWORD = re.compile(r"[+-]?[A-Za-z_][A-Za-z0-9_.+-]*|[+-]?[0-9][0-9A-Za-z_.+-]*")
_LITERALS: dict[str, Any] = {"true": True, "false": False, "null": None}
_NOT_JSON_WORDS = {
    "NaN": "NaN is not valid JSON",
    "Infinity": "Infinity is not valid JSON",
    "-Infinity": "-Infinity is not valid JSON",
    "None": "None is Python, not JSON",
    "True": "True is Python, not JSON",
    "False": "False is Python, not JSON",
    "undefined": "undefined is JavaScript, not JSON",
}


def _describe(char: str) -> str:
    if char == "":
        return "end of file"
    if char in "\t\r\n ":
        return repr(char)
    return f"'{char}'"


@dataclass
class _Container:
    is_object: bool
    value: Any
    path: JsonPath
    open_offset: int
    key: str | None = None
    key_offset: int = 0
    first_keys: dict[str, int] = field(default_factory=dict)
    count: int = 0


class PositionParser:
    """Iterative JSON-with-comments parser that records offsets and reports precise syntax errors."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.located = Located()

    # -- lexical helpers ---------------------------------------------------------------------------------
    def _skip(self) -> None:
        text = self.text
        while True:
            self.pos = _WS.match(text, self.pos).end()  # type: ignore[union-attr]
            if text.startswith("//", self.pos):
                end = text.find("\n", self.pos)
                self.pos = len(text) if end < 0 else end
            elif text.startswith("/*", self.pos):
                end = text.find("*/", self.pos + 2)
                if end < 0:
                    raise JsonSyntaxError(self.pos, "unterminated /* comment", "close the comment with */")
                self.pos = end + 2
            else:
                return

    def _peek(self) -> str:
        return self.text[self.pos : self.pos + 1]

    def _error_unexpected(self, expected: str, path: JsonPath, hint: str | None = None) -> JsonSyntaxError:
        char = self._peek()
        if char == "":
            return JsonSyntaxError(
                self.pos,
                f"unexpected end of file: expected {expected}",
                hint or "the file looks truncated; check that every { and [ is closed",
                path,
            )
        if char == "'":
            return JsonSyntaxError(self.pos, "strings must use double quotes, not single quotes", None, path)
        return JsonSyntaxError(self.pos, f"expected {expected}, found {_describe(char)}", hint, path)

    # -- values ------------------------------------------------------------------------------------------
    def _scalar(self, path: JsonPath) -> Any:
        """Parse a scalar at ``self.pos`` (after whitespace)."""
        text, pos = self.text, self.pos
        char = text[pos : pos + 1]
        if char == '"':
            match = _STRING.match(text, pos)
            if match is None:
                raise self._string_error(path)
            self.pos = match.end()
            return json.loads(match.group())
        match = _BAREWORD.match(text, pos)
        if match is not None:
            word = match.group()
            if word in _LITERALS:
                self.pos = pos + len(word)
                return _LITERALS[word]
            if word in _NOT_JSON_WORDS or word.lstrip("+-") in {"NaN", "Infinity"}:
                raise JsonSyntaxError(
                    pos,
                    _NOT_JSON_WORDS.get(word, f"{word} is not valid JSON"),
                    "use null or a number",
                    path,
                )
        number = _NUMBER.match(text, pos)
        if number is not None:
            end = number.end()
            after = text[end : end + 1]
            if after and (after.isalnum() or after in "._"):
                word = match.group() if match is not None else text[pos : end + 1]
                raise JsonSyntaxError(
                    pos,
                    f"invalid number {word!r}",
                    "JSON numbers are plain decimals: no leading zeros, no trailing '.', no hex",
                    path,
                )
            self.pos = end
            token = number.group()
            return float(token) if any(c in token for c in ".eE") else int(token)
        if match is not None:
            raise JsonSyntaxError(
                pos,
                f"unexpected {match.group()!r}: not a JSON value",
                "strings need double quotes; true, false and null are lowercase",
                path,
            )
        raise self._error_unexpected("a value (object, array, string, number, true, false or null)", path)

    def _string_error(self, path: JsonPath) -> JsonSyntaxError:
        text, start = self.text, self.pos
        i = start + 1
        while i < len(text):
            char = text[i]
            if char == '"':
                break
            if char == "\\":
                escape = text[i + 1 : i + 2]
                if escape == "u":
                    digits = text[i + 2 : i + 6]
                    if not re.fullmatch(r"[0-9a-fA-F]{4}", digits):
                        return JsonSyntaxError(i, "invalid \\u escape in string: needs four hex digits", None, path)
                    i += 6
                    continue
                if escape == "" or escape not in '"\\/bfnrt':
                    return JsonSyntaxError(
                        i, f"invalid escape '\\{escape}' in string", "write a backslash as \\\\", path
                    )
                i += 2
                continue
            if char == "\n":
                return JsonSyntaxError(
                    start,
                    "unterminated string: a line ends before the closing quote",
                    'close the string with " on the same line (write a newline as \\n)',
                    path,
                )
            if ord(char) < 0x20:
                return JsonSyntaxError(
                    i, f"control character U+{ord(char):04X} inside a string", "escape it, for example \\t", path
                )
            i += 1
        return JsonSyntaxError(start, "unterminated string", 'close the string with "', path)

    def parse(self) -> Any:
        """Parse the whole text; return its value. Raises :class:`JsonSyntaxError`."""
        self._skip()
        if self.pos >= len(self.text):
            raise JsonSyntaxError(
                0,
                "the file is empty" if not self.text else "the file has only whitespace and comments",
                "a default.json is one JSON object; `buildplat schema` describes it",
            )
        value = self._value_iterative()
        self._skip()
        if self.pos < len(self.text):
            raise JsonSyntaxError(
                self.pos,
                f"unexpected {_describe(self._peek())} after the end of the JSON document",
                "a file holds exactly one JSON value; remove what follows it",
            )
        return value

    def _value_iterative(self) -> Any:
        located = self.located
        stack: list[_Container] = []
        path: JsonPath = ()
        while True:
            # Parse one value at self.pos for `path`.
            self._skip()
            start = self.pos
            char = self._peek()
            located.values[path] = start
            if char and char in "{[":
                if len(stack) >= MAX_DEPTH:
                    raise JsonSyntaxError(
                        start,
                        f"nesting deeper than {MAX_DEPTH} levels",
                        "a default.json is shallow; check for runaway brackets",
                        path,
                    )
                self.pos += 1
                container = _Container(char == "{", {} if char == "{" else [], path, start)
                stack.append(container)
                done_value: Any = None
                finished = self._open_next(container)
                if finished:
                    stack.pop()
                    done_value = container.value
                else:
                    path = self._child_path(container)
                    continue
            else:
                done_value = self._scalar(path)
            # A value is complete: attach it to its parent, then move to the parent's next element.
            while True:
                if not stack:
                    return done_value
                parent = stack[-1]
                self._attach(parent, done_value)
                if self._close_or_comma(parent):
                    stack.pop()
                    done_value = parent.value
                    continue
                path = self._child_path(parent)
                break

    def _child_path(self, container: _Container) -> JsonPath:
        if container.is_object:
            assert container.key is not None
            return (*container.path, container.key)
        return (*container.path, container.count)

    def _attach(self, container: _Container, value: Any) -> None:
        if container.is_object:
            assert container.key is not None
            container.value[container.key] = value
        else:
            container.value.append(value)
        container.count += 1

    def _open_next(self, container: _Container) -> bool:
        """Just after '{' or '['. Return True if the container is empty and closed."""
        self._skip()
        closer = "}" if container.is_object else "]"
        if self._peek() == closer:
            self.pos += 1
            return True
        if container.is_object:
            self._read_key(container)
        return False

    def _close_or_comma(self, container: _Container) -> bool:
        """After an element. Return True when the container closes; otherwise read up to the next element."""
        self._skip()
        closer = "}" if container.is_object else "]"
        char = self._peek()
        if char == closer:
            self.pos += 1
            return True
        if char == ",":
            comma = self.pos
            self.pos += 1
            self._skip()
            if self._peek() == closer:
                raise JsonSyntaxError(comma, f"trailing comma before '{closer}'", "remove the comma", container.path)
            if container.is_object:
                self._read_key(container)
            return False
        what = "object" if container.is_object else "array"
        line_col = LineIndex(self.text).line_col(container.open_offset)
        raise self._error_unexpected(
            f"',' or '{closer}' (the {what} opened at {line_col[0]}:{line_col[1]})",
            container.path,
            f"add a comma between elements, or close the {what} with '{closer}'"
            if char
            else f"close the {what} opened at {line_col[0]}:{line_col[1]} with '{closer}'",
        )

    def _read_key(self, container: _Container) -> None:
        self._skip()
        start = self.pos
        if self._peek() != '"':
            raise self._error_unexpected("a key in double quotes", container.path)
        key = self._scalar(container.path)
        key_path = (*container.path, key)
        if key in container.first_keys:
            self.located.duplicates.append(Duplicate(key_path, start, container.first_keys[key]))
        else:
            container.first_keys[key] = start
        self.located.keys[key_path] = start
        self._skip()
        if self._peek() != ":":
            raise self._error_unexpected(f"':' after the key {json.dumps(key)}", container.path)
        self.pos += 1
        container.key = key
        container.key_offset = start


def parse_located(text: str) -> tuple[Any, Located]:
    parser = PositionParser(text)
    value = parser.parse()
    return value, parser.located


# --------------------------------------------------------------------------------------------------------
# Decoding


class DecodeProblem(Exception):
    """The bytes are not text we accept; ``line``/``column`` say where."""

    def __init__(self, line: int, column: int, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.line = line
        self.column = column
        self.message = message
        self.hint = hint


def decode(data: bytes, *, max_bytes: int = MAX_BYTES) -> str:
    """UTF-8 (a BOM is accepted and dropped) within the size limit, or :class:`DecodeProblem`."""
    if len(data) > max_bytes:
        raise DecodeProblem(
            1,
            1,
            f"the file is {_human_size(len(data))}; the limit is {_human_size(max_bytes)}",
            "this is not a default.json; check that the right file is named",
        )
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        prefix = data[: exc.start].decode("utf-8", "replace")
        index = LineIndex(prefix)
        line, column = index.line_col(len(prefix))
        raise DecodeProblem(
            line,
            column,
            f"invalid UTF-8 (byte 0x{data[exc.start]:02x})",
            "save the file as UTF-8",
        ) from exc
    if "\x00" in text:
        index = LineIndex(text)
        line, column = index.line_col(text.index("\x00"))
        raise DecodeProblem(line, column, "the file contains a NUL byte: it is binary, not JSON")
    return text


def _human_size(size: int) -> str:
    if size >= 1024 * 1024:
        value = size / (1024 * 1024)
        return f"{value:.0f} MiB" if value == int(value) else f"{value:.1f} MiB"
    if size >= 1024:
        return f"{size // 1024} KiB"
    return f"{size} bytes"
