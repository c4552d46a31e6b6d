"""Group commit: one background task writes what every execution in flight asks for, in few transactions.

A transaction per node checkpoint would cost more than running the node. Instead callers queue writes
(execution creates; starts, node checkpoints, logs and finishes) and the writer commits whatever is queued
as soon as its previous commit returns: one unit of work per tenant per batch (every store session belongs
to one tenant), at most ``max_batch`` executions each. One execution's writes are merged in order and land
in one batch or in consecutive ones, so its order holds. Each write returns a future of its commit, for
the callers that must not go on before it (a create before its 202, a finish before ``wait`` returns); it
resolves once the batch's cache invalidation has landed too, but for a create marked ``early``.

A failed batch is retried one execution at a time, so one bad write fails only its own future.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import Any

from tenantflow.engine.errors import ErrorCode
from tenantflow.engine.record import LogEntry, NodeState
from tenantflow.store.audit import Actor
from tenantflow.store.errors import StoreError
from tenantflow.store.executions import (
    ExecutionProgress,
    ExecutionSummary,
    FinishedRun,
    Lease,
    QueuedExecution,
)
from tenantflow.store.unit import Store

log = logging.getLogger("tenantflow.executions")

Created = tuple[ExecutionSummary, bool]
HOLD_SECONDS = 0.005
Checkpoint = tuple[str, int, NodeState | dict[str, Any]]


@dataclass(eq=False, slots=True)
class _Pending:
    """One execution's writes since its last batch; they share one future."""

    tenant_id: str
    execution_id: str
    future: asyncio.Future[ExecutionSummary]
    started_at: datetime | None = None
    nodes: list[Checkpoint] = field(default_factory=list)
    logs: list[LogEntry] = field(default_factory=list)
    finish: FinishedRun | None = None
    lease: Lease | None = None

    def progress(self) -> ExecutionProgress:
        return ExecutionProgress(
            self.execution_id, self.started_at, self.nodes, self.logs, self.finish, self.lease
        )


@dataclass(eq=False, slots=True)
class _Create:
    request: QueuedExecution
    future: asyncio.Future[Created]
    hold: bool  # the row may wait a moment for its run's end, to share that transaction
    early: bool  # the caller needs the row committed, not yet the caches renewed


