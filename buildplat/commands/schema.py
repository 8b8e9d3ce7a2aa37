"""Print the JSON Schema of default.json (or of the platform config), for editors and other validators."""

from __future__ import annotations

import argparse
import sys

from buildplat.spec.platform import PLATFORM_SCHEMA
from buildplat.spec.schemas import APP_SCHEMA, load_schema, schema_text

HELP = "print the JSON Schema of default.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--platform", action="store_true", help="the schema of the platform config (buildplat sync --config)"
    )
    parser.add_argument(
        "--format",
        choices=("json", "markdown"),
        default="json",
        help="json (default): the JSON Schema itself; markdown: a reference table of every field",
    )


def run(args: argparse.Namespace) -> int:
    name = PLATFORM_SCHEMA if args.platform else APP_SCHEMA
    if args.format == "markdown":
        from buildplat.spec.reference import markdown_reference

        sys.stdout.write(markdown_reference(load_schema(name)))
    else:
        sys.stdout.write(schema_text(name))
    return 0
