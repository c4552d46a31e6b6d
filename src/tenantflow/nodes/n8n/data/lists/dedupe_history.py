"""Remove Duplicates v2's history across executions: "Remove Items Processed in Previous Executions" and
"Clear Deduplication History".

n8n keeps this history in a table of its own (``processed_data``: one row per workflow and context, the
context being ``''`` for the workflow scope or ``n:<node id>`` for the node scope, the value
``{mode, data}``). We keep the same value in the workflow's static data, which the engine already hands
from one execution to the next, under :data:`HISTORY_KEY` of the ``global`` scope (workflow scope, shared
by every Remove Duplicates node of the workflow that uses it) or of the node's own scope. A Code node's
``$getWorkflowStaticData`` can see that key, which n8n's table is out of reach of; the reserved name keeps
what scripts write from colliding with it. The node scope follows the node's name (as static data does),
so renaming the node starts a new history where n8n's, keyed by node id, would carry on.

The stored shapes are n8n's: ``entries`` keeps the MD5 (base64) of each value seen, at most ``historySize``
of them (n8n refuses a run that could go beyond it, so the list never grows past the bound);
``latestIncrementalKey`` and ``latestDate`` keep the single largest value seen.
"""

from __future__ import annotations

import base64
import hashlib
import math
from collections.abc import Callable
from functools import cmp_to_key
from typing import Any

from tenantflow.engine.errors import ErrorCode, NodeError
from tenantflow.engine.expressions import UNDEFINED, js_string, to_number
from tenantflow.engine.expressions.dates import parse_date, resolve_zone
from tenantflow.engine.expressions.values import number_to_string
from tenantflow.engine.sdk import Items, NodeContext
from tenantflow.nodes.n8n.data.lists.operations import js_keys

HISTORY_KEY = "__tenantflow_dedupe__"
DEFAULT_HISTORY_SIZE = 10_000
MAX_HISTORY_SIZE = 100_000
"""Our bound on ``historySize`` (n8n has none): the whole history is read and written with the static data
on every execution, so 100,000 values (about 2.7 MB) is as far as it goes."""

LOGIC_MODES = {
    "removeItemsWithAlreadySeenKeyValues": "entries",
    "removeItemsUpToStoredIncrementalKey": "latestIncrementalKey",
    "removeItemsUpToStoredDate": "latestDate",
}
_VALUE_PARAMETERS = {
    "entries": "dedupeValue",
    "latestIncrementalKey": "incrementalDedupeValue",
    "latestDate": "dateDedupeValue",
}
_EMPTY = "The `Value to Dedupe` On is empty. Please provide a value."
_INCOMPATIBLE = (
    "Deduplication data was originally saved with an incompatible setting of the ‘Keep Items Where’ "
    "parameter. Try ’Clean Database’ operation to reset."
)

Compare = Callable[[str, str], int]


def remove_seen_before(ctx: NodeContext, items: Items) -> list[Items]:
    """Output 0 the items whose value is new to the history (which records it), output 1 the others."""
    mode = LOGIC_MODES.get(ctx.param("logic", 0, "removeItemsWithAlreadySeenKeyValues"))
    if mode is None:
        return [items]  # n8n lets everything through for a logic it does not know
    store = _history_scope(ctx)
    groups: dict[str, list[int]] = {}
    for index in range(len(items)):
        groups.setdefault(_item_key(ctx, mode, index), []).append(index)
    keys = js_keys(groups)  # n8n groups in an object: its key order decides the output order
    if mode == "entries":
        new, seen = _record_entries(ctx, store, keys, len(items))
    else:
        new, seen = _record_latest(store, mode, keys, _comparison(mode, ctx))
    return [_collect(items, groups, new), _collect(items, groups, seen)]


def clear_history(ctx: NodeContext, items: Items) -> list[Items]:
    """Forget the scope's history; the items pass through untouched."""
    if ctx.param("mode", 0, "cleanDatabase") == "cleanDatabase":
        _history_scope(ctx).pop(HISTORY_KEY, None)
    return [items]


def _history_scope(ctx: NodeContext) -> dict[str, Any]:
    scope = ctx.param("options.scope", 0, "node")
    if scope not in ("node", "workflow"):
        raise NodeError(
            f'The scope \'{js_string(scope)}\' is not supported. Please select either "node" or "workflow".',
            code=ErrorCode.INVALID_PARAMETER,
        )
    return ctx.static_data("global" if scope == "workflow" else "node")


