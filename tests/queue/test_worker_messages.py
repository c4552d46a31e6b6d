"""A round of claims takes every queued execution a free slot can hold, so the messages of the others,
arriving after it, are acknowledged without a round of their own: one round, not one per message."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tenantflow.queue.worker import Ack, Worker
from tenantflow.services.events import InProcessEventBus
from tenantflow.services.executions import ExecutionService
from tenantflow.store.secrets import Keyring
from tenantflow.store.unit import Store
from tests.services.test_executions import chain, saved, stored, tenant, wait
from tests.store.conftest import open_store

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def store(postgres_url: str) -> AsyncIterator[Store]:
    opened = await open_store(postgres_url, Keyring.generate())
    try:
        yield opened
    finally:
        await opened.close()


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
    try:
        first = await service.submit(actor, workflow_id)
        second = await service.submit(actor, workflow_id)
        await worker.handle(*sent[0], ack_of(first.id))  # its round claims both
        assert worker.running == 2
        late = await service.submit(actor, workflow_id)  # queued; its message is not delivered yet

        await worker.handle(*sent[1], ack_of(second.id))  # second's message: no round, so late waits

        assert acknowledged == [first.id, second.id]
        assert (await stored(store, actor, late.id)).status == "queued"
        assert worker.running == 2
        await worker.handle(*sent[2], ack_of(late.id))  # late's own message claims it
        assert worker.running == 3 and acknowledged[-1] == late.id
    finally:
        await worker.close()
        await service.shutdown()
