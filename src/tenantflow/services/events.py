"""Live progress of executions: what ``GET /executions/{id}/events`` streams as server-sent events.

Every event has a per-execution sequence ``id`` (1, 2, …) that a client hands back as ``Last-Event-ID``
to resume. Types and data:

- ``execution.started``: ``{executionId, workflowId, workflowVersion, triggerKind, startTime}``;
- ``node.started``: ``{node, runIndex, inputItems}`` (item count per input);
- ``node.finished``: ``{node, runIndex, status, runs, attempts, startTime, endTime, duration, items,
  error}``: ``items`` counts the items per output; outputs themselves stay out of the stream;
- ``webhook.response``: ``{node, statusCode, sealed}``, once per run of a Respond to Webhook node in an
  execution a webhook started: the HTTP response it recorded, sealed with the secret keyring for the
  webhook route (:mod:`tenantflow.services.webhooks`); live only, never replayed from the store;
- ``execution.finished``: the stored execution (``ExecutionView.to_dict()``: the ExecutionRecord shape
  plus the row's bookkeeping), always last.

Buses are keyed by tenant and execution, so one tenant cannot listen to another's execution by guessing its
id. :class:`InProcessEventBus` serves one API process; ``events_redis.RedisEventBus`` implements the same
:class:`EventBus` for several (``tests/services/test_event_bus.py`` holds both to one contract). An
execution the bus no longer holds is replayed from the store with :func:`replay`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from tenantflow.store.executions import ExecutionView
from tenantflow.store.text import compact

EXECUTION_STARTED: Final = "execution.started"
NODE_STARTED: Final = "node.started"
NODE_FINISHED: Final = "node.finished"
WEBHOOK_RESPONSE: Final = "webhook.response"
EXECUTION_FINISHED: Final = "execution.finished"


@dataclass(frozen=True, slots=True)
class ProgressEvent:
    """One event of one execution; ``id`` orders the execution's events from 1."""

    id: int
    type: str
    data: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "data": self.data}


class EventBus(Protocol):
    """Carries progress events from the process running an execution to its subscribers."""

    shared: bool  # whether subscribers in other processes hear the events (else only this process's)

    async def publish(self, tenant_id: str, execution_id: str, event: ProgressEvent) -> None:
        """Append ``event``; the publisher numbers the events of one execution 1, 2, … in order."""
        ...

    def subscribe(
        self, tenant_id: str, execution_id: str, after: int | None = None
    ) -> AsyncIterator[ProgressEvent]:
        """The events with ``id > after`` held so far, then live ones, ending after ``execution.finished``.

        Ends at once, yielding nothing, when the bus holds nothing for the execution (never published
        here, or aged out): the caller then replays it from the store.
        """
        ...

    async def ending(self, tenant_id: str, execution_id: str, timeout: float) -> ProgressEvent | None:
        """The execution's ``execution.finished`` event, as soon as it is published (at once if it was);
        None when it is not heard of within ``timeout`` seconds or the bus holds nothing of the execution:
        the caller then reads the store."""
        ...

    async def aclose(self) -> None:
        """Deliver what is queued and stop; live subscribers end (they fall back to the store)."""
        ...

    async def request_stop(self, tenant_id: str, execution_id: str) -> None:
        """Tell the process that runs the execution, wherever it is, to stop it now. A hint on top of the
        row's abort flag, which workers also poll: a request nobody hears costs only that poll's delay."""
        ...

    def stop_requests(self) -> AsyncIterator[tuple[str, str]]:
        """The ``(tenant id, execution id)`` of every stop requested from now on, from any process."""
        ...


def node_finished_data(node: str, state: Mapping[str, Any]) -> dict[str, Any]:
    """A ``node.finished`` payload from a node state in the record's shape (``NodeState.to_dict()`` or
    the engine's event data): timings, status and item counts, never the items."""
    runs = int(state.get("runs", 1))
    return {
        "node": node,
        "runIndex": state.get("runIndex", runs - 1),
        "status": state.get("status"),
        "runs": runs,
        "attempts": state.get("attempts", 1),
        "startTime": state.get("startTime"),
        "endTime": state.get("endTime"),
        "duration": state.get("duration"),
        "items": [len(items or ()) for items in state.get("output") or ()],
        "error": state.get("error"),
    }


def replay(view: ExecutionView, after: int | None = None) -> list[ProgressEvent]:
    """A finished execution's events rebuilt from the store: ``node.finished`` per node (its latest run),
    then ``execution.finished``.

    Their ids are counted afresh, so they need not match the live stream's; ``execution.finished`` is
    therefore always included, numbered past ``after``, so a client resuming from a live id still ends.
    """
    nodes = [
        ProgressEvent(index, NODE_FINISHED, node_finished_data(name, state.to_dict()))
        for index, (name, state) in enumerate(view.state.items(), start=1)
    ]
    start = after or 0
    final = ProgressEvent(max(len(nodes), start) + 1, EXECUTION_FINISHED, view.to_dict())
    return [*(event for event in nodes if event.id > start), final]


