"""Print the Jenkins job configuration (config.xml) that `buildplat sync` would upload for an application.

Rendered offline from the job templates with jenkins-job-builder, byte for byte what sync sends. PATH is an
application checkout or its default.json (default: the current directory). With --config the team's folder and
credential IDs come from the platform config, and the namespace is checked as sync checks it; without it, the
defaults sync would use for a team named after the app's namespace. The repository URL is --repo, else the
checkout's origin remote, either without any credentials it carries (an ssh:// login user is kept). With --out DIR
both items sync uploads are written, in the layout of `jenkins-jobs test --config-xml`: the team folder's
DIR/<folder>/config.xml and the job's DIR/<folder>/<app>/config.xml, and their paths printed. --format yaml
prints the jenkins-job-builder project instead: `jenkins-jobs --conf jenkins_jobs.ini test
buildplat.yaml:PROJECT.yaml` in job-templates/ prints the same XML.
Exit status: 0 rendered, 1 invalid input, 2 usage.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from buildplat.errors import BuildplatError, UsageError

HELP = "print the Jenkins job config.xml sync would upload for an app (offline)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", nargs="?", default=".", metavar="PATH", help="app checkout or default.json")
    parser.add_argument("--config", metavar="FILE", help="the team's platform config (folder, credential IDs)")
    parser.add_argument("--repo", metavar="URL", help="the repository URL the job checks out (default: origin)")
    parser.add_argument("--branch", metavar="BRANCH", help="the branch it builds (default: from --config, or main)")
    parser.add_argument(
        "--out", metavar="DIR", help="write DIR/<folder>/config.xml and DIR/<folder>/<app>/config.xml instead"
    )
    parser.add_argument("--templates", metavar="DIR", help="render with this job-templates directory")
    parser.add_argument(
        "--format",
        choices=("xml", "yaml"),
        default="xml",
        help="xml (default): the config.xml; yaml: the jenkins-job-builder project it is rendered from",
    )


def run(args: argparse.Namespace) -> int:
    from buildplat.clients.git import origin_url, public_url
    from buildplat.jobs.inputs import Credentials, JobInputs, JobTarget
    from buildplat.jobs.render import Renderer, project_entry, projects_yaml
    from buildplat.jobs.templates import load_templates, packaged_templates
    from buildplat.spec.model import load_app
    from buildplat.spec.platform import load_platform_file

    path = Path(args.path)
    source_file = path / "default.json" if path.is_dir() else path
    try:
        source = source_file.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {source_file}: {exc.strerror or exc}") from exc
    app = load_app(source, str(source_file))
    # Never a credential in the job: the URL ends up in its XML and description.
    repo = public_url(args.repo) if args.repo else None
    repo = repo or origin_url(source_file.parent) or source_file.parent.resolve().as_uri()
    if args.config:
        config = load_platform_file(Path(args.config))
        if app.namespace != config.team:
            raise BuildplatError(
                f"{source_file}: namespace {app.namespace!r} is not the team {config.team!r} of {args.config}",
                hint="sync rejects such a repository; a job goes only into its own team's Jenkins",
            )
        configured = {r.url: r.branch for r in config.repositories}
        branch = args.branch or configured.get(repo, "main")
        target = JobTarget.from_platform(config, repo, branch)
    else:
        target = JobTarget(app.namespace, app.namespace, repo, args.branch or "main", Credentials())
    templates = load_templates(Path(args.templates)) if args.templates else packaged_templates()
    inputs = JobInputs(app, source, target)
    if args.format == "yaml":
        sys.stdout.write(projects_yaml([project_entry(inputs, templates.version)]))
        return 0
    renderer = Renderer(templates)
    (job,) = renderer.render_jobs([inputs])
    if not args.out:
        sys.stdout.write(job.xml)
        return 0
    folder = renderer.render_folder(target.team, target.folder)
    for item, relative in ((folder, Path(folder.folder)), (job, Path(job.folder) / job.name)):
        out = Path(args.out) / relative / "config.xml"
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(item.xml, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write {out}: {exc.strerror or exc}") from exc
        print(out)
    return 0
