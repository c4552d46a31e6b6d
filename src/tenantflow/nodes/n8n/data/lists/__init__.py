"""The item-list family: Item Lists (v1-v3.1) and its successors Split Out, Aggregate, Limit, Remove
Duplicates, Summarize, Sort and Rename Keys.

Each node class only picks the operation and the per-version rules; the operations themselves live in
:mod:`tenantflow.nodes.n8n.data.lists.operations`, :mod:`tenantflow.nodes.n8n.data.lists.summarize`,
:mod:`tenantflow.nodes.n8n.data.lists.rename` and (Remove Duplicates' history across executions)
:mod:`tenantflow.nodes.n8n.data.lists.dedupe_history`, so every dialect shares one implementation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tenantflow.engine.definition import NodeDefinition
from tenantflow.engine.errors import ErrorCode, NodeError
from tenantflow.engine.expressions import js_truthy
from tenantflow.engine.sdk import Items, NodeContext, NodeType
from tenantflow.nodes.n8n.core import BOOLEAN, NUMBER, STRING, first_input, object_schema, one_of
from tenantflow.nodes.n8n.data.lists.dedupe_history import LOGIC_MODES, clear_history, remove_seen_before
from tenantflow.nodes.n8n.data.lists.operations import (
    DedupeRules,
    SplitRules,
    aggregate,
    field_list,
    limit_items,
    remove_duplicates,
    sort_items,
    split_out,
)
from tenantflow.nodes.n8n.data.lists.rename import rename_keys
from tenantflow.nodes.n8n.data.lists.summarize import SummarizeRules, summarize

# --- schemas --------------------------------------------------------------------------------------------

_FIELDS: dict[str, Any] = {"type": ["string", "array", "object"]}
"""A field list: "a, b" text, a list of names, or Item Lists v1/v2's ``{fields: [{fieldName}]}``."""


