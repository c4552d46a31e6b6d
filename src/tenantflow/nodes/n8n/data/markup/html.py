"""HTML helpers for the HTML node: parsing like cheerio/parse5 and an html-to-text converter.

n8n's HTML node (v1.2) reads values with cheerio and turns elements into text with the ``html-to-text``
package's defaults. Both are reproduced on top of BeautifulSoup: the parse normalises line endings and moves
text that follows ``</body>`` into the body (as an HTML5 parser does), inner HTML is serialised the way
parse5 writes it (``<img ...>``, no self-closing slash), and :func:`html_to_text` follows html-to-text's
block and inline rules: headings upper-cased, blank lines around paragraphs and headings, ``text [href]``
for links, ``alt [src]`` for images, whitespace collapsed and lines wrapped at 80 characters.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from bs4 import BeautifulSoup, Tag
from bs4.builder._htmlparser import HTMLParserTreeBuilder
from bs4.dammit import EntitySubstitution
from bs4.element import Comment, Doctype, NavigableString, ProcessingInstruction
from bs4.formatter import HTMLFormatter

WORDWRAP = 80


class _Parse5Formatter(HTMLFormatter):
    """Serialises like parse5: attributes in source order, minimal escaping, ``<br>`` without a slash."""

    def __init__(self) -> None:
        super().__init__(entity_substitution=EntitySubstitution.substitute_xml, void_element_close_prefix="")

    def attributes(self, tag: Tag) -> Iterable[tuple[str, Any]]:
        return list(tag.attrs.items())


class _EveryTag(frozenset[str]):
    """Makes every tag whitespace-preserving: BeautifulSoup otherwise shrinks blank text to one character."""

    def __contains__(self, item: object) -> bool:
        return True


PARSE5_FORMATTER = _Parse5Formatter()
_SKIPPED_TAGS = frozenset(
    {"head", "title", "script", "style", "noscript", "template", "input", "select", "button"}
)
_BLOCK_BREAKS: dict[str, tuple[int, int]] = {
    **{f"h{level}": (3, 2) for level in range(1, 7)},
    **dict.fromkeys(("p", "pre", "blockquote", "ul", "ol", "table", "hr"), (2, 2)),
    **dict.fromkeys(
        (
            "div", "section", "article", "header", "footer", "main", "nav", "aside", "form", "li", "tr",
            "dl", "dt", "dd", "figure", "figcaption", "address", "fieldset", "details", "summary",
        ),
        (1, 1),
    ),
}  # fmt: skip


def parse_html(html: str) -> BeautifulSoup:
    """Parse a document or fragment, keeping attribute values as written (``class`` stays one string)."""
    text = html.replace("\r\n", "\n").replace("\r", "\n")
    builder = HTMLParserTreeBuilder(multi_valued_attributes=None, preserve_whitespace_tags=_EveryTag())
    soup = BeautifulSoup(text, builder=builder)
    body = soup.body
    if body is not None:
        for holder in (body.parent, soup):
            _move_trailing_text_into(body, holder)
    return soup


def _move_trailing_text_into(body: Tag, holder: Tag | None) -> None:
    """Text after ``</body>`` (or ``</html>``) belongs to the body in HTML5 parsing."""
    if holder is None:
        return
    anchor = body if holder is body.parent else body.find_parent("html")
    if anchor is None or anchor.parent is not holder:
        return
    for sibling in list(anchor.next_siblings):
        if isinstance(sibling, NavigableString) and not isinstance(sibling, Comment | Doctype):
            body.append(sibling.extract())


def inner_html(element: Tag) -> str:
    """cheerio's ``.html()``: the first element's content as parse5 serialises it."""
    return element.decode_contents(formatter=PARSE5_FORMATTER)


def element_value(element: Tag) -> str | list[str] | None:
    """cheerio's ``.val()`` for form controls."""
    if element.name == "select":
        selected = [option for option in element.find_all("option") if option.has_attr("selected")]
        values = [_option_value(option) for option in selected]
        return values if element.has_attr("multiple") else (values[0] if values else None)
    if element.name == "textarea":
        return element.get_text()
    if element.name == "option":
        return _option_value(element)
    value = element.get("value")
    if value is None and element.name == "input" and element.get("type") in ("checkbox", "radio"):
        return "on"
    return value if isinstance(value, str) else None


