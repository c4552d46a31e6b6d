"""Markup nodes: XML <-> JSON, extracting values from HTML, and Markdown <-> HTML.

Each node reproduces the JavaScript library n8n uses underneath (xml2js, cheerio with html-to-text,
showdown and node-html-markdown) on top of Python equivalents; the helper modules ``xml``,
``html`` and ``markdown`` of this package hold those reproductions and say where they differ.
"""

from __future__ import annotations

import base64
import binascii
import copy
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from tenantflow.engine.errors import ErrorCode, NodeError
from tenantflow.engine.expressions import UNDEFINED, Deadline, js_string
from tenantflow.engine.sdk import Item, Items, NodeContext, NodeType
from tenantflow.nodes.n8n.core import BOOLEAN, STRING, first_input, object_schema, one_of
from tenantflow.nodes.n8n.data.markup.xml import BuilderOptions, ParserOptions, json_to_xml, xml_to_json
from tenantflow.nodes.n8n.data.set import set_path
from tenantflow.nodes.n8n.pacing import Pacer, off_loop, paced_map

if TYPE_CHECKING:  # BeautifulSoup and the Markdown libraries load when a node runs, not with the registry
    from bs4 import Tag


def _string_property(item: Item, name: str, index: int) -> Any:
    """The item's ``json[name]``; n8n's message when it is missing."""
    value = item.get("json", {}).get(name)
    if value is None:
        message = f'Item has no JSON property called "{name}"'
        raise NodeError(message, code=ErrorCode.INVALID_PARAMETER, description=f"[item {index}]")
    return value


def _options(ctx: NodeContext, index: int) -> dict[str, Any]:
    options = ctx.param("options", index, {})
    return options if isinstance(options, dict) else {}


# --- XML ---------------------------------------------------------------------------------------------------


class Xml(NodeType):
    """Converts between XML text in a JSON property and JSON, with xml2js's conventions and options."""

    cpu_only = True
    type = "n8n-nodes-base.xml"
    display_name = "XML"
    description = "Converts XML to JSON and JSON to XML."
    aliases = ("xml",)
    parameters_schema = object_schema(
        {
            "mode": one_of("xmlToJson", "jsonToxml"),
            "dataPropertyName": STRING,
            "options": object_schema(
                {
                    key: BOOLEAN
                    for key in (
                        "explicitArray", "explicitRoot", "explicitCharkey", "ignoreAttrs", "mergeAttrs",
                        "normalize", "normalizeTags", "trim", "headless", "cdata", "allowSurrogateChars",
                    )
                }
                | {"attrkey": STRING, "charkey": STRING, "rootName": STRING}
            ),
        }
    )  # fmt: skip

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        property_name = str(ctx.param("dataPropertyName", 0, "data"))
        items = first_input(inputs)
        if ctx.param("mode", 0, "xmlToJson") == "jsonToxml":
            return [await paced_map(lambda index, item: self._to_xml(ctx, item, index, property_name), items)]
        pacer = Pacer()
        output: Items = []
        for index, item in enumerate(items):
            if pacer.due():
                await pacer.pause()
            output.append(await self._to_json(ctx, item, index, property_name))
        return [output]

    @staticmethod
    def _to_xml(ctx: NodeContext, item: Item, index: int, property_name: str) -> Item:
        xml = json_to_xml(item.get("json", {}), BuilderOptions.from_params(_options(ctx, index)))
        return {"json": {property_name: xml}, "pairedItem": {"item": index}}

    @staticmethod
    async def _to_json(ctx: NodeContext, item: Item, index: int, property_name: str) -> Item:
        text = str(_string_property(item, property_name, index))
        try:
            parsed = await off_loop(
                len(text), xml_to_json, text, ParserOptions.from_params(_options(ctx, index))
            )
        except ValueError as exc:
            raise NodeError(f"The XML is not valid: {exc}", code=ErrorCode.INVALID_PARAMETER) from exc
        return {"json": parsed if isinstance(parsed, dict) else {}, "pairedItem": {"item": index}}


# --- HTML extraction -------------------------------------------------------------------------------------


def _text_v1(elements: list[Tag], value: dict[str, Any]) -> Any:
    return "".join(element.get_text() for element in elements) or None


