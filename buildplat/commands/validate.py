"""Check default.json files against the schema and the cross-field rules.

Every problem in every file is reported, one per line, as PATH:LINE:COL: error: MESSAGE (at $.json.path),
followed by a hint line where one helps. Exit status: 0 when every file is valid, 1 when any is invalid,
2 when an argument is wrong or a file cannot be read.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from buildplat.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from buildplat.spec.document import CheckedDocument, app_kind, check_bytes
from buildplat.spec.model import format_problem

HELP = "check default.json files (file, directory or - for stdin)"
STDIN_NAME = "<stdin>"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="a default.json, a directory holding one, or - for standard input (default: ./default.json)",
    )
    parser.add_argument(
        "--format",
        choices=("text", "json", "junit"),
        default="text",
        help="text (default): one line per problem; json: machine-readable; junit: a JUnit XML report for Jenkins",
    )


@dataclass
class Unreadable:
    file: str
    reason: str


def run(args: argparse.Namespace) -> int:
    paths: list[str] = args.paths or ["default.json"]
    kind = app_kind()
    results: list[CheckedDocument | Unreadable] = []
    for raw in paths:
        loaded = _read(raw)
        if isinstance(loaded, Unreadable):
            results.append(loaded)
        else:
            name, data = loaded
            results.append(check_bytes(data, name, kind))
    out = sys.stdout
    if args.format == "json":
        _report_json(results, out)
    elif args.format == "junit":
        _report_junit(results, out)
    else:
        _report_text(results, out)
    if any(isinstance(r, Unreadable) for r in results):
        return EXIT_USAGE
    return EXIT_FAILED if any(not r.ok for r in results if isinstance(r, CheckedDocument)) else EXIT_OK


def _read(raw: str) -> tuple[str, bytes] | Unreadable:
    if raw == "-":
        return STDIN_NAME, sys.stdin.buffer.read()
    path = Path(raw)
    if path.is_dir():
        path = path / "default.json"
        if not path.exists():
            return Unreadable(raw, f"{raw} is a directory without a default.json")
    try:
        return str(path), path.read_bytes()
    except FileNotFoundError:
        return Unreadable(str(path), f"cannot read {path}: no such file")
    except IsADirectoryError:
        return Unreadable(str(path), f"cannot read {path}: it is a directory")
    except OSError as exc:
        return Unreadable(str(path), f"cannot read {path}: {exc.strerror or exc}")


def _report_text(results: list[CheckedDocument | Unreadable], out: TextIO) -> None:
    problems = 0
    bad_files = 0
    for result in results:
        if isinstance(result, Unreadable):
            print(f"buildplat: error: {result.reason}", file=sys.stderr)
            continue
        if result.problems:
            bad_files += 1
        for problem in result.problems:
            problems += 1
            print(format_problem(problem), file=out)
    if problems:
        plural = "s" if problems != 1 else ""
        print(
            f"buildplat: {problems} problem{plural} in {bad_files} of {len(results)} file"
            f"{'s' if len(results) != 1 else ''}",
            file=sys.stderr,
        )


def _report_json(results: list[CheckedDocument | Unreadable], out: TextIO) -> None:
    files = []
    for result in results:
        if isinstance(result, Unreadable):
            files.append(
                {"file": result.file, "valid": False, "readable": False, "errors": [{"message": result.reason}]}
            )
            continue
        files.append(
            {
                "file": result.file,
                "valid": result.ok,
                "readable": True,
                "errors": [
                    {
                        "line": p.line,
                        "column": p.column,
                        "path": p.json_path,
                        "message": p.message,
                        "hint": p.hint,
                        "rule": p.rule,
                    }
                    for p in result.problems
                ],
            }
        )
    document = {"version": 1, "valid": all(f["valid"] for f in files), "files": files}
    json.dump(document, out, indent=2)
    out.write("\n")


def _report_junit(results: list[CheckedDocument | Unreadable], out: TextIO) -> None:
    # ElementTree escapes every name and message: file names come from the user.
    import xml.etree.ElementTree as ET

    failures = sum(1 for r in results if isinstance(r, CheckedDocument) and not r.ok)
    errors = sum(1 for r in results if isinstance(r, Unreadable))
    suite = ET.Element(
        "testsuite", name="buildplat.validate", tests=str(len(results)), failures=str(failures), errors=str(errors)
    )
    for result in results:
        case = ET.SubElement(suite, "testcase", classname="buildplat.validate", name=result.file)
        if isinstance(result, Unreadable):
            ET.SubElement(case, "error", message=result.reason, type="unreadable")
        elif result.problems:
            first = result.problems[0]
            failure = ET.SubElement(
                case,
                "failure",
                type="invalid",
                message=f"{len(result.problems)} problem(s); first: {first.line}:{first.column}: {first.message}",
            )
            failure.text = "\n".join(format_problem(p) for p in result.problems)
    ET.indent(suite)
    out.write('<?xml version="1.0" encoding="UTF-8"?>\n')
    out.write(ET.tostring(suite, encoding="unicode"))
    out.write("\n")