def _list_of(properties: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": object_schema(properties)}


_OPTIONS = object_schema(
    {
        "disableDotNotation": BOOLEAN,
        "destinationFieldName": STRING,
        "mergeLists": BOOLEAN,
        "keepMissing": BOOLEAN,
        "removeOtherFields": BOOLEAN,
        "includeBinary": BOOLEAN,
        "includeBinaries": BOOLEAN,
        "keepOnlyUnique": BOOLEAN,
        "outputFormat": one_of("separateItems", "singleItem"),
        "skipEmptySplitFields": BOOLEAN,
        "continueIfFieldNotFound": BOOLEAN,
        "groupByFields": _FIELDS,
    }
)
_SPLIT = {
    "fieldToSplitOut": STRING,
    "include": one_of("noOtherFields", "allOtherFields", "selectedOtherFields"),
    "fieldsToInclude": _FIELDS,
}
_AGGREGATE = {
    "aggregate": one_of("aggregateIndividualFields", "aggregateAllItemData"),
    "fieldsToAggregate": object_schema(
        {
            "fieldToAggregate": _list_of(
                {"fieldToAggregate": STRING, "renameField": BOOLEAN, "outputFieldName": STRING}
            )
        }
    ),
    "destinationFieldName": STRING,
    "include": one_of("allFields", "specifiedFields", "allFieldsExcept"),
    "fieldsToInclude": _FIELDS,
    "fieldsToExclude": _FIELDS,
}
_DEDUPE = {
    "compare": one_of("allFields", "allFieldsExcept", "selectedFields"),
    "fieldsToExclude": _FIELDS,
    "fieldsToCompare": _FIELDS,
}
_SORT = {
    "type": one_of("simple", "random", "code"),
    "sortFieldsUi": object_schema(
        {"sortField": _list_of({"fieldName": STRING, "order": one_of("ascending", "descending")})}
    ),
    "code": STRING,
}
_LIMIT = {"maxItems": NUMBER, "keep": one_of("firstItems", "lastItems")}
_AGGREGATIONS = ("append", "average", "concatenate", "count", "countUnique", "max", "min", "sum")
_SUMMARIZE = {
    "fieldsToSummarize": object_schema(
        {
            "values": _list_of(
                {
                    "aggregation": one_of(*_AGGREGATIONS),
                    "field": STRING,
                    "includeEmpty": BOOLEAN,
                    "separateBy": STRING,
                    "customSeparator": STRING,
                }
            )
        }
    ),
    "fieldsToSplitBy": STRING,
}


def _schema(*groups: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    properties: dict[str, Any] = {"options": _OPTIONS}
    for group in groups:
        properties.update(group)
    properties.update(extra)
    return object_schema(properties)


_ITEM_LIST_OPERATIONS = ("limit", "removeDuplicates", "sort", "splitOutItems", "summarize")
# Item Lists reads "include" for both split out and aggregate: accept either family of values.
_ITEM_LISTS_INCLUDE = one_of(
    "noOtherFields",
    "allOtherFields",
    "selectedOtherFields",
    "allFields",
    "specifiedFields",
    "allFieldsExcept",
)


def _item_lists_schema(aggregate_operation: str) -> dict[str, Any]:
    return _schema(
        _SPLIT,
        _AGGREGATE,
        _DEDUPE,
        _SORT,
        _LIMIT,
        _SUMMARIZE,
        resource=one_of("itemList"),
        operation=one_of(aggregate_operation, *_ITEM_LIST_OPERATIONS),
        include=_ITEM_LISTS_INCLUDE,
    )


_ITEM_LISTS_V1_V2 = _item_lists_schema("aggregateItems")
_ITEM_LISTS_V3 = _item_lists_schema("concatenateItems")

# --- Item Lists -----------------------------------------------------------------------------------------

_ITEM_LISTS_NUMERIC = frozenset({"average", "max", "min", "sum"})
_NUMERIC = frozenset({"average", "sum"})


def _split_rules(version: float) -> SplitRules:
    if version < 2:
        return SplitRules(legacy=True)
    if version < 3:
        return SplitRules(missing_is_error=version < 2.1, scalar_is_error=version < 2.2)
    return SplitRules()


def _item_lists_summary_rules(version: float) -> SummarizeRules:
    if version < 3:
        return SummarizeRules(_ITEM_LISTS_NUMERIC, math_extremes=True, sanitize_keys=version >= 2)
    return SummarizeRules(_NUMERIC)


class ItemLists(NodeType):
    """Item Lists: split out, aggregate (concatenate), remove duplicates, sort, limit and summarize.

    v2.1 stopped failing on fields missing from every item; v2.2 split several fields at once and treats a
    single value as a one-element list; v3 takes field lists as text; v3.1 deduplicates values of mixed types.
    """

    cpu_only = True

    type = "n8n-nodes-base.itemLists"
    versions = (1, 2, 2.1, 2.2, 3, 3.1)
    display_name = "Item Lists"
    description = "Helper for working with lists of items and transforming arrays"
    aliases = ("itemLists",)

    def schema_for(self, version: float) -> Mapping[str, Any]:
        return _ITEM_LISTS_V1_V2 if version < 3 else _ITEM_LISTS_V3

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        items = first_input(inputs)
        version = ctx.node.type_version
        operation = ctx.param("operation", 0, "splitOutItems")
        if operation == "splitOutItems":
            return [split_out(ctx, items, _split_rules(version))]
        if operation in ("aggregateItems", "concatenateItems"):
            return [[aggregate(ctx, items, require_fields=version < 2.1)]]
        if operation == "removeDuplicates":
            rules = DedupeRules(group_by_type=version >= 3.1, check_types=version < 3.1)
            return [remove_duplicates(ctx, items, rules)]
        if operation == "sort":
            return [await sort_items(ctx, items)]
        if operation == "limit":
            return [limit_items(ctx, items)]
        if operation == "summarize":
            rules_ = _item_lists_summary_rules(version)
            return [summarize(ctx, items, rules_, require_fields=version < 2.1)]
        raise NodeError(f"Operation '{operation}' is not recognized", code=ErrorCode.INVALID_PARAMETER)


# --- standalone successors ------------------------------------------------------------------------------


class SplitOut(NodeType):
    cpu_only = True
    type = "n8n-nodes-base.splitOut"
    display_name = "Split Out"
    description = "Turn a list inside item(s) into separate items"
    aliases = ("splitOut",)
    parameters_schema = _schema(_SPLIT)

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        return [split_out(ctx, first_input(inputs), SplitRules(standalone=True))]


class Aggregate(NodeType):
    cpu_only = True
    type = "n8n-nodes-base.aggregate"
    display_name = "Aggregate"
    description = "Combine a field from many items into a list in a single item"
    aliases = ("aggregate",)
    parameters_schema = _schema(_AGGREGATE)

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        if field_list(ctx.param("options.groupByFields", 0, "")):
            raise NodeError(
                "Aggregate option 'Group By Fields' is not supported yet", code=ErrorCode.INVALID_PARAMETER
            )
        return [[aggregate(ctx, first_input(inputs))]]


class Limit(NodeType):
    cpu_only = True
    type = "n8n-nodes-base.limit"
    display_name = "Limit"
    description = "Restrict the number of items"
    aliases = ("limit",)
    parameters_schema = _schema(_LIMIT)

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        return [limit_items(ctx, first_input(inputs))]


_WITHIN_INPUT = ("removeDuplicateInputItems", "removeItemsRepeatedWithinCurrentInput")
"""n8n's value, then the spelling our v2 schema first accepted (kept so workflows saved with it still run)."""
_HISTORY_OPTIONS = {
    **_OPTIONS["properties"],
    "scope": one_of("node", "workflow"),
    "historySize": NUMBER,
}
_DEDUPE_V2 = {
    **_DEDUPE,
    "operation": one_of(*_WITHIN_INPUT, "removeItemsSeenInPreviousExecutions", "clearDeduplicationHistory"),
    "logic": one_of(*LOGIC_MODES),
    "dedupeValue": {"type": ["string", "number", "boolean"]},
    "incrementalDedupeValue": {"type": ["string", "number"]},
    "dateDedupeValue": STRING,
    "mode": one_of("cleanDatabase"),
    "options": object_schema(_HISTORY_OPTIONS),
}


class RemoveDuplicates(NodeType):
    """Remove Duplicates. v1.1 lets null values through the type checks; v2 adds the history operations:
    remove items whose value an earlier execution already passed, and clear that history. The history lives
    in the workflow's static data under a reserved key (see
    :mod:`tenantflow.nodes.n8n.data.lists.dedupe_history` for why and how it differs from n8n's table);
    as in n8n, output 0 holds the kept items and output 1 the discarded ones.
    """

    cpu_only = True

    type = "n8n-nodes-base.removeDuplicates"
    versions = (1, 1.1, 2)
    display_name = "Remove Duplicates"
    description = "Delete items with matching field values"
    aliases = ("removeDuplicates",)

    def schema_for(self, version: float) -> Mapping[str, Any]:
        return _schema(_DEDUPE) if version < 2 else _schema(_DEDUPE_V2)

    def keeps_static_data(self, node: NodeDefinition) -> bool:
        operation = node.parameters.get("operation", _WITHIN_INPUT[0])
        return node.type_version >= 2 and operation not in _WITHIN_INPUT

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        version = ctx.node.type_version
        items = first_input(inputs)
        operation = ctx.param("operation", 0, _WITHIN_INPUT[0]) if version >= 2 else _WITHIN_INPUT[0]
        if operation == "removeItemsSeenInPreviousExecutions":
            return remove_seen_before(ctx, items)
        if operation == "clearDeduplicationHistory":
            return clear_history(ctx, items)
        if operation not in _WITHIN_INPUT:
            raise NodeError(f"Operation '{operation}' is not recognized", code=ErrorCode.INVALID_PARAMETER)
        return [remove_duplicates(ctx, items, DedupeRules(skip_nulls=version > 1))]


class Summarize(NodeType):
    """Summarize. v1 fails on a field found in no item unless told to continue; v1.1 only warns and keeps
    the first split field's original type (``0``, not ``"0"``).
    """

    cpu_only = True

    type = "n8n-nodes-base.summarize"
    versions = (1, 1.1)
    display_name = "Summarize"
    description = "Sum, count, max, etc. across items"
    aliases = ("summarize",)
    parameters_schema = _schema(_SUMMARIZE)

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        version = ctx.node.type_version
        rules = SummarizeRules(_NUMERIC, count_empty_option=True, original_types=version > 1)
        keep_going = version > 1 or js_truthy(ctx.param("options.continueIfFieldNotFound", 0, False))
        return [summarize(ctx, first_input(inputs), rules, require_fields=not keep_going)]


class Sort(NodeType):
    type = "n8n-nodes-base.sort"
    display_name = "Sort"
    description = "Change items order"
    aliases = ("sort",)
    parameters_schema = _schema(_SORT)

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        return [await sort_items(ctx, first_input(inputs))]


_REPLACEMENT = object_schema(
    {
        "searchRegex": STRING,
        "replaceRegex": STRING,
        "options": object_schema({"caseInsensitive": BOOLEAN, "depth": NUMBER}),
    }
)


class RenameKeys(NodeType):
    cpu_only = True
    type = "n8n-nodes-base.renameKeys"
    display_name = "Rename Keys"
    description = "Update item field names"
    aliases = ("renameKeys",)
    parameters_schema = object_schema(
        {
            "keys": object_schema({"key": _list_of({"currentKey": STRING, "newKey": STRING})}),
            "additionalOptions": object_schema(
                {
                    "regexReplacement": object_schema(
                        {"replacements": {"type": "array", "items": _REPLACEMENT}}
                    )
                }
            ),
        }
    )

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        return [rename_keys(ctx, first_input(inputs))]


NODE_TYPES: list[type[NodeType]] = [
    ItemLists,
    SplitOut,
    Aggregate,
    Limit,
    RemoveDuplicates,
    Summarize,
    Sort,
    RenameKeys,
]
