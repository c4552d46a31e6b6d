"""Helpers the MetaBuilder action nodes share: per-item output, timestamps and their error codes.

MetaBuilder's executors answer each input item with one result object; here that result is the json of one
output item paired with its input item, so n8n-style item lineage keeps working downstream.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from tenantflow.engine.errors import ErrorCode
from tenantflow.engine.expressions import to_json
from tenantflow.engine.sdk import Item, Items

# MetaBuilder's error codes (spec §4.1) for failures of the outside system; bad parameters are
# INVALID_PARAMETER like everywhere else.
EMAIL_SEND_ERROR = ErrorCode.EMAIL_SEND_ERROR
DBAL_READ_ERROR = ErrorCode.DBAL_READ_ERROR
DBAL_WRITE_ERROR = ErrorCode.DBAL_WRITE_ERROR
DATA_STORE_UNAVAILABLE = ErrorCode.DATA_STORE_UNAVAILABLE


def iso_now() -> str:
    """The current time as JavaScript's ``new Date().toISOString()`` writes it (milliseconds, ``Z``)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def result_item(result: Any, index: int) -> Item:
    """One output item carrying ``result`` (plain JSON: ``undefined`` keys dropped) for input ``index``."""
    json_value = to_json(result)
    json_part = json_value if isinstance(json_value, dict) else {"result": json_value}
    return {"json": json_part, "pairedItem": {"item": index}}


def per_item(items: Items, answer: Callable[[int, Item], Any]) -> list[Items]:
    """The node's single output: ``answer``'s result for each input item, in order."""
    return [[result_item(answer(index, item), index) for index, item in enumerate(items)]]


async def per_item_async(items: Items, answer: Callable[[int, Item], Awaitable[Any]]) -> list[Items]:
    """:func:`per_item` for answers that do I/O; one item at a time, so side effects keep the items' order."""
    return [[result_item(await answer(index, item), index) for index, item in enumerate(items)]]


# --- schema fragments ----------------------------------------------------------------------------------

TEMPLATE: dict[str, Any] = {"type": "string", "pattern": r"^=|\{\{"}
"""A value still to be evaluated: an n8n ``=`` expression or a MetaBuilder ``{{ … }}`` template."""


def or_template(schema: Mapping[str, Any]) -> dict[str, Any]:
    """``schema`` or a template, since MetaBuilder writes ``{{ $json.n }}`` (no ``=``) where a number goes."""
    return {"anyOf": [dict(schema), TEMPLATE]}


def choice(*values: str) -> dict[str, Any]:
    return or_template({"enum": list(values)})


FLAG = or_template({"type": "boolean"})
TEXT: dict[str, Any] = {"type": "string"}
ANY_JSON: dict[str, Any] = {"type": ["object", "array", "string", "number", "boolean", "null"]}
