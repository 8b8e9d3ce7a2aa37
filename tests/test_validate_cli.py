"""`buildplat validate` and `buildplat schema` as the command-line contract (DESIGN.md section 4)."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.cli_helpers import REPO_ROOT, run_cli

SAMPLE = REPO_ROOT / "examples" / "sample-application"
CASES = Path(__file__).parent / "spec_cases"


def test_valid_file_is_quiet_success() -> None:
    outcome = run_cli("validate", str(SAMPLE / "default.json")).assert_success()
    assert outcome.stdout == ""
    assert outcome.stderr == ""


def test_directory_means_its_default_json() -> None:
    run_cli("validate", str(SAMPLE)).assert_success()


def test_no_argument_means_default_json_in_the_current_directory() -> None:
    run_cli("validate", cwd=SAMPLE).assert_success()


def test_stdin_is_read_with_dash() -> None:
    outcome = run_cli("validate", "-", stdin=b'{"namespace": "x"}')
    assert outcome.returncode == 1
    assert outcome.stdout.splitlines()[0] == '<stdin>:1:1: error: missing required key "application" (at $)'


def test_missing_file_is_exit_2_and_says_which(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    outcome = run_cli("validate", str(missing)).assert_no_traceback()
    assert outcome.returncode == 2
    assert outcome.stderr.strip() == f"buildplat: error: cannot read {missing}: no such file"


def test_directory_without_default_json_is_exit_2(tmp_path: Path) -> None:
    outcome = run_cli("validate", str(tmp_path))
    assert outcome.returncode == 2
    assert "is a directory without a default.json" in outcome.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read files whatever their mode")
def test_unreadable_file_is_exit_2(tmp_path: Path) -> None:
    locked = tmp_path / "default.json"
    locked.write_text("{}")
    locked.chmod(0)
    outcome = run_cli("validate", str(locked))
    assert outcome.returncode == 2
    assert "Permission denied" in outcome.stderr


def test_unreadable_input_wins_over_invalid_input(tmp_path: Path) -> None:
    outcome = run_cli("validate", str(CASES / "invalid" / "nan.json"), str(tmp_path / "missing.json"))
    assert outcome.returncode == 2
    assert "NaN is not valid JSON" in outcome.stdout


def test_usage_error_is_exit_2() -> None:
    outcome = run_cli("validate", "--format", "yaml")
    assert outcome.returncode == 2
    assert "invalid choice: 'yaml'" in outcome.stderr


def test_json_format_has_position_path_message_and_hint_per_error() -> None:
    outcome = run_cli("validate", "--format", "json", "enum-typo.json", "seed-with-comment.json", cwd=CASES / "invalid")
    assert outcome.returncode == 2  # seed-with-comment.json lives in valid/, so it is missing here
    report = json.loads(outcome.stdout)
    assert report["valid"] is False
    first, missing = report["files"]
    assert first == {
        "file": "enum-typo.json",
        "valid": False,
        "readable": True,
        "errors": [
            {
                "line": 5,
                "column": 13,
                "path": "$.application.type",
                "message": '"http_htlm" is not one of "http_html", "http_api", "worker"',
                "hint": 'did you mean "http_html"?',
                "rule": "enum",
            }
        ],
    }
    assert missing["readable"] is False


def test_json_format_for_valid_file() -> None:
    outcome = run_cli("validate", "--format", "json", str(SAMPLE)).assert_success()
    report = json.loads(outcome.stdout)
    assert report == {
        "version": 1,
        "valid": True,
        "files": [{"file": str(SAMPLE / "default.json"), "valid": True, "readable": True, "errors": []}],
    }


def test_junit_format_is_a_jenkins_test_report(tmp_path: Path) -> None:
    weird = tmp_path / 'a&b<"c>.json'
    weird.write_text('{"namespace": "x&y"}')
    outcome = run_cli("validate", "--format", "junit", str(SAMPLE), str(weird))
    assert outcome.returncode == 1
    suite = ET.fromstring(outcome.stdout.split("\n", 1)[1])
    assert suite.tag == "testsuite"
    assert suite.attrib["tests"] == "2"
    assert suite.attrib["failures"] == "1"
    cases = suite.findall("testcase")
    assert cases[0].find("failure") is None
    failure = cases[1].find("failure")
    assert cases[1].attrib["name"] == str(weird)  # escaped on the way out, intact on the way in
    assert failure is not None
    assert '"x&y" is not a DNS-1123 label' in (failure.text or "")


def test_schema_command_prints_the_shipped_schema() -> None:
    outcome = run_cli("schema").assert_success()
    assert json.loads(outcome.stdout) == json.loads((REPO_ROOT / "schemas" / "default.schema.json").read_text())


def test_schema_command_prints_the_platform_schema() -> None:
    outcome = run_cli("schema", "--platform").assert_success()
    assert json.loads(outcome.stdout)["$id"].endswith("/platform.schema.json")


def test_help_lists_the_commands() -> None:
    outcome = run_cli("--help").assert_success()
    assert "validate" in outcome.stdout
    assert "schema" in outcome.stdout


def test_version() -> None:
    outcome = run_cli("--version").assert_success()
    assert outcome.stdout.startswith("buildplat ")


def test_a_directory_named_like_the_file_is_exit_2(tmp_path: Path) -> None:
    (tmp_path / "default.json").mkdir()
    outcome = run_cli("validate", str(tmp_path / "default.json"))
    assert outcome.returncode == 2
    assert (
        outcome.stderr.strip() == f"buildplat: error: {tmp_path / 'default.json'} is a directory without a default.json"
    )
