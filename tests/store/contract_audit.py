"""Audit log reads: filters, newest-first keyset pages, signed cursors, and one tenant's log per tenant.

A mixin, composed per backend in ``test_store_contract.py`` (which provides ``database_url``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tenantflow.engine.errors import ErrorCode
from tenantflow.store.audit import Actor
from tenantflow.store.errors import InvalidRequestError
from tenantflow.store.models import AuditEntry
from tenantflow.store.unit import Store
from tests.store.contract_executions import unsigned_cursor
from tests.store.factories import chain_document, walk

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
# (user, operation, target type, target id, outcome), one minute apart from T0 on.
PLAN = [
    ("u1", "workflow.create", "workflow", "w1", "ok"),
    ("u2", "workflow.update", "workflow", "w1", "error"),
    ("u1", "workflow.delete", "workflow", "w2", "denied"),
    ("u2", "secret.set", "secret", "s1", "ok"),
    ("u1", "workflow.update", "workflow", "w1", "ok"),
    ("u2", "workflow.update", "workflow", "w2", "ok"),
    ("u1", "secret.read", "secret", "s1", "error"),
]


async def write_plan(store: Store, actor: Actor) -> list[int]:
    """The PLAN's entries in ``actor``'s tenant, oldest first; their ids in that order."""
    rows = [
        AuditEntry(
            user_id=user,
            operation=operation,
            target_type=target_type,
            target_id=target_id,
            outcome=outcome,
            error_code=None if outcome == "ok" else "SOME_CODE",
            request_id=f"req-{index}",
            ip="10.1.1.1",
            details={"n": index},
            created_at=T0 + timedelta(minutes=index),
        )
        for index, (user, operation, target_type, target_id, outcome) in enumerate(PLAN)
    ]
    async with store.unit(actor) as unit:
        unit.session.add_all(rows)
        await unit.session.flush()
        return [row.id for row in rows]


async def listed(store: Store, actor: Actor, **arguments: Any) -> list[dict[str, Any]]:
    async with store.unit(actor, read_only=True) as unit:
        return (await unit.audit_log.list(**arguments)).items


async def listed_ids(store: Store, actor: Actor, **arguments: Any) -> list[int]:
    """The ids ``list`` returns, without the operator's ``tenant.create`` entry every tenant starts with."""
    return [e["id"] for e in await listed(store, actor, **arguments) if e["targetType"] != "tenant"]


def newest_first(ids: list[int], keep: Any = lambda _index: True) -> list[int]:
    return [ids[index] for index in reversed(range(len(ids))) if keep(index)]


