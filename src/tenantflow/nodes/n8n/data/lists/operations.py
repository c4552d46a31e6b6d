"""The item-list operations shared by Item Lists (every version) and its standalone successors.

n8n implemented each operation once per Item Lists major version and again in Split Out, Aggregate, Limit,
Remove Duplicates, Sort and Rename Keys, with small behavioural differences that workflows depend on (a
missing field is an error in one version and an empty list in the next). Each operation is written once
(here; Summarize and Rename Keys in modules of their own); the per-version differences are explicit rule
objects chosen by the node classes in :mod:`tenantflow.nodes.n8n.data.lists`.

The lodash semantics n8n relies on are reproduced: ``get``/``set``/``unset`` paths (from
:mod:`tenantflow.nodes.n8n.data.set`), ``isEqual``, ``lt`` (numbers unless both sides are strings) and JS
object key order (integer-like keys first), which decides the order of ``Object.values`` and of groups.
"""

from __future__ import annotations

import copy
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cmp_to_key
from typing import Any

from tenantflow.engine.errors import ErrorCode, NodeError
from tenantflow.engine.expressions import (
    UNDEFINED,
    array_index,
    format_json,
    js_deep_equal,
    js_string,
    js_truthy,
    js_typeof,
    to_integer,
    to_json,
    to_number,
)
from tenantflow.engine.sdk import Item, Items, NodeContext
from tenantflow.nodes.n8n.code import run_js_comparator_sort
from tenantflow.nodes.n8n.data.set import FieldAccess, get_path, parse_path, set_path

NESTED_FIELD_HINT = (
    "If you're trying to use a nested field, "
    "make sure you turn off 'disable dot notation' in the node options"
)
_MAX_ARRAY_INDEX = 2**32 - 2

# --- JS and lodash semantics ------------------------------------------------------------------------------


def js_keys(obj: dict[str, Any]) -> list[str]:
    """``Object.keys`` order: array-index keys ascending, then the other keys in insertion order."""
    indexed: list[tuple[int, str]] = []
    named: list[str] = []
    for key in obj:
        index = array_index(key)
        if index is not None and index <= _MAX_ARRAY_INDEX:
            indexed.append((index, key))
        else:
            named.append(key)
    return [key for _, key in sorted(indexed)] + named


def js_stringify(value: Any) -> str:
    """``JSON.stringify`` of item data (compact, JS number formatting)."""
    return format_json(to_json(value))


def is_js_object(value: Any) -> bool:
    """``typeof value === 'object'`` for item data: dicts, lists and null."""
    return value is None or isinstance(value, dict | list)


def lodash_lt(a: Any, b: Any) -> bool:
    """lodash ``lt``: string order when both are strings, otherwise numeric (NaN compares false)."""
    if isinstance(a, str) and isinstance(b, str):
        return a < b
    return bool(to_number(a) < to_number(b))


def flatten_keys(data: Any, path: tuple[str, ...] = ()) -> list[str]:
    """n8n's ``flattenKeys``: the dotted path of every leaf (empty objects and lists have none)."""
    if not isinstance(data, dict | list):
        return [".".join(path)]
    keys = js_keys(data) if isinstance(data, dict) else [str(i) for i in range(len(data))]
    children = data if isinstance(data, dict) else {str(i): v for i, v in enumerate(data)}
    flat: list[str] = []
    for key in keys:
        for leaf in flatten_keys(children[key], (*path, key)):
            if leaf not in flat:
                flat.append(leaf)
    return flat


def pick(data: dict[str, Any], paths: Iterable[str]) -> dict[str, Any]:
    """lodash ``pick``: the listed paths (a key present verbatim wins over its dotted reading)."""
    picked: dict[str, Any] = {}
    for path in paths:
        value = get_path(data, path)
        if value is UNDEFINED:
            continue
        if len(parse_path(path, data)) == 1:
            picked[path] = copy.deepcopy(value)
        else:
            set_path(picked, path, copy.deepcopy(value))
    return picked


def js_slice(items: Items, start: Any, end: Any) -> Items:
    """``Array.prototype.slice`` with JS integer conversion and negative offsets."""
    length = len(items)

    def clamp(value: Any) -> int:
        number = to_integer(value)
        if number < 0:
            return int(max(length + number, 0))
        return int(min(number, length))

    return items[clamp(start) : clamp(end)]


# --- parameters -----------------------------------------------------------------------------------------


