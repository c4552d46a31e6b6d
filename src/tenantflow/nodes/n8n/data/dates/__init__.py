"""The Date & Time node: typeVersion 1 (moment-style ``format``/``calculate``) and 2 (Luxon operations).

Both versions read numbers and numeric strings as timestamps by n8n's digit-count rule and everything else
as a date string, and work in the workflow's time zone (``settings.timezone``) where n8n does. Version 2
writes dates as Luxon's ``toISO()`` so ``Etc/GMT`` prints ``+00:00`` and ``UTC`` prints ``Z``, as in n8n.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from datetime import UTC, tzinfo
from typing import Any

from tenantflow.engine.errors import ErrorCode, NodeError
from tenantflow.engine.expressions import UNDEFINED
from tenantflow.engine.expressions.dates import JSDate, now_ms, shift, start_of, to_format
from tenantflow.engine.sdk import Item, Items, NodeContext, NodeType
from tenantflow.nodes.n8n.core import BOOLEAN, NUMBER, STRING, first_input, object_schema, one_of
from tenantflow.nodes.n8n.data.dates.formats import (
    CALENDAR_UNITS,
    CLOCK_UNITS,
    diff,
    duration_iso,
    invalid_date,
    luxon_iso,
    moment_format,
    numeric_timestamp,
    parse_text,
    parse_with_format,
    plural,
    zone,
)
from tenantflow.nodes.n8n.data.set import set_path

_PLUS_OFFSET = re.compile(r"\+(\d{2})")
_DURATION_UNITS = tuple(CALENDAR_UNITS) + tuple(CLOCK_UNITS)
_ROUND_UNITS = ("year", "month", "week", "day", "hour", "minute", "second")
_DIFF_UNITS = ("year", "quarter", "month", "week", "day", "hour", "minute", "second", "millisecond")

_V1_SCHEMA = object_schema(
    {
        "action": one_of("format", "calculate"),
        "value": {},
        "dataPropertyName": STRING,
        "custom": BOOLEAN,
        "toFormat": STRING,
        "operation": one_of("add", "subtract"),
        "duration": NUMBER,
        "timeUnit": one_of(*_DURATION_UNITS),
        "options": object_schema({"fromFormat": STRING, "fromTimezone": STRING, "toTimezone": STRING}),
    }
)
_V2_OPTIONS = object_schema(
    {
        "includeInputFields": BOOLEAN,
        "timezone": {"type": ["string", "boolean"]},
        "fromFormat": STRING,
        "isoString": BOOLEAN,
    }
)
_V2_SCHEMA = object_schema(
    {
        "operation": one_of(
            "getCurrentDate",
            "addToDate",
            "subtractFromDate",
            "formatDate",
            "roundDate",
            "getTimeBetweenDates",
            "extractDate",
        ),
        "includeTime": BOOLEAN,
        "outputFieldName": STRING,
        "timeUnit": one_of(*_DURATION_UNITS),
        "duration": NUMBER,
        "format": STRING,
        "customFormat": STRING,
        "mode": one_of("roundDown", "roundUp"),
        "toNearest": one_of(*_ROUND_UNITS),
        "to": one_of(*_ROUND_UNITS),
        "units": {"type": ["array", "string"], "items": one_of(*_DIFF_UNITS)},
        "part": one_of("year", "month", "week", "day", "hour", "minute", "second"),
        "options": _V2_OPTIONS,
    }
)


class DateTime(NodeType):
    """Formats, shifts, rounds and compares dates; version 1 speaks moment, version 2 Luxon."""

    cpu_only = True
    type = "n8n-nodes-base.dateTime"
    versions = (1, 2)
    display_name = "Date & Time"
    description = "Manipulate date and time values."
    aliases = ("dateTime",)

    def schema_for(self, version: float) -> Mapping[str, Any]:
        return _V1_SCHEMA if version < 2 else _V2_SCHEMA

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        items = first_input(inputs)
        if ctx.node.type_version < 2:
            return [[out for i, item in enumerate(items) if (out := _run_v1(ctx, item, i)) is not None]]
        operation = ctx.param("operation", 0, "getCurrentDate")
        handler = _V2_OPERATIONS.get(operation)
        if handler is None:
            raise NodeError(f"Unknown operation {operation!r}", code=ErrorCode.INVALID_PARAMETER)
        return [[_v2_item(ctx, item, i, handler) for i, item in enumerate(items)]]


# --- shared parsing ------------------------------------------------------------------------------------


def _instant(value: Any, default_zone: tzinfo, from_format: str = "") -> float:
    """Epoch ms of a parameter value: a timestamp by n8n's rules, or a string read with ``from_format``
    (when given) or as moment reads it. Raises the node's "Invalid date format" error."""
    if from_format:
        ms = parse_with_format(value, from_format, default_zone)
    else:
        timestamp = numeric_timestamp(value)
        ms = timestamp if timestamp is not None else parse_text(str(value), default_zone)
    if ms != ms or isinstance(value, bool) or value is None:
        raise invalid_date(value)
    return ms


