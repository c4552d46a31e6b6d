"""Spreadsheet files the way n8n's SheetJS-based nodes make and read them.

Writing flattens each item (``{"a": {"b": 1}}`` is column ``a.b``), lays the items out as rows under a
header of every key in first-seen order, and renders CSV and HTML byte for byte as SheetJS does (its CSV
starts with a UTF-8 BOM, its numbers use Excel's "General" format); XLSX goes through openpyxl and ODS
through odfpy. Reading turns a sheet into rows with SheetJS's ``sheet_to_json`` rules; XLSX, XLS and ODS
are parsed by calamine, HTML tables by Beautiful Soup, and CSV by the stdlib (typed as SheetJS types it
when the SheetJS path reads it, plain strings as csv-parse gives them otherwise).
"""

from __future__ import annotations

import csv
import datetime
import io
import math
import re
import zipfile
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the format libraries load when a node reads or writes that format (start-up time)
    from bs4 import Tag

from tenantflow.engine.errors import ErrorCode, NodeError
from tenantflow.engine.expressions.values import js_num, number_to_string

WRITE_FORMATS = ("csv", "html", "xlsx", "ods")
_MISSING = object()
"""A cell no item has a value for (``null`` is a present, empty value; SheetJS tells them apart in HTML)."""

Grid = list[list[Any]]


# --- writing ------------------------------------------------------------------------------------------------


def flatten(data: Mapping[str, Any]) -> dict[str, Any]:
    """n8n's ``flattenObject``: nested keys joined by dots; empty objects and lists disappear."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict | list):
            inner = value if isinstance(value, dict) else {str(i): v for i, v in enumerate(value)}
            flat.update({f"{key}.{sub}": v for sub, v in flatten(inner).items()})
        else:
            flat[key] = value
    return flat


def table(rows: Iterable[Mapping[str, Any]], header_row: bool) -> Grid:
    """SheetJS ``json_to_sheet`` on flattened rows: columns in first-seen key order."""
    flat = [flatten(row) for row in rows]
    columns: dict[str, None] = {}
    for row in flat:
        columns.update(dict.fromkeys(row))
    grid: Grid = [list(columns)] if header_row and columns else []
    grid.extend([row.get(column, _MISSING) for column in columns] for row in flat)
    return grid or [[_MISSING]]


def write_sheet(grid: Grid, file_format: str, *, sheet_name: str, delimiter: str) -> bytes:
    if file_format == "csv":
        return ("\ufeff" + _csv_text(grid, delimiter or ",")).encode("utf-8")
    if file_format == "html":
        return _html_text(grid).encode("utf-8")
    _check_sheet_name(sheet_name)
    if file_format == "xlsx":
        return _xlsx_bytes(grid, sheet_name)
    if file_format == "ods":
        return _ods_bytes(grid, sheet_name)
    raise NodeError(f'The file format "{file_format}" is not supported', code=ErrorCode.INVALID_PARAMETER)


def _check_sheet_name(name: str) -> None:
    if len(name) > 31 or re.search(r"[\\/?*\[\]:]", name):
        raise NodeError(
            f'Sheet name "{name}" is not valid',
            code=ErrorCode.INVALID_PARAMETER,
            description="A sheet name has at most 31 characters and none of \\ / ? * [ ] :",
        )


def _to_precision(value: float, digits: int) -> str:
    """JS ``Number.prototype.toPrecision``."""
    mantissa, exponent = f"{value:.{digits - 1}e}".split("e")
    power = int(exponent)
    if power < -6 or power >= digits:
        return f"{mantissa}e{'+' if power >= 0 else '-'}{abs(power)}"
    return f"{value:.{max(digits - 1 - power, 0)}f}"


def _strip_decimal(text: str) -> str:
    return re.sub(r"(?:\.0*|(\.\d*[1-9])0+)$", r"\1", text) if "." in text else text


def general_number(value: float) -> str:
    """Excel's "General" number format as SheetJS renders it (11 significant characters at most)."""
    if float(value).is_integer() and -(2**31) <= value < 2**31:
        return str(int(value))
    power = math.floor(math.log10(abs(value)))
    width = 12 if value < 0 else 11
    if -4 <= power <= -1:
        text = _to_precision(value, 10 + power)
    elif abs(power) <= 9:
        text = _strip_decimal(f"{value:.12f}")
        if len(text) > width:
            text = _to_precision(value, 10)
            if len(text) > width:
                mantissa, exponent = f"{value:.5e}".split("e")
                text = f"{mantissa}e{exponent[0]}{int(exponent[1:])}"
    elif power == 10:
        text = f"{value:.10f}"[:12]
    else:
        text = _strip_decimal(f"{value:.11f}")
        if len(text) > width or text in ("0", "-0"):
            text = _to_precision(value, 6)
    text = text.upper()
    if "E" in text:
        text = re.sub(r"(?:\.0*|(\.\d*[1-9])0+)E", r"\1E", text)
        text = re.sub(r"(E[+-])(\d)$", r"\g<1>0\2", text)
    return _strip_decimal(text)


