"""Making the team's Jenkins ready for the team's buildfacts: plugins, then tool installations.

Plugins: the union of what the buildfacts need (``buildfacts.registry.jenkins_plugins``); the installed list is
read and only the missing ones are requested (``installNecessaryPlugins``); one installed but not active (disabled
in Jenkins) is reported, not requested, since a request would not enable it. Once every plugin is seen installed the
set is remembered, so later cycles with the same buildfacts send no request at all; while some are still missing
after a request, the check is repeated at most once an hour.

Tools: one idempotent Groovy script for the script console adds the buildfacts' tool installations (JDK, Node.js,
Go) that are missing and leaves existing ones alone; it runs again only when the set of tools changes. Agent pod
templates are not touched here: they come from the team's Jenkins configuration as code (deploy/), which would
overwrite anything set through the script console on its next reload.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from buildplat.buildfacts import registry as buildfacts
from buildplat.buildfacts.base import JenkinsTool
from buildplat.clients.jenkins import JenkinsClient
from buildplat.sync.state import StateStore

# The JCasC tool key of a buildfact's tool -> the class of its installation in Jenkins.
TOOL_CLASSES = {
    "jdk": "hudson.model.JDK",
    "nodejs": "jenkins.plugins.nodejs.tools.NodeJSInstallation",
    "go": "org.jenkinsci.plugins.golang.GoInstallation",
}


@dataclass(frozen=True)
class SetupResult:
    done: tuple[str, ...]  # what was sent to Jenkins, for the report
    pending: tuple[str, ...]  # plugins requested and not installed yet
    problems: tuple[str, ...] = ()  # what buildplat cannot fix itself (a plugin disabled in Jenkins)


def needed_tools(facts: set[str]) -> list[JenkinsTool]:
    tools: list[JenkinsTool] = []
    for name in sorted(facts):
        tools.extend(buildfacts.get(name).jenkins_tools)
    return tools


def groovy_string(text: str) -> str:
    """``text`` as a Groovy single-quoted string literal (no interpolation happens in those)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r") + "'"


def tools_script(tools: list[JenkinsTool]) -> str:
    rows = [
        f"    [{groovy_string(TOOL_CLASSES[t.kind])}, {groovy_string(t.name)}, {groovy_string(t.home)}],"
        for t in tools
        if t.kind in TOOL_CLASSES
    ]
    return "\n".join(
        [
            "// buildplat sync: tool installations for the team's buildfacts; adds the missing ones only.",
            "// Classes are loaded by name so the script needs no plugin at compile time.",
            "def loader = this.class.classLoader",
            "def jenkins = loader.loadClass('jenkins.model.Jenkins').get()",
            "def wanted = [",
            *rows,
            "]",
            "wanted.each { entry ->",
            "    def (className, name, home) = entry",
            "    def type = loader.loadClass(className)",
            "    def descriptor = jenkins.getDescriptor(type)",
            "    def existing = (descriptor.installations as List)",
            "    if (existing.any { it.name == name }) {",
            "        println('buildplat: tool ' + name + ' is there')",
            "        return",
            "    }",
            "    def all = java.lang.reflect.Array.newInstance(type, existing.size() + 1)",
            "    existing.eachWithIndex { tool, index -> all[index] = tool }",
            "    all[existing.size()] = type.getConstructor(String, String, List).newInstance(name, home, [])",
            "    descriptor.setInstallations(all)",
            "    descriptor.save()",
            "    println('buildplat: tool ' + name + ' added')",
            "}",
            "",
        ]
    )


def prepare_jenkins(
    client: JenkinsClient, state: StateStore, facts: set[str], *, now: float, retry_seconds: float = 3600.0
) -> SetupResult:
    """Install missing plugins and tools for ``facts``; a no-op (no request) when nothing changed.

    Plugins asked for and still missing (the update center may not have them, or Jenkins waits for a restart)
    are asked for again at most every ``retry_seconds``, so a cycle with nothing to do stays without writes.
    """
    done: list[str] = []
    problems: list[str] = []
    pending: tuple[str, ...] = ()
    plugins = buildfacts.jenkins_plugins(sorted(facts))
    verified_key, requested_key = f"plugins-verified {client.url}", f"plugins-requested {client.url}"
    plugins_digest = _digest("\n".join(plugins))
    if state.get(verified_key) != plugins_digest and not _recently(
        state.get(requested_key), plugins_digest, now, retry_seconds
    ):
        installed = client.plugins()
        missing = [name for name in plugins if name not in installed]
        # Installed but not active: disabled by someone, or waiting for a restart. Asking to install them again
        # changes nothing, so they are reported instead (and looked at again with the missing ones).
        inactive = [name for name in plugins if name in installed and not installed[name]]
        if missing:
            client.install_plugins(missing)
            done.append("requested plugins: " + ", ".join(missing))
        if inactive:
            problems.append(
                "plugins installed but not active in Jenkins (disabled, or waiting for a restart): "
                + ", ".join(inactive)
                + "; the team's jobs need them"
            )
        if missing or inactive:
            state.put(requested_key, f"{plugins_digest} {now}")
            pending = tuple(missing + inactive)  # verified on a later cycle, once Jenkins lists them as active
        else:
            state.put(verified_key, plugins_digest)
            state.put(requested_key, None)
    tools = needed_tools(facts)
    script = tools_script(tools)
    tools_key = f"tools-script {client.url}"
    script_digest = _digest(script)
    if tools and state.get(tools_key) != script_digest:
        output = client.run_script(script)
        state.put(tools_key, script_digest)
        done.append("tool installations: " + (" ".join(output.split()) or "script run"))
    return SetupResult(tuple(done), pending, tuple(problems))


def _recently(requested: str | None, digest: str, now: float, retry_seconds: float) -> bool:
    """Whether these plugins were asked for less than ``retry_seconds`` ago."""
    if not requested:
        return False
    asked_digest, _, when = requested.partition(" ")
    try:
        return asked_digest == digest and now - float(when) < retry_seconds
    except ValueError:
        return False


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]
