"""``tenantflow worker``: claim executions the broker hands over, run them, keep their leases, reap.

A message only says that work waits. It wakes the worker's claimer, which fills every free slot in a round
of claims: the slots are shared among the tenants whose turn it is (those that run the fewest first:
:mod:`tenantflow.store.turns`), and each tenant's oldest admitted executions are claimed together (one
statement in the usual case, in its own short unit, so PostgreSQL's locks end with it). Messages that
arrive during a round wait for the next one and are acknowledged once it has committed its claims; the
message of an execution the worker claimed moments ago (a round takes several) is acknowledged at once. Each
claimed execution runs with the service's one implementation (:meth:`ExecutionService.run_claimed`); its
end starts another round while executions wait. Meanwhile a keeper task renews each lease every third of
``lease_seconds``, and one watcher for the whole worker asks every ``abort_poll_seconds`` which of its
runs someone asked to stop (a query per tenant among them, not per run). A lost lease (the heartbeat or a
checkpoint says so) stops the run without another write. On a graceful stop the worker gives its
executions back (``queued``, checkpoints kept) with a message each, so another worker resumes them at
once, instead of after their leases expire.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from tenantflow.engine.errors import ErrorCode
from tenantflow.engine.record import utc_now
from tenantflow.services.executions import ExecutionService, Run
from tenantflow.store.audit import Actor
from tenantflow.store.executions import Lease
from tenantflow.store.reaper import expire_leases, running_owners
from tenantflow.store.turns import shares, tenants_in_turn
from tenantflow.store.unit import AfterCommit, Store

log = logging.getLogger("tenantflow.queue")

Ack = Callable[[], Awaitable[None]]
ABORTED_BY_USER = "aborted by user"
TENANTS_TRIED: Final = 8  # tenants a round of claims shares its free slots among, fewest running first
CLAIMS_REMEMBERED: Final = 10_000  # recent claims whose late messages are acknowledged without a round


def worker_owner() -> str:
    """A lease owner no other process shares, even after a restart with the same pid."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


