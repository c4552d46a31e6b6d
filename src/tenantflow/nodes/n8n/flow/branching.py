"""Branching nodes: If, Filter and Switch, every typeVersion n8n exports of them use.

The comparisons themselves live in :mod:`tenantflow.nodes.n8n.flow.conditions`; this module decides which
parameters a version reads and where each item goes. Items are routed unchanged (only ``pairedItem`` is set,
pointing at the input item, as n8n's v2+ nodes do) so downstream ``$('If').item`` lookups resolve.

MetaBuilder workflows name these nodes ``condition``/``logic.if`` and ``flow.switch``; their guard form,
a single ``condition`` parameter instead of ``conditions``, routes each item by the truthiness of that
value (output 0 true, output 1 false).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from tenantflow.engine.definition import NodeDefinition
from tenantflow.engine.errors import ErrorCode, NodeError
from tenantflow.engine.expressions import is_number, js_string, js_truthy, to_number
from tenantflow.engine.sdk import Item, Items, NodeContext, NodeType
from tenantflow.nodes.n8n.core import (
    BOOLEAN,
    EXPRESSION,
    STRING,
    first_input,
    object_schema,
    one_of,
    or_expression,
)
from tenantflow.nodes.n8n.flow.conditions import (
    ANY_VALUE,
    FILTER_NODE_OPTIONS,
    FILTER_SCHEMA,
    LEGACY_DEFAULT_OPERATION,
    LEGACY_DEFAULT_VALUE,
    LEGACY_TYPES,
    SWITCH_LEGACY_OPERATIONS,
    FilterOptions,
    filter_options,
    filter_passes,
    legacy_compare,
    legacy_conditions_pass,
    legacy_conditions_schema,
    legacy_value_schema,
)
from tenantflow.nodes.n8n.pacing import Pacer


def _paired(item: Item, index: int) -> Item:
    """The item as routed: same ``json``/``binary`` objects, ``pairedItem`` pointing at input ``index``."""
    return {**item, "pairedItem": {"item": index}}


def _node_filter_options(
    ctx: NodeContext, value: Any, options: Any, item_index: int, version_2_from: float
) -> FilterOptions:
    """Filter options with the node-level switches applied.

    Loose validation is ``options.looseTypeValidation`` before If 2.1 / Filter 2.1 / Switch 3.1 and a
    top-level ``looseTypeValidation`` from then on; either is honoured so hand-edited exports work too.
    """
    options = options if isinstance(options, Mapping) else {}
    loose = js_truthy(ctx.param("looseTypeValidation", item_index, False)) or js_truthy(
        options.get("looseTypeValidation")
    )
    return filter_options(
        value,
        ignore_case=js_truthy(options.get("ignoreCase")),
        loose=loose,
        version=2 if ctx.node.type_version >= version_2_from else 1,
        timezone=ctx.timezone,
    )


# --- If and Filter -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ConditionStyle:
    """Where a node type's versions differ: v1's combine parameter, and where options version 2 starts."""

    combine_param: str
    combine_all: str
    combine_any: str
    filter_v2_from: float


def _is_guard(node: NodeDefinition) -> bool:
    return "condition" in node.parameters and "conditions" not in node.parameters


class _ConditionNode(NodeType):
    """If and Filter: one verdict per item from the version's condition generation."""

    cpu_only = True

    style: ClassVar[_ConditionStyle]

    def schema_for(self, version: float) -> Mapping[str, Any]:
        if version < 2:
            return object_schema(
                {
                    "conditions": legacy_conditions_schema(),
                    self.style.combine_param: one_of(self.style.combine_all, self.style.combine_any),
                }
            )
        return object_schema(
            {"conditions": FILTER_SCHEMA, "looseTypeValidation": BOOLEAN, "options": FILTER_NODE_OPTIONS}
        )

    def _passes(self, ctx: NodeContext, item_index: int) -> bool:
        if _is_guard(ctx.node):
            return js_truthy(ctx.param("condition", item_index))
        if ctx.node.type_version < 2:
            combine = ctx.param(self.style.combine_param, item_index, self.style.combine_all)
            conditions = ctx.param("conditions", item_index, {})
            return legacy_conditions_pass(conditions, require_all=combine == self.style.combine_all)
        value = ctx.param("conditions", item_index)
        options = ctx.param("options", item_index, {})
        settings = _node_filter_options(ctx, value, options, item_index, self.style.filter_v2_from)
        return filter_passes(value, settings, item_index)

    async def _split(self, ctx: NodeContext, inputs: list[Items]) -> tuple[Items, Items]:
        kept: Items = []
        dropped: Items = []
        pacer = Pacer()
        for index, item in enumerate(first_input(inputs)):
            if pacer.due():
                await pacer.pause()
            (kept if self._passes(ctx, index) else dropped).append(_paired(item, index))
        return kept, dropped


