"""Worker leases on executions, on SQLite and PostgreSQL: one claimer wins however many race, an expired
lease is taken over with the next attempt, only the holder heartbeats or releases, a lost lease writes
nothing (LEASE_LOST), the reaper lists stale rows of every tenant by id, and another tenant's execution
behaves as absent."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text, update

from tenantflow.engine.errors import ErrorCode
from tenantflow.engine.executor import ExecutionEvent, execute
from tenantflow.engine.record import LogEntry, NodeState
from tenantflow.services.writer import GroupCommitWriter
from tenantflow.store import executions as executions_module
from tenantflow.store.audit import Actor
from tenantflow.store.errors import AccessDeniedError, ConflictError, InvalidRequestError, StoreError
from tenantflow.store.executions import ExecutionProgress, FinishedRun, Lease, QueuedExecution
from tenantflow.store.models import Execution, ExecutionLog, ExecutionNode
from tenantflow.store.one_statement import write_progress
from tenantflow.store.reaper import Stale, expire_leases, running_owners, stale_executions
from tenantflow.store.tenancy import SYSTEM, TenantScopeError
from tenantflow.store.unit import Store
from tests.store.contract_executions import count_rows, new_workflow
from tests.store.factories import chain_document

pytestmark = pytest.mark.anyio

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)  # leases here expire long after any real clock's reaper looks
LEASE = 30


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


async def queued(store: Store, actor: Actor) -> str:
    """A new queued execution of a new workflow of ``actor``'s tenant."""
    workflow_id = await new_workflow(store, actor)
    async with store.unit(actor) as unit:
        return (await unit.executions.create(workflow_id)).id


async def claim(
    store: Store,
    actor: Actor,
    execution_id: str,
    owner: str,
    now: datetime = T0,
    seconds: float = LEASE,
    *,
    with_row: bool = False,
) -> Lease | None:
    """A claim by id; ``with_row``: the lease carries the row, as a worker's claim of a fresh run does (its
    writes then take the one-statement path on PostgreSQL)."""
    async with store.unit(actor) as unit:
        lease = await unit.executions.claim(execution_id, owner=owner, lease_seconds=seconds, now=now)
        if lease is None or not with_row:
            return lease
        view = await unit.executions.get(execution_id, include_nodes=False, include_logs=False)
        return replace(lease, nodes_stored=False, execution=view)


async def row(store: Store, execution_id: str) -> Execution:
    async with store.database.transaction(SYSTEM, read_only=True) as session:
        found = await session.scalar(select(Execution).where(Execution.id == execution_id))
        assert found is not None
        return found


def lease_of(found: Execution) -> tuple[str, int, str | None, datetime | None]:
    return (found.status, found.attempt, found.lease_owner, found.lease_expires_at)


async def fails(store: Store, actor: Actor, write: Callable[[Any], Awaitable[object]]) -> StoreError:
    with pytest.raises(StoreError) as caught:
        async with store.unit(actor) as unit:
            await write(unit.executions)
    return caught.value


def checkpoint(node: str = "Start") -> tuple[str, int, NodeState]:
    return (node, 0, NodeState("success", [[{"json": {"node": node}}]], start_time=T0, end_time=T0))


def everything(lease: Lease, node: str = "Start") -> ExecutionProgress:
    """A checkpoint, a log line and the finish, under ``lease``."""
    entry = LogEntry(T0, "info", f"{node} ran", node=node)
    return ExecutionProgress(
        lease.execution_id, None, [checkpoint(node)], [entry], FinishedRun("success"), lease
    )


async def written(store: Store, actor: Actor, execution_id: str) -> tuple[int, int]:
    """How many checkpoint and log rows the execution has."""
    return (
        await count_rows(store, actor, ExecutionNode, execution_id),
        await count_rows(store, actor, ExecutionLog, execution_id),
    )


async def wait_for_waiters(store: Store, count: int) -> None:
    """Until ``count`` sessions wait for a row lock (PostgreSQL); SQLite's claimers wait for this process's
    write turn, which the holder keeps until it commits."""
    if store.database.is_sqlite:
        await asyncio.sleep(0.05)
        return
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND wait_event_type = 'Lock'"
    )
    for _ in range(500):
        async with store.database.transaction(SYSTEM, read_only=True) as session:
            if await session.scalar(query) >= count:
                return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{count} claimers never waited for the row lock")


