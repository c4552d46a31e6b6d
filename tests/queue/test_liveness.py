"""Worker liveness with real ``tenantflow worker`` processes: a worker shows up in ``workers`` as it starts,
its beats carry what it runs, a SIGTERM takes its row away, and a SIGKILLed one stops beating and ages out
of the live count."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import Callable
from datetime import timedelta

import pytest

from tenantflow.engine.record import utc_now
from tenantflow.queue.liveness import beat_seconds, live_within_seconds
from tenantflow.settings import Settings
from tenantflow.store.database import Database
from tenantflow.store.workers import WorkerView, list_workers, queue_stats
from tests.queue.conftest import LEASE_SECONDS, Api, Workers
from tests.queue.test_queue_mode import start_waiting

pytestmark = pytest.mark.anyio

BEAT = beat_seconds(LEASE_SECONDS)


async def rows_of(database: Database, settings: Settings) -> list[WorkerView]:
    """The rows of the workers serving this test's queue (the queue tests share a database)."""
    return [row for row in await list_workers(database) if row.queue == settings.broker_queue]


async def row_when(
    database: Database, settings: Settings, until: Callable[[list[WorkerView]], bool], timeout: float
) -> list[WorkerView]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not until(rows := await rows_of(database, settings)):
        assert loop.time() < deadline, f"not reached in {timeout} s: {rows}"
        await asyncio.sleep(0.05)
    return rows


def only(process: subprocess.Popen[bytes], **expected: int) -> Callable[[list[WorkerView]], bool]:
    """The rows are this process's one row, with the ``expected`` figures."""
    return lambda rows: (
        [row.pid for row in rows] == [process.pid]
        and all(getattr(rows[0], name) == value for name, value in expected.items())
    )


async def test_a_worker_registers_beats_with_its_runs_and_deregisters_on_stop(
    api: Api, workers: Workers, queue_settings: Settings
) -> None:
    database = api.app.state.runtime.store.database
    process = workers.start(concurrency=2)
    [row] = await row_when(database, queue_settings, only(process, running=0, concurrency=2), 20)
    assert row.owner.split(":")[1] == str(process.pid)  # its lease owner, as its executions carry it
    await start_waiting(api)
    [busy] = await row_when(database, queue_settings, only(process, running=1), BEAT * 3)
    assert busy.started_at == row.started_at and busy.last_seen_at > row.last_seen_at
    stats = await queue_stats(
        database,
        utc_now(),
        lease_seconds=LEASE_SECONDS,
        live_within_seconds=live_within_seconds(LEASE_SECONDS),
    )
    assert (stats.live_workers, stats.capacity, stats.busy, stats.running) == (1, 2, 1, 1)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0, workers.logs()
    assert await rows_of(database, queue_settings) == []


async def test_a_killed_worker_stops_beating_and_ages_out(
    api: Api, workers: Workers, queue_settings: Settings
) -> None:
    database = api.app.state.runtime.store.database
    process = workers.start()
    await row_when(database, queue_settings, only(process), 20)
    process.send_signal(signal.SIGKILL)
    process.wait()
    [left] = await rows_of(database, queue_settings)
    await asyncio.sleep(BEAT * 1.5)
    [still] = await rows_of(database, queue_settings)
    assert still.last_seen_at == left.last_seen_at  # nobody beats for it
    window = live_within_seconds(LEASE_SECONDS)
    for moment, live in ((left.last_seen_at, 1), (left.last_seen_at + timedelta(seconds=window + 0.1), 0)):
        stats = await queue_stats(database, moment, lease_seconds=LEASE_SECONDS, live_within_seconds=window)
        assert stats.live_workers == live