class If(_ConditionNode):
    type = "n8n-nodes-base.if"
    versions = (1, 2, 2.1, 2.2)
    display_name = "If"
    description = "Routes items to output 0 (true) or output 1 (false) by conditions."
    aliases = ("if", "condition", "logic.if")
    style = _ConditionStyle("combineOperation", "all", "any", 2.2)

    def output_count(self, node: NodeDefinition) -> int:
        return 2

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        return list(await self._split(ctx, inputs))


class Filter(_ConditionNode):
    type = "n8n-nodes-base.filter"
    versions = (1, 2, 2.1, 2.2)
    display_name = "Filter"
    description = "Keeps only the items that match the conditions."
    aliases = ("filter",)
    style = _ConditionStyle("combineConditions", "AND", "OR", 2.2)

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        return [(await self._split(ctx, inputs))[0]]


# --- Switch --------------------------------------------------------------------------------------------

_ALL_SWITCH_LEGACY_OPERATIONS = tuple(
    dict.fromkeys(op for ops in SWITCH_LEGACY_OPERATIONS.values() for op in ops)
)
_NO_FALLBACK = -1
_EXTRA_FALLBACK = -3  # Switch v2's "extra output" choice
_INDEX = or_expression({"type": "integer"})


class _Unknown(Exception):
    """A parameter that decides the output count is an expression, so the count is unknown until run."""


def _static_getter(parameters: Mapping[str, Any]) -> Callable[[str, Any], Any]:
    """Read dotted parameter paths from a definition, giving up on expressions."""

    def get(path: str, default: Any) -> Any:
        value: Any = parameters
        for part in path.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
        if isinstance(value, str) and value.startswith("="):
            raise _Unknown
        return default if value is None else value

    return get


def _switch_outputs(version: float, get: Callable[[str, Any], Any]) -> int:
    """n8n's ``configuredOutputs``: v1 has four; later, the expression count or one per rule (+ fallback)."""
    if version < 2:
        return 4
    if get("mode", "rules") == "expression":
        return _as_index(get("outputsAmount" if version < 3 else "numberOutputs", 4), "number of outputs")
    if version < 3:
        rules, extra = get("rules.rules", []), get("fallbackOutput", _NO_FALLBACK) == _EXTRA_FALLBACK
    else:
        rules, extra = get("rules.values", []), get("options.fallbackOutput", "none") == "extra"
    return (len(rules) if isinstance(rules, list) else 0) + int(extra)


def _as_index(value: Any, what: str) -> int:
    """A whole number (numeric text accepted, as JavaScript indexes with it), else a NodeError."""
    number = to_number(value) if isinstance(value, str) or is_number(value) else math.nan
    if not math.isfinite(number) or number != int(number):
        raise NodeError(
            f"The {what} '{js_string(value)}' is not a whole number", code=ErrorCode.INVALID_PARAMETER
        )
    return int(number)


def _check_output(value: Any, count: int, item_index: int) -> int:
    """The output an item goes to, or n8n's "output not allowed" error."""
    index = _as_index(value, "output")
    if 0 <= index < count:
        return index
    hint = f"It has to be between 0 and {count - 1}"
    if index == count and count > 0:
        hint = f"Output indexes are zero based, if you want to use the extra output use {index - 1}"
    raise NodeError(f"The output {index} is not allowed", description=hint, details={"itemIndex": item_index})


def _legacy_switch_schema(version: float) -> dict[str, Any]:
    rule = object_schema(
        {
            "operation": one_of(*_ALL_SWITCH_LEGACY_OPERATIONS),
            "value2": ANY_VALUE,
            "output": _INDEX,
            "outputKey": STRING,
        }
    )
    properties: dict[str, Any] = {
        "mode": one_of("rules", "expression"),
        "dataType": one_of(*LEGACY_TYPES),
        "value1": ANY_VALUE,
        "rules": object_schema({"rules": {"type": "array", "items": rule}}),
        "fallbackOutput": _INDEX,
        "output": _INDEX,
    }
    if version >= 2:
        properties["outputsAmount"] = or_expression({"type": "integer", "minimum": 0})
    schema = object_schema(properties)
    schema["allOf"] = [_legacy_rules_for(data_type) for data_type in LEGACY_TYPES]
    return schema


def _legacy_rules_for(data_type: str) -> dict[str, Any]:
    """Rule operations and values must fit ``dataType`` (absent means number, n8n's default)."""
    rule = object_schema(
        {
            "operation": one_of(*SWITCH_LEGACY_OPERATIONS[data_type]),
            "value2": legacy_value_schema(data_type),
        }
    )
    when: dict[str, Any] = {"properties": {"dataType": {"const": data_type}}}
    if data_type != "number":
        when["required"] = ["dataType"]
    return {"if": when, "then": object_schema({"rules": object_schema({"rules": {"items": rule}})})}


