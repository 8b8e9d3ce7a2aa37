"""The JSON-with-comments parser: same values as the json module, positions that point at the right text."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from buildplat.spec.jsontext import (
    DecodeProblem,
    JsonSyntaxError,
    LineIndex,
    _NeedsSlowPath,
    decode,
    format_path,
    parse_fast,
    parse_located,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(json_values, st.sampled_from([None, 2]))
def test_position_parser_reads_what_json_reads(value: Any, indent: int | None) -> None:
    text = json.dumps(value, indent=indent)
    parsed, _located = parse_located(text)
    assert parsed == json.loads(text)
    assert parse_fast(text) == json.loads(text)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=6), st.integers() | st.text(max_size=5), min_size=1, max_size=6))
def test_every_located_value_starts_with_its_own_text(value: dict[str, Any]) -> None:
    text = json.dumps(value, indent=2)
    _parsed, located = parse_located(text)
    for key, item in value.items():
        offset = located.values[(key,)]
        assert text[offset:].startswith(json.dumps(item))
        assert text[located.keys[(key,)] :].startswith(json.dumps(key))


def test_comments_keep_positions() -> None:
    text = '{\n  // a comment with "quotes" and { braces\n  "a": /* inline */ 1,\n  "b": "// not a comment"\n}'
    assert parse_fast(text) == {"a": 1, "b": "// not a comment"}
    _value, located = parse_located(text)
    assert LineIndex(text).line_col(located.values[("a",)]) == (3, 21)


@pytest.mark.parametrize(
    ("text", "message", "line_col"),
    [
        ('{"a": 1,}', "trailing comma before '}'", (1, 8)),
        ("[1, 2", "unexpected end of file: expected ',' or ']' (the array opened at 1:1)", (1, 6)),
        ('{"a" 1}', "expected ':' after the key \"a\", found '1'", (1, 6)),
        ('{"a": 01}', "invalid number '01'", (1, 7)),
        ('"tab\there"', "control character U+0009 inside a string", (1, 5)),
        ('"bad \\q"', "invalid escape '\\q' in string", (1, 6)),
        ('{"a": True}', "True is Python, not JSON", (1, 7)),
        ("{\n  /* never closed\n", "unterminated /* comment", (2, 3)),
    ],
)
def test_syntax_errors_say_what_and_where(text: str, message: str, line_col: tuple[int, int]) -> None:
    with pytest.raises(JsonSyntaxError) as caught:
        parse_located(text)
    assert caught.value.message == message
    assert LineIndex(text).line_col(caught.value.offset) == line_col
    with pytest.raises(_NeedsSlowPath):
        parse_fast(text)


def test_duplicates_are_found_with_both_positions() -> None:
    text = '{"a": 1,\n "a": 2,\n "a": 3}'
    value, located = parse_located(text)
    assert value == {"a": 3}
    assert [(d.offset, d.first_offset) for d in located.duplicates] == [(10, 1), (19, 1)]


def test_bom_is_dropped_and_invalid_utf8_is_located() -> None:
    assert decode(b"\xef\xbb\xbf{}") == "{}"
    with pytest.raises(DecodeProblem) as caught:
        decode(b'{\n  "a": "\xc3"\n}')
    assert (caught.value.line, caught.value.column) == (2, 9)


def test_nul_byte_is_binary() -> None:
    with pytest.raises(DecodeProblem, match="NUL byte"):
        decode(b'{"a":\x00}')


def test_format_path_quotes_keys_that_are_not_identifiers() -> None:
    assert format_path(("services", 0, "name")) == "$.services[0].name"
    assert format_path(("runtime", "env", "a b")) == '$.runtime.env["a b"]'
