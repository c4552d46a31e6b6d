"""The Compare Datasets node: match items of two inputs by key fields and sort them into four outputs.

Outputs, in n8n's order: "In A only", "Same", "Different", "In B only". How a differing pair is reported
depends on ``resolve``: one side's item, a mix of both, or (``includeBoth``) n8n's ``{keys, same,
different, skipped}`` report. The version gates reproduce n8n's fixes: 2.0 renamed ``input1/2`` to
``inputA/B`` and turned missing values into ``null``, 2.1 made fuzzy comparison consider keys present on one
side only, 2.3 stopped a falsy "except" value in ``mix`` from becoming ``null``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tenantflow.engine.definition import NodeDefinition
from tenantflow.engine.errors import ErrorCode, NodeError
from tenantflow.engine.expressions import UNDEFINED, js_truthy
from tenantflow.engine.expressions.values import js_deep_equal
from tenantflow.engine.sdk import Item, Items, NodeContext, NodeType
from tenantflow.nodes.n8n.core import BOOLEAN, STRING, object_schema, one_of
from tenantflow.nodes.n8n.data.set import get_path, set_path, unset_path
from tenantflow.nodes.n8n.flow.merge import fuzzy_equals

Equals = Callable[[Any, Any], bool]

_FIELD_PAIRS = object_schema(
    {
        "values": {
            "type": "array",
            "items": object_schema({"field1": STRING, "field2": STRING}),
        }
    }
)
_SCHEMA = object_schema(
    {
        "mergeByFields": _FIELD_PAIRS,
        "resolve": one_of("preferInput1", "preferInput2", "mix", "includeBoth"),
        "preferWhenMix": one_of("input1", "input2"),
        "exceptWhenMix": {"type": ["string", "array"]},
        "fuzzyCompare": BOOLEAN,
        "options": object_schema(
            {
                "fuzzyCompare": BOOLEAN,
                "disableDotNotation": BOOLEAN,
                "multipleMatches": one_of("first", "all"),
                "skipFields": STRING,
            }
        ),
    }
)


@dataclass(frozen=True)
class _Settings:
    version: float
    resolve: str
    fuzzy: bool
    dot_notation: bool
    all_matches: bool
    skip_fields: list[str]
    prefer: str
    except_fields: list[str]

    @property
    def equals(self) -> Equals:
        if not self.fuzzy:
            return js_deep_equal
        return _fuzzy_v2 if self.version >= 2 else fuzzy_equals


def _fuzzy_v2(a: Any, b: Any) -> bool:
    """Version 2's fuzzy compare adds one rule to version 1's: null equals 0 and "0"."""
    if a is None and (b is None or b == 0 or b == "0") and not isinstance(b, bool):
        return True
    if b is None and (a == 0 or a == "0") and not isinstance(a, bool):
        return True
    return fuzzy_equals(a, b)


class CompareDatasets(NodeType):
    """Sorts two datasets into only-in-A, same, different and only-in-B by matching key fields."""

    cpu_only = True
    type = "n8n-nodes-base.compareDatasets"
    versions = (1, 2, 2.1, 2.2, 2.3)
    display_name = "Compare Datasets"
    description = "Compare two inputs for changes."
    aliases = ("compareDatasets",)
    parameters_schema = _SCHEMA

    def input_count(self, node: NodeDefinition) -> int:
        return 2

    def output_count(self, node: NodeDefinition) -> int | None:
        return 4

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        input1 = list(inputs[0]) if inputs else []
        input2 = list(inputs[1]) if len(inputs) > 1 else []
        settings = _settings(ctx)
        return _compare(input1, input2, _field_pairs(ctx.param("mergeByFields.values", 0, [])), settings)


def _settings(ctx: NodeContext) -> _Settings:
    version = ctx.node.type_version
    options = ctx.param("options", 0, {}) or {}
    resolve = ctx.param("resolve", 0, "preferInput2" if version < 2 else "includeBoth")
    return _Settings(
        version=version,
        resolve=str(resolve),
        fuzzy=bool(ctx.param("fuzzyCompare", 0, False) or options.get("fuzzyCompare", False)),
        dot_notation=not options.get("disableDotNotation", False),
        all_matches=options.get("multipleMatches", "first") == "all",
        skip_fields=_comma_list(options.get("skipFields", "")),
        prefer=str(ctx.param("preferWhenMix", 0, "input1")),
        except_fields=_comma_list(ctx.param("exceptWhenMix", 0, "")),
    )


def _comma_list(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    return [part.strip() for part in str(value or "").split(",") if part.strip()]


def _field_pairs(raw: Any) -> list[tuple[str, str]]:
    pairs = [
        (str(p.get("field1") or ""), str(p.get("field2") or "")) for p in raw or [] if isinstance(p, dict)
    ]
    if not pairs or any(not a or not b for a, b in pairs):
        raise NodeError(
            'You need to define both fields in "Fields to Match"', code=ErrorCode.INVALID_PARAMETER
        )
    return pairs


def _lookup(data: dict[str, Any], name: str, settings: _Settings) -> Any:
    return get_path(data, name) if settings.dot_notation else data.get(name, UNDEFINED)


def _compare(input1: Items, input2: Items, pairs: list[tuple[str, str]], settings: _Settings) -> list[Items]:
    """n8n's ``findMatches`` plus the sorting of matched pairs into same and different."""
    only_a: Items = []
    same: Items = []
    different: Items = []
    matched_b: set[int] = set()
    for item in input1:
        data = item.get("json", {})
        wanted = {field2: _lookup(data, field1, settings) for field1, field2 in pairs}
        if any(value is UNDEFINED for value in wanted.values()):
            only_a.append(item)
            continue
        found = [
            index
            for index, candidate in enumerate(input2)
            if all(
                settings.equals(v, _lookup(candidate.get("json", {}), k, settings)) for k, v in wanted.items()
            )
        ]
        if not found:
            only_a.append(item)
            continue
        used = found if settings.all_matches else found[:1]  # a later match left unused stays "In B only"
        matched_b.update(used)
        _sort_pair(item, [input2[i] for i in used], pairs, settings, same, different)
    only_b = [item for index, item in enumerate(input2) if index not in matched_b]
    return [only_a, same, different, only_b]