def field_list(value: Any) -> list[str]:
    """Field names as n8n accepts them: "a, b" text, a list, or a v1/v2 ``{fields: [{fieldName}]}``."""
    if isinstance(value, dict):
        return [js_string(entry.get("fieldName", "")) for entry in value.get("fields") or []]
    if isinstance(value, list):
        return [js_string(entry) for entry in value]
    if value is None or value is UNDEFINED:
        return []
    if not isinstance(value, str):
        raise NodeError(
            "The fields parameter must be a string of fields separated by commas or an array of strings.",
            code=ErrorCode.INVALID_PARAMETER,
        )
    return [entry.strip() for entry in value.split(",") if entry.strip()]


def dot_notation(ctx: NodeContext, item_index: int = 0) -> bool:
    return not js_truthy(ctx.param("options.disableDotNotation", item_index, False))


def missing_field_error(message: str, field: str, dot: bool, item_index: int | None = None) -> NodeError:
    """n8n's "field not found" error, hinting at dot notation when a dotted name was read literally."""
    description = NESTED_FIELD_HINT if "." in field and not dot else None
    details = {"itemIndex": item_index} if item_index is not None else None
    return NodeError(message, description=description, details=details)


def paired(indexes: Iterable[int]) -> list[dict[str, int]]:
    return [{"item": index} for index in indexes]


# --- split out ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SplitRules:
    """How one dialect splits a field into items."""

    legacy: bool = False
    """Item Lists v1: one field, lists only, a null element spreads into nothing."""
    missing_is_error: bool = False
    """Item Lists v1 and v2: a field absent from an item fails instead of yielding no items."""
    scalar_is_error: bool = False
    """Item Lists before v2.2: a value that is not a list or object fails instead of being one element."""
    standalone: bool = False
    """Split Out: ``$json.`` prefixes are dropped, ``$binary`` splits the binary data, binary can be kept."""


def split_out(ctx: NodeContext, items: Items, rules: SplitRules) -> Items:
    output: Items = []
    for i, item in enumerate(items):
        output.extend(_split_item(ctx, item, i, rules))
    return output


def _split_fields(ctx: NodeContext, i: int, rules: SplitRules) -> tuple[list[str], list[str]]:
    raw_field = js_string(ctx.param("fieldToSplitOut", i, ""))
    destination = js_string(ctx.param("options.destinationFieldName", i, "") or "")
    if rules.legacy:
        return [raw_field], [destination] if destination else []
    fields = [field.strip() for field in raw_field.split(",")]
    if rules.standalone:
        fields = [re.sub(r"^\$json\.", "", field) for field in fields]
    destinations = [name.strip() for name in destination.split(",") if name.strip()]
    if destinations and len(destinations) != len(fields):
        raise NodeError(
            "If multiple fields to split out are given, the same number of destination fields must be given",
            code=ErrorCode.INVALID_PARAMETER,
        )
    return fields, destinations


def _elements(item: Item, field: str, fields: FieldAccess, i: int, rules: SplitRules) -> list[Any]:
    """The values one field splits into, after n8n's per-version checks."""
    if rules.standalone and field == "$binary":
        return [{key: value} for key, value in (item.get("binary") or {}).items()]
    value = fields.get(item.get("json", {}), field)
    if value is UNDEFINED:
        if rules.missing_is_error or rules.legacy:
            raise missing_field_error(
                f"Couldn't find the field '{field}' in the input data", field, fields.dot_notation, i
            )
        value = []
    if rules.legacy and not isinstance(value, list):
        raise NodeError(f"The provided field '{field}' is not an array", details={"itemIndex": i})
    if not isinstance(value, dict | list):
        if rules.scalar_is_error:
            raise NodeError(
                f"The provided field '{field}' is not an array or object", details={"itemIndex": i}
            )
        value = [value]
    return [value[key] for key in js_keys(value)] if isinstance(value, dict) else list(value)


def _spread(element: Any) -> dict[str, Any]:
    """``{...element}``: an object's entries, a list's by index, nothing for null."""
    if isinstance(element, dict):
        return dict(element)
    if isinstance(element, list):
        return {str(i): v for i, v in enumerate(element)}
    return {}


