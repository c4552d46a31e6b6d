"""PDF text as n8n gives it (pdf.js 2.16 text items joined by n8n's baseline rule), info and XMP metadata,
on PDFs written here byte by byte so that every position and width is known. Every expected value here
was checked against pdfjs-dist 2.16.105 running n8n's extractDataFromPDF on the same bytes."""

from __future__ import annotations

import base64
import io
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from tenantflow.engine.errors import NodeError
from tenantflow.nodes.n8n.files.pdf_document import extract_pdf, font_loader
from tenantflow.nodes.n8n.files.pdf_text import page_items
from tests.nodes.n8n.files.pdf_build import pdf, stream

SNAPSHOT = (
    Path(__file__).resolve().parents[5] / "shared" / "n8n-test-workflows" / "snapshots" / "104-snapshot.json"
)


def _text(*pages: bytes, **options: Any) -> Any:
    return extract_pdf(pdf(*pages, **options), None, None, True)["text"]


def _items(content: bytes) -> list[tuple[str, float]]:
    """The page's pdf.js text items, as (string, baseline)."""
    page = PdfReader(io.BytesIO(pdf(content))).pages[0]
    return [(item.str, item.transform[5]) for item in page_items(page, font_loader())]


def test_runs_on_one_baseline_join_by_their_gap() -> None:
    # Touching runs are one item; a gap of 0.1-0.6 em is a space inside it; a wider gap a " " item of its
    # own; a run drawn left of the last one (n8n's "No: 3Vol: 39") follows with no space at all.
    assert _items(b"BT /F1 12 Tf 72 700 Td (Hello) Tj (World) Tj ET") == [("HelloWorld", 700.0)]
    assert _items(b"BT /F1 12 Tf 72 700 Td (Hello) Tj 3 0 Td (World) Tj ET") == [
        ("Hello", 700.0),
        ("World", 700.0),
    ]
    assert (
        _text(b"BT /F1 12 Tf 72 700 Td (Hello) Tj ET BT /F1 12 Tf 104.3 700 Td (World) Tj ET")
        == "Hello World"
    )
    far = b"BT /F1 12 Tf 72 700 Td (Hello) Tj ET BT /F1 12 Tf 300 700 Td (World) Tj ET"
    assert _items(far) == [("Hello", 700.0), (" ", 700.0), ("World", 700.0)]
    assert _text(b"BT /F1 12 Tf 300 700 Td (B) Tj -200 0 Td (A) Tj ET") == "BA"


def test_whitespace_glyphs_become_one_space_and_lines_break_on_a_new_baseline() -> None:
    assert _text(b"BT /F1 12 Tf 72 700 Td (Hello  World ) Tj 0 -14 Td (next) Tj ET") == "Hello World\nnext"
    # No trailing space at a line end: the space is written only before a following glyph.
    assert _text(b"BT /F1 12 Tf 72 700 Td (end ) Tj T* 0 -14 Td (line) Tj ET") == "end\nline"


def test_a_superscript_in_a_smaller_size_is_a_line_of_its_own_as_n8n_joins_by_baseline() -> None:
    # The snapshot's "O\n2 \nneeds of": the raised 2 starts a new item on another baseline.
    content = b"BT /F1 12 Tf 72 700 Td (O) Tj /F1 7 Tf 4 Ts (2) Tj /F1 12 Tf 0 Ts ( needs of) Tj ET"
    assert _text(content) == "O\n2 \nneeds of"
    # Raised in the same size, the glyph continues the item: pdf.js only ends it past a line's height.
    assert _text(b"BT /F1 12 Tf 72 700 Td (x) Tj 4 Ts (2) Tj ET") == "x2"


def test_a_kerned_tj_array_is_one_word_and_a_wide_adjustment_a_space() -> None:
    assert _text(b"BT /F1 12 Tf 72 700 Td [(Calibra) 30 (tion)] TJ ET") == "Calibration"
    assert _items(b"BT /F1 12 Tf 72 700 Td [(word) -400 (next)] TJ ET") == [("word next", 700.0)]
    assert _items(b"BT /F1 12 Tf 72 700 Td [(word) -1000 (next)] TJ ET") == [
        ("word", 700.0),
        (" ", 700.0),
        ("next", 700.0),
    ]
    # A number ending the array moves nothing (pdf.js reads it only between strings).
    assert _text(b"BT /F1 12 Tf 72 700 Td [(a) -5000] TJ (b) Tj ET") == "ab"


def test_pages_join_with_a_blank_line_or_stay_a_list() -> None:
    first, second = b"BT /F1 12 Tf 72 700 Td (one) Tj ET", b"BT /F1 12 Tf 72 700 Td (two) Tj ET"
    assert _text(first, second) == "one\n\ntwo"
    data = pdf(first, second)
    assert extract_pdf(data, None, None, False)["text"] == ["one", "two"]
    assert extract_pdf(data, None, 1, True) | {"info": None} == {
        "numpages": 2,
        "numrender": 2,
        "info": None,
        "text": "one",
        "version": "2.16.105",
    }


def test_text_outside_the_page_and_in_forms() -> None:
    assert _text(b"BT /F1 12 Tf 700 700 Td (gone) Tj ET BT /F1 12 Tf 72 700 Td (kept) Tj ET") == "kept"
    assert _text(b"q 1 0 0 1 72 100 cm /X1 Do Q") == "in form"