def cell_text(value: Any) -> str:
    """SheetJS ``format_cell`` for the cell types items produce."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return general_number(value)
    return "" if value is None or value is _MISSING else str(value)


def _csv_text(grid: Grid, delimiter: str) -> str:
    """SheetJS ``sheet_to_csv``: quote on the delimiter's first character, a newline or a quote."""
    lines = []
    for row in grid:
        fields = []
        for value in row:
            text = cell_text(value)
            if delimiter[0] in text or "\n" in text or '"' in text:
                text = '"' + text.replace('"', '""') + '"'
            fields.append('"ID"' if text == "ID" else text)
        lines.append(delimiter.join(fields))
    return "\n".join(lines)


_HTML_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;"}


def _escape_html(text: str) -> str:
    text = re.sub(r"[&<>'\"]", lambda m: _HTML_ESCAPES[m.group()], text).replace("\n", "<br/>")
    return re.sub(r"[\x00-\x1f]", lambda m: f"&#x{ord(m.group()):04x};", text)


def _html_attributes(value: Any) -> str:
    """SheetJS's ``data-t`` (cell type) and ``data-v`` (raw value); none for a cell no item has."""
    if value is _MISSING:
        return ""
    if value is None:
        return ' data-t="z"'
    if isinstance(value, bool):
        kind, raw = "b", "true" if value else "false"
    elif isinstance(value, int | float):
        kind, raw = "n", number_to_string(value)
    else:
        kind, raw = "s", str(value)
    return f' data-t="{kind}" data-v="{_escape_html(raw)}"'


def _html_text(grid: Grid) -> str:
    from openpyxl.utils import get_column_letter

    """SheetJS ``sheet_to_html`` with its default page around the table."""
    rows = []
    for r, row in enumerate(grid, start=1):
        cells = []
        for c, value in enumerate(row, start=1):
            text = _escape_html(cell_text(value))
            preserve = ' xml:space="preserve"' if re.search(r"^\s|\s$|\n", text) else ""
            cell_id = f"sjs-{get_column_letter(c)}{r}"
            cells.append(f'<td{_html_attributes(value)} id="{cell_id}"{preserve}>{text}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (
        '<html><head><meta charset="utf-8"/><title>SheetJS Table Export</title></head><body><table>'
        + "".join(rows)
        + "</table></body></html>"
    )


def _xlsx_bytes(grid: Grid, sheet_name: str) -> bytes:
    import openpyxl
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = sheet_name
    for r, row in enumerate(grid, start=1):
        for c, value in enumerate(row, start=1):
            if value is _MISSING or value is None:
                continue
            if isinstance(value, str):
                value = ILLEGAL_CHARACTERS_RE.sub(lambda m: f"_x{ord(m.group()):04X}_", value)
            cell = sheet.cell(row=r, column=c, value=value)
            if isinstance(value, str):
                cell.data_type = "s"  # text, never a formula, even when it starts with '='
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _ods_bytes(grid: Grid, sheet_name: str) -> bytes:
    from odf.opendocument import OpenDocumentSpreadsheet  # type: ignore[import-untyped]
    from odf.table import Table, TableCell, TableRow  # type: ignore[import-untyped]
    from odf.teletype import addTextToElement  # type: ignore[import-untyped]
    from odf.text import P  # type: ignore[import-untyped]

    document = OpenDocumentSpreadsheet()
    sheet = Table(name=sheet_name)
    for row in grid:
        table_row = TableRow()
        for value in row:
            if value is _MISSING or value is None:
                cell = TableCell()
            elif isinstance(value, bool):
                cell = TableCell(valuetype="boolean", booleanvalue="true" if value else "false")
            elif isinstance(value, int | float):
                cell = TableCell(valuetype="float", value=number_to_string(value))
            else:
                cell = TableCell(valuetype="string")
            if value is not _MISSING and value is not None:
                for line in cell_text(value).split("\n"):  # a paragraph per line, as office suites do
                    paragraph = P()
                    addTextToElement(paragraph, line)
                    cell.addElement(paragraph)
            table_row.addElement(cell)
        sheet.addElement(table_row)
    document.spreadsheet.addElement(sheet)
    out = io.BytesIO()
    document.write(out)
    return out.getvalue()


