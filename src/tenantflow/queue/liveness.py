"""A worker's liveness: its row in ``workers``, kept fresh beside the receiver while the process serves.

:func:`keep_alive` registers the worker, then every ``every_seconds`` writes how many executions it runs
and when it was last seen, and deregisters it when cancelled (a graceful stop). A worker killed outright
stops beating: readers count it as gone once its row is older than their staleness window
(:func:`live_within_seconds`). A beat the database refuses is logged and tried again at the next one; the
worker goes on serving meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable
from typing import Final

from tenantflow.engine.record import utc_now
from tenantflow.store.database import Database
from tenantflow.store.workers import WorkerIdentity, beat, deregister, register

log = logging.getLogger("tenantflow.queue")

BEATS_MISSED: Final = 3
"""A worker that missed this many beats in a row counts as gone."""
DEREGISTER_TIMEOUT_SECONDS: Final = 5.0


def beat_seconds(lease_seconds: float) -> float:
    """How often a worker beats: as often as it renews its leases, so its row says what its leases say."""
    return lease_seconds / 3


def live_within_seconds(lease_seconds: float) -> float:
    """How recently a live worker was seen, at most: :data:`BEATS_MISSED` beats, one lease."""
    return beat_seconds(lease_seconds) * BEATS_MISSED


def identity(owner: str, queue: str, concurrency: int) -> WorkerIdentity:
    """This process as the worker ``owner`` serving ``queue``."""
    return WorkerIdentity(owner, socket.gethostname(), os.getpid(), queue, concurrency, utc_now())


async def keep_alive(
    database: Database, worker: WorkerIdentity, running: Callable[[], int], *, every_seconds: float
) -> None:
    """Register ``worker``, beat with ``running()`` every ``every_seconds`` until cancelled, deregister."""
    try:
        try:
            await register(database, worker, utc_now())
        except Exception:  # the first beat that gets through registers it
            log.exception("worker %s could not register", worker.owner)
        while True:
            await asyncio.sleep(every_seconds)
            try:
                await beat(database, worker, running=running(), now=utc_now())
            except Exception:
                log.exception("worker %s: the liveness beat failed", worker.owner)
    finally:
        try:
            async with asyncio.timeout(DEREGISTER_TIMEOUT_SECONDS):
                await deregister(database, worker.owner)
        except Exception:
            log.exception("worker %s could not deregister; its row ages out", worker.owner)