def _text_v12(elements: list[Tag], value: dict[str, Any]) -> Any:
    from tenantflow.nodes.n8n.data.markup.html import html_to_text

    skip = [part.strip() for part in str(value.get("skipSelectors") or "").split(",") if part.strip()]
    return html_to_text(elements[0], skip) if elements else ""


def _attribute(elements: list[Tag], value: dict[str, Any]) -> Any:
    if not elements:
        return None
    name = value.get("attribute")
    return dict(elements[0].attrs) if not name else elements[0].get(str(name))


def _render(ctx: NodeContext, index: int) -> str:
    """``generateHtmlTemplate``: each ``{{ }}`` in the template is evaluated for the item and put in its place
    as JavaScript's ``String()`` writes it, as n8n does; the rest is left as written."""
    template = ctx.raw_param("html", HTML_PLACEHOLDER)
    if not isinstance(template, str) or template.startswith("="):  # a whole-template expression
        return js_string(ctx.param("html", index, HTML_PLACEHOLDER))
    return _RESOLVABLE.sub(
        lambda match: js_string(ctx.evaluate_with("=" + match.group(0), {}, index)), template
    )


_RESOLVABLE = re.compile(r"\{\{[\s\S]*?\}\}")


def _table(ctx: NodeContext, items: Items) -> Item:
    """``convertToHtmlTable``: one table of every item, a column per key any item has (n8n's markup)."""
    options = ctx.param("options", 0, {}) or {}
    plain = not options.get("customStyling")
    table_style = "style='border-spacing:0; font-family:helvetica,arial,sans-serif'" if plain else ""
    header_style = _HEADER_STYLE if plain else ""
    cell_style = _CELL_STYLE if plain else ""
    rows = [item.get("json", {}) for item in items]
    headers = list(dict.fromkeys(key for row in rows for key in row))
    capitalize = bool(options.get("capitalize"))
    parts = [f"<table {table_style} {options.get('tableAttributes') or ''}>"]
    if options.get("caption"):
        parts.append(f"<caption>{js_string(options['caption'])}</caption>")
    parts.append(f"<thead {header_style} {options.get('headerAttributes') or ''}><tr>")
    parts.extend(f"<th>{_header(header, capitalize)}</th>" for header in headers)
    parts.append("</tr></thead><tbody>")
    for index, row in enumerate(rows):
        parts.append(f"<tr  {js_string(ctx.param('options.rowAttributes', index, ''))}>")
        cell_attributes = js_string(ctx.param("options.cellAttributes", index, ""))
        for header in headers:
            value = row.get(header, UNDEFINED)
            if isinstance(value, bool):
                shown = '<input type="checkbox" checked="checked"/>' if value else '<input type="checkbox" />'
            else:
                shown = js_string(value)
            parts.append(f"<td {cell_style} {cell_attributes}>{shown}</td>")
        parts.append("</tr>")
    parts.append("</tbody></table>")
    return {"json": {"table": "".join(parts)}, "pairedItem": [{"item": i} for i in range(len(items))]}


def _header(header: str, capitalize: bool) -> str:
    """n8n's ``capitalizeHeader``: ``first_name`` becomes ``First Name``."""
    if not capitalize:
        return header
    return " ".join(word[0].upper() + word[1:] for word in header.split("_") if word)


_HEADER_STYLE = (
    "style='margin:0; padding:7px 20px 7px 0px; border-bottom:1px solid #eee; text-align:left; color:#888;"
    " font-weight:normal'"
)
_CELL_STYLE = "style='margin:0; padding:7px 20px 7px 0px; border-bottom:1px solid #eee'"

HTML_PLACEHOLDER = """<!DOCTYPE html>

<html>
<head>
  <meta charset="UTF-8" />
  <title>Document</title>
</head>
<body>
  <div class="container">
    <h1>This is a Heading</h1>
    <p>This is a paragraph.</p>
    <div>Some more content!</div>
  </div>
</body>
</html>

<style>
.container {
  background-color: lightblue;
  text-align: center;
  padding: 16px;
  border-radius: 10px;
}

h1 {
  color: purple;
  font-size: 24px;
  font-weight: bold;
  padding: 8px;
}
</style>

<script>
console.log("Hello World!");
</script>"""
"""n8n's default template, which an export leaves out when the user kept it."""


