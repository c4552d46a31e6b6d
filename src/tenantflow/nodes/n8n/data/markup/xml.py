"""XML <-> JSON the way n8n's XML node does it: with xml2js's Parser and Builder (xmlbuilder) conventions.

n8n hands its options straight to xml2js, so output shapes follow xml2js's rules, reproduced here: text
collects under ``charkey`` and collapses to a plain string when an element has nothing else; whitespace-only
text disappears; repeated children become arrays (every child with ``explicitArray``); attributes go under
``attrkey`` or merge into the element (``mergeAttrs``); all values stay strings. The builder renders
xmlbuilder's pretty output (two-space indent, ``<empty/>``, declaration ``standalone="yes"``).

The parser is expat with namespace processing off, so ``ns:tag`` names stay as written, like sax in xml2js.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from xml.parsers import expat

from tenantflow.engine.expressions import js_string


@dataclass(frozen=True)
class ParserOptions:
    """xml2js Parser options n8n exposes, with n8n's defaults (``mergeAttrs`` on, ``explicitArray`` off)."""

    attrkey: str = "$"
    charkey: str = "_"
    explicit_array: bool = False
    explicit_root: bool = True
    explicit_charkey: bool = False
    ignore_attrs: bool = False
    merge_attrs: bool = True
    normalize: bool = False
    normalize_tags: bool = False
    trim: bool = False

    @classmethod
    def from_params(cls, options: dict[str, Any]) -> ParserOptions:
        return cls(
            attrkey=str(options.get("attrkey", "$")),
            charkey=str(options.get("charkey", "_")),
            explicit_array=bool(options.get("explicitArray", False)),
            explicit_root=bool(options.get("explicitRoot", True)),
            explicit_charkey=bool(options.get("explicitCharkey", False)),
            ignore_attrs=bool(options.get("ignoreAttrs", False)),
            merge_attrs=bool(options.get("mergeAttrs", True)),
            normalize=bool(options.get("normalize", False)),
            normalize_tags=bool(options.get("normalizeTags", False)),
            trim=bool(options.get("trim", False)),
        )


class _Xml2Js:
    """Builds xml2js's object from expat events (its ``onopentag``/``ontext``/``onclosetag`` logic)."""

    def __init__(self, options: ParserOptions) -> None:
        self.options = options
        self.stack: list[tuple[str, dict[str, Any]]] = []
        self.result: Any = None

    def start(self, name: str, attributes: dict[str, str]) -> None:
        options = self.options
        node: dict[str, Any] = {options.charkey: ""}
        if not options.ignore_attrs:
            for key, value in attributes.items():
                if options.merge_attrs:
                    self._assign_or_push(node, key, value)
                else:
                    node.setdefault(options.attrkey, {})[key] = value
        self.stack.append((name.lower() if options.normalize_tags else name, node))

    def text(self, data: str) -> None:
        if self.stack:
            node = self.stack[-1][1]
            node[self.options.charkey] += data

    def end(self, _name: str) -> None:
        name, node = self.stack.pop()
        value = self._finish(node)
        if self.stack:
            self._assign_or_push(self.stack[-1][1], name, value)
        else:
            self.result = {name: value} if self.options.explicit_root else value

    def _finish(self, node: dict[str, Any]) -> Any:
        """xml2js's close-tag rules: drop blank text, trim/normalise, collapse text-only nodes."""
        charkey = self.options.charkey
        text = node[charkey]
        empty = ""
        if text.strip() == "":
            empty = text
            del node[charkey]
        else:
            if self.options.trim:
                text = text.strip()
            if self.options.normalize:
                text = re.sub(r"\s{2,}", " ", text).strip()
            node[charkey] = text
            if len(node) == 1 and not self.options.explicit_charkey:
                return text
        return node if node else empty

    def _assign_or_push(self, node: dict[str, Any], key: str, value: Any) -> None:
        if key not in node:
            node[key] = [value] if self.options.explicit_array else value
            return
        if not isinstance(node[key], list):
            node[key] = [node[key]]
        node[key].append(value)


