"""Node outputs as the executor keeps them: well-formed item lists, and their serialised size."""

from __future__ import annotations

from json.encoder import c_make_encoder, encode_basestring_ascii  # type: ignore[attr-defined]
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
        if isinstance(output, list):
            # A plain loop rather than a helper or all(): this runs for every output of every node.
            for item in output:
                if type(item) is not dict or type(item.get("json")) is not dict:
                    break
            else:
                continue  # well-formed
        result[index] = [as_item(item) for item in output or []]
    return result


def as_item(item: Any) -> Item:
    if not isinstance(item, dict):
        raise NodeError("node returned an item that is not an object", code=ErrorCode.NODE_EXECUTION_FAILED)
    return item if isinstance(item.get("json"), dict) else {"json": item}


# The C encoder behind json.dumps, built once: calling it directly skips json's per-call Python set-up,
# which costs more than encoding a small output. Compact separators, non-JSON values as str().
_ENCODE = c_make_encoder(None, str, encode_basestring_ascii, None, ":", ",", False, False, True)


def item_bytes(outputs: list[Items]) -> int:
    """Serialised size of a node's output: what peakMemory and dataProcessed count. The encoder returns its
    text in chunks, usually one, which ``join`` then hands back as it is."""
    return len("".join(_ENCODE(outputs, 0)))
