"""The fair claim, on SQLite and PostgreSQL: a worker takes the oldest execution its limits admit, of the
tenant whose turn it is (fewest running); a workflow's ``maxConcurrentExecutions`` and the tenant limit hold
however many claimers race; another tenant's rows are never taken."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from tenantflow.store.audit import Actor
from tenantflow.store.errors import InvalidRequestError
from tenantflow.store.executions import Lease, QueuedExecution
from tenantflow.store.turns import MAX_TENANTS_SCANNED, Turn, shares, tenants_in_turn
from tenantflow.store.unit import Store
from tests.store.conftest import new_tenant
from tests.store.contract_executions import new_workflow

pytestmark = pytest.mark.anyio

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
LEASE = 30


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


async def enqueue(
    store: Store, actor: Actor, workflow_id: str, count: int, limit: int | None = None
) -> list[str]:
    """``count`` queued executions of ``workflow_id``, oldest first, each with the concurrency ``limit``."""
    requests = [QueuedExecution(actor, workflow_id, concurrency_limit=limit) for _ in range(count)]
    ids = []
    for request in requests:  # one unit each: distinct creation times, so "oldest" is well defined
        async with store.unit(actor) as unit:
            [(summary, _)] = await unit.executions.create_queued([request])
        ids.append(summary.id)
    return ids


async def claim_next(
    store: Store, tenant_id: str, owner: str = "w1", tenant_limit: int | None = None
) -> Lease | None:
    async with store.unit(Actor(tenant_id)) as unit:
        return await unit.executions.claim_next(
            owner=owner, lease_seconds=LEASE, tenant_limit=tenant_limit, now=T0
        )


async def tenants_waiting(store: Store) -> list[str]:
    return [turn.tenant_id for turn in await tenants_in_turn(store.database, limit=MAX_TENANTS_SCANNED)]


async def claim_many(
    store: Store, tenant_id: str, limit: int, tenant_limit: int | None = None
) -> list[Lease]:
    async with store.unit(Actor(tenant_id)) as unit:
        return await unit.executions.claim_many(
            owner="w1", lease_seconds=LEASE, limit=limit, tenant_limit=tenant_limit, now=T0
        )


async def finish(store: Store, lease: Lease) -> None:
    async with store.unit(Actor(lease.tenant_id)) as unit:
        await unit.executions.finish(lease.execution_id, status="success", lease=lease)


async def test_the_oldest_queued_execution_of_the_tenant_is_taken_never_another_tenants(
    store: Store, actor_a: Actor, actor_b: Actor
) -> None:
    older_in_b = await enqueue(store, actor_b, await new_workflow(store, actor_b), 1)
    in_a = await enqueue(store, actor_a, await new_workflow(store, actor_a), 3)

    taken = [await claim_next(store, actor_a.tenant_id) for _ in range(4)]

    assert [lease.execution_id if lease else None for lease in taken] == [*in_a, None]
    assert all(lease is None or lease.tenant_id == actor_a.tenant_id for lease in taken)
    lease_b = await claim_next(store, actor_b.tenant_id)
    assert lease_b is not None and lease_b.execution_id == older_in_b[0]


async def test_a_workflows_limit_keeps_the_rest_queued_until_one_ends(store: Store, actor_a: Actor) -> None:
    limited = await new_workflow(store, actor_a)
    free = await new_workflow(store, actor_a)
    held = await enqueue(store, actor_a, limited, 3, limit=2)
    other = await enqueue(store, actor_a, free, 1)

    first, second, third = [await claim_next(store, actor_a.tenant_id) for _ in range(3)]
    assert first and second and third
    # the third of the limited workflow waits; the other workflow's younger row is admitted past it
    assert [first.execution_id, second.execution_id, third.execution_id] == [*held[:2], other[0]]
    assert await claim_next(store, actor_a.tenant_id) is None

    await finish(store, first)
    last = await claim_next(store, actor_a.tenant_id)
    assert last is not None and last.execution_id == held[2]


async def test_the_tenant_limit_counts_every_running_execution_of_the_tenant(
    store: Store, actor_a: Actor, actor_b: Actor
) -> None:
    await enqueue(store, actor_a, await new_workflow(store, actor_a), 2)
    await enqueue(store, actor_a, await new_workflow(store, actor_a), 2)
    await enqueue(store, actor_b, await new_workflow(store, actor_b), 1)

    taken = [await claim_next(store, actor_a.tenant_id, tenant_limit=3) for _ in range(4)]
    assert [lease is not None for lease in taken] == [True, True, True, False]
    assert await claim_next(store, actor_b.tenant_id, tenant_limit=3) is not None  # its own count

    with pytest.raises(InvalidRequestError) as refused:
        await claim_next(store, actor_a.tenant_id, tenant_limit=0)
    assert refused.value.path == "$.tenantLimit"


@pytest.mark.parametrize("limit", [None, 3])
async def test_racing_claimers_each_get_a_row_up_to_the_limit(
    store: Store, actor_a: Actor, limit: int | None
) -> None:
    """Claimers that race neither miss a row that waits (a None would send a worker idle) nor pass the
    workflow's limit."""
    queued = await enqueue(store, actor_a, await new_workflow(store, actor_a), 12, limit=limit)

    taken = await asyncio.gather(
        *(claim_next(store, actor_a.tenant_id, owner=f"w{index}") for index in range(12))
    )

    won = [lease.execution_id for lease in taken if lease is not None]
    assert len(won) == (limit or 12)
    assert len(set(won)) == len(won) and set(won) <= set(queued)