# ----- claim ------------------------------------------------------------------------------------------
async def test_one_of_many_concurrent_claimers_wins(store: Store, actor_a: Actor) -> None:
    execution_id = await queued(store, actor_a)
    leases = await asyncio.gather(*(claim(store, actor_a, execution_id, f"w{n}") for n in range(8)))
    [winner] = [lease for lease in leases if lease is not None]
    assert winner == Lease(actor_a.tenant_id, execution_id, winner.owner, 1, T0 + timedelta(seconds=LEASE))
    found = await row(store, execution_id)
    assert lease_of(found) == ("running", 1, winner.owner, winner.expires_at)
    assert found.started_at == T0


@pytest.mark.parametrize("state", ["queued", "expired"])
async def test_claimers_waiting_on_the_winners_row_lock_recheck_and_lose(
    store: Store, actor_a: Actor, state: str
) -> None:
    """The winner holds its transaction open while five others queue behind its row lock: each re-checks
    the condition on the row the winner leaves, which no longer qualifies."""
    execution_id = await queued(store, actor_a)
    now, attempt = T0, 1
    if state == "expired":
        assert await claim(store, actor_a, execution_id, "crashed", now=T0 - timedelta(minutes=5))
        attempt = 2
    async with store.unit(actor_a) as unit:
        held = await unit.executions.claim(execution_id, owner="holder", lease_seconds=LEASE, now=now)
        assert held is not None and held.attempt == attempt
        contenders = [
            asyncio.create_task(claim(store, actor_a, execution_id, f"w{n}", now=now)) for n in range(5)
        ]
        await wait_for_waiters(store, 5)
        assert not any(task.done() for task in contenders)
    assert await asyncio.gather(*contenders) == [None] * 5
    assert lease_of(await row(store, execution_id)) == ("running", attempt, "holder", held.expires_at)


async def test_an_expired_lease_is_taken_over_with_the_next_attempt(store: Store, actor_a: Actor) -> None:
    execution_id = await queued(store, actor_a)
    first = await claim(store, actor_a, execution_id, "w1", seconds=10)
    assert first is not None and first.attempt == 1
    assert await claim(store, actor_a, execution_id, "w2", now=T0 + timedelta(seconds=9)) is None  # live
    later = T0 + timedelta(seconds=11)
    taken = await claim(store, actor_a, execution_id, "w2", now=later)
    assert taken == Lease(actor_a.tenant_id, execution_id, "w2", 2, later + timedelta(seconds=LEASE))
    again = await claim(store, actor_a, execution_id, "w3", now=later + timedelta(seconds=LEASE + 1))
    assert again is not None and again.attempt == 3
    found = await row(store, execution_id)
    assert lease_of(found) == ("running", 3, "w3", again.expires_at)
    assert found.started_at == T0  # set by the first claim only


async def test_finished_and_unleased_running_rows_are_not_claimed(store: Store, actor_a: Actor) -> None:
    finished = await queued(store, actor_a)
    lease = await claim(store, actor_a, finished, "w1")
    assert lease is not None
    async with store.unit(actor_a) as unit:
        await unit.executions.finish(finished, status="success", lease=lease)
    unleased = await queued(store, actor_a)  # started in process, as the inline runner does: no lease
    async with store.unit(actor_a) as unit:
        await unit.executions.start(unleased)
    far = T0 + timedelta(days=365)
    for execution_id in (finished, unleased, str(uuid.uuid4())):
        assert await claim(store, actor_a, execution_id, "w2", now=far) is None
    assert lease_of(await row(store, finished)) == ("success", 1, None, None)
    assert lease_of(await row(store, unleased)) == ("running", 1, None, None)


async def test_lease_terms_are_checked(store: Store, actor_a: Actor) -> None:
    execution_id = await queued(store, actor_a)
    for owner, seconds, now in (("w", 0, T0), ("w", 86_401, T0), ("", 5, T0), ("w", 5, datetime(2030, 1, 1))):
        with pytest.raises(InvalidRequestError):
            await claim(store, actor_a, execution_id, owner, now=now, seconds=seconds)
    assert (await row(store, execution_id)).status == "queued"


