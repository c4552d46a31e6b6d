"""The scheduler: starts an execution for each tick of every enabled workflow's Schedule Trigger rules.

Every API process may run one; they agree through the database, not with each other. Each pass:

1. every ``poll_seconds`` the enabled workflows are scanned in keyset pages of ids and versions; only a
   workflow new to this process or of a newer version has its nodes read (one query per page) and parsed
   into trigger rules (:mod:`tenantflow.triggers.rules`), and what each rule fired last is read for those
   in one grouped query per page. Workflows gone from the scan (disabled, deleted, invalid) are dropped;
2. each rule whose next candidate tick has come computes its due tick: the newest tick after what it
   last fired (or after the workflow's last change, if it never fired) up to now, so a rule that missed
   ticks while no scheduler ran fires once, not once per missed tick;
3. due ticks are claimed, one transaction per tenant (:meth:`ScheduleRepository.claim`, an insert only one
   process can make), and each tick this process won starts its execution through
   :meth:`ExecutionService.submit` with trigger ``schedule`` and an idempotency key made from the tick;
4. claims left unstarted by a process that died are taken over after ``claim_grace_seconds`` and started
   with the same key; every ``prune_every_seconds`` ticks older than ``keep_ticks_seconds`` are pruned
   (each rule's newest stays).

Between passes the task sleeps until the nearest candidate tick or the next scan, whichever comes first.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import socket
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, TypeVar
from zoneinfo import ZoneInfo

from tenantflow.engine.errors import ErrorCode
from tenantflow.nodes.n8n.triggers import ScheduleTrigger, schedule_item
from tenantflow.services.executions import ExecutionService
from tenantflow.store.audit import Actor
from tenantflow.store.errors import StoreError
from tenantflow.store.identity import Level
from tenantflow.store.schedules import (
    ScheduledWorkflow,
    ScheduleSource,
    TickKey,
    TriggerKey,
    latest_ticks,
    schedule_sources,
    scheduled_workflows,
    stale_claims,
    tenants_with_ticks_before,
)
from tenantflow.store.unit import Store
from tenantflow.triggers.rules import ScheduleError, ScheduleRule, schedule_rules, workflow_zone

log = logging.getLogger("tenantflow.schedules")

T = TypeVar("T")
EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
START_CONCURRENCY: Final = 32  # executions one pass submits at once
PRUNE_TENANT_PAGE: Final = 100
CLAIM_RETRY_SECONDS: Final = 5.0  # a claim that failed (the database) is tried again this soon


@dataclass(frozen=True, slots=True)
class SchedulerSettings:
    """How often the scheduler looks, and how long tick rows are kept."""

    poll_seconds: float = 5.0  # re-scan of the enabled workflows: how soon an enable/disable/edit counts
    page_size: int = 500  # workflows per scan page
    claim_grace_seconds: float = 60.0  # a claim not started by then is taken over by another process
    recover_within_seconds: float = 900.0  # claims older than grace + this are left: a newer tick fired
    keep_ticks_seconds: float = 7 * 86_400.0  # older tick rows are pruned (each rule's newest stays)
    prune_every_seconds: float = 600.0
    owner: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}")


@dataclass(frozen=True, slots=True)
class FiredTick:
    """A tick this scheduler claimed and what became of it: an execution id, or None if refused."""

    key: TickKey
    execution_id: str | None


@dataclass(eq=False, slots=True)
class _Trigger:
    key: TriggerKey
    rule: ScheduleRule
    zone: ZoneInfo
    floor: datetime  # ticks at or before it are settled: fired (here or elsewhere), or before the last edit
    last_fired: datetime | None  # for the recurrence filter
    next_at: datetime  # the next candidate tick; nothing to do before it


@dataclass(frozen=True, slots=True)
class _Known:
    tenant_id: str
    version: int
    triggers: tuple[TriggerKey, ...]


def idempotency_key(key: TickKey) -> str:
    """The execution's idempotency key for a tick: a process that takes over a stale claim submits the
    same one, so the tick's execution is made once even if the first process got that far."""
    trigger = key.trigger
    node = hashlib.sha256(trigger.node_id.encode()).hexdigest()[:16]
    return f"schedule:{trigger.workflow_id}:{node}:{trigger.rule}:{int(key.tick.timestamp())}"