class AuditLogContract:
    async def test_audit_list_shows_entries_newest_first_in_camel_case(
        self, store: Store, actor_a: Actor
    ) -> None:
        ids = await write_plan(store, actor_a)
        entries = await listed(store, actor_a)
        assert entries[0]["operation"] == "tenant.create"  # the newest: the tenant was made today
        assert [entry["id"] for entry in entries[1:]] == newest_first(ids)
        assert entries[-1] == {
            "id": ids[0],
            "at": "2026-03-01T09:00:00.000Z",
            "userId": "u1",
            "requestId": "req-0",
            "ip": "10.1.1.1",
            "operation": "workflow.create",
            "targetType": "workflow",
            "targetId": "w1",
            "outcome": "ok",
            "errorCode": None,
            "details": {"n": 0},
        }

    async def test_audit_list_filters(self, store: Store, actor_a: Actor) -> None:
        ids = await write_plan(store, actor_a)
        cases: list[tuple[dict[str, Any], Any]] = [
            ({"userId": "u1"}, lambda i: PLAN[i][0] == "u1"),
            ({"operation": "workflow.update"}, lambda i: PLAN[i][1] == "workflow.update"),
            ({"targetType": "secret"}, lambda i: PLAN[i][2] == "secret"),
            ({"targetId": "w2"}, lambda i: PLAN[i][3] == "w2"),
            ({"outcome": "denied"}, lambda i: PLAN[i][4] == "denied"),
            ({"outcome": "error", "userId": "u2"}, lambda i: i == 1),
            ({"since": T0 + timedelta(minutes=5)}, lambda i: i >= 5),  # since is inclusive
            ({"until": (T0 + timedelta(minutes=2)).isoformat()}, lambda i: i < 2),  # until is not
            (
                {"since": "2026-03-01T09:01:00Z", "until": "2026-03-01T09:04:00Z", "targetId": "w1"},
                lambda i: i in (1,),
            ),
            ({"userId": "nobody"}, lambda _i: False),
        ]
        for filter_, keep in cases:
            assert await listed_ids(store, actor_a, filter=filter_) == newest_first(ids, keep), filter_

    async def test_audit_list_refuses_bad_filters_and_limits(self, store: Store, actor_a: Actor) -> None:
        bad: list[tuple[dict[str, Any], ErrorCode, str]] = [
            ({"filter": {"tenantId": "x"}}, ErrorCode.INVALID_FILTER, "$.filter.tenantId"),
            ({"filter": {"outcome": "failed"}}, ErrorCode.INVALID_FILTER, "$.filter.outcome"),
            ({"filter": {"userId": 7}}, ErrorCode.INVALID_FILTER, "$.filter.userId"),
            ({"filter": {"since": "yesterday"}}, ErrorCode.INVALID_FILTER, "$.filter.since"),
            ({"filter": {"until": datetime(2026, 1, 1)}}, ErrorCode.INVALID_FILTER, "$.filter.until"),
            ({"filter": ["userId"]}, ErrorCode.INVALID_FILTER, "$.filter"),
            ({"limit": 0}, ErrorCode.INVALID_PAGINATION, "$.limit"),
            ({"limit": 101}, ErrorCode.INVALID_PAGINATION, "$.limit"),
            ({"limit": True}, ErrorCode.INVALID_PAGINATION, "$.limit"),
        ]
        for arguments, code, path in bad:
            with pytest.raises(InvalidRequestError) as caught:
                await listed(store, actor_a, **arguments)
            assert (caught.value.code, caught.value.path) == (code, path), arguments
        assert await listed_ids(store, actor_a, limit=100) == []

    async def test_audit_list_pages_by_signed_cursor(self, store: Store, actor_a: Actor) -> None:
        ids = await write_plan(store, actor_a)
        async with store.unit(actor_a) as unit:  # entries of one instant: the id breaks the tie
            unit.session.add_all(
                AuditEntry(operation="tie", outcome="ok", created_at=T0 + timedelta(hours=1))
                for _ in range(3)
            )
        everything = [e["id"] for e in await listed(store, actor_a, limit=100)]
        async with store.unit(actor_a, read_only=True) as unit:
            seen, pages = await walk(lambda cursor: unit.audit_log.list(limit=3, cursor=cursor))
        assert [entry["id"] for entry in seen] == everything and len(seen) == 11 and pages == 4
        assert everything[4:] == newest_first(ids)  # after tenant.create and the three ties
        filtered = {"userId": "u1"}
        async with store.unit(actor_a, read_only=True) as unit:
            first = await unit.audit_log.list(filtered, limit=2)
            second = await unit.audit_log.list(filtered, limit=2, cursor=first.next_cursor)
        assert [e["id"] for e in first.items + second.items] == newest_first(
            ids, lambda i: PLAN[i][0] == "u1"
        )
        assert set(first.to_dict()) == {"items", "nextCursor", "hasMore"}

    async def test_audit_list_refuses_forged_and_borrowed_cursors(self, store: Store, actor_a: Actor) -> None:
        await write_plan(store, actor_a)
        async with store.unit(actor_a, read_only=True) as unit:
            page = await unit.audit_log.list({"userId": "u1"}, limit=1)
        cursor = page.next_cursor
        assert cursor is not None
        body, mac = cursor.split(".")
        executions_cursor = await _an_executions_cursor(store, actor_a)
        refused: list[dict[str, Any]] = [
            {"filter": {"userId": "u1"}, "cursor": body + "x." + mac},  # altered
            {"filter": {"userId": "u1"}, "cursor": f"{body}.{mac[::-1]}"},
            {"filter": {"userId": "u1"}, "cursor": unsigned_cursor(T0, "1")},  # forged, unsigned
            {"filter": {"userId": "u2"}, "cursor": cursor},  # another filter
            {"cursor": cursor},
            {"filter": {"userId": "u1"}, "cursor": executions_cursor},  # another list
        ]
        for arguments in refused:
            with pytest.raises(InvalidRequestError) as caught:
                await listed(store, actor_a, **arguments)
            assert (caught.value.code, caught.value.path) == (ErrorCode.INVALID_CURSOR, "$.cursor"), arguments

    async def test_audit_list_never_shows_another_tenants_entries(
        self, store: Store, actor_a: Actor, actor_b: Actor
    ) -> None:
        ids = await write_plan(store, actor_a)
        async with store.unit(actor_a, read_only=True) as unit:
            cursor = (await unit.audit_log.list(limit=1)).next_cursor
        assert await listed_ids(store, actor_b, limit=100) == []
        for filter_ in ({"userId": "u1"}, {"targetId": "w1"}, {"since": T0 - timedelta(days=1)}):
            assert await listed_ids(store, actor_b, filter=filter_) == []
        with pytest.raises(InvalidRequestError) as caught:
            await listed(store, actor_b, cursor=cursor)
        assert caught.value.code is ErrorCode.INVALID_CURSOR
        async with store.unit(actor_b) as unit:
            await unit.workflows.create(chain_document("b-own"))
        b_entries = await listed(store, actor_b)
        assert [(e["operation"], e["userId"]) for e in b_entries] == [
            ("workflow.create", actor_b.user_id),
            ("tenant.create", None),
        ]
        assert not {e["id"] for e in b_entries} & set(ids)
        assert await listed_ids(store, actor_a, limit=100) == newest_first(ids)


async def _an_executions_cursor(store: Store, actor: Actor) -> str:
    """A genuine cursor of the same tenant's executions list."""
    async with store.unit(actor) as unit:
        for _ in range(2):
            await unit.executions.create()
    async with store.unit(actor, read_only=True) as unit:
        cursor = (await unit.executions.list(limit=1)).next_cursor
    assert cursor is not None
    return cursor
