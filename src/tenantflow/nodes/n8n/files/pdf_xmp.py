"""A PDF's XMP metadata as pdf.js's ``MetadataParser`` reads it, which is what n8n outputs as ``metadata``.

Every child of every ``rdf:Description`` becomes a key (lower-cased qualified name) with its trimmed
text; ``dc:creator`` and ``dc:subject`` become the list of their ``rdf:li`` texts. XML that does not
parse gives an empty object, as pdf.js's tolerant parser does. Entity declarations are refused (no
expansion), which pdf.js's parser does not read either.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.parsers import expat

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


class _EntityDeclared(Exception):
    """An entity declaration: refused, so that no document can expand one."""


def _parse(text: str) -> _Node | None:
    """The element tree, names lower-cased, text that is only whitespace dropped (pdf.js's rules)."""
    document = _Node("#document")
    stack = [document]
    pending: list[str] = []

    def flush() -> None:
        data = "".join(pending)
        pending.clear()
        if data.strip(" \t\n\r"):
            stack[-1].children.append(data)

    def start(name: str, _attributes: dict[str, str]) -> None:
        flush()
        node = _Node(name.lower())
        stack[-1].children.append(node)
        stack.append(node)

    def end(_name: str) -> None:
        flush()
        stack.pop()

    def entity(*_args: object) -> None:
        raise _EntityDeclared

    parser = expat.ParserCreate()
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = pending.append
    parser.EntityDeclHandler = entity
    try:
        parser.Parse(text, True)
    except (expat.ExpatError, _EntityDeclared):
        return None
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
