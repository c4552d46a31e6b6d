"""Live progress for every API process and worker: :class:`RedisEventBus`, the ``EventBus`` on Redis.

Each execution's events are one Redis Stream, ``{prefix}{tenant}:{execution}`` (the tenant is part of the
key, so guessing another tenant's execution id reads nothing). An event's id is its entry id (``0-N``), so
resuming after ``Last-Event-ID`` is one ``XRANGE`` and a repeated publish is refused by Redis. Bounds, as
in :class:`~tenantflow.services.events.InProcessEventBus`: ``MAXLEN`` keeps the last ``max_events`` of an
execution; a finished one expires ``retain_seconds`` after ``execution.finished``, and at most
``max_retained`` finished ones, of ``max_retained_bytes`` (Redis's ``MEMORY USAGE``) in all, are kept per
prefix, oldest dropped first. A running execution's stream that hears nothing for ``abandon_seconds``
(its process died) expires too; its subscribers then fall back to the store like any other.

Publishing must not slow an execution: events are queued and sent by one background task, a batch (what
queued within ``linger_seconds``) per script call, so a node's events cost no round trip and little CPU
(each command costs redis-py about 0.1 ms of CPU, more than Redis spends on it). Only an execution's first
event and ``execution.finished`` wait until Redis holds them (and all before them): from then on every
process sees the execution, and its end is durable (nothing is lost when the process stops right after) by
the time the service reports it. Redis trouble never fails a publish: it is logged, and subscribers fall
back to the store.

Live subscribers of one bus share one blocking ``XREAD`` over all the streams they follow (plus a wake
stream of this bus, written when a subscriber joins), so a thousand open SSE streams hold one Redis
connection, not a thousand.

A caller that only needs an execution's end (``execute?wait=true``, a webhook answered by its last node)
does not follow the stream: :meth:`RedisEventBus.ending` registers this bus's inbox (a stream of its own)
as a waiter of the execution, in the same script call that looks for an end already published, and the
publishing script copies ``execution.finished`` into each waiting inbox. One ``XREAD`` of the inbox serves
every waiter of the process; it never changes its keys, so no wake is needed, and it reads ends only, not
every node's events.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from redis.asyncio import Redis
from redis.exceptions import RedisError
from redis.typing import EncodableT

from tenantflow.services.events import EXECUTION_FINISHED, ProgressEvent
from tenantflow.store.text import compact

log = logging.getLogger("tenantflow.events")

PREFIX: Final = "tenantflow:events:"
PAGE: Final = 1_000  # entries per XRANGE while catching up
BATCH: Final = 1_000  # events per publishing call (a script call holds Redis while it runs)
_FAILURES: Final = (RedisError, OSError)

Registered = ProgressEvent | Literal["waiting", "failed"]  # a registration's outcome: the end if published

# One call per batch: append each event (entry id 0-N; MAXLEN), then per stream either push back its
# abandon expiry or, once finished, expire it after retain ms and index it in the order executions finish;
# then drop indexed streams, oldest first, while the oldest has expired or a budget is exceeded.
# KEYS: index (stream -> order), sizes (stream -> bytes; "~total", "~order"), then the batch's streams.
# ARGV: max events, abandon ms, retain ms, max retained, max retained bytes, the final event's type; then
# the events as "position id type-bytes data-bytes" each (position: its stream's in KEYS), and their types
# and data (JSON) back to back: 8 arguments whatever the batch holds, since redis-py spends microseconds
# on each argument it packs. Returns how many events Redis refused.
_PUBLISH: Final = """
local index, sizes = KEYS[1], KEYS[2]
local max_events, abandon, retain = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local max_count, max_bytes, final = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
local refused, written, finished, body, at = 0, {}, {}, ARGV[8], 1
local inbox_events = ARGV[9]
for position, id, kind_size, data_size in string.gmatch(ARGV[7], '(%d+) (%d+) (%d+) (%d+)') do
  local stream, data_at = KEYS[tonumber(position)], at + tonumber(kind_size)
  local kind = string.sub(body, at, data_at - 1)
  at = data_at + tonumber(data_size)
  local added = redis.pcall('XADD', stream, 'MAXLEN', max_events, '0-' .. id,
    't', kind, 'd', string.sub(body, data_at, at - 1))
  if type(added) == 'table' and added.err then
    refused = refused + 1
  else
    written[stream] = true
    finished[stream] = finished[stream] or kind == final
    if kind == final then
      local waiting = stream .. '~waiting'
      for _, inbox in ipairs(redis.call('SMEMBERS', waiting)) do
        redis.call('XADD', inbox, 'MAXLEN', '~', inbox_events, '*', 'k', stream, 'd',
          string.sub(body, data_at, at - 1))
        if redis.call('PTTL', inbox) == -1 then  -- made by this XADD: it lasts as the registration does
          redis.call('PEXPIRE', inbox, math.max(redis.call('PTTL', waiting), 1))
        end
      end
      redis.call('DEL', waiting)
    end
  end