# --- reading ------------------------------------------------------------------------------------------------


def read_csv(text: str, options: Mapping[str, Any]) -> list[Any]:
    """csv-parse as n8n configures it: string values, a header row unless ``headerRow`` is false."""
    delimiter = str(options.get("delimiter") or ",")
    if len(delimiter) != 1:
        raise NodeError("The CSV delimiter must be a single character", code=ErrorCode.INVALID_PARAMETER)
    from_line = int(options.get("fromLine") or 0)
    if from_line > 1:
        text = "".join(text.splitlines(keepends=True)[from_line - 1 :])
    records = (record for record in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter) if record)
    limit = int(options.get("maxRowCount", -1) if options.get("maxRowCount") is not None else -1)
    keep_empty = options.get("includeEmptyCells") is True
    rows: list[Any] = []
    columns = next(records, None) if options.get("headerRow") is not False else None
    for line, record in enumerate(records, start=2 if columns is not None else 1):
        if 0 <= limit <= len(rows):
            break
        if columns is None:
            rows.append(record if keep_empty else {str(i): v for i, v in enumerate(record) if v != ""})
            continue
        if len(record) != len(columns):
            raise NodeError(
                f"Invalid Record Length: columns length is {len(columns)}, got {len(record)} on line {line}",
                code=ErrorCode.INVALID_PARAMETER,
            )
        rows.append({k: v for k, v in zip(columns, record, strict=True) if keep_empty or v != ""})
    return rows


def read_workbook(data: bytes) -> dict[str, Grid]:
    from python_calamine import CalamineError, CalamineWorkbook

    """Every sheet of a file SheetJS would read, by sniffing its bytes (as ``XLSX.read`` does)."""
    if data.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        try:
            workbook = CalamineWorkbook.from_filelike(io.BytesIO(data))
            return {
                name: workbook.get_sheet_by_name(name).to_python(skip_empty_area=False)
                for name in workbook.sheet_names
            }
        except (CalamineError, zipfile.BadZipFile, ValueError) as exc:
            raise NodeError(
                f"The spreadsheet could not be read: {exc}", code=ErrorCode.INVALID_PARAMETER
            ) from exc
    text = data.decode("utf-8", errors="replace").removeprefix("\ufeff")
    if text.lstrip().startswith("<"):
        return _html_sheets(text)
    return {"Sheet1": _typed_csv(text)}


def _typed(text: str) -> Any:
    """A text cell as SheetJS types it: booleans and numbers become values, the rest stays text."""
    if text in ("TRUE", "FALSE"):
        return text == "TRUE"
    try:
        number = float(text.replace(",", "")) if text.strip() else None
    except ValueError:
        return text
    return text if number is None or not math.isfinite(number) else js_num(number)


def _typed_csv(text: str) -> Grid:
    first = text.split("\n", 1)[0]
    delimiter = max(",\t;|", key=first.count)
    rows = csv.reader(io.StringIO(text), delimiter=delimiter)
    return [[_typed(value) if value else "" for value in row] for row in rows]


def _html_sheets(text: str) -> dict[str, Grid]:
    from bs4 import BeautifulSoup

    """Each ``<table>`` is a sheet; SheetJS's ``data-t``/``data-v`` attributes give typed values."""
    soup = BeautifulSoup(text, "html.parser")
    sheets: dict[str, Grid] = {}
    for number, element in enumerate(soup.find_all("table"), start=1):
        grid: Grid = []
        for tr in element.find_all("tr"):
            row: list[Any] = []
            for td in tr.find_all(["td", "th"]):
                row.append(_html_cell(td))
                span = str(td.get("colspan") or "1")
                row.extend([""] * (int(span) - 1 if span.isdigit() and int(span) > 1 else 0))
            grid.append(row)
        sheets[f"Sheet{number}"] = grid
    return sheets or {"Sheet1": []}


