"""n8n's file nodes on item binary data: Convert to File, Extract From File, Move Binary Data and the
Spreadsheet File node that the first two replaced.

Files live in the item as n8n keeps them in its default binary mode (``binary.<name>.data`` is base64,
next to ``mimeType``, ``fileName``, ``fileExtension`` and ``fileSize``); :mod:`.binary` makes and reads
them, :mod:`.sheets` writes and reads spreadsheets for the two spreadsheet nodes alike. XLS and RTF files,
and Convert to File's iCal operation, are refused with a node error.
"""

from __future__ import annotations

import base64
import copy
import re
from collections.abc import Mapping
from typing import Any, ClassVar

from tenantflow.engine.errors import ErrorCode, NodeError
from tenantflow.engine.expressions import UNDEFINED, format_json, js_string, to_json
from tenantflow.engine.sdk import Item, Items, NodeContext, NodeType
from tenantflow.nodes.n8n.core import BOOLEAN, STRING, first_input, object_schema, one_of
from tenantflow.nodes.n8n.data.set import get_path, js_json_parse, set_path, unset_path
from tenantflow.nodes.n8n.files.archive import Compression
from tenantflow.nodes.n8n.files.binary import (
    binary_bytes,
    binary_property,
    decode_base64,
    decode_text,
    encode_text,
    name_file,
    prepare_binary,
)
from tenantflow.nodes.n8n.files.disk import NODE_TYPES as DISK_NODE_TYPES
from tenantflow.nodes.n8n.files.image import EditImage
from tenantflow.nodes.n8n.files.pdf import extract_pdf
from tenantflow.nodes.n8n.files.sheets import (
    WRITE_FORMATS,
    read_csv,
    read_sheet,
    table,
    write_sheet,
)
from tenantflow.nodes.n8n.pacing import Pacer, off_loop

_OPTIONS = {"type": "object"}
_SHEET_FORMATS = ("csv", "html", "rtf", "ods", "xls", "xlsx")


def _options(ctx: NodeContext, index: int) -> dict[str, Any]:
    options = ctx.param("options", index, {})
    return options if isinstance(options, dict) else {}


def _all_paired(items: Items) -> list[dict[str, int]]:
    return [{"item": i} for i in range(len(items))] or [{"item": 0}]


def _without(binary: Any, name: str) -> dict[str, Any]:
    """A copy of an item's binary data less property ``name`` (lodash ``unset``)."""
    rest = copy.deepcopy(binary) if isinstance(binary, dict) else {}
    unset_path(rest, name)
    return rest


def _unsupported(what: str) -> NodeError:
    return NodeError(
        f'The format "{what}" is not supported',
        code=ErrorCode.INVALID_PARAMETER,
        description="tenantflow writes CSV, HTML, XLSX and ODS spreadsheets, and reads those and XLS",
    )


async def _spreadsheet_item(ctx: NodeContext, items: Items, file_format: str, default_name: str) -> Item:
    """n8n's ``convertJsonToSpreadsheetBinary``: all items as rows of one file (written in a worker thread
    when there are many)."""
    if file_format not in WRITE_FORMATS:
        raise _unsupported(file_format)
    options = _options(ctx, 0)
    data = await off_loop(len(items) * _ROW_COST, _write_items, items, file_format, options)
    file_name = options.get("fileName", f"{default_name}.{file_format}")  # an empty name stays empty
    meta = prepare_binary(data, str(file_name))
    name = str(ctx.param("binaryPropertyName", 0, "data"))
    return {"json": {}, "binary": {name: meta}, "pairedItem": _all_paired(items)}


def _write_items(items: Items, file_format: str, options: dict[str, Any]) -> bytes:
    grid = table((item.get("json", {}) for item in items), options.get("headerRow") is not False)
    return write_sheet(
        grid,
        file_format,
        sheet_name=str(options.get("sheetName") or "Sheet"),
        delimiter=str(options.get("delimiter") or ","),
    )


_ROW_COST = 256
"""Roughly the bytes one item adds to a spreadsheet: how :func:`off_loop` weighs writing ``n`` items."""


async def _read_rows(ctx: NodeContext, items: Items, format_param: str, *, autodetect_csv: bool) -> Items:
    """n8n's Spreadsheet File ``fromFile``: rows of each item's file; csv-parse for CSV, SheetJS else. A large
    file is decoded and parsed in a worker thread."""
    out: Items = []
    pacer = Pacer()
    for index, item in enumerate(items):
        if pacer.due():
            await pacer.pause()
        options = _options(ctx, index)
        file_format = ctx.param(format_param, index, "autodetect")
        name = str(ctx.param("binaryPropertyName", index, "data"))
        meta = binary_property(item, name, index)
        mime, extension = meta.get("mimeType"), meta.get("fileExtension")
        if autodetect_csv and file_format == "autodetect":
            is_csv = mime == "text/csv" or (mime == "text/plain" and extension == "csv")
            file_format = "csv" if is_csv else file_format
        if file_format == "rtf":
            raise _unsupported("rtf")
        csv = file_format == "csv" and autodetect_csv
        rows = await off_loop(len(meta["data"]), _parse_file, meta["data"], csv, options)
        for row in rows:
            json = {"row": row} if options.get("headerRow") is False else row
            out.append({"json": json, "pairedItem": {"item": index}})
    return out


