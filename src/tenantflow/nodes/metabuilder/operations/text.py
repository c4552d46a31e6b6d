"""MetaBuilder's ``string.*`` (15) and ``convert.*`` (15) operations."""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime
from typing import Any
from urllib.parse import quote, unquote

from tenantflow.engine.expressions import UNDEFINED, js_truthy
from tenantflow.engine.expressions.dates import JSDate, _locale_date, _locale_time, new_date
from tenantflow.engine.expressions.values import format_json, parse_float, parse_int, parse_json_text

from .core import (
    ANY,
    ARRAY,
    BOOL,
    NUM,
    OBJECT,
    STR,
    TEXT,
    Args,
    Op,
    enum,
    fail,
    integer,
    is_nullish,
    num,
    p,
    require_list,
    text,
)

# --- string --------------------------------------------------------------------------------------------


def _utf16_length(value: str) -> int:
    """JS ``.length`` counts UTF-16 code units."""
    return len(value.encode("utf-16-le")) // 2


def js_join(values: list[Any], separator: Any) -> str:
    """``Array.prototype.join``: null and undefined become empty strings."""
    return text(separator).join("" if is_nullish(v) else text(v) for v in values)


def string_concat(a: Args) -> dict[str, Any]:
    return {"result": js_join(require_list(a["values"], "values"), a["separator"])}


def string_format(a: Args) -> dict[str, Any]:
    """``{key}`` placeholders from ``variables``; unknown placeholders are kept as written."""
    variables = a["variables"] if isinstance(a["variables"], dict) else {}

    def fill(match: re.Match[str]) -> str:
        return text(variables[match[1]]) if match[1] in variables else match[0]

    return {"result": re.sub(r"\{(\w+)\}", fill, text(a["template"]))}


def string_length(a: Args) -> dict[str, Any]:
    return {"result": _utf16_length(text(a["value"]))}


def string_lower(a: Args) -> dict[str, Any]:
    return {"result": text(a["value"]).lower()}


def string_upper(a: Args) -> dict[str, Any]:
    return {"result": text(a["value"]).upper()}


def string_trim(a: Args) -> dict[str, Any]:
    value, mode = text(a["value"]), a["mode"]
    trimmed = value.lstrip() if mode == "start" else value.rstrip() if mode == "end" else value.strip()
    return {"result": trimmed}


def string_replace(a: Args) -> dict[str, Any]:
    value, search, replacement = text(a["value"]), text(a["search"]), text(a["replacement"])
    return {"result": value.replace(search, replacement, -1 if js_truthy(a["all"]) else 1)}


def string_split(a: Args) -> dict[str, Any]:
    """JS ``split``: an empty separator splits into characters; ``limit`` keeps the first parts."""
    value, separator = text(a["value"]), text(a["separator"])
    parts = list(value) if separator == "" else value.split(separator)
    if a["limit"] is not UNDEFINED:
        parts = parts[: max(integer(a["limit"], 0), 0)]
    return {"result": parts}


def string_join(a: Args) -> dict[str, Any]:
    return {"result": js_join(require_list(a["values"], "values"), a["separator"])}


def string_substring(a: Args) -> dict[str, Any]:
    """JS ``substring``: bounds clamped to the string and swapped when reversed."""
    value = text(a["value"])
    start = min(max(integer(a["start"], 0), 0), len(value))
    end = min(max(integer(a["end"], len(value)), 0), len(value))
    return {"result": value[min(start, end) : max(start, end)]}


def string_includes(a: Args) -> dict[str, Any]:
    return {"result": text(a["search"]) in text(a["value"])}


def string_starts_with(a: Args) -> dict[str, Any]:
    return {"result": text(a["value"]).startswith(text(a["prefix"]))}


def string_ends_with(a: Args) -> dict[str, Any]:
    return {"result": text(a["value"]).endswith(text(a["suffix"]))}