class GroupCommitWriter:
    """See the module docstring. ``start()`` it inside the event loop; ``close()`` drains and stops it."""

    def __init__(self, store: Store, *, max_batch: int = 256) -> None:
        self.store = store
        self.max_batch = max_batch
        self._creates: list[_Create] = []
        self._pending: dict[tuple[str, str, int], _Pending] = {}  # (tenant, execution, lease attempt)
        self._held: set[str] = set()  # ids of queued rows that wait for their run's end
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._concurrent = store.database.dialect != "sqlite"  # SQLite has one writer at a time anyway

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="tenantflow-execution-writer")

    async def close(self) -> None:
        """Commit everything queued, then stop."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task

    def create(
        self, request: QueuedExecution, *, hold: bool = False, early: bool = False
    ) -> asyncio.Future[Created]:
        """Queue a new execution; the future gives it, and whether this request made it (False when its
        idempotency key already had one). ``hold``: nobody waits for the row alone, so while nothing else
        is to be written it may wait up to :data:`HOLD_SECONDS` for its run to finish, and a short run's
        row, checkpoints and end then cost one transaction instead of two. ``early``: nobody is answered
        before the run ends, so the future resolves once the row is committed, before the batch's cache
        invalidation (a Redis round trip) lands; the other futures wait for that too, so that whoever they
        answer reads its own write."""
        future: asyncio.Future[Created] = asyncio.get_running_loop().create_future()
        self._creates.append(_Create(request, future, hold, early))
        if hold:
            self._held.add(request.id)
        self._wake.set()
        return future

    def progress(
        self,
        tenant_id: str,
        execution_id: str,
        *,
        started_at: datetime | None = None,
        nodes: Sequence[Checkpoint] = (),
        logs: Sequence[LogEntry] = (),
        finish: FinishedRun | None = None,
        lease: Lease | None = None,
    ) -> asyncio.Future[ExecutionSummary]:
        """Queue what an execution did; the future resolves when it is committed (callers that need not
        wait may drop it: a failure is logged). A worker's writes carry its ``lease`` (the latest one given
        fences what is queued under the same attempt): once it is lost they fail with LEASE_LOST. Writes of
        another attempt of the execution (a run whose lease expired, and the run that took it over, even in
        one process) are queued apart, so neither fences nor carries the other's."""
        key = (tenant_id, execution_id, 0 if lease is None else lease.attempt)
        pending = self._pending.get(key)
        if pending is None:
            future: asyncio.Future[ExecutionSummary] = asyncio.get_running_loop().create_future()
            future.add_done_callback(_log_failure)
            pending = self._pending[key] = _Pending(tenant_id, execution_id, future)
        if started_at is not None:
            pending.started_at = started_at
        pending.nodes.extend(nodes)
        pending.logs.extend(logs)
        if finish is not None:
            pending.finish = finish
        if lease is not None:
            pending.lease = lease
        if finish is not None or execution_id not in self._held:  # a held row waits for the end anyway
            self._wake.set()
        return pending.future

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self._linger()
            while self._creates or self._pending:
                creates = self._creates[: self.max_batch]
                del self._creates[: len(creates)]
                self._held.difference_update(create.request.id for create in creates)
                # An execution may run before its row is written: its progress waits for a batch that
                # writes the row first (this one, or an earlier one).
                unwritten = {create.request.id for create in self._creates}
                ready = (key for key in self._pending if key[1] not in unwritten)
                keys = list(islice(ready, self.max_batch - len(creates)))
                await self._commit(creates, [self._pending.pop(key) for key in keys])
            if self._closing:
                return

    async def _linger(self) -> None:
        """Wait (briefly) while the only work is held rows whose runs have not finished yet."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + HOLD_SECONDS
        while (
            not self._closing
            and self._creates
            and all(create.hold for create in self._creates)
            and not any(pending.finish for pending in self._pending.values())
        ):
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            try:
                await asyncio.wait_for(self._wake.wait(), remaining)
            except TimeoutError:
                return
            self._wake.clear()

    async def _commit(self, creates: list[_Create], pending: list[_Pending]) -> None:
        tenants: dict[str, tuple[list[_Create], list[_Pending]]] = {}
        for create in creates:
            tenants.setdefault(create.request.actor.tenant_id, ([], []))[0].append(create)
        for item in pending:
            tenants.setdefault(item.tenant_id, ([], []))[1].append(item)
        batches = [self._commit_tenant(tenant, *work) for tenant, work in tenants.items()]
        if self._concurrent:
            await asyncio.gather(*batches)
        else:
            for batch in batches:
                await batch

    async def _commit_tenant(self, tenant_id: str, creates: list[_Create], pending: list[_Pending]) -> None:
        """One transaction for the tenant's share of the batch; on failure, one per execution."""
        try:
            async with self.store.unit(Actor(tenant_id)) as unit:
                invalidate = unit.defer_after_commit()
                made, done = await unit.executions.write_batch(
                    [c.request for c in creates], [p.progress() for p in pending]
                )
        except Exception as error:  # every failure reaches the futures: nothing is lost silently
            if len(creates) + len(pending) == 1:
                for future in [c.future for c in creates] + [p.future for p in pending]:
                    _fail(future, error)
                return
            for create in creates:
                await self._commit_tenant(tenant_id, [create], [])
            for item in pending:
                await self._commit_tenant(tenant_id, [], [item])
            return
        for create, result in zip(creates, made, strict=True):
            if create.early and not create.future.done():
                create.future.set_result(result)
        try:
            await invalidate()
        except Exception as error:  # committed, but a cache may still serve what it replaced: not clean
            for future in [c.future for c in creates] + [p.future for p in pending]:
                _fail(future, error)
            return
        for create, result in zip(creates, made, strict=True):
            if not create.future.done():
                create.future.set_result(result)
        for item, summary in zip(pending, done, strict=True):
            if not item.future.done():
                item.future.set_result(summary)


def _fail(future: asyncio.Future[Any], error: Exception) -> None:
    if not future.done():
        future.set_exception(error)


def _log_failure(future: asyncio.Future[ExecutionSummary]) -> None:
    """A lost lease is a worker's normal end after a takeover (the run stops), not a storage failure."""
    if future.cancelled() or (error := future.exception()) is None:
        return
    if isinstance(error, StoreError) and error.code == ErrorCode.LEASE_LOST:
        log.info("a worker lost its lease: %s", error)
    else:
        log.error("an execution's progress could not be stored: %s", error)
