"""What an API process and a worker build alike from the settings: run limits, the event bus, the service.

One place, so that an execution runs with the same limits and publishes to the same bus whichever process
runs it.
"""

from __future__ import annotations

from redis.asyncio import Redis

from tenantflow.engine.executor import RunLimits
from tenantflow.services.events import EventBus, InProcessEventBus
from tenantflow.services.events_redis import RedisEventBus
from tenantflow.services.executions import Dispatch, ExecutionService, ExecutionSettings
from tenantflow.settings import Settings
from tenantflow.store.unit import Store


def run_limits(settings: Settings) -> RunLimits:
    files_root = None if settings.files_dir is None else str(settings.files_dir.resolve())
    return RunLimits(
        allow_host_commands=settings.allow_host_commands,
        allow_private_network=settings.allow_private_network,
        files_root=files_root,
    )


def event_bus(redis: Redis | None) -> EventBus:
    """Redis when configured: API processes and workers then share progress; else this process's own."""
    return RedisEventBus(redis) if redis is not None else InProcessEventBus()


async def execution_service(
    settings: Settings, store: Store, redis: Redis | None, *, dispatch: Dispatch | None = None
) -> ExecutionService:
    """The started service: inline without ``dispatch``, the queue mode's sending side with it."""
    service = ExecutionService(
        store,
        event_bus(redis),
        ExecutionSettings(limits=run_limits(settings), tenant_limit=settings.tenant_concurrency),
        dispatch=dispatch,
    )
    await service.start()
    return service
