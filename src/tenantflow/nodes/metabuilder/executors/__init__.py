"""Node family ``metabuilder.executors``: MetaBuilder's class-based executors (spec §4.1).

``transform``, ``set-variable``, ``webhook-response``, ``http-request``, ``email-send``/``smtp-relay-send``
live in this package's modules; this module holds the data nodes ``dbal-read`` and ``dbal-write`` and the
storage interface they use. (``condition`` is the If node's alias in
:mod:`tenantflow.nodes.n8n.flow.branching`; MetaBuilder's ``wait`` is not registered because the name is
n8n Wait's alias.)

MetaBuilder's DBAL nodes called a REST service and added the tenant id to every filter and record. Here the
host hands the nodes a :class:`WorkflowDataStore` already scoped to the executing tenant, through the
:data:`current_data_store` context variable (set it around ``execute``; the executor's tasks inherit it), so
a workflow cannot name another tenant's data at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from typing import Any, ClassVar, Literal, Protocol

from tenantflow.engine.errors import ErrorCode, NodeError
from tenantflow.engine.expressions import js_string, to_json
from tenantflow.engine.sdk import Items, NodeContext, NodeType
from tenantflow.nodes.metabuilder.executors import mail, utility, web
from tenantflow.nodes.metabuilder.executors.common import (
    DATA_STORE_UNAVAILABLE,
    DBAL_READ_ERROR,
    DBAL_WRITE_ERROR,
    TEXT,
    choice,
    or_template,
    per_item_async,
)
from tenantflow.nodes.n8n.core import first_input, object_schema

Record = dict[str, Any]
SortOrder = Sequence[tuple[str, Literal["asc", "desc"]]]
DEFAULT_LIMIT = 100
LARGE_LIMIT = 10_000


class DataStoreError(Exception):
    """A store's refusal the workflow author should see (unknown entity, constraint violated ...)."""


class WorkflowDataStore(Protocol):
    """The tenant's entity records, as the host exposes them to workflows; every call is tenant-scoped.

    ``filter`` maps field names to required values (equality); ``sort`` is ``(field, "asc"|"desc")`` pairs
    applied in order. Methods raise :class:`DataStoreError` for failures the author can act on.
    """

    async def read(
        self, entity: str, filter: Mapping[str, Any], sort: SortOrder, limit: int, offset: int
    ) -> list[Record]: ...

    async def get(self, entity: str, id: str) -> Record | None: ...

    async def count(self, entity: str, filter: Mapping[str, Any]) -> int: ...

    async def create(self, entity: str, data: Mapping[str, Any]) -> Record: ...

    async def update(
        self,
        entity: str,
        data: Mapping[str, Any],
        *,
        id: str | None = None,
        filter: Mapping[str, Any] | None = None,
    ) -> list[Record]:
        """Apply ``data`` to the record ``id`` or to every record matching ``filter``; the updated records."""
        ...

    async def delete(self, entity: str, id: str) -> bool:
        """Whether a record was deleted."""
        ...


current_data_store: ContextVar[WorkflowDataStore | None] = ContextVar("current_data_store", default=None)


def _store() -> WorkflowDataStore:
    store = current_data_store.get()
    if store is None:
        raise NodeError(
            "No data store is available to this workflow",
            code=DATA_STORE_UNAVAILABLE,
            retryable=False,
            description="The host running the workflow did not provide tenant data (current_data_store).",
        )
    return store


# --- parameters ----------------------------------------------------------------------------------------


def _entity(ctx: NodeContext, index: int) -> str:
    entity = js_string(ctx.param("entity", index, "") or "")
    if not entity:
        raise NodeError("Parameter 'entity' is required", code=ErrorCode.INVALID_PARAMETER)
    return entity


def _object(ctx: NodeContext, name: str, index: int) -> dict[str, Any]:
    value = to_json(ctx.param(name, index, {}) or {})
    if not isinstance(value, dict):
        raise NodeError(f"Parameter '{name}' must be an object", code=ErrorCode.INVALID_PARAMETER)
    return value


def _id(ctx: NodeContext, index: int, operation: str) -> str:
    value = ctx.param("id", index, None)
    if value is None or value == "":
        raise NodeError(f"Operation '{operation}' needs an 'id'", code=ErrorCode.INVALID_PARAMETER)
    return js_string(value)