_FALLBACK_V3: dict[str, Any] = {
    "anyOf": [{"enum": ["none", "extra"]}, {"type": "integer", "minimum": 0}, EXPRESSION]
}

_SWITCH_V3_SCHEMA = object_schema(
    {
        "mode": one_of("rules", "expression"),
        "rules": object_schema(
            {
                "values": {
                    "type": "array",
                    "items": object_schema(
                        {"conditions": FILTER_SCHEMA, "renameOutput": BOOLEAN, "outputKey": STRING}
                    ),
                }
            }
        ),
        "numberOutputs": or_expression({"type": "integer", "minimum": 0}),
        "output": _INDEX,
        "looseTypeValidation": BOOLEAN,
        "options": object_schema(
            {
                "fallbackOutput": _FALLBACK_V3,
                "allMatchingOutputs": BOOLEAN,
                "ignoreCase": BOOLEAN,
                "looseTypeValidation": BOOLEAN,
                "renameFallbackOutput": STRING,
            }
        ),
    }
)


class Switch(NodeType):
    """Routes each item to one (or, v3 with ``allMatchingOutputs``, several) of many outputs."""

    cpu_only = True

    type = "n8n-nodes-base.switch"
    versions = (1, 2, 3, 3.1, 3.2)
    display_name = "Switch"
    description = "Routes items to different outputs by rules or by an output-index expression."
    aliases = ("switch", "flow.switch")

    def schema_for(self, version: float) -> Mapping[str, Any]:
        return _legacy_switch_schema(version) if version < 3 else _SWITCH_V3_SCHEMA

    def output_count(self, node: NodeDefinition) -> int | None:
        try:
            return _switch_outputs(node.type_version, _static_getter(node.parameters))
        except (_Unknown, NodeError):
            return None

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        items = first_input(inputs)
        count = _switch_outputs(ctx.node.type_version, lambda path, default: ctx.param(path, 0, default))
        outputs: list[Items] = [[] for _ in range(count)]
        if ctx.param("mode", 0, "rules") == "expression":
            route = _route_by_expression
        elif ctx.node.type_version < 3:
            route = _route_by_legacy_rules
        else:
            route = _route_by_filter_rules
        pacer = Pacer()
        for index, item in enumerate(items):
            if pacer.due():
                await pacer.pause()
            for output in route(ctx, index, count):
                outputs[output].append(_paired(item, index))
        return outputs


def _route_by_expression(ctx: NodeContext, item_index: int, count: int) -> list[int]:
    return [_check_output(ctx.param("output", item_index), count, item_index)]


def _route_by_legacy_rules(ctx: NodeContext, item_index: int, count: int) -> list[int]:
    """Switch v1/v2: the first rule whose comparison holds; v1 rules name their output, v2 rules are it."""
    data_type = ctx.param("dataType", 0, "number")
    value1 = ctx.param("value1", item_index, LEGACY_DEFAULT_VALUE.get(data_type))
    rules = ctx.param("rules.rules", item_index, []) or []
    for rule_index, rule in enumerate(rules):
        operation = rule.get("operation", LEGACY_DEFAULT_OPERATION.get(data_type, "equal"))
        value2 = rule.get("value2", LEGACY_DEFAULT_VALUE.get(data_type))
        if legacy_compare(data_type, operation, value1, value2):
            target = rule.get("output", 0) if ctx.node.type_version < 2 else rule_index
            return [_check_output(target, count, item_index)]
    fallback = ctx.param("fallbackOutput", 0, _NO_FALLBACK)
    if fallback == _NO_FALLBACK:
        return []
    return [count - 1 if fallback == _EXTRA_FALLBACK else _check_output(fallback, count, item_index)]


def _route_by_filter_rules(ctx: NodeContext, item_index: int, count: int) -> list[int]:
    """Switch v3: rules are filter conditions; the first match wins unless ``allMatchingOutputs``."""
    options = ctx.param("options", item_index, {}) or {}
    matched: list[int] = []
    for rule_index, rule in enumerate(ctx.raw_param("rules.values", []) or []):
        value = ctx.evaluate(rule.get("conditions"), item_index)
        settings = _node_filter_options(ctx, value, options, item_index, 3.2)
        if filter_passes(value, settings, item_index):
            matched.append(rule_index)
            if not js_truthy(options.get("allMatchingOutputs")):
                break
    if matched:
        return matched
    fallback = options.get("fallbackOutput", "none")
    if fallback in ("none", None):
        return []
    return [count - 1 if fallback == "extra" else _check_output(fallback, count, item_index)]


NODE_TYPES: list[type[NodeType]] = [If, Filter, Switch]