async def reconcile(store: Store, host: str | None = None) -> int:
    """At a worker's start: end now the leases that workers of this host which no longer run still hold
    (a worker killed and started again, most often), instead of when they run out, so the reaper hands
    their executions on at its next round; how many. A process that still exists keeps its leases, also
    when its pid was reused: a lease lost by mistake would cost a node run twice."""
    host = host or socket.gethostname()
    ended = 0
    for owner in await running_owners(store.database, host):
        pid = owner[len(host) + 1 :].partition(":")[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _process_exists(int(pid)):
            ended += await expire_leases(store.database, owner, utc_now())
    return ended


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    lease_seconds: float = 30.0
    tenant_limit: int | None = None  # executions one tenant runs at once, across all workers
    abort_poll_seconds: float = 0.25  # how soon an abort requested through the API reaches a run
    concurrency: int = 16  # executions this worker runs at once


class Worker:
    """Runs claimed executions through ``service``; see the module docstring. :meth:`start` it inside the
    event loop before messages arrive; :meth:`close` gives its executions back."""

    def __init__(self, store: Store, service: ExecutionService, settings: WorkerSettings | None = None):
        self.store = store
        self.service = service
        self.settings = settings or WorkerSettings()
        self.owner = worker_owner()
        self._runs: dict[str, Run] = {}  # execution id -> run
        self._tasks: set[asyncio.Task[None]] = set()  # each claimed execution's, from its claim to its end
        self._wake = asyncio.Event()
        self._round: asyncio.Future[None] | None = None  # resolves when the next round of claims is over
        self._backlog = True  # the last round saw queued executions: a run's end starts another round
        self._claimer: asyncio.Task[None] | None = None
        self._closing = False
        # Execution id -> when this worker claimed it (monotonic), oldest first: a round of claims takes
        # several rows, and the messages of those rows, arriving after it, need no round of their own.
        self._claimed: dict[str, float] = {}

    @property
    def running(self) -> int:
        """How many executions this worker holds now (claimed, starting or running)."""
        return len(self._tasks)

    def start(self) -> None:
        self._claimer = asyncio.create_task(self._claim_rounds(), name="claims")

    async def handle(self, tenant_id: str, execution_id: str, ack: Ack, *, covers: int = 1) -> None:
        """One message: a sign that work waits. The next round of claims takes what is in turn (not
        necessarily the message's execution: see :mod:`tenantflow.store.turns`), and the message is
        acknowledged once that round's claims are committed: a worker killed before leaves it to RabbitMQ
        to deliver again. Messages that arrive together share a round. A message of one execution
        (``covers``) that this worker claimed moments ago needs no round: it is acknowledged at once."""
        if self._closing:
            return  # not acknowledged: RabbitMQ hands it to another worker
        if covers == 1 and self._claimed_lately(execution_id):
            await ack()
            return
        if self._round is None:
            self._round = asyncio.get_running_loop().create_future()
        self._backlog = True  # work waits: when every slot is taken, the next run's end claims it
        self._wake.set()
        await asyncio.shield(self._round)
        if not self._closing:
            await ack()

    async def _claim_rounds(self) -> None:
        """Claim as many executions as there are free slots, in turn, whenever a message arrives or (while
        executions wait) a run ends, so a slot that frees up is filled in fair order at once."""
        while not self._closing:
            await self._wake.wait()
            self._wake.clear()
            done, self._round = self._round, None
            free = self.settings.concurrency - len(self._tasks)
            invalidations: list[AfterCommit] = []
            try:
                for lease in (
                    await self._claim_in_turn(free, invalidations) if free > 0 and not self._closing else []
                ):
                    self._launch(lease)
            finally:
                if done is not None and not done.done():
                    done.set_result(None)
            await _invalidate(invalidations)  # while the runs start: none of them waits for it
        if self._round is not None:
            self._round.set_result(None)

    async def _claim_in_turn(self, free: int, invalidations: list[AfterCommit]) -> list[Lease]:
        """Up to ``free`` admitted executions: the slots shared among the tenants in turn, fewest running
        first (:func:`~tenantflow.store.turns.shares`), each tenant's oldest first. The claims' cache
        invalidations (the tenants' stats count running executions) are added to ``invalidations`` for the
        caller to run once the runs are launched: a Redis round trip less before each run starts."""
        leases: list[Lease] = []
        try:
            turns = await tenants_in_turn(
                self.store.database, tenant_limit=self.settings.tenant_limit, limit=TENANTS_TRIED
            )
            self._backlog = bool(turns)
            for tenant_id, slots in shares(turns, free, self.settings.tenant_limit):
                async with self.store.unit(Actor(tenant_id)) as unit:
                    invalidate = unit.defer_after_commit()
                    claimed = await unit.executions.claim_many(
                        owner=self.owner,
                        lease_seconds=self.settings.lease_seconds,
                        limit=slots,
                        tenant_limit=self.settings.tenant_limit,
                    )
                leases += claimed  # committed: its runs may start
                invalidations.append(invalidate)
        except Exception:  # the rows stay queued; a reaper sends them again
            log.exception("no execution could be claimed")
        return leases

    def _claimed_lately(self, execution_id: str) -> bool:
        """Whether this worker claimed the execution within a third of ``lease_seconds``: so recently that
        its lease cannot have run out, and no reaper can have queued it again (only this worker, closing,
        gives it back, and a closing worker takes no messages)."""
        window = self.settings.lease_seconds / 3
        now = time.monotonic()
        while self._claimed:
            oldest, at = next(iter(self._claimed.items()))
            if now - at < window and len(self._claimed) <= CLAIMS_REMEMBERED:
                break
            del self._claimed[oldest]
        return execution_id in self._claimed

    def _launch(self, lease: Lease) -> None:
        self._claimed[lease.execution_id] = time.monotonic()
        task = asyncio.create_task(self._run(lease), name=f"run-{lease.execution_id}")
        self._tasks.add(task)
        task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if self._backlog and not self._closing:
            self._wake.set()

    async def _run(self, lease: Lease) -> None:
        if self._closing:  # claimed while the worker began to stop: back to the queue at once
            async with self.store.unit(Actor(lease.tenant_id)) as unit:
                released = await unit.executions.release(lease)
            if released:
                await self._send_on(lease)
            return
        try:
            run = await self.service.run_claimed(lease)
        except Exception as error:  # its workflow version is gone, for one: the execution's error
            log.exception("execution %s could not start", lease.execution_id)
            await self._fail(lease, error)
            return
        self._runs[lease.execution_id] = run
        keeper = asyncio.create_task(self._keep(run), name=f"lease-{lease.execution_id}")
        try:
            if self._closing:  # it started while the worker began to stop
                await self._give_back(run)
            await asyncio.wait([run.done])
        finally:
            keeper.cancel()
            if self._runs.get(lease.execution_id) is run:  # not a later claim of the same execution
                del self._runs[lease.execution_id]

    async def close(self) -> None:
        """Claim nothing more, and give every execution this worker holds back to the queue, its finished
        nodes kept, with a message so that another worker resumes it at once."""
        self._closing = True
        self._wake.set()
        if self._claimer is not None:
            await self._claimer
        for run in list(self._runs.values()):
            await self._give_back(run)
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _give_back(self, run: Run) -> None:
        if run.silenced:  # given back already, or its lease is lost
            return
        if await self.service.give_back(run) and run.lease is not None:
            await self._send_on(run.lease)

    async def _send_on(self, lease: Lease) -> None:
        """Tell the queue that ``lease``'s execution waits again; if that fails, the reaper sends it later."""
        if self.service.dispatch is None:
            return
        try:
            await self.service.dispatch(lease.tenant_id, lease.execution_id)
        except Exception:
            log.exception("execution %s waits for the reaper: the broker refused it", lease.execution_id)

    async def hear_aborts(self) -> None:
        """Abort at once the runs another process asks to stop through the bus (Redis pub/sub); the poll of
        :meth:`watch_aborts` catches what this misses (no shared bus, a dropped connection)."""
        while True:
            try:
                async for tenant_id, execution_id in self.service.bus.stop_requests():
                    run = self._runs.get(execution_id)
                    if run is not None and run.lease is not None and run.lease.tenant_id == tenant_id:
                        run.abort(ABORTED_BY_USER)
            except Exception:  # Redis went away: listen again in a moment, the poll covers meanwhile
                log.exception("stop requests could not be heard")
                await asyncio.sleep(1)

    async def watch_aborts(self) -> None:
        """Every ``abort_poll_seconds``, ask the store which of this worker's runs someone asked to stop
        (one query per tenant among them, whatever the concurrency), and abort those. Runs until cancelled."""
        while True:
            await asyncio.sleep(self.settings.abort_poll_seconds)
            by_tenant: dict[str, list[str]] = {}
            for run in self._runs.values():
                if run.abort_reason is None and run.lease is not None:
                    by_tenant.setdefault(run.lease.tenant_id, []).append(run.lease.execution_id)
            for tenant_id, execution_ids in by_tenant.items():
                try:
                    async with self.store.unit(Actor(tenant_id), read_only=True) as unit:
                        stopping = await unit.executions.aborts_requested(execution_ids)
                except Exception:  # the database is away: the next poll asks again
                    log.exception("the abort flags of tenant %s could not be read", tenant_id)
                    continue
                for execution_id in stopping:
                    if (stopped := self._runs.get(execution_id)) is not None:
                        stopped.abort(ABORTED_BY_USER)

    async def _keep(self, run: Run) -> None:
        """Renew the lease every third of ``lease_seconds`` until the run ends; on a lost lease, stop it."""
        beat_every = self.settings.lease_seconds / 3
        while not run.done.done():
            await asyncio.sleep(beat_every)
            lease = run.lease
            assert lease is not None
            try:
                async with self.store.unit(Actor(lease.tenant_id)) as unit:
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


async def _invalidate(invalidations: list[AfterCommit]) -> None:
    """Run claims' cache invalidations; one that fails (Redis away) is logged, and the claim stands: the
    stats it leaves stale renew at the run's end, or within the warm tier's TTL."""
    for invalidate in invalidations:
        try:
            await invalidate()
        except Exception:
            log.exception("the cache invalidation of a claim failed")