end
local total = tonumber(redis.call('HGET', sizes, '~total') or '0')
local function forget(key)
  total = total - tonumber(redis.call('HGET', sizes, key) or '0')
  redis.call('HDEL', sizes, key)
  redis.call('ZREM', index, key)
end
local ended = false
for k = 3, #KEYS do
  local stream = KEYS[k]
  if not written[stream] then
    -- nothing new (ids published before): its expiry stays as it was
  elseif not finished[stream] then
    redis.call('PEXPIRE', stream, abandon)
  elseif retain <= 0 then
    redis.call('DEL', stream)
  else
    local size = redis.call('MEMORY', 'USAGE', stream) or 0
    forget(stream)
    redis.call('PEXPIRE', stream, retain)
    redis.call('ZADD', index, redis.call('HINCRBY', sizes, '~order', 1), stream)
    redis.call('HSET', sizes, stream, size)
    total = total + size
    ended = true
  end
end
if not ended then
  return refused
end
while true do
  local oldest = redis.call('ZRANGE', index, 0, 0)[1]
  if not oldest then
    total = 0
    break
  end
  local over = redis.call('ZCARD', index) > max_count or total > max_bytes
  if not over and redis.call('EXISTS', oldest) == 1 then
    break
  end
  forget(oldest)
  redis.call('DEL', oldest)
end
redis.call('HSET', sizes, '~total', total)
return refused
"""

# Waiters register here (one call for all that wait at once). KEYS: the execution streams. ARGV: this
# bus's inbox, how long a registration lasts (ms), the final event's type. For each stream: its final
# event's data when it has one already, else false, with the inbox added to ``{stream}~waiting``, which
# _PUBLISH reads at the end. Both run inside Redis: no end falls between the look and the registration.
_EXPECT: Final = """
local inbox, lasting, final = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local found = {}
for k = 1, #KEYS do
  local last = redis.call('XREVRANGE', KEYS[k], '+', '-', 'COUNT', 1)[1]
  local kind, data = nil, nil
  if last then
    local fields = last[2]
    for f = 1, #fields, 2 do
      if fields[f] == 't' then kind = fields[f + 1] elseif fields[f] == 'd' then data = fields[f + 1] end
    end
  end
  if kind == final then
    found[k] = data
  else
    found[k] = false
    local waiting = KEYS[k] .. '~waiting'
    redis.call('SADD', waiting, inbox)
    redis.call('PEXPIRE', waiting, lasting)
  end
