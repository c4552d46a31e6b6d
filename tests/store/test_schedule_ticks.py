"""Schedule tick claims on SQLite and PostgreSQL: one winner per tick, only for the tenant's own enabled
workflow, settled and pruned within the tenant, and never reaching another tenant's rows."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from tenantflow.store.audit import Actor
from tenantflow.store.errors import InvalidRequestError
from tenantflow.store.models import ScheduleTick
from tenantflow.store.schedules import (
    TickKey,
    TriggerKey,
    _claim_statement,
    latest_ticks,
    scheduled_workflows,
    stale_claims,
    tenants_with_ticks_before,
)
from tenantflow.store.tenancy import SYSTEM, TenantScopeError
from tenantflow.store.unit import Store
from tests.triggers.workflows import cron

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


async def workflow(store: Store, actor: Actor, *, active: bool = True) -> str:
    async with store.unit(actor) as unit:
        return (await unit.workflows.create(cron(active=active))).id


def tick(actor: Actor, workflow_id: str, seconds: int, rule: int = 0) -> TickKey:
    return TickKey(TriggerKey(actor.tenant_id, workflow_id, "clock", rule), T0 + timedelta(seconds=seconds))


async def claim(store: Store, actor: Actor, key: TickKey, owner: str = "p1") -> bool:
    async with store.unit(actor) as unit:
        return await unit.schedules.claim(key, owner, T0)


async def rows(store: Store) -> list[ScheduleTick]:
    async with store.database.transaction(SYSTEM, read_only=True) as session:
        return list(await session.scalars(select(ScheduleTick).order_by(ScheduleTick.tick)))


async def rows_of(store: Store, workflow_id: str) -> list[ScheduleTick]:
    return [row for row in await rows(store) if row.workflow_id == workflow_id]


async def test_one_of_many_concurrent_claims_of_a_tick_wins(store: Store, actor_a: Actor) -> None:
    workflow_id = await workflow(store, actor_a)
    key = tick(actor_a, workflow_id, 1)
    won = await asyncio.gather(*(claim(store, actor_a, key, f"p{n}") for n in range(6)))
    assert sorted(won) == [False] * 5 + [True]
    [row] = await rows_of(store, workflow_id)
    assert (row.tick, row.state, row.execution_id) == (key.tick, "claimed", None)
    assert row.claimed_by == f"p{won.index(True)}"
    assert await claim(store, actor_a, tick(actor_a, workflow_id, 1, rule=1))  # another rule: its own tick


async def test_a_disabled_workflow_cannot_claim(store: Store, actor_a: Actor) -> None:
    workflow_id = await workflow(store, actor_a, active=False)
    assert not await claim(store, actor_a, tick(actor_a, workflow_id, 1))
    async with store.unit(actor_a) as unit:
        await unit.workflows.set_enabled(workflow_id, True)
    assert await claim(store, actor_a, tick(actor_a, workflow_id, 2))
    async with store.unit(actor_a) as unit:
        await unit.workflows.set_enabled(workflow_id, False)
    assert not await claim(store, actor_a, tick(actor_a, workflow_id, 3))
    assert [row.tick for row in await rows_of(store, workflow_id)] == [T0 + timedelta(seconds=2)]


async def test_settling_take_over_and_recent(store: Store, actor_a: Actor) -> None:
    workflow_id = await workflow(store, actor_a)
    first, second, third = (tick(actor_a, workflow_id, n) for n in (1, 2, 3))
    for key in (first, second, third):
        assert await claim(store, actor_a, key)
    async with store.unit(actor_a) as unit:
        await unit.schedules.started(first, "exec-1")
        await unit.schedules.refused(second)
        # not stale yet: claimed at T0, stale only if claimed before T0
        assert not await unit.schedules.take_over(third, "p2", stale_before=T0, now=T0)
        assert await unit.schedules.take_over(
            third, "p2", stale_before=T0 + timedelta(seconds=1), now=T0 + timedelta(minutes=1)
        )
        # settled claims are never taken over
        assert not await unit.schedules.take_over(
            first, "p3", stale_before=T0 + timedelta(hours=1), now=T0 + timedelta(hours=1)
        )
    async with store.unit(actor_a, read_only=True) as unit:
        recent = await unit.schedules.recent(workflow_id, limit=2)
        with pytest.raises(InvalidRequestError):
            await unit.schedules.recent(workflow_id, limit=0)
    assert [(view.tick, view.state, view.claimed_by) for view in recent] == [
        (third.tick, "claimed", "p2"),
        (second.tick, "refused", "p1"),
    ]
    states = {row.tick: (row.state, row.execution_id) for row in await rows_of(store, workflow_id)}
    assert states[first.tick] == ("started", "exec-1")


async def test_prune_deletes_old_ticks_in_batches_and_keeps_each_rules_newest(
    store: Store, actor_a: Actor
) -> None:
    workflow_id = await workflow(store, actor_a)
    for seconds in range(6):
        assert await claim(store, actor_a, tick(actor_a, workflow_id, seconds))
    assert await claim(store, actor_a, tick(actor_a, workflow_id, 0, rule=1))  # the rule's only tick
    before = T0 + timedelta(hours=1)
    async with store.unit(actor_a) as unit:
        assert await unit.schedules.prune(before, limit=3) == 3
    async with store.unit(actor_a) as unit:
        assert await unit.schedules.prune(before, limit=3) == 2
        assert await unit.schedules.prune(before, limit=3) == 0
    left = [(row.rule, row.tick) for row in await rows_of(store, workflow_id)]
    assert sorted(left) == [(0, T0 + timedelta(seconds=5)), (1, T0)]


async def test_the_schedulers_cross_tenant_reads(store: Store, actor_a: Actor, actor_b: Actor) -> None:
    mine, theirs = await workflow(store, actor_a), await workflow(store, actor_b)
    disabled = await workflow(store, actor_a, active=False)
    assert await claim(store, actor_a, tick(actor_a, mine, 1))
    assert await claim(store, actor_a, tick(actor_a, mine, 4))
    assert await claim(store, actor_b, tick(actor_b, theirs, 2))
    latest = await latest_ticks(store.database, [(actor_a.tenant_id, mine), (actor_b.tenant_id, theirs)])
    assert latest == {
        TriggerKey(actor_a.tenant_id, mine, "clock", 0): T0 + timedelta(seconds=4),
        TriggerKey(actor_b.tenant_id, theirs, "clock", 0): T0 + timedelta(seconds=2),
    }
    # a keyset walk in pages of one finds both enabled workflows once and the disabled one never
    found, after = [], None
    while page := await scheduled_workflows(store.database, after=after, limit=1):
        found += [item.id for item in page]
        after = page[-1].id
    assert mine in found and theirs in found and disabled not in found
    assert len(found) == len(set(found)) and found == sorted(found)
    stale = await stale_claims(
        store.database,
        claimed_before=T0 + timedelta(seconds=1),
        claimed_after=T0 - timedelta(seconds=1),
        limit=1000,
    )
    assert {key.trigger.workflow_id for key in stale} >= {mine, theirs}
    assert not await stale_claims(store.database, claimed_before=T0, claimed_after=T0 - timedelta(hours=1))
    tenants = await tenants_with_ticks_before(store.database, T0 + timedelta(seconds=3), limit=1000)
    assert actor_a.tenant_id in tenants and actor_b.tenant_id in tenants


async def test_a_tenant_cannot_claim_read_settle_or_prune_another_tenants_ticks(
    store: Store, actor_a: Actor, actor_b: Actor
) -> None:
    theirs = await workflow(store, actor_b)
    key_b = tick(actor_b, theirs, 1)
    assert await claim(store, actor_b, key_b)
    # tenant A names B's workflow: its claim finds no workflow of its own, so nothing is inserted
    as_a = TickKey(TriggerKey(actor_a.tenant_id, theirs, "clock", 0), T0 + timedelta(seconds=2))
    assert not await claim(store, actor_a, as_a)
    async with store.unit(actor_a) as unit:
        assert await unit.schedules.recent(theirs) == []
        await unit.schedules.started(key_b, "hijacked")
        await unit.schedules.refused(key_b)
        assert not await unit.schedules.take_over(
            key_b, "intruder", stale_before=T0 + timedelta(days=1), now=T0 + timedelta(days=1)
        )
        assert await unit.schedules.prune(T0 + timedelta(days=1)) == 0
        # the claim statement itself refuses a row stamped with another tenant
        values = {
            "tenant_id": actor_b.tenant_id,
            "workflow_id": theirs,
            "node_id": "clock",
            "rule": 0,
            "tick": T0 + timedelta(seconds=9),
            "claimed_by": "intruder",
            "claimed_at": T0,
        }
        with pytest.raises(TenantScopeError):
            await unit.session.execute(_claim_statement(store.database.dialect), values)
    [row] = await rows_of(store, theirs)
    assert (row.tenant_id, row.state, row.claimed_by, row.execution_id) == (
        actor_b.tenant_id,
        "claimed",
        "p1",
        None,
    )
    async with store.unit(actor_b, read_only=True) as unit:
        assert [view.tick for view in await unit.schedules.recent(theirs)] == [key_b.tick]


async def test_ticks_go_with_their_workflow(store: Store, actor_a: Actor) -> None:
    workflow_id = await workflow(store, actor_a)
    assert await claim(store, actor_a, tick(actor_a, workflow_id, 1))
    async with store.unit(actor_a) as unit:
        await unit.workflows.delete(workflow_id)
    async with store.database.transaction(SYSTEM, read_only=True) as session:
        count = await session.scalar(
            select(func.count()).select_from(ScheduleTick).where(ScheduleTick.workflow_id == workflow_id)
        )
    assert count == 0
