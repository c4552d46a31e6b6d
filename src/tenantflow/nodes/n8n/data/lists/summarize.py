"""Summarize (Item Lists "summarize" and the standalone Summarize node): a pivot table over the items.

Items are grouped by the split fields the way n8n does it: each value becomes a JS object key (objects as
their JSON text), so ``1`` and ``"1"`` share a group and groups come out in JS key order (integer-like keys
first). The per-version differences live in :class:`SummarizeRules`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tenantflow.engine.errors import NodeError
from tenantflow.engine.expressions import (
    UNDEFINED,
    is_number,
    js_less_than,
    js_num,
    js_string,
    js_truthy,
    string_to_number,
    to_json,
)
from tenantflow.engine.sdk import Items, NodeContext
from tenantflow.nodes.n8n.data.lists.operations import (
    dot_notation,
    is_js_object,
    js_keys,
    js_stringify,
    paired,
)
from tenantflow.nodes.n8n.data.set import FieldAccess

_PREFIXES = {
    "append": "appended_",
    "average": "average_",
    "concatenate": "concatenated_",
    "count": "count_",
    "countUnique": "unique_count_",
    "max": "max_",
    "min": "min_",
    "sum": "sum_",
}
_BRACKETS = re.compile(r"[\]\[\"]")
_SEPARATORS = re.compile(r"[ .]")

Row = dict[str, Any]
Getter = Callable[[Row, str], Any]


@dataclass(frozen=True)
class SummarizeRules:
    """What changed between Item Lists v1/v2/v3 and Summarize v1/v1.1."""

    numeric_only: frozenset[str]
    """Aggregations that ignore values that are not numbers."""
    math_extremes: bool = False
    """Item Lists v1/v2: min and max are ``Math.min``/``Math.max`` over the numbers."""
    count_empty_option: bool = False
    """Summarize node: count and count-unique honour "include empty values"."""
    sanitize_keys: bool = True
    """Output keys lose brackets and quotes and turn spaces and dots into ``_`` (all but Item Lists v1)."""
    original_types: bool = False
    """Summarize v1.1: the first split field keeps its type instead of becoming the group's key text."""


def summarize(ctx: NodeContext, items: Items, rules: SummarizeRules, *, require_fields: bool) -> Items:
    """``require_fields``: a summarized field present in no item is an error (else only logged)."""
    rows = [{**item.get("json", {}), "_itemIndex": i} for i, item in enumerate(items)]
    options = ctx.param("options", 0, {}) or {}
    split_by = [
        f.strip() for f in js_string(ctx.param("fieldsToSplitBy", 0, "") or "").split(",") if f.strip()
    ]
    entries = [
        entry for entry in ctx.param("fieldsToSummarize.values", 0, []) or [] if isinstance(entry, dict)
    ]
    if not any(js_string(entry.get("field", "")) != "" for entry in entries):
        raise NodeError(
            "You need to add at least one aggregation to 'Fields to Summarize' with non empty 'Field'"
        )
    access = FieldAccess(dot_notation(ctx))

    def get_value(row: Row, field: str) -> Any:
        return access.get(row, field)

    _check_fields(ctx, rows, entries, get_value, require_fields)
    single = options.get("outputFormat") == "singleItem"
    summary = _Summary(entries, get_value, rules, single, js_truthy(options.get("skipEmptySplitFields")))
    result = summary.split(split_by, rows)
    if single:
        return [{"json": to_json(result), "pairedItem": paired(range(len(items)))}]
    flat = [result] if not split_by else summary.to_rows(result, split_by, {}, rules.original_types)
    output: Items = []
    for row in flat:
        indexes = row.pop("pairedItems", [])
        output.append({"json": to_json(row), "pairedItem": paired(indexes)})
    return output


def _check_fields(
    ctx: NodeContext, rows: list[Row], entries: list[dict[str, Any]], get_value: Getter, require: bool
) -> None:
    for entry in entries:
        field = js_string(entry.get("field", ""))
        if field == "" or any(get_value(row, field) is not UNDEFINED for row in rows):
            continue
        message = f"The field '{field}' does not exist in any items"
        if require:
            raise NodeError(message)
        ctx.log("warn", message)


def _empty(value: Any) -> bool:
    return value is None or value is UNDEFINED or value == ""


def _unique_key(value: Any) -> Any:
    """A ``Set`` member's identity: primitives by type and value, objects by reference."""
    if isinstance(value, dict | list):
        return ("object", id(value))
    return (type(value) is bool, type(value) is str, value)