def test_glyph_names_and_ligatures_as_pdf_js_reads_them() -> None:
    font = (
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Custom /FirstChar 1 /LastChar 4 /Widths [500 500 500 500]"
        b" /Encoding << /Differences [1 /fi /uni0416 /MT51 /mu] >> >>"
    )
    assert _text(b"BT /F1 12 Tf 72 700 Td <01020304> Tj ET", font=font) == "fi\u0416\x03\u03bc"


def test_composite_font_with_a_to_unicode_range() -> None:
    cmap = b"begincmap 1 beginbfrange <0001> <0003> <0041> endbfrange 1 beginbfchar <0004> <00E9> endbfchar"
    font = (
        b"<< /Type /Font /Subtype /Type0 /BaseFont /Arial /Encoding /Identity-H /ToUnicode 7 0 R"
        b" /DescendantFonts [<< /Type /Font /Subtype /CIDFontType2 /BaseFont /Arial /CIDToGIDMap /Identity"
        b" /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >>"
        b" /FontDescriptor << /Type /FontDescriptor /FontName /Arial /Flags 32 /FontBBox [0 0 1000 1000]"
        b" /ItalicAngle 0 /Ascent 900 /Descent -200 /CapHeight 700 /StemV 80 >>"
        b" /DW 600 /W [1 [500 500]] >>] >>"
    )
    # Objects: catalog, pages, page, content, font, form; the ToUnicode stream comes next, as object 7.
    data = pdf(b"BT /F1 12 Tf 72 700 Td <0001000200030004> Tj ET", font=font, extra=(stream(cmap),))
    assert extract_pdf(data, None, None, True)["text"] == "ABC\u00e9"


def test_info_and_xmp_metadata_as_pdf_js_gives_them() -> None:
    xmp = (
        b"junk<?xpacket begin='' id='W5M0MpCehiHzreSzNTczkc9d'?><x:xmpmeta xmlns:x='adobe:ns:meta/'>"
        b"<rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'><rdf:Description rdf:about=''"
        b" xmlns:dc='http://purl.org/dc/elements/1.1/' xmlns:xmp='http://ns.adobe.com/xap/1.0/'>"
        b"<dc:creator><rdf:Seq><rdf:li> Ann </rdf:li><rdf:li>Bob</rdf:li></rdf:Seq></dc:creator>"
        b"<dc:title><rdf:Alt><rdf:li xml:lang='x-default'>A &amp; B</rdf:li></rdf:Alt></dc:title>"
        b"<xmp:CreatorTool>  tool </xmp:CreatorTool></rdf:Description></rdf:RDF></x:xmpmeta>"
    )
    info = b"<< /Title (Report) /Trapped /True /Pages 3 /Bad [1] /Note (x) >>"
    extra = (stream(xmp, b"/Type /Metadata /Subtype /XML"), info)
    data = pdf(b"", catalog=b"/Metadata 7 0 R /Lang (en-GB)", extra=extra).replace(
        b"/Root", b"/Info 8 0 R /Root"
    )
    result = extract_pdf(data, None, None, True)
    assert list(result) == ["numpages", "numrender", "info", "metadata", "text", "version"]
    assert result["metadata"] == {
        "dc:creator": ["Ann", "Bob"],
        "dc:title": "A & B",
        "xmp:creatortool": "tool",
    }
    assert result["info"] == {
        "PDFFormatVersion": "1.4",
        "Language": "en-GB",
        "EncryptFilterName": None,
        "IsLinearized": False,
        "IsAcroFormPresent": False,
        "IsXFAPresent": False,
        "IsCollectionPresent": False,
        "IsSignaturesPresent": False,
        "Title": "Report",
        "Trapped": {"name": "True"},
        "Custom": {"Pages": 3, "Note": "x"},
    }
    # pdf.js's XML parser closes the open element at any end tag, resolves character references, leaves
    # unknown entities as written, and gives nothing for a tag left open.
    mismatched = data.replace(b"</rdf:RDF>", b"</rdf:Bag>")
    assert extract_pdf(mismatched, None, None, True)["metadata"] == result["metadata"]
    entities = data.replace(b"<dc:title>", b"<dc:title>&#x41;&bogus;<!-- c -->")
    assert extract_pdf(entities, None, None, True)["metadata"]["dc:title"] == "A&bogus;A & B"
    unclosed = data.replace(b"</x:xmpmeta>", b"</x:xmpmeta<")
    assert extract_pdf(unclosed, None, None, True)["metadata"] == {}
    assert "metadata" not in extract_pdf(pdf(b""), None, None, True)


def test_a_file_that_is_not_a_pdf_is_a_clear_error() -> None:
    with pytest.raises(NodeError, match="not a readable PDF"):
        extract_pdf(b"%PDF-1.4 nothing else", None, None, True)


def test_regression_104_text_is_n8ns() -> None:
    """The whole text n8n recorded for its 5-page paper: kerning, sub/superscripts, headers, Turkish."""
    run_data = json.loads(SNAPSHOT.read_text())["data"]["resultData"]["runData"]
    pdf = base64.b64decode(run_data["Read Binary File"][0]["data"]["main"][0][0]["binary"]["data"]["data"])
    expected = run_data["Read PDF"][0]["data"]["main"][0][0]["json"]
    logging.getLogger("pypdf").setLevel(logging.ERROR)  # its font warnings (fontTools absent) are noise here
    result = extract_pdf(pdf, None, None, True)
    assert result["text"] == expected["text"]
    assert (result["numpages"], result["version"]) == (expected["numpages"], expected["version"])
    assert result["metadata"]["dc:creator"] == ["tubitak"]
    assert result["info"]["Title"] == "sag-39-3-4-0902-21:sag-0"