# ----- heartbeat and release --------------------------------------------------------------------------
async def test_only_the_holder_heartbeats(store: Store, actor_a: Actor) -> None:
    execution_id = await queued(store, actor_a)
    lease = await claim(store, actor_a, execution_id, "w1", seconds=10)
    assert lease is not None
    later = T0 + timedelta(seconds=20)  # expired, but nobody took it over: still the holder's
    async with store.unit(actor_a) as unit:
        extended = await unit.executions.heartbeat(lease, lease_seconds=LEASE, now=later)
        assert extended == replace(lease, expires_at=later + timedelta(seconds=LEASE))
        for forged in (replace(lease, owner="w2"), replace(lease, attempt=2)):
            assert await unit.executions.heartbeat(forged, lease_seconds=LEASE, now=later) is None
    assert lease_of(await row(store, execution_id)) == ("running", 1, "w1", later + timedelta(seconds=30))
    taken = await claim(store, actor_a, execution_id, "w2", now=later + timedelta(seconds=LEASE + 1))
    assert taken is not None
    async with store.unit(actor_a) as unit:
        assert await unit.executions.heartbeat(lease, lease_seconds=LEASE, now=later) is None
        assert await unit.executions.heartbeat(taken, lease_seconds=LEASE, now=later) is not None


async def test_release_gives_the_row_back_to_the_queue(store: Store, actor_a: Actor) -> None:
    execution_id = await queued(store, actor_a)
    lease = await claim(store, actor_a, execution_id, "w1")
    assert lease is not None
    async with store.unit(actor_a) as unit:
        await unit.executions.record_progress(
            [ExecutionProgress(execution_id, nodes=[checkpoint()], lease=lease)]
        )
        assert not await unit.executions.release(replace(lease, owner="w2"))
        assert await unit.executions.release(lease)
        assert not await unit.executions.release(lease)  # once
    found = await row(store, execution_id)
    assert lease_of(found) == ("queued", 1, None, None) and found.started_at == T0
    assert await written(store, actor_a, execution_id) == (1, 0)  # its checkpoint stays for the next one
    nextone = await claim(store, actor_a, execution_id, "w2")
    assert nextone is not None and nextone.attempt == 1
    error = await fails(store, actor_a, lambda executions: executions.record_progress([everything(lease)]))
    assert error.code == ErrorCode.LEASE_LOST  # the same attempt, but another owner
    async with store.unit(actor_a) as unit:
        assert await unit.executions.heartbeat(lease, lease_seconds=LEASE) is None


# ----- fencing ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("with_row", [False, True])
async def test_a_lease_taken_over_writes_nothing(store: Store, actor_a: Actor, with_row: bool) -> None:
    """Done-when (g): the worker whose lease was taken over can write no checkpoint, log or finish."""
    execution_id = await queued(store, actor_a)
    stale = await claim(store, actor_a, execution_id, "w1", seconds=10, with_row=with_row)
    later = T0 + timedelta(seconds=11)
    current = await claim(store, actor_a, execution_id, "w2", now=later, with_row=with_row)
    assert stale is not None and current is not None

    batch = await fails(store, actor_a, lambda executions: executions.record_progress([everything(stale)]))
    alone = await fails(
        store,
        actor_a,
        lambda executions: executions.finish(execution_id, status="error", lease=stale),
    )
    for error in (batch, alone):
        assert isinstance(error, ConflictError) and error.code == ErrorCode.LEASE_LOST
        assert error.number == 4720
        assert error.details == {"id": execution_id, "attempt": 1, "status": "running"}
    assert await written(store, actor_a, execution_id) == (0, 0)
    assert lease_of(await row(store, execution_id)) == ("running", 2, "w2", current.expires_at)

    async with store.unit(actor_a) as unit:
        [summary] = await unit.executions.record_progress([everything(current, "Step 1")])
    assert (summary.status, summary.attempt) == ("success", 2)
    assert await written(store, actor_a, execution_id) == (1, 1)
    finished = await fails(
        store, actor_a, lambda executions: executions.finish(execution_id, status="error", lease=current)
    )
    assert finished.code == ErrorCode.LEASE_LOST  # a finished row holds no lease
    assert lease_of(await row(store, execution_id)) == ("success", 2, None, None)


