"""An abort requested on one process reaches the worker running the execution through the bus at once
(Redis pub/sub), not at the worker's next poll of the row: here the poll is a minute away."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest
from redis.asyncio import Redis

from tenantflow.queue.worker import Worker, WorkerSettings
from tenantflow.services.events_redis import RedisEventBus
from tenantflow.services.executions import ExecutionService
from tenantflow.store.unit import Store
from tests.conftest import REDIS_VAR, required_env
from tests.services.test_executions import chain, saved, stored, tenant, wait

pytestmark = pytest.mark.anyio


async def test_an_abort_reaches_a_worker_through_the_bus_within_a_second(store: Store) -> None:
    actor = await tenant(store, "stop")
    workflow_id = await saved(store, actor, chain("sleeper", wait(30)))
    prefix = f"tftest:{actor.tenant_id}:events:"
    api_redis, worker_redis = (Redis.from_url(required_env(REDIS_VAR)) for _ in range(2))
    sent: list[tuple[str, str]] = []

    async def dispatch(tenant_id: str, execution_id: str) -> None:
        sent.append((tenant_id, execution_id))

    api = ExecutionService(store, RedisEventBus(api_redis, prefix=prefix), dispatch=dispatch)
    runs = ExecutionService(store, RedisEventBus(worker_redis, prefix=prefix), dispatch=dispatch)
    worker = Worker(store, runs, WorkerSettings(abort_poll_seconds=60))
    await api.start()
    await runs.start()
    worker.start()
    hearing = asyncio.create_task(worker.hear_aborts())

    async def ack() -> None:
        pass

    try:
        summary = await api.submit(actor, workflow_id)
        await asyncio.wait_for(worker.handle(*sent[0], ack), 5)  # back once the execution is claimed
        while (await stored(store, actor, summary.id)).status != "running":
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)  # the Wait node sleeps now
        asked = time.monotonic()
        await api.abort(actor, summary.id)
        while worker.running and time.monotonic() - asked < 5:
            await asyncio.sleep(0.01)
        took = time.monotonic() - asked
        view = await stored(store, actor, summary.id)
        assert view.status == "aborted" and took < 1.0, (view.status, took)
    finally:
        await worker.close()
        hearing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await hearing
        await api.shutdown()
        await runs.shutdown()
        for client in (api_redis, worker_redis):
            await client.aclose()