def _html_cell(td: Tag) -> Any:
    """The cell's text; SheetJS's ``data-t`` keeps text as text, and ``data-v`` holds a number's value."""
    for br in td.find_all("br"):
        br.replace_with("\n")
    text, kind, raw = td.get_text(), td.get("data-t"), td.get("data-v")
    if kind == "s":
        return text
    if kind == "n" and raw is not None:
        return _typed(str(raw))
    return _typed(text) if text and kind != "z" else ""


def _header_text(value: Any) -> str:
    return cell_text(_plain(value)) if value != "" else "__EMPTY"


def _plain(value: Any) -> Any:
    """A JSON value for a cell: numbers as JS numbers, dates and times as ISO 8601 text."""
    if isinstance(value, float):
        return js_num(value)
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return str(value)
    return value


def _cell_range(grid: Grid, spec: Any) -> tuple[int, int, int, int]:
    """Rows and columns (first and last, 0-based) to read: the used area, or the ``range`` option."""
    used = [(r, c) for r, row in enumerate(grid) for c, value in enumerate(row) if value != ""]
    if not used:
        return 0, -1, 0, -1
    top, bottom = min(r for r, _ in used), max(r for r, _ in used)
    left, right = min(c for _, c in used), max(c for _, c in used)
    text = str(spec).strip() if spec not in (None, "") else ""
    if text.isdigit():
        return int(text), bottom, left, right
    if match := re.fullmatch(r"([A-Za-z]+)(\d+)(?::([A-Za-z]+)(\d+))?", text):
        start_col, start_row = _column_index(match[1]), int(match[2]) - 1
        end_col = _column_index(match[3]) if match[3] else start_col
        end_row = int(match[4]) - 1 if match[4] else start_row
        return start_row, end_row, start_col, end_col
    if text:
        raise NodeError(f'The range "{spec}" is not valid', code=ErrorCode.INVALID_PARAMETER)
    return top, bottom, left, right


def _column_index(letters: str) -> int:
    index = 0
    for letter in letters.upper():
        index = index * 26 + ord(letter) - 64
    return index - 1


def sheet_rows(grid: Grid, options: Mapping[str, Any]) -> list[Any]:
    """SheetJS ``sheet_to_json``: objects keyed by the header row, or arrays with ``headerRow`` false."""
    top, bottom, left, right = _cell_range(grid, options.get("range"))
    fill = "" if options.get("includeEmptyCells") is True else _MISSING

    def cell(r: int, c: int) -> Any:
        row = grid[r] if r < len(grid) else []
        return row[c] if c < len(row) else ""

    if options.get("headerRow") is False:
        arrays = []
        for r in range(top, bottom + 1):
            values = [_plain(cell(r, c)) for c in range(left, right + 1)]
            present = [i for i, v in enumerate(values) if v != ""]
            if fill is _MISSING:
                values = values[: present[-1] + 1] if present else []
                values = [None if v == "" else v for v in values]
            arrays.append(values)
        return arrays
    headers: list[str] = []
    seen: dict[str, int] = {}
    for c in range(left, right + 1):
        name = base = _header_text(cell(top, c))
        counter = seen.get(base, 0)
        if counter:  # SheetJS names a repeated header "name_1", "name_2" ...
            while name in seen:
                name = f"{base}_{counter}"
                counter += 1
        seen[base] = counter or 1
        seen[name] = seen.get(name, 1)
        headers.append(name)
    rows = []
    for r in range(top + 1, bottom + 1):
        row = {}
        for c, header in zip(range(left, right + 1), headers, strict=True):
            value = _plain(cell(r, c))
            if value != "":
                row[header] = value
            elif fill is not _MISSING:
                row[header] = fill
        if any(_plain(cell(r, c)) != "" for c in range(left, right + 1)):
            rows.append(row)
    return rows


def read_sheet(data: bytes, sheet_name: Any, options: Mapping[str, Any]) -> list[Any]:
    """Rows of one sheet (the first unless ``sheetName`` names another) read the SheetJS way."""
    sheets = read_workbook(data)
    if not sheets:
        raise NodeError("Spreadsheet does not have any sheets!", code=ErrorCode.INVALID_PARAMETER)
    name = next(iter(sheets))
    if sheet_name:
        if sheet_name not in sheets:
            raise NodeError(
                f'Spreadsheet does not contain sheet called "{sheet_name}"!', code=ErrorCode.INVALID_PARAMETER
            )
        name = str(sheet_name)
    return sheet_rows(sheets[name], options)