def system_actor(tenant_id: str) -> Actor:
    """Who a scheduled run acts as: no user, inside the workflow's tenant."""
    return Actor(tenant_id, user_id=None, level=Level.USER)


def utc_now() -> datetime:
    return datetime.now(UTC)


class Scheduler:
    """See the module docstring. ``start()`` runs it as a task; ``close()`` stops it."""

    def __init__(
        self,
        store: Store,
        executions: ExecutionService,
        settings: SchedulerSettings | None = None,
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.store = store
        self.executions = executions
        self.settings = settings or SchedulerSettings()
        self._clock = clock
        self._known: dict[str, _Known] = {}  # workflow id -> what was parsed of it
        self._triggers: dict[TriggerKey, _Trigger] = {}
        self._refresh_at = EPOCH
        self._recover_at = EPOCH
        self._prune_at = EPOCH
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="scheduler")

    async def close(self) -> None:
        """Stop between passes or inside one; executions already submitted belong to the service."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def refresh_soon(self) -> None:
        """Re-scan the workflows at once (e.g. after this process enabled or changed one)."""
        self._refresh_at = EPOCH
        self._wake.set()

    @property
    def triggers(self) -> int:
        """How many trigger rules this scheduler watches."""
        return len(self._triggers)

    async def run_once(self, now: datetime | None = None) -> list[FiredTick]:
        """One pass (see the module docstring) at ``now``; the ticks this process claimed in it."""
        now = now or self._clock()
        if now >= self._refresh_at:
            await self._refresh(now)
            self._refresh_at = now + timedelta(seconds=self.settings.poll_seconds)
        fired = await self._fire(self._due(now), now)
        if now >= self._recover_at:
            fired += await self._recover(now)
            self._recover_at = now + timedelta(seconds=min(self.settings.claim_grace_seconds / 2, 30.0))
        if now >= self._prune_at:
            await self._prune(now)
            self._prune_at = now + timedelta(seconds=self.settings.prune_every_seconds)
        return fired

    # ----- the loop -----------------------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.run_once()
                delay = self._sleep_seconds(self._clock())
            except asyncio.CancelledError:
                raise
            except Exception:  # a database hiccup must not end the schedules: a pass later retries
                log.exception("scheduler pass failed")
                delay = self.settings.poll_seconds
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    def _sleep_seconds(self, now: datetime) -> float:
        wake = min([self._refresh_at, *(trigger.next_at for trigger in self._triggers.values())])
        return min(max((wake - now).total_seconds(), 0.0), self.settings.poll_seconds)

    # ----- 1. which workflows have schedules ----------------------------------------------------------
    async def _refresh(self, now: datetime) -> None:
        seen: set[str] = set()
        after: str | None = None
        while True:
            page = await scheduled_workflows(self.store.database, after=after, limit=self.settings.page_size)
            seen.update(item.id for item in page)
            changed = [item for item in page if self._changed(item)]
            if changed:
                await self._load(changed, now)
            if len(page) < self.settings.page_size:
                break
            after = page[-1].id
        for workflow_id in set(self._known) - seen:
            self._forget(workflow_id)

    def _changed(self, item: ScheduledWorkflow) -> bool:
        known = self._known.get(item.id)
        return known is None or known.version != item.version

    async def _load(self, workflows: Sequence[ScheduledWorkflow], now: datetime) -> None:
        sources = {source.id: source for source in await schedule_sources(self.store.database, workflows)}
        parsed: dict[str, list[tuple[TriggerKey, ScheduleRule, ZoneInfo]]] = {}
        for item in workflows:
            self._forget(item.id)
            source = sources.get(item.id)
            rules = self._rules_of(source) if source is not None else []
            parsed[item.id] = rules
            self._known[item.id] = _Known(item.tenant_id, item.version, tuple(key for key, _, _ in rules))
        with_rules = [(item.tenant_id, item.id) for item in workflows if parsed[item.id]]
        fired = await latest_ticks(self.store.database, with_rules)
        for item in workflows:
            for key, rule, zone in parsed[item.id]:
                last = fired.get(key)
                floor = max(last or EPOCH, item.updated_at)
                self._triggers[key] = _Trigger(key, rule, zone, floor, last, now)

    def _rules_of(self, source: ScheduleSource) -> list[tuple[TriggerKey, ScheduleRule, ZoneInfo]]:
        """The workflow's enabled Schedule Trigger rules; none if any is one n8n would not activate."""
        found = []
        try:
            zone = workflow_zone(source.settings)
            for node in source.nodes:
                if not self._is_schedule(node):
                    continue
                node_id = str(node.get("id") or node.get("name"))
                rules = schedule_rules(
                    node.get("parameters") or {},
                    workflow_id=source.id,
                    node_id=node_id,
                    type_version=float(node.get("typeVersion") or 1),
                )
                for rule in rules:
                    found.append((TriggerKey(source.tenant_id, source.id, node_id, rule.index), rule, zone))
        except ScheduleError as error:
            log.warning("workflow %s (tenant %s) is not scheduled: %s", source.id, source.tenant_id, error)
            return []
        return found

    def _is_schedule(self, node: Any) -> bool:
        if not isinstance(node, dict) or node.get("disabled") is True:
            return False
        found = self.store.registry.get(str(node.get("type")))
        return found is not None and found.type == ScheduleTrigger.type

    def _forget(self, workflow_id: str) -> None:
        known = self._known.pop(workflow_id, None)
        for key in known.triggers if known is not None else ():
            self._triggers.pop(key, None)

    # ----- 2. which ticks are due ---------------------------------------------------------------------
    def _due(self, now: datetime) -> list[tuple[_Trigger, datetime]]:
        due = []
        for trigger in self._triggers.values():
            if trigger.next_at > now:
                continue
            tick = trigger.rule.due(trigger.zone, now=now, floor=trigger.floor, last_fired=trigger.last_fired)
            trigger.next_at = trigger.rule.after(now, trigger.zone)
            if tick is not None:
                due.append((trigger, tick))
        return due

    # ----- 3. claim and start -------------------------------------------------------------------------
    async def _fire(self, due: list[tuple[_Trigger, datetime]], now: datetime) -> list[FiredTick]:
        won: list[TickKey] = []
        for tenant_id, ticks in _by_tenant(due, lambda item: item[0].key.tenant_id).items():
            try:
                async with self.store.unit(system_actor(tenant_id)) as unit:
                    for trigger, tick in ticks:
                        if await unit.schedules.claim(TickKey(trigger.key, tick), self.settings.owner, now):
                            won.append(TickKey(trigger.key, tick))
            except Exception:  # the floors stay, and these rules look again soon, not at their next tick
                log.exception("claiming schedule ticks of tenant %s failed", tenant_id)
                retry_at = now + timedelta(seconds=min(self.settings.poll_seconds, CLAIM_RETRY_SECONDS))
                for trigger, _ in ticks:
                    trigger.next_at = min(trigger.next_at, retry_at)
                continue
            for trigger, tick in ticks:  # fired here or by another process: settled either way
                trigger.floor = max(trigger.floor, tick)
                trigger.last_fired = max(trigger.last_fired or tick, tick)
        return await self._start(won)

    async def _start(self, keys: Sequence[TickKey]) -> list[FiredTick]:
        """Submit each claimed tick's execution, then record the outcomes, one transaction per tenant."""
        if not keys:
            return []
        turns = asyncio.Semaphore(START_CONCURRENCY)

        async def submit(key: TickKey) -> FiredTick | None:
            async with turns:
                return await self._submit(key)

        outcomes = [outcome for outcome in await asyncio.gather(*map(submit, keys)) if outcome is not None]
        for tenant_id, settled in _by_tenant(outcomes, lambda outcome: outcome.key.trigger.tenant_id).items():
            try:
                async with self.store.unit(system_actor(tenant_id)) as unit:
                    for outcome in settled:
                        if outcome.execution_id is None:
                            await unit.schedules.refused(outcome.key)
                        else:
                            await unit.schedules.started(outcome.key, outcome.execution_id)
            except Exception:  # left "claimed": a takeover resubmits with the same key and finds the run
                log.exception("recording started schedule ticks of tenant %s failed", tenant_id)
        return outcomes

    async def _submit(self, key: TickKey) -> FiredTick | None:
        """The execution of a claimed tick; refused (None id) if the workflow cannot run, nothing (stays
        claimed, for a takeover) if this process could not tell."""
        trigger = key.trigger
        known = self._triggers.get(trigger)
        zone = known.zone.key if known is not None else "UTC"  # a recovered claim of a trigger since gone
        try:
            summary = await self.executions.submit(
                system_actor(trigger.tenant_id),
                trigger.workflow_id,
                trigger_data=schedule_item(key.tick.timestamp() * 1000, zone),  # the tick, not the start
                trigger_kind="schedule",
                trigger_metadata={
                    "tick": key.tick.isoformat(),
                    "node": trigger.node_id,
                    "rule": trigger.rule,
                },
                start_node=trigger.node_id,
                idempotency_key=idempotency_key(key),
            )
        except StoreError as error:
            if error.code == ErrorCode.SERVICE_UNAVAILABLE:
                return None  # shutting down: another process takes the claim over
            log.warning("schedule tick %s of workflow %s refused: %s", key.tick, trigger.workflow_id, error)
            return FiredTick(key, None)
        except Exception:
            log.exception("starting schedule tick %s of workflow %s failed", key.tick, trigger.workflow_id)
            return None
        return FiredTick(key, summary.id)

    # ----- 4. stale claims and old ticks --------------------------------------------------------------
    async def _recover(self, now: datetime) -> list[FiredTick]:
        grace = timedelta(seconds=self.settings.claim_grace_seconds)
        stale_before = now - grace
        stale = await stale_claims(
            self.store.database,
            claimed_before=stale_before,
            claimed_after=stale_before - timedelta(seconds=self.settings.recover_within_seconds),
        )
        taken: list[TickKey] = []
        for tenant_id, keys in _by_tenant(stale, lambda key: key.trigger.tenant_id).items():
            async with self.store.unit(system_actor(tenant_id)) as unit:
                for key in keys:
                    if await unit.schedules.take_over(
                        key, self.settings.owner, stale_before=stale_before, now=now
                    ):
                        taken.append(key)
        if taken:
            log.warning("taking over %d schedule tick(s) a scheduler claimed and did not start", len(taken))
        return await self._start(taken)

    async def _prune(self, now: datetime) -> None:
        before = now - timedelta(seconds=self.settings.keep_ticks_seconds)
        after: str | None = None
        while True:
            tenants = await tenants_with_ticks_before(
                self.store.database, before, after=after, limit=PRUNE_TENANT_PAGE
            )
            for tenant_id in tenants:
                async with self.store.unit(system_actor(tenant_id)) as unit:
                    await unit.schedules.prune(before)  # at most a batch per pass; the rest next time
            if len(tenants) < PRUNE_TENANT_PAGE:
                return
            after = tenants[-1]


def _by_tenant(items: Iterable[T], tenant_of: Callable[[T], str]) -> dict[str, list[T]]:
    """Items grouped by tenant, in first-seen order: one unit of work per tenant."""
    grouped: dict[str, list[T]] = defaultdict(list)
    for item in items:
        grouped[tenant_of(item)].append(item)
    return grouped