end
redis.call('PEXPIRE', inbox, lasting)
return found
"""


@dataclass(eq=False, slots=True)
class _Follower:
    """A live subscriber: the reader hands it the events after ``cursor``; ``None``: the stream is gone."""

    key: str
    cursor: int
    queue: asyncio.Queue[ProgressEvent | None] = field(default_factory=asyncio.Queue)


class RedisEventBus:
    """Progress events in Redis Streams, for subscribers in any process; see the module docstring."""

    shared = True

    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str = PREFIX,
        max_events: int = 10_000,
        retain_seconds: float = 60.0,
        max_retained: int = 2_000,
        max_retained_bytes: int = 64 * 1024 * 1024,
        abandon_seconds: float = 24 * 3600.0,
        block_seconds: float = 5.0,
        linger_seconds: float = 0.005,
        publish_timeout: float = 1.0,
        max_pending: int = 10_000,
        max_reads: int = 16,
        inbox_events: int = 10_000,
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.max_events = max_events
        self.retain_seconds = retain_seconds
        self.max_retained = max_retained
        self.max_retained_bytes = max_retained_bytes
        self.abandon_seconds = abandon_seconds
        self.block_seconds = block_seconds  # how soon a follower learns that its stream vanished
        self.linger_seconds = linger_seconds  # how long a node's event may wait for others to share a call
        self.publish_timeout = publish_timeout  # the longest an awaited publish waits for Redis
        self.max_pending = max_pending  # queued events beyond which publishing waits for Redis
        self._index_keys = (f"{prefix}~finished", f"{prefix}~sizes")
        self.inbox_events = inbox_events  # ends an inbox holds for its reader (MAXLEN ~)
        self._publish = redis.register_script(_PUBLISH)
        self._expect = redis.register_script(_EXPECT)
        self._hurry = asyncio.Event()  # set when a publish waits: send without lingering
        self._pending: list[tuple[str, ProgressEvent]] = []
        self._pending_sent: asyncio.Future[None] | None = None  # resolved once the pending batch is sent
        self._last_sent: asyncio.Future[None] | None = None  # the latest batch's, pending or in flight
        self._sender: asyncio.Task[None] | None = None
        self._followers: dict[str, set[_Follower]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._wake_key = f"{prefix}~wake:{uuid.uuid4().hex}"
        self._stop_channel = f"{prefix}~stop"
        self._wake_cursor = "0-0"
        self._woken = False  # a wake is on its way to a reader that has not read the followers since
        self._reads = asyncio.Semaphore(max_reads)  # a burst of subscribers must not exhaust the pool
        self._inbox = f"{prefix}~inbox:{uuid.uuid4().hex}"
        self._inbox_cursor = "0-0"
        self._awaited: dict[str, set[asyncio.Future[ProgressEvent | None]]] = {}  # stream -> waiters' futures
        self._inbox_reader: asyncio.Task[None] | None = None
        self._expected: dict[str, tuple[asyncio.Future[Registered], float]] = {}  # not sent yet: timeouts
        self._registrar: asyncio.Task[None] | None = None

    def key(self, tenant_id: str, execution_id: str) -> str:
        return f"{self.prefix}{tenant_id}:{execution_id}"

    # ----- publishing ---------------------------------------------------------------------------------
    async def publish(self, tenant_id: str, execution_id: str, event: ProgressEvent) -> None:
        self._pending.append((self.key(tenant_id, execution_id), event))
        if self._pending_sent is None:
            self._pending_sent = self._last_sent = asyncio.get_running_loop().create_future()
        sent = self._pending_sent
        if self._sender is None:
            self._sender = asyncio.create_task(self._send_pending(), name="event-bus-publish")
        if event.id == 1 or event.type == EXECUTION_FINISHED or len(self._pending) >= self.max_pending:
            self._hurry.set()
            await self._settled(sent)

    async def flush(self) -> None:
        """Wait until Redis holds every event published here so far (or the publish timeout passes)."""
        if self._last_sent is not None and not self._last_sent.done():
            self._hurry.set()
            await self._settled(self._last_sent)

    async def _settled(self, sent: asyncio.Future[None]) -> None:
        try:
            await asyncio.wait_for(asyncio.shield(sent), self.publish_timeout)
        except TimeoutError:
            log.warning("progress events still unsent after %.1f s", self.publish_timeout)

    async def _send_pending(self) -> None:
        """Send the queued events in batches; each waits up to ``linger_seconds`` for more to join it."""
        try:
            while self._pending:
                if not self._hurry.is_set():
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self.linger_seconds):
                            await self._hurry.wait()
                self._hurry.clear()
                batch, sent = self._pending, self._pending_sent
                self._pending, self._pending_sent = [], None
                try:
                    for start in range(0, len(batch), BATCH):
                        await self._send(batch[start : start + BATCH])
                except _FAILURES as error:
                    log.warning("%d progress events were not published: %s", len(batch), error)
                finally:
                    if sent is not None:
                        sent.set_result(None)
        finally:
            self._sender = None
            self._hurry.clear()

    async def _send(self, batch: Sequence[tuple[str, ProgressEvent]]) -> None:
        streams: dict[str, int] = {}
        args: list[EncodableT] = [
            self.max_events,
            round(self.abandon_seconds * 1000),
            round(self.retain_seconds * 1000),
            self.max_retained,
            self.max_retained_bytes,
            EXECUTION_FINISHED,
        ]
        heads: list[str] = []
        body: list[bytes] = []
        for key, event in batch:
            position = streams.setdefault(key, len(streams) + 3)  # KEYS from 1, after the index keys
            kind = event.type.encode()
            data = compact(event.data, default=str).encode()
            heads.append(f"{position} {event.id} {len(kind)} {len(data)}")
            body += (kind, data)
        args += (" ".join(heads), b"".join(body), self.inbox_events)
        refused = await self._publish(keys=[*self._index_keys, *streams], args=args)
        if refused:  # an id published twice: Redis keeps the first
            log.warning("Redis refused %s of %d progress events (ids published before)", refused, len(batch))

    # ----- subscribing --------------------------------------------------------------------------------
    async def subscribe(
        self, tenant_id: str, execution_id: str, after: int | None = None
    ) -> AsyncIterator[ProgressEvent]:
        key = self.key(tenant_id, execution_id)
        cursor = after or 0
        await self.flush()  # this process's own events first
        try:
            while True:
                async with self._reads, self.redis.pipeline(transaction=False) as pipe:
                    pipe.xrange(key, min=f"0-{cursor + 1}", count=PAGE)
                    pipe.xrevrange(key, count=1)
                    entries, last = await pipe.execute()
                if not last:
                    return  # nothing held: the caller replays from the store
                for event in _events(entries):
                    cursor = event.id
                    yield event
                    if event.type == EXECUTION_FINISHED:
                        return
                if len(entries) < PAGE:
                    break
            if next(iter(_events(last))).type == EXECUTION_FINISHED:
                return  # ended, and ``after`` was at or past its end
        except _FAILURES as error:
            log.warning("progress of %s unreadable: %s", key, error)
            return
        async for event in self._live(key, cursor):
            yield event

    async def _live(self, key: str, cursor: int) -> AsyncIterator[ProgressEvent]:
        follower = _Follower(key, cursor)
        self._followers.setdefault(key, set()).add(follower)
        try:
            if self._reader is None:
                self._reader = asyncio.create_task(self._read(), name="event-bus-follow")
            elif not self._woken:  # else the wake on its way makes the reader see this follower too
                self._woken = True
                await self._wake()
            while (event := await follower.queue.get()) is not None:
                yield event
                if event.type == EXECUTION_FINISHED:
                    return
        finally:
            self._unfollow(follower)

    async def _wake(self) -> None:
        """Make the reader's blocking XREAD return, so that its next one includes the new stream."""
        try:
            async with self._reads, self.redis.pipeline(transaction=False) as pipe:
                pipe.xadd(self._wake_key, {"w": "1"}, maxlen=1)
                pipe.pexpire(self._wake_key, round(max(60.0, 2 * self.block_seconds) * 1000))
                await pipe.execute()
        except _FAILURES as error:  # the reader still sees the stream within block_seconds
            self._woken = False  # the next follower tries again
            log.warning("could not wake the progress reader: %s", error)

    def _unfollow(self, follower: _Follower) -> None:
        followers = self._followers.get(follower.key)
        if followers is not None:
            followers.discard(follower)
            if not followers:
                del self._followers[follower.key]

    async def _read(self) -> None:
        """One XREAD for every followed stream, while anyone follows; events go to each follower once.
        Every ``block_seconds`` the followed streams are checked for existence (one may expire unfinished)."""
        loop = asyncio.get_running_loop()
        check_at = loop.time() + self.block_seconds
        try:
            while self._followers:
                self._woken = False  # the streams read next include every follower so far
                streams: dict[Any, Any] = {self._wake_key: self._wake_cursor}
                for key, followers in self._followers.items():
                    streams[key] = f"0-{min(follower.cursor for follower in followers)}"
                reply: Any = await self.redis.xread(streams, block=max(1, round(self.block_seconds * 1000)))
                for stream, entries in reply.items() if isinstance(reply, dict) else reply or ():
                    key = _text(stream)
                    if key == self._wake_key:
                        self._wake_cursor = _text(entries[-1][0])
                    else:
                        self._deliver(key, _events(entries))
                if loop.time() >= check_at:
                    await self._drop_vanished()
                    check_at = loop.time() + self.block_seconds
        except _FAILURES as error:
            log.warning("progress reader stopped, followers fall back to the store: %s", error)
            self._end_all()
        except asyncio.CancelledError:
            self._end_all()
            raise
        finally:
            self._reader = None

    def _deliver(self, key: str, events: Iterable[ProgressEvent]) -> None:
        followers = self._followers.get(key, set())
        for event in events:
            for follower in list(followers):
                if event.id > follower.cursor:
                    follower.cursor = event.id
                    follower.queue.put_nowait(event)
                    if event.type == EXECUTION_FINISHED:
                        self._unfollow(follower)

    async def _drop_vanished(self) -> None:
        """End the followers of streams that no longer exist (expired unfinished: their process died)."""
        keys = list(self._followers)
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.exists(key)
            found = await pipe.execute()
        for key, exists in zip(keys, found, strict=True):
            if not exists:
                for follower in list(self._followers.get(key, ())):
                    follower.queue.put_nowait(None)
                    self._unfollow(follower)

    def _end_all(self) -> None:
        for followers in list(self._followers.values()):
            for follower in list(followers):
                follower.queue.put_nowait(None)
                self._unfollow(follower)

    # ----- ends ------------------------------------------------------------------------------------------
    async def ending(self, tenant_id: str, execution_id: str, timeout: float) -> ProgressEvent | None:
        """The execution's ``execution.finished``: at once when it was published, else when it is, through
        this bus's inbox; None after ``timeout`` seconds or when Redis fails (the caller reads the store)."""
        key = self.key(tenant_id, execution_id)
        heard: asyncio.Future[ProgressEvent | None] = asyncio.get_running_loop().create_future()
        self._awaited.setdefault(key, set()).add(heard)  # before registering: an end may come right after
        try:
            async with asyncio.timeout(timeout):
                registered = await self._register(key, timeout)
                if registered != "waiting":
                    return None if registered == "failed" else registered
                if self._inbox_reader is None:
                    self._inbox_reader = asyncio.create_task(self._read_inbox(), name="event-bus-ends")
                return await heard
        except TimeoutError:
            return None
        finally:
            waiting = self._awaited.get(key)
            if waiting is not None:
                waiting.discard(heard)
                if not waiting:
                    del self._awaited[key]

    async def _register(self, key: str, timeout: float) -> Registered:
        """Register the inbox as a waiter of ``key`` for ``timeout`` seconds (and a minute more); its end
        when already published. Registrations made while a call is on its way share the next one."""
        registered, lasting = self._expected.get(key, (None, 0.0))
        if registered is None:
            registered = asyncio.get_running_loop().create_future()
        self._expected[key] = (registered, max(lasting, timeout))
        if self._registrar is None:
            self._registrar = asyncio.create_task(self._send_registrations(), name="event-bus-expect")
        return await asyncio.shield(registered)

    async def _send_registrations(self) -> None:
        try:
            while self._expected:
                batch, self._expected = self._expected, {}
                lasting = max(timeout for _, timeout in batch.values()) + 60.0
                outcomes: list[Registered]
                try:
                    found = await self._expect(
                        keys=list(batch), args=[self._inbox, round(lasting * 1000), EXECUTION_FINISHED]
                    )
                    outcomes = [_final(data) if data else "waiting" for data in found]
                except _FAILURES as error:
                    log.warning("could not wait for the ends of %d executions: %s", len(batch), error)
                    outcomes = ["failed"] * len(batch)
                for (registered, _), outcome in zip(batch.values(), outcomes, strict=True):
                    registered.set_result(outcome)
        finally:
            self._registrar = None

    async def _read_inbox(self) -> None:
        """Hand the ends that reach the inbox to their waiters, while anyone waits; if Redis fails or the
        bus closes, each waiter hears None (and reads the store)."""
        try:
            while self._awaited:
                reply: Any = await self.redis.xread(
                    {self._inbox: self._inbox_cursor},
                    count=PAGE,
                    block=max(1, round(self.block_seconds * 1000)),
                )
                for _, entries in reply.items() if isinstance(reply, dict) else reply or ():
                    self._inbox_cursor = _text(entries[-1][0])
                    for _, fields in entries:
                        self._hear(fields)
        except _FAILURES as error:
            log.warning("the reader of execution ends stopped (waiters read the store): %s", error)
            self._unheard()
        except asyncio.CancelledError:
            self._unheard()
            raise
        finally:
            self._inbox_reader = None

    def _unheard(self) -> None:
        """Every waiter hears None: nothing reads the inbox any more (they read the store)."""
        for waiting in self._awaited.values():
            for heard in waiting:
                if not heard.done():
                    heard.set_result(None)

    def _hear(self, fields: Any) -> None:
        """An inbox entry: the end (``d``) of the stream ``k``, for this process's waiters of it, if any."""
        key, data = fields.get(b"k", fields.get("k")), fields.get(b"d", fields.get("d"))
        for heard in self._awaited.get(_text(key), ()):
            if not heard.done():
                heard.set_result(_final(data))

    # ----- stop requests --------------------------------------------------------------------------------
    async def request_stop(self, tenant_id: str, execution_id: str) -> None:
        """Publish the request on the bus's stop channel (Redis pub/sub: every worker hears it at once)."""
        try:
            await self.redis.publish(self._stop_channel, f"{tenant_id}\x00{execution_id}")
        except _FAILURES:
            log.warning("execution %s: the stop request could not be published", execution_id)

    async def stop_requests(self) -> AsyncIterator[tuple[str, str]]:
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(self._stop_channel)
            async for message in pubsub.listen():
                tenant_id, _, execution_id = _text(message["data"]).partition("\x00")
                yield tenant_id, execution_id
        finally:
            await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def aclose(self) -> None:
        """Send what is queued and stop following; live subscribers end (and fall back to the store)."""
        await self.flush()
        readers = [task for task in (self._reader, self._inbox_reader) if task is not None]
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _final(data: bytes | str) -> ProgressEvent:
    """An end as published: ``execution.finished`` with its data (the final event's id is not needed)."""
    return ProgressEvent(0, EXECUTION_FINISHED, json.loads(data))


def _events(entries: Iterable[Any]) -> list[ProgressEvent]:
    """Stream entries as events: the entry id ``0-N`` is the event id."""
    events = []
    for entry_id, fields in entries:
        kind = fields.get(b"t", fields.get("t"))
        data = fields.get(b"d", fields.get("d"))
        events.append(ProgressEvent(int(_text(entry_id).rpartition("-")[2]), _text(kind), json.loads(data)))
    return events