def _count_param(ctx: NodeContext, name: str, index: int, default: int) -> int:
    value = ctx.param(name, index, default)
    try:
        number = int(value) if not isinstance(value, bool) and float(value) == int(float(value)) else -1
    except (TypeError, ValueError, OverflowError):  # not a number, or an infinity
        number = -1
    if number < 0:
        raise NodeError(
            f"Parameter '{name}' must be a whole number of 0 or more", code=ErrorCode.INVALID_PARAMETER
        )
    return number


def _sort(ctx: NodeContext, index: int) -> list[tuple[str, Literal["asc", "desc"]]]:
    """MetaBuilder's ``{field: "asc"|"desc"}`` object, as ordered pairs."""
    order: list[tuple[str, Literal["asc", "desc"]]] = []
    for field, direction in _object(ctx, "sort", index).items():
        text = js_string(direction).lower()
        if text not in ("asc", "desc"):
            raise NodeError(
                f"Sort direction for {field!r} must be asc or desc", code=ErrorCode.INVALID_PARAMETER
            )
        order.append((field, "asc" if text == "asc" else "desc"))
    return order


def _operation(ctx: NodeContext, index: int, allowed: tuple[str, ...], default: str | None) -> str:
    operation = ctx.param("operation", index, default)
    if operation not in allowed:
        raise NodeError(
            f"Operation must be one of {', '.join(allowed)}, not {operation!r}",
            code=ErrorCode.INVALID_PARAMETER,
        )
    return str(operation)


def _needs(operation: str, *keys: str) -> dict[str, Any]:
    """Schema rule: a literal ``operation`` of this value requires ``keys``."""
    return {
        "if": {"properties": {"operation": {"const": operation}}, "required": ["operation"]},
        "then": {"required": list(keys)},
    }


_FILTER = or_template({"type": "object"})
_COUNT = or_template({"type": "integer", "minimum": 0})
_ID = or_template({"type": ["string", "integer"]})


# --- dbal-read -----------------------------------------------------------------------------------------

READ_OPERATIONS = ("read", "count", "get")


class DbalRead(NodeType):
    """Reads the tenant's records: a filtered, sorted page (``read``), a ``count``, or one record (``get``).

    ``read`` answers ``{entity, filter, sort, limit, offset, items, total}`` (total = all matches, for
    paging); ``count`` answers ``{entity, filter, count}``; ``get`` answers the record itself.
    """

    type = "dbal-read"
    display_name = "DBAL Read"
    description = "Reads records of an entity from the tenant's data store."
    parameters_schema: ClassVar[dict[str, Any]] = object_schema(
        {
            "entity": TEXT,
            "operation": choice(*READ_OPERATIONS),
            "filter": _FILTER,
            "sort": or_template({"type": "object", "additionalProperties": choice("asc", "desc")}),
            "limit": _COUNT,
            "offset": _COUNT,
            "id": _ID,
        },
        required=("entity",),
    ) | _needs("get", "id")

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        return await per_item_async(first_input(inputs), lambda index, item: self._read(ctx, index))

    async def _read(self, ctx: NodeContext, index: int) -> Any:
        entity = _entity(ctx, index)
        operation = _operation(ctx, index, READ_OPERATIONS, "read")
        store = _store()
        try:
            if operation == "get":
                return await self._get(store, entity, _id(ctx, index, operation))
            filter_ = _object(ctx, "filter", index)
            if operation == "count":
                return {"entity": entity, "filter": filter_, "count": await store.count(entity, filter_)}
            return await self._page(ctx, index, store, entity, filter_)
        except DataStoreError as exc:
            raise NodeError(f"DBAL read failed: {exc}", code=DBAL_READ_ERROR) from exc

    async def _get(self, store: WorkflowDataStore, entity: str, id_: str) -> Record:
        record = await store.get(entity, id_)
        if record is None:
            raise NodeError(
                f"DBAL read failed: {entity} {id_!r} not found", code=DBAL_READ_ERROR, retryable=False
            )
        return record

    async def _page(
        self, ctx: NodeContext, index: int, store: WorkflowDataStore, entity: str, filter_: dict[str, Any]
    ) -> dict[str, Any]:
        limit = _count_param(ctx, "limit", index, DEFAULT_LIMIT)
        if limit > LARGE_LIMIT:
            ctx.log("warn", f"Reading up to {limit} {entity} records at once")
        offset = _count_param(ctx, "offset", index, 0)
        sort = _sort(ctx, index)
        items = await store.read(entity, filter_, sort, limit, offset)
        total = await store.count(entity, filter_)
        return {
            "entity": entity,
            "filter": filter_,
            "sort": dict(sort),
            "limit": limit,
            "offset": offset,
            "items": items,
            "total": total,
        }


