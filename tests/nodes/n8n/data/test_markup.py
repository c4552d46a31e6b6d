"""XML, HTML extraction and Markdown nodes through the real executor, checked against n8n's behaviour."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from tenantflow.conformance import run_fixture
from tenantflow.nodes import default_registry
from tests.nodes.harness import run_node, run_with_items

XML = "n8n-nodes-base.xml"
HTML = "n8n-nodes-base.html"
MARKDOWN = "n8n-nodes-base.markdown"
FIXTURES = Path("/work/shared/n8n-conformance")
PAGE = (
    '<html><head><title>T</title></head><body><h2>Big news</h2><p class="x" data-id="7">One &amp; two</p>'
    '<p>Second <a href="https://a.example">link</a></p><textarea>typed</textarea></body></html>'
)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "fixture",
    [
        "Xml/workflow.xml.json",
        "Xml/workflow.xml-valid-data.json",
        "Html/extractHtmlContent.workflow.json",
        "Markdown/workflow.markdown.json",
    ],
)
async def test_conformance_fixtures_pass(fixture: str) -> None:
    result = await run_fixture(FIXTURES / fixture, default_registry(plugins=False))
    assert result.status == "pass", result.reason


# --- XML ---------------------------------------------------------------------------------------------------

SAMPLE_XML = '<r a="1"><i>1</i><i b="2">two</i><e/><m>t<b>x</b>u</m></r>'


async def _xml_to_json(options: dict[str, Any], xml: str = SAMPLE_XML) -> Any:
    run = await run_node(XML, {"mode": "xmlToJson", "options": options}, [{"data": xml}])
    return run.json()[0][0]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, {"r": {"a": "1", "i": ["1", {"_": "two", "b": "2"}], "e": "", "m": {"_": "tu", "b": "x"}}}),
        (
            {"mergeAttrs": False},
            {
                "r": {
                    "$": {"a": "1"},
                    "i": ["1", {"_": "two", "$": {"b": "2"}}],
                    "e": "",
                    "m": {"_": "tu", "b": "x"},
                }
            },
        ),
        (
            {"explicitArray": True, "explicitRoot": False},
            {"a": ["1"], "i": ["1", {"_": "two", "b": ["2"]}], "e": [""], "m": [{"_": "tu", "b": ["x"]}]},
        ),
        (
            {"ignoreAttrs": True, "charkey": "#"},
            {"r": {"i": ["1", "two"], "e": "", "m": {"#": "tu", "b": "x"}}},
        ),
    ],
)
async def test_xml_to_json_follows_xml2js_options(options: dict[str, Any], expected: Any) -> None:
    assert await _xml_to_json(options) == expected


@pytest.mark.anyio
async def test_xml_text_options_trim_normalize_and_lowercase_tags() -> None:
    xml = "<Root><Name>  Ada   Lovelace </Name></Root>"
    assert await _xml_to_json({"trim": True, "normalizeTags": True}, xml) == {
        "root": {"name": "Ada   Lovelace"}
    }
    assert await _xml_to_json({"normalize": True}, xml) == {"Root": {"Name": "Ada Lovelace"}}


@pytest.mark.anyio
async def test_json_to_xml_renders_attributes_arrays_and_escapes() -> None:
    row = {"r": {"$": {"id": 'a&"'}, "i": [1, {"_": "two", "$": {"b": 2}}], "e": None, "t": True, "x": "<&>"}}
    run = await run_node(XML, {"mode": "jsonToxml", "options": {"headless": True}}, [row])
    assert run.json() == [
        [
            {
                "data": '<r id="a&amp;&quot;">\n  <i>1</i>\n  <i b="2">two</i>\n  <e/>\n  <t>true</t>\n'
                "  <x>&lt;&amp;&gt;</x>\n</r>"
            }
        ]
    ]


@pytest.mark.anyio
async def test_json_to_xml_wraps_several_keys_in_the_root_name() -> None:
    run = await run_node(
        XML, {"mode": "jsonToxml", "options": {"headless": True, "rootName": "doc"}}, [{"a": 1}]
    )
    assert run.json() == [[{"data": "<doc>\n  <a>1</a>\n</doc>"}]]


@pytest.mark.anyio
async def test_invalid_xml_and_missing_property_are_node_errors() -> None:
    bad = await run_node(XML, {"mode": "xmlToJson"}, [{"data": "<a><b></a>"}])
    assert "The XML is not valid" in bad.error["message"]
    missing = await run_node(XML, {"mode": "xmlToJson"}, [{"other": "<a/>"}])
    assert missing.error["message"] == 'Item has no JSON property called "data"'


# --- HTML ------------------------------------------------------------------------------------------


def _extract(*values: dict[str, Any], **options: Any) -> dict[str, Any]:
    return {
        "operation": "extractHtmlContent",
        "extractionValues": {"values": list(values)},
        "options": options,
    }


@pytest.mark.anyio
async def test_html_extracts_each_return_value_kind() -> None:
    parameters = _extract(
        {"key": "title", "cssSelector": "h2"},
        {"key": "id", "cssSelector": "p.x", "returnValue": "attribute", "attribute": "data-id"},
        {"key": "inner", "cssSelector": "p", "returnValue": "html"},
        {"key": "texts", "cssSelector": "p", "returnArray": True},
        {"key": "typed", "cssSelector": "textarea", "returnValue": "value"},
        {"key": "absent", "cssSelector": "table", "returnValue": "html"},
    )
    run = await run_node(HTML, parameters, [{"data": PAGE}], version=1.2)
    assert run.json() == [
        [
            {
                "title": "Big news",
                "id": "7",
                "inner": "One &amp; two",
                "texts": ["One & two", "Second link [https://a.example]"],
                "typed": "typed",
            }
        ]
    ]


@pytest.mark.anyio
async def test_html_v1_uses_plain_text_content() -> None:
    run = await run_node(HTML, _extract({"key": "all", "cssSelector": "p"}), [{"data": PAGE}], version=1)
    assert run.json() == [[{"all": "One & twoSecond link"}]]


@pytest.mark.anyio
async def test_html_reads_binary_sources() -> None:
    encoded = base64.b64encode(b"<p>From a file</p>").decode()
    parameters = {**_extract({"key": "p", "cssSelector": "p"}), "sourceData": "binary"}
    items = [{"json": {}, "binary": {"data": {"data": encoded, "mimeType": "text/html"}}}]
    assert await run_with_items(HTML, parameters, [items], version=1.2) == [
        [{"json": {"p": "From a file"}, "pairedItem": {"item": 0}}]
    ]


@pytest.mark.anyio
async def test_html_template_puts_each_expression_in_place_as_javascript_writes_it() -> None:
    template = "<p>{{ $json.name }}</p><ul>{{ $json.tags }}</ul><i>{{ $json.meta }}</i>{{ $json.none }}"
    rows = [{"name": "Ann", "tags": ["a", "b"], "meta": {"x": 1}}, {"name": "Bo"}]
    run = await run_node(HTML, {"operation": "generateHtmlTemplate", "html": template}, rows, version=1.2)
    assert [item["html"] for item in run.json()[0]] == [
        "<p>Ann</p><ul>a,b</ul><i>[object Object]</i>undefined",
        "<p>Bo</p><ul>undefined</ul><i>undefined</i>undefined",
    ]
    default = await run_node(HTML, {"operation": "generateHtmlTemplate"}, [{}], version=1)
    assert default.json()[0][0]["html"].startswith("<!DOCTYPE html>\n\n<html>")


@pytest.mark.anyio
async def test_html_table_has_a_column_per_key_of_any_item() -> None:
    rows = [{"first_name": "a", "active": True, "n": 1}, {"first_name": "b", "extra": None}]
    options = {"customStyling": True, "capitalize": True, "caption": "People", "cellAttributes": "class='c'"}
    run = await run_node(HTML, {"operation": "convertToHtmlTable", "options": options}, rows, version=1.2)
    assert run.outputs == [
        [
            {
                "json": {
                    "table": "<table  ><caption>People</caption><thead  ><tr>"
                    "<th>First Name</th><th>Active</th><th>N</th><th>Extra</th></tr></thead><tbody>"
                    "<tr  ><td  class='c'>a</td>"
                    '<td  class=\'c\'><input type="checkbox" checked="checked"/></td>'
                    "<td  class='c'>1</td><td  class='c'>undefined</td></tr>"
                    "<tr  ><td  class='c'>b</td><td  class='c'>undefined</td><td  class='c'>undefined</td>"
                    "<td  class='c'>null</td></tr></tbody></table>"
                },
                "pairedItem": [{"item": 0}, {"item": 1}],
            }
        ]
    ]
    styled = await run_node(HTML, {"operation": "convertToHtmlTable"}, rows[:1], version=1.2)
    assert styled.json()[0][0]["table"].startswith(
        "<table style='border-spacing:0; font-family:helvetica,arial,sans-serif' ><thead style='margin:0;"
    )


# --- Markdown ----------------------------------------------------------------------------------------------


async def _markdown(mode: str, text: str, **options: Any) -> str:
    source = "markdown" if mode == "markdownToHtml" else "html"
    run = await run_node(
        MARKDOWN, {"mode": mode, source: "={{ $json.text }}", "options": options}, [{"text": text}]
    )
    return str(run.json()[0][0]["data"])


@pytest.mark.anyio
async def test_markdown_to_html_applies_showdown_defaults_and_options() -> None:
    text = "# Hello, World!\n\n# Hello, World!\n\nWait... ~~no~~ `a...b`"
    assert await _markdown("markdownToHtml", text, strikethrough=True) == (
        '<h1 id="helloworld">Hello, World!</h1>\n<h1 id="helloworld-1">Hello, World!</h1>\n'
        "<p>Wait\u2026 <del>no</del> <code>a...b</code></p>"
    )
    assert await _markdown("markdownToHtml", "## A b", noHeaderId=True) == "<h2>A b</h2>"
    assert await _markdown("markdownToHtml", "## A b", ghCompatibleHeaderId=True) == '<h2 id="a-b">A b</h2>'


@pytest.mark.anyio
async def test_html_to_markdown_drops_head_and_replaces_text() -> None:
    replace = {"values": [{"pattern": "(O)ne", "replacement": "$1!"}]}
    assert await _markdown("htmlToMarkdown", PAGE, textReplace=replace) == (
        "## Big news\n\nO! & two\n\nSecond [link](https://a.example)\n\ntyped"
    )


@pytest.mark.anyio
async def test_markdown_keeps_other_fields_and_writes_the_destination_key() -> None:
    parameters = {"mode": "markdownToHtml", "markdown": "*x*", "destinationKey": "out.html"}
    run = await run_node(MARKDOWN, parameters, [{"keep": 1}])
    assert run.json() == [[{"keep": 1, "out": {"html": "<p><em>x</em></p>"}}]]


@pytest.mark.anyio
async def test_bad_selectors_and_patterns_are_node_errors() -> None:
    selector = await run_node(
        HTML, _extract({"key": "x", "cssSelector": "p[["}), [{"data": PAGE}], version=1.2
    )
    assert "Invalid CSS selector" in selector.error["message"]
    options = {"textReplace": {"values": [{"pattern": "(", "replacement": ""}]}}
    pattern = await run_node(MARKDOWN, {"html": "<p>x</p>", "options": options}, [{}])
    assert "Invalid text replacement pattern" in pattern.error["message"]


@pytest.mark.anyio
async def test_legacy_html_extract_node_extracts_plain_text() -> None:
    parameters = {"extractionValues": {"values": [{"key": "first", "cssSelector": "p.x"}]}}
    run = await run_node("n8n-nodes-base.htmlExtract", parameters, [{"data": PAGE}])
    assert run.json() == [[{"first": "One & two"}]]