def xml_to_json(text: str, options: ParserOptions) -> Any:
    """Parse ``text``; raises ``ValueError`` with expat's message when it is not well-formed XML."""
    builder = _Xml2Js(options)
    parser = expat.ParserCreate()
    parser.buffer_text = True
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.text
    try:
        parser.Parse(text.strip(), True)
    except expat.ExpatError as exc:
        raise ValueError(str(exc)) from exc
    return builder.result


# --- builder -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BuilderOptions:
    attrkey: str = "$"
    charkey: str = "_"
    headless: bool = False
    root_name: str = "root"
    cdata: bool = False

    @classmethod
    def from_params(cls, options: dict[str, Any]) -> BuilderOptions:
        return cls(
            attrkey=str(options.get("attrkey", "$")),
            charkey=str(options.get("charkey", "_")),
            headless=bool(options.get("headless", False)),
            root_name=str(options.get("rootName", "root")),
            cdata=bool(options.get("cdata", False)),
        )


@dataclass
class _Element:
    name: str
    attributes: dict[str, str]
    children: list[_Element | str]


class _Builder:
    """xml2js ``Builder.buildObject``: objects become elements, ``attrkey``/``charkey`` are special."""

    def __init__(self, options: BuilderOptions) -> None:
        self.options = options

    def render(self, element: _Element, value: Any) -> None:
        if not isinstance(value, dict | list):
            if value is not None:
                element.children.append(self._text(value))
            return
        if isinstance(value, list):
            for entry in value:
                for key, child in entry.items() if isinstance(entry, dict) else ():
                    element.children.append(self._child(key, child))
            return
        for key, child in value.items():
            self._render_member(element, key, child)

    def _render_member(self, element: _Element, key: str, child: Any) -> None:
        if key == self.options.attrkey:
            if isinstance(child, dict):
                element.attributes.update({name: self._text(v) for name, v in child.items()})
        elif key == self.options.charkey:
            element.children.append(self._text(child))
        elif isinstance(child, list):
            element.children.extend(self._child(key, entry) for entry in child)
        else:
            element.children.append(self._child(key, child))

    def _child(self, key: str, value: Any) -> _Element:
        element = _Element(key, {}, [])
        self.render(element, value)
        return element

    @staticmethod
    def _text(value: Any) -> str:
        return "" if value is None else js_string(value)


def json_to_xml(value: Any, options: BuilderOptions) -> str:
    """Render ``value`` as xml2js's Builder would with its default pretty-printing."""
    if isinstance(value, dict) and len(value) == 1 and options.root_name == "root":
        [(root_name, root_value)] = value.items()
    else:
        root_name, root_value = options.root_name, value
    root = _Element(root_name, {}, [])
    _Builder(options).render(root, root_value)
    lines = [] if options.headless else ['<?xml version="1.0" encoding="UTF-8" standalone="yes"?>']
    _write(root, 0, lines, options.cdata)
    return "\n".join(lines)


def _write(element: _Element, depth: int, lines: list[str], cdata: bool) -> None:
    """xmlbuilder's pretty writer: self-closing when empty, inline when the only child is text."""
    indent = "  " * depth
    attributes = "".join(f' {name}="{_escape_attribute(v)}"' for name, v in element.attributes.items())
    children = [child for child in element.children if child != ""]
    opening = f"{indent}<{element.name}{attributes}"
    if not children:
        lines.append(f"{opening}/>")
    elif len(children) == 1 and isinstance(children[0], str):
        lines.append(f"{opening}>{_escape_text(children[0], cdata)}</{element.name}>")
    else:
        lines.append(f"{opening}>")
        for child in children:
            if isinstance(child, str):
                lines.append(f"{indent}  {_escape_text(child, cdata)}")
            else:
                _write(child, depth + 1, lines, cdata)
        lines.append(f"{indent}</{element.name}>")


def _escape_text(text: str, cdata: bool) -> str:
    if cdata and re.search(r"[<&]", text):
        return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#xD;")


def _escape_attribute(text: str) -> str:
    replacements = {"&": "&amp;", "<": "&lt;", '"': "&quot;", "\t": "&#x9;", "\n": "&#xA;", "\r": "&#xD;"}
    return "".join(replacements.get(char, char) for char in text)
