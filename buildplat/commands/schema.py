"""Print the JSON Schema of default.json (or of the platform config), for editors and other validators."""

from __future__ import annotations

import argparse
import sys

from buildplat.spec.platform import PLATFORM_SCHEMA
from buildplat.spec.schemas import APP_SCHEMA, schema_text

HELP = "print the JSON Schema of default.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--platform", action="store_true", help="print the schema of the platform config (buildplat sync --config)"
    )


def run(args: argparse.Namespace) -> int:
    sys.stdout.write(schema_text(PLATFORM_SCHEMA if args.platform else APP_SCHEMA))
    return 0