def _split_item(ctx: NodeContext, item: Item, i: int, rules: SplitRules) -> Items:
    split_fields, destinations = _split_fields(ctx, i, rules)
    include = ctx.param("include", i, "noOtherFields")
    access = FieldAccess(dot_notation(ctx, i if rules.standalone else 0))
    entries: Items = []
    for position, field in enumerate(split_fields):
        destination = destinations[position] if destinations else ""
        for n, element in enumerate(_elements(item, field, access, i, rules)):
            if n == len(entries):
                entries.append({"json": {}, "pairedItem": {"item": i}})
            if rules.standalone and field == "$binary":
                entries[n].setdefault("binary", {}).update(element)
                continue
            spreads = isinstance(element, dict | list) or (rules.legacy and element is None)
            if spreads and include == "noOtherFields" and not destination and len(split_fields) == 1:
                entries[n]["json"].update(_spread(element))
            else:
                entries[n]["json"][destination or field] = element
    source = item.get("json", {})
    for entry in entries:
        _add_other_fields(ctx, entry, source, include, split_fields, access, i, rules)
        keep_binary = rules.standalone and js_truthy(ctx.param("options.includeBinary", i, False))
        if keep_binary and item.get("binary") and not entry.get("binary"):
            entry["binary"] = item["binary"]
        entry["json"] = copy.deepcopy(entry["json"])
    return entries


def _add_other_fields(
    ctx: NodeContext,
    entry: Item,
    source: dict[str, Any],
    include: Any,
    split_fields: list[str],
    access: FieldAccess,
    i: int,
    rules: SplitRules,
) -> None:
    if include == "allOtherFields":
        rest = copy.deepcopy(source)
        for field in split_fields:
            access.unset(rest, field)
        entry["json"] = {**rest, **entry["json"]}
    elif include == "selectedOtherFields":
        selected = field_list(ctx.param("fieldsToInclude", i, ""))
        if not selected:
            raise NodeError("No fields specified", description="Please add a field to include")
        for field in selected:
            value = access.get(source, field)
            if value is not UNDEFINED and not (rules.legacy and field in split_fields):
                entry["json"][field] = value


# --- aggregate ------------------------------------------------------------------------------------------


def aggregate(ctx: NodeContext, items: Items, *, require_fields: bool = False) -> Item:
    """Aggregate (Item Lists "concatenate"): one item holding lists built from every input item.

    ``require_fields`` is Item Lists v1/v2.0, where a field found in no item is an error.
    """
    if ctx.param("aggregate", 0, "aggregateIndividualFields") == "aggregateIndividualFields":
        result = _aggregate_fields(ctx, items, require_fields)
    else:
        result = _aggregate_all(ctx, items)
    if js_truthy(ctx.param("options.includeBinaries", 0, False)):
        sources = [items[p["item"]] for p in result["pairedItem"]]
        add_binaries(result, sources, js_truthy(ctx.param("options.keepOnlyUnique", 0, False)))
    return result


def _aggregate_entries(ctx: NodeContext) -> list[dict[str, Any]]:
    entries = ctx.param("fieldsToAggregate.fieldToAggregate", 0, []) or []
    if not entries:
        raise NodeError("No fields specified", description="Please add a field to aggregate")
    return [entry for entry in entries if isinstance(entry, dict)]


def _check_aggregated_fields(
    entries: list[dict[str, Any]], items: Items, access: FieldAccess, keep_missing: bool
) -> None:
    for entry in entries:
        field = js_string(entry.get("fieldToAggregate", ""))
        if field == "":
            raise NodeError("Field to aggregate is blank", description="Please add a field to aggregate")
        if any(access.get(item.get("json", {}), field) is not UNDEFINED for item in items):
            continue
        if not keep_missing or ("." in field and not access.dot_notation):
            raise missing_field_error(
                f"Couldn't find the field '{field}' in the input data", field, access.dot_notation
            )