async def held_and_lost(store: Store, actor: Actor, *, with_row: bool = False) -> tuple[Lease, Lease]:
    """Two executions claimed by one worker: the first lease still held, the second taken over."""
    good = await claim(store, actor, await queued(store, actor), "w1", with_row=with_row)
    gone = await claim(store, actor, await queued(store, actor), "w1", seconds=1, with_row=with_row)
    assert good is not None and gone is not None
    assert await claim(store, actor, gone.execution_id, "w2", now=T0 + timedelta(seconds=2))
    return good, gone


@pytest.mark.parametrize("with_row", [False, True])
async def test_one_lost_lease_fails_its_whole_batch(store: Store, actor_a: Actor, with_row: bool) -> None:
    good, gone = await held_and_lost(store, actor_a, with_row=with_row)
    kept = good.execution_id
    error = await fails(
        store,
        actor_a,
        lambda executions: executions.record_progress([everything(good), everything(gone)]),
    )
    assert error.code == ErrorCode.LEASE_LOST
    assert await written(store, actor_a, kept) == (0, 0)  # all or nothing
    assert (await row(store, kept)).status == "running"


async def test_a_lease_on_a_row_its_own_batch_creates_is_lost(store: Store, actor_a: Actor) -> None:
    """A new row is queued, never leased: progress that claims a lease on it fails with its batch."""
    request = QueuedExecution(actor_a, await new_workflow(store, actor_a))
    forged = Lease(actor_a.tenant_id, request.id, "w1", 1, T0)
    error = await fails(
        store, actor_a, lambda executions: executions.write_batch([request], [everything(forged)])
    )
    assert error.code == ErrorCode.LEASE_LOST
    assert await count_rows(store, actor_a, Execution, request.id) == 0


@pytest.mark.parametrize("with_row", [False, True])
async def test_the_group_commit_writer_fences_each_execution(
    store: Store, actor_a: Actor, with_row: bool
) -> None:
    """A lost lease fails only its own execution's future; the rest of the batch commits."""
    good, gone = await held_and_lost(store, actor_a, with_row=with_row)
    kept, lost = good.execution_id, gone.execution_id
    writer = GroupCommitWriter(store)
    writer.start()
    try:
        futures = [
            writer.progress(
                actor_a.tenant_id,
                lease.execution_id,
                nodes=[checkpoint()],
                logs=[LogEntry(T0, "info", "ran")],
                finish=FinishedRun("success"),
                lease=lease,
            )
            for lease in (good, gone)
        ]
        done = await asyncio.gather(*futures, return_exceptions=True)
    finally:
        await writer.close()
    assert not isinstance(done[0], BaseException) and done[0].status == "success"
    assert isinstance(done[1], StoreError) and done[1].code == ErrorCode.LEASE_LOST
    assert await written(store, actor_a, kept) == (1, 1)
    assert await written(store, actor_a, lost) == (0, 0)
    assert lease_of(await row(store, lost))[:3] == ("running", 2, "w2")


# ----- another tenant ---------------------------------------------------------------------------------
@pytest.mark.parametrize("with_row", [False, True])
async def test_another_tenants_execution_behaves_as_absent(
    store: Store, actor_a: Actor, actor_b: Actor, with_row: bool
) -> None:
    waiting = await queued(store, actor_a)
    running = await queued(store, actor_a)
    lease = await claim(store, actor_a, running, "w1", with_row=with_row)
    assert lease is not None
    far = T0 + timedelta(days=1)  # even an expired lease of another tenant is not B's to take
    assert await claim(store, actor_b, waiting, "w2", now=far) is None
    assert await claim(store, actor_b, running, "w2", now=far) is None
    forged = replace(lease, tenant_id=actor_b.tenant_id)  # B's worker naming A's row
    async with store.unit(actor_b) as unit:
        assert await unit.executions.heartbeat(forged, lease_seconds=LEASE) is None
        assert not await unit.executions.release(forged)
    for write in (
        lambda executions: executions.record_progress([everything(forged)]),
        lambda executions: executions.finish(running, status="success", lease=forged),
    ):
        error = await fails(store, actor_b, write)
        assert isinstance(error, AccessDeniedError) and error.code == ErrorCode.CROSS_TENANT_ACCESS_DENIED
    with pytest.raises(TenantScopeError):  # A's lease in B's unit is a programming error
        async with store.unit(actor_b) as unit:
            await unit.executions.heartbeat(lease, lease_seconds=LEASE)
    assert lease_of(await row(store, waiting))[:3] == ("queued", 1, None)
    assert lease_of(await row(store, running)) == ("running", 1, "w1", lease.expires_at)
    assert await written(store, actor_a, running) == (0, 0)
    async with store.unit(actor_a) as unit:
        assert await unit.executions.heartbeat(lease, lease_seconds=LEASE) is not None


