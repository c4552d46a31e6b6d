"""Cache tiers: hot TTL/LRU bounds, tenant-scoped keys re-checked on read, exact invalidation, and no stale
read after a write, within one process and across two sharing Redis.

Redis comes from ``TENANTFLOW_TEST_REDIS_URL``; without it the Redis tests fail rather than skip. Every test
uses its own key prefix (and so its own invalidation channel) and deletes its keys afterwards.
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.asyncio import Redis

from tenantflow.store.cache import (
    HOT_TTL,
    REFRESH_AFTER,
    HotCache,
    MemoryWarmCache,
    RedisInvalidation,
    RedisWarmCache,
    WarmCache,
    WorkflowCache,
)
from tests.store.cache_peer import open_cache
from tests.store.conftest import REDIS_VAR, required_env

pytestmark = pytest.mark.anyio

PEER = Path(__file__).with_name("cache_peer.py")
ROUNDS = 200


@pytest.fixture
def prefix() -> str:
    return f"tftest:{uuid.uuid4().hex}:"


@pytest.fixture
def redis_url(prefix: str) -> Iterator[str]:
    """The test Redis; the test's keys are deleted afterwards."""
    url = required_env(REDIS_VAR)
    yield url
    with redis.Redis.from_url(url) as client:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)


@pytest.fixture
async def admin(redis_url: str) -> AsyncIterator[Redis]:
    """A plain client, to look at what the cache wrote and to break its connections."""
    client = Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


class Recorder:
    """A real warm backend that remembers the keys written through it, so a test can plant values there."""

    def __init__(self, inner: WarmCache) -> None:
        self.inner = inner
        self.written: list[str] = []
        self.bumped: list[list[str]] = []  # each incr_all call's keys

    async def get(self, key: str) -> Any | None:
        return await self.inner.get(key)

    async def set(self, key: str, value: Any, ttl: float) -> None:
        self.written.append(key)
        await self.inner.set(key, value, ttl)

    async def delete(self, *keys: str) -> None:
        await self.inner.delete(*keys)

    async def incr(self, key: str) -> int:
        return await self.inner.incr(key)

    async def incr_all(self, keys: Sequence[str]) -> None:
        self.bumped.append(list(keys))
        await self.inner.incr_all(keys)

    async def get_int(self, key: str) -> int:
        return await self.inner.get_int(key)

    async def close(self) -> None:
        await self.inner.close()


