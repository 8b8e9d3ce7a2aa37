"""``buildplat-deploy``: stands up a team's platform. Exit codes: 0 ok, 1 invalid input, 2 usage, 3 bug (logged)."""

from __future__ import annotations

import argparse
import sys
import tempfile
import traceback
from collections.abc import Sequence
from pathlib import Path

from buildplat_deploy import __version__, config, render, yamlio
from buildplat_deploy.errors import DeployError

TEAM_RENDER_HELP = """\
Render the team's stack: namespaces TEAM-ci (Jenkins, Hubot), TEAM-dev, TEAM-stage, TEAM-prod, with RBAC,
NetworkPolicies, quotas and limits. Without --out the stack is printed as one YAML stream
(kubectl apply --server-side -f -); with --out DIR it is written as one file per namespace plus a kustomization.yaml.
The output is deterministic: the same TEAM and team.json give byte-identical output.
"""


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="buildplat-deploy", description="Stand up a team's buildplat stack.")
    top.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    team = commands.add_parser("team", help="a team's stack", description="A team's stack.")
    team_commands = team.add_subparsers(dest="team_command", required=True, metavar="COMMAND")
    render_cmd = team_commands.add_parser(
        "render",
        help="render the team's stack",
        description=TEAM_RENDER_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    render_cmd.add_argument("team", metavar="TEAM", help="the team name (a DNS-1123 label of at most 57 characters)")
    render_cmd.add_argument("--out", type=Path, metavar="DIR", help="write files into DIR instead of stdout")
    render_cmd.add_argument("--config", type=Path, metavar="FILE", help="team.json with settings over the defaults")
    return top


def run_team_render(args: argparse.Namespace) -> int:
    cfg = config.load(args.team, args.config)
    if args.out is None:
        sys.stdout.write(yamlio.dump_all(render.stack(cfg)))
        return 0
    try:
        written = render.write(cfg, args.out)
    except OSError as exc:
        raise DeployError(f"{args.out}: cannot write the stack ({exc.strerror or exc.__class__.__name__})") from None
    sys.stderr.write(f"buildplat-deploy: wrote {len(written)} files to {args.out}\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)  # exits 2 on a usage error, as argparse does
    try:
        return run_team_render(args)
    except DeployError as exc:
        sys.stderr.write(f"buildplat-deploy: error: {exc.message}\n")
        if exc.hint:
            sys.stderr.write(f"  hint: {exc.hint}\n")
        return exc.exit_code
    except Exception:
        with tempfile.NamedTemporaryFile("w", prefix="buildplat-deploy-crash-", suffix=".log", delete=False) as log:
            traceback.print_exc(file=log)
        sys.stderr.write(f"buildplat-deploy: internal error (a bug); details in {log.name}\n")
        return 3


def main_entry() -> None:
    sys.exit(main())