async def test_a_queued_create_naming_another_tenants_workflow_writes_nothing(
    store: Store, actor_a: Actor, actor_b: Actor
) -> None:
    """Creates whose version is known (one statement on PostgreSQL) still check the workflow's tenant."""
    theirs = await new_workflow(store, actor_b)
    mine = await new_workflow(store, actor_a)
    for workflow_id, code in (
        (theirs, ErrorCode.CROSS_TENANT_ACCESS_DENIED),
        (str(uuid.uuid4()), ErrorCode.WORKFLOW_NOT_FOUND),
    ):
        requests = [QueuedExecution(actor_a, mine, 1), QueuedExecution(actor_a, workflow_id, 1)]
        error = await fails(store, actor_a, lambda repo, batch=requests: repo.create_queued(batch))
        assert error.code == code
        for request in requests:  # the whole batch, its own workflow's row too
            assert await count_rows(store, actor_a, Execution, request.id) == 0
    async with store.unit(actor_b, read_only=True) as unit:
        assert (await unit.executions.list(workflow_id=theirs)).items == []


# ----- the reaper -------------------------------------------------------------------------------------
async def aged(store: Store, actor: Actor, created_at: datetime) -> str:
    """A queued execution created at ``created_at`` (long ago: no other test's rows are stale then)."""
    execution_id = await queued(store, actor)
    async with store.unit(actor) as unit:
        await unit.session.execute(
            update(Execution).where(Execution.id == execution_id).values(created_at=created_at)
        )
    return execution_id


async def test_the_reaper_lists_stale_rows_of_every_tenant_by_id(
    store: Store, actor_a: Actor, actor_b: Actor
) -> None:
    base = datetime(1990, 1, 1, tzinfo=UTC)
    at = [base + timedelta(seconds=n) for n in range(200)]
    expired_a = await aged(store, actor_a, at[0])
    assert await claim(store, actor_a, expired_a, "gone", now=at[0], seconds=5)  # stale since +5
    queued_a = await aged(store, actor_a, at[0] - timedelta(seconds=50))  # stale since +10
    expired_b = await aged(store, actor_b, at[0])
    assert await claim(store, actor_b, expired_b, "gone", now=at[10], seconds=10)  # stale since +20
    queued_b = await aged(store, actor_b, at[0] - timedelta(seconds=30))  # stale since +30
    live = await aged(store, actor_a, at[0])
    assert await claim(store, actor_a, live, "alive", now=at[95], seconds=10)  # until +105
    recent = await aged(store, actor_b, at[90])  # queued for 10 s only
    finished = await aged(store, actor_a, at[0])
    done = await claim(store, actor_a, finished, "w", now=at[0], seconds=5)
    async with store.unit(actor_a) as unit:
        await unit.executions.finish(finished, status="success", lease=done)

    now = at[100]
    stale = await stale_executions(store.database, now, queued_for_seconds=60, limit=100)
    assert [field.name for field in fields(Stale)] == ["tenant_id", "execution_id", "status", "attempt"]
    assert stale == [
        Stale(actor_a.tenant_id, expired_a, "running", 1),
        Stale(actor_a.tenant_id, queued_a, "queued", 1),
        Stale(actor_b.tenant_id, expired_b, "running", 1),
        Stale(actor_b.tenant_id, queued_b, "queued", 1),
    ]
    assert not {live, recent, finished} & {item.execution_id for item in stale}
    assert await stale_executions(store.database, now, queued_for_seconds=60, limit=3) == stale[:3]
    assert await stale_executions(store.database, now, queued_for_seconds=60, limit=1) == stale[:1]

    # What a reaper's worker does next, in each row's own tenant: claim (taking expired ones over), finish.
    actors = {actor_a.tenant_id: actor_a, actor_b.tenant_id: actor_b}
    for item in stale:
        lease = await claim(store, actors[item.tenant_id], item.execution_id, "reaped", now=now)
        assert lease is not None
        assert lease.attempt == item.attempt + (item.status == "running")
        async with store.unit(actors[item.tenant_id]) as unit:
            await unit.executions.finish(item.execution_id, status="crashed", lease=lease)
    for execution_id in (live, recent):  # leave nothing stale for later tests
        async with store.unit(Actor((await row(store, execution_id)).tenant_id)) as unit:
            await unit.executions.finish(execution_id, status="crashed")
    assert await stale_executions(store.database, at[199], queued_for_seconds=0, limit=100) == []


