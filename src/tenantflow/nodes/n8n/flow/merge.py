"""The Merge node: combine the items of two or more inputs, in n8n's v1, v2/v2.1 and v3-3.2 dialects.

The executor runs Merge once, when every input has resolved; an input that got nothing arrives as an
empty list. Merged JSON follows lodash's ``merge`` (deep, lists merged by index) or ``assign`` (shallow)
because that is what decides which value survives a clash in n8n.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tenantflow.engine.definition import NodeDefinition
from tenantflow.engine.errors import ErrorCode, NodeError
from tenantflow.engine.expressions import UNDEFINED, js_deep_equal, js_string, js_truthy, js_typeof
from tenantflow.engine.sdk import Item, Items, NodeContext, NodeType
from tenantflow.nodes.n8n.core import BOOLEAN, NUMBER, STRING, object_schema, one_of
from tenantflow.nodes.n8n.data.set import get_path

# --- lodash merge -----------------------------------------------------------------------------------------

_KEEP = object()
"""A customizer's "no opinion": fall back to the default merge of that key."""

Customizer = Callable[[Any, Any], Any]


def _entries(container: dict[str, Any] | list[Any]) -> list[tuple[str | int, Any]]:
    return list(container.items()) if isinstance(container, dict) else list(enumerate(container))


def _child(container: dict[str, Any] | list[Any], key: str | int) -> Any:
    if isinstance(container, dict):
        return container.get(str(key), UNDEFINED)
    if isinstance(key, int) and key < len(container):
        return container[key]
    return UNDEFINED


def _store(container: dict[str, Any] | list[Any], key: str | int, value: Any) -> None:
    if isinstance(container, dict):
        container[str(key)] = value
    elif isinstance(key, int):
        container.extend([None] * (key + 1 - len(container)))
        container[key] = value
    # a string key on a list is a JS array property, which JSON drops


def _merge_into(target: dict[str, Any] | list[Any], source: Any, customizer: Customizer | None) -> None:
    """lodash ``baseMerge``: fold ``source`` into ``target`` in place."""
    if not isinstance(source, dict | list):
        return
    for key, src_value in _entries(source):
        obj_value = _child(target, key)
        new_value = customizer(obj_value, src_value) if customizer else _KEEP
        if new_value is _KEEP:
            if isinstance(src_value, list):
                new_value = obj_value if isinstance(obj_value, list) else []
                _merge_into(new_value, src_value, customizer)
            elif isinstance(src_value, dict):
                new_value = obj_value if isinstance(obj_value, dict | list) else {}
                _merge_into(new_value, src_value, customizer)
            else:
                new_value = src_value
        if new_value is not UNDEFINED or _child(target, key) is UNDEFINED:
            _store(target, key, new_value)


def deep_merge(*objects: Any, customizer: Customizer | None = None) -> dict[str, Any]:
    """lodash ``merge({}, ...objects)`` (``mergeWith`` when a customizer is given); inputs stay untouched."""
    result: dict[str, Any] = {}
    for obj in objects:
        _merge_into(result, copy.deepcopy(obj), customizer)
    return result


def shallow_merge(*objects: Any, customizer: Customizer | None = None) -> dict[str, Any]:
    """lodash ``assign({}, ...objects)`` (``assignWith`` when a customizer is given)."""
    result: dict[str, Any] = {}
    for obj in objects:
        for key, value in (obj or {}).items():
            kept = customizer(result.get(key, UNDEFINED), value) if customizer else _KEEP
            result[key] = copy.deepcopy(value) if kept is _KEEP else kept
    return result


def _prefer_filled(target_value: Any, src_value: Any) -> Any:
    """The "minimize empty fields" customizer: an empty source value does not overwrite a present one."""
    if (src_value is None or src_value is UNDEFINED or src_value == "") and target_value is not UNDEFINED:
        return target_value
    return _KEEP


MergeFn = Callable[..., dict[str, Any]]


def select_merge_method(clash: Mapping[str, Any]) -> MergeFn:
    """n8n's ``selectMergeMethod``: deep (default) or shallow, optionally keeping filled values."""
    customizer = _prefer_filled if js_truthy(clash.get("overrideEmpty")) else None
    method = shallow_merge if clash.get("mergeMode") == "shallowMerge" else deep_merge

    def merge(*objects: Any) -> dict[str, Any]:
        return method(*objects, customizer=customizer)

    return merge


