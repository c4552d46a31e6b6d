"""Node outputs as the executor keeps them: well-formed item lists, and their serialised size."""

from __future__ import annotations

import json
from typing import Any

from tenantflow.engine.errors import ErrorCode, NodeError
from tenantflow.engine.sdk import Item, Items


def normalise_outputs(result: Any) -> list[Items]:
    """Accept what nodes return (lists of item lists) and make every item a ``{"json": {...}}`` dict.

    Well-formed outputs (the common case) are returned as they are, without copying.
    """
    if result is None:
        return []
    if not isinstance(result, list):
        raise NodeError("node returned outputs that are not a list", code=ErrorCode.NODE_EXECUTION_FAILED)
    for index, output in enumerate(result):
        if output is None:
            result[index] = []
        elif not isinstance(output, list) or not all(
            type(item) is dict and type(item.get("json")) is dict for item in output
        ):
            result[index] = [as_item(item) for item in output or []]
    return result


def as_item(item: Any) -> Item:
    if not isinstance(item, dict):
        raise NodeError("node returned an item that is not an object", code=ErrorCode.NODE_EXECUTION_FAILED)
    return item if isinstance(item.get("json"), dict) else {"json": item}


_ENCODER = json.JSONEncoder(separators=(",", ":"), default=str, check_circular=False)


def item_bytes(outputs: list[Items]) -> int:
    """Serialised size of a node's output — what peakMemory and dataProcessed count."""
    return len(_ENCODER.encode(outputs))