def _file_content(data: bytes, operation: str, options: dict[str, Any]) -> Any:
    """A file as Extract From File puts it in the item: base64, text, or parsed JSON."""
    if operation == "binaryToPropery":
        return base64.b64encode(data).decode("ascii")
    text = decode_text(data, options.get("encoding"), options.get("stripBOM"))
    return _parse_json(text) if operation == "fromJson" else text


def _parse_file(encoded: str, csv: bool, options: dict[str, Any]) -> list[dict[str, Any]]:
    data = decode_base64(encoded)
    if csv:
        encoding = options.get("encoding") or "utf-8"
        return read_csv(decode_text(data, encoding, options.get("enableBOM") is True), options)
    return read_sheet(data, options.get("sheetName"), options)


_CONVERT_SCHEMA = object_schema(
    {
        "operation": one_of(*_SHEET_FORMATS, "iCal", "toJson", "toText", "toBinary"),
        "binaryPropertyName": STRING,
        "sourceProperty": STRING,
        "mode": one_of("once", "each"),
        "options": _OPTIONS,
    }
)


class ConvertToFile(NodeType):
    """``Convert to File``: items to a spreadsheet, JSON or text file, or a base64 field to a file."""

    cpu_only = True
    type = "n8n-nodes-base.convertToFile"
    versions = (1, 1.1)
    display_name = "Convert to File"
    description = "Convert JSON data to binary data"
    aliases = ("convertToFile",)
    parameters_schema: ClassVar[Mapping[str, Any]] = _CONVERT_SCHEMA

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        items = first_input(inputs)
        operation = str(ctx.param("operation", 0, "csv"))
        if operation in _SHEET_FORMATS:
            return [[await _spreadsheet_item(ctx, items, operation, "File")]]
        if operation == "toJson":
            return [self._json_files(ctx, items)]
        if operation in ("toText", "toBinary"):
            return [[self._field_file(ctx, item, index, operation) for index, item in enumerate(items)]]
        raise NodeError(f'The operation "{operation}" is not supported', code=ErrorCode.INVALID_PARAMETER)

    def _json_files(self, ctx: NodeContext, items: Items) -> Items:
        if ctx.param("mode", 0, "once") == "once":
            data = [item.get("json", {}) for item in items]
            return [self._json_item(ctx, data, 0, _all_paired(items))]
        return [self._json_item(ctx, item.get("json", {}), i, {"item": i}) for i, item in enumerate(items)]

    def _json_item(self, ctx: NodeContext, data: Any, index: int, paired: Any) -> Item:
        options = _options(ctx, index)
        text = format_json(to_json(data), "  " if options.get("format") is True else "")
        payload = encode_text(text, options.get("encoding"), options.get("addBOM"))
        meta = name_file(prepare_binary(payload, options.get("fileName") or None, "application/json"))
        name = str(ctx.param("binaryPropertyName", index, "data"))
        return {"json": {}, "binary": {name: meta}, "pairedItem": paired}

    def _field_file(self, ctx: NodeContext, item: Item, index: int, operation: str) -> Item:
        """n8n's ``createBinaryFromJson`` on one field: text to encode, or base64 to decode."""
        options = _options(ctx, index)
        source = str(ctx.param("sourceProperty", index, ""))
        value = get_path(item.get("json", {}), source) if source else item.get("json", {})
        if value is UNDEFINED:
            raise NodeError(f'The value in "{source}" is not set', code=ErrorCode.INVALID_PARAMETER)
        text_file = operation == "toText" or options.get("dataIsBase64") is False
        mime_type = "text/plain" if operation == "toText" else options.get("mimeType") or None
        file_name = options.get("fileName") or ("file.txt" if operation == "toText" else None)
        if text_file:
            if isinstance(value, dict | list):
                value, mime_type = format_json(to_json(value)), "application/json"
            data = encode_text(js_string(value), options.get("encoding"), options.get("addBOM"))
        else:
            data, mime_type = _base64_value(js_string(value) if value is not None else "", mime_type)
        meta = name_file(prepare_binary(data, file_name, mime_type))
        name = str(ctx.param("binaryPropertyName", index, "data"))
        return {"json": {}, "binary": {name: meta}, "pairedItem": {"item": index}}