# --- item helpers -----------------------------------------------------------------------------------------


def paired_items(*items: Item) -> list[Any]:
    """n8n's ``preparePairedItemDataArray`` over several items, flattened."""
    result: list[Any] = []
    for item in items:
        paired = item.get("pairedItem")
        if paired is None:
            continue
        if isinstance(paired, int):
            result.append({"item": paired})
        elif isinstance(paired, list):
            result.extend(paired)
        else:
            result.append(paired)
    return result


def _combined(json_data: dict[str, Any], binaries: list[Any], sources: list[Item]) -> Item:
    """A merged output item; binary only when an input carried some."""
    item: Item = {"json": json_data, "pairedItem": paired_items(*sources)}
    binary = deep_merge(*[b for b in binaries if b])
    if binary:
        item["binary"] = binary
    return item


def add_suffix(items: Items, suffix: str) -> Items:
    """Rename every top-level key to ``key_suffix`` (clash handling "add input number suffix")."""
    return [{**item, "json": {f"{k}_{suffix}": v for k, v in item["json"].items()}} for item in items]


def _add_source(items: Items, source: str) -> Items:
    return [{**item, "json": {**item["json"], "_source": source}} for item in items]


def _cross(input1: Items, input2: Items, merge: MergeFn) -> Items:
    """Every pairing of an input-1 item with an input-2 item (multiplex / combine all)."""
    return [
        _combined(merge(a["json"], b["json"]), [a.get("binary"), b.get("binary")], [a, b])
        for a in input1
        for b in input2
    ]


def _clash_options(ctx: NodeContext) -> dict[str, Any]:
    values = ctx.param("options.clashHandling.values", 0, {}) or {}
    return dict(values) if isinstance(values, dict) else {}


def _orient(input1: Items, input2: Items, clash: Mapping[str, Any]) -> tuple[Items, Items]:
    """Order (and suffix) two inputs so that the later one wins a clash, as v2 multiplex/position do."""
    if clash.get("resolveClash") == "preferInput1":
        input1, input2 = input2, input1
    if clash.get("resolveClash") == "addSuffix":
        input1, input2 = add_suffix(input1, "1"), add_suffix(input2, "2")
    return input1, input2


# --- fuzzy comparison -------------------------------------------------------------------------------------


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def _json_equals_text(text: str, value: Any) -> bool:
    try:
        return js_deep_equal(json.loads(text), value)
    except ValueError:
        return False


_BOOL_TEXT = {True: ("true", "1"), False: ("false", "0")}


def _fuzzy_mixed(a: Any, b: Any) -> bool | None:
    """The cross-type rules of n8n's fuzzy compare, tried with ``a`` on the left; None: no rule applies."""
    ta, tb = js_typeof(a), js_typeof(b)
    if ta == "number" and tb == "string":
        return bool(js_string(a) == b)
    if ta == "object" and a is not None and tb == "string":
        return _json_equals_text(b, a)
    if ta == "boolean" and tb == "string":
        return bool(b.lower() == _BOOL_TEXT[a][0] or b == _BOOL_TEXT[a][1])
    if ta == "boolean" and tb == "number":
        return bool(b == (1 if a else 0))
    return None


def fuzzy_equals(a: Any, b: Any) -> bool:
    """n8n's ``fuzzyCompare(true)``: equal types compare strictly; otherwise loose, documented coercions."""
    if a is not None and b is not None and js_typeof(a) == js_typeof(b):
        return js_deep_equal(a, b)
    if _empty(a) and _empty(b):
        return True
    if (_empty(a) and b is UNDEFINED) or (a is UNDEFINED and _empty(b)):
        return True
    for left, right in ((a, b), (b, a)):
        verdict = _fuzzy_mixed(left, right)
        if verdict is not None:
            return verdict
    return js_deep_equal(a, b)


# --- combine by matching fields ---------------------------------------------------------------------------