def _workflow_zone(ctx: NodeContext) -> tzinfo:
    return zone(ctx.timezone or "UTC")


# --- typeVersion 1 -------------------------------------------------------------------------------------


def _run_v1(ctx: NodeContext, item: Item, index: int) -> Item | None:
    value = ctx.param("value", index)
    if value is None or value is UNDEFINED:
        # n8n v1 drops items whose date is undefined; expressions hand back a missing field as None, so
        # null is dropped too (n8n would fail on it)
        return None
    options = ctx.param("options", index, {}) or {}
    if ctx.param("action", index, "format") == "calculate":
        result = _v1_calculate(ctx, value, options, index)
    else:
        result = _v1_format(ctx, value, options, index)
    out: Item = {"json": copy.deepcopy(item.get("json", {})), "pairedItem": {"item": index}}
    if "binary" in item:
        out["binary"] = item["binary"]
    set_path(out["json"], str(ctx.param("dataPropertyName", index, "data")), result)
    return out


def _v1_format(ctx: NodeContext, value: Any, options: dict[str, Any], index: int) -> str:
    """moment's ``format``: read in ``fromTimezone`` (else UTC), shown in ``toTimezone``, else the workflow
    zone when any zone option is set, else UTC (n8n's harness runs with TZ=UTC)."""
    from_zone, to_zone = options.get("fromTimezone") or "", options.get("toTimezone") or ""
    read_zone = zone(from_zone) if from_zone else (_workflow_zone(ctx) if to_zone else UTC)
    ms = _instant(value, read_zone, str(options.get("fromFormat") or ""))
    shown = zone(to_zone) if to_zone else (_workflow_zone(ctx) if from_zone else UTC)
    return moment_format(JSDate(ms, shown), str(ctx.param("toFormat", index, "MM/DD/YYYY")))


def _v1_calculate(ctx: NodeContext, value: Any, options: dict[str, Any], index: int) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        ms = float(value)  # ``new Date(number)``: always milliseconds here
    else:
        ms = _instant(value, UTC, str(options.get("fromFormat") or ""))
    unit = plural(str(ctx.param("timeUnit", index, "days")))
    amount = _number(ctx.param("duration", index, 0), "duration")
    sign = 1 if ctx.param("operation", index, "add") == "add" else -1
    return shift(JSDate(ms), {unit: amount}, sign).iso_utc()