_DATA_URI = re.compile(r"^data:(.*?);base64,(.*)$", re.DOTALL)


def _base64_value(text: str, mime_type: str | None) -> tuple[bytes, str | None]:
    """A base64 string, or a ``data:`` URI whose media type becomes the MIME type when none is set."""
    text = text.strip()
    if match := _DATA_URI.match(text):
        mime_type = mime_type or match[1].split(";")[0].strip() or None
        text = match[2]
    if re.search(r"[^A-Za-z0-9+/=_-]", re.sub(r"\s+", "", text)):
        raise NodeError(
            "The provided string is not valid base64 data. If you are trying to write plain text to a file, "
            'use the "Convert to Text File" operation instead.',
            code=ErrorCode.INVALID_PARAMETER,
        )
    return decode_base64(text), mime_type


_EXTRACT_SCHEMA = object_schema(
    {
        "operation": one_of(*_SHEET_FORMATS, "fromJson", "pdf", "text", "binaryToPropery"),
        "binaryPropertyName": STRING,
        "destinationKey": STRING,
        "options": _OPTIONS,
    }
)


class ExtractFromFile(NodeType):
    """``Extract From File``: a spreadsheet's rows, a JSON or text file's content, a PDF's text, base64."""

    cpu_only = True
    type = "n8n-nodes-base.extractFromFile"
    versions = (1,)
    display_name = "Extract From File"
    description = "Convert binary data to JSON"
    aliases = ("extractFromFile",)
    parameters_schema: ClassVar[Mapping[str, Any]] = _EXTRACT_SCHEMA

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        items = first_input(inputs)
        operation = str(ctx.param("operation", 0, "csv"))
        if operation in _SHEET_FORMATS:
            return [await _read_rows(ctx, items, "operation", autodetect_csv=True)]
        if operation in ("fromJson", "text", "binaryToPropery"):
            pacer = Pacer()
            moved: Items = []
            for index, item in enumerate(items):
                if pacer.due():
                    await pacer.pause()
                if out := await self._move(ctx, item, index, operation):
                    moved.append(out)
            return [moved]
        if operation == "pdf":
            return [[self._pdf(ctx, item, index) for index, item in enumerate(items)]]
        raise NodeError(f'The operation "{operation}" is not supported', code=ErrorCode.INVALID_PARAMETER)

    async def _move(self, ctx: NodeContext, item: Item, index: int, operation: str) -> Item | None:
        """The file's content into ``destinationKey``; items without that file are left out, as in n8n."""
        options = _options(ctx, index)
        name = str(ctx.param("binaryPropertyName", index, "data"))
        if not get_path(item.get("binary") or {}, name):
            return None
        data = binary_bytes(item, name, index)
        value = await off_loop(len(data), _file_content, data, operation, options)
        keep = options.get("keepSource")
        json = copy.deepcopy(item.get("json", {})) if keep and keep != "binary" else {}
        set_path(json, str(ctx.param("destinationKey", index, "data")), value)
        return _result(item, index, keep, name, json)

    def _pdf(self, ctx: NodeContext, item: Item, index: int) -> Item:
        options = _options(ctx, index)
        name = str(ctx.param("binaryPropertyName", index, "data"))
        result = extract_pdf(
            binary_bytes(item, name, index),
            options.get("password"),
            options.get("maxPages"),
            options.get("joinPages"),
        )
        keep = options.get("keepSource")
        json = {**copy.deepcopy(item.get("json", {})), **result} if keep and keep != "binary" else result
        return _result(item, index, keep, name, json)


def _result(item: Item, index: int, keep: Any, name: str, json: dict[str, Any]) -> Item:
    """The extracted ``json``, with the source file kept or dropped as ``keepSource`` says."""
    binary = item.get("binary") if keep in ("binary", "both") else _without(item.get("binary"), name)
    return {"json": json, "binary": binary or {}, "pairedItem": {"item": index}}


def _parse_json(text: str) -> Any:
    try:
        return js_json_parse(text)
    except ValueError as exc:
        raise NodeError(
            "The file is not valid JSON", code=ErrorCode.INVALID_PARAMETER, description=str(exc)
        ) from exc


_MOVE_SCHEMA = object_schema(
    {
        "mode": one_of("binaryToJson", "jsonToBinary"),
        "setAllData": BOOLEAN,
        "convertAllData": BOOLEAN,
        "sourceKey": STRING,
        "destinationKey": STRING,
        "options": _OPTIONS,
    }
)