async def test_the_tenant_running_the_fewest_comes_first(store: Store) -> None:
    busy, idle, capped = [await new_tenant(store, label) for label in ("busy", "idle", "capped")]
    for tenant_id in (busy, idle, capped):
        workflow_id = await new_workflow(store, Actor(tenant_id))
        await enqueue(store, Actor(tenant_id), workflow_id, 4)
    for _ in range(2):
        assert await claim_next(store, busy) is not None
    for _ in range(3):
        assert await claim_next(store, capped) is not None

    order = await tenants_in_turn(store.database, tenant_limit=3, limit=MAX_TENANTS_SCANNED)

    mine = [turn for turn in order if turn.tenant_id in (busy, idle, capped)]
    assert mine == [Turn(idle, 0), Turn(busy, 2)]  # capped runs its 3 and waits; idle runs none, busy two


async def test_no_tenant_is_in_turn_once_nothing_waits(store: Store, actor_a: Actor) -> None:
    [execution_id] = await enqueue(store, actor_a, await new_workflow(store, actor_a), 1)
    assert actor_a.tenant_id in await tenants_waiting(store)

    lease = await claim_next(store, actor_a.tenant_id)

    assert lease is not None and lease.execution_id == execution_id
    assert actor_a.tenant_id not in await tenants_waiting(store)
    assert lease.expires_at == T0 + timedelta(seconds=LEASE)


@pytest.mark.parametrize("tenant_limit", [None, 5])
async def test_several_are_claimed_at_once_oldest_first_and_only_the_tenants(
    store: Store, actor_a: Actor, actor_b: Actor, tenant_limit: int | None
) -> None:
    queued = await enqueue(store, actor_a, await new_workflow(store, actor_a), 6)
    await enqueue(store, actor_b, await new_workflow(store, actor_b), 2)

    first = await claim_many(store, actor_a.tenant_id, 4, tenant_limit)
    rest = await claim_many(store, actor_a.tenant_id, 4, tenant_limit)

    assert [lease.execution_id for lease in first] == queued[:4]
    assert [lease.execution_id for lease in rest] == queued[4 : 4 + (tenant_limit or 6) - 4]
    assert all(lease.tenant_id == actor_a.tenant_id and lease.attempt == 1 for lease in first + rest)
    async with store.unit(actor_a, read_only=True) as unit:
        for lease in first + rest:
            stored = await unit.executions.get(lease.execution_id, include_nodes=False, include_logs=False)
            assert stored.status == "running" and stored.started_at == T0
            # a fresh row comes with the claim, as a read would give it (one statement on PostgreSQL)
            assert lease.execution in (None, stored)
        audited = (await unit.audit_log.list({"operation": "execution.claim"})).items
    claimed = sorted(lease.execution_id for lease in first + rest)
    assert sorted(entry["targetId"] for entry in audited) == claimed
    assert {(entry["details"]["leaseOwner"], entry["details"]["attempt"]) for entry in audited} == {("w1", 1)}


async def test_a_claim_of_several_passes_no_workflows_limit(store: Store, actor_a: Actor) -> None:
    limited = await new_workflow(store, actor_a)
    capped = await enqueue(store, actor_a, limited, 3, limit=1)
    free = await enqueue(store, actor_a, await new_workflow(store, actor_a), 2)

    taken = {lease.execution_id for lease in await claim_many(store, actor_a.tenant_id, 10)}

    assert taken == {capped[0], *free}


def test_free_slots_go_first_to_the_tenants_that_run_the_fewest() -> None:
    turns = [Turn("idle", 0), Turn("some", 2), Turn("busy", 5)]

    assert shares(turns, 1) == [("idle", 1)]
    assert shares(turns, 4) == [("idle", 3), ("some", 1)]
    assert shares(turns, 10) == [("idle", 6), ("some", 4)]  # busy's 5 is never the fewest
    assert shares(turns, 11) == [("idle", 6), ("some", 4), ("busy", 1)]
    assert shares(turns, 10, tenant_limit=4) == [("idle", 4), ("some", 2)]
    assert shares([], 3) == []


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)  # SQLite's write lock has no turns
async def test_a_claim_that_waited_for_the_tenants_turn_starts_when_it_took_the_row(
    store: Store, actor_a: Actor
) -> None:
    """A counted claim (a workflow's limit) waits while another claimer of the tenant holds the turn; the
    run's start is when the row was taken, after the wait, not when the claim began: a start stamped
    earlier would overlap the runs whose end let it in."""
    [queued] = await enqueue(store, actor_a, await new_workflow(store, actor_a), 1, limit=1)
    async with store.database.engine.connect() as other_claimer, other_claimer.begin():
        await other_claimer.execute(
            text("SELECT pg_advisory_xact_lock(7411, hashtext(:tenant))"),
            {"tenant": actor_a.tenant_id},
        )
        asked = datetime.now(UTC)
        claiming = asyncio.create_task(store_claim(store, actor_a.tenant_id))  # waits for the turn
        await asyncio.sleep(0.3)
        assert not claiming.done()
    lease = await claiming
    assert lease is not None and lease.execution_id == queued
    async with store.unit(actor_a, read_only=True) as unit:
        started = (await unit.executions.get(queued)).started_at
    assert started is not None and started >= asked + timedelta(seconds=0.25), (asked, started)


async def store_claim(store: Store, tenant_id: str) -> Lease | None:
    """A claim on the clock (no ``now``), as a worker makes it."""
    async with store.unit(Actor(tenant_id)) as unit:
        return await unit.executions.claim_next(owner="w2", lease_seconds=LEASE)