def _aggregate_fields(ctx: NodeContext, items: Items, require_fields: bool) -> Item:
    access = FieldAccess(dot_notation(ctx))
    merge_lists = js_truthy(ctx.param("options.mergeLists", 0, False))
    keep_missing = js_truthy(ctx.param("options.keepMissing", 0, False))
    entries = _aggregate_entries(ctx)
    if require_fields:
        _check_aggregated_fields(entries, items, access, keep_missing)
    values: dict[str, list[Any]] = {}
    used: list[str] = []
    for entry in entries:
        field = js_string(entry.get("fieldToAggregate", ""))
        output_name = js_string(entry.get("outputFieldName") or "")
        label = output_name if js_truthy(entry.get("renameField")) else field
        if label in used:
            raise NodeError(
                f"The '{label}' output field is used more than once",
                description="Please make sure each output field name is unique",
            )
        used.append(label)
        if field == "":
            continue
        default_name = field.split(".")[-1] if access.dot_notation and "." in field else field
        collected: list[Any] = []
        for item in items:
            value = access.get(item.get("json", {}), field)
            if not keep_missing:
                if isinstance(value, list):
                    value = [entry for entry in value if entry is not None]
                elif value is None or value is UNDEFINED:
                    continue
            collected.extend(value) if merge_lists and isinstance(value, list) else collected.append(value)
        values[output_name or default_name] = collected
    data: dict[str, Any] = {}
    for key, collected in values.items():
        access.set(data, key, copy.deepcopy(collected))
    return {"json": to_json(data), "pairedItem": paired(range(len(items)))}


def _aggregate_all(ctx: NodeContext, items: Items) -> Item:
    destination = js_string(ctx.param("destinationFieldName", 0, "data"))
    exclude = field_list(ctx.param("fieldsToExclude", 0, ""))
    include = field_list(ctx.param("fieldsToInclude", 0, ""))
    rows: list[dict[str, Any]] = []
    kept: list[int] = []
    for index, item in enumerate(items):
        data = item.get("json", {})
        keys = [k for k in js_keys(data) if k not in exclude and (not include or k in include)]
        if (exclude or include) and not keys:
            continue
        rows.append({key: copy.deepcopy(data[key]) for key in keys})
        kept.append(index)
    return {"json": {destination: rows}, "pairedItem": paired(kept)}


def add_binaries(target: Item, sources: Items, unique_only: bool) -> None:
    """n8n's ``addBinariesToItem``: every source binary, renamed ``key_1``... on clashes."""
    seen: list[tuple[Any, ...]] = []
    for source in sources:
        for key, binary in (source.get("binary") or {}).items():
            signature = tuple(binary.get(k) for k in ("mimeType", "fileType", "fileSize", "fileExtension"))
            if unique_only:
                if signature in seen:
                    continue
                seen.append(signature)
            store = target.setdefault("binary", {})
            name, suffix = key, 1
            while name in store:
                name, suffix = f"{key}_{suffix}", suffix + 1
            store[name] = binary


# --- remove duplicates ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DedupeRules:
    """How one dialect orders and validates the compared values."""

    group_by_type: bool = False
    """Item Lists v3.1: values sort by JS type first, so mixed types dedupe instead of failing."""
    check_types: bool = True
    """A compared field whose JS type varies between items is an error."""
    skip_nulls: bool = False
    """Remove Duplicates v1.1+: null values are exempt from the missing/type checks."""


_TYPE_RANK = {"string": 1, "number": 2, "bigint": 3, "boolean": 4, "symbol": 5, "undefined": 6, "object": 7}


def _type_rank(value: Any) -> int:
    """n8n's ``typeToNumber``: the sort rank of a value's type (arrays and null apart from objects)."""
    if isinstance(value, list):
        return 9
    if value is None:
        return 10
    return _TYPE_RANK.get(js_typeof(value), 8)


def _compare_keys(ctx: NodeContext, items: Items, dot: bool) -> list[str]:
    def flat(item: Item) -> list[str]:
        data = item.get("json", {})
        return flatten_keys(data) if dot else js_keys(data)

    keys: list[str] = []
    for item in items:
        keys.extend(key for key in flat(item) if key not in keys)
    compare = ctx.param("compare", 0, "allFields")
    if compare == "allFieldsExcept":
        excluded = field_list(ctx.param("fieldsToExclude", 0, ""))
        if not excluded:
            raise NodeError("No fields specified. Please add a field to exclude from comparison")
        base = flat(items[0]) if dot else keys
        return [key for key in base if key not in excluded]
    if compare == "selectedFields":
        selected = field_list(ctx.param("fieldsToCompare", 0, ""))
        if not selected:
            raise NodeError("No fields specified. Please add a field to compare on")
        return [key.strip() for key in selected]
    return keys


def _dedupe_order(values: list[list[Any]], rules: DedupeRules) -> list[int]:
    def compare(a: int, b: int) -> int:
        for left, right in zip(values[a], values[b], strict=True):
            if rules.group_by_type and _type_rank(left) != _type_rank(right):
                return _type_rank(left) - _type_rank(right)
            if not js_deep_equal(left, right):
                return -1 if lodash_lt(left, right) else 1
        return 0

    return sorted(range(len(values)), key=cmp_to_key(compare))


