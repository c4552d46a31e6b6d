"""A PDF's XMP metadata as pdf.js's ``MetadataParser`` reads it, which is what n8n outputs as ``metadata``.

Every child of every ``rdf:Description`` becomes a key (lower-cased qualified name) with its trimmed
text; ``dc:creator`` and ``dc:subject`` become the list of their ``rdf:li`` texts. The XML is read as
pdf.js's own small parser reads it (tolerant of mismatched end tags, no DTD, no entity declarations:
nothing expands); a tag left open gives an empty object.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tenantflow.nodes.n8n.files.pdf_fonts import JS_WHITESPACE

_TRIM = "".join(JS_WHITESPACE)


@dataclass
class _Node:
    name: str
    children: list[_Node | str] = field(default_factory=list)

    def text(self) -> str:
        return "".join(child if isinstance(child, str) else child.text() for child in self.children)

    def elements(self) -> list[_Node]:
        return [child for child in self.children if isinstance(child, _Node)]


_TOKEN = re.compile(
    r"<!--.*?-->|<!\[CDATA\[(?P<cdata>.*?)\]\]>|<![^>]*>|<\?.*?\?>"
    r"|</(?P<end>[^\s>]*)\s*>|<(?P<start>[^\s>/]+)(?P<attributes>(?:[^>\"']|\"[^\"]*\"|'[^']*')*)>",
    re.DOTALL,
)
_ENTITY = re.compile(r"&([^;]+);")
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}


def _entity(match: re.Match[str]) -> str:
    name = match.group(1)
    try:
        if name.startswith("#x"):
            return chr(int(name[2:], 16))
        if name.startswith("#"):
            return chr(int(name[1:]))
    except (ValueError, OverflowError):
        return match.group()
    return _NAMED.get(name, match.group())


def _parse(text: str) -> _Node | None:
    """pdf.js ``SimpleXMLParser``: tolerant (an end tag closes the open element whatever its name), names
    lower-cased, entities resolved, text that is only whitespace dropped; an unclosed tag is an error."""
    document = _Node("#document")
    stack = [document]

    def add_text(data: str) -> None:
        if data.strip(" \t\n\r"):
            stack[-1].children.append(data)

    position = 0
    for match in _TOKEN.finditer(text):
        add_text(_ENTITY.sub(_entity, text[position : match.start()]))
        position = match.end()
        if match.group("cdata") is not None:
            add_text(match.group("cdata"))
        elif match.group("end") is not None:
            if len(stack) > 1:
                stack.pop()
        elif match.group("start") is not None:
            node = _Node(match.group("start").lower())
            stack[-1].children.append(node)
            if not match.group("attributes").rstrip().endswith("/"):
                stack.append(node)
    if "<" in text[position:]:
        return None
    add_text(_ENTITY.sub(_entity, text[position:]))
    roots = document.elements()
    return roots[0] if roots else None


def xmp_metadata(text: str) -> dict[str, str | list[str]]:
    """pdf.js ``Metadata.getAll()`` of an XMP packet (text before the first ``<`` is dropped)."""
    root = _parse(text[text.find("<") :] if "<" in text else "")
    result: dict[str, str | list[str]] = {}
    if root is None:
        return result
    rdf: _Node | None = root
    if root.name != "rdf:rdf":
        rdf = next((node for node in root.elements() if node.name == "rdf:rdf"), None)
    if rdf is None:
        return result
    for description in rdf.elements():
        if description.name != "rdf:description":
            continue
        for entry in description.elements():
            if entry.name in ("dc:creator", "dc:subject"):
                if entry.children:
                    result[entry.name] = _sequence(entry.children[0])
                continue
            result[entry.name] = entry.text().strip(_TRIM)
    return result


def _sequence(node: _Node | str) -> list[str]:
    """The ``rdf:li`` texts of a ``rdf:Bag``, ``rdf:Seq`` or ``rdf:Alt`` (nothing for anything else)."""
    if isinstance(node, str) or node.name not in ("rdf:bag", "rdf:seq", "rdf:alt"):
        return []
    return [item.text().strip(_TRIM) for item in node.elements() if item.name == "rdf:li"]
