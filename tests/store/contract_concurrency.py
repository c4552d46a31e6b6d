"""Concurrency guarantees: one lock winner among 100, expired locks taken over, exact execution counts."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from tenantflow.engine.errors import ErrorCode
from tenantflow.store.audit import Actor
from tenantflow.store.errors import ConflictError, InvalidRequestError
from tenantflow.store.models import Workflow
from tenantflow.store.unit import Store
from tests.store.factories import audit_log, chain_document

pytestmark = pytest.mark.anyio


async def _workflow(store: Store, actor: Actor, name: str) -> str:
    async with store.unit(actor) as unit:
        return (await unit.workflows.create(chain_document(name))).id


class ConcurrencyContract:
    async def test_lock_hundred_concurrent_acquires_have_exactly_one_winner(
        self, store: Store, actor_a: Actor
    ) -> None:
        workflow_id = await _workflow(store, actor_a, "contended")

        async def contender(number: int) -> bool:
            async with store.unit(actor_a) as unit:
                state = await unit.workflows.acquire_lock(workflow_id, owner=f"worker-{number}", timeout_s=60)
                return state.acquired

        results = await asyncio.gather(*(contender(n) for n in range(100)))
        assert results.count(True) == 1
        winner = f"worker-{results.index(True)}"
        async with store.unit(actor_a) as unit:
            view = await unit.workflows.get(workflow_id)
        assert view.data["isLocked"] is True and view.data["lockedBy"] == winner

    async def test_lock_expired_lock_is_taken_over(self, store: Store, actor_a: Actor) -> None:
        workflow_id = await _workflow(store, actor_a, "expiring")
        async with store.unit(actor_a) as unit:
            assert (await unit.workflows.acquire_lock(workflow_id, owner="first", timeout_s=30)).acquired
            refused = await unit.workflows.acquire_lock(workflow_id, owner="second")
            assert not refused.acquired and refused.locked_by == "first"
            past = datetime.now(UTC) - timedelta(seconds=1)
            await unit.session.execute(
                update(Workflow).where(Workflow.id == workflow_id).values(lock_expires_at=past)
            )
        async with store.unit(actor_a) as unit:
            taken = await unit.workflows.acquire_lock(workflow_id, owner="second", timeout_s=30)
        assert taken.acquired and taken.locked_by == "second"

    async def test_lock_release_reentry_and_reclaim(self, store: Store, actor_a: Actor) -> None:
        workflow_id = await _workflow(store, actor_a, "reentrant")
        async with store.unit(actor_a) as unit:
            first = await unit.workflows.acquire_lock(workflow_id, owner="me", timeout_s=10)
            again = await unit.workflows.acquire_lock(workflow_id, owner="me", timeout_s=100)
            assert again.acquired and again.locked_at == first.locked_at
            assert again.expires_at is not None and first.expires_at is not None
            assert again.expires_at > first.expires_at
            with pytest.raises(ConflictError) as not_held:
                await unit.workflows.release_lock(workflow_id, owner="someone-else")
            assert not_held.value.code is ErrorCode.LOCK_NOT_OWNED
            await unit.workflows.release_lock(workflow_id, owner="me")
            with pytest.raises(InvalidRequestError):
                await unit.workflows.acquire_lock(workflow_id, owner="me", timeout_s=0)
            await unit.workflows.acquire_lock(workflow_id, owner="me", timeout_s=10)
            await unit.session.execute(
                update(Workflow)
                .where(Workflow.id == workflow_id)
                .values(lock_expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )
            assert await unit.workflows.reclaim_expired_locks() == 1
            assert (await unit.workflows.get(workflow_id)).data["isLocked"] is False

    async def test_lock_refusals_carry_the_seed_lock_codes(self, store: Store, actor_a: Actor) -> None:
        workflow_id = await _workflow(store, actor_a, "seed-codes")
        async with store.unit(actor_a) as unit:
            await unit.workflows.acquire_lock(workflow_id, owner="holder")
        async with store.unit(actor_a) as unit:
            assert not (await unit.workflows.acquire_lock(workflow_id, owner="other")).acquired
        with pytest.raises(ConflictError) as locked:
            async with store.unit(actor_a) as unit:
                await unit.workflows.update(workflow_id, {"description": "x"}, lock_owner="other")
        with pytest.raises(ConflictError) as not_owned:
            async with store.unit(actor_a) as unit:
                await unit.workflows.release_lock(workflow_id, owner="other")
        assert (locked.value.code, locked.value.number) == (ErrorCode.WORKFLOW_LOCKED, 4231)
        assert (not_owned.value.code, not_owned.value.number) == (ErrorCode.LOCK_NOT_OWNED, 4233)
        refusals = [
            (e.operation, e.error_code)
            for e in await audit_log(store, actor_a.tenant_id)
            if e.outcome != "ok"
        ]
        assert refusals == [
            ("workflow.lock", "LOCK_ACQUISITION_FAILED"),
            ("workflow.update", "WORKFLOW_LOCKED"),
            ("workflow.unlock", "LOCK_NOT_OWNED"),
        ]

    async def test_lock_blocks_other_editors_until_released(self, store: Store, actor_a: Actor) -> None:
        workflow_id = await _workflow(store, actor_a, "guarded")
        async with store.unit(actor_a) as unit:
            await unit.workflows.acquire_lock(workflow_id, owner="editor-1")
        for attempt in (
            lambda unit: unit.workflows.update(workflow_id, {"description": "x"}, lock_owner="editor-2"),
            lambda unit: unit.workflows.delete(workflow_id, lock_owner="editor-2"),
            lambda unit: unit.workflows.delete_many(None),
        ):
            with pytest.raises(ConflictError) as caught:
                async with store.unit(actor_a) as unit:
                    await attempt(unit)
            assert caught.value.code is ErrorCode.WORKFLOW_LOCKED
        async with store.unit(actor_a) as unit:
            updated = await unit.workflows.update(workflow_id, {"description": "x"}, lock_owner="editor-1")
        assert updated.version == 2

    async def test_lock_record_execution_from_fifty_tasks_is_exact(
        self, store: Store, actor_a: Actor
    ) -> None:
        workflow_id = await _workflow(store, actor_a, "counted")
        durations = [float(10 * (n + 1)) for n in range(50)]
        start = datetime(2026, 1, 1, tzinfo=UTC)

        async def record(number: int) -> None:
            async with store.unit(actor_a) as unit:
                await unit.workflows.record_execution(
                    workflow_id,
                    status="error" if number == 49 else "success",
                    duration_ms=durations[number],
                    finished_at=start + timedelta(seconds=number),
                )

        await asyncio.gather(*(record(n) for n in range(50)))
        async with store.unit(actor_a) as unit:
            view = await unit.workflows.get(workflow_id)
        assert view.data["executionCount"] == 50
        assert view.data["averageExecutionTime"] == pytest.approx(sum(durations) / 50, rel=1e-9)
        assert view.data["lastExecutionStatus"] == "error"
        assert view.data["lastExecutedAt"] == "2026-01-01T00:00:49.000Z"
        assert view.version == 1

    async def test_lock_concurrent_edits_of_one_version_cannot_both_win(
        self, store: Store, actor_a: Actor
    ) -> None:
        workflow_id = await _workflow(store, actor_a, "raced")

        async def edit(text: str) -> int:
            async with store.unit(actor_a) as unit:
                return (
                    await unit.workflows.update(workflow_id, {"description": text}, expected_version=1)
                ).version

        results = await asyncio.gather(edit("left"), edit("right"), return_exceptions=True)
        versions = [r for r in results if isinstance(r, int)]
        errors = [r for r in results if isinstance(r, ConflictError)]
        assert versions == [2] and len(errors) == 1 and errors[0].code is ErrorCode.VERSION_CONFLICT
