"""How Jenkins stores an item's ``config.xml``: the two writers a client can observe.

1. **Posted XML** (``POST config.xml``, ``POST createItem`` with an XML body) goes through the JDK's identity
   transform (``XMLUtils.safeTransform``) and the output is stored as is; ``GET config.xml`` returns those bytes.
   The transform re-serialises: the declaration becomes ``<?xml version="1.0" encoding="UTF-8"?>`` (the version is
   kept, ``standalone`` dropped) with **no newline** before the root element, whitespace outside the root element
   is lost, attributes get double quotes, ``<a></a>`` becomes ``<a/>``, ``'`` and ``"`` in text are unescaped, ``>``
   is escaped, comments, processing instructions and CDATA sections are kept. :func:`identity_transform` writes
   the same bytes (checked against OpenJDK 17's transformer for the cases listed in the tests).
2. **Jenkins' own saves** (the UI's Save button, enable/disable, description, ...) are written by XStream:
   ``<?xml version='1.1' encoding='UTF-8'?>`` and a newline, two-space indentation, comments dropped, ``plugin``
   attributes carrying the installed plugin's version. :func:`xstream_save` approximates that from the XML (real
   XStream writes from the Java object, so it may also add or drop fields; the double does not).

Malformed XML raises :class:`MalformedXml` with a message shaped like Xerces' ``SAXParseException``.
"""

from __future__ import annotations

import xml.parsers.expat
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field


class MalformedXml(ValueError):
    """The body is not well-formed XML (Jenkins answers 500: "Failed to persist config.xml")."""


@dataclass
class Text:
    data: str
    cdata: bool = False


@dataclass
class Comment:
    data: str


@dataclass
class Instruction:
    target: str
    data: str


@dataclass
class Element:
    tag: str
    attrs: list[tuple[str, str]] = field(default_factory=list)
    children: list[Node] = field(default_factory=list)

    def elements(self) -> Iterator[Element]:
        return (child for child in self.children if isinstance(child, Element))

    def find(self, tag: str) -> Element | None:
        return next((child for child in self.elements() if child.tag == tag), None)

    def text(self) -> str:
        return "".join(child.data for child in self.children if isinstance(child, Text))

    def set_text(self, value: str) -> None:
        self.children = [Text(value)] if value else []

    def attr(self, name: str) -> str | None:
        return next((value for key, value in self.attrs if key == name), None)


Node = Element | Text | Comment | Instruction


@dataclass
class Document:
    version: str
    root: Element
    prolog: list[Node] = field(default_factory=list)
    epilog: list[Node] = field(default_factory=list)


def parse(data: bytes, *, encoding: str | None = None) -> Document:
    """Parse strictly (external entities refused, like Jenkins' RestrictiveEntityResolver)."""
    parser = xml.parsers.expat.ParserCreate(encoding)
    parser.ordered_attributes = True
    stack: list[Element] = []
    top: list[Node] = []
    state: dict[str, object] = {"version": "1.0", "cdata": False, "root": None}

    def sink() -> list[Node]:
        return stack[-1].children if stack else top

    def on_decl(version: str, _encoding: str | None, _standalone: int) -> None:
        if version not in ("1.0", "1.1"):
            raise MalformedXml(f'XML version "{version}" is not supported, only XML 1.0 and 1.1 are supported.')
        state["version"] = version

    def on_start(tag: str, attrs: list[str]) -> None:
        element = Element(tag, list(zip(attrs[::2], attrs[1::2], strict=True)))
        sink().append(element)
        stack.append(element)
        if state["root"] is None:
            state["root"] = element

    def on_text(data: str) -> None:
        if not stack:
            return  # SAX does not report whitespace outside the root element
        children = stack[-1].children
        cdata = bool(state["cdata"])
        if children and isinstance(children[-1], Text) and children[-1].cdata == cdata:
            children[-1].data += data
        else:
            children.append(Text(data, cdata))

    def on_external_entity(*_args: object) -> int:
        raise MalformedXml("Refusing to resolve entity")

    parser.XmlDeclHandler = on_decl
    parser.StartElementHandler = on_start
    parser.EndElementHandler = lambda _tag: stack.pop()
    parser.CharacterDataHandler = on_text
    parser.CommentHandler = lambda data: sink().append(Comment(data))
    parser.ProcessingInstructionHandler = lambda target, data: sink().append(Instruction(target, data))
    parser.StartCdataSectionHandler = lambda: state.update(cdata=True)
    parser.EndCdataSectionHandler = lambda: state.update(cdata=False)
    parser.ExternalEntityRefHandler = on_external_entity
    try:
        parser.Parse(data, True)
    except xml.parsers.expat.ExpatError as err:
        raise MalformedXml(
            f"lineNumber: {err.lineno}; columnNumber: {err.offset + 1}; {xml.parsers.expat.ErrorString(err.code)}"
        ) from err
    root = state["root"]
    assert isinstance(root, Element)
    index = top.index(root)
    return Document(str(state["version"]), root, top[:index], top[index + 1 :])


