"""Triggers that start executions without a request: the schedule trigger host (webhooks come next).

The app's lifespan starts one :class:`Scheduler` per process with :func:`start_scheduler` after the
execution service, and closes it before the service shuts down; any number of processes may run one.
"""

from __future__ import annotations

from tenantflow.services.executions import ExecutionService
from tenantflow.store.unit import Store
from tenantflow.triggers.schedules import FiredTick, Scheduler, SchedulerSettings

__all__ = ["FiredTick", "Scheduler", "SchedulerSettings", "start_scheduler"]


async def start_scheduler(
    store: Store, executions: ExecutionService, settings: SchedulerSettings | None = None
) -> Scheduler:
    """A running scheduler for this process; ``await scheduler.close()`` stops it."""
    scheduler = Scheduler(store, executions, settings)
    await scheduler.start()
    return scheduler
