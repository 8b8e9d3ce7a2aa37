"""Everything one Jenkins holds, and the item operations both the HTTP routes and tests' "UI" edits use.

Stored config bytes follow :mod:`tests.jenkins_double.xmlconfig`: XML that a client posts is kept as the JDK
identity transform writes it; whatever Jenkins changes itself (enable/disable, description, UI edits, items
created from ``mode=``) is re-saved the XStream way.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from tests.jenkins_double import xmlconfig
from tests.jenkins_double.items import ITEM_TYPES, Item, ItemGroup, ItemType, check_good_name
from tests.jenkins_double.plugins import PluginManager
from tests.jenkins_double.queue import Queue
from tests.jenkins_double.script import ScriptConsole
from tests.jenkins_double.security import Security
from tests.jenkins_double.web import failure, oops, quoted


def _parse_or_500(body: bytes, encoding: str | None = None) -> xmlconfig.Document:
    try:
        return xmlconfig.parse(body, encoding=encoding)
    except xmlconfig.MalformedXml as err:
        raise oops(
            f"java.io.IOException: Failed to persist config.xml\nCaused by: org.xml.sax.SAXParseException; {err}"
        ) from err


@dataclass
class JenkinsState:
    root: ItemGroup = field(default_factory=ItemGroup)
    security: Security = field(default_factory=Security)
    queue: Queue = field(default_factory=Queue)
    plugins: PluginManager = field(default_factory=PluginManager)
    scripts: ScriptConsole = field(init=False)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def __post_init__(self) -> None:
        self.scripts = ScriptConsole(self.plugins)

    # --- lookup --------------------------------------------------------------------------------------------------

    def group(self, parent: Item | None) -> ItemGroup:
        return self.root if parent is None else parent.group

    def lookup(self, full_name: str) -> Item | None:
        item: Item | None = None
        for part in full_name.strip("/").split("/"):
            group = self.group(item)
            if item is not None and not item.type.folder:
                return None
            item = group.get(part)
            if item is None:
                return None
        return item

    def all_items(self) -> list[Item]:
        return list(self.root.walk())

    # --- item types ----------------------------------------------------------------------------------------------

    def item_type(self, doc: xmlconfig.Document) -> ItemType:
        item_type = ITEM_TYPES.get(doc.root.tag)
        if item_type is None or not self.plugins.is_active(item_type.plugin):
            raise oops(f"com.thoughtworks.xstream.mapper.CannotResolveClassException: {doc.root.tag}")
        return item_type

    # --- changes -------------------------------------------------------------------------------------------------

    def check_new_name(self, parent: Item | None, name: str | None) -> str:
        check_good_name(name)
        assert name is not None
        name = name.strip()
        if self.group(parent).get(name) is not None:
            raise failure(f"A job already exists with the name {quoted(name)}")
        return name

    def create_from_xml(self, parent: Item | None, name: str, body: bytes) -> Item:
        doc = _parse_or_500(body)
        item = Item(name, parent, self.item_type(doc), xmlconfig.identity_transform(doc))
        self.group(parent).add(item)
        return item

    def create_from_mode(self, parent: Item | None, name: str, item_type: ItemType) -> Item:
        doc = xmlconfig.parse(item_type.default_config.encode())
        item = Item(name, parent, item_type, xmlconfig.xstream_save(doc, self.plugins.versions()))
        self.group(parent).add(item)
        return item

    def update_config(self, item: Item, body: bytes, charset: str) -> None:
        doc = _parse_or_500(body.decode(charset, "replace").encode("utf-8"), encoding="UTF-8")
        new_type = self.item_type(doc)
        if new_type.cls != item.type.cls:
            raise oops(f"java.io.IOException: Expecting class {item.type.cls} but got class {new_type.cls} instead")
        item.config = xmlconfig.identity_transform(doc)

    def save(self, item: Item, doc: xmlconfig.Document) -> None:
        item.config = xmlconfig.xstream_save(doc, self.plugins.versions())

    def edit_in_ui(self, item: Item, xml: str) -> None:
        """What "Configure" + "Save" in the UI leaves behind: the new settings, saved by XStream."""
        doc = xmlconfig.parse(xml.encode("utf-8"))
        if self.item_type(doc).cls != item.type.cls:
            raise ValueError(f"{item.full_name} is a {item.type.cls}; the UI cannot change its type")
        self.save(item, doc)

    def _set_root_text(self, item: Item, tag: str, value: str) -> None:
        doc = item.document()
        element = doc.root.find(tag)
        if element is None:
            element = xmlconfig.Element(tag)
            doc.root.children.append(element)
        element.set_text(value)
        self.save(item, doc)

    def set_disabled(self, item: Item, disabled: bool) -> bool:
        """ParameterizedJob.makeDisabled: a no-op (no save) when already so; disabling empties the queue."""
        if item.disabled == disabled:
            return False
        self._set_root_text(item, "disabled", "true" if disabled else "false")
        if disabled:
            self.queue.cancel_job(item)
        return True

    def set_description(self, item: Item, description: str) -> None:
        self._set_root_text(item, "description", description)

    def rename(self, item: Item, new_name: str | None) -> None:
        """AbstractItem.doConfirmRename's checks and messages."""
        new_name = new_name.strip() if new_name is not None else None
        check_good_name(new_name)
        assert new_name is not None
        if new_name == item.name:
            raise failure("The new name is the same as the current name.")
        if self.group(item.parent).get(new_name) is not None:  # case-insensitive: "app" -> "App" is refused too
            raise failure(f"The name “{new_name}” is already in use.")
        if item.builds and item.builds[-1].building:
            raise failure("Unable to rename a job while it is building.")
        group = self.group(item.parent)
        group.remove(item)
        item.name = new_name
        group.add(item)

    def delete(self, item: Item) -> None:
        for doomed in [item, *item.group.walk()]:
            self.queue.cancel_job(doomed)
        self.group(item.parent).remove(item)
