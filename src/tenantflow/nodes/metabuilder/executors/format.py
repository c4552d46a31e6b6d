"""The MetaBuilder ``transform`` node's reshaping steps: flatten, group by a field and render as text.

The renderings follow MetaBuilder's executor (spec §4.1) because downstream steps of its workflows parse or
forward the text: JSON pretty-printed with 2 spaces, CSV with a header from the first row, XML under a
``<root>`` element with ``<item>`` per array element, and a small YAML subset (quoted strings, ``- `` items).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from xml.sax.saxutils import escape

from tenantflow.engine.expressions import UNDEFINED, format_json, js_string
from tenantflow.nodes.n8n.data.set import get_path

XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'
_XML_NAME_BAD = re.compile(r"[^A-Za-z0-9_.-]")
_CSV_SPECIAL = re.compile(r'[,"\r\n]')


# --- flatten and groupBy -------------------------------------------------------------------------------


def flatten(value: Any) -> Any:
    """Objects become one level of ``a.b`` / ``a[0].b`` keys; a list is flattened element by element."""
    if isinstance(value, list):
        return [flatten(element) for element in value]
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        _flatten_into(flat, "", value)
        return flat
    return value


def _flatten_into(flat: dict[str, Any], prefix: str, value: Any) -> None:
    if isinstance(value, dict) and value:
        for key, child in value.items():
            _flatten_into(flat, f"{prefix}.{key}" if prefix else str(key), child)
    elif isinstance(value, list) and value and prefix:
        for index, child in enumerate(value):
            _flatten_into(flat, f"{prefix}[{index}]", child)
    else:
        flat[prefix] = value


def group_by(rows: list[Any], field: str) -> dict[str, list[Any]]:
    """Rows keyed by ``String(row[field])`` in first-seen order; a missing or null field groups as "null"."""
    groups: dict[str, list[Any]] = {}
    for row in rows:
        key = get_path(row, field) if isinstance(row, dict | list) else UNDEFINED
        groups.setdefault("null" if key is None or key is UNDEFINED else js_string(key), []).append(row)
    return groups


# --- text formats --------------------------------------------------------------------------------------


def to_json_text(value: Any) -> str:
    return format_json(value, "  ")


def to_csv(value: Any) -> str:
    """A header from the first row's keys, then one line per row; scalars rows become a ``value`` column."""
    rows = [row if isinstance(row, dict) else {"value": row} for row in _as_list(value)]
    if not rows:
        return ""
    header = list(rows[0])
    lines = [",".join(_csv_field(name) for name in header)]
    lines.extend(",".join(_csv_field(_cell(row.get(name))) for name in header) for row in rows)
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return format_json(value)
    return js_string(value)


def _csv_field(text: str) -> str:
    return f'"{text.replace(chr(34), chr(34) * 2)}"' if _CSV_SPECIAL.search(text) else text


def to_xml(value: Any) -> str:
    return f"{XML_DECLARATION}\n<root>{_xml_content(value)}</root>"


def _xml_content(value: Any) -> str:
    if isinstance(value, list):
        return "".join(f"<item>{_xml_content(element)}</item>" for element in value)
    if isinstance(value, dict):
        parts = []
        for key, child in value.items():
            name = _xml_name(str(key))
            parts.append(f"<{name}>{_xml_content(child)}</{name}>")
        return "".join(parts)
    return "" if value is None else escape(js_string(value))


def _xml_name(key: str) -> str:
    """A key made a legal element name: other characters become ``_``; a leading digit gets a ``_``."""
    name = _XML_NAME_BAD.sub("_", key) or "_"
    return f"_{name}" if not (name[0].isalpha() or name[0] == "_") else name


def to_yaml(value: Any) -> str:
    return "\n".join(_yaml_lines(value, ""))


def _yaml_scalar(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if value == {}:
        return "{}"
    if value == []:
        return "[]"
    return format_json(value)


def _is_block(value: Any) -> bool:
    return isinstance(value, dict | list) and bool(value)


def _yaml_lines(value: Any, indent: str) -> list[str]:
    if isinstance(value, dict) and value:
        lines: list[str] = []
        for key, child in value.items():
            if _is_block(child):
                lines.append(f"{indent}{key}:")
                lines.extend(_yaml_lines(child, indent + "  "))
            else:
                lines.append(f"{indent}{key}: {_yaml_scalar(child)}")
        return lines
    if isinstance(value, list) and value:
        return [line for element in value for line in _yaml_item(element, indent)]
    return [f"{indent}{_yaml_scalar(value)}"]


def _yaml_item(element: Any, indent: str) -> list[str]:
    """``- `` then the element; a nested block continues on the following lines, indented under the dash."""
    if not _is_block(element):
        return [f"{indent}- {_yaml_scalar(element)}"]
    nested = _yaml_lines(element, indent + "  ")
    return [f"{indent}- {nested[0].lstrip()}", *nested[1:]]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


FORMATS: dict[str, Callable[[Any], str]] = {
    "json": to_json_text,
    "csv": to_csv,
    "xml": to_xml,
    "yaml": to_yaml,
}