class MoveBinaryData(NodeType):
    """``Convert to/from binary data`` (Move Binary Data): JSON into a binary property and back."""

    cpu_only = True
    type = "n8n-nodes-base.moveBinaryData"
    versions = (1, 1.1)
    display_name = "Convert to/from binary data"
    description = "Move data between binary and JSON properties"
    aliases = ("moveBinaryData",)
    parameters_schema: ClassVar[Mapping[str, Any]] = _MOVE_SCHEMA

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        mode = ctx.param("mode", 0, "binaryToJson")
        if mode not in ("binaryToJson", "jsonToBinary"):
            raise NodeError(f'The operation "{mode}" is not known!', code=ErrorCode.INVALID_PARAMETER)
        move = self._to_json if mode == "binaryToJson" else self._to_binary
        return [[out for i, item in enumerate(first_input(inputs)) if (out := move(ctx, item, i))]]

    def _to_json(self, ctx: NodeContext, item: Item, index: int) -> Item | None:
        options = _options(ctx, index)
        source = str(ctx.param("sourceKey", index, "data"))
        if get_path(item.get("binary") or {}, source) is UNDEFINED:
            return None
        meta = get_path(item["binary"], source)
        data = decode_base64(meta.get("data", "")) if isinstance(meta, dict) else b""
        encoding = options.get("encoding") or "utf8"
        json: Any
        if ctx.param("setAllData", index, True):
            json = _parse_json(decode_text(data, encoding, options.get("stripBOM")))
            if not isinstance(json, dict):
                raise NodeError("The binary data is not a JSON object", code=ErrorCode.INVALID_PARAMETER)
        else:
            json = copy.deepcopy(item.get("json", {}))
            if options.get("keepAsBase64") is True:
                value: Any = meta["data"]
            else:
                value = decode_text(data, encoding, options.get("stripBOM"))
            if options.get("jsonParse"):
                value = _parse_json(value)
            set_path(json, str(ctx.param("destinationKey", index, "data")), value)
        binary = item["binary"] if options.get("keepSource") is True else _without(item["binary"], source)
        return {"json": json, "binary": binary, "pairedItem": {"item": index}}

    def _to_binary(self, ctx: NodeContext, item: Item, index: int) -> Item | None:
        options = _options(ctx, index)
        convert_all = ctx.param("convertAllData", index, True)
        source = str(ctx.param("sourceKey", index, "data"))
        value: Any = item.get("json", {}) if convert_all else get_path(item.get("json", {}), source)
        if value is UNDEFINED:
            return None
        mime_type = options.get("mimeType") or None
        if options.get("dataIsBase64") is True:
            data = decode_base64(js_string(value))
        else:
            if options.get("useRawData") is not True or isinstance(value, dict | list) or value is None:
                value = format_json(to_json(value))
                mime_type = mime_type or "application/json"
            data = encode_text(js_string(value), options.get("encoding"), options.get("addBOM"))
        version = ctx.node.type_version
        meta = prepare_binary(
            data, options.get("fileName") or None, mime_type or ("application/json" if version == 1 else None)
        )
        if version > 1:
            name_file(meta)
        binary = copy.deepcopy(item.get("binary") or {})
        set_path(binary, str(ctx.param("destinationKey", index, "data")), meta)
        if options.get("keepSource") is True:
            json = item.get("json", {})
        elif convert_all:
            json = {}
        else:
            json = copy.deepcopy(item.get("json", {}))
            unset_path(json, source)
        return {"json": json, "binary": binary, "pairedItem": {"item": index}}


_SPREADSHEET_SCHEMA = object_schema(
    {
        "operation": one_of("fromFile", "toFile"),
        "fileFormat": one_of("autodetect", *_SHEET_FORMATS),
        "binaryPropertyName": STRING,
        "options": _OPTIONS,
    }
)


class SpreadsheetFile(NodeType):
    """``Spreadsheet File`` (v1, v2): reads rows from a spreadsheet file or writes items to one."""

    cpu_only = True
    type = "n8n-nodes-base.spreadsheetFile"
    versions = (1, 2)
    display_name = "Spreadsheet File"
    description = "Reads and writes data from a spreadsheet file like CSV, XLS, ODS, etc"
    aliases = ("spreadsheetFile",)
    parameters_schema: ClassVar[Mapping[str, Any]] = _SPREADSHEET_SCHEMA

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        items = first_input(inputs)
        operation = ctx.param("operation", 0, "fromFile")
        if operation == "fromFile":
            return [await _read_rows(ctx, items, "fileFormat", autodetect_csv=ctx.node.type_version >= 2)]
        if operation == "toFile":
            file_format = str(ctx.param("fileFormat", 0, "xls"))
            return [[await _spreadsheet_item(ctx, items, file_format, "spreadsheet")]]
        raise NodeError(f'The operation "{operation}" is not supported!', code=ErrorCode.INVALID_PARAMETER)


NODE_TYPES: list[type[NodeType]] = [
    ConvertToFile,
    ExtractFromFile,
    MoveBinaryData,
    SpreadsheetFile,
    *DISK_NODE_TYPES,
    Compression,
    EditImage,
]
