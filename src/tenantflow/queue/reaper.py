"""Send forgotten executions again: ``queued`` rows nobody took and ``running`` rows whose lease expired.

Every worker runs one. De-duplication needs no extra column: a reaper sends an execution only if it wins
one conditional UPDATE on the row, in the row's own tenant, that stamps ``lease_expires_at`` on the queued
row as "sent again until" (``requeue_after_seconds`` on). Until then no reaper sends it again, however
many run; the worker that claims it clears the stamp. An expired ``running`` row is turned back into such
a queued row with ``attempt`` + 1 by the same UPDATE (its dead worker stays fenced: a claim needs the new
attempt), so both cases follow one rule.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy import and_, case, or_, update

from tenantflow.engine.record import utc_now
from tenantflow.store.audit import Actor
from tenantflow.store.models import Execution
from tenantflow.store.reaper import Stale, stale_executions
from tenantflow.store.unit import Store

log = logging.getLogger("tenantflow.queue")

Send = Callable[[str, str], Awaitable[None]]


async def requeue(store: Store, stale: Stale, *, hold_seconds: float, now: datetime | None = None) -> bool:
    """Win the right to send ``stale`` again (True), or learn that another reaper or a worker has it."""
    moment = now or utc_now()
    until = moment + timedelta(seconds=hold_seconds)
    queued_free = and_(
        Execution.status == "queued",
        or_(Execution.lease_expires_at.is_(None), Execution.lease_expires_at < moment),
    )
    lapsed = and_(
        Execution.status == "running",
        Execution.lease_expires_at < moment,
        Execution.attempt == stale.attempt,
    )
    async with store.unit(Actor(stale.tenant_id)) as unit:
        result = await unit.session.execute(
            update(Execution)
            .where(Execution.id == stale.execution_id, or_(queued_free, lapsed))
            .values(
                status="queued",
                attempt=case((Execution.status == "running", Execution.attempt + 1), else_=Execution.attempt),
                lease_owner=None,
                lease_expires_at=until,
            )
            .returning(Execution.workflow_id, Execution.attempt)
            .execution_options(synchronize_session=False)
        )
        row = result.one_or_none()
        if row is None:
            return False
        unit.audit.ok("execution.requeue", "execution", stale.execution_id, {"attempt": row.attempt})
        unit.executions_changed(row.workflow_id)
    return True


async def reap_forever(
    store: Store,
    send: Send,
    *,
    requeue_after_seconds: float,
    every_seconds: float,
    idle_slots: Callable[[], int],
    limit: int = 500,
) -> None:
    """The reaper loop: each round, send what is stale (in its own tenant) once per ``requeue_after``.
    Forgotten queued executions only as many as this worker has ``idle_slots``: a busy worker claims the
    next execution in turn when a slot frees up anyway, and a backlog need not be sent again and again."""
    while True:
        await asyncio.sleep(every_seconds)
        try:
            await reap_once(
                store,
                send,
                requeue_after_seconds=requeue_after_seconds,
                limit=limit,
                queued_limit=max(idle_slots(), 0),
            )
        except Exception:  # the database or broker hiccuped: the next round tries again
            log.exception("the reaper's round failed")


async def reap_once(
    store: Store,
    send: Send,
    *,
    requeue_after_seconds: float,
    limit: int = 500,
    queued_limit: int | None = None,
) -> int:
    """One round; returns how many executions it sent again."""
    sent = 0
    found = await stale_executions(
        store.database,
        utc_now(),
        queued_for_seconds=requeue_after_seconds,
        limit=limit,
        queued_limit=queued_limit,
    )
    for stale in found:
        if await requeue(store, stale, hold_seconds=requeue_after_seconds):
            await send(stale.tenant_id, stale.execution_id)
            sent += 1
    return sent
