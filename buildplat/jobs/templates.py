"""Where the job templates live and what version they are.

The templates are App Eng's ``job-templates/`` directory, shipped inside the package as
``buildplat/data/job-templates``. Their version is a digest of every file in it except the README, so any change
to a template (or to the jenkins-job-builder settings beside it) changes every job's fingerprint and the next sync
rewrites the jobs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from buildplat.errors import UsageError

TEMPLATE_FILE = "buildplat.yaml"
JJB_SETTINGS = "jenkins_jobs.ini"
PIPELINE_TEMPLATE = "buildplat-pipeline"
FOLDER_TEMPLATE = "buildplat-folder"
_NOT_TEMPLATES = frozenset({"README.md"})


@dataclass(frozen=True)
class TemplateSet:
    """A directory of job templates and the digest of its contents."""

    directory: Path
    version: str

    @property
    def template_file(self) -> Path:
        return self.directory / TEMPLATE_FILE

    @property
    def settings_file(self) -> Path:
        return self.directory / JJB_SETTINGS


def packaged_templates() -> TemplateSet:
    """The templates shipped with this buildplat."""
    # Installed as files (a wheel or an editable install), so the traversable is a real directory that
    # jenkins-job-builder's include loader can read.
    return load_templates(Path(str(resources.files("buildplat") / "data" / "job-templates")))


def load_templates(directory: Path) -> TemplateSet:
    """Check that ``directory`` holds job templates and compute their version."""
    missing = [name for name in (TEMPLATE_FILE, JJB_SETTINGS) if not (directory / name).is_file()]
    if missing:
        raise UsageError(
            f"{directory} is not a job-templates directory: {', '.join(missing)} missing",
            hint="point at a copy of buildplat's job-templates/ (it holds buildplat.yaml and jenkins_jobs.ini)",
        )
    return TemplateSet(directory.resolve(), template_version(directory))


def template_version(directory: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        relative = path.relative_to(directory).as_posix()
        if relative in _NOT_TEMPLATES or "__pycache__" in relative:
            continue
        content = path.read_bytes()
        # Name and length first, so moving bytes between files cannot produce the same digest.
        digest.update(f"{relative}\0{len(content)}\0".encode())
        digest.update(content)
    return digest.hexdigest()[:16]