class Clock:
    """The hot tier's timer, moved by the test: an entry the test expects to be kept cannot expire because
    the machine was slow, and one it expects gone needs no sleep."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class RecordingHot(HotCache):
    """The real hot tier, remembering the keys written to it."""

    def __init__(self, clock: Clock) -> None:
        super().__init__(timer=clock)
        self.written: list[tuple[str, str]] = []

    def set(self, tenant_id: str, key: str, value: Any) -> None:
        self.written.append((tenant_id, key))
        super().set(tenant_id, key, value)


@dataclass
class Tiers:
    cache: WorkflowCache
    warm: Recorder
    hot: RecordingHot
    clock: Clock


@pytest.fixture(params=["memory", "redis"])
async def warm(request: pytest.FixtureRequest, prefix: str) -> AsyncIterator[WarmCache]:
    if request.param == "memory":
        backend: WarmCache = MemoryWarmCache()
    else:
        backend = RedisWarmCache(request.getfixturevalue("redis_url"), prefix=prefix)
    try:
        yield backend
    finally:
        await backend.close()


@pytest.fixture(params=["memory", "redis"])
async def tiers(request: pytest.FixtureRequest, prefix: str) -> AsyncIterator[Tiers]:
    clock = Clock()
    hot = RecordingHot(clock)
    if request.param == "memory":
        warm = Recorder(MemoryWarmCache())
        cache = WorkflowCache(warm, hot=hot)
    else:
        url = request.getfixturevalue("redis_url")
        warm = Recorder(RedisWarmCache(url, prefix=prefix))
        invalidation = await RedisInvalidation.connect(url, channel=f"{prefix}invalidate")
        cache = WorkflowCache(warm, hot=hot, invalidation=invalidation)
    try:
        yield Tiers(cache, warm, hot, clock)
    finally:
        await cache.close()


def workflow(tenant_id: str, workflow_id: str, version: int = 1) -> dict[str, Any]:
    return {"id": workflow_id, "tenantId": tenant_id, "version": version, "nodes": []}


async def load(cache: WorkflowCache, tenant_id: str, value: dict[str, Any]) -> None:
    """A read that misses and fills from the "database", as the repository does."""
    assert await cache.get_workflow(tenant_id, value["id"]) is None
    cache.put_workflow(tenant_id, value)


async def load_list(cache: WorkflowCache, tenant_id: str, query_key: str, value: Any) -> None:
    assert await cache.get_list(tenant_id, query_key) is None
    await cache.put_list(tenant_id, query_key, value)


async def load_stats(cache: WorkflowCache, tenant_id: str, workflow_id: str, window: str) -> None:
    assert await cache.get_stats(tenant_id, workflow_id, window) is None
    await cache.put_stats(tenant_id, workflow_id, window, {"of": [tenant_id, workflow_id, window]})


# Hot tier


def test_cache_hot_entries_expire_after_100ms() -> None:
    clock = Clock()
    hot = HotCache(timer=clock)
    hot.set("a", "k", 1)
    clock.advance(0.099)
    assert hot.get("a", "k") == 1
    clock.advance(0.002)
    assert hot.get("a", "k") is None


def test_cache_hot_tier_keeps_1000_entries_per_tenant() -> None:
    hot = HotCache(ttl=60.0)
    hot.set("b", "k", "b's")
    for i in range(1001):
        hot.set("a", f"k{i}", i)
    assert hot.get("a", "k0") is None
    assert all(hot.get("a", f"k{i}") == i for i in range(1, 1001))
    assert hot.get("b", "k") == "b's"


def test_tenant_count_in_the_hot_tier_is_bounded() -> None:
    hot = HotCache(ttl=60.0, tenants=2)
    for tenant_id in ("a", "b", "c"):
        hot.set(tenant_id, "k", tenant_id)
    assert [hot.get(tenant_id, "k") for tenant_id in ("a", "b", "c")] == [None, "b", "c"]


# Warm backends: the same contract in memory and in Redis


async def test_cache_warm_roundtrip_delete_and_ttl(warm: WarmCache) -> None:
    await warm.set("k1", {"a": [1, 2.5, "x", None, True]}, 60.0)
    await warm.set("k2", "v", 60.0)
    await warm.set("short", 1, 0.05)
    assert await warm.get("k1") == {"a": [1, 2.5, "x", None, True]}
    await warm.delete("k1", "k2", "absent")
    assert await warm.get("k1") is None
    assert await warm.get("k2") is None
    assert await warm.get("short") == 1
    await asyncio.sleep(0.1)
    assert await warm.get("short") is None


async def test_cache_warm_values_are_json_only(warm: WarmCache) -> None:
    with pytest.raises(TypeError):
        await warm.set("k", {"when": object()}, 60.0)
    with pytest.raises(TypeError):
        await warm.set("k", {1, 2}, 60.0)
    with pytest.raises(ValueError):
        await warm.set("k", math.nan, 60.0)
    value = {"items": (1, 2)}
    await warm.set("k", value, 60.0)
    got = await warm.get("k")
    assert got == {"items": [1, 2]}
    got["items"].append(3)
    assert await warm.get("k") == {"items": [1, 2]}


async def test_cache_redis_stores_plain_json(redis_url: str, admin: Redis, prefix: str) -> None:
    warm = RedisWarmCache(redis_url, prefix=prefix)
    try:
        await warm.set("k", {"a": [1, "b"]}, 60.0)
        assert await admin.get(f"{prefix}k") == b'{"a":[1,"b"]}'
        assert 0 < await admin.pttl(f"{prefix}k") <= 60_000
    finally:
        await warm.close()


async def test_cache_warm_counters_are_atomic(warm: WarmCache) -> None:
    assert await warm.get_int("n") == 0
    values = await asyncio.gather(*(warm.incr("n") for _ in range(20)))
    assert sorted(values) == list(range(1, 21))
    assert await warm.get_int("n") == 20
    assert await warm.get_int("other") == 0


async def test_cache_memory_counter_never_goes_back_after_eviction() -> None:
    warm = MemoryWarmCache(maxsize=2)
    for _ in range(5):
        await warm.incr("a")
    await warm.incr("b")
    await warm.incr("c")
    assert await warm.get_int("a") == 5
    assert await warm.incr("a") == 6


# WorkflowCache: the same behaviour over the in-process and the Redis warm tier


async def test_tenant_workflow_ids_never_cross_tenants(tiers: Tiers) -> None:
    cache = tiers.cache
    await load(cache, "a", workflow("a", "w"))
    assert await cache.get_workflow("b", "w") is None
    await load(cache, "b", workflow("b", "w", version=7))
    assert await cache.get_workflow("a", "w") == workflow("a", "w")
    assert await cache.get_workflow("b", "w") == workflow("b", "w", version=7)
    with pytest.raises(ValueError):
        cache.put_workflow("a", workflow("b", "w"))


async def test_cache_single_workflows_live_in_the_hot_tier_only(tiers: Tiers) -> None:
    await load(tiers.cache, "a", workflow("a", "w"))
    assert tiers.hot.written == [("a", "t:a:workflow:w")]
    assert tiers.warm.written == []
    got = await tiers.cache.get_workflow("a", "w")
    assert got == workflow("a", "w")
    got["nodes"].append("mutated by the caller")
    assert await tiers.cache.get_workflow("a", "w") == workflow("a", "w")


async def test_tenant_hot_entry_of_another_tenant_is_dropped_after_retrieval(tiers: Tiers) -> None:
    await load(tiers.cache, "a", workflow("a", "w"))
    [(tenant_id, key)] = tiers.hot.written
    for planted in (workflow("b", "w"), workflow("a", "other"), ["not", "a", "workflow"]):
        tiers.hot.set(tenant_id, key, (json.dumps(planted), {}, 0.0))  # text, counters patched since, loaded
        assert await tiers.cache.get_workflow("a", "w") is None
        assert tiers.hot.get(tenant_id, key) is None


async def test_tenant_warm_value_of_another_tenant_is_dropped_after_retrieval(tiers: Tiers) -> None:
    cache = tiers.cache
    await load_list(cache, "a", "q", ["a's"])
    await cache.put_validation("a", "w", 1, {"valid": True})
    await load_stats(cache, "a", "w", "24h")
    assert len(tiers.warm.written) == 3
    for key in tiers.warm.written:
        await tiers.warm.inner.set(key, {"tenantId": "b", "value": {"b's": True}}, 60.0)
    assert await cache.get_list("a", "q") is None
    assert await cache.get_validation("a", "w", 1) is None
    assert await cache.get_stats("a", "w", "24h") is None
    for key in tiers.warm.written:
        assert await tiers.warm.inner.get(key) is None


async def test_tenant_lists_validation_and_stats_are_scoped(tiers: Tiers) -> None:
    cache = tiers.cache
    await load_list(cache, "a", "q", ["a's"])
    await cache.put_validation("a", "w", 1, {"of": "a"})
    await load_stats(cache, "a", "w", "24h")
    assert await cache.get_list("b", "q") is None
    assert await cache.get_validation("b", "w", 1) is None
    assert await cache.get_stats("b", "w", "24h") is None
    assert all(key.startswith("t:a:") for key in tiers.warm.written)


async def test_cache_write_bumps_the_list_generation(tiers: Tiers) -> None:
    cache = tiers.cache
    await load_list(cache, "a", "q1", [1])
    await load_list(cache, "a", "q2", [2])
    await load_list(cache, "b", "q1", ["b"])
    assert await cache.get_list("a", "q1") == [1]
    await cache.workflow_changed("a", "w")
    assert await cache.get_list("a", "q1") is None
    assert await cache.get_list("a", "q2") is None
    assert await cache.get_list("b", "q1") == ["b"]
    await cache.put_list("a", "q1", [1, 1])
    assert await cache.get_list("a", "q1") == [1, 1]
    await cache.executions_changed("a", "w")
    assert await cache.get_list("a", "q1") is None


async def still_cached(
    cache: WorkflowCache, entries: list[tuple[str, str, str]]
) -> dict[tuple[str, str, str], bool]:
    """Which of the stats ``entries`` (tenant, workflow, window) the cache still holds."""
    return {entry: await cache.get_stats(*entry) is not None for entry in entries}


async def test_cache_stats_invalidation_is_exact(tiers: Tiers) -> None:
    cache = tiers.cache
    entries = [
        ("a", "w1", "24h"),
        ("a", "w1", "7d"),
        ("a", "w2", "24h"),
        ("a", "*", "24h"),
        ("b", "w1", "24h"),
    ]
    for entry in entries:
        await load_stats(cache, *entry)
    await cache.workflow_changed("a", "w1")
    assert await still_cached(cache, entries) == {
        ("a", "w1", "24h"): False,
        ("a", "w1", "7d"): False,
        ("a", "w2", "24h"): True,
        ("a", "*", "24h"): False,
        ("b", "w1", "24h"): True,
    }
    for tenant_id, workflow_id, window in entries:
        await cache.put_stats(tenant_id, workflow_id, window, {"refilled": True})
    await cache.executions_changed("a", "w2")
    assert await still_cached(cache, entries) == {
        ("a", "w1", "24h"): True,
        ("a", "w1", "7d"): True,
        ("a", "w2", "24h"): False,
        ("a", "*", "24h"): False,
        ("b", "w1", "24h"): True,
    }


async def test_cache_executions_of_several_workflows_bump_in_one_round_trip(tiers: Tiers) -> None:
    cache = tiers.cache
    entries = [("a", "w1", "24h"), ("a", "w2", "24h"), ("a", "w3", "24h"), ("a", "*", "24h")]
    for entry in entries:
        await load_stats(cache, *entry)
    tiers.warm.bumped.clear()
    await cache.executions_changed("a", "w2", "w1")
    assert len(tiers.warm.bumped) == 1 and len(tiers.warm.bumped[0]) == 4  # the list, w1, w2, "*"
    assert await still_cached(cache, entries) == {
        ("a", "w1", "24h"): False,
        ("a", "w2", "24h"): False,
        ("a", "w3", "24h"): True,
        ("a", "*", "24h"): False,
    }


async def test_cache_validation_is_keyed_by_version(tiers: Tiers) -> None:
    cache = tiers.cache
    await cache.put_validation("a", "w", 1, {"valid": False})
    await cache.put_validation("a", "w", 2, {"valid": True})
    await cache.workflow_changed("a", "w")
    assert await cache.get_validation("a", "w", 1) == {"valid": False}
    assert await cache.get_validation("a", "w", 2) == {"valid": True}
    assert await cache.get_validation("a", "w", 3) is None


async def test_cache_workflow_changed_drops_the_hot_entry(tiers: Tiers) -> None:
    await load(tiers.cache, "a", workflow("a", "w"))
    await load(tiers.cache, "a", workflow("a", "other"))
    await tiers.cache.workflow_changed("a", "w")
    assert await tiers.cache.get_workflow("a", "w") is None
    assert await tiers.cache.get_workflow("a", "other") == workflow("a", "other")


async def test_cache_fill_that_raced_a_write_is_not_served(tiers: Tiers) -> None:
    """A load that read the database before a write must not be cached after the write's invalidation."""
    cache = tiers.cache
    assert await cache.get_workflow("a", "w") is None
    assert await cache.get_list("a", "q") is None
    assert await cache.get_stats("a", "w", "24h") is None
    await cache.workflow_changed("a", "w")
    cache.put_workflow("a", workflow("a", "w", version=1))
    await cache.put_list("a", "q", ["v1"])
    await cache.put_stats("a", "w", "24h", {"v": 1})
    assert await cache.get_workflow("a", "w") is None
    assert await cache.get_list("a", "q") is None
    assert await cache.get_stats("a", "w", "24h") is None


