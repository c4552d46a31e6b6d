"""File nodes: n8n's recorded outputs (regression workflows 91, 93, 111), round trips through every
spreadsheet format, the JSON/text/base64 moves, PDF text, and the limits."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from tenantflow.engine.errors import NodeError
from tenantflow.engine.sdk import Items
from tenantflow.nodes.n8n.files import binary as binary_module
from tenantflow.nodes.n8n.files.binary import pretty_bytes
from tenantflow.nodes.n8n.files.sheets import general_number
from tests.nodes.harness import run_node, run_with_items
from tests.nodes.n8n.files.pdf_build import pdf

CONVERT = "n8n-nodes-base.convertToFile"
EXTRACT = "n8n-nodes-base.extractFromFile"
MOVE = "n8n-nodes-base.moveBinaryData"
SPREADSHEET = "n8n-nodes-base.spreadsheetFile"
SNAPSHOTS = Path(__file__).resolve().parents[5] / "shared" / "n8n-test-workflows" / "snapshots"

ROWS: list[dict[str, Any]] = [
    {"name": "Ann", "age": 31, "score": 1.5, "active": True, "tags": ["a", "b"], "note": 'say "hi", ok'},
    {"name": "Bob", "age": 42, "address": {"city": "Oslo"}, "note": "two\nlines", "none": None},
]


def _run_data(workflow: int, node: str) -> list[dict[str, Any]]:
    document = json.loads((SNAPSHOTS / f"{workflow}-snapshot.json").read_text())
    items: list[dict[str, Any]] = document["data"]["resultData"]["runData"][node][0]["data"]["main"][0]
    return items


def _file(text: bytes, **meta: Any) -> dict[str, Any]:
    return {"data": base64.b64encode(text).decode(), **meta}


def _bytes(item: dict[str, Any], name: str = "data") -> bytes:
    return base64.b64decode(item["binary"][name]["data"])


async def _to_file(operation: str, rows: list[Any], **parameters: Any) -> dict[str, Any]:
    run = await run_node(CONVERT, {"operation": operation, **parameters}, rows, version=1.1)
    [[item]] = run.outputs
    return item


async def _extract(operation: str, item: dict[str, Any], **parameters: Any) -> Items:
    [out] = await run_with_items(EXTRACT, {"operation": operation, **parameters}, [[item]])
    return out


# --- n8n's regression workflows ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_spreadsheet_file_v1_writes_and_reads_html_as_workflow_111() -> None:
    names = [[f"test{n}", f"test{n}2", f"test{n}3", f"test{n}4"] for n in range(1, 5)]
    run = await run_node(
        SPREADSHEET,
        {"operation": "toFile", "fileFormat": "html", "options": {}},
        [{"names": row} for row in names],
    )
    [[written]] = run.outputs
    [expected] = _run_data(111, "Spreadsheet File")
    assert written == {key: expected[key] for key in ("json", "binary", "pairedItem")}

    [rows] = await run_with_items(SPREADSHEET, {"options": {}}, [[written]])
    assert rows == _run_data(111, "Spreadsheet File1")


@pytest.mark.anyio
async def test_move_binary_data_v1_round_trip_as_workflow_93() -> None:
    source = {"name": "test", "indexes": [1, 2, 3], "subobj": {"name": "subtest"}}
    [[to_binary]] = (await run_node(MOVE, {"mode": "jsonToBinary", "options": {}}, [source])).outputs
    [expected] = _run_data(93, "Move Binary Data")
    assert to_binary == expected

    [[back]] = await run_with_items(MOVE, {"options": {}}, [[to_binary]])
    assert back == {"json": source, "binary": {}, "pairedItem": {"item": 0}}


@pytest.mark.anyio
async def test_move_binary_data_raw_string_as_workflow_91() -> None:
    [page] = _run_data(91, "FunctionItem")
    parameters = {"mode": "jsonToBinary", "convertAllData": False, "options": {"useRawData": True}}
    [[out]] = await run_with_items(MOVE, parameters, [[{"json": page["json"]}]])
    [expected] = _run_data(91, "Move Binary Data")
    assert out == {key: expected[key] for key in ("json", "binary", "pairedItem")}


# --- Convert to File / Extract From File: spreadsheets ----------------------------------------------------


@pytest.mark.anyio
async def test_csv_is_sheetjs_csv_with_bom_and_flattened_columns() -> None:
    item = await _to_file("csv", ROWS)
    assert item["pairedItem"] == [{"item": 0}, {"item": 1}]
    meta = item["binary"]["data"]
    assert {k: v for k, v in meta.items() if k != "data"} == {
        "mimeType": "text/csv",
        "fileType": "text",
        "fileExtension": "csv",
        "fileName": "File.csv",
        "fileSize": "129 B",
    }
    assert _bytes(item).decode("utf-8") == (
        "\ufeffname,age,score,active,tags.0,tags.1,note,address.city,none\n"
        'Ann,31,1.5,TRUE,a,b,"say ""hi"", ok",,\n'
        'Bob,42,,,,,"two\nlines",Oslo,'
    )


@pytest.mark.anyio
async def test_csv_round_trip_gives_back_the_rows_as_text() -> None:
    rows = [{"id": 1, "city": "Oslo", "ok": True}, {"id": 2, "city": "Bergen, NO", "ok": False}]
    item = await _to_file("csv", rows, options={"delimiter": ";"})
    read = await _extract("csv", item, options={"delimiter": ";", "enableBOM": True})
    assert [row["json"] for row in read] == [
        {"id": "1", "city": "Oslo", "ok": "TRUE"},
        {"id": "2", "city": "Bergen, NO", "ok": "FALSE"},
    ]
    default = await _extract("csv", item, options={"delimiter": ";"})
    assert list(default[0]["json"]) == ["\ufeffid", "city", "ok"]  # csv-parse keeps the BOM unless told


@pytest.mark.anyio
@pytest.mark.parametrize("file_format", ["xlsx", "ods", "html"])
async def test_spreadsheet_round_trip_keeps_types(file_format: str) -> None:
    item = await _to_file(file_format, ROWS, options={"sheetName": "People", "fileName": f"p.{file_format}"})
    assert item["binary"]["data"]["fileName"] == f"p.{file_format}"
    read = await _extract(file_format, item)
    assert [row["json"] for row in read] == [
        {
            "name": "Ann",
            "age": 31,
            "score": 1.5,
            "active": True,
            "tags.0": "a",
            "tags.1": "b",
            "note": 'say "hi", ok',
        },
        {"name": "Bob", "age": 42, "note": "two\nlines", "address.city": "Oslo"},
    ]
    assert all(row["pairedItem"] == {"item": 0} for row in read)


@pytest.mark.anyio
async def test_xlsx_options_sheet_name_header_row_and_empty_cells() -> None:
    rows = [{"json": {"a": 1, "b": "=1+1"}}, {"json": {"a": 2}}]  # testData would evaluate "=1+1"
    [[item]] = await run_with_items(CONVERT, {"operation": "xlsx", "options": {"sheetName": "S"}}, [rows])
    with pytest.raises(NodeError, match='does not contain sheet called "T"'):
        await _extract("xlsx", item, options={"sheetName": "T"})
    rows = await _extract("xlsx", item, options={"sheetName": "S", "includeEmptyCells": True})
    assert [row["json"] for row in rows] == [{"a": 1, "b": "=1+1"}, {"a": 2, "b": ""}]
    arrays = await _extract("xlsx", item, options={"headerRow": False})
    assert [row["json"] for row in arrays] == [{"row": ["a", "b"]}, {"row": [1, "=1+1"]}, {"row": [2]}]
    ranged = await _extract("xlsx", item, options={"range": 1, "headerRow": False})
    assert [row["json"]["row"] for row in ranged] == [[1, "=1+1"], [2]]


@pytest.mark.anyio
async def test_csv_without_header_row_and_row_limit() -> None:
    item = {"json": {}, "binary": {"data": _file(b"a,b\n1,\n3,4\n", mimeType="text/csv")}}
    rows = await _extract("csv", item, options={"headerRow": False})
    assert [row["json"] for row in rows] == [
        {"row": {"0": "a", "1": "b"}},
        {"row": {"0": "1"}},
        {"row": {"0": "3", "1": "4"}},
    ]
    limited = await _extract("csv", item, options={"maxRowCount": 1, "includeEmptyCells": True})
    assert [row["json"] for row in limited] == [{"a": "1", "b": ""}]
    bad = {"json": {}, "binary": {"data": _file(b"a,b\n1,2,3\n")}}
    with pytest.raises(NodeError, match="Invalid Record Length: columns length is 2, got 3 on line 2"):
        await _extract("csv", bad)


@pytest.mark.anyio
async def test_spreadsheet_file_v2_autodetects_csv_and_refuses_xls() -> None:
    item = {"json": {}, "binary": {"data": _file(b"n,t\n1,x\n", mimeType="text/csv", fileExtension="csv")}}
    [rows] = await run_with_items(SPREADSHEET, {"operation": "fromFile"}, [[item]], version=2)
    assert [row["json"] for row in rows] == [{"n": "1", "t": "x"}]
    [v1_rows] = await run_with_items(SPREADSHEET, {"operation": "fromFile"}, [[item]], version=1)
    assert [row["json"] for row in v1_rows] == [{"n": 1, "t": "x"}]  # SheetJS types the values
    run = await run_node(SPREADSHEET, {"operation": "toFile"}, [{"a": 1}], version=2)
    assert "xls" in run.error["message"]


# --- Convert to File: JSON, text and base64 ---------------------------------------------------------------


@pytest.mark.anyio
async def test_to_json_once_and_each() -> None:
    item = await _to_file("toJson", [{"a": 1}, {"b": [True, None]}])
    assert _bytes(item) == b'[{"a":1},{"b":[true,null]}]'
    assert {k: v for k, v in item["binary"]["data"].items() if k != "data"} == {
        "mimeType": "application/json",
        "fileType": "json",
        "fileExtension": "json",
        "fileName": "file.json",
        "fileSize": "27 B",
    }
    run = await run_node(
        CONVERT, {"operation": "toJson", "mode": "each", "options": {"format": True}}, [{"a": 1}, {"b": 2}]
    )
    [each] = run.outputs
    assert [_bytes(i) for i in each] == [b'{\n  "a": 1\n}', b'{\n  "b": 2\n}']
    assert [i["pairedItem"] for i in each] == [{"item": 0}, {"item": 1}]


@pytest.mark.anyio
async def test_to_text_with_encoding_and_bom() -> None:
    item = await _to_file("toText", [{"t": "héllo"}], sourceProperty="t", options={"addBOM": True})
    assert _bytes(item) == "\ufeffhéllo".encode()
    assert item["binary"]["data"]["fileName"] == "file.txt"
    assert item["binary"]["data"]["mimeType"] == "text/plain"
    latin = await _to_file("toText", [{"t": "héllo"}], sourceProperty="t", options={"encoding": "latin1"})
    assert _bytes(latin) == "héllo".encode("latin-1")
    run = await run_node(CONVERT, {"operation": "toText", "sourceProperty": "missing"}, [{"t": 1}])
    assert run.error["message"] == 'The value in "missing" is not set'


@pytest.mark.anyio
async def test_to_binary_reads_base64_and_data_uris() -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 16
    encoded = base64.b64encode(png).decode()
    item = await _to_file("toBinary", [{"b": encoded}], sourceProperty="b")
    meta = item["binary"]["data"]
    assert (meta["mimeType"], meta["fileType"], meta["fileExtension"], meta["fileName"]) == (
        "image/png",
        "image",
        "png",
        "file.png",
    )
    uri = await _to_file(
        "toBinary", [{"b": f"data:text/plain;base64,{base64.b64encode(b'hi').decode()}"}], sourceProperty="b"
    )
    assert (_bytes(uri), uri["binary"]["data"]["mimeType"]) == (b"hi", "text/plain")
    run = await run_node(CONVERT, {"operation": "toBinary", "sourceProperty": "b"}, [{"b": "not base64!"}])
    assert run.error["message"].startswith("The provided string is not valid base64 data.")


# --- Extract From File: moves and PDF ---------------------------------------------------------------------


@pytest.mark.anyio
async def test_extract_json_text_and_base64() -> None:
    source = {
        "json": {"keep": 1},
        "binary": {"data": _file(b'\xef\xbb\xbf{"a": [1, 2]}'), "other": _file(b"x")},
    }
    [parsed] = await _extract("fromJson", source, destinationKey="out")
    assert parsed == {
        "json": {"out": {"a": [1, 2]}},
        "binary": {"other": source["binary"]["other"]},
        "pairedItem": {"item": 0},
    }
    [text] = await _extract("text", source, options={"keepSource": "both", "stripBOM": False})
    assert text["json"] == {"keep": 1, "data": '\ufeff{"a": [1, 2]}'}
    assert text["binary"] == source["binary"]
    [moved] = await _extract("binaryToPropery", source)
    assert moved["json"] == {"data": source["binary"]["data"]["data"]}
    assert await _extract("text", {"json": {}}) == []  # n8n leaves out items without the file


def _pdf(text: str) -> bytes:
    """A one-page PDF showing ``text`` in Helvetica."""
    return pdf(f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode())


@pytest.mark.anyio
async def test_extract_pdf_text() -> None:
    [out] = await _extract("pdf", {"json": {"a": 1}, "binary": {"data": _file(_pdf("Hello PDF"))}})
    assert out["json"] == {
        "numpages": 1,
        "numrender": 1,
        "info": out["json"]["info"],
        "text": "Hello PDF",
        "version": "2.16.105",
    }
    assert out["json"]["info"]["PDFFormatVersion"] == "1.4"
    assert out["binary"] == {}
    with pytest.raises(NodeError, match="not a readable PDF"):
        await _extract("pdf", {"json": {}, "binary": {"data": _file(b"plain text")}})


# --- Move Binary Data v1.1 options, metadata and limits ---------------------------------------------------


@pytest.mark.anyio
async def test_move_binary_data_options() -> None:
    item = {"json": {"payload": {"x": 1}, "keep": True}}
    parameters = {
        "mode": "jsonToBinary",
        "convertAllData": False,
        "sourceKey": "payload",
        "destinationKey": "file",
        "options": {"fileName": "p.json", "addBOM": True, "keepSource": True},
    }
    [[out]] = await run_with_items(MOVE, parameters, [[item]], version=1.1)
    assert out["json"] == item["json"]
    assert _bytes(out, "file") == b'\xef\xbb\xbf{"x":1}'
    assert out["binary"]["file"]["fileName"] == "p.json"
    back = {"mode": "binaryToJson", "setAllData": False, "sourceKey": "file", "destinationKey": "d.e"}
    [[parsed]] = await run_with_items(MOVE, {**back, "options": {"jsonParse": True}}, [[out]])
    assert parsed["json"]["d"] == {"e": {"x": 1}}
    assert parsed["binary"] == {}
    [[raw]] = await run_with_items(
        MOVE, {**back, "options": {"keepAsBase64": True, "keepSource": True}}, [[out]]
    )
    assert raw["json"]["d"]["e"] == out["binary"]["file"]["data"]
    assert raw["binary"] == out["binary"]
    [[text]] = await run_with_items(
        MOVE,
        {"mode": "jsonToBinary", "convertAllData": False, "options": {"useRawData": True}},
        [[{"json": {"data": "x"}}]],
        version=1.1,
    )
    assert {k: v for k, v in text["binary"]["data"].items() if k != "data"} == {
        "mimeType": "text/plain",
        "fileType": "text",
        "fileName": "file",
        "fileSize": "1 B",
    }


def test_pretty_bytes_and_general_numbers() -> None:
    assert [pretty_bytes(n) for n in (0, 61, 999, 1240, 44_235, 999_999, 5_000_000)] == [
        "0 B",
        "61 B",
        "999 B",
        "1.24 kB",
        "44.2 kB",
        "1000 kB",
        "5 MB",
    ]
    values = (0, -3, 2**31, 0.1, 1 / 3, -1 / 3, 1e-5, 1234.5678, 123456789012, 1.5e300, 12345678901.5)
    assert [general_number(v) for v in values] == [
        "0",
        "-3",
        "2147483648",
        "0.1",
        "0.333333333",
        "-0.333333333",
        "0.00001",
        "1234.5678",
        "1.23457E+11",
        "1.5E+300",
        "12345678901",  # SheetJS cuts ten-digit numbers, it does not round them
    ]


@pytest.mark.anyio
async def test_files_over_the_cap_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(binary_module, "MAX_FILE_BYTES", 10)
    with pytest.raises(NodeError, match="too large"):
        await _extract("text", {"json": {}, "binary": {"data": _file(b"x" * 64)}})
    run = await run_node(CONVERT, {"operation": "toText", "sourceProperty": "t"}, [[{"t": "y" * 64}]])
    assert "too large" in run.error["message"]
    assert run.error["code"] == "LIMIT_EXCEEDED"


@pytest.mark.anyio
async def test_missing_binary_property_errors_as_n8n() -> None:
    with pytest.raises(NodeError, match="expects the node's input data to contain a binary file 'data'"):
        await _extract("csv", {"json": {}})
    with pytest.raises(NodeError, match=r"The item has no binary field 'file' \[item 0\]"):
        await _extract("csv", {"json": {}, "binary": {"data": _file(b"")}}, binaryPropertyName="file")