def _sort_pair(
    entry: Item,
    matches: Items,
    pairs: list[tuple[str, str]],
    settings: _Settings,
    same: Items,
    different: Items,
) -> None:
    same_item: Item | None = None
    for match in matches:
        if _items_equal(entry.get("json", {}), match.get("json", {}), settings):
            if same_item is None:
                same_item = match if settings.fuzzy and settings.resolve == "preferInput2" else entry
        else:
            different.append(_resolve_different(entry, match, pairs, settings))
    if same_item is not None:
        same.append(same_item)


def _without(data: dict[str, Any], paths: list[str]) -> dict[str, Any]:
    """lodash ``omit`` with deep paths, on a copy."""
    result = copy.deepcopy(data)
    for path in paths:
        unset_path(result, path)
    return result


def _items_equal(a: dict[str, Any], b: dict[str, Any], settings: _Settings) -> bool:
    if settings.skip_fields:
        a, b = _without(a, settings.skip_fields), _without(b, settings.skip_fields)
    if not settings.fuzzy:
        return js_deep_equal(a, b)
    keys = _union(a, b) if settings.version >= 2.1 else list(a)
    return all(settings.equals(a.get(k, UNDEFINED), b.get(k, UNDEFINED)) for k in keys)


def _union(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    return list(a) + [key for key in b if key not in a]


def _resolve_different(entry: Item, match: Item, pairs: list[tuple[str, str]], settings: _Settings) -> Item:
    if settings.resolve == "preferInput1":
        return entry
    if settings.resolve == "preferInput2":
        return match
    if settings.resolve == "mix":
        return _mix(entry, match, settings)
    return {"json": _report(entry.get("json", {}), match.get("json", {}), pairs, settings)}


def _mix(entry: Item, match: Item, settings: _Settings) -> Item:
    """The preferred side's item with the "except" fields taken from the other side."""
    preferred, other = (entry, match) if settings.prefer == "input1" else (match, entry)
    data = copy.deepcopy(preferred.get("json", {}))
    source = other.get("json", {})
    for name in settings.except_fields:
        if not settings.dot_notation:
            data[name] = source.get(name)
            continue
        value = get_path(source, name)
        if settings.version < 2.3 and not js_truthy(value):
            value = None  # n8n before 2.3 wrote ``value || null``, losing 0, "" and false
        set_path(data, name, None if value is UNDEFINED else value)
    return {**preferred, "json": data}


def _report(
    a: dict[str, Any], b: dict[str, Any], pairs: list[tuple[str, str]], settings: _Settings
) -> dict[str, Any]:
    """n8n's ``compareItems``: the key values, the fields both sides share and how the others differ."""
    equals = settings.equals
    all_keys = _union(a, b)
    compared = all_keys if settings.fuzzy and settings.version >= 2.1 else [k for k in a if k in b]
    same = {k: a.get(k, UNDEFINED) for k in compared if equals(a.get(k, UNDEFINED), b.get(k, UNDEFINED))}
    names = ("inputA", "inputB") if settings.version >= 2 else ("input1", "input2")
    different: dict[str, Any] = {}
    skipped: dict[str, Any] = {}
    for key in (k for k in all_keys if k not in same):  # a key "same" as a missing one stays out of both
        value_a, value_b = a.get(key, UNDEFINED), b.get(key, UNDEFINED)
        if key in settings.skip_fields:
            skipped[key] = _defined({names[0]: value_a, names[1]: value_b})
            continue
        inner = [path[len(key) + 1 :] for path in settings.skip_fields if path.startswith(key + ".")]
        if inner and isinstance(value_a, dict) and isinstance(value_b, dict):
            skipped[key] = {names[0]: _pick(value_a, inner), names[1]: _pick(value_b, inner)}
            value_a, value_b = _without(value_a, inner), _without(value_b, inner)
        different[key] = _defined(
            {names[0]: _nullish(value_a, settings), names[1]: _nullish(value_b, settings)}
        )
    keys = {field1: a.get(field1, UNDEFINED) for field1, _ in pairs}
    report = {"keys": _defined(keys), "same": _defined(same), "different": different}
    if skipped:
        report["skipped"] = skipped
    return report


def _defined(data: dict[str, Any]) -> dict[str, Any]:
    """Drop undefined values, as JSON serialisation of n8n's objects does."""
    return {key: value for key, value in data.items() if value is not UNDEFINED}


def _pick(data: dict[str, Any], paths: list[str]) -> dict[str, Any]:
    """lodash ``pick`` with deep paths."""
    picked: dict[str, Any] = {}
    for path in paths:
        value = get_path(data, path)
        if value is not UNDEFINED:
            set_path(picked, path, copy.deepcopy(value))
    return picked


def _nullish(value: Any, settings: _Settings) -> Any:
    """Version 2 reports a field missing on one side as ``null``; version 1 leaves it out."""
    return None if value is UNDEFINED and settings.version >= 2 else value


NODE_TYPES: list[type[NodeType]] = [CompareDatasets]