@dataclass
class _Matches:
    matched: list[tuple[Item, Items]] = field(default_factory=list)
    matched2: Items = field(default_factory=list)
    unmatched1: Items = field(default_factory=list)
    unmatched2: Items = field(default_factory=list)


@dataclass(frozen=True)
class _MatchSettings:
    join_mode: str
    output_from: str
    fuzzy: bool
    dot_notation: bool
    first_only: bool


def _field(item: Item, name: str, dot_notation: bool) -> Any:
    data = item.get("json", {})
    return get_path(data, name) if dot_notation else data.get(name, UNDEFINED)


def _is_match(candidate: Item, lookup: dict[str, Any], settings: _MatchSettings) -> bool:
    equals = fuzzy_equals if settings.fuzzy else js_deep_equal
    return all(equals(value, _field(candidate, key, settings.dot_notation)) for key, value in lookup.items())


def find_matches(
    input1: Items, input2: Items, pairs: list[tuple[str, str]], settings: _MatchSettings
) -> _Matches:
    """n8n's ``findMatches``: pair input-1 items with the input-2 items whose fields equal theirs."""
    result = _Matches()
    matched_in_2: set[int] = set()
    split_matches = settings.output_from == "both" or settings.join_mode in ("enrichInput1", "enrichInput2")
    for entry in input1:
        lookup = {field2: _field(entry, field1, settings.dot_notation) for field1, field2 in pairs}
        if any(value is UNDEFINED for value in lookup.values()):
            result.unmatched1.append(entry)
            continue
        found = [i for i, candidate in enumerate(input2) if _is_match(candidate, lookup, settings)]
        if settings.first_only:
            found = found[:1]
        matched_in_2.update(found)
        if not found:
            result.unmatched1.append(entry)
        elif split_matches:
            result.matched.extend((entry, [input2[i]]) for i in found)
        else:
            result.matched.append((entry, [input2[i] for i in found]))
    for i, entry in enumerate(input2):
        (result.matched2 if i in matched_in_2 else result.unmatched2).append(entry)
    return result


def merge_matched(matched: list[tuple[Item, Items]], clash: Mapping[str, Any], join_mode: str) -> Items:
    """n8n's ``mergeMatched``: one item per (entry, matches) pair, clashes resolved as configured.

    Unset clash handling lets input 2 win, except for "enrich input 2", where input 1 wins.
    """
    merge = select_merge_method(clash)
    resolve = clash.get("resolveClash")
    if resolve is None:
        resolve = "preferInput1" if join_mode == "enrichInput2" else "preferLast"
    output: Items = []
    for entry, matches in matched:
        if resolve == "addSuffix":
            ordered = [add_suffix([entry], "1")[0], *add_suffix(matches, "2")]
        elif resolve == "preferInput1":
            ordered = [*matches, entry]
        else:
            ordered = [entry, *matches]
        jsons = [i["json"] for i in ordered]
        output.append(_combined(merge(*jsons), [i.get("binary") for i in ordered], ordered))
    return output


def _check_field_present(items: Items, fields: list[str], dot_notation: bool, label: str) -> None:
    """v2.0 refuses to match on a field no item of the input has."""
    for name in fields:
        if not any(_field(item, name, dot_notation) is not UNDEFINED for item in items):
            raise NodeError(f"Field '{name}' is not present in any of items in '{label}'")


def _match_pairs(raw_pairs: Any) -> list[tuple[str, str]]:
    pairs = [(js_string(p.get("field1", "")), js_string(p.get("field2", ""))) for p in raw_pairs or []]
    if len(pairs) == 1 and pairs[0] == ("", ""):
        raise NodeError(
            'You need to define at least one pair of fields in "Fields to Match" to match on',
            code=ErrorCode.INVALID_PARAMETER,
        )
    for index, (field1, field2) in enumerate(pairs):
        if not field1 or not field2:
            raise NodeError(
                f'You need to define both fields in "Fields to Match" for pair {index + 1},\n'
                f"\t\t\t\t field 1 = '{field1}'\n\t\t\t\t field 2 = '{field2}'",
                code=ErrorCode.INVALID_PARAMETER,
            )
    return pairs