async def test_cache_fill_without_a_miss_is_not_cached(tiers: Tiers) -> None:
    tiers.cache.put_workflow("a", workflow("a", "w"))
    await tiers.cache.put_list("a", "q", [1])
    assert await tiers.cache.get_workflow("a", "w") is None
    assert await tiers.cache.get_list("a", "q") is None


async def test_cache_warm_entries_expire(tiers: Tiers) -> None:
    cache = WorkflowCache(tiers.warm, warm_ttl=0.05)
    await load_list(cache, "a", "q", [1])
    assert await cache.get_list("a", "q") == [1]
    await asyncio.sleep(0.1)
    assert await cache.get_list("a", "q") is None


async def test_cache_connect_without_redis_is_in_process() -> None:
    cache = await WorkflowCache.connect(None)
    try:
        await load(cache, "a", workflow("a", "w"))
        assert await cache.get_workflow("a", "w") == workflow("a", "w")
        await cache.workflow_changed("a", "w")
        assert await cache.get_workflow("a", "w") is None
    finally:
        await cache.close()


# Across processes


class Peer:
    """The other process (cache_peer.py), one JSON line per call."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdin is not None and process.stdout is not None
        self._process = process
        self._stdin = process.stdin
        self._stdout = process.stdout

    @classmethod
    async def start(cls, url: str, prefix: str) -> Peer:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(PEER),
            url,
            prefix,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        peer = cls(process)
        assert await peer._line() == "ready"
        return peer

    async def call(self, method: str, *args: Any) -> Any:
        self._stdin.write(json.dumps([method, *args]).encode() + b"\n")
        await self._stdin.drain()
        return json.loads(await self._line())

    async def stop(self) -> None:
        self._stdin.close()
        await asyncio.wait_for(self._process.wait(), 10)

    async def _line(self) -> str:
        line = await asyncio.wait_for(self._stdout.readline(), 10)
        assert line, f"cache peer exited with {await self._process.wait()}"
        return line.decode().strip()


async def test_cache_two_processes_never_read_stale_after_a_write(redis_url: str, prefix: str) -> None:
    """Each round the peer caches a workflow (hot, with a TTL so long that only an invalidation removes it)
    and a list; this process writes, then tells the peer to read. Every such read must miss."""
    writer = await WorkflowCache.connect(redis_url, prefix=prefix)
    peer = await Peer.start(redis_url, prefix)
    try:
        stale_workflows = stale_lists = 0
        for round_ in range(ROUNDS):
            workflow_id, query_key = f"w{round_}", f"q{round_}"
            assert await peer.call("get_workflow", "a", workflow_id) is None
            await peer.call("put_workflow", "a", workflow("a", workflow_id))
            assert await peer.call("get_workflow", "a", workflow_id) == workflow("a", workflow_id)
            assert await peer.call("get_list", "a", query_key) is None
            await peer.call("put_list", "a", query_key, [workflow_id])
            assert await peer.call("get_list", "a", query_key) == [workflow_id]

            await writer.workflow_changed("a", workflow_id)

            stale_workflows += await peer.call("get_workflow", "a", workflow_id) is not None
            stale_lists += await peer.call("get_list", "a", query_key) is not None
        assert (stale_workflows, stale_lists) == (0, 0)
    finally:
        await peer.stop()
        await writer.close()


async def kill_subscribers(admin: Redis, channel: str) -> None:
    """Cut the subscription connections (they carry the channel as client name) from the server side."""
    clients = await admin.client_list(_type="pubsub")
    killed = [
        await admin.client_kill_filter(_id=client["id"]) for client in clients if client["name"] == channel
    ]
    assert killed


async def test_cache_lost_subscription_empties_the_hot_tier(
    redis_url: str, admin: Redis, prefix: str
) -> None:
    reader = await open_cache(redis_url, prefix)
    # Publishes only: workflow_changed never subscribes, so the reader is the channel's only subscriber.
    writer = WorkflowCache(
        RedisWarmCache(redis_url, prefix=prefix),
        invalidation=RedisInvalidation(redis_url, channel=f"{prefix}invalidate"),
    )
    try:
        await load(reader, "a", workflow("a", "w"))
        await load(reader, "a", workflow("a", "untouched"))
        await kill_subscribers(admin, f"{prefix}invalidate")
        await writer.workflow_changed("a", "w")  # nobody is subscribed: this invalidation is lost
        assert await reader.get_workflow("a", "w") is None
        assert await reader.get_workflow("a", "untouched") is None

        reader.put_workflow("a", workflow("a", "w", version=2))
        assert await reader.get_workflow("a", "w") == workflow("a", "w", version=2)
        await writer.workflow_changed("a", "w")  # resubscribed: invalidations arrive again
        assert await reader.get_workflow("a", "w") is None
    finally:
        await writer.close()
        await reader.close()


async def test_cache_garbled_invalidation_empties_the_hot_tier(
    redis_url: str, admin: Redis, prefix: str
) -> None:
    reader = await open_cache(redis_url, prefix)
    try:
        await load(reader, "a", workflow("a", "w"))
        await admin.publish(f"{prefix}invalidate", b"\x80 not json")
        assert await reader.get_workflow("a", "w") is None
        await load(reader, "a", workflow("a", "w"))
        assert await reader.get_workflow("a", "w") == workflow("a", "w")
    finally:
        await reader.close()


async def test_a_read_with_nothing_received_gives_the_loop_no_turn_and_a_change_is_heard(
    redis_url: str, admin: Redis, prefix: str
) -> None:
    """Draining the invalidations looks at the connection's buffer and its socket without waiting on it:
    under load every turn of the loop given away is milliseconds. What has come in is applied."""
    reader = await open_cache(redis_url, prefix)
    try:
        await load(reader, "a", workflow("a", "w"))
        await asyncio.sleep(0.01)  # the loop has turned since the last drain
        turns: list[int] = []
        asyncio.get_running_loop().call_soon(turns.append, 1)  # runs if a read gives the loop a turn
        assert await reader.get_workflow("a", "w") == workflow("a", "w")
        assert await reader.find_route("a", "POST", "hook", Lookups("route")) == "route"
        assert turns == []
        await admin.publish(f"{prefix}invalidate", json.dumps({"tenant": "a", "id": "w"}))
        assert await reader.get_workflow("a", "w") is None
    finally:
        await reader.close()


async def test_cache_concurrent_misses_share_one_load() -> None:
    """When the hot copy expires under load, one read refills it for every request in flight."""
    cache = WorkflowCache()
    loads = 0

    async def load() -> dict[str, Any]:
        nonlocal loads
        loads += 1
        await asyncio.sleep(0.01)
        return {"id": "w1", "tenantId": "t1", "name": "shared"}

    found = await asyncio.gather(*(cache.load_workflow("t1", "w1", load) for _ in range(10)))
    assert loads == 1
    assert {item["name"] for item in found} == {"shared"}
    assert await cache.get_workflow("t1", "w1") == found[0]


async def test_cache_a_failed_load_is_not_shared() -> None:
    """Each waiter's refusal is its own (a cross-tenant miss audits per caller): after the leader fails,
    every waiter loads for itself."""
    cache = WorkflowCache()
    calls = 0

    async def load() -> dict[str, Any]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        raise LookupError(f"refused {calls}")

    results = await asyncio.gather(
        *(cache.load_workflow("t1", "w1", load) for _ in range(3)), return_exceptions=True
    )
    assert calls == 3
    assert all(isinstance(result, LookupError) for result in results)


# Webhook routes


class Lookups:
    """Stands for the route query: counts the times it runs and answers what it is told."""

    def __init__(self, answer: Any, *, delay: float = 0.0) -> None:
        self.answer = answer
        self.delay = delay
        self.runs = 0

    async def __call__(self) -> Any:
        self.runs += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        return self.answer


async def reload_under_way(tiers: Tiers, reloaded: dict[str, Any]) -> asyncio.Task[dict[str, Any]]:
    """Workflow ``w`` of tenant ``a`` loaded, aged past REFRESH_AFTER, and a read reloading it (50 ms)."""
    await tiers.cache.load_workflow("a", "w", Lookups(workflow("a", "w")))
    tiers.clock.advance(REFRESH_AFTER)
    reload = asyncio.create_task(tiers.cache.load_workflow("a", "w", Lookups(reloaded, delay=0.05)))
    await asyncio.sleep(0.01)
    return reload


async def test_an_aging_workflow_is_loaded_again_by_one_read_while_the_others_read_the_copy(
    tiers: Tiers,
) -> None:
    """Past REFRESH_AFTER the first read reloads; reads meanwhile get the copy at once, not the wait."""
    newer = workflow("a", "w", version=2)
    reload = await reload_under_way(tiers, newer)
    meanwhile = Lookups(None)
    assert await tiers.cache.load_workflow("a", "w", meanwhile) == workflow("a", "w")
    assert await reload == newer
    assert await tiers.cache.load_workflow("a", "w", meanwhile) == newer and meanwhile.runs == 0


async def test_a_copy_never_outlives_the_hot_ttl_while_it_is_reloaded(tiers: Tiers) -> None:
    reload = await reload_under_way(tiers, workflow("a", "w"))
    tiers.clock.advance(HOT_TTL - REFRESH_AFTER)  # expired: the read waits for a load of its own
    late = Lookups(workflow("a", "w", version=3))
    assert (await tiers.cache.load_workflow("a", "w", late))["version"] == 3 and late.runs == 1
    await reload


async def test_a_change_during_a_reload_keeps_the_reloaded_copy_out(tiers: Tiers) -> None:
    reload = await reload_under_way(tiers, workflow("a", "w"))
    await tiers.cache.workflow_changed("a", "w")  # the reload read the row before this write
    await reload
    assert await tiers.cache.get_workflow("a", "w") is None


async def test_a_route_found_is_kept_briefly_per_tenant(tiers: Tiers) -> None:
    cache = tiers.cache
    in_a, in_b = Lookups("route of a"), Lookups(None)
    for _ in range(3):
        assert await cache.find_route("a", "POST", "hook", in_a) == "route of a"
        assert await cache.find_route("b", "POST", "hook", in_b) is None  # "none here" is kept too
    assert (in_a.runs, in_b.runs) == (1, 1)
    assert await cache.find_route("a", "GET", "hook", in_a) == "route of a" and in_a.runs == 2
    tiers.clock.advance(HOT_TTL)
    await cache.find_route("a", "POST", "hook", in_a)
    assert in_a.runs == 3


async def test_an_aging_route_is_loaded_again_by_one_call_while_the_others_read_it(tiers: Tiers) -> None:
    cache = tiers.cache
    await cache.find_route("a", "POST", "hook", Lookups("route of a"))
    tiers.clock.advance(REFRESH_AFTER)
    reload = asyncio.create_task(cache.find_route("a", "POST", "hook", Lookups("moved", delay=0.05)))
    await asyncio.sleep(0.01)
    meanwhile = Lookups(None)
    assert await cache.find_route("a", "POST", "hook", meanwhile) == "route of a" and meanwhile.runs == 0
    assert await reload == "moved"
    assert await cache.find_route("a", "POST", "hook", meanwhile) == "moved" and meanwhile.runs == 0


async def test_concurrent_misses_of_a_route_share_one_load(tiers: Tiers) -> None:
    """When a route expires under load every call in flight misses at once: one load answers them all."""
    lookups = Lookups("route of a", delay=0.01)
    found = await asyncio.gather(*(tiers.cache.find_route("a", "POST", "hook", lookups) for _ in range(10)))
    assert found == ["route of a"] * 10 and lookups.runs == 1


async def test_a_workflow_change_drops_its_tenants_routes_only(tiers: Tiers) -> None:
    cache = tiers.cache
    in_a, in_b = Lookups(None), Lookups("route of b")
    await cache.find_route("a", "POST", "hook", in_a)
    await cache.find_route("b", "POST", "hook", in_b)
    in_a.answer = "enabled since"
    await cache.workflow_changed("a", "w1")
    assert await cache.find_route("a", "POST", "hook", in_a) == "enabled since"
    await cache.find_route("b", "POST", "hook", in_b)
    assert (in_a.runs, in_b.runs) == (2, 1)


async def test_a_lookup_that_a_change_overtook_is_not_kept(tiers: Tiers) -> None:
    cache = tiers.cache

    async def read_before_the_change() -> str:
        await cache.workflow_changed("a", "w1")  # commits while the lookup's answer is on its way
        return "stale"

    assert await cache.find_route("a", "POST", "hook", read_before_the_change) == "stale"
    fresh = Lookups("fresh")
    assert await cache.find_route("a", "POST", "hook", fresh) == "fresh" and fresh.runs == 1
