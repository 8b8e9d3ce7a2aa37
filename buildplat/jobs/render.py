"""Rendering job-templates/ with jenkins-job-builder's own library, offline.

Each app becomes one jenkins-job-builder ``project`` (see :func:`project_entry`) that instantiates the templates in
``job-templates/buildplat.yaml``; :func:`projects_yaml` writes those projects as YAML, and rendering loads that YAML
together with the templates exactly as ``jenkins-jobs test`` would, so the XML sync uploads is the XML
``jenkins-jobs --conf jenkins_jobs.ini test buildplat.yaml:projects.yaml`` prints (a test holds us to it).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from buildplat.buildfacts import registry as buildfacts
from buildplat.errors import BuildplatError
from buildplat.jobs import marker
from buildplat.jobs.compare import config_digest
from buildplat.jobs.inputs import JobInputs, folder_fingerprint
from buildplat.jobs.templates import FOLDER_TEMPLATE, PIPELINE_TEMPLATE, TemplateSet


@dataclass(frozen=True)
class RenderedJob:
    """One item's config.xml, exactly as uploaded, and the fingerprint written into it."""

    folder: str
    name: str  # the item's name inside the folder; for the folder itself, the folder's name
    xml: str
    fingerprint: str
    digest: str = ""  # of the canonical config (jobs.compare.config_digest): what a UI edit would change

    @property
    def full_name(self) -> str:
        return self.name if self.name == self.folder else f"{self.folder}/{self.name}"


def _escape(value: str) -> str:
    # jenkins-job-builder formats parameter values as templates too: "{x}" in a description would be read as a
    # placeholder (and fail), so every brace is doubled and comes out as written.
    return value.replace("{", "{{").replace("}", "}}")


def project_entry(inputs: JobInputs, templates_version: str) -> dict[str, Any]:
    """The jenkins-job-builder project for one app: the template parameters, every value escaped."""
    target = inputs.target
    credentials = target.credentials
    description = marker.job_description(
        inputs.app.description,
        repo=target.repo_url,
        branch=target.branch,
        fingerprint=inputs.fingerprint(templates_version),
    )
    params = {
        "folder": target.folder,
        "app": inputs.app.name,
        "description": description,
        "repo_url": target.repo_url,
        "branch": target.branch,
        "agent_label": buildfacts.get(inputs.app.primary_buildfact).agent_label,
        "registry_credentials": credentials.registry,
        "registry_user_env": credentials.registry_user_env,
        "registry_password_env": credentials.registry_password_env,
        "apt_credentials": credentials.apt,
        "apt_user_env": credentials.apt_user_env,
        "apt_password_env": credentials.apt_password_env,
        "hubot_credentials": credentials.hubot,
        "hubot_token_env": credentials.hubot_token_env,
        "kube_credentials": credentials.kubernetes or "",
        "prod_submitter": ",".join(target.prod_approvers),
    }
    entry: dict[str, Any] = {"name": _escape(inputs.full_name)}
    entry.update({key: _escape(value) for key, value in params.items()})
    entry["jobs"] = [PIPELINE_TEMPLATE]
    return entry


def folder_entry(team: str, folder: str, templates_version: str) -> dict[str, Any]:
    description = marker.folder_description(team, folder_fingerprint(team, folder, templates_version))
    return {
        "name": _escape(f"folder {folder}"),
        "folder": _escape(folder),
        "description": _escape(description),
        "jobs": [FOLDER_TEMPLATE],
    }


def projects_yaml(entries: Sequence[dict[str, Any]]) -> str:
    """The YAML jenkins-job-builder reads for these projects (written by PyYAML, so quoting is its business)."""
    document = [{"project": entry} for entry in entries]
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(
        document, Dumper=dumper, default_flow_style=False, sort_keys=False, allow_unicode=True, width=1 << 16
    )


def _add_projects(config: Any, roots: Any, entries: list[dict[str, Any]]) -> None:
    """Add the projects as if :func:`projects_yaml` had been loaded, without writing and parsing the YAML.

    jenkins-job-builder's YAML loader is pure Python and took most of the time of rendering 500 apps (1.5 s of
    2.5 s); the loader only wraps plain values in position-carrying containers, which this does directly. The
    rendering test compares the result with ``jenkins-jobs test`` on :func:`projects_yaml`, byte for byte.
    """
    from jenkins_jobs.loc_loader import LocDict, LocList
    from jenkins_jobs.roots import root_adders

    for entry in entries:
        data = dict(entry)
        data["jobs"] = LocList(list(entry["jobs"]), value_pos=[None] * len(entry["jobs"]))
        root_adders["project"](config, roots, LocDict(data), None)


