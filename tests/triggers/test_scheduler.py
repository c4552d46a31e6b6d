"""The scheduler on SQLite and PostgreSQL: each tick starts one ``schedule`` execution however many
schedulers watch it, missed ticks run once, disabled or broken workflows never run, a claim whose process
died is started by another with the same idempotency key, and old ticks are pruned.

Passes are driven with ``run_once(now)`` at chosen instants (no waiting), except the last test, which runs
three schedulers as tasks on the wall clock against one PostgreSQL database.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tenantflow.services.events import InProcessEventBus
from tenantflow.services.executions import ExecutionService
from tenantflow.store.audit import Actor
from tenantflow.store.models import Execution, ScheduleTick
from tenantflow.store.schedules import TickKey, TriggerKey
from tenantflow.store.secrets import Keyring
from tenantflow.store.tenancy import SYSTEM
from tenantflow.store.unit import Store
from tenantflow.triggers import FiredTick, Scheduler, SchedulerSettings, start_scheduler
from tenantflow.triggers.schedules import idempotency_key
from tests.store.conftest import new_tenant, open_store
from tests.triggers.workflows import cron, scheduled

pytestmark = pytest.mark.anyio

QUIET = SchedulerSettings(poll_seconds=3600, prune_every_seconds=3600)  # passes scan once, then on demand


async def tenant(store: Store, label: str) -> Actor:
    return Actor(await new_tenant(store, label), user_id=f"user-{label}", level=3)


async def saved(store: Store, actor: Actor, workflow: dict[str, Any]) -> tuple[str, datetime]:
    """The new workflow's id and the moment it last changed (ticks after it are its own)."""
    async with store.unit(actor) as unit:
        view = await unit.workflows.create(workflow)
    return view.id, datetime.fromisoformat(view.data["updatedAt"].replace("Z", "+00:00"))


async def set_enabled(store: Store, actor: Actor, workflow_id: str, enabled: bool) -> datetime:
    async with store.unit(actor) as unit:
        view = await unit.workflows.set_enabled(workflow_id, enabled)
    return datetime.fromisoformat(view.data["updatedAt"].replace("Z", "+00:00"))


async def executions(store: Store, workflow_id: str) -> list[Execution]:
    async with store.database.transaction(SYSTEM, read_only=True) as session:
        query = select(Execution).where(Execution.workflow_id == workflow_id).order_by(Execution.created_at)
        return list(await session.scalars(query))


async def ticks(store: Store, workflow_id: str) -> list[ScheduleTick]:
    async with store.database.transaction(SYSTEM, read_only=True) as session:
        query = (
            select(ScheduleTick).where(ScheduleTick.workflow_id == workflow_id).order_by(ScheduleTick.tick)
        )
        return list(await session.scalars(query))


def of(fired: Iterable[FiredTick], workflow_id: str) -> list[FiredTick]:
    """The ticks of one workflow (the database is shared: other tests' schedules fire too)."""
    return [tick for tick in fired if tick.key.trigger.workflow_id == workflow_id]


def second(moment: datetime, offset: float = 0.0) -> datetime:
    """A whole second ``offset`` seconds after ``moment``'s, plus 300 ms: a pass just after that tick."""
    return moment.replace(microsecond=0) + timedelta(seconds=offset, milliseconds=300)


async def finished(service: ExecutionService, tenant_id: str, ids: Iterable[str]) -> list[str]:
    statuses = []
    for execution_id in ids:
        view = await service.wait(tenant_id, execution_id, 10)
        assert view is not None
        statuses.append(view.status)
    return statuses


@pytest.fixture
async def service(store: Store) -> AsyncIterator[ExecutionService]:
    running = ExecutionService(store, InProcessEventBus())
    await running.start()
    try:
        yield running
    finally:
        await running.shutdown()


@pytest.fixture
def scheduler(store: Store, service: ExecutionService) -> Scheduler:
    return Scheduler(store, service, QUIET)


