"""Retention contract: age limit, per-workflow cap, active runs kept, tenants apart, batches, SQLite space.

A mixin, composed per backend in ``test_store_contract.py`` (which provides ``database_url``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from tenantflow.engine.errors import ErrorCode
from tenantflow.store.audit import Actor
from tenantflow.store.errors import InvalidRequestError
from tenantflow.store.models import Execution, ExecutionLog, ExecutionNode
from tenantflow.store.retention import prune
from tenantflow.store.tenancy import SYSTEM
from tenantflow.store.tenants import RetentionPolicy, Tenants
from tenantflow.store.unit import Store
from tests.store.contract_executions import audit_entries, insert_executions, new_workflow
from tests.store.factories import engine_events

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


async def set_policy(store: Store, tenant_id: str, days: int = 14, max_per_workflow: int = 10_000) -> None:
    await Tenants(store.database).set_retention(tenant_id, RetentionPolicy(days, max_per_workflow))


async def surviving(store: Store, ids: list[str]) -> list[str]:
    """Which of ``ids`` still exist, in the given order (read across tenants)."""
    async with store.database.transaction(SYSTEM, read_only=True) as session:
        found = set(await session.scalars(select(Execution.id).where(Execution.id.in_(ids))))
    return [ident for ident in ids if ident in found]


async def children(store: Store, ids: list[str]) -> int:
    """Node and log rows still pointing at ``ids``."""
    async with store.database.transaction(SYSTEM, read_only=True) as session:
        nodes = await session.scalar(select(func.count()).where(ExecutionNode.execution_id.in_(ids)))
        logs = await session.scalar(select(func.count()).where(ExecutionLog.execution_id.in_(ids)))
    return int(nodes or 0) + int(logs or 0)


async def add_children(store: Store, actor: Actor, ids: list[str], payload: str = "x") -> None:
    """One node row and one log row per execution, bulk-inserted."""
    async with store.unit(actor) as unit:
        tenant = {"tenant_id": actor.tenant_id}
        await unit.session.execute(
            insert(ExecutionNode),
            [
                {
                    **tenant,
                    "execution_id": i,
                    "node_name": "A",
                    "run_index": 0,
                    "status": "success",
                    "attempts": 1,
                    "output": [[{"json": {"blob": payload}}]],
                    "item_count": 1,
                }
                for i in ids
            ],
        )
        await unit.session.execute(
            insert(ExecutionLog),
            [{**tenant, "execution_id": i, "level": "info", "message": "m"} for i in ids],
        )


class RetentionStoreContract:
    async def test_retention_deletes_expired_keeps_active_and_cascades(
        self, store: Store, actor_a: Actor
    ) -> None:
        await set_policy(store, actor_a.tenant_id, days=7)
        old_done, old_failed, old_queued, old_running, fresh = await insert_executions(
            store,
            actor_a,
            [
                {"status": "success", "created_at": days_ago(10)},
                {"status": "error", "created_at": days_ago(8)},
                {"status": "queued", "created_at": days_ago(30)},
                {"status": "running", "created_at": days_ago(30)},
                {"status": "success", "created_at": days_ago(6)},
            ],
        )
        await add_children(store, actor_a, [old_done, old_failed, fresh])
        report = await prune(store.database, now=NOW, tenants=[actor_a.tenant_id])
        assert await surviving(store, [old_done, old_failed, old_queued, old_running, fresh]) == [
            old_queued,
            old_running,
            fresh,
        ]
        assert await children(store, [old_done, old_failed]) == 0
        assert await children(store, [fresh]) == 2
        [pruned] = report.tenants
        assert (pruned.tenant_id, pruned.expired, pruned.over_cap, report.deleted) == (
            actor_a.tenant_id,
            2,
            0,
            2,
        )
        [entry] = [
            e
            for e in await audit_entries(store, actor_a.tenant_id, actor_a.tenant_id)
            if e.operation == "execution.prune"
        ]
        assert (entry.operation, entry.outcome, entry.details) == (
            "execution.prune",
            "ok",
            {"expired": 2, "overCap": 0},
        )

    async def test_retention_caps_each_workflow_keeping_the_newest(
        self, store: Store, actor_a: Actor
    ) -> None:
        await set_policy(store, actor_a.tenant_id, days=365, max_per_workflow=3)
        busy, quiet = await new_workflow(store, actor_a), await new_workflow(store, actor_a)
        plan: list[tuple[str | None, str]] = [(busy, "running")] + [(busy, "success")] * 6
        plan += [(quiet, "success")] * 2 + [(None, "error")] * 4
        # Rows 3 and 4 tie on created_at right at busy's boundary (the 3rd newest): the id decides.
        ids = await insert_executions(
            store,
            actor_a,
            [
                {"workflow_id": wf, "status": status, "created_at": days_ago(16.5 if i in (3, 4) else 20 - i)}
                for i, (wf, status) in enumerate(plan)
            ],
        )
        report = await prune(store.database, now=NOW, tenants=[actor_a.tenant_id])
        kept = set(await surviving(store, ids))
        async with store.unit(actor_a, read_only=True) as unit:
            newest_first = [row.id for row in (await unit.executions.list(limit=100)).items]
        busy_done = [i for i in newest_first if i in ids[1:7]]
        assert kept & set(busy_done) == set(busy_done[:3])
        assert ids[0] in kept  # running: never pruned, and not counted against the cap
        assert set(ids[7:9]) <= kept
        adhoc = [i for i in newest_first if i in ids[9:]]
        assert kept & set(adhoc) == set(adhoc[:3])
        assert (report.tenants[0].expired, report.tenants[0].over_cap) == (0, 4)

    async def test_retention_applies_each_tenant_its_own_policy(
        self, store: Store, actor_a: Actor, actor_b: Actor
    ) -> None:
        await set_policy(store, actor_a.tenant_id, days=1)
        await set_policy(store, actor_b.tenant_id, days=30)
        a_rows = await insert_executions(store, actor_a, [{"created_at": days_ago(5)}] * 3)
        b_rows = await insert_executions(store, actor_b, [{"created_at": days_ago(5)}] * 3)
        b_old = await insert_executions(store, actor_b, [{"created_at": days_ago(40)}])
        await prune(store.database, now=NOW, tenants=[actor_a.tenant_id])
        assert await surviving(store, a_rows + b_rows + b_old) == b_rows + b_old  # b was not in the sweep
        report = await prune(store.database, now=NOW, tenants=[actor_a.tenant_id, actor_b.tenant_id])
        assert await surviving(store, b_rows + b_old) == b_rows
        assert {t.tenant_id: t.deleted for t in report.tenants} == {
            actor_a.tenant_id: 0,
            actor_b.tenant_id: 1,
        }
        assert report.to_dict()["tenants"][actor_b.tenant_id] == {"expired": 1, "overCap": 0}

    async def test_retention_deletes_in_small_batches(self, store: Store, actor_a: Actor) -> None:
        await set_policy(store, actor_a.tenant_id, days=1)
        ids = await insert_executions(
            store, actor_a, [{"created_at": days_ago(2 + i / 100)} for i in range(50)]
        )
        seen: list[tuple[str, int]] = []
        with engine_events(store, "commit") as committed:
            report = await prune(
                store.database,
                now=NOW,
                batch_size=7,
                tenants=[actor_a.tenant_id],
                progress=lambda tenant_id, deleted: seen.append((tenant_id, deleted)),
            )
        assert report.deleted == 50 and report.batches == 8  # 7 x 7 + 1
        assert len(committed) >= 8
        assert seen == [(actor_a.tenant_id, n) for n in (7, 14, 21, 28, 35, 42, 49, 50)]
        assert await surviving(store, ids) == []

    async def test_retention_refuses_bad_arguments(self, store: Store) -> None:
        bad: list[tuple[dict[str, Any], str]] = [
            ({"batch_size": 0}, "$.batchSize"),
            ({"batch_size": 100_001}, "$.batchSize"),
            ({"now": datetime(2026, 6, 1)}, "$.now"),
        ]
        for arguments, path in bad:
            with pytest.raises(InvalidRequestError) as caught:
                await prune(store.database, **arguments)
            assert (caught.value.code, caught.value.path) == (ErrorCode.INVALID_VALUE, path)
