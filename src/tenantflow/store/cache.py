"""The store's cache tiers and the invalidation that keeps them from serving anything a write replaced.

Hot tier: in-process TTL LRU (100 ms, 1,000 entries per tenant) for single workflows. Warm tier: Redis when
configured, in-process otherwise (5 minutes) for lists, validation reports and stats. Every key starts with
``t:{tenant}:`` and every value is re-checked against the tenant that asked after retrieval, so neither a key
bug nor a planted value can hand one tenant another tenant's data.

Writes invalidate exactly the seed's keys: ``workflow:{id}`` is deleted from the hot tier of every process
(Redis pub/sub, drained before each hot read), and ``workflows:{tenantId}`` is a generation counter that list
keys embed, so bumping it orphans every cached list of the tenant at once without a wildcard delete. Stats are
generation-keyed the same way, per workflow and tenant-wide (``*``).

A miss is filled only with the key (or generation) observed at the miss, and only if nothing invalidated it
since: a load that read the database before a concurrent write must not be cached after that write's
invalidation ran.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import select
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final, Protocol, TypeVar, cast
from urllib.parse import quote

from cachetools import LRUCache, TLRUCache, TTLCache
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from tenantflow.singleflight import SingleFlight

T = TypeVar("T")
HOT_TTL = 0.1
REFRESH_AFTER = 0.08  # a hot workflow this old is loaded again by the next read (see load_workflow)
HOT_PER_TENANT = 1000
HOT_TENANTS = 10_000
WARM_TTL = 300.0
WARM_ENTRIES = 100_000
# A generation counter must outlive every entry keyed by it, or a restarted counter could count back up to a
# generation whose stale entry is still alive. Reads refresh it, fills are at most FILL_WINDOW late and
# entries live WARM_TTL, so a day is ample.
COUNTER_TTL = 86_400.0
# A load that takes longer than this between its miss and its fill is not cached.
FILL_WINDOW = 30.0
FILL_SLOTS = 10_000
DRAIN_INTERVAL = 1.0
SUBSCRIBE_TIMEOUT = 5.0


def _dumps(value: Any) -> str:
    """JSON, never pickle: a cache other processes write to must not be able to run code on read."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def _key(tenant_id: str, *parts: str) -> str:
    """``t:{tenant}:...`` with every part quoted, so an id containing ``:`` cannot alias another key."""
    return ":".join(["t", *(quote(part, safe="") for part in (tenant_id, *parts))])