def combine_by_fields(ctx: NodeContext, input1: Items, input2: Items, pairs: list[tuple[str, str]]) -> Items:
    """Combine by matching field values (v2 ``mergeByFields``, v3 ``combineByFields``)."""
    options = ctx.param("options", 0, {}) or {}
    version = ctx.node.type_version
    settings = _MatchSettings(
        join_mode=str(ctx.param("joinMode", 0, "keepMatches")),
        output_from=str(ctx.param("outputDataFrom", 0, "both")),
        fuzzy=js_truthy(options.get("fuzzyCompare")),
        dot_notation=not js_truthy(options.get("disableDotNotation")),
        first_only=options.get("multipleMatches") == "first",
    )
    if version < 2.1:
        _check_field_present(input1, [p[0] for p in pairs], settings.dot_notation, "Input 1")
        _check_field_present(input2, [p[1] for p in pairs], settings.dot_notation, "Input 2")
    mode, source = settings.join_mode, settings.output_from
    if not input1 or not input2:
        if mode == "keepNonMatches" and (
            (not input1 and source == "input1") or (not input2 and source == "input2")
        ):
            return []
        if (
            mode == "keepMatches"
            or (mode == "enrichInput1" and not input1)
            or (mode == "enrichInput2" and not input2)
        ):
            return []
        return [*input1, *input2]
    matches = find_matches(input1, input2, pairs, settings)
    return _join_output(ctx, matches, settings)


def _join_output(ctx: NodeContext, matches: _Matches, settings: _MatchSettings) -> Items:
    mode, source = settings.join_mode, settings.output_from
    if mode == "keepNonMatches":
        if source == "input1":
            return matches.unmatched1
        if source == "input2":
            return matches.unmatched2
        return [*_add_source(matches.unmatched1, "input1"), *_add_source(matches.unmatched2, "input2")]
    clash = _clash_options(ctx)
    suffixed = clash.get("resolveClash") == "addSuffix"
    if mode in ("keepMatches", "keepEverything"):
        if source == "input1":
            output = [entry for entry, _ in matches.matched]
        elif source == "input2":
            output = list(matches.matched2)
        else:
            output = merge_matched(matches.matched, clash, mode)
        if mode == "keepEverything":
            unmatched1, unmatched2 = matches.unmatched1, matches.unmatched2
            if suffixed:
                unmatched1, unmatched2 = add_suffix(unmatched1, "1"), add_suffix(unmatched2, "2")
            output = [*output, *unmatched1, *unmatched2]
        return output
    if mode in ("enrichInput1", "enrichInput2"):
        rest, suffix = (matches.unmatched1, "1") if mode == "enrichInput1" else (matches.unmatched2, "2")
        return [
            *merge_matched(matches.matched, clash, mode),
            *(add_suffix(rest, suffix) if suffixed else rest),
        ]
    return []


# --- combine by position ----------------------------------------------------------------------------------


def combine_by_position_v2(ctx: NodeContext, input1: Items, input2: Items) -> Items:
    clash = _clash_options(ctx)
    include_unpaired = js_truthy(ctx.param("options.includeUnpaired", 0, False))
    if not input1 or not input2:
        return [*input1, *input2]
    input1, input2 = _orient(input1, input2, clash)
    merge = select_merge_method(clash)
    count = max(len(input1), len(input2)) if include_unpaired else min(len(input1), len(input2))
    output: Items = []
    for i in range(count):
        if i >= len(input1):
            output.append(input2[i])
        elif i >= len(input2):
            output.append(input1[i])
        else:
            a, b = input1[i], input2[i]
            output.append(_combined(merge(a["json"], b["json"]), [a.get("binary"), b.get("binary")], [a, b]))
    return output


