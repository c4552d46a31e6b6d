"""``tenantflow worker``: claim executions the broker hands over, run them, keep their leases, reap.

Per message: claim the row (its own short unit, so PostgreSQL's row lock ends with it), acknowledge, and
run the execution with the service's one implementation (:meth:`ExecutionService.run_claimed`) while a
keeper task polls the row for an abort every ``abort_poll_seconds`` and renews the lease every third of
``lease_seconds``. A lost lease (the heartbeat or a checkpoint says so) stops the run without another
write. On a graceful stop the worker gives its executions back (``queued``, checkpoints kept) so another
worker resumes them at once, instead of after their leases expire.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from tenantflow.engine.errors import ErrorCode
from tenantflow.services.executions import ExecutionService, Run
from tenantflow.store.audit import Actor
from tenantflow.store.executions import Lease
from tenantflow.store.unit import Store

log = logging.getLogger("tenantflow.queue")

Ack = Callable[[], Awaitable[None]]
ABORTED_BY_USER = "aborted by user"


def worker_owner() -> str:
    """A lease owner no other process shares, even after a restart with the same pid."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    lease_seconds: float = 30.0
    abort_poll_seconds: float = 0.25  # how soon an abort requested through the API reaches a run


class Worker:
    """Runs claimed executions through ``service``; see the module docstring."""

    def __init__(self, store: Store, service: ExecutionService, settings: WorkerSettings | None = None):
        self.store = store
        self.service = service
        self.settings = settings or WorkerSettings()
        self.owner = worker_owner()
        self._runs: dict[str, Run] = {}  # execution id -> run
        self._closing = False

    async def handle(self, tenant_id: str, execution_id: str, ack: Ack) -> None:
        """One message: claim, acknowledge, run to the end (or until the lease is lost or given back)."""
        if self._closing:
            return  # not acknowledged: RabbitMQ hands it to another worker
        try:
            async with self.store.unit(Actor(tenant_id)) as unit:
                lease = await unit.executions.claim(
                    execution_id, owner=self.owner, lease_seconds=self.settings.lease_seconds
                )
        except Exception:  # the row stays as it was; a reaper sends it again
            log.exception("execution %s could not be claimed", execution_id)
            lease = None
        await ack()
        if lease is None:  # finished, or running on a live worker: a duplicate message
            return
        try:
            run = await self.service.run_claimed(lease)
        except Exception as error:  # its workflow version is gone, for one: the execution's error
            log.exception("execution %s could not start", execution_id)
            await self._fail(lease, error)
            return
        self._runs[execution_id] = run
        keeper = asyncio.create_task(self._keep(run), name=f"lease-{execution_id}")
        try:
            await asyncio.wait([run.done])
        finally:
            keeper.cancel()
            self._runs.pop(execution_id, None)

    async def close(self) -> None:
        """Give every running execution back to the queue, its finished nodes kept."""
        self._closing = True
        for run in list(self._runs.values()):
            await self.service.give_back(run)

    async def _keep(self, run: Run) -> None:
        """Poll for an abort and renew the lease until the run ends; on a lost lease, stop the run."""
        loop = asyncio.get_running_loop()
        beat_every = self.settings.lease_seconds / 3
        next_beat = loop.time() + beat_every
        while not run.done.done():
            await asyncio.sleep(min(self.settings.abort_poll_seconds, beat_every))
            lease = run.lease
            assert lease is not None
            try:
                async with self.store.unit(Actor(lease.tenant_id)) as unit:
                    if run.abort_reason is None and await unit.executions.is_abort_requested(
                        lease.execution_id
                    ):
                        run.abort(ABORTED_BY_USER)
                    if loop.time() < next_beat:
                        continue
                    renewed = await unit.executions.heartbeat(
                        lease, lease_seconds=self.settings.lease_seconds
                    )
            except Exception:  # the database is away: the lease lasts a while yet, try again
                log.exception("execution %s: the lease could not be renewed", lease.execution_id)
                continue
            if renewed is None:
                log.warning("execution %s: lease lost, the run stops", lease.execution_id)
                run.silence()
                return
            run.lease = renewed
            next_beat = loop.time() + beat_every

    async def _fail(self, lease: Lease, error: Exception) -> None:
        message = f"{type(error).__name__}: {error}"
        try:
            async with self.store.unit(Actor(lease.tenant_id)) as unit:
                await unit.executions.finish(
                    lease.execution_id,
                    status="error",
                    error={"message": message, "code": ErrorCode.INTERNAL_ERROR, "node": None},
                    lease=lease,
                )
        except Exception:
            log.exception("execution %s: its failure could not be stored", lease.execution_id)