async def test_a_due_tick_starts_one_schedule_execution_per_tenant(
    store: Store, service: ExecutionService, scheduler: Scheduler
) -> None:
    alice, bob = await tenant(store, "a"), await tenant(store, "b")
    mine, created = await saved(store, alice, cron())
    theirs, _ = await saved(store, bob, cron())
    now = second(created, 3)
    [fired] = of(await scheduler.run_once(now), mine)
    assert of(await scheduler.run_once(now), mine) == []  # the same instant again: settled
    [execution] = await executions(store, mine)
    [other] = await executions(store, theirs)
    assert (execution.tenant_id, other.tenant_id) == (alice.tenant_id, bob.tenant_id)
    assert fired.key.tick == now.replace(microsecond=0) and fired.execution_id == execution.id
    assert execution.trigger_kind == "schedule" and execution.idempotency_key == idempotency_key(fired.key)
    tick = fired.key.tick
    metadata = {"tick": tick.isoformat(), "node": "clock", "rule": 0}
    assert execution.input["trigger"] == {"kind": "schedule", "metadata": metadata}
    assert execution.input["triggerData"]["timestamp"] == tick.strftime("%Y-%m-%dT%H:%M:%S.000+00:00")
    [row] = await ticks(store, mine)
    assert (row.state, row.execution_id, row.claimed_by) == ("started", execution.id, QUIET.owner)
    assert await finished(service, alice.tenant_id, [execution.id]) == ["success"]
    async with store.unit(alice, read_only=True) as unit:
        clock = (await unit.executions.get(execution.id)).state["Clock"]
    assert clock.output[0][0]["json"] == execution.input["triggerData"]  # the tick's item, not the start's


async def test_a_tick_starts_the_run_at_its_schedule_trigger_not_the_first_trigger(
    store: Store, service: ExecutionService, scheduler: Scheduler
) -> None:
    actor = await tenant(store, "second")
    document = cron()
    manual = {"id": "m1", "name": "By hand", "type": "n8n-nodes-base.manualTrigger", "typeVersion": 1}
    document["nodes"] = [{**manual, "position": [0, 200]}, *document["nodes"]]
    workflow_id, created = await saved(store, actor, document)
    [fired] = of(await scheduler.run_once(second(created, 3)), workflow_id)
    assert fired.execution_id is not None
    view = await service.wait(actor.tenant_id, fired.execution_id, 10)
    assert view is not None and view.status == "success"
    assert set(view.state) == {"Clock", "Done"}


async def test_three_schedulers_at_the_same_instants_start_each_tick_once(
    store: Store, database_url: str, keyring: Keyring
) -> None:
    actor = await tenant(store, "a")
    workflow_id, created = await saved(store, actor, cron())
    stores = [await open_store(database_url, keyring) for _ in range(3)]
    services = [ExecutionService(opened, InProcessEventBus()) for opened in stores]
    try:
        for running in services:
            await running.start()
        schedulers = [
            Scheduler(opened, running, SchedulerSettings(poll_seconds=3600, owner=f"s{n}"))
            for n, (opened, running) in enumerate(zip(stores, services, strict=True))
        ]
        claimed: list[FiredTick] = []
        for offset in range(1, 11):  # ten ticks, every scheduler passing at each
            passes = [each.run_once(second(created, offset)) for each in schedulers]
            for fired in await asyncio.gather(*passes):
                claimed += of(fired, workflow_id)
        rows = await ticks(store, workflow_id)
        runs = await executions(store, workflow_id)
        assert len(claimed) == len(rows) == len(runs) == 10
        expected = [created.replace(microsecond=0) + timedelta(seconds=n) for n in range(1, 11)]
        assert [row.tick for row in rows] == expected
        assert {row.execution_id for row in rows} == {run.id for run in runs}
        assert {row.claimed_by for row in rows} <= {"s0", "s1", "s2"}
    finally:
        for running in services:
            await running.shutdown()
        for opened in stores:
            await opened.close()


