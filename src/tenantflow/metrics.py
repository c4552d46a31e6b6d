"""Prometheus metrics: requests by route and status, latencies, executions by status, node durations.

The HTTP layer records requests; the execution service records executions and node runs (a module of
its own so that services need not import the web layer).

Labels use route templates (``/api/v1/{tenant}/workflows/{workflow_id}``), never raw paths, so a scan of
random URLs cannot blow up the series count. With ``serve --workers N`` each process exposes its own
figures unless ``PROMETHEUS_MULTIPROC_DIR`` is set (prometheus-client's multiprocess mode).

The queue's gauges (depth, ages, leases, live workers) are the database's figures, not this process's:
:class:`QueueFigures` reads them when ``/metrics`` is scraped, and a scrape never fails for them: when the
read fails or is slow, the gauges keep the last figures and ``tenantflow_queue_stats_age_seconds`` says
how old those are.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Final

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

from tenantflow.store.workers import COUNT_LIMIT, QueueStats

log = logging.getLogger("tenantflow.metrics")

REQUESTS = Counter("tenantflow_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "tenantflow_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
EXECUTIONS = Counter("tenantflow_executions_total", "Finished executions", ["status"])
NODE_DURATION = Histogram(
    "tenantflow_node_duration_seconds",
    "Node run durations",
    ["node_type", "status"],
    buckets=(0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120),
)
CONTENT_TYPE = CONTENT_TYPE_LATEST


def _queue_gauge(name: str, description: str) -> Gauge:
    """A figure of the shared database: every process reports the same, so the newest one stands."""
    return Gauge(name, description, multiprocess_mode="mostrecent")


QUEUE_DEPTH = _queue_gauge("tenantflow_queue_depth", f"Queued executions (counted up to {COUNT_LIMIT})")
OLDEST_QUEUED = _queue_gauge(
    "tenantflow_queue_oldest_queued_seconds", "How long the oldest queued execution has waited (0: none)"
)
RUNNING = _queue_gauge("tenantflow_queue_running", f"Running executions (counted up to {COUNT_LIMIT})")
OLDEST_LEASE = _queue_gauge(
    "tenantflow_queue_oldest_lease_seconds",
    "Since the least recently renewed lease of a running execution was renewed (0: none)",
)
EXPIRED_LEASES = _queue_gauge(
    "tenantflow_queue_expired_leases", "Running executions whose lease expired: their worker is gone"
)
LIVE_WORKERS = _queue_gauge("tenantflow_workers_live", "Workers seen within the staleness window")
WORKER_CAPACITY = _queue_gauge("tenantflow_workers_capacity", "Executions the live workers run at once")
WORKERS_BUSY = _queue_gauge("tenantflow_workers_busy", "Executions the live workers said they run")
STATS_AGE = _queue_gauge(
    "tenantflow_queue_stats_age_seconds", "Age of the queue figures served (+Inf: never read)"
)
STATS_FAILURES = Counter("tenantflow_queue_stats_failures_total", "Reads of the queue figures that failed")


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    REQUESTS.labels(method, route, str(status)).inc()
    LATENCY.labels(method, route).observe(seconds)


def observe_execution(status: str) -> None:
    EXECUTIONS.labels(status).inc()


def observe_node(node_type: str, status: str, seconds: float) -> None:
    NODE_DURATION.labels(node_type, status).observe(seconds)


def exposition() -> bytes:
    return generate_latest()


class QueueFigures:
    """The queue gauges, read with ``read`` when a scrape asks. Scrapes within ``fresh_for`` seconds of a
    read (concurrent ones included) share it, so a burst of scrapes is one read; a read that fails or takes
    longer than ``timeout`` leaves the last figures in place, counted in ``STATS_FAILURES``."""

    FRESH_FOR: Final = 1.0
    TIMEOUT: Final = 2.0

    def __init__(self, read: Callable[[], Awaitable[QueueStats]]) -> None:
        self.read = read
        self._read_at: float | None = None  # time.monotonic() of the last read that succeeded
        self._lock = asyncio.Lock()

    async def refresh(self) -> None:
        async with self._lock:
            if self._read_at is None or time.monotonic() - self._read_at >= self.FRESH_FOR:
                await self._read()
            STATS_AGE.set(math.inf if self._read_at is None else time.monotonic() - self._read_at)

    async def _read(self) -> None:
        try:
            async with asyncio.timeout(self.TIMEOUT):
                stats = await self.read()
        except Exception as error:  # the database hiccuped: serve the last figures, say how old they are
            STATS_FAILURES.inc()
            log.warning("the queue figures could not be read: %s: %s", type(error).__name__, error)
            return
        self._read_at = time.monotonic()
        QUEUE_DEPTH.set(stats.queued)
        OLDEST_QUEUED.set(stats.oldest_queued_seconds or 0.0)
        RUNNING.set(stats.running)
        OLDEST_LEASE.set(stats.oldest_lease_seconds or 0.0)
        EXPIRED_LEASES.set(stats.expired_leases)
        LIVE_WORKERS.set(stats.live_workers)
        WORKER_CAPACITY.set(stats.capacity)
        WORKERS_BUSY.set(stats.busy)