def _sanitize(key: str) -> str:
    return _SEPARATORS.sub("_", _BRACKETS.sub("", key))


def _sanitize_keys(result: dict[str, Any]) -> None:
    """n8n's ``parseReturnData``: two passes, each moving a renamed key to the end."""
    for pattern, replacement in ((_BRACKETS, ""), (_SEPARATORS, "_")):
        for key in list(result):
            if pattern.search(key):
                result[pattern.sub(replacement, key)] = result.pop(key)


def _original_value(key: str) -> Any:
    """A group key back as the value it came from: ``"null"`` is null, numeric text a number."""
    if key == "null":
        return None
    number = string_to_number(key)
    return key if number != number else number


class _Summary:
    def __init__(
        self,
        entries: list[dict[str, Any]],
        get_value: Getter,
        rules: SummarizeRules,
        single: bool,
        skip_empty: bool,
    ) -> None:
        self.entries = entries
        self.get_value = get_value
        self.rules = rules
        self.single = single
        self.skip_empty = skip_empty

    def split(self, keys: list[str], rows: list[Row]) -> dict[str, Any]:
        if not keys:
            return self.aggregate_all(rows)
        groups: dict[str, list[Row]] = {}
        for row in rows:
            value = self.get_value(row, keys[0])
            if is_js_object(value):
                value = js_stringify(value)
            if self.skip_empty and not is_number(value) and not js_truthy(value):
                continue
            groups.setdefault(js_string(value), []).append(row)
        return {key: self.split(keys[1:], groups[key]) for key in js_keys(groups)}

    def aggregate_all(self, rows: list[Row]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for entry in self.entries:
            kind = str(entry.get("aggregation") or "count")
            field = js_string(entry.get("field", ""))
            result[_PREFIXES.get(kind, "count_") + field] = self.aggregate(rows, entry, kind, field)
        if self.rules.sanitize_keys:
            _sanitize_keys(result)
        if not self.single:
            result["pairedItems"] = [row["_itemIndex"] for row in rows]
        return result

    def aggregate(self, rows: list[Row], entry: dict[str, Any], kind: str, field: str) -> Any:
        values = [self.get_value(row, field) for row in rows]
        if kind in self.rules.numeric_only:
            values = [value for value in values if is_number(value)]
        include_empty = js_truthy(entry.get("includeEmpty"))
        non_empty = [value for value in values if not _empty(value)]
        if kind == "append":
            return values if include_empty else non_empty
        if kind == "concatenate":
            return self._concatenate(values if include_empty else non_empty, entry)
        if kind in ("average", "sum"):
            total: int | float = 0
            for value in values:
                total += value
            if kind == "sum":
                return js_num(total)
            return js_num(total / len(values)) if values else float("nan")
        if kind in ("min", "max"):
            return self._extreme(values, kind == "min")
        counted = values if self.rules.count_empty_option and include_empty else non_empty
        if kind == "countUnique":
            return len({_unique_key(value) for value in counted})
        return len(counted)

    @staticmethod
    def _concatenate(values: list[Any], entry: dict[str, Any]) -> str:
        separator = entry.get("separateBy", ",")
        if separator == "other":
            separator = entry.get("customSeparator", "")
        parts = [js_stringify(v) if is_js_object(v) else js_string(v) for v in values]
        if separator is None or separator is UNDEFINED:
            separator = ","
        return js_string(separator).join(parts)

    def _extreme(self, values: list[Any], minimum: bool) -> Any:
        """Math.min/max (±Infinity when empty, serialised as null) or n8n's JS ``<``/``>`` scan."""
        if self.rules.math_extremes:
            if not values:
                return float("inf") if minimum else float("-inf")
            return js_num(min(values) if minimum else max(values))
        best: Any = UNDEFINED
        for value in values:
            if _empty(value):
                continue
            if best is UNDEFINED or (js_less_than(value, best) if minimum else js_less_than(best, value)):
                best = value
        return None if best is UNDEFINED else best

    def to_rows(
        self, result: dict[str, Any], fields: list[str], previous: Row, original_types: bool
    ) -> list[Row]:
        """n8n's ``aggregationToArray``: one row per leaf group, carrying each level's key."""
        names = [_sanitize(field) for field in fields] if self.rules.sanitize_keys else fields
        rows: list[Row] = []
        for key in result:
            label = _original_value(key) if original_types else key
            stage = {**previous, names[0]: label}
            if len(names) == 1:
                rows.append({**stage, **result[key]})
            else:
                rows.extend(self.to_rows(result[key], names[1:], stage, False))
        return rows