async def test_missed_ticks_run_once_after_downtime(
    store: Store, service: ExecutionService, scheduler: Scheduler
) -> None:
    actor = await tenant(store, "a")
    workflow_id, created = await saved(store, actor, cron())
    # never scheduled before: the newest tick since the workflow was saved, not the hundred before it
    [first] = of(await scheduler.run_once(second(created, 100)), workflow_id)
    # this scheduler goes on: again one, the newest
    [later] = of(await scheduler.run_once(second(created, 200)), workflow_id)
    # a scheduler that starts afresh (a restart) reads what fired last from the ticks: one again
    restarted = Scheduler(store, service, QUIET)
    [after_restart] = of(await restarted.run_once(second(created, 500)), workflow_id)
    assert [tick.key.tick for tick in (first, later, after_restart)] == [
        created.replace(microsecond=0) + timedelta(seconds=offset) for offset in (100, 200, 500)
    ]
    assert len(await executions(store, workflow_id)) == 3


async def test_a_disabled_workflow_never_runs(
    store: Store, service: ExecutionService, scheduler: Scheduler
) -> None:
    actor = await tenant(store, "a")
    workflow_id, created = await saved(store, actor, cron(active=False))
    assert of(await scheduler.run_once(second(created, 5)), workflow_id) == []
    enabled_at = await set_enabled(store, actor, workflow_id, True)
    scheduler.refresh_soon()
    assert len(of(await scheduler.run_once(second(enabled_at, 2)), workflow_id)) == 1
    # disabled between two scans: the scheduler still watches it, but the claim refuses the tick
    await set_enabled(store, actor, workflow_id, False)
    assert of(await scheduler.run_once(second(enabled_at, 4)), workflow_id) == []
    scheduler.refresh_soon()
    assert of(await scheduler.run_once(second(enabled_at, 6)), workflow_id) == []
    assert len(await ticks(store, workflow_id)) == len(await executions(store, workflow_id)) == 1


async def test_an_edit_takes_effect_at_the_next_scan(store: Store, scheduler: Scheduler) -> None:
    actor = await tenant(store, "a")
    workflow_id, created = await saved(store, actor, cron())
    assert len(of(await scheduler.run_once(second(created, 2)), workflow_id)) == 1
    async with store.unit(actor) as unit:
        nodes = (await unit.workflows.get(workflow_id)).data["nodes"]
        nodes[0]["parameters"]["rule"]["interval"][0]["expression"] = "0 0 0 1 1 *"  # once a year
        await unit.workflows.update(workflow_id, {"nodes": nodes})
    scheduler.refresh_soon()
    assert of(await scheduler.run_once(second(created, 30)), workflow_id) == []
    assert len(await executions(store, workflow_id)) == 1


async def test_a_schedule_n8n_would_not_activate_is_left_out(store: Store, scheduler: Scheduler) -> None:
    actor = await tenant(store, "a")
    broken, created = await saved(
        store, actor, scheduled({"field": "hours", "hoursInterval": 24}, type_version=1.3)
    )
    fine, _ = await saved(store, actor, cron())
    fired = await scheduler.run_once(second(created, 3600 * 30))
    assert of(fired, broken) == [] and len(of(fired, fine)) == 1
    assert await ticks(store, broken) == []


async def test_a_claim_left_by_a_dead_process_is_started_once_by_another(
    store: Store, service: ExecutionService, scheduler: Scheduler
) -> None:
    actor = await tenant(store, "a")
    workflow_id, created = await saved(store, actor, cron())
    now = second(created, 600)
    dead = TickKey(TriggerKey(actor.tenant_id, workflow_id, "clock", 0), now.replace(microsecond=0))
    lost = TickKey(dead.trigger, dead.tick - timedelta(seconds=1))
    async with store.unit(actor) as unit:  # two claims by a process that then died, 2 minutes ago
        for key in (dead, lost):
            assert await unit.schedules.claim(key, "dead", now - timedelta(minutes=2))
    # it had even submitted one of them before dying: the takeover must find that run, not make another
    submitted = await service.submit(
        actor, workflow_id, trigger_kind="schedule", idempotency_key=idempotency_key(lost)
    )
    fired = of(await scheduler.run_once(now), workflow_id)
    assert sorted((tick.key.tick, tick.execution_id is not None) for tick in fired) == [
        (lost.tick, True),
        (dead.tick, True),
    ]
    rows = await ticks(store, workflow_id)
    assert [(row.state, row.claimed_by) for row in rows] == [("started", QUIET.owner)] * 2
    assert next(row for row in rows if row.tick == lost.tick).execution_id == submitted.id
    assert len(await executions(store, workflow_id)) == 2
    assert of(await scheduler.run_once(now + timedelta(milliseconds=100)), workflow_id) == []