# --- writer 1: the JDK identity transform -------------------------------------------------------------------------


def _char_ref(ch: str) -> str:
    return f"&#{ord(ch)};"


def _escape_text(data: str) -> str:
    out = data.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")
    return "".join(_char_ref(ch) if 0x7F <= ord(ch) <= 0x9F or ord(ch) > 0xFFFF else ch for ch in out)


def _escape_attr(data: str) -> str:
    out = data.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    out = out.replace("\n", "&#10;").replace("\t", "&#9;").replace("\r", "&#13;")
    return "".join(_char_ref(ch) if ord(ch) > 0xFFFF else ch for ch in out)


def _identity_node(node: Node, out: list[str]) -> None:
    if isinstance(node, Text):
        if node.cdata:
            out.append(f"<![CDATA[{node.data}]]>" if node.data else "")
        else:
            out.append(_escape_text(node.data))
    elif isinstance(node, Comment):
        out.append(f"<!--{node.data}-->")
    elif isinstance(node, Instruction):
        out.append(f"<?{node.target} {node.data}?>" if node.data else f"<?{node.target}?>")
    else:
        attrs = "".join(f' {key}="{_escape_attr(value)}"' for key, value in node.attrs)
        if all(isinstance(child, Text) and not child.data for child in node.children):
            out.append(f"<{node.tag}{attrs}/>")
            return
        out.append(f"<{node.tag}{attrs}>")
        for child in node.children:
            _identity_node(child, out)
        out.append(f"</{node.tag}>")


def identity_transform(doc: Document) -> bytes:
    out = [f'<?xml version="{doc.version}" encoding="UTF-8"?>']
    for node in [*doc.prolog, doc.root, *doc.epilog]:
        _identity_node(node, out)
    return "".join(out).encode("utf-8")


# --- writer 2: XStream, as Jenkins saves an item itself ----------------------------------------------------------

# String fields XStream writes as <x></x> when empty (collections and nested objects become <x/>).
_STRING_FIELDS = frozenset({"description", "displayName", "script"})


def _xstream_escape(data: str) -> str:
    out = data.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    out = out.replace('"', "&quot;").replace("'", "&apos;").replace("\r", "&#xd;")
    return "".join(f"&#x{ord(ch):x};" if ord(ch) < 0x20 and ch not in "\t\n" else ch for ch in out)


def _xstream_element(element: Element, depth: int, versions: Callable[[str], str | None], out: list[str]) -> None:
    pad = "  " * depth
    attrs = []
    for key, value in element.attrs:
        if key == "plugin":
            short_name = value.split("@", 1)[0]
            installed = versions(short_name)
            attrs.append(f' {key}="{_xstream_escape(f"{short_name}@{installed}" if installed else value)}"')
        else:
            attrs.append(f' {key}="{_xstream_escape(value)}"')
    head = f"{pad}<{element.tag}{''.join(attrs)}"
    children = list(element.elements())
    text = element.text()
    if children:
        out.append(f"{head}>")
        for child in children:
            _xstream_element(child, depth + 1, versions, out)
        out.append(f"{pad}</{element.tag}>")
    elif text or element.tag in _STRING_FIELDS:
        out.append(f"{head}>{_xstream_escape(text)}</{element.tag}>")
    else:
        out.append(f"{head}/>")


def xstream_save(doc: Document, plugin_versions: Mapping[str, str]) -> bytes:
    out: list[str] = []
    _xstream_element(doc.root, 0, plugin_versions.get, out)
    return ("<?xml version='1.1' encoding='UTF-8'?>\n" + "\n".join(out)).encode("utf-8")