def _validate_compared(
    keys: list[str], values: list[list[Any]], order: list[int], dot: bool, rules: DedupeRules
) -> None:
    for position, key in enumerate(keys):
        seen_type: str | None = None
        for rank, index in enumerate(order):
            if key == "":
                raise NodeError("Name of field to compare is blank")
            value = values[index][position]
            if value is None and rules.skip_nulls:
                continue
            if value is UNDEFINED:
                raise missing_field_error(f"'{key}' field is missing from some input items", key, dot)
            value_type = js_typeof(value)
            if rules.check_types and seen_type is not None and seen_type != value_type:
                description = "The type of this field varies between items"
                if rules.skip_nulls:
                    description += (
                        f", in item [{rank - 1}] it's a {seen_type} and in item [{rank}] it's a {value_type} "
                    )
                raise NodeError(f"'{key}' isn't always the same type", description=description)
            seen_type = value_type


def remove_duplicates(ctx: NodeContext, items: Items, rules: DedupeRules) -> Items:
    """Keep the first of each group of items whose compared fields are equal (lodash ``isEqual``).

    n8n sorts by the compared values and drops neighbours equal to the last kept one; doing the same keeps
    its results (and its errors) for values lodash cannot order consistently.
    """
    if not items:
        return []
    dot = dot_notation(ctx)
    keys = _compare_keys(ctx, items, dot)
    access = FieldAccess(dot)
    values = [[access.get(item.get("json", {}), key) for key in keys] for item in items]
    order = _dedupe_order(values, rules)
    _validate_compared(keys, values, order, dot, rules)
    removed: set[int] = set()
    kept = order[0]
    for index in order[1:]:
        if all(js_deep_equal(a, b) for a, b in zip(values[index], values[kept], strict=True)):
            removed.add(index)
        else:
            kept = index
    survivors = [(i, item) for i, item in enumerate(items) if i not in removed]
    if js_truthy(ctx.param("options.removeOtherFields", 0, False)):
        return [
            {"json": pick(item.get("json", {}), keys), "pairedItem": {"item": n}}
            for n, (_, item) in enumerate(survivors)
        ]
    return [{**item, "pairedItem": {"item": i}} for i, item in survivors]


# --- sort and limit -------------------------------------------------------------------------------------


def _sort_value(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


async def sort_items(ctx: NodeContext, items: Items) -> Items:
    """Sort simply (by fields, strings case-insensitively), randomly, or by a JavaScript comparator."""
    sort_type = ctx.param("type", 0, "simple")
    if sort_type == "random":
        shuffled = list(items)
        random.shuffle(shuffled)
        return shuffled
    if sort_type == "code":
        return await run_js_comparator_sort(items, str(ctx.raw_param("code", "")))
    access = FieldAccess(dot_notation(ctx))
    sort_fields = (ctx.param("sortFieldsUi", 0, {}) or {}).get("sortField") or []
    if not sort_fields:
        raise NodeError("No sorting specified. Please add a field to sort by")
    names = [js_string(field.get("fieldName", "")) for field in sort_fields]
    for name in names:
        if all(_lookup(access, item, name) is UNDEFINED for item in items):
            raise missing_field_error(
                f"Couldn't find the field '{name}' in the input data", name, access.dot_notation
            )
    directions = [1 if field.get("order", "ascending") == "ascending" else -1 for field in sort_fields]
    keyed = [[_sort_value(_lookup(access, item, name)) for name in names] for item in items]

    def compare(a: int, b: int) -> int:
        for left, right, direction in zip(keyed[a], keyed[b], directions, strict=True):
            if not js_deep_equal(left, right):
                return -direction if lodash_lt(left, right) else direction
        return 0

    return [items[i] for i in sorted(range(len(items)), key=cmp_to_key(compare))]


def _lookup(access: FieldAccess, item: Item, name: str) -> Any:
    data = item.get("json", {})
    if access.dot_notation:
        return access.get(data, name)
    return data.get(name, UNDEFINED)


def limit_items(ctx: NodeContext, items: Items) -> Items:
    max_items = ctx.param("maxItems", 0, 1)
    if to_number(max_items) > len(items):
        return list(items)
    if ctx.param("keep", 0, "firstItems") == "firstItems":
        return js_slice(items, 0, max_items)
    return js_slice(items, len(items) - to_number(max_items), len(items))