async def test_old_ticks_are_pruned(store: Store, service: ExecutionService) -> None:
    actor = await tenant(store, "a")
    workflow_id, created = await saved(store, actor, cron())
    pruning = Scheduler(
        store, service, SchedulerSettings(poll_seconds=3600, keep_ticks_seconds=60, prune_every_seconds=0)
    )
    for offset in (1, 2, 3, 200):
        await pruning.run_once(second(created, offset))
    # at +200 s the ticks of +1..+3 s are older than a minute and go; the newest one stays
    assert [row.tick for row in await ticks(store, workflow_id)] == [
        created.replace(microsecond=0) + timedelta(seconds=200)
    ]
    assert len(await executions(store, workflow_id)) == 4


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_three_scheduler_tasks_on_the_wall_clock_fire_ten_ticks_exactly_ten_times(
    store: Store, database_url: str, keyring: Keyring
) -> None:
    """Issue 11's "done when" (d): three schedulers, each its own store on one PostgreSQL database, run
    as tasks on the wall clock; a workflow firing every second gets one execution per tick. Their clock
    stops ten ticks after the workflow was saved, so the ten ticks are known in advance."""
    actor = await tenant(store, "a")
    workflow_id, created = await saved(store, actor, cron())
    last_tick = created.replace(microsecond=0) + timedelta(seconds=10)

    def clock() -> datetime:
        return min(datetime.now(UTC), last_tick + timedelta(milliseconds=500))

    stores = [await open_store(database_url, keyring) for _ in range(3)]
    services = [ExecutionService(opened, InProcessEventBus()) for opened in stores]
    schedulers: list[Scheduler] = []
    try:
        for running in services:
            await running.start()
        for n, (opened, running) in enumerate(zip(stores, services, strict=True)):
            settings = SchedulerSettings(poll_seconds=1, owner=f"task{n}")
            scheduler = Scheduler(opened, running, settings, clock=clock)
            await scheduler.start()
            schedulers.append(scheduler)
        await asyncio.sleep((last_tick - datetime.now(UTC)).total_seconds() + 1.0)
        rows = await ticks(store, workflow_id)
        assert [row.tick for row in rows] == [last_tick - timedelta(seconds=n) for n in range(9, -1, -1)]
        runs = await executions(store, workflow_id)
        assert len(runs) == 10 and {row.execution_id for row in rows} == {run.id for run in runs}
        assert all(row.state == "started" for row in rows)
        statuses = await finished(services[0], actor.tenant_id, [run.id for run in runs])
        assert statuses == ["success"] * 10
    finally:
        for scheduler in schedulers:
            await scheduler.close()
        for running in services:
            await running.shutdown()
        for opened in stores:
            await opened.close()


async def test_start_scheduler_runs_until_closed(store: Store, service: ExecutionService) -> None:
    actor = await tenant(store, "a")
    workflow_id, _ = await saved(store, actor, cron())
    running = await start_scheduler(store, service, SchedulerSettings(poll_seconds=0.5))
    try:
        for _ in range(40):
            if await executions(store, workflow_id):
                break
            await asyncio.sleep(0.05)
    finally:
        await running.close()
    assert await executions(store, workflow_id)
    assert running.triggers >= 1
    with contextlib.suppress(asyncio.CancelledError):
        await running.close()  # closing twice is harmless