def _generator(registry: Any) -> Any:
    """jenkins-job-builder's XML generator, looking up each project type's module once instead of once per job.

    The stock generator resolves the module through pkg_resources for every job, which costs more than
    generating the XML. Everything else is the stock ``_getXMLForData``.
    """
    from importlib.metadata import entry_points

    from jenkins_jobs.xml_config import XmlJob, XmlJobGenerator

    class CachedXmlJobGenerator(XmlJobGenerator):  # type: ignore[misc]
        modules: dict[str, Any] = {}  # noqa: RUF012 - one cache per generator class, made per call

        def _getXMLForData(self, data: dict[str, Any]) -> Any:
            kind = str(data.get(self.kind_attribute, self.kind_default))
            module_class = self.modules.get(kind)
            if module_class is None:
                found = entry_points(group=self.entry_point_group, name=kind)
                if not found:
                    return super()._getXMLForData(data)  # the stock error message for an unknown type
                module_class = self.modules[kind] = next(iter(found)).load()
            module = module_class(self.registry)
            xml = module.root_xml(data)
            self._gen_xml(xml, data)
            return XmlJob(xml, data["name"])

    return CachedXmlJobGenerator(registry)


class Renderer:
    """Renders jobs from one template set; the jenkins-job-builder modules are loaded once per renderer."""

    def __init__(self, templates: TemplateSet) -> None:
        self.templates = templates
        self._config: Any = None
        self._registry: Any = None

    def render_jobs(self, inputs: Sequence[JobInputs]) -> list[RenderedJob]:
        """The pipeline job of each app, in the order given.

        Two repositories may name the same app (a copied default.json); the reconciler rejects all but one, but
        both may be rendered first, and jenkins-job-builder refuses two projects of one name in one run: such
        inputs are rendered in separate runs.
        """
        version = self.templates.version
        rounds: list[dict[str, int]] = []  # full name -> index in ``inputs``, one name at most once per round
        for index, item in enumerate(inputs):
            free = next((names for names in rounds if item.full_name not in names), None)
            if free is None:
                free = {}
                rounds.append(free)
            free[item.full_name] = index
        xml: dict[int, str] = {}
        for names in rounds:
            out = self._render([project_entry(inputs[index], version) for index in names.values()])
            xml.update({index: out[name] for name, index in names.items()})
        return [
            RenderedJob(
                item.target.folder, item.app.name, xml[index], item.fingerprint(version), config_digest(xml[index])
            )
            for index, item in enumerate(inputs)
        ]

    def render_folder(self, team: str, folder: str) -> RenderedJob:
        version = self.templates.version
        xml = self._render([folder_entry(team, folder, version)])
        return RenderedJob(folder, folder, xml[folder], folder_fingerprint(team, folder, version))

    def _render(self, entries: list[dict[str, Any]]) -> dict[str, str]:
        if not entries:
            return {}
        from jenkins_jobs.errors import JenkinsJobsException
        from jenkins_jobs.loader import load_files
        from jenkins_jobs.roots import Roots

        config, registry = self._setup()
        try:
            roots = Roots(config)
            load_files(config, roots, [self.templates.template_file])
            _add_projects(config, roots, entries)
            registry.set_macros(roots.macros)
            jobs = roots.generate_jobs()
            registry.amend_job_dicts(jobs)
            rendered = _generator(registry).generateXML(jobs)
        except JenkinsJobsException as exc:
            raise BuildplatError(
                f"jenkins-job-builder cannot render {self.templates.template_file}: {exc}",
                hint="job-templates/ must pass `jenkins-jobs test` (see job-templates/README.md)",
            ) from exc
        return {job.name: job.output().decode("utf-8") for job in rendered}

    def _setup(self) -> tuple[Any, Any]:
        if self._config is None:
            # jenkins-job-builder logs every job it renders and warns about its own settings; that is noise in a
            # seed job's log. Its pkg_resources import warns too.
            logging.getLogger("jenkins_jobs").setLevel(logging.ERROR)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                from jenkins_jobs.config import JJBConfig
                from jenkins_jobs.registry import ModuleRegistry

                config = JJBConfig(config_filename=str(self.templates.settings_file))
                # Includes resolve in the templates directory only, never in the current directory.
                config.yamlparser["include_path"] = [str(self.templates.directory)]
                config.validate()
                self._registry = ModuleRegistry(config, [])
            self._config = config
        return self._config, self._registry
