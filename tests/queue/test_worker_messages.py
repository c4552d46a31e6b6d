"""A round of claims takes every queued execution a free slot can hold, so the messages of the others,
arriving after it, are acknowledged without a round of their own: one round, not one per message."""

from __future__ import annotations

import asyncio

import pytest

from tenantflow.queue.worker import Ack, Worker
from tenantflow.services.events import InProcessEventBus
from tenantflow.services.executions import ExecutionService
from tenantflow.store.unit import Store
from tests.services.test_executions import chain, saved, stored, tenant, wait

pytestmark = pytest.mark.anyio


async def test_the_message_of_an_execution_just_claimed_needs_no_round(store: Store) -> None:
    actor = await tenant(store, "rounds")
    workflow_id = await saved(store, actor, chain("sleeper", wait(30)))
    sent: list[tuple[str, str]] = []
    acknowledged: list[str] = []

    async def dispatch(tenant_id: str, execution_id: str) -> None:
        sent.append((tenant_id, execution_id))

    def ack_of(execution_id: str) -> Ack:
        async def ack() -> None:
            acknowledged.append(execution_id)

        return ack

    service = ExecutionService(store, InProcessEventBus(), dispatch=dispatch)
    worker = Worker(store, service)
    await service.start()
    worker.start()
    submitted: list[str] = []
    try:
        first = await service.submit(actor, workflow_id)
        second = await service.submit(actor, workflow_id)
        submitted += [first.id, second.id]
        await worker.handle(*sent[0], ack_of(first.id))  # its round claims both
        assert worker.running == 2
        late = await service.submit(actor, workflow_id)  # queued; its message is not delivered yet
        submitted.append(late.id)

        await worker.handle(*sent[1], ack_of(second.id))  # second's message: no round, so late waits

        assert acknowledged == [first.id, second.id]
        assert (await stored(store, actor, late.id)).status == "queued"
        assert worker.running == 2
        await worker.handle(*sent[2], ack_of(late.id))  # late's own message claims it
        assert worker.running == 3 and acknowledged[-1] == late.id
    finally:  # ended, not given back: a later test's worker would claim them
        for execution_id in submitted:
            await service.abort(actor, execution_id)
        await asyncio.wait_for(until_idle(worker), 5)
        await worker.close()
        await service.shutdown()


async def until_idle(worker: Worker) -> None:
    while worker.running:
        await asyncio.sleep(0.01)


async def test_a_claim_renews_the_cached_stats_after_its_runs_start(store: Store) -> None:
    """The claim's cache invalidation runs once the round has launched its runs, not before: the stats a
    reader cached while the execution was queued still give way to ones that count it running."""
    actor = await tenant(store, "claimstats")
    workflow_id = await saved(store, actor, chain("sleeper", wait(30)))
    sent: list[tuple[str, str]] = []

    async def dispatch(tenant_id: str, execution_id: str) -> None:
        sent.append((tenant_id, execution_id))

    async def by_status() -> dict[str, int]:
        async with store.unit(actor, read_only=True) as unit:
            stats = await unit.workflows.get_execution_stats("1h", workflow_id=workflow_id)
        return dict(stats["byStatus"])

    async def nothing() -> None:
        pass

    service = ExecutionService(store, InProcessEventBus(), dispatch=dispatch)
    worker = Worker(store, service)
    await service.start()
    worker.start()
    execution_id = ""
    try:
        execution_id = (await service.submit(actor, workflow_id)).id
        assert await by_status() == {"queued": 1}  # now cached

        await worker.handle(*sent[0], nothing)

        async with asyncio.timeout(5):
            while await by_status() != {"running": 1}:
                await asyncio.sleep(0.01)
    finally:
        if execution_id:
            await service.abort(actor, execution_id)
        await asyncio.wait_for(until_idle(worker), 5)
        await worker.close()
        await service.shutdown()
