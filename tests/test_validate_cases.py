"""Data-driven: every example in tests/spec_cases gives exactly its expected report (issue 2's bad inputs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from buildplat.spec.document import app_kind, check_bytes
from buildplat.spec.model import format_problem
from tests.cli_helpers import REPO_ROOT, run_cli

CASES = Path(__file__).parent / "spec_cases"
VALID = sorted((CASES / "valid").glob("*.json"))
INVALID = sorted((CASES / "invalid").glob("*.json"))


def report(path: Path) -> str:
    checked = check_bytes(path.read_bytes(), path.name, app_kind())
    return "".join(format_problem(p) + "\n" for p in checked.problems)


@pytest.mark.parametrize("path", VALID, ids=[p.stem for p in VALID])
def test_valid_examples_have_no_problems(path: Path) -> None:
    assert report(path) == ""


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_invalid_example_gives_its_expected_report(path: Path) -> None:
    expected = path.with_suffix(".expected").read_text(encoding="utf-8")
    assert expected.strip(), f"{path.name} has no expected report"
    assert report(path) == expected


def test_every_invalid_example_has_an_expected_file_and_vice_versa() -> None:
    inputs = {p.stem for p in INVALID}
    expectations = {p.stem for p in (CASES / "invalid").glob("*.expected")}
    assert inputs == expectations


def test_every_problem_line_has_file_line_column_and_a_place() -> None:
    for path in INVALID:
        for line in path.with_suffix(".expected").read_text(encoding="utf-8").splitlines():
            name, line_no, column, rest = line.split(":", 3)
            assert name == path.name
            assert int(line_no) >= 1
            assert int(column) >= 1
            assert rest.startswith((" error: ", " hint: "))


def test_the_published_example_is_valid_and_shipped() -> None:
    shipped = REPO_ROOT / "examples" / "sample-application" / "default.json"
    assert "// Configure the Jenkins server" in shipped.read_text(encoding="utf-8")
    assert report(shipped) == ""


def test_hundred_thousand_nested_brackets_is_one_error_not_a_crash() -> None:
    checked = check_bytes(b"[" * 100_000, "deep.json", app_kind())
    (problem,) = checked.problems
    assert (problem.line, problem.column) == (1, 65)
    assert problem.message == "nesting deeper than 64 levels"


def test_nested_objects_too() -> None:
    checked = check_bytes(b'{"a":' * 100_000, "deep.json", app_kind())
    (problem,) = checked.problems
    assert problem.message == "nesting deeper than 64 levels"


def test_fifty_megabyte_file_is_refused_quickly() -> None:
    data = b'{"namespace": "' + b"a" * (50 * 1024 * 1024) + b'"}'
    checked = check_bytes(data, "huge.json", app_kind())
    (problem,) = checked.problems
    assert problem.message == "the file is 50.0 MiB; the limit is 1 MiB"
    assert (problem.line, problem.column) == (1, 1)


def test_bad_inputs_through_the_cli_exit_1_without_traceback(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_bytes(b"[" * 100_000)
    outcome = run_cli("validate", str(deep)).assert_no_traceback()
    assert outcome.returncode == 1
    assert outcome.stdout.startswith(f"{deep}:1:65: error: nesting deeper than 64 levels")


def test_cli_reports_every_error_in_every_file(tmp_path: Path) -> None:
    outcome = run_cli("validate", "nan.json", "enum-typo.json", "empty.json", cwd=CASES / "invalid")
    assert outcome.returncode == 1
    expected = "".join(
        (CASES / "invalid" / f"{name}.expected").read_text(encoding="utf-8") for name in ("nan", "enum-typo", "empty")
    )
    assert outcome.stdout == expected
    assert outcome.stderr.strip() == "buildplat: 3 problems in 3 of 3 files"