@dataclass(slots=True)
class _Channel:
    events: list[ProgressEvent] = field(default_factory=list)
    ended: bool = False
    # Once ended, the events as (id, type, JSON text): thousands of ended executions are retained, and
    # as dicts and lists their data made every full garbage collection pause requests for 10-30 ms.
    kept: list[tuple[int, str, str]] = field(default_factory=list)
    size: int = 0  # what the retained-bytes budget counts for this execution once it has ended
    signal: asyncio.Event | None = None  # made when a subscriber waits; set and dropped on publish

    def end(self) -> None:
        self.kept = [(event.id, event.type, compact(event.data, default=str)) for event in self.events]
        self.events = []
        self.ended = True
        self.size = sum(len(text) for _, _, text in self.kept)

    def since(self, cursor: int) -> Sequence[ProgressEvent]:
        """Events after ``cursor``; ids are consecutive, so the first one is found by arithmetic."""
        if self.kept:
            skip = max(0, cursor - self.kept[0][0] + 1)
            return [ProgressEvent(ident, kind, json.loads(text)) for ident, kind, text in self.kept[skip:]]
        if not self.events:
            return ()
        return self.events[max(0, cursor - self.events[0].id + 1) :]


class InProcessEventBus:
    """Events of this process's executions, held in memory while each runs and for a while after.

    Bounds: at most ``max_events`` events per execution (the oldest go first; the final event stays),
    and finished executions are kept for ``retain_seconds``, at most ``max_retained`` of them and
    ``max_retained_bytes`` of their events as JSON text, oldest dropped first. Running executions are
    never dropped.
    """

    shared = False

    def __init__(
        self,
        *,
        max_events: int = 10_000,
        retain_seconds: float = 60.0,
        max_retained: int = 2_000,
        max_retained_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.max_events = max_events
        self.retain_seconds = retain_seconds
        self.max_retained = max_retained
        self.max_retained_bytes = max_retained_bytes
        self._channels: dict[tuple[str, str], _Channel] = {}
        self._ended: OrderedDict[tuple[str, str], float] = OrderedDict()  # key -> monotonic end time
        self._ended_bytes = 0

    async def aclose(self) -> None:
        """Nothing is queued and nothing is held outside this process: the subscribers end with it."""

    async def request_stop(self, tenant_id: str, execution_id: str) -> None:
        """Nothing to tell: the executions this bus serves run in this process, which stops its own."""

    async def stop_requests(self) -> AsyncIterator[tuple[str, str]]:
        """None ever arrives from elsewhere: waits until cancelled."""
        await asyncio.Event().wait()
        yield ("", "")  # never reached: makes this an async generator

    async def publish(self, tenant_id: str, execution_id: str, event: ProgressEvent) -> None:
        key = (tenant_id, execution_id)
        channel = self._channels.get(key)
        if channel is None:
            channel = self._channels[key] = _Channel()
        channel.events.append(event)
        if len(channel.events) > self.max_events:
            del channel.events[0]
        if event.type == EXECUTION_FINISHED:
            channel.end()
            self._ended[key] = time.monotonic()
            self._ended_bytes += channel.size
            self._expire()
        if channel.signal is not None:
            channel.signal.set()
            channel.signal = None

    async def subscribe(
        self, tenant_id: str, execution_id: str, after: int | None = None
    ) -> AsyncIterator[ProgressEvent]:
        self._expire()
        channel = self._channels.get((tenant_id, execution_id))
        if channel is None:
            return
        cursor = after or 0
        while True:
            fresh = channel.since(cursor)
            for event in fresh:
                cursor = event.id
                yield event
            if fresh:
                continue  # more may have come, the final event too, while the caller held one
            if channel.ended:
                return
            if channel.signal is None:
                channel.signal = asyncio.Event()
            await channel.signal.wait()

    async def ending(self, tenant_id: str, execution_id: str, timeout: float) -> ProgressEvent | None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                async for event in self.subscribe(tenant_id, execution_id):
                    if event.type == EXECUTION_FINISHED:
                        return event
        return None

    def _expire(self) -> None:
        """Drop finished executions past their time, or past the count or bytes budget, oldest first."""
        horizon = time.monotonic() - self.retain_seconds
        while self._ended:
            key, ended_at = next(iter(self._ended.items()))
            over = len(self._ended) > self.max_retained or self._ended_bytes > self.max_retained_bytes
            if ended_at > horizon and not over:
                return
            del self._ended[key]
            self._ended_bytes -= self._channels.pop(key).size
