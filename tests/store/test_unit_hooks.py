"""A unit's after-commit hooks handed to its caller (``Unit.defer_after_commit``): they run when the caller
says, once, and only for work that committed; until then a write's cache invalidation has not landed."""

from __future__ import annotations

import pytest

from tenantflow.store.audit import Actor
from tenantflow.store.unit import Store
from tests.store.conftest import new_tenant
from tests.store.factories import chain_document

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["sqlite_url", "postgres_url"])
def database_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(request.param)
    return url


async def queued_count(store: Store, actor: Actor, workflow_id: str) -> int:
    async with store.unit(actor, read_only=True) as unit:
        stats = await unit.workflows.get_execution_stats("1h", workflow_id=workflow_id)
    return int(stats["byStatus"].get("queued", 0))


async def test_handed_over_hooks_run_when_the_caller_runs_them(store: Store) -> None:
    actor = Actor(await new_tenant(store, "hooks"))
    async with store.unit(actor) as unit:
        workflow_id = (await unit.workflows.create(chain_document("hooked"))).id
    assert await queued_count(store, actor, workflow_id) == 0  # cached
    ran: list[str] = []

    async with store.unit(actor) as unit:
        invalidate = unit.defer_after_commit()
        await unit.executions.create(workflow_id)

        async def mark() -> None:
            ran.append("added after the hand-over")

        unit.after_commit(mark)

    assert ran == []
    assert await queued_count(store, actor, workflow_id) == 0  # the invalidation has not run yet
    await invalidate()
    assert ran == ["added after the hand-over"]
    assert await queued_count(store, actor, workflow_id) == 1
    await invalidate()  # once
    assert ran == ["added after the hand-over"]


async def test_a_unit_that_fails_hands_over_nothing(store: Store) -> None:
    actor = Actor(await new_tenant(store, "hooks"))
    async with store.unit(actor) as unit:
        workflow_id = (await unit.workflows.create(chain_document("hooked"))).id
    ran: list[str] = []

    async def mark() -> None:
        ran.append("ran")

    with pytest.raises(RuntimeError):
        async with store.unit(actor) as unit:
            invalidate = unit.defer_after_commit()
            await unit.executions.create(workflow_id)
            unit.after_commit(mark)
            raise RuntimeError("the caller's own failure")
    await invalidate()
    assert ran == []
    assert await queued_count(store, actor, workflow_id) == 0  # nothing was written