def combine_by_position_v3(ctx: NodeContext, inputs: list[Items]) -> Items:
    """v3 ``combineByPosition`` over any number of inputs.

    As in n8n, the preferred input is picked *before* keys get suffixed, so with "add suffix" the last
    input's original keys are merged in on top of the suffixed ones.
    """
    clash = _clash_options(ctx)
    include_unpaired = js_truthy(ctx.param("options.includeUnpaired", 0, False))
    resolve = str(clash.get("resolveClash") or "")
    preferred_index = (
        int(resolve.removeprefix("preferInput")) - 1 if resolve.startswith("preferInput") else -1
    )
    preferred = inputs[preferred_index] if -len(inputs) <= preferred_index < len(inputs) else []
    if resolve == "addSuffix":
        inputs = [add_suffix(items, str(n + 1)) for n, items in enumerate(inputs)]
    lengths = [len(items) for items in inputs] + [len(preferred)]
    count = max(lengths) if include_unpaired else min(lengths)
    merge = select_merge_method(clash)
    output: Items = []
    for i in range(count):
        row = [items[i] for items in inputs if i < len(items)]
        if i < len(preferred):
            row.append(preferred[i])
        output.append(
            _combined(merge(*[item["json"] for item in row]), [item.get("binary") for item in row], row)
        )
    return output


# --- the node ---------------------------------------------------------------------------------------------


def _input(inputs: list[Items], index: int) -> Items:
    return list(inputs[index]) if index < len(inputs) else []


class MergeNode(NodeType):
    """Merge: append, join by fields or position, cross join, or pick one branch once all inputs arrive."""

    cpu_only = True

    type = "n8n-nodes-base.merge"
    versions = (1, 2, 2.1, 3, 3.1, 3.2)
    display_name = "Merge"
    description = "Merges data of multiple streams once data from both is available"
    aliases = ("merge",)

    def input_count(self, node: NodeDefinition) -> int:
        count = node.parameters.get("numberInputs")
        if node.type_version >= 3 and isinstance(count, int | float) and not isinstance(count, bool):
            return max(int(count), 2)
        return 2

    def schema_for(self, version: float) -> Mapping[str, Any]:
        if version < 2:
            return _V1_SCHEMA
        return _V2_SCHEMA if version < 3 else _V3_SCHEMA

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        version = ctx.node.type_version
        if version < 2:
            return [self._run_v1(ctx, inputs)]
        if version < 3:
            return [self._run_v2(ctx, inputs)]
        return [self._run_v3(ctx, inputs)]

    # v1 --------------------------------------------------------------------------------------------------

    def _run_v1(self, ctx: NodeContext, inputs: list[Items]) -> Items:
        mode = ctx.param("mode", 0, "append")
        input1, input2 = _input(inputs, 0), _input(inputs, 1)
        if mode == "append":
            return [*input1, *input2]
        if mode == "mergeByIndex":
            return _merge_by_index_v1(str(ctx.param("join", 0, "left")), input1, input2)
        if mode == "multiplex":
            return _cross(input1, input2, shallow_merge)
        if mode in ("keepKeyMatches", "mergeByKey", "removeKeyMatches"):
            return _key_matches_v1(ctx, str(mode), input1, input2)
        if mode == "passThrough":
            return input1 if ctx.param("output", 0, "input1") == "input1" else input2
        if mode == "wait":
            return [{"json": {}, "pairedItem": [{"item": i} for i in range(len(input1))]}]
        raise NodeError(f'The mode "{mode}" is not known!', code=ErrorCode.INVALID_PARAMETER)

    # v2 / v2.1 -------------------------------------------------------------------------------------------

    def _run_v2(self, ctx: NodeContext, inputs: list[Items]) -> Items:
        mode = ctx.param("mode", 0, "append")
        input1, input2 = _input(inputs, 0), _input(inputs, 1)
        if mode == "append":
            return [*input1, *input2]
        if mode == "chooseBranch":
            return self._choose_branch(ctx, inputs, str(ctx.param("output", 0, "input1")))
        if mode != "combine":
            raise NodeError(f'The mode "{mode}" is not known!', code=ErrorCode.INVALID_PARAMETER)
        combination = ctx.param("combinationMode", 0, "mergeByFields")
        if combination == "multiplex":
            clash = _clash_options(ctx)
            return _cross(*_orient(input1, input2, clash), select_merge_method(clash))
        if combination == "mergeByPosition":
            return combine_by_position_v2(ctx, input1, input2)
        pairs = _match_pairs(ctx.param("mergeByFields.values", 0, []))
        return combine_by_fields(ctx, input1, input2, pairs)

    # v3 --------------------------------------------------------------------------------------------------

    def _run_v3(self, ctx: NodeContext, inputs: list[Items]) -> Items:
        mode = ctx.param("mode", 0, "append")
        if mode == "combine":
            mode = ctx.param("combineBy", 0, "combineByFields")
        count = self.input_count(ctx.node)
        inputs = [_input(inputs, i) for i in range(max(count, len(inputs)))]
        if mode == "append":
            return [item for items in inputs for item in items]
        if mode == "chooseBranch":
            return self._choose_branch(ctx, inputs, str(ctx.param("output", 0, "specifiedInput")))
        if mode == "combineByPosition":
            return combine_by_position_v3(ctx, inputs)
        if mode == "combineAll":
            clash = _clash_options(ctx)
            return _cross(*_orient(inputs[0], inputs[1], clash), select_merge_method(clash))
        if mode == "combineByFields":
            return combine_by_fields(ctx, inputs[0], inputs[1], self._v3_pairs(ctx))
        if mode == "combineBySql":
            raise NodeError(
                "Merge mode 'combineBySql' (SQL query) is not supported",
                code=ErrorCode.INVALID_PARAMETER,
                description="Use 'Combine by Matching Fields', 'by Position' or 'All Possible Combinations'.",
            )
        raise NodeError(f'The mode "{mode}" is not known!', code=ErrorCode.INVALID_PARAMETER)

    @staticmethod
    def _v3_pairs(ctx: NodeContext) -> list[tuple[str, str]]:
        if js_truthy(ctx.param("advanced", 0, False)):
            return _match_pairs(ctx.param("mergeByFields.values", 0, []))
        names = js_string(ctx.param("fieldsToMatchString", 0, "")).split(",")
        return _match_pairs([{"field1": n.strip(), "field2": n.strip()} for n in names])

    @staticmethod
    def _choose_branch(ctx: NodeContext, inputs: list[Items], output: str) -> Items:
        if output == "empty":
            sources = [*_input(inputs, 0), *_input(inputs, 1)]
            return [{"json": {}, "pairedItem": paired_items(*sources)}]
        if output == "input1":
            return _input(inputs, 0)
        if output == "input2":
            return _input(inputs, 1)
        chosen = ctx.param("useDataOfInput", 0, 1)
        index = int(chosen) if isinstance(chosen, int | float) and not isinstance(chosen, bool) else 1
        if index > len(inputs) or index < 1:
            raise NodeError(
                f"Input {chosen} doesn't exist",
                code=ErrorCode.INVALID_PARAMETER,
                description=(
                    f"The node has only {len(inputs)} inputs, so selecting input {chosen} is not possible."
                ),
            )
        return inputs[index - 1]