def _number(value: Any, name: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise NodeError(f"Parameter '{name}' must be a number", code=ErrorCode.INVALID_PARAMETER) from exc


# --- typeVersion 2 -------------------------------------------------------------------------------------

Operation = Callable[[NodeContext, int], tuple[str, Any]]
"""Computes one item's result: (default output field name, value)."""


def _v2_item(ctx: NodeContext, item: Item, index: int, handler: Operation) -> Item:
    default_field, value = handler(ctx, index)
    include = bool(ctx.param("options.includeInputFields", index, False))
    data = copy.deepcopy(item.get("json", {})) if include else {}
    data[str(ctx.param("outputFieldName", index, default_field))] = value
    return {"json": data, "pairedItem": {"item": index}}


def _v2_date(ctx: NodeContext, name: str, index: int, zone_name: tzinfo | None = None) -> JSDate:
    """n8n's ``parseDate``: naive strings are read as UTC (the harness's TZ), then shown in the given zone,
    else in the offset a ``+hh`` string carries, else in Etc/UTC."""
    value = ctx.param(name, index)
    from_format = str(ctx.param("options.fromFormat", index, "") or "")
    target = zone_name
    offset = _PLUS_OFFSET.search(value) if target is None and isinstance(value, str) else None
    if offset is not None:  # n8n reads "+hh" as the zone Etc/GMT-hh (minutes are ignored, as there)
        target = zone(f"Etc/GMT-{int(offset.group(1))}")
    target = target or zone("Etc/UTC")
    return JSDate(_instant(value, UTC, from_format), target, luxon=True)


def _current_date(ctx: NodeContext, index: int) -> tuple[str, Any]:
    chosen = ctx.param("options.timezone", index, "")
    now = JSDate(now_ms(), zone(chosen) if chosen else _workflow_zone(ctx), luxon=True)
    if not ctx.param("includeTime", index, True):
        now = start_of(now, "days")
    return "currentDate", luxon_iso(now)


def _shift_date(sign: int) -> Operation:
    def operation(ctx: NodeContext, index: int) -> tuple[str, Any]:
        date = _v2_date(ctx, "magnitude", index, _workflow_zone(ctx))
        unit = plural(str(ctx.param("timeUnit", index, "days")))
        if unit not in _DURATION_UNITS:
            raise NodeError(f"Unknown time unit {unit!r}", code=ErrorCode.INVALID_PARAMETER)
        return "newDate", luxon_iso(
            shift(date, {unit: _number(ctx.param("duration", index, 0), "duration")}, sign)
        )

    return operation


def _format_date(ctx: NodeContext, index: int) -> tuple[str, Any]:
    value = ctx.param("date", index)
    if value is None or value is UNDEFINED:
        return "formattedDate", None
    in_workflow_zone = bool(ctx.param("options.timezone", index, False))
    date = _v2_date(ctx, "date", index, _workflow_zone(ctx) if in_workflow_zone else None)
    fmt = ctx.param("format", index, "MM/dd/yyyy")
    if fmt == "custom":
        fmt = ctx.param("customFormat", index, "")
    return "formattedDate", to_format(date, str(fmt))


def _round_date(ctx: NodeContext, index: int) -> tuple[str, Any]:
    date = _v2_date(ctx, "date", index, _workflow_zone(ctx))
    if ctx.param("mode", index, "roundDown") == "roundUp":
        unit = plural(str(ctx.param("to", index, "month")))
        return "roundedDate", luxon_iso(start_of(shift(date, {unit: 1}, 1), unit))
    return "roundedDate", luxon_iso(start_of(date, plural(str(ctx.param("toNearest", index, "month")))))


def _time_between(ctx: NodeContext, index: int) -> tuple[str, Any]:
    start = _v2_date(ctx, "startDate", index, _workflow_zone(ctx))
    end = _v2_date(ctx, "endDate", index, _workflow_zone(ctx))
    units = ctx.param("units", index, ["day"])
    units = [plural(str(u)) for u in (units if isinstance(units, list) else str(units).split(","))]
    duration = diff(start, end, units)
    return "timeDifference", duration_iso(duration) if ctx.param(
        "options.isoString", index, False
    ) else duration


def _extract_date(ctx: NodeContext, index: int) -> tuple[str, Any]:
    date = _v2_date(ctx, "date", index, _workflow_zone(ctx))
    part = str(ctx.param("part", index, "month"))
    local = date.local()
    assert local is not None  # _instant rejected invalid dates
    getters: dict[str, Callable[[], int]] = {
        "year": lambda: local.year,
        "month": lambda: local.month,
        "week": lambda: local.isocalendar()[1],
        "day": lambda: local.day,
        "hour": lambda: local.hour,
        "minute": lambda: local.minute,
        "second": lambda: local.second,
    }
    if part not in getters:
        raise NodeError(f"Unknown date part {part!r}", code=ErrorCode.INVALID_PARAMETER)
    return "datePart", getters[part]()


_V2_OPERATIONS: dict[str, Operation] = {
    "getCurrentDate": _current_date,
    "addToDate": _shift_date(1),
    "subtractFromDate": _shift_date(-1),
    "formatDate": _format_date,
    "roundDate": _round_date,
    "getTimeBetweenDates": _time_between,
    "extractDate": _extract_date,
}

NODE_TYPES: list[type[NodeType]] = [DateTime]
