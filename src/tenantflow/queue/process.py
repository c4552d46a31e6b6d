"""The worker process: ``tenantflow worker`` runs :func:`run_worker` until SIGTERM or SIGINT.

Taskiq's receiver consumes the queue (RabbitMQ prefetches ``concurrency`` messages), and the worker runs
at most ``concurrency`` executions at once; the reaper and the liveness beat (this worker's row in
``workers``) run beside it. On a stop signal: no new claims, running executions are given back (another
worker resumes them), the worker's row goes, then the broker, the bus and the store close.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from redis.asyncio import Redis
from taskiq.api import run_receiver_task

from tenantflow import heap
from tenantflow.queue.broker import WORKER_STATE, dispatcher, make_broker
from tenantflow.queue.liveness import beat_seconds, identity, keep_alive
from tenantflow.queue.reaper import reap_forever, reap_once
from tenantflow.queue.runtime import execution_service
from tenantflow.queue.worker import Worker, WorkerSettings, reconcile
from tenantflow.services.runtime import open_store
from tenantflow.settings import Settings

log = logging.getLogger("tenantflow.queue")


async def run_worker(settings: Settings, *, concurrency: int, stop: asyncio.Event | None = None) -> None:
    """Serve the queue until ``stop`` is set (by default: on SIGTERM or SIGINT)."""
    stop = stop or _stop_on_signals()
    settings = settings.model_copy(update={"worker_concurrency": concurrency})
    store = await open_store(settings)
    redis = Redis.from_url(settings.redis_url) if settings.redis_url else None
    broker = make_broker(settings)
    send = dispatcher(broker)
    # what a run here starts (an error workflow, for one) goes to the queue like any other execution
    service = await execution_service(settings, store, redis, dispatch=send)
    worker = Worker(
        store,
        service,
        WorkerSettings(
            lease_seconds=settings.lease_seconds,
            tenant_limit=settings.tenant_concurrency,
            concurrency=concurrency,
        ),
    )
    broker.is_worker_process = True
    setattr(broker.state, WORKER_STATE, worker)
    await broker.startup()
    worker.start()
    if await reconcile(store):  # executions a worker of this host died holding: sent on at once
        await reap_once(store, send, requeue_after_seconds=settings.requeue_after_seconds, queued_limit=0)
    receiver = asyncio.create_task(
        run_receiver_task(broker, max_async_tasks=concurrency, run_startup=False), name="receiver"
    )
    every = min(settings.requeue_after_seconds, settings.lease_seconds) / 3
    reaper = asyncio.create_task(
        reap_forever(
            store,
            send,
            requeue_after_seconds=settings.requeue_after_seconds,
            every_seconds=every,
            idle_slots=lambda: concurrency - worker.running,
        ),
        name="reaper",
    )
    aborts = asyncio.create_task(worker.watch_aborts(), name="aborts")
    stops = asyncio.create_task(worker.hear_aborts(), name="stops")
    liveness = asyncio.create_task(
        keep_alive(
            store.database,
            identity(worker.owner, settings.broker_queue, concurrency),
            lambda: worker.running,
            every_seconds=beat_seconds(settings.lease_seconds),
        ),
        name="liveness",
    )
    heap.settle()
    log.info("worker %s serves %s (concurrency %d)", worker.owner, settings.broker_queue, concurrency)
    try:
        await stop.wait()
    finally:
        reaper.cancel()
        aborts.cancel()
        stops.cancel()
        await worker.close()  # before the receiver stops: its tasks await the last round of claims
        receiver.cancel()
        liveness.cancel()  # deregisters: the worker is gone once its executions are given back
        for task in (reaper, aborts, stops, receiver, liveness):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await service.shutdown()
        await broker.shutdown()
        await service.bus.aclose()
        if redis is not None:
            await redis.aclose()
        await store.close()


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(number, stop.set)
    return stop