def _padding(a: Args) -> tuple[str, str]:
    value, fill = text(a["value"]), text(a["fillString"])
    missing = integer(a["length"], 0) - len(value)
    if missing <= 0 or not fill:
        return value, ""
    return value, (fill * (missing // len(fill) + 1))[:missing]


def string_pad_start(a: Args) -> dict[str, Any]:
    value, pad = _padding(a)
    return {"result": pad + value}


def string_pad_end(a: Args) -> dict[str, Any]:
    value, pad = _padding(a)
    return {"result": value + pad}


_VALUE = p("value", TEXT, "", "text")
_PAD = (_VALUE, p("length", NUM), p("fillString", STR, " "))

STRING_OPS = (
    Op("string.concat", string_concat, (p("values", ARRAY, [], "strings"), p("separator", TEXT, ""))),
    Op("string.format", string_format, (p("template", STR, ""), p("variables", OBJECT, {}))),
    Op("string.length", string_length, (_VALUE,)),
    Op("string.lower", string_lower, (_VALUE,)),
    Op("string.upper", string_upper, (_VALUE,)),
    Op("string.trim", string_trim, (_VALUE, p("mode", enum("both", "start", "end"), "both"))),
    Op(
        "string.replace",
        string_replace,
        (_VALUE, p("search", TEXT, "", "old"), p("replacement", TEXT, "", "new"), p("all", BOOL, False)),
    ),
    Op("string.split", string_split, (_VALUE, p("separator", TEXT, ","), p("limit", NUM))),
    Op("string.join", string_join, (p("values", ARRAY, []), p("separator", TEXT, ","))),
    Op("string.substring", string_substring, (_VALUE, p("start", NUM, 0), p("end", NUM))),
    Op("string.includes", string_includes, (_VALUE, p("search", TEXT, ""))),
    Op("string.startsWith", string_starts_with, (_VALUE, p("prefix", TEXT, "")), ("string.starts_with",)),
    Op("string.endsWith", string_ends_with, (_VALUE, p("suffix", TEXT, "")), ("string.ends_with",)),
    Op("string.padStart", string_pad_start, _PAD, ("string.pad_start",)),
    Op("string.padEnd", string_pad_end, _PAD, ("string.pad_end",)),
)

# --- convert -------------------------------------------------------------------------------------------


def json_text(value: Any, indent: str = "") -> str:
    """``JSON.stringify`` (``undefined`` has no JSON text; MetaBuilder then yields ``"undefined"``)."""
    return "undefined" if value is UNDEFINED else format_json(value, indent)


def _or_default(value: int | float, default: Any) -> Any:
    return default if value != value else value


def convert_to_string(a: Args) -> dict[str, Any]:
    value = a["value"]
    if is_nullish(value):
        return {"result": ""}
    return {"result": json_text(value) if isinstance(value, dict | list) else text(value)}


def convert_to_number(a: Args) -> dict[str, Any]:
    return {"result": _or_default(num(a["value"]), a["default"])}


def convert_to_integer(a: Args) -> dict[str, Any]:
    return {"result": _or_default(parse_int(text(a["value"]), a["radix"]), a["default"])}


def convert_to_float(a: Args) -> dict[str, Any]:
    return {"result": _or_default(parse_float(text(a["value"])), a["default"])}


_TRUE_WORDS = frozenset({"true", "1", "yes", "on"})


def convert_to_boolean(a: Args) -> dict[str, Any]:
    """Strings are true only when they say so (true/1/yes/on); other values by JS truthiness."""
    value = a["value"]
    if isinstance(value, str):
        return {"result": value.strip().lower() in _TRUE_WORDS}
    return {"result": js_truthy(value)}


def _parse(value: str) -> Any:
    """JSON text's value, or ``UNDEFINED`` when it is not JSON."""
    try:
        return parse_json_text(value)
    except ValueError:
        return UNDEFINED


def convert_to_array(a: Args) -> dict[str, Any]:
    value = a["value"]
    if isinstance(value, list):
        return {"result": value}
    if is_nullish(value):
        return {"result": []}
    if isinstance(value, dict):
        return {"result": list(value.values())}
    if not isinstance(value, str):
        return {"result": [value]}
    parsed = _parse(value)
    if parsed is UNDEFINED:
        return {"result": [part.strip() for part in value.split(text(a["separator"]))]}
    return {"result": parsed if isinstance(parsed, list) else [parsed]}


def convert_to_object(a: Args) -> dict[str, Any]:
    value = a["value"]
    if isinstance(value, dict):
        return {"result": value}
    if isinstance(value, list):
        return {"result": {str(i): v for i, v in enumerate(value)}}
    if isinstance(value, str):
        parsed = _parse(value)
        if isinstance(parsed, dict):
            return {"result": parsed}
        return {"result": {"value": value if parsed is UNDEFINED else parsed}}
    return {"result": {} if is_nullish(value) else {"value": value}}


def convert_parse_json(a: Args) -> dict[str, Any]:
    value = a["value"]
    if not isinstance(value, str):
        return {"result": value}
    parsed = _parse(value)
    return {"result": a["default"] if parsed is UNDEFINED else parsed}


def convert_to_json(a: Args) -> dict[str, Any]:
    """``JSON.stringify``; the Python plugin's ``indent`` alone also asks for pretty output."""
    pretty = js_truthy(a["pretty"]) if a.given("pretty") else a.given("indent")
    spaces = " " * min(max(integer(a["indent"], 2), 0), 10)
    return {"result": json_text(a["value"], spaces if pretty else "")}


def _date(value: Any) -> JSDate:
    return new_date([]) if value is UNDEFINED else new_date([value])


def convert_parse_date(a: Args) -> dict[str, Any]:
    date = _date(a["value"])
    if date.utc() is None:
        return {"result": None, "valid": False}
    return {"result": date.iso_utc(), "timestamp": int(date.ms), "valid": True}


_DATE_FORMATS = ("iso", "date", "time", "locale", "localeDate", "localeTime", "timestamp", "unix")


def _formatted(date: JSDate, moment: datetime, form: str) -> str | int:
    """One of :data:`_DATE_FORMATS`, in UTC; anything else falls back to ISO."""
    iso = date.iso_utc()
    if form in ("timestamp", "unix"):
        return int(date.ms if form == "timestamp" else date.ms // 1000)
    renders = {
        "date": iso[:10],
        "time": iso[11:19],
        "locale": f"{_locale_date(moment)}, {_locale_time(moment)}",
        "localeDate": _locale_date(moment),
        "localeTime": _locale_time(moment),
    }
    return renders.get(form, iso)


def convert_format_date(a: Args) -> dict[str, Any]:
    date = _date(a["value"])
    moment = date.utc()
    if moment is None:
        raise fail(f"Invalid date: {text(a['value'])}")
    return {"result": _formatted(date, moment, text(a["format"]))}


def convert_base64_encode(a: Args) -> dict[str, Any]:
    value = a["value"]
    source = value if isinstance(value, str) else json_text(value)
    return {"result": base64.b64encode(source.encode("utf-8")).decode("ascii")}


def convert_base64_decode(a: Args) -> dict[str, Any]:
    try:
        decoded = base64.b64decode(text(a["value"]), validate=False)
    except (binascii.Error, ValueError) as exc:
        raise fail(f"Invalid base64 input: {exc}") from exc
    return {"result": decoded.decode("utf-8", errors="replace")}


_URI_COMPONENT_SAFE = "-_.!~*'()"
_URI_SAFE = _URI_COMPONENT_SAFE + ";,/?:@&=+$#"


def convert_url_encode(a: Args) -> dict[str, Any]:
    """``encodeURIComponent``, or ``encodeURI`` with ``component: false``."""
    safe = _URI_COMPONENT_SAFE if js_truthy(a["component"]) else _URI_SAFE
    return {"result": quote(text(a["value"]), safe=safe)}


def convert_url_decode(a: Args) -> dict[str, Any]:
    try:
        return {"result": unquote(text(a["value"]), errors="strict")}
    except UnicodeDecodeError as exc:
        raise fail(f"URI malformed: {text(a['value'])}") from exc


_ANY_VALUE = p("value", ANY, UNDEFINED, "text", "input")

CONVERT_OPS = (
    Op("convert.toString", convert_to_string, (_ANY_VALUE,), ("convert.to_string",)),
    Op("convert.toNumber", convert_to_number, (_ANY_VALUE, p("default", ANY, 0)), ("convert.to_number",)),
    Op("convert.toInteger", convert_to_integer, (_ANY_VALUE, p("default", ANY, 0), p("radix", NUM, 10))),
    Op("convert.toFloat", convert_to_float, (_ANY_VALUE, p("default", ANY, 0.0))),
    Op("convert.toBoolean", convert_to_boolean, (_ANY_VALUE,), ("convert.to_boolean",)),
    Op("convert.toArray", convert_to_array, (_ANY_VALUE, p("separator", TEXT, ","))),
    Op("convert.toObject", convert_to_object, (_ANY_VALUE,)),
    Op(
        "convert.parseJson",
        convert_parse_json,
        (_ANY_VALUE, p("default", ANY, None)),
        ("convert.parse_json",),
    ),
    Op(
        "convert.toJson",
        convert_to_json,
        (_ANY_VALUE, p("pretty", BOOL, False), p("indent", NUM, 2)),
        ("convert.to_json",),
    ),
    Op("convert.parseDate", convert_parse_date, (_ANY_VALUE,), ("convert.parse_date",)),
    Op(
        "convert.formatDate",
        convert_format_date,
        (_ANY_VALUE, p("format", enum(*_DATE_FORMATS), "iso")),
        ("convert.format_date",),
    ),
    Op("convert.base64Encode", convert_base64_encode, (_ANY_VALUE,), ("convert.base64_encode",)),
    Op("convert.base64Decode", convert_base64_decode, (_ANY_VALUE,), ("convert.base64_decode",)),
    Op(
        "convert.urlEncode",
        convert_url_encode,
        (_ANY_VALUE, p("component", BOOL, True)),
        ("convert.url_encode",),
    ),
    Op("convert.urlDecode", convert_url_decode, (_ANY_VALUE,), ("convert.url_decode",)),
)