async def test_the_reaper_checks_its_arguments(store: Store) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        await stale_executions(store.database, T0, queued_for_seconds=60, limit=0)
    assert caught.value.code == ErrorCode.INVALID_PAGINATION
    for now, seconds in ((datetime(2030, 1, 1), 60.0), (T0, -1.0), (T0, float("nan"))):
        with pytest.raises(InvalidRequestError):
            await stale_executions(store.database, now, queued_for_seconds=seconds, limit=10)


# ----- resuming ---------------------------------------------------------------------------------------
async def test_a_taken_over_run_resumes_from_its_checkpoints(store: Store, actor_a: Actor) -> None:
    """The nodes the lost worker finished are the engine's resume input; only the rest run again."""
    document = chain_document("resumed", length=3)
    full = await execute(document, registry=store.registry)
    execution_id = await queued(store, actor_a)
    first = await claim(store, actor_a, execution_id, "w1", seconds=5)
    assert first is not None
    failed = replace(full.state["Step 2"], status="error", error={"message": "interrupted"})
    nodes = [("Start", 0, full.state["Start"]), ("Step 1", 0, full.state["Step 1"]), ("Step 2", 0, failed)]
    async with store.unit(actor_a) as unit:
        await unit.executions.record_progress([ExecutionProgress(execution_id, nodes=nodes, lease=first)])
    second = await claim(store, actor_a, execution_id, "w2", now=T0 + timedelta(seconds=6))
    assert second is not None and second.attempt == 2
    async with store.unit(actor_a, read_only=True) as unit:
        view = await unit.executions.get(execution_id, include_logs=False)
        resume = await unit.executions.resume_input(view)
    assert resume == {name: full.state[name].to_dict() for name in ("Start", "Step 1")}

    started: list[str] = []

    async def seen(event: ExecutionEvent) -> None:
        if event.type == "node.started" and event.node is not None:
            started.append(event.node)

    record = await execute(document, registry=store.registry, resume=resume, events=seen)
    assert record.status == "success" and started == ["Step 2"]
    assert record.state["Step 2"].output == full.state["Step 2"].output


async def test_a_dead_owners_leases_are_found_by_host_and_ended_now(store: Store, actor_a: Actor) -> None:
    host = f"host-{uuid.uuid4().hex[:8]}"
    dead, alive = f"{host}:4242:dead", f"{host}:4343:alive"
    held = [await queued(store, actor_a) for _ in range(3)]
    assert await claim(store, actor_a, held[0], dead, now=T0)
    assert await claim(store, actor_a, held[1], dead, now=T0)
    kept = await claim(store, actor_a, held[2], alive, now=T0)
    assert kept is not None
    assert sorted(await running_owners(store.database, host)) == [dead, alive]
    assert await running_owners(store.database, f"{host}x") == []  # a longer host name is another host

    assert await expire_leases(store.database, dead, T0 + timedelta(seconds=1)) == 2

    ended = [await row(store, execution_id) for execution_id in held]
    assert [item.lease_expires_at for item in ended[:2]] == [T0 + timedelta(seconds=1)] * 2
    assert ended[2].lease_expires_at == kept.expires_at
    stale = await stale_executions(store.database, T0 + timedelta(seconds=2), queued_for_seconds=3600)
    assert {item.execution_id for item in stale} >= set(held[:2]) and held[2] not in {
        i.execution_id for i in stale
    }
    for execution_id in held:  # leave nothing running for later tests
        async with store.unit(actor_a) as unit:
            await unit.executions.finish(execution_id, status="crashed")