# --- v1 modes ---------------------------------------------------------------------------------------------


def _merge_by_index_v1(join: str, input1: Items, input2: Items) -> Items:
    if not input1:
        return [] if join in ("inner", "left") else input2
    if not input2:
        return input1 if join in ("left", "outer") else []
    count = {"inner": min, "outer": max}.get(join, lambda a, _b: a)(len(input1), len(input2))
    output: Items = []
    for i in range(count):
        if i >= len(input1):
            output.append(input2[i])
        elif i >= len(input2):
            output.append(input1[i])
        else:
            a, b = input1[i], input2[i]
            merged: Item = {"json": {**a["json"], **b["json"]}, "pairedItem": paired_items(a, b)}
            if a.get("binary") is not None or b.get("binary") is not None:
                merged["binary"] = {**(a.get("binary") or {}), **(b.get("binary") or {})}
            output.append(merged)
    return output


def _key_text(value: Any) -> str | None:
    """v1 match keys compare as JS object keys: numbers and strings by their text, others never match."""
    if isinstance(value, str) or (js_typeof(value) == "number"):
        return js_string(value)
    return "null" if value is None else None


def _key_matches_v1(ctx: NodeContext, mode: str, input1: Items, input2: Items) -> Items:
    """v1 ``keepKeyMatches`` / ``mergeByKey`` / ``removeKeyMatches``, keyed on ``propertyName1``/``2``."""
    name1 = js_string(ctx.param("propertyName1", 0, ""))
    name2 = js_string(ctx.param("propertyName2", 0, ""))
    overwrite = ctx.param("overwrite", 0, "always")
    if not name1 or not name2:
        return [] if mode == "keepKeyMatches" else input1
    lookup: dict[str, Item] = {}
    for entry in input2:
        key = get_path(entry.get("json", {}), name2)
        if js_truthy(key):
            lookup[js_string(key)] = entry
    output: Items = []
    for entry in input1:
        reference = _key_text(get_path(entry.get("json", {}), name1))
        match = lookup.get(reference) if reference is not None else None
        if match is None:
            if mode != "keepKeyMatches":  # mergeByKey keeps input 1's unmatched items, unchanged
                output.append(entry)
            continue
        if mode == "keepKeyMatches":
            output.append(entry)
        elif mode == "mergeByKey":
            output.append(_copy_matched_fields(entry, match, name2, str(overwrite)))
    return output


