"""The group-commit writer answers a create that nobody reads back before the batch's cache invalidation
lands (``early``), and every other write only after it: whoever those answer reads its own write."""

from __future__ import annotations

import asyncio
import socket

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from tenantflow.nodes import default_registry
from tenantflow.services.writer import GroupCommitWriter
from tenantflow.store.cache import RedisWarmCache, WorkflowCache
from tenantflow.store.database import Database
from tenantflow.store.executions import QueuedExecution
from tenantflow.store.secrets import Keyring
from tenantflow.store.unit import Store
from tests.services.test_executions import chain, saved, tenant, wait

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


def closed_port() -> int:
    """A local port nothing listens on (bound, then let go)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


class GatedCache(WorkflowCache):
    """The in-process cache, whose renewal after executions are written waits until the test opens it."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.renewals = 0

    async def executions_changed(self, tenant_id: str, *workflow_ids: str) -> None:
        await self.gate.wait()
        await super().executions_changed(tenant_id, *workflow_ids)
        self.renewals += 1


async def test_an_early_create_is_answered_before_the_caches_are_renewed(database_url: str) -> None:
    cache = GatedCache()
    store = Store(Database(database_url), cache, Keyring.generate(), default_registry(plugins=False))
    writer = GroupCommitWriter(store)
    writer.start()
    try:
        actor = await tenant(store, "early")
        workflow_id = await saved(store, actor, chain("queued", wait(30)))
        early = writer.create(QueuedExecution(actor, workflow_id), early=True)
        promised = writer.create(QueuedExecution(actor, workflow_id))

        renewed = cache.renewals
        summary, created = await asyncio.wait_for(early, 5)

        assert created and summary.status == "queued"
        await asyncio.sleep(0.05)
        assert not promised.done() and cache.renewals == renewed
        cache.gate.set()
        later, _ = await asyncio.wait_for(promised, 5)
        assert later.status == "queued" and cache.renewals == renewed + 1
    finally:
        cache.gate.set()
        await writer.close()
        await store.close()


async def test_a_failed_renewal_fails_the_writes_it_promised_and_keeps_them(database_url: str) -> None:
    keyring, registry = Keyring.generate(), default_registry(plugins=False)
    home = Store(Database(database_url), WorkflowCache(), keyring, registry)
    away = WorkflowCache(RedisWarmCache(f"redis://127.0.0.1:{closed_port()}/0"))  # a warm tier gone away
    store = Store(Database(database_url), away, keyring, registry)
    writer = GroupCommitWriter(store)
    writer.start()
    try:
        actor = await tenant(home, "renewal")
        workflow_id = await saved(home, actor, chain("queued", wait(30)))
        first, second = QueuedExecution(actor, workflow_id), QueuedExecution(actor, workflow_id)
        early = writer.create(first, early=True)
        promised = writer.create(second)

        summary, created = await asyncio.wait_for(early, 5)
        with pytest.raises(RedisConnectionError):
            await asyncio.wait_for(promised, 5)

        assert created and summary.id == first.id
        async with store.unit(actor, read_only=True) as unit:  # both committed, each once
            page = await unit.executions.list(workflow_id=workflow_id)
        assert sorted(view.id for view in page.items) == sorted([first.id, second.id])
    finally:
        await writer.close()
        await store.close()
        await home.close()
