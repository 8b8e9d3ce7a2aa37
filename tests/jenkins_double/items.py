"""Items (jobs and folders) as Jenkins keeps them: a tree of item groups, each keyed case-insensitively.

Jenkins' item maps use ``String.CASE_INSENSITIVE_ORDER``: ``/job/APP/`` finds ``app``, ``app`` and ``App`` cannot
coexist, and listings are sorted case-insensitively. An item's type comes from its config.xml root element
(XStream alias or class name) and exists only while the plugin providing it is installed and active; an unknown
root element fails like Jenkins (500). Names are checked like ``Jenkins.checkGoodName``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tests.jenkins_double import xmlconfig
from tests.jenkins_double.web import failure, quoted

if TYPE_CHECKING:
    from tests.jenkins_double.queue import Build

UNSAFE_CHARS = "?*/\\%!@#$^&|<>[]:;"


@dataclass(frozen=True)
class ItemType:
    cls: str
    plugin: str | None  # None: Jenkins core
    folder: bool
    default_config: str


FOLDER = ItemType(
    "com.cloudbees.hudson.plugins.folder.Folder",
    "cloudbees-folder",
    True,
    '<com.cloudbees.hudson.plugins.folder.Folder plugin="cloudbees-folder"><actions/><properties/>'
    '<folderViews class="com.cloudbees.hudson.plugins.folder.views.DefaultFolderViewHolder"><views>'
    "<hudson.model.AllView><name>All</name><filterExecutors>false</filterExecutors><filterQueue>false</filterQueue>"
    '<properties class="hudson.model.View$PropertyList"/></hudson.model.AllView></views><primaryView>All</primaryView>'
    '<tabBar class="hudson.views.DefaultViewsTabBar"/></folderViews><healthMetrics/>'
    '<icon class="com.cloudbees.hudson.plugins.folder.icons.StockFolderIcon"/>'
    "</com.cloudbees.hudson.plugins.folder.Folder>",
)
PIPELINE = ItemType(
    "org.jenkinsci.plugins.workflow.job.WorkflowJob",
    "workflow-job",
    False,
    '<flow-definition plugin="workflow-job"><actions/><description></description>'
    "<keepDependencies>false</keepDependencies><properties/><triggers/><disabled>false</disabled></flow-definition>",
)
FREESTYLE = ItemType(
    "hudson.model.FreeStyleProject",
    None,
    False,
    "<project><actions/><description></description><keepDependencies>false</keepDependencies><properties/>"
    '<scm class="hudson.scm.NullSCM"/><canRoam>true</canRoam><disabled>false</disabled>'
    "<blockBuildWhenDownstreamBuilding>false</blockBuildWhenDownstreamBuilding>"
    "<blockBuildWhenUpstreamBuilding>false</blockBuildWhenUpstreamBuilding><triggers/>"
    "<concurrentBuild>false</concurrentBuild><builders/><publishers/><buildWrappers/></project>",
)
# Root element (XStream alias or class name) -> type. Tests may add entries.
ITEM_TYPES: dict[str, ItemType] = {
    "flow-definition": PIPELINE,
    PIPELINE.cls: PIPELINE,
    "project": FREESTYLE,
    FREESTYLE.cls: FREESTYLE,
    FOLDER.cls: FOLDER,
}


def _is_control(ch: str) -> bool:
    return ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F  # Character.isISOControl


def check_good_name(name: str | None) -> None:
    """Jenkins.checkGoodName, with its messages (raised as a 400 Failure)."""
    if not name:
        raise failure("No name is specified")
    if name.strip() in (".", ".."):
        raise failure(f"“{name.strip()}” is not an allowed name")
    for ch in name:
        if _is_control(ch):
            printable = "".join(f"\\u{ord(c)};" if _is_control(c) else c for c in name)  # Jenkins' toPrintableName
            raise failure(f"No control code is allowed: {printable}")
        if ch in UNSAFE_CHARS:
            raise failure(f"{quoted(ch)} is an unsafe character")
    if name.strip().endswith("."):
        raise failure(f"A name cannot end with {quoted('.')}")


def url_name(name: str) -> str:
    """Util.rawEncode: how Jenkins writes a name into its URLs."""
    keep = set("!$&'()*+,-.=@_") | set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
    return "".join(ch if ch in keep else "".join(f"%{b:02X}" for b in ch.encode()) for ch in name)


@dataclass(eq=False)
class ItemGroup:
    """The root (Jenkins itself) or a folder's children."""

    children: dict[str, Item] = field(default_factory=dict)

    def get(self, name: str) -> Item | None:
        return self.children.get(name.lower())

    def add(self, item: Item) -> None:
        self.children[item.name.lower()] = item

    def remove(self, item: Item) -> None:
        del self.children[item.name.lower()]

    def sorted(self) -> list[Item]:
        return sorted(self.children.values(), key=lambda item: item.name.lower())

    def walk(self) -> Iterator[Item]:
        for item in self.sorted():
            yield item
            yield from item.group.walk()


@dataclass(eq=False)
class Item:
    name: str
    parent: Item | None  # None: at the root
    type: ItemType
    config: bytes
    group: ItemGroup = field(default_factory=ItemGroup)  # children, for folders
    builds: list[Build] = field(default_factory=list)  # newest last
    next_build_number: int = 1

    @property
    def full_name(self) -> str:
        return f"{self.parent.full_name}/{self.name}" if self.parent else self.name

    @property
    def full_display_name(self) -> str:
        return f"{self.parent.full_display_name} » {self.name}" if self.parent else self.name

    @property
    def url_path(self) -> str:
        return f"{self.parent.url_path if self.parent else ''}job/{url_name(self.name)}/"

    def document(self) -> xmlconfig.Document:
        return xmlconfig.parse(self.config)

    def _root_text(self, tag: str) -> str | None:
        element = self.document().root.find(tag)
        return None if element is None else element.text()

    @property
    def description(self) -> str | None:
        return self._root_text("description")

    @property
    def disabled(self) -> bool:
        return not self.type.folder and (self._root_text("disabled") or "").strip() == "true"

    @property
    def parameters(self) -> list[tuple[str, str]] | None:
        """(name, default) of each parameter definition, or None for a job without parameters."""
        props = self.document().root.find("properties")
        holder = props.find("hudson.model.ParametersDefinitionProperty") if props is not None else None
        definitions = holder.find("parameterDefinitions") if holder is not None else None
        if definitions is None:
            return None
        out = []
        for definition in definitions.elements():
            name, default = definition.find("name"), definition.find("defaultValue")
            out.append((name.text() if name is not None else "", default.text() if default is not None else ""))
        return out

    def property_classes(self) -> list[str]:
        props = self.document().root.find("properties")
        return [] if props is None else [element.tag for element in props.elements()]
