"""Checking one document: bytes -> value + problems with line, column and JSON path.

This is the engine behind ``buildplat validate`` and the platform config loader. It never raises for bad
input: every way a file can be wrong becomes a :class:`Problem`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from buildplat.spec import jsontext
from buildplat.spec.checker import Finding, SchemaChecker
from buildplat.spec.jsontext import JsonPath, LineIndex, format_path
from buildplat.spec.schemas import APP_SCHEMA, load_schema

Rules = Callable[[Any, dict[str, Any]], Iterator[Finding]]


@dataclass(frozen=True)
class Problem:
    """One error in one file, located in the original text (comments included)."""

    file: str
    line: int
    column: int
    json_path: str  # "$.services[0].name"; "" when the file is not JSON at all
    message: str
    hint: str | None = None
    rule: str = ""


@dataclass
class CheckedDocument:
    file: str
    value: Any = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class DocumentKind:
    """What a document must be: its schema and the cross-field rules on top."""

    schema_name: str
    rules: Rules | None = None
    max_bytes: int = jsontext.MAX_BYTES


def app_kind() -> DocumentKind:
    from buildplat.spec.rules import app_rules

    return DocumentKind(APP_SCHEMA, app_rules)


def check_bytes(data: bytes, file: str, kind: DocumentKind) -> CheckedDocument:
    result = CheckedDocument(file)
    try:
        text = jsontext.decode(data, max_bytes=kind.max_bytes)
    except jsontext.DecodeProblem as exc:
        result.problems.append(Problem(file, exc.line, exc.column, "", exc.message, exc.hint, "encoding"))
        return result
    located: jsontext.Located | None = None
    try:
        value = jsontext.parse_fast(text)
    except jsontext._NeedsSlowPath:
        try:
            value, located = jsontext.parse_located(text)
        except jsontext.JsonSyntaxError as exc:
            line, column = LineIndex(text).line_col(exc.offset)
            path = format_path(exc.path) if exc.path else ""
            result.problems.append(Problem(file, line, column, path, exc.message, exc.hint, "syntax"))
            return result
    result.value = value
    schema = load_schema(kind.schema_name)
    findings = SchemaChecker(schema).check(value)
    if kind.rules is not None:
        findings.extend(kind.rules(value, schema))
    if findings or located is not None:
        if located is None:
            _value, located = jsontext.parse_located(text)
        index = LineIndex(text)
        problems = [_duplicate_problem(d, index, file) for d in located.duplicates]
        problems += _locate(findings, located, index, file)
        problems.sort(key=lambda p: (p.line, p.column))
        result.problems = problems
    return result


def _duplicate_problem(duplicate: jsontext.Duplicate, index: LineIndex, file: str) -> Problem:
    first_line, first_column = index.line_col(duplicate.first_offset)
    line, column = index.line_col(duplicate.offset)
    return Problem(
        file,
        line,
        column,
        format_path(duplicate.path),
        f'duplicate key "{duplicate.path[-1]}" (first at {first_line}:{first_column}); '
        "JSON parsers disagree on which one wins",
        "remove one of them",
        "duplicate-key",
    )


def _locate(findings: list[Finding], located: jsontext.Located, index: LineIndex, file: str) -> list[Problem]:
    problems = []
    seen: set[tuple[int, str]] = set()
    for finding in findings:
        offset = _offset(finding, located)
        line, column = index.line_col(offset)
        key = (offset, finding.message)
        if key in seen:  # anyOf branches and rules can say the same thing twice
            continue
        seen.add(key)
        problems.append(
            Problem(file, line, column, format_path(finding.path), finding.message, finding.hint, finding.rule)
        )
    return problems


def _offset(finding: Finding, located: jsontext.Located) -> int:
    if finding.at_key and finding.path in located.keys:
        return located.keys[finding.path]
    path: JsonPath = finding.path
    while path not in located.values and path:
        path = path[:-1]
    return located.values.get(path, 0)