def _copy_matched_fields(entry: Item, match: Item, skip_key: str, overwrite: str) -> Item:
    merged = copy.deepcopy(entry)
    data = merged["json"]
    for key, value in match["json"].items():
        if key == skip_key:
            continue
        if (
            overwrite == "always"
            or (overwrite == "undefined" and key not in data)
            or (overwrite == "blank" and data.get(key) in (None, ""))
        ):
            data[key] = copy.deepcopy(value)
    return merged


# --- schemas ---------------------------------------------------------------------------------------------

_FIELD_PAIRS = object_schema(
    {"values": {"type": "array", "items": object_schema({"field1": STRING, "field2": STRING})}}
)
_CLASH = object_schema(
    {
        "values": object_schema(
            {
                "resolveClash": {"type": "string"},
                "mergeMode": one_of("deepMerge", "shallowMerge"),
                "overrideEmpty": BOOLEAN,
            }
        )
    }
)
_COMBINE_OPTIONS = object_schema(
    {
        "clashHandling": _CLASH,
        "disableDotNotation": BOOLEAN,
        "fuzzyCompare": BOOLEAN,
        "includeUnpaired": BOOLEAN,
        "multipleMatches": one_of("all", "first"),
    }
)
_JOIN_MODES = one_of("keepMatches", "keepNonMatches", "keepEverything", "enrichInput1", "enrichInput2")

_V1_SCHEMA = object_schema(
    {
        "mode": one_of(
            "append",
            "keepKeyMatches",
            "mergeByIndex",
            "mergeByKey",
            "multiplex",
            "passThrough",
            "removeKeyMatches",
            "wait",
        ),
        "join": one_of("inner", "left", "outer"),
        "propertyName1": STRING,
        "propertyName2": STRING,
        "output": one_of("input1", "input2"),
        "overwrite": one_of("always", "blank", "undefined"),
    }
)
_V2_SCHEMA = object_schema(
    {
        "mode": one_of("append", "combine", "chooseBranch"),
        "combinationMode": one_of("mergeByFields", "mergeByPosition", "multiplex"),
        "mergeByFields": _FIELD_PAIRS,
        "joinMode": _JOIN_MODES,
        "outputDataFrom": one_of("both", "input1", "input2"),
        "chooseBranchMode": one_of("waitForBoth"),
        "output": one_of("input1", "input2", "empty"),
        "options": _COMBINE_OPTIONS,
    }
)
_V3_SCHEMA = object_schema(
    {
        "mode": one_of("append", "combine", "combineBySql", "chooseBranch"),
        "combineBy": one_of("combineByFields", "combineByPosition", "combineAll"),
        "numberInputs": {"type": "integer", "minimum": 2, "maximum": 10},
        "advanced": BOOLEAN,
        "fieldsToMatchString": STRING,
        "mergeByFields": _FIELD_PAIRS,
        "joinMode": _JOIN_MODES,
        "outputDataFrom": one_of("both", "input1", "input2"),
        "chooseBranchMode": one_of("waitForAll"),
        "output": one_of("specifiedInput", "empty"),
        "useDataOfInput": NUMBER,
        "options": _COMBINE_OPTIONS,
    }
)

NODE_TYPES: list[type[NodeType]] = [MergeNode]