class HotCache:
    """TTL LRU per tenant, so a busy tenant evicts only its own entries. Tenants are bounded too. Ages are
    read from ``timer``, which a test can move forward instead of sleeping past :data:`HOT_TTL`."""

    def __init__(
        self,
        *,
        ttl: float = HOT_TTL,
        per_tenant: int = HOT_PER_TENANT,
        tenants: int = HOT_TENANTS,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl
        self._timer = timer
        self._per_tenant = per_tenant
        self._tenants: LRUCache[str, TTLCache[str, Any]] = LRUCache(maxsize=tenants)

    @property
    def ttl(self) -> float:
        return self._ttl

    @property
    def timer(self) -> Callable[[], float]:
        return self._timer

    def get(self, tenant_id: str, key: str) -> Any | None:
        entries = self._tenants.get(tenant_id)
        return None if entries is None else entries.get(key)

    def set(self, tenant_id: str, key: str, value: Any) -> None:
        self.entries(tenant_id)[key] = value

    def delete(self, tenant_id: str, key: str) -> None:
        entries = self._tenants.get(tenant_id)
        if entries is not None:
            entries.pop(key, None)

    def drop(self, tenant_id: str) -> None:
        """Forget every entry of the tenant."""
        self._tenants.pop(tenant_id, None)

    def entries(self, tenant_id: str) -> TTLCache[str, Any]:
        """The tenant's entries (made empty if it had none), to fill later only if they are still the
        tenant's: :meth:`drop` or :meth:`clear` meanwhile leaves them detached."""
        entries = self._tenants.get(tenant_id)
        if entries is None:
            entries = self._tenants[tenant_id] = TTLCache(
                maxsize=self._per_tenant, ttl=self._ttl, timer=self._timer
            )
        return entries

    def holds(self, tenant_id: str, entries: TTLCache[str, Any]) -> bool:
        return self._tenants.get(tenant_id) is entries

    def clear(self) -> None:
        self._tenants.clear()


class WarmCache(Protocol):
    """Shared (or in-process) cache of JSON values with TTLs, plus the counters generations are made of."""

    async def get(self, key: str) -> Any | None: ...
    async def set(self, key: str, value: Any, ttl: float) -> None: ...
    async def delete(self, *keys: str) -> None: ...
    async def incr(self, key: str) -> int: ...
    async def incr_all(self, keys: Sequence[str]) -> None:
        """Bump several counters at once: one round trip, however many a write moved."""
        ...

    async def get_int(self, key: str) -> int: ...
    async def close(self) -> None: ...


class _Counters(LRUCache[str, int]):
    """Bounded counters. An evicted counter reads back as the largest value ever evicted, so a generation
    never returns to a number that may still key a live entry."""

    def __init__(self, maxsize: int) -> None:
        super().__init__(maxsize)
        self.floor = 0

    def popitem(self) -> tuple[str, int]:
        key, value = super().popitem()
        self.floor = max(self.floor, value)
        return key, value


def _expires_at(_key: str, entry: tuple[float, bytes], now: float) -> float:
    return now + entry[0]


class MemoryWarmCache:
    """The warm tier of a single process (no Redis configured): bounded, TTLs on the monotonic clock.

    Values are stored as JSON bytes like in Redis, so both backends accept and return exactly the same values
    and a caller mutating what it got back cannot change the cache."""

    def __init__(self, *, maxsize: int = WARM_ENTRIES) -> None:
        self._entries: TLRUCache[str, tuple[float, bytes]] = TLRUCache(maxsize=maxsize, ttu=_expires_at)
        self._counters = _Counters(maxsize)

    async def get(self, key: str) -> Any | None:
        entry = self._entries.get(key)
        return None if entry is None else json.loads(entry[1])

    async def set(self, key: str, value: Any, ttl: float) -> None:
        self._entries[key] = (ttl, _dumps(value).encode())

    async def delete(self, *keys: str) -> None:
        for key in keys:
            self._entries.pop(key, None)

    async def incr(self, key: str) -> int:
        value = self._counters.get(key, self._counters.floor) + 1
        self._counters[key] = value
        return value

    async def incr_all(self, keys: Sequence[str]) -> None:
        for key in keys:
            await self.incr(key)

    async def get_int(self, key: str) -> int:
        return self._counters.get(key, self._counters.floor)

    async def close(self) -> None:
        self._entries.clear()


# INCR and EXPIRE each key (KEYS), with the TTL in ARGV[1].
_INCR_ALL: Final = """
for _, key in ipairs(KEYS) do
    redis.call('INCR', key)
    redis.call('EXPIRE', key, ARGV[1])
end
return #KEYS
"""


class RedisWarmCache:
    """The warm tier shared by every process; the key prefix lets deployments (or test runs) share a DB.

    Counters expire COUNTER_TTL after their last use. That, and every entry having a TTL, assumes Redis
    does not evict keys ahead of their TTL (``maxmemory-policy`` noeviction or volatile-ttl)."""

    def __init__(self, redis_url: str, *, prefix: str = "tf:") -> None:
        self._redis = Redis.from_url(redis_url)
        self._prefix = prefix
        self._incr_all = self._redis.register_script(_INCR_ALL)

    async def get(self, key: str) -> Any | None:
        raw = await self._redis.get(self._prefix + key)
        return None if raw is None else json.loads(raw)

    async def set(self, key: str, value: Any, ttl: float) -> None:
        await self._redis.set(self._prefix + key, _dumps(value).encode(), px=max(1, round(ttl * 1000)))

    async def delete(self, *keys: str) -> None:
        if keys:
            await self._redis.delete(*(self._prefix + key for key in keys))

    async def incr(self, key: str) -> int:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(self._prefix + key)
            pipe.expire(self._prefix + key, round(COUNTER_TTL))
            value, _ = await pipe.execute()
        return int(value)

    async def incr_all(self, keys: Sequence[str]) -> None:
        """One script call, atomic as a MULTI is: every execution's commit bumps three counters, and
        redis-py spends about 0.1 ms of CPU packing and parsing each command of a pipeline."""
        await self._incr_all(keys=[self._prefix + key for key in keys], args=[round(COUNTER_TTL)])

    async def get_int(self, key: str) -> int:
        raw = await self._redis.getex(self._prefix + key, ex=round(COUNTER_TTL))
        return 0 if raw is None else int(raw)

    async def close(self) -> None:
        await self._redis.aclose()


class Invalidation(Protocol):
    """Carries hot-tier invalidations to every other process."""

    async def publish(self, tenant_id: str, workflow_id: str) -> None: ...

    async def receive(self) -> list[tuple[str, str]] | None:
        """The (tenant, workflow id) pairs published before this call; None when some may have been lost."""
        ...

    async def close(self) -> None: ...


def _unread(connection: AbstractConnection) -> bool:
    """Whether the connection's socket holds bytes the event loop has not read yet, or has closed: one
    ``poll(2)`` that does not wait. The socket is redis-py's private ``_writer``'s: a redis-py that moved
    it fails every drain, and so every cache test, rather than drain without hearing."""
    writer = cast("asyncio.StreamWriter", connection._writer)  # set while the connection is connected
    poller = select.poll()
    poller.register(writer.get_extra_info("socket").fileno(), select.POLLIN)
    return bool(poller.poll(0))


def _parse_invalidation(data: Any) -> tuple[str, str] | None:
    try:
        message = json.loads(data)
    except ValueError:
        return None
    if (
        isinstance(message, dict)
        and isinstance(message.get("tenant"), str)
        and isinstance(message.get("id"), str)
    ):
        return message["tenant"], message["id"]
    return None


class RedisInvalidation:
    """Hot-tier invalidations over Redis pub/sub.

    The subscribing client never retries: redis-py would otherwise reconnect and resubscribe silently, losing
    whatever was published in between, and a lost invalidation is a stale read. Any error instead drops the
    subscription and reports a loss, so the caller empties its hot tier before the next read."""

    def __init__(self, redis_url: str, *, channel: str = "tf:invalidate") -> None:
        self._channel = channel
        self._publisher = Redis.from_url(redis_url)
        self._subscriber = Redis.from_url(redis_url, retry=Retry(NoBackoff(), 0), client_name=channel)
        self._pubsub: PubSub | None = None
        self._lost = False
        self._lock = asyncio.Lock()

    @classmethod
    async def connect(cls, redis_url: str, *, channel: str = "tf:invalidate") -> RedisInvalidation:
        """Subscribed on return, so nothing published after start-up is missed. Raises if Redis is down."""
        invalidation = cls(redis_url, channel=channel)
        await invalidation._subscribe()
        return invalidation

    async def publish(self, tenant_id: str, workflow_id: str) -> None:
        await self._publisher.publish(self._channel, _dumps({"tenant": tenant_id, "id": workflow_id}))

    async def receive(self) -> list[tuple[str, str]] | None:
        async with self._lock:
            if self._pubsub is None:
                with contextlib.suppress(RedisError, OSError):
                    await self._subscribe()
                return None
            # Stays set if this drain is cancelled: what it already took off the socket would be gone.
            lost, self._lost = self._lost, True
            received: list[tuple[str, str]] | None
            try:
                received = await self._drain(self._pubsub)
            except (RedisError, OSError):
                received = None
                await self._unsubscribe()
                with contextlib.suppress(RedisError, OSError):
                    await self._subscribe()
            self._lost = False
            return None if lost else received

    async def _drain(self, pubsub: PubSub) -> list[tuple[str, str]] | None:
        """Everything that has reached the connection: what the event loop has read off the socket, and
        what still waits in the kernel's socket buffer.

        ``get_message(timeout=0)`` on an empty buffer waits on the socket until the loop's next turn, and
        under load a turn is milliseconds: every read of a workflow or a webhook route drains, and at c=16
        those turns were a sixth of a webhook call's time. So the loop is given a turn only when it has
        bytes to read, which a zero-timeout ``poll(2)`` of the socket tells without one."""
        received: list[tuple[str, str]] = []
        intact = True
        connection = cast("AbstractConnection", pubsub.connection)
        while True:
            if not await connection.can_read() and not _unread(connection):
                return received if intact else None
            message = await pubsub.get_message(timeout=0.0)
            if message is not None and message["type"] == "message":
                parsed = _parse_invalidation(message["data"])
                intact = intact and parsed is not None
                if parsed is not None:
                    received.append(parsed)

    async def _subscribe(self) -> None:
        """Returns once Redis has confirmed the subscription: SUBSCRIBE alone does not wait for it."""
        pubsub = self._subscriber.pubsub()
        try:
            await pubsub.subscribe(self._channel)
            async with asyncio.timeout(SUBSCRIBE_TIMEOUT):
                while True:
                    message = await pubsub.get_message(timeout=None)
                    if message is not None and message["type"] == "subscribe":
                        break
        except BaseException:
            await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves PubSub.aclose unannotated
            raise
        self._pubsub = pubsub

    async def _unsubscribe(self) -> None:
        if self._pubsub is not None:
            pubsub, self._pubsub = self._pubsub, None
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def close(self) -> None:
        async with self._lock:
            await self._unsubscribe()
        await self._subscriber.aclose()
        await self._publisher.aclose()


class WorkflowCache:
    """The store's facade over both tiers, with the seed's keys. All keys start with t:{tenant_id}:"""

    def __init__(
        self,
        warm: WarmCache | None = None,
        *,
        hot: HotCache | None = None,
        warm_ttl: float = WARM_TTL,
        invalidation: Invalidation | None = None,
    ) -> None:
        self._warm: WarmCache = warm if warm is not None else MemoryWarmCache()
        self._hot = hot if hot is not None else HotCache()
        # Webhook routes, per tenant: a tenant's go whenever one of its workflows changes.
        self._routes = HotCache(ttl=self._hot.ttl, timer=self._hot.timer)
        self._warm_ttl = warm_ttl
        self._invalidation = invalidation
        self._drainer: asyncio.Task[None] | None = None
        # Hot key -> False once invalidated after the miss that is waiting to be filled.
        self._hot_fills: TTLCache[str, bool] = TTLCache(maxsize=FILL_SLOTS, ttl=FILL_WINDOW)
        # Warm key without generation -> the key (generation of the earliest pending miss) to fill.
        self._warm_fills: TTLCache[str, str] = TTLCache(maxsize=FILL_SLOTS, ttl=FILL_WINDOW)
        # Hot key -> the load in flight for it: concurrent misses share one database read.
        self._loading: SingleFlight[str, dict[str, Any]] = SingleFlight()
        self._refreshing: set[str] = set()  # hot keys a read is loading again while others read the copy
        self._refreshing_routes: set[tuple[str, str]] = set()  # (tenant, "METHOD path"), likewise
        self._route_loads: SingleFlight[tuple[str, str], Any] = SingleFlight()  # (tenant, "METHOD path")

    @classmethod
    async def connect(cls, redis_url: str | None, *, prefix: str = "tf:") -> WorkflowCache:
        """In-process tiers without Redis; with it, the shared warm tier and pub/sub hot-tier invalidation."""
        if redis_url is None:
            return cls()
        invalidation = await RedisInvalidation.connect(redis_url, channel=f"{prefix}invalidate")
        cache = cls(RedisWarmCache(redis_url, prefix=prefix), invalidation=invalidation)
        cache._start_drainer()
        return cache

    async def get_workflow(self, tenant_id: str, workflow_id: str) -> dict[str, Any] | None:
        await self._sync()
        key = _key(tenant_id, "workflow", workflow_id)
        copy = self._hot_copy(tenant_id, workflow_id, key)
        if copy is not None:
            return copy[0]
        self._hot_fills.setdefault(key, True)
        return None

    async def load_workflow(
        self, tenant_id: str, workflow_id: str, load: Callable[[], Awaitable[dict[str, Any]]]
    ) -> dict[str, Any]:
        """The cached workflow, or ``load()``'s, which every concurrent miss of this process shares: when
        the hot copy expires under load, one read refills it instead of one per request in flight. A
        failed load is not shared (each caller's refusal is its own, audit included): waiters load again.

        A copy older than :data:`REFRESH_AFTER` is loaded again by the first read that finds it, while the
        reads meanwhile still get the copy (never older than :data:`HOT_TTL`): at 1,000 GETs a second every
        expiry made the reads that came during the load wait for it, and they were most of PostgreSQL's
        p99."""
        await self._sync()
        key = _key(tenant_id, "workflow", workflow_id)
        copy = self._hot_copy(tenant_id, workflow_id, key)
        if copy is not None:
            workflow, loaded_at = copy
            if key in self._refreshing or self._hot.timer() - loaded_at < REFRESH_AFTER:
                return workflow
            self._refreshing.add(key)
            try:
                self._hot_fills.setdefault(key, True)
                return await self._load_and_fill(tenant_id, load)
            finally:
                self._refreshing.discard(key)
        self._hot_fills.setdefault(key, True)
        shared = await self._loading.run(
            key, lambda: self._load_and_fill(tenant_id, load), share_failures=False
        )
        return dict(shared)

    async def find_route(self, tenant_id: str, method: str, path: str, load: Callable[[], Awaitable[T]]) -> T:
        """Which workflow answers a webhook (what ``load`` finds, None included), kept like a hot workflow:
        at most :data:`HOT_TTL`, and dropped, all of the tenant's, when one of its workflows changes in any
        process (routes change only with their workflow), and loaded again past :data:`REFRESH_AFTER` as
        :meth:`load_workflow` does. Every webhook call asks this; without it each paid a transaction.
        Concurrent misses of one route share one load: when the entry expires under load every call in
        flight misses at once, and each load holds a pooled connection (past the pool's size, a new one
        each time, which cost the API 6% of its CPU at c=16)."""
        await self._sync()
        entries = self._routes.entries(tenant_id)
        key = f"{method} {path}"
        cached = entries.get(key)
        due = False
        if cached is not None and cached[0] == tenant_id:
            _, found, loaded_at = cached
            due = self._routes.timer() - loaded_at >= REFRESH_AFTER
            if not due or (tenant_id, key) in self._refreshing_routes:
                return cast("T", found)

        async def load_and_keep() -> Any:
            found = await load()
            if self._routes.holds(tenant_id, entries):  # else a change came in meanwhile: not kept
                entries[key] = (tenant_id, found, self._routes.timer())
            return found

        if due:  # as a hot workflow: this read loads it again, the others meanwhile read the route kept
            self._refreshing_routes.add((tenant_id, key))
            try:
                return cast("T", await load_and_keep())
            finally:
                self._refreshing_routes.discard((tenant_id, key))
        shared: T = await self._route_loads.run((tenant_id, key), load_and_keep, share_failures=False)
        return shared

    def put_workflow(self, tenant_id: str, workflow: dict[str, Any]) -> None:
        """Fill the miss get_workflow just reported. Dropped if the key was invalidated since (the load may
        predate the write) or there was no miss (a writer's own copy can race another writer's)."""
        if workflow.get("tenantId") != tenant_id:
            raise ValueError(f"workflow {workflow.get('id')!r} does not belong to tenant {tenant_id!r}")
        key = _key(tenant_id, "workflow", str(workflow["id"]))
        if self._hot_fills.pop(key, False):
            self._hot.set(tenant_id, key, (_dumps(workflow), {}, self._hot.timer()))

    def patch_workflow(self, tenant_id: str, workflow_id: str, fields: dict[str, Any]) -> None:
        """Update this process's hot copy (counters an execution moved): the definition is unchanged, so
        dropping the entry would only make the next read go to the database. The copy is JSON text plus the
        fields patched since, so a batch of executions does not re-encode the whole definition."""
        key = _key(tenant_id, "workflow", workflow_id)
        stored = self._hot.get(tenant_id, key)
        if stored is not None:
            text, counters, loaded_at = stored
            self._hot.set(tenant_id, key, (text, {**counters, **fields}, loaded_at))

    async def get_list(self, tenant_id: str, query_key: str) -> Any | None:
        generation = await self._warm.get_int(_key(tenant_id, "workflows"))
        digest = hashlib.blake2b(query_key.encode(), digest_size=16).hexdigest()
        return await self._get_fillable(
            tenant_id,
            _key(tenant_id, "workflows", digest),
            _key(tenant_id, "workflows", str(generation), digest),
        )

    async def put_list(self, tenant_id: str, query_key: str, value: Any) -> None:
        """Fill the miss get_list just reported, under the generation that miss saw."""
        digest = hashlib.blake2b(query_key.encode(), digest_size=16).hexdigest()
        await self._fill(tenant_id, _key(tenant_id, "workflows", digest), value)

    async def get_validation(self, tenant_id: str, workflow_id: str, version: int) -> dict[str, Any] | None:
        return cast(
            "dict[str, Any] | None",
            await self._get_warm(tenant_id, _key(tenant_id, "validation", workflow_id, str(version))),
        )

    async def put_validation(
        self, tenant_id: str, workflow_id: str, version: int, report: dict[str, Any]
    ) -> None:
        """A version's content never changes, so neither does its report: no generation, no fill check."""
        await self._set_warm(tenant_id, _key(tenant_id, "validation", workflow_id, str(version)), report)

    async def get_stats(self, tenant_id: str, workflow_id: str, window: str) -> dict[str, Any] | None:
        """Stats of one workflow, or of the whole tenant with workflow_id ``*``, over ``window``."""
        generation = await self._warm.get_int(_key(tenant_id, "stats", workflow_id))
        value = await self._get_fillable(
            tenant_id,
            _key(tenant_id, "stats", workflow_id, window),
            _key(tenant_id, "stats", workflow_id, str(generation), window),
        )
        return cast("dict[str, Any] | None", value)

    async def put_stats(self, tenant_id: str, workflow_id: str, window: str, stats: dict[str, Any]) -> None:
        """Fill the miss get_stats just reported, under the generation that miss saw."""
        await self._fill(tenant_id, _key(tenant_id, "stats", workflow_id, window), stats)

    async def workflow_changed(self, tenant_id: str, workflow_id: str) -> None:
        """After an update, publish or delete: ``workflow:{id}`` leaves every process's hot tier; the tenant's
        lists and the workflow's and tenant-wide stats move to a new generation. Validation reports are keyed
        by version and stay. Errors propagate: a write whose invalidation failed must not look clean."""
        self._forget(tenant_id, workflow_id)
        if self._invalidation is not None:
            await self._invalidation.publish(tenant_id, workflow_id)
        await self._bump(tenant_id, workflow_id)

    async def executions_changed(self, tenant_id: str, *workflow_ids: str) -> None:
        """Executions were recorded: their workflows' and the tenant-wide stats go, and lists
        (lastExecution*), in one warm-tier round trip."""
        await self._bump(tenant_id, *workflow_ids)

    async def close(self) -> None:
        if self._drainer is not None:
            self._drainer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._drainer
        if self._invalidation is not None:
            await self._invalidation.close()
        await self._warm.close()

    async def _bump(self, tenant_id: str, *workflow_ids: str) -> None:
        scopes = sorted({*workflow_ids, "*"})
        await self._warm.incr_all(
            [_key(tenant_id, "workflows"), *(_key(tenant_id, "stats", s) for s in scopes)]
        )

    async def _get_warm(self, tenant_id: str, key: str) -> Any | None:
        stored = await self._warm.get(key)
        if stored is None:
            return None
        if isinstance(stored, dict) and stored.get("tenantId") == tenant_id and "value" in stored:
            return stored["value"]
        await self._warm.delete(key)
        return None

    async def _set_warm(self, tenant_id: str, key: str, value: Any) -> None:
        await self._warm.set(key, {"tenantId": tenant_id, "value": value}, self._warm_ttl)

    async def _get_fillable(self, tenant_id: str, slot: str, key: str) -> Any | None:
        value = await self._get_warm(tenant_id, key)
        if value is None:
            self._warm_fills.setdefault(slot, key)
        return value

    async def _fill(self, tenant_id: str, slot: str, value: Any) -> None:
        key = self._warm_fills.pop(slot, None)
        if key is not None:
            await self._set_warm(tenant_id, key, value)

    def _hot_copy(self, tenant_id: str, workflow_id: str, key: str) -> tuple[dict[str, Any], float] | None:
        """The hot copy of a workflow (decoded, with the counters patched since) and when it was loaded; a
        copy that is not this tenant's workflow is dropped."""
        stored = self._hot.get(tenant_id, key)
        if stored is None:
            return None
        text, counters, loaded_at = stored
        workflow = json.loads(text)
        if (
            isinstance(workflow, dict)
            and workflow.get("tenantId") == tenant_id
            and workflow.get("id") == workflow_id
        ):
            workflow.update(counters)
            return workflow, loaded_at
        self._hot.delete(tenant_id, key)
        return None

    async def _load_and_fill(
        self, tenant_id: str, load: Callable[[], Awaitable[dict[str, Any]]]
    ) -> dict[str, Any]:
        workflow = await load()
        self.put_workflow(tenant_id, workflow)
        return workflow

    def _forget(self, tenant_id: str, workflow_id: str) -> None:
        key = _key(tenant_id, "workflow", workflow_id)
        self._hot.delete(tenant_id, key)
        self._routes.drop(tenant_id)
        if key in self._hot_fills:
            self._hot_fills[key] = False

    def _forget_all(self) -> None:
        self._hot.clear()
        self._routes.clear()
        self._hot_fills.clear()

    async def _sync(self) -> None:
        """Apply what other processes invalidated before this moment; empty the hot tier if any was lost."""
        if self._invalidation is None:
            return
        self._start_drainer()
        received = await self._invalidation.receive()
        if received is None:
            self._forget_all()
            return
        for tenant_id, workflow_id in received:
            self._forget(tenant_id, workflow_id)

    def _start_drainer(self) -> None:
        if self._drainer is None:
            self._drainer = asyncio.create_task(self._drain_forever())

    async def _drain_forever(self) -> None:
        """Keeps invalidations from piling up (in the socket and in Redis's output buffer) between reads."""
        while True:
            await asyncio.sleep(DRAIN_INTERVAL)
            await self._sync()
