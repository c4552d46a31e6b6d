"""Rows and documents the store tests share."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, select

from tenantflow.store.keyset import KeysetPage
from tenantflow.store.models import AuditEntry, Workflow
from tenantflow.store.unit import Store, Unit


def chain_document(name: str = "chain", length: int = 2) -> dict[str, Any]:
    """A valid n8n document: a manual trigger followed by ``length - 1`` noOps."""
    nodes: list[dict[str, Any]] = [
        {
            "id": "n0",
            "name": "Start",
            "type": "n8n-nodes-base.manualTrigger",
            "typeVersion": 1,
            "position": [0, 0],
            "parameters": {},
        }
    ]
    connections: dict[str, Any] = {}
    for index in range(1, length):
        nodes.append(
            {
                "id": f"n{index}",
                "name": f"Step {index}",
                "type": "n8n-nodes-base.noOp",
                "typeVersion": 1,
                "position": [index * 200, 0],
                "parameters": {},
            }
        )
        connections[nodes[index - 1]["name"]] = {
            "main": [[{"node": f"Step {index}", "type": "main", "index": 0}]]
        }
    return {"name": name, "nodes": nodes, "connections": connections}


async def insert_workflow_row(unit: Unit, name: str | None = None) -> str:
    """A workflow row written straight through the ORM, for tests of other repositories."""
    document = chain_document(name or f"wf-{uuid.uuid4().hex[:8]}")
    row = Workflow(
        name=document["name"],
        nodes=document["nodes"],
        connections=document["connections"],
        validation_status="valid",
    )
    unit.session.add(row)
    await unit.session.flush()
    return row.id


async def audit_log(store: Store, tenant_id: str) -> list[AuditEntry]:
    """The tenant's audit rows oldest first, without the operator's own ``tenant.*`` rows."""
    async with store.database.transaction(tenant_id, read_only=True) as session:
        query = select(AuditEntry).where(AuditEntry.target_type != "tenant").order_by(AuditEntry.id)
        return list(await session.scalars(query))


async def walk(page_at: Callable[[str | None], Awaitable[KeysetPage[Any]]]) -> tuple[list[Any], int]:
    """Every item of a keyset list, following ``nextCursor`` from the first page: (items, pages)."""
    items: list[Any] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = await page_at(cursor)
        items += page.items
        pages += 1
        if not page.has_more:
            assert page.next_cursor is None
            return items, pages
        cursor = page.next_cursor


@contextmanager
def engine_events(store: Store, name: str, keep: Any = None) -> Iterator[list[Any]]:
    """Collect what an engine event sees while the block runs: for ``before_cursor_execute`` the SQL
    (only statements containing ``keep`` when given), for others one entry per event."""
    seen: list[Any] = []

    def record(*args: Any) -> None:
        statement = args[2] if name == "before_cursor_execute" else name
        if keep is None or keep in statement:
            seen.append(statement)

    engine = store.database.engine.sync_engine
    event.listen(engine, name, record)
    try:
        yield seen
    finally:
        event.remove(engine, name, record)