def _inner_html(elements: list[Tag], value: dict[str, Any]) -> Any:
    from tenantflow.nodes.n8n.data.markup.html import inner_html

    return (inner_html(elements[0]) or None) if elements else None


def _value(elements: list[Tag], value: dict[str, Any]) -> Any:
    from tenantflow.nodes.n8n.data.markup.html import element_value

    return element_value(elements[0]) if elements else None


_Extractor = Callable[["list[Tag]", dict[str, Any]], Any]
_EXTRACTORS: dict[str, _Extractor] = {
    "attribute": _attribute,
    "html": _inner_html,
    "value": _value,
}


class Html(NodeType):
    """The HTML node: render a template per item, turn all items into one table, or extract values with CSS
    selectors. From v1.2 extracted text is rendered by an html-to-text reproduction; earlier versions use
    plain text content."""

    cpu_only = True
    type = "n8n-nodes-base.html"
    versions: ClassVar[tuple[float, ...]] = (1, 1.1, 1.2)
    display_name = "HTML"
    description = "Renders HTML templates, converts items to an HTML table, or extracts values from HTML."
    aliases = ("html",)
    parameters_schema = object_schema(
        {
            "operation": one_of("extractHtmlContent", "generateHtmlTemplate", "convertToHtmlTable"),
            "sourceData": one_of("json", "binary"),
            "dataPropertyName": STRING,
            "extractionValues": object_schema(
                {
                    "values": {
                        "type": "array",
                        "items": object_schema(
                            {
                                "key": STRING,
                                "cssSelector": STRING,
                                "returnValue": one_of("text", "html", "attribute", "value"),
                                "attribute": STRING,
                                "skipSelectors": STRING,
                                "returnArray": BOOLEAN,
                            }
                        ),
                    }
                }
            ),
            "html": STRING,
            "options": object_schema(
                {
                    "trimValues": BOOLEAN,
                    "cleanUpText": BOOLEAN,
                    "capitalize": BOOLEAN,
                    "customStyling": BOOLEAN,
                    "caption": STRING,
                    "tableAttributes": STRING,
                    "headerAttributes": STRING,
                    "rowAttributes": STRING,
                    "cellAttributes": STRING,
                }
            ),
        }
    )

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        operation = ctx.param("operation", 0, "generateHtmlTemplate")
        if operation == "extractHtmlContent":
            return await self.extract_all(ctx, inputs)
        items = first_input(inputs)
        if operation == "convertToHtmlTable":
            return [[_table(ctx, items)]] if items else [[]]
        if operation == "generateHtmlTemplate":

            def render(index: int, _: Item) -> Item:
                return {"json": {"html": _render(ctx, index)}, "pairedItem": {"item": index}}

            return [await paced_map(render, items)]
        raise NodeError(f"The operation {operation!r} is not known", code=ErrorCode.INVALID_PARAMETER)

    async def extract_all(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        """One output item per HTML document found in each input item."""
        output: Items = []
        pacer = Pacer()
        for index, item in enumerate(first_input(inputs)):
            for html in self._sources(ctx, item, index):
                if pacer.due():
                    await pacer.pause()
                output.append({"json": await self._extract(ctx, html, index), "pairedItem": {"item": index}})
        return [output]

    @staticmethod
    def _sources(ctx: NodeContext, item: Item, index: int) -> list[str]:
        """The HTML documents of one item: a JSON string or array of strings, or a binary property."""
        name = str(ctx.param("dataPropertyName", index, "data"))
        if ctx.param("sourceData", 0, "json") == "binary":
            binary = (item.get("binary") or {}).get(name)
            if not isinstance(binary, dict) or "data" not in binary:
                message = f'Item has no binary property called "{name}"'
                raise NodeError(message, code=ErrorCode.INVALID_PARAMETER)
            try:
                return [base64.b64decode(binary["data"]).decode("utf-8", errors="replace")]
            except (binascii.Error, ValueError) as exc:
                raise NodeError(f'Binary property "{name}" is not valid base64') from exc
        value = _string_property(item, name, index)
        return [str(entry) for entry in value] if isinstance(value, list) else [str(value)]

    async def _extract(self, ctx: NodeContext, html: str, index: int) -> dict[str, Any]:
        values = (ctx.param("extractionValues", index, {}) or {}).get("values") or []
        options = _options(ctx, index)
        extract_text = _text_v12 if ctx.node.type_version >= 1.2 else _text_v1
        return await off_loop(len(html), _extract_values, html, values, options, extract_text)


def _extract_values(
    html: str, values: list[dict[str, Any]], options: dict[str, Any], extract_text: _Extractor
) -> dict[str, Any]:
    """What each extraction value selects in ``html``; parameters already evaluated, so it may run in a
    worker thread."""
    result: dict[str, Any] = {}
    for value in values:
        extractor = _EXTRACTORS.get(str(value.get("returnValue", "text")), extract_text)
        elements = _select(html, str(value.get("cssSelector", "")))
        if value.get("returnArray"):
            found = [_clean(extractor([element], value), options) for element in elements]
            result[str(value.get("key", ""))] = found
        else:
            cleaned = _clean(extractor(elements, value), options)
            if cleaned is not None:
                result[str(value.get("key", ""))] = cleaned
    return result


class HtmlExtract(Html):
    """The legacy HTML Extract node: the HTML node's extraction without the operation switch."""

    type = "n8n-nodes-base.htmlExtract"
    versions = (1,)
    display_name = "HTML Extract"
    description = "Legacy: extracts values from HTML with CSS selectors. Superseded by the HTML node."
    aliases = ("htmlExtract",)

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        return await self.extract_all(ctx, inputs)


def _select(html: str, selector: str) -> list[Tag]:
    """Elements matching ``selector`` in a fresh parse (text extraction removes ``skipSelectors`` matches)."""
    from soupsieve import SelectorSyntaxError

    from tenantflow.nodes.n8n.data.markup.html import parse_html

    try:
        return list(parse_html(html).select(selector))
    except SelectorSyntaxError as exc:
        raise NodeError(f"Invalid CSS selector {selector!r}", code=ErrorCode.INVALID_PARAMETER) from exc


def _clean(value: Any, options: dict[str, Any]) -> Any:
    """n8n's ``trimValues`` and ``cleanUpText`` post-processing of string values."""
    if not isinstance(value, str):
        return value
    if options.get("trimValues"):
        value = value.strip()
    if options.get("cleanUpText"):
        value = " ".join(value.strip().replace("\r\n", "").replace("\n", "").replace("\r", "").split())
    return value


# --- Markdown --------------------------------------------------------------------------------------------


class Markdown(NodeType):
    """Markdown to HTML (showdown-like) and HTML to Markdown (node-html-markdown-like)."""

    cpu_only = True
    type = "n8n-nodes-base.markdown"
    display_name = "Markdown"
    description = "Converts between Markdown and HTML."
    aliases = ("markdown",)
    parameters_schema = object_schema(
        {
            "mode": one_of("htmlToMarkdown", "markdownToHtml"),
            "html": STRING,
            "markdown": STRING,
            "destinationKey": STRING,
            "options": {"type": "object"},
        }
    )

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        from tenantflow.nodes.n8n.data.markup.markdown import markdown_to_html

        output: Items = []
        pacer = Pacer()
        deadline = Deadline()  # the text-replacement patterns' matching time, for the whole run
        for index, item in enumerate(first_input(inputs)):
            if pacer.due():
                await pacer.pause()
            key = str(ctx.param("destinationKey", index, "data"))
            options = _options(ctx, index)
            if ctx.param("mode", index, "htmlToMarkdown") == "markdownToHtml":
                markdown = _js_text(ctx.param("markdown", index, ""))
                text = await off_loop(len(markdown), markdown_to_html, markdown, options)
            else:
                html = _js_text(ctx.param("html", index, ""))
                text = await off_loop(len(html), _html_to_markdown, html, options, deadline)
            json = copy.deepcopy(item.get("json", {}))
            set_path(json, key, text)
            output.append({"json": json, "pairedItem": {"item": index}})
        return [output]


def _html_to_markdown(html: str, options: dict[str, Any], deadline: Deadline) -> str:
    from tenantflow.nodes.n8n.data.markup.markdown import HtmlToMarkdownOptions, html_to_markdown

    return html_to_markdown(html, HtmlToMarkdownOptions.from_params(options), deadline)


def _js_text(value: Any) -> str:
    return "" if value is None else str(value)


NODE_TYPES: list[type[NodeType]] = [Xml, Html, HtmlExtract, Markdown]