def _item_key(ctx: NodeContext, mode: str, index: int) -> str:
    """The item's value as n8n keys it: ``String(value)``; a number's own text in incremental mode."""
    raw = ctx.param(_VALUE_PARAMETERS[mode], index, "")
    text = "" if raw is None or raw is UNDEFINED else js_string(raw)
    if mode == "entries":
        return text
    if not text:
        raise NodeError(_EMPTY)
    if mode == "latestIncrementalKey":
        number = to_number(raw)
        if math.isnan(number):
            raise NodeError(f"The value '{text}' is not a number. Please provide a number.")
        return number_to_string(number)
    if math.isnan(parse_date(text, resolve_zone(ctx.timezone))):
        raise NodeError(f"The value '{text}' is not a valid date. Please provide a valid date.")
    return text


def _stored(store: dict[str, Any], mode: str) -> Any:
    """The scope's recorded data for ``mode`` (None before the first record); another mode's is an error."""
    record = store.get(HISTORY_KEY)
    if record is None:
        return None
    if not isinstance(record, dict) or record.get("mode") not in _VALUE_PARAMETERS:
        raise NodeError(
            f"The deduplication history in the workflow's static data ('{HISTORY_KEY}') is damaged. "
            "Run the 'Clear Deduplication History' operation to reset it."
        )
    if record["mode"] != mode:
        raise NodeError(_INCOMPATIBLE)
    return record.get("data")


def _history_size(ctx: NodeContext) -> float:
    size = to_number(ctx.param("options.historySize", 0, DEFAULT_HISTORY_SIZE))
    if not 0 <= size <= MAX_HISTORY_SIZE:  # NaN fails too
        raise NodeError(
            f"History Size must be a number from 0 to {MAX_HISTORY_SIZE}",
            code=ErrorCode.INVALID_PARAMETER,
        )
    return size


def _digest(key: str) -> str:
    """n8n's value hash: MD5, base64."""
    return base64.b64encode(hashlib.md5(key.encode(), usedforsecurity=False).digest()).decode()


def _record_entries(
    ctx: NodeContext, store: dict[str, Any], keys: list[str], item_count: int
) -> tuple[list[str], list[str]]:
    size = _history_size(ctx)
    stored = _stored(store, "entries")
    history: list[str] = list(stored) if isinstance(stored, list) else []
    if len(history) + item_count > size:
        raise NodeError(
            "The number of items to be processed exceeds the maximum history size. "
            "Please increase the history size or reduce the number of items to be processed."
        )
    known = set(history)
    new: list[str] = []
    seen: list[str] = []
    for key in keys:
        digest = _digest(key)
        if digest in known:
            seen.append(key)
        else:
            new.append(key)
            history.append(digest)
    store[HISTORY_KEY] = {"mode": "entries", "data": history}
    if size > 0 and len(history) / size > 0.5:
        ctx.log(
            "warn",
            "Some duplicates may be not be removed since you're approaching the maximum history size "
            f"({number_to_string(size)} items). You can raise this limit using the ‘history size’ option.",
        )
    return new, seen


def _record_latest(
    store: dict[str, Any], mode: str, keys: list[str], compare: Compare
) -> tuple[list[str], list[str]]:
    """n8n's "latest" modes: values above the stored one are new, and the largest of them is stored."""
    stored = _stored(store, mode)
    ordered = sorted(keys, key=cmp_to_key(compare))
    if stored is None:
        if ordered:
            store[HISTORY_KEY] = {"mode": mode, "data": ordered[-1]}
        return keys, []
    if not isinstance(stored, str):
        raise NodeError(_invalid_value(mode))
    new: list[str] = []
    seen: list[str] = []
    largest = stored
    for key in ordered:
        if compare(key, stored) == 1:
            new.append(key)
            if compare(key, largest) == 1:
                largest = key
        else:
            seen.append(key)
    store[HISTORY_KEY] = {"mode": mode, "data": largest}
    return new, seen


def _invalid_value(mode: str) -> str:
    kind = "numbers" if mode == "latestIncrementalKey" else "valid dates"
    return f'Invalid value. Only {kind} are supported in mode "{mode}"'


def _comparison(mode: str, ctx: NodeContext) -> Compare:
    """n8n's ``compareValues``: 1, 0 or -1 by number; by date 1 or -1 (it compares two Luxon objects,
    which are never identical, so equal instants order as "less")."""
    zone = resolve_zone(ctx.timezone)

    def value(text: str) -> float:
        parsed = to_number(text) if mode == "latestIncrementalKey" else parse_date(text, zone)
        if math.isnan(parsed):
            raise NodeError(_invalid_value(mode))
        return parsed

    def compare(a: str, b: str) -> int:
        left, right = value(a), value(b)
        if mode == "latestIncrementalKey" and left == right:
            return 0
        return 1 if left > right else -1

    return compare


def _collect(items: Items, groups: dict[str, list[int]], keys: list[str]) -> Items:
    return [{**items[index], "pairedItem": {"item": index}} for key in keys for index in groups[key]]
