"""The plugin manager and a small offline update center.

``/pluginManager/api/json`` needs Overall/SystemRead (so a non-admin gets 403, which jenkins-job-builder tolerates).
``POST /pluginManager/installNecessaryPlugins`` (Overall/Administer) takes XML in which any element's
``plugin="name@version"`` attribute asks for that plugin (``@current`` or ``@latest`` for the newest), like
``PluginManager.prevalidateConfig``. A plugin not installed yet is installed from the update center in the
catalog's version (whatever version was asked for), with its dependencies, and dynamically loaded (active at
once). An installed plugin is upgraded only when it is older than the version asked for (``@latest`` never is,
as in Jenkins' VersionNumber), and an upgrade waits for a restart (``restart()`` applies it). Names the update
center does not know are skipped silently, as Jenkins only logs them. Every request is kept
in ``install_requests``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tests.jenkins_double import xmlconfig
from tests.jenkins_double.exported import Bean, Prop


@dataclass
class Plugin:
    short_name: str
    version: str
    long_name: str = ""
    dependencies: list[tuple[str, str]] = field(default_factory=list)  # (short name, minimum version)
    active: bool = True
    enabled: bool = True

    def bean(self) -> Bean:
        deps = [
            Bean(
                "hudson.PluginWrapper$Dependency",
                [Prop("optional", False), Prop("shortName", name), Prop("version", version)],
            )
            for name, version in self.dependencies
        ]
        values = {
            "active": self.active,
            "backupVersion": None,
            "bundled": False,
            "deleted": False,
            "dependencies": deps,
            "detached": False,
            "downgradable": False,
            "enabled": self.enabled,
            "hasUpdate": False,
            "longName": self.long_name or self.short_name,
            "minimumJavaVersion": None,
            "pinned": False,
            "requiredCoreVersion": "2.479.1",
            "shortName": self.short_name,
            "supportsDynamicLoad": "MAYBE",
            "url": f"https://plugins.jenkins.io/{self.short_name}",
            "version": self.version,
        }
        return Bean("hudson.PluginWrapper", [Prop(key, value) for key, value in values.items()])


def _p(name: str, version: str, long_name: str, *deps: tuple[str, str]) -> Plugin:
    return Plugin(name, version, long_name, list(deps))


def default_installed() -> list[Plugin]:
    """What buildplat's Jenkins runs with: folders, pipeline, git, kubernetes, credentials."""
    return [
        _p("structs", "338.v848422169819", "Structs Plugin"),
        _p("credentials", "1389.vd7a_b_f5fa_50a_2", "Credentials Plugin", ("structs", "338.v848422169819")),
        _p("cloudbees-folder", "6.975.v4161e479479f", "Folders Plugin", ("credentials", "1389.vd7a_b_f5fa_50a_2")),
        _p("script-security", "1369.v9b_98a_4e95b_2d", "Script Security Plugin"),
        _p("workflow-api", "1336.vee415d95c521", "Pipeline: API"),
        _p("workflow-job", "1468.vcf4f5ee92395", "Pipeline: Job", ("workflow-api", "1336.vee415d95c521")),
        _p("workflow-cps", "3996.va_f5c1799f978", "Pipeline: Groovy", ("workflow-api", "1336.vee415d95c521")),
        _p("pipeline-model-definition", "2.2218.v56d0cda_37c72", "Pipeline: Declarative"),
        _p("git", "5.7.0", "Git plugin", ("credentials", "1389.vd7a_b_f5fa_50a_2")),
        _p("kubernetes", "4306.vc91e951ea_eb_d", "Kubernetes plugin", ("credentials", "1389.vd7a_b_f5fa_50a_2")),
    ]


def default_catalog() -> list[Plugin]:
    """The update center: everything installed plus a few more, some in newer versions."""
    return [
        *default_installed(),
        _p("timestamper", "1.28", "Timestamper"),
        _p("ansicolor", "1.0.5", "AnsiColor"),
        _p("pipeline-utility-steps", "2.18.0", "Pipeline Utility Steps", ("script-security", "1369.v9b_98a_4e95b_2d")),
        _p("docker-workflow", "580.vc0c340686b_54", "Docker Pipeline", ("docker-commons", "443.v921729d5611d")),
        _p("docker-commons", "443.v921729d5611d", "Docker Commons Plugin"),
        _p("kubernetes-credentials", "192.v4d5b_1c429d17", "Kubernetes Credentials Plugin"),
    ]


def _version_key(version: str) -> list[tuple[int, str]]:
    return [(int(part), "") if part.isdigit() else (-1, part) for part in re.split(r"[.\-_]", version)]


def _older(installed: str, requested: str) -> bool:
    """VersionNumber.isOlderThan, roughly: numbers sort above words, so nothing is older than "latest"."""
    return _version_key(installed) < _version_key(requested)


@dataclass
class PluginManager:
    installed: dict[str, Plugin] = field(default_factory=lambda: {p.short_name: p for p in default_installed()})
    catalog: dict[str, Plugin] = field(default_factory=lambda: {p.short_name: p for p in default_catalog()})
    install_requests: list[dict[str, str]] = field(default_factory=list)  # one {name: version} per POST
    pending_restart: dict[str, Plugin] = field(default_factory=dict)  # upgrades waiting for a restart

    def is_active(self, short_name: str | None) -> bool:
        plugin = self.installed.get(short_name or "")
        return short_name is None or (plugin is not None and plugin.active and plugin.enabled)

    def versions(self) -> dict[str, str]:
        return {name: plugin.version for name, plugin in self.installed.items()}

    def bean(self) -> Bean:
        plugins = [plugin.bean() for plugin in self.installed.values()]
        return Bean("hudson.LocalPluginManager", [Prop("plugins", plugins)])

    def install_from_xml(self, body: bytes) -> dict[str, str]:
        """``installNecessaryPlugins``: raises MalformedXml (Jenkins: 500 "Failed to parse XML")."""
        doc = xmlconfig.parse(body)
        requested: dict[str, str] = {}
        stack = [doc.root]
        while stack:
            element = stack.pop()
            stack.extend(element.elements())
            spec = element.attr("plugin")
            if spec is None:
                continue
            if not re.fullmatch(r"[^@]+@[^@]+", spec):
                raise xmlconfig.MalformedXml(f"Malformed plugin attribute: {spec}")
            name, version = spec.split("@")
            if name not in requested or _version_key(requested[name]) < _version_key(version):
                requested[name] = version
        self.install_requests.append(dict(sorted(requested.items())))
        for name, version in sorted(requested.items()):
            current = self.installed.get(name)
            if current is None or _older(current.version, version):
                self.deploy(name)
        return requested

    def deploy(self, name: str) -> bool:
        """UpdateSite.Plugin.deploy: the catalog's version and its needed dependencies; False if unknown."""
        available = self.catalog.get(name)
        if available is None:
            return False
        for dependency, _minimum in available.dependencies:
            if dependency not in self.installed:
                self.deploy(dependency)
        current = self.installed.get(name)
        if current is None:
            self.installed[name] = Plugin(name, available.version, available.long_name, list(available.dependencies))
        elif _version_key(current.version) < _version_key(available.version):
            self.pending_restart[name] = available
        return True

    def restart(self) -> None:
        for name, plugin in self.pending_restart.items():
            self.installed[name] = Plugin(name, plugin.version, plugin.long_name, list(plugin.dependencies))
        self.pending_restart.clear()