async def test_a_claim_says_whether_the_run_has_node_runs_to_resume(store: Store, actor_a: Actor) -> None:
    """PostgreSQL's one-statement claim tells the worker when no node run is stored, so it does not ask;
    a row given back with its checkpoints says so. (SQLite's claim does not look: the worker asks.)"""
    execution_id = await queued(store, actor_a)
    async with store.unit(actor_a) as unit:
        first = await unit.executions.claim_next(owner="w1", lease_seconds=LEASE, now=T0)
    assert first is not None and first.execution_id == execution_id
    assert first.nodes_stored is (store.database.dialect != "postgresql")
    async with store.unit(actor_a) as unit:
        await unit.executions.record_progress(
            [ExecutionProgress(execution_id, nodes=[checkpoint()], lease=first)]
        )
        assert await unit.executions.release(first)
    async with store.unit(actor_a) as unit:
        second = await unit.executions.claim_next(owner="w2", lease_seconds=LEASE, now=T0)
    assert second is not None and second.execution_id == execution_id and second.nodes_stored
    async with store.unit(actor_a, read_only=True) as unit:
        [audit_details] = [
            entry["details"]
            for entry in (await unit.audit_log.list({"operation": "execution.claim"})).items
            if entry["targetId"] == execution_id and entry["details"]["leaseOwner"] == "w2"
        ]
    assert audit_details == {"leaseOwner": "w2", "attempt": 1}


async def test_a_fresh_runs_progress_is_stored_as_the_row_by_row_path_stores_it(
    store: Store, actor_a: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same checkpoints, logs and ends, written once with leases that carry their rows (one statement
    on PostgreSQL) and once without: the same stored executions, answers and workflow counters."""
    statements: list[int] = []

    async def counted(*args: Any) -> Any:
        statements.append(len(args[2]))  # the fences: one per execution
        return await write_progress(*args)

    monkeypatch.setattr(executions_module, "write_progress", counted)
    results = []
    for with_row in (False, True):
        workflow_id = await new_workflow(store, actor_a)
        async with store.unit(actor_a) as unit:
            ids = [(await unit.executions.create(workflow_id)).id for _ in range(3)]
        leases = [await claim(store, actor_a, execution_id, "w1", with_row=with_row) for execution_id in ids]
        assert all(lease is not None for lease in leases)
        first, second, third = (lease for lease in leases if lease is not None)
        async with store.unit(actor_a) as unit:
            await unit.executions.request_abort(second.execution_id)  # after its claim: seen as stored
        async with store.unit(actor_a) as unit:
            progress = [
                everything(first),
                replace(everything(second, "Other"), finish=FinishedRun("error", {"message": "no"})),
                ExecutionProgress(third.execution_id, None, [checkpoint()], [], None, third),
            ]
            answered = await unit.executions.record_progress(progress)
        async with store.unit(actor_a, read_only=True) as unit:
            stored = [await unit.executions.get(execution_id) for execution_id in ids]
            workflow = await unit.workflows.get(workflow_id)
        assert [summary.to_dict() for summary in answered] == [_summary_dict(view) for view in stored]
        counters = {name: workflow.data.get(name) for name in ("executionCount", "lastExecutionStatus")}
        results.append(([_comparable(view) for view in stored], counters))
    assert results[0] == results[1]
    assert results[1][1] == {"executionCount": 2, "lastExecutionStatus": "error"}
    assert statements == ([] if store.database.is_sqlite else [3])


def _summary_dict(view: Any) -> dict[str, Any]:
    return {name: value for name, value in view.to_dict().items() if name in _SUMMARY_KEYS}


_SUMMARY_KEYS = frozenset(
    (
        "id",
        "workflowId",
        "workflowVersion",
        "status",
        "triggerKind",
        "attempt",
        "abortRequested",
        "createdBy",
        "createdAt",
        "startTime",
        "endTime",
        "duration",
        "error",
    )
)


def _comparable(view: Any) -> dict[str, Any]:
    """A stored execution without what differs between two runs of the test (ids, times)."""
    data = view.to_dict()
    for name in ("id", "workflowId", "createdAt", "startTime", "endTime", "duration"):
        data.pop(name)
    return data
