"""``buildplat``: argument parsing, the command registry, and the error handler that maps failures to exit codes.

Exit codes (DESIGN.md section 4): 0 success, 1 the user's input or a checked condition failed, 2 usage or
unreadable input, 3 an unexpected error (a bug), which also writes a log with the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from buildplat import __version__
from buildplat.errors import EXIT_BUG, EXIT_USAGE, BuildplatError

# The explicit command registry: name -> module under buildplat.commands. Every module has
# ``add_arguments(parser)``, ``HELP`` and ``run(args) -> int``; heavy imports stay inside ``run``.
COMMANDS: dict[str, str] = {
    "validate": "validate",
    "schema": "schema",
    "run": "run",
    "step": "step",
    "render": "render",
    "plan": "plan",
    "sync": "sync",
    "images": "images",
}


def _command_module(name: str) -> ModuleType:
    return importlib.import_module(f"buildplat.commands.{COMMANDS[name]}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="buildplat",
        description="Turns an application's default.json into a Jenkins delivery pipeline on Kubernetes.",
    )
    parser.add_argument("--version", action="version", version=f"buildplat {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = _command_module(name)
        sub = subparsers.add_parser(name, help=module.HELP, description=module.__doc__)
        module.add_arguments(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    module = _command_module(args.command)
    try:
        return int(module.run(args))
    except BuildplatError as exc:
        _print_error(exc)
        return exc.exit_code
    except KeyboardInterrupt:
        print("buildplat: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`buildplat schema | head`); not our failure.
        sys.stderr.close()
        return 0
    except Exception as exc:
        log = _write_crash_log(args_list)
        print(f"buildplat: internal error ({type(exc).__name__}: {exc}); this is a bug in buildplat.", file=sys.stderr)
        print(f"buildplat: the traceback is in {log}; please attach it to a report.", file=sys.stderr)
        return EXIT_BUG


def _print_error(exc: BuildplatError) -> None:
    print(f"buildplat: error: {exc.message}", file=sys.stderr)
    if exc.hint:
        print(f"buildplat: hint: {exc.hint}", file=sys.stderr)


def _write_crash_log(argv: list[str]) -> Path:
    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "buildplat"
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError:
        base = Path("/tmp")  # noqa: S108 - only when the state directory is not writable
    log = base / f"crash-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.log"
    with log.open("w", encoding="utf-8") as handle:
        handle.write(f"buildplat {__version__}\nargv: {argv!r}\n\n")
        handle.write(traceback.format_exc())
    return log


def main_entry() -> None:
    """Console-script entry point."""
    sys.exit(main())
