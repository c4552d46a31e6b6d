"""MetaBuilder's utility executors: ``transform`` (reshape an item) and ``set-variable`` (write variables).

``transform`` answers each item with ``{result}``; with ``groupBy`` it needs every item at once, so it emits
a single item ``{result: {group: [results…]}}`` paired with all of its inputs (a result that is an array
contributes its elements). ``set-variable`` writes the execution's variables, which later nodes read as
``$vars``; it runs per item so values may come from each item, and ``replace`` clears the scope once per
node run (not per item), so the node's writes as a whole replace it.
"""

from __future__ import annotations

import re
import time
from typing import Any, ClassVar

from tenantflow.engine.errors import ErrorCode, NodeError
from tenantflow.engine.expressions import js_string, to_json
from tenantflow.engine.sdk import Item, Items, NodeContext, NodeType
from tenantflow.nodes.metabuilder.executors.common import FLAG, TEXT, choice, iso_now, or_template, per_item
from tenantflow.nodes.metabuilder.executors.format import FORMATS, flatten, group_by
from tenantflow.nodes.n8n.core import first_input, object_schema

VARIABLE_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
RESERVED_NAMES = frozenset(
    name.lower()
    for name in ("context", "state", "json", "env", "utils", "$json", "$context", "$state", "$env")
)


# --- transform -----------------------------------------------------------------------------------------


def _is_whole_template(value: str) -> bool:
    text = value.strip()
    return value.startswith("=") or (text.startswith("{{") and text.endswith("}}"))


def interpolate_mapping(ctx: NodeContext, mapping: Any, index: int) -> Any:
    """MetaBuilder's rule: a template string is evaluated; in an object, values that are a whole template
    are evaluated and nested objects recursed, everything else is taken literally."""
    if isinstance(mapping, str):
        return ctx.evaluate(mapping, index)
    if not isinstance(mapping, dict):
        return mapping
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        if isinstance(value, str) and _is_whole_template(value):
            out[key] = ctx.evaluate(value, index)
        else:
            out[key] = interpolate_mapping(ctx, value, index) if isinstance(value, dict) else value
    return out


class Transform(NodeType):
    """Builds a new value per item from ``mapping``, then optionally flattens, groups and renders it."""

    cpu_only = True
    type = "transform"
    display_name = "Transform"
    description = "Maps each item through a template, optionally flattening, grouping and formatting it."
    parameters_schema: ClassVar[dict[str, Any]] = object_schema(
        {
            "mapping": {"type": ["object", "string"]},
            "flatten": FLAG,
            "groupBy": TEXT,
            "format": choice(*FORMATS),
        },
        required=("mapping",),
    )

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        items = first_input(inputs)
        mapped = [self._mapped(ctx, index) for index in range(len(items))]
        field = ctx.param("groupBy", 0, "")
        if not field:
            return [[self._item(ctx, value, index, [index]) for index, value in enumerate(mapped)]]
        if not isinstance(field, str):
            raise NodeError("Parameter 'groupBy' must be a field name", code=ErrorCode.INVALID_PARAMETER)
        rows = [row for value in mapped for row in (value if isinstance(value, list) else [value])]
        return [[self._item(ctx, group_by(rows, field), 0, list(range(len(items))))]] if items else [[]]

    def _mapped(self, ctx: NodeContext, index: int) -> Any:
        value = to_json(interpolate_mapping(ctx, ctx.raw_param("mapping"), index))
        return flatten(value) if ctx.param("flatten", index, False) else value

    def _item(self, ctx: NodeContext, value: Any, index: int, sources: list[int]) -> Item:
        fmt = ctx.param("format", index, None)
        if fmt in FORMATS:
            value = FORMATS[fmt](value)
        elif fmt:
            ctx.log("warn", f"Unknown format {fmt!r}: the result is left unformatted")
        paired = [{"item": source} for source in sources]
        return {"json": {"result": value}, "pairedItem": paired[0] if len(paired) == 1 else paired}


# --- set-variable --------------------------------------------------------------------------------------


