"""Print the JSON Schema of default.json (JSON Schema 2020-12), for editors and other validators."""

from __future__ import annotations

import argparse
import sys

from buildplat.spec.schemas import schema_text

HELP = "print the JSON Schema of default.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    del parser  # no options


def run(args: argparse.Namespace) -> int:
    del args
    sys.stdout.write(schema_text())
    return 0