# --- dbal-write ----------------------------------------------------------------------------------------

WRITE_OPERATIONS = ("create", "update", "delete")


class DbalWrite(NodeType):
    """Creates, updates (by ``id`` or by ``filter``) or deletes the tenant's records.

    ``create`` and ``update`` by id answer the record; ``update`` by filter answers
    ``{entity, filter, updated, items}``; ``delete`` answers ``{entity, id, deleted: true}``. A missing
    record for update or delete is an error, as the REST service's 404 was.
    """

    type = "dbal-write"
    display_name = "DBAL Write"
    description = "Creates, updates or deletes records of an entity in the tenant's data store."
    parameters_schema: ClassVar[dict[str, Any]] = object_schema(
        {
            "entity": TEXT,
            "operation": choice(*WRITE_OPERATIONS),
            "data": or_template({"type": "object"}),
            "id": _ID,
            "filter": _FILTER,
        },
        required=("entity", "operation"),
    ) | {
        "allOf": [
            _needs("create", "data"),
            _needs("update", "data"),
            _needs("delete", "id"),
            {
                "if": _needs("update")["if"],
                "then": {"anyOf": [{"required": ["id"]}, {"required": ["filter"]}]},
            },
        ]
    }

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        return await per_item_async(first_input(inputs), lambda index, item: self._write(ctx, index))

    async def _write(self, ctx: NodeContext, index: int) -> Any:
        entity = _entity(ctx, index)
        operation = _operation(ctx, index, WRITE_OPERATIONS, None)
        store = _store()
        try:
            if operation == "delete":
                return await self._delete(store, entity, _id(ctx, index, operation))
            data = _object(ctx, "data", index)
            if not data:
                raise NodeError(f"Operation '{operation}' needs 'data'", code=ErrorCode.INVALID_PARAMETER)
            if operation == "create":
                return await store.create(entity, data)
            return await self._update(ctx, index, store, entity, data)
        except DataStoreError as exc:
            raise NodeError(f"DBAL write failed: {exc}", code=DBAL_WRITE_ERROR) from exc

    async def _update(
        self, ctx: NodeContext, index: int, store: WorkflowDataStore, entity: str, data: dict[str, Any]
    ) -> Any:
        if ctx.param("id", index, None) not in (None, ""):
            id_ = _id(ctx, index, "update")
            updated = await store.update(entity, data, id=id_)
            if not updated:
                raise _not_found(entity, id_)
            return updated[0]
        filter_ = _object(ctx, "filter", index)
        if not filter_:
            raise NodeError(
                "Operation 'update' needs an 'id' or a 'filter'", code=ErrorCode.INVALID_PARAMETER
            )
        items = await store.update(entity, data, filter=filter_)
        return {"entity": entity, "filter": filter_, "updated": len(items), "items": items}

    async def _delete(self, store: WorkflowDataStore, entity: str, id_: str) -> dict[str, Any]:
        if not await store.delete(entity, id_):
            raise _not_found(entity, id_)
        return {"entity": entity, "id": id_, "deleted": True}


def _not_found(entity: str, id_: str) -> NodeError:
    return NodeError(f"DBAL write failed: {entity} {id_!r} not found", code=DBAL_WRITE_ERROR, retryable=False)


NODE_TYPES: list[type[NodeType]] = [
    utility.Transform,
    utility.SetVariable,
    utility.MetaWait,
    web.MetaHttpRequest,
    web.WebhookResponse,
    mail.EmailSend,
    mail.SmtpRelaySend,
    DbalRead,
    DbalWrite,
]