def _checked_variables(ctx: NodeContext, index: int) -> dict[str, Any]:
    values = ctx.param("variables", index, None)
    if not isinstance(values, dict):
        raise NodeError("Parameter 'variables' must be an object", code=ErrorCode.INVALID_PARAMETER)
    for name in values:
        if not VARIABLE_NAME.match(name):
            raise NodeError(
                f"Invalid variable name {name!r}",
                code=ErrorCode.INVALID_PARAMETER,
                description="Names start with a letter or _ and contain only letters, digits and _.",
            )
        if name.lower() in RESERVED_NAMES:
            ctx.log("warn", f"Variable name {name!r} shadows a reserved name")
    plain = to_json(values)
    assert isinstance(plain, dict)
    return plain


def _append(scope: dict[str, Any], name: str, value: Any) -> None:
    """``append``: a list variable gets the value added; any other existing value becomes a list."""
    if name not in scope:
        scope[name] = value
    elif isinstance(scope[name], list):
        scope[name] = [*scope[name], value]
    else:
        scope[name] = [scope[name], value]


class SetVariable(NodeType):
    """Writes workflow variables (mode ``merge``, ``replace`` or ``append``) and reports what it set."""

    cpu_only = True
    type = "set-variable"
    display_name = "Set Variable"
    description = "Sets execution variables that later nodes read as $vars."
    parameters_schema: ClassVar[dict[str, Any]] = object_schema(
        {
            "variables": or_template({"type": "object", "propertyNames": {"pattern": VARIABLE_NAME.pattern}}),
            "mode": choice("merge", "replace", "append"),
        },
        required=("variables",),
    )

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        items = first_input(inputs)
        if items and ctx.param("mode", 0, "merge") == "replace":
            ctx.variables.clear()
        return per_item(items, lambda index, item: self._set(ctx, index))

    def _set(self, ctx: NodeContext, index: int) -> dict[str, Any]:
        values = _checked_variables(ctx, index)
        mode = ctx.param("mode", index, "merge")
        if mode not in ("merge", "replace", "append"):
            raise NodeError(f"Unknown mode {mode!r}", code=ErrorCode.INVALID_PARAMETER)
        for name, value in values.items():
            if mode == "append":
                _append(ctx.variables, name, value)
            else:
                ctx.variables[name] = value
        return {
            "variablesSet": {name: js_string(value) for name, value in values.items()},
            "count": len(values),
            "timestamp": iso_now(),
        }


# --- wait ----------------------------------------------------------------------------------------------

WAIT_UNITS: dict[str, float] = {
    "ms": 0.001,
    "millisecond": 0.001,
    "milliseconds": 0.001,
    "second": 1.0,
    "seconds": 1.0,
    "minute": 60.0,
    "minutes": 60.0,
    "hour": 3600.0,
    "hours": 3600.0,
}


class MetaWait(NodeType):
    """MetaBuilder's ``wait``: sleep ``duration`` ``unit``s (seconds by default), then answer each item
    with ``{waited, duration (ms actually waited), unit}``. An abort ends the sleep at once."""

    type = "wait"
    display_name = "Wait (MetaBuilder)"
    description = "Pauses the workflow for a fixed duration."
    parameters_schema: ClassVar[dict[str, Any]] = object_schema(
        {
            "duration": or_template({"type": "number", "minimum": 0}),
            "unit": choice(*WAIT_UNITS),
        },
        required=("duration",),
    )

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        items = first_input(inputs) or [{"json": {}}]
        unit = str(ctx.param("unit", 0, "seconds"))
        if unit not in WAIT_UNITS:
            raise NodeError(f"Unknown wait unit {unit!r}", code=ErrorCode.INVALID_PARAMETER)
        duration = ctx.param("duration", 0)
        if not isinstance(duration, int | float) or isinstance(duration, bool) or duration < 0:
            raise NodeError("Wait duration must be a number of at least 0", code=ErrorCode.INVALID_PARAMETER)
        started = time.monotonic()
        await ctx.sleep(duration * WAIT_UNITS[unit])
        waited = round((time.monotonic() - started) * 1000)
        return per_item(items, lambda _index, _item: {"waited": True, "duration": waited, "unit": unit})
