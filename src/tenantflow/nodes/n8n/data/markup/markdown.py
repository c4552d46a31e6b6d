"""Markdown <-> HTML for the Markdown node, shaped like the JavaScript libraries n8n uses.

HTML to Markdown: n8n calls node-html-markdown; :mod:`markdownify` does the conversion here, after
dropping what node-html-markdown never prints (``head``, ``script``, ``style``) and applying its
``textReplace`` rules to text nodes. Its output keeps node-html-markdown's quirk of one leading space when
the document starts with whitespace, and trims the end. n8n passes ``ignore`` through as typed; a string is
then iterated character by character, so ``"h1"`` ignores nothing, as in n8n.

Markdown to HTML: n8n calls showdown; :mod:`markdown` converts here, then showdown's defaults are applied
on top: header ids (``exampledomain``), ``...`` as an ellipsis outside code, ``~~strike~~`` when enabled,
``target="_blank"`` links, and the complete-document wrapper.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

import markdown as markdown_lib
from bs4 import BeautifulSoup
from bs4.element import NavigableString
from markdownify import MarkdownConverter
from regex import Pattern

from tenantflow.engine.errors import ErrorCode, NodeError
from tenantflow.engine.expressions import Deadline, ExpressionError, compile_js_regex

_NEVER_PRINTED = ("head", "script", "style", "title", "noscript", "template")


@dataclass(frozen=True)
class HtmlToMarkdownOptions:
    """The node-html-markdown options n8n exposes that have a markdownify counterpart."""

    bullet_marker: str = "*"
    code_fence: str = "```"
    em_delimiter: str = "_"
    strong_delimiter: str = "**"
    ignore: tuple[str, ...] = ()
    text_replace: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_params(cls, options: dict[str, Any]) -> HtmlToMarkdownOptions:
        rules = (options.get("textReplace") or {}).get("values") or []
        return cls(
            bullet_marker=str(options.get("bulletMarker") or "*"),
            code_fence=str(options.get("codeFence") or "```"),
            em_delimiter=str(options.get("emDelimiter") or "_"),
            strong_delimiter=str(options.get("strongDelimiter") or "**"),
            ignore=tuple(options.get("ignore") or ()),
            text_replace=tuple(_rule(rule) for rule in rules),
        )


def _rule(rule: dict[str, Any]) -> tuple[str, str]:
    return str(rule.get("pattern", "")), str(rule.get("replacement", ""))


def html_to_markdown(html: str, options: HtmlToMarkdownOptions, deadline: Deadline) -> str:
    """``deadline`` bounds the time the ``textReplace`` patterns may take, over the whole node run."""
    soup = BeautifulSoup(html, "html.parser")
    for element in soup.find_all([*_NEVER_PRINTED, *options.ignore]):
        element.decompose()
    for pattern, replacement in options.text_replace:
        _replace_text(soup, pattern, replacement, deadline)
    converted = MarkdownConverter(
        heading_style="ATX",
        bullets=options.bullet_marker,
        strong_em_symbol=options.strong_delimiter[0],
        strip_document=None,
    ).convert_soup(soup)
    leading = " " if re.match(r"[ \t]", converted) else ""
    return leading + converted.lstrip(" \t").rstrip() if leading else converted.strip()


def _replace_text(soup: BeautifulSoup, pattern: str, replacement: str, deadline: Deadline) -> None:
    """Apply a JavaScript ``RegExp(pattern, 'g')`` replacement to every text node, stopped (naming the
    pattern) once the run's matching time is spent."""
    try:
        regex = compile_js_regex(pattern, "g")
    except ExpressionError as exc:
        raise NodeError(f"Invalid text replacement pattern: {exc}", code=ErrorCode.INVALID_PARAMETER) from exc
    template = _js_replacement(replacement)
    for text in soup.find_all(string=True):
        if isinstance(text, NavigableString):
            subject = str(text)
            replaced = deadline.run(pattern, functools.partial(_sub, regex, template, subject))
            if replaced != subject:
                text.replace_with(replaced)


def _sub(regex: Pattern[str], template: str, subject: str, seconds: float) -> str:
    return regex.sub(template, subject, timeout=seconds)


def _js_replacement(replacement: str) -> str:
    """JavaScript's ``$1``/``$&`` in a replacement string, in Python's syntax."""
    escaped = replacement.replace("\\", "\\\\")
    return re.sub(r"\$(\d+|&)", lambda m: r"\g<0>" if m.group(1) == "&" else rf"\g<{m.group(1)}>", escaped)


# --- Markdown to HTML --------------------------------------------------------------------------------------


def markdown_to_html(text: str, options: dict[str, Any]) -> str:
    extensions = ["tables"] if options.get("tables") else []
    if options.get("simpleLineBreaks"):
        extensions.append("nl2br")
    html = markdown_lib.markdown(text, extensions=extensions)
    html = _outside_code(html, _text_rules(options))
    if not options.get("noHeaderId"):
        html = _header_ids(html, options)
    if options.get("openLinksInNewWindow"):
        html = html.replace("<a href=", '<a target="_blank" href=')
    if options.get("completeHTMLDocument"):
        html = (
            '<!DOCTYPE HTML>\n<html>\n<head>\n<meta charset="utf-8">\n</head>\n<body>\n'
            f"{html.strip()}\n</body>\n</html>"
        )
    return html


def _text_rules(options: dict[str, Any]) -> list[tuple[str, str]]:
    rules = [(r"\.\.\.", "\u2026")] if options.get("ellipsis", True) else []
    if options.get("strikethrough"):
        rules.append((r"~~(.+?)~~", r"<del>\1</del>"))
    return rules


def _outside_code(html: str, rules: list[tuple[str, str]]) -> str:
    """Apply ``rules`` to text between tags, leaving ``<code>`` and ``<pre>`` content alone."""
    parts = re.split(r"(<[^>]+>)", html)
    depth = 0
    for index, part in enumerate(parts):
        if part.startswith("<"):
            if re.match(r"<(code|pre)\b", part):
                depth += 1
            elif re.match(r"</(code|pre)>", part):
                depth -= 1
        elif depth == 0:
            for pattern, replacement in rules:
                part = re.sub(pattern, replacement, part)
            parts[index] = part
    return "".join(parts)


def _header_ids(html: str, options: dict[str, Any]) -> str:
    """showdown's header ids: word characters of the title, lower-cased, made unique with ``-1``..."""
    seen: dict[str, int] = {}
    prefix = str(options.get("prefixHeaderId") or "")

    def add_id(match: re.Match[str]) -> str:
        title = re.sub(r"<[^>]+>", "", match.group(3))
        if options.get("ghCompatibleHeaderId"):
            base = re.sub(r"[&+$,/:;=?@\"#{}|^¨~\[\]`\\*)(%.!'<>]", "", title.replace(" ", "-")).lower()
        else:
            base = re.sub(r"[^\w]", "", title).lower()
        base = prefix + base
        count = seen.get(base, 0)
        seen[base] = count + 1
        header_id = base if count == 0 else f"{base}-{count}"
        return f'<h{match.group(1)}{match.group(2)} id="{header_id}">{match.group(3)}</h{match.group(1)}>'

    return re.sub(r"<h([1-6])([^>]*)>(.*?)</h\1>", add_id, html, flags=re.S)