def _option_value(option: Tag) -> str:
    value = option.get("value")
    return value if isinstance(value, str) else option.get_text()


# --- html-to-text ------------------------------------------------------------------------------------------


@dataclass
class _TextWriter:
    """Collects inline text into lines and joins blocks with the line breaks they ask for."""

    blocks: list[str] = field(default_factory=list)
    inline: list[str] = field(default_factory=list)
    pending_breaks: int = 0
    uppercase: int = 0

    def text(self, data: str) -> None:
        collapsed = re.sub(r"\s+", " ", data)
        if self.uppercase:
            collapsed = collapsed.upper()
        if not self.inline or self.inline[-1].endswith(" "):
            collapsed = collapsed.lstrip(" ")
        if collapsed:
            self.inline.append(collapsed)

    def line_break(self) -> None:
        self.inline.append("\n")

    def block(self, breaks: int) -> None:
        """A block boundary: finish the current text and ask for ``breaks`` newlines before the next."""
        self._flush()
        self.pending_breaks = max(self.pending_breaks, breaks)

    def _flush(self) -> None:
        lines = "".join(self.inline).split("\n")
        self.inline = []
        wrapped = "\n".join(_wrap(line.strip(" ")) for line in lines).strip("\n")
        if not wrapped.strip():
            return
        if self.blocks:
            self.blocks.append("\n" * self.pending_breaks)
        self.blocks.append(wrapped)
        self.pending_breaks = 0

    def result(self) -> str:
        self._flush()
        return "".join(self.blocks)


def _wrap(line: str) -> str:
    if len(line) <= WORDWRAP:
        return line
    return "\n".join(textwrap.wrap(line, WORDWRAP, break_long_words=False, break_on_hyphens=False))


def html_to_text(root: Tag, skip_selectors: Iterable[str] = ()) -> str:
    """The text ``html-to-text``'s ``convert`` makes of ``root``'s content (its ``body`` when it has one)."""
    for selector in skip_selectors:
        for element in root.select(selector):
            element.decompose()
    base = root.find("body") if root.name != "body" else root
    writer = _TextWriter()
    _write_children(base if isinstance(base, Tag) else root, writer)
    return writer.result()


def _write_children(element: Tag, writer: _TextWriter) -> None:
    for child in element.children:
        if isinstance(child, Comment | Doctype | ProcessingInstruction):
            continue
        if isinstance(child, NavigableString):
            writer.text(str(child))
        elif isinstance(child, Tag):
            _write_element(child, writer)


def _write_element(element: Tag, writer: _TextWriter) -> None:
    name = element.name
    if name in _SKIPPED_TAGS:
        return
    if name == "br":
        writer.line_break()
    elif name == "img":
        writer.text(_image_text(element))
    elif name == "a":
        _write_children(element, writer)
        writer.text(_anchor_suffix(element))
    elif name in _BLOCK_BREAKS:
        leading, trailing = _BLOCK_BREAKS[name]
        writer.block(leading)
        writer.uppercase += name.startswith("h") and name[1:].isdigit()
        _write_children(element, writer)
        writer.uppercase -= name.startswith("h") and name[1:].isdigit()
        writer.block(trailing)
    else:
        _write_children(element, writer)


def _image_text(element: Tag) -> str:
    alt, src = str(element.get("alt") or ""), str(element.get("src") or "")
    link = f"[{src}]" if src else ""
    return f"{alt} {link}".strip() if alt else link


def _anchor_suffix(element: Tag) -> str:
    href = str(element.get("href") or "")
    if not href or href.startswith("#"):
        return ""
    return f" [{href.removeprefix('mailto:')}]"
