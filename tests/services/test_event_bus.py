"""One contract for every event bus: what the events route and the execution service rely on.

Each contract test runs on :class:`InProcessEventBus` and on :class:`RedisEventBus` against the real Redis
of ``TENANTFLOW_TEST_REDIS_URL``. A test's "buses" share one event space: in memory that is the one bus of
the process; on Redis each is a separate client and bus on one key prefix, as separate processes would
be, so every contract test on Redis also crosses bus instances. The Redis-only tests at the end cover
what only a shared bus can do: a subscriber in another process, and an API process that streams an
execution another one runs.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path
from typing import Any, Literal

import pytest
import redis
from redis.asyncio import Redis

from tenantflow.services.events import (
    EXECUTION_FINISHED,
    EXECUTION_STARTED,
    NODE_FINISHED,
    NODE_STARTED,
    EventBus,
    InProcessEventBus,
    ProgressEvent,
)
from tenantflow.services.events_redis import PREFIX, RedisEventBus
from tenantflow.services.executions import ExecutionService
from tenantflow.store.audit import Actor
from tenantflow.store.unit import Store
from tests.conftest import REDIS_VAR, required_env
from tests.services.test_executions import chain, collect, node, run, saved, tenant, wait

pytestmark = pytest.mark.anyio

Kind = Literal["memory", "redis"]
ROOT = Path(__file__).resolve().parents[2]


class Space:
    """Buses over one event space. In memory: the process's one bus (made with the first call's bounds).
    On Redis: a new client and bus per call, all on this test's key prefix, deleted afterwards."""

    def __init__(self, kind: Kind, redis_url: str) -> None:
        self.kind = kind
        self.redis_url = redis_url
        self.prefix = f"tftest:{uuid.uuid4().hex}:events:"
        self._memory: InProcessEventBus | None = None
        self._clients: list[Redis] = []
        self._redis_buses: list[RedisEventBus] = []

    def bus(self, **bounds: Any) -> EventBus:
        if self.kind == "memory":
            if self._memory is None:
                self._memory = InProcessEventBus(**bounds)
            return self._memory
        client = Redis.from_url(self.redis_url)
        self._clients.append(client)
        made = RedisEventBus(client, prefix=self.prefix, **bounds)
        self._redis_buses.append(made)
        return made

    async def flush(self) -> None:
        """Let every process see what was published. Only an execution's first and final events are
        visible everywhere when ``publish`` returns; on Redis the others follow within milliseconds."""
        for made in self._redis_buses:
            await made.flush()

    async def close(self) -> None:
        for made in self._redis_buses:
            await made.aclose()
        for client in self._clients:
            await client.aclose()
        with redis.Redis.from_url(self.redis_url) as admin:
            keys = list(admin.scan_iter(match=f"{self.prefix}*"))
            if keys:
                admin.delete(*keys)


@pytest.fixture
def bus_redis_url() -> str:
    """The test Redis (not ``redis_url``: that one configures the store's cache in this suite)."""
    return required_env(REDIS_VAR)


@pytest.fixture(params=["memory", "redis"])
async def space(request: pytest.FixtureRequest, bus_redis_url: str) -> AsyncIterator[Space]:
    made = Space(request.param, bus_redis_url)
    try:
        yield made
    finally:
        await made.close()


def ids() -> tuple[str, str]:
    """A fresh (tenant, execution) pair."""
    return f"t-{uuid.uuid4().hex[:12]}", uuid.uuid4().hex


def progress(nodes: int, **final: Any) -> list[ProgressEvent]:
    """An execution's events as the service publishes them: started, two per node, finished."""
    kinds = [EXECUTION_STARTED, *[NODE_STARTED, NODE_FINISHED] * nodes, EXECUTION_FINISHED]
    data: list[dict[str, Any]] = [*({"step": index} for index in range(len(kinds) - 1)), final]
    return [ProgressEvent(index + 1, kind, data[index]) for index, kind in enumerate(kinds)]


async def publish_all(bus: EventBus, tenant_id: str, execution_id: str, events: list[ProgressEvent]) -> None:
    for event in events:
        await bus.publish(tenant_id, execution_id, event)


async def held(bus: EventBus, tenant_id: str, execution_id: str) -> bool:
    """Whether the bus holds anything of the execution (running or not): its first event, if any."""
    stream = bus.subscribe(tenant_id, execution_id)
    try:
        return await asyncio.wait_for(anext(stream, None), 2) is not None
    finally:
        await leave(stream)


async def leave(stream: AsyncIterator[ProgressEvent]) -> None:
    """Stop following, as a client that disconnects does (every bus's subscribe is an async generator)."""
    assert isinstance(stream, AsyncGenerator)
    await stream.aclose()


async def within(seconds: float, events: AsyncIterator[ProgressEvent]) -> list[ProgressEvent]:
    return await asyncio.wait_for(collect(events), seconds)


# ----- the contract -------------------------------------------------------------------------------------
async def test_events_come_in_order_and_end_after_the_final_one(space: Space) -> None:
    publisher, reader = space.bus(), space.bus()
    tenant_id, execution_id = ids()
    events = progress(3, status="success", note="1 2 3 é ✓ \u0000 \n", nested={"list": [], "none": None})
    await publish_all(publisher, tenant_id, execution_id, events)
    assert await within(2, reader.subscribe(tenant_id, execution_id)) == events
    assert await within(2, publisher.subscribe(tenant_id, execution_id)) == events


async def test_a_subscriber_resumes_after_an_id(space: Space) -> None:
    publisher, reader = space.bus(), space.bus()
    tenant_id, execution_id = ids()
    events = progress(2)
    await publish_all(publisher, tenant_id, execution_id, events)
    for after in range(len(events) + 2):  # past the end: nothing, and the stream still ends
        assert await within(2, reader.subscribe(tenant_id, execution_id, after)) == events[after:]


async def test_a_live_subscriber_sees_each_event_before_the_next_is_published(space: Space) -> None:
    publisher, reader = space.bus(), space.bus()
    tenant_id, execution_id = ids()
    events = progress(3)
    await publisher.publish(tenant_id, execution_id, events[0])
    stream = reader.subscribe(tenant_id, execution_id)
    for index, event in enumerate(events):
        if index:
            await publisher.publish(tenant_id, execution_id, event)
        assert await asyncio.wait_for(anext(stream), 2) == event
    assert await asyncio.wait_for(anext(stream, None), 2) is None


async def test_a_live_subscriber_resuming_mid_way_gets_the_rest(space: Space) -> None:
    publisher, reader = space.bus(), space.bus()
    tenant_id, execution_id = ids()
    events = progress(4)
    await publish_all(publisher, tenant_id, execution_id, events[:5])
    following = asyncio.ensure_future(within(5, reader.subscribe(tenant_id, execution_id, after=2)))
    await asyncio.sleep(0.05)
    await publish_all(publisher, tenant_id, execution_id, events[5:])
    assert await following == events[2:]


async def test_a_subscriber_joining_while_others_follow_sees_its_events_at_once(space: Space) -> None:
    publisher, reader = space.bus(), space.bus()
    tenant_id, first = ids()
    _, second = ids()
    await publisher.publish(tenant_id, first, progress(1)[0])
    await publisher.publish(tenant_id, second, progress(1)[0])
    following = reader.subscribe(tenant_id, first)
    await asyncio.wait_for(anext(following), 1)
    waiting = asyncio.ensure_future(anext(following))  # now waits for live events of the first
    joining = reader.subscribe(tenant_id, second)
    assert await asyncio.wait_for(anext(joining), 1) == progress(1)[0]
    await asyncio.sleep(0.05)
    await publisher.publish(tenant_id, second, progress(1)[1])
    assert await asyncio.wait_for(anext(joining), 1) == progress(1)[1]  # not after a blocking read's timeout
    assert not waiting.done()
    waiting.cancel()
    await leave(joining)


async def test_nothing_held_ends_at_once(space: Space) -> None:
    bus = space.bus()
    tenant_id, execution_id = ids()
    assert await within(1, bus.subscribe(tenant_id, execution_id)) == []
    assert await within(1, bus.subscribe(tenant_id, execution_id, after=3)) == []


async def test_one_tenant_cannot_read_anothers_execution(space: Space) -> None:
    publisher, reader = space.bus(), space.bus()
    tenant_a, execution_id = ids()
    tenant_b, _ = ids()
    mine = progress(1, owner="a")
    await publish_all(publisher, tenant_a, execution_id, mine)
    assert await within(1, reader.subscribe(tenant_b, execution_id)) == []
    theirs = progress(2, owner="b")  # the same execution id under another tenant is another stream
    await publish_all(publisher, tenant_b, execution_id, theirs)
    assert await within(2, reader.subscribe(tenant_b, execution_id)) == theirs
    assert await within(2, reader.subscribe(tenant_a, execution_id)) == mine


async def test_ending_is_the_final_event_at_once_when_it_was_published(space: Space) -> None:
    publisher, reader = space.bus(), space.bus()
    tenant_id, execution_id = ids()
    await publish_all(publisher, tenant_id, execution_id, progress(2, status="success"))
    started = time.perf_counter()
    ended = await reader.ending(tenant_id, execution_id, 5)
    assert ended is not None and (ended.type, ended.data) == (EXECUTION_FINISHED, {"status": "success"})
    assert time.perf_counter() - started < 1


async def test_ending_hears_an_end_published_while_it_waits(space: Space) -> None:
    publisher, reader = space.bus(), space.bus()
    tenant_id, execution_id = ids()
    events = progress(2, status="error")
    await publisher.publish(tenant_id, execution_id, events[0])
    waiting = asyncio.ensure_future(reader.ending(tenant_id, execution_id, 5))
    await asyncio.sleep(0.1)
    assert not waiting.done()
    await publish_all(publisher, tenant_id, execution_id, events[1:])
    ended = await asyncio.wait_for(waiting, 2)
    assert ended is not None and ended.data == {"status": "error"}


async def test_ending_is_none_after_its_timeout_and_for_another_tenants_execution(space: Space) -> None:
    publisher, reader = space.bus(), space.bus()
    tenant_a, execution_id = ids()
    tenant_b, _ = ids()
    events = progress(1, owner="a")
    await publisher.publish(tenant_a, execution_id, events[0])
    assert await reader.ending(tenant_a, execution_id, 0.2) is None  # still running
    await publish_all(publisher, tenant_a, execution_id, events[1:])
    assert await reader.ending(tenant_b, execution_id, 0.2) is None  # the same id is not b's execution
    ended = await reader.ending(tenant_a, execution_id, 2)
    assert ended is not None and ended.data == {"owner": "a"}


async def test_waiters_of_one_execution_all_hear_its_end_and_others_hear_nothing(space: Space) -> None:
    publisher = space.bus()
    readers = [space.bus() for _ in range(3)]  # on Redis: three processes' buses
    tenant_id, execution_id = ids()
    _, other_execution = ids()
    events = progress(1, status="success")
    await publisher.publish(tenant_id, execution_id, events[0])
    await publisher.publish(tenant_id, other_execution, events[0])
    waiting = [  # two callers in each
        asyncio.ensure_future(reader.ending(tenant_id, execution_id, 5)) for reader in [*readers, *readers]
    ]
    elsewhere = asyncio.ensure_future(readers[0].ending(tenant_id, other_execution, 1))
    await asyncio.sleep(0.1)
    await publish_all(publisher, tenant_id, execution_id, events[1:])
    heard = await asyncio.wait_for(asyncio.gather(*waiting), 2)
    assert [ended.data if ended else None for ended in heard] == [{"status": "success"}] * 6
    assert await elsewhere is None


async def test_at_most_max_events_are_kept_and_the_final_one_stays(space: Space) -> None:
    publisher, reader = space.bus(max_events=3), space.bus()
    tenant_id, execution_id = ids()
    events = progress(3)
    await publish_all(publisher, tenant_id, execution_id, events[:6])
    await space.flush()
    running = reader.subscribe(tenant_id, execution_id)
    assert await asyncio.wait_for(anext(running), 2) == events[3]  # the oldest went first
    await leave(running)
    await publish_all(publisher, tenant_id, execution_id, events[6:])
    assert await within(2, reader.subscribe(tenant_id, execution_id)) == events[-3:]
    assert await within(2, reader.subscribe(tenant_id, execution_id, after=1)) == events[-3:]
    assert await within(2, reader.subscribe(tenant_id, execution_id, after=6)) == events[-2:]


async def test_finished_executions_are_dropped_after_retain_seconds(space: Space) -> None:
    publisher, reader = space.bus(retain_seconds=0.3), space.bus()
    tenant_id, finished = ids()
    _, running = ids()
    events = progress(1)
    await publish_all(publisher, tenant_id, running, events[:2])
    await publish_all(publisher, tenant_id, finished, events)
    assert await within(2, reader.subscribe(tenant_id, finished)) == events
    await asyncio.sleep(0.5)
    assert await within(1, reader.subscribe(tenant_id, finished)) == []
    assert await held(reader, tenant_id, running)  # running executions are never dropped


async def test_at_most_max_retained_finished_executions_are_kept(space: Space) -> None:
    publisher, reader = space.bus(max_retained=2), space.bus()
    tenant_id, running = ids()
    await publisher.publish(tenant_id, running, progress(1)[0])
    executions = [uuid.uuid4().hex for _ in range(3)]
    for execution_id in executions:
        await publish_all(publisher, tenant_id, execution_id, progress(1))
    assert [await held(reader, tenant_id, execution_id) for execution_id in executions] == [False, True, True]
    assert await held(reader, tenant_id, running)


async def test_the_retained_bytes_budget_drops_the_oldest_first(space: Space) -> None:
    # Each execution holds about 30 kB (JSON text in memory, Redis's MEMORY USAGE on Redis): one fits.
    publisher, reader = space.bus(max_retained_bytes=50_000), space.bus()
    tenant_id, first = ids()
    _, second = ids()
    await publish_all(publisher, tenant_id, first, progress(0, pad="x" * 30_000))
    assert await held(reader, tenant_id, first)
    await publish_all(publisher, tenant_id, second, progress(0, pad="y" * 30_000))
    assert [await held(reader, tenant_id, key) for key in (first, second)] == [False, True]


async def test_concurrent_subscribers_each_see_every_event(space: Space) -> None:
    publisher, readers = space.bus(), [space.bus(), space.bus()]
    tenant_id, _ = ids()
    # 180 subscribers per bus: more than a Redis client's pool of 100 connections, were each to hold one.
    executions = {uuid.uuid4().hex: progress(5, run=index) for index in range(60)}
    for execution_id, events in executions.items():
        await publisher.publish(tenant_id, execution_id, events[0])
    followers = [
        (execution_id, asyncio.ensure_future(within(10, reader.subscribe(tenant_id, execution_id))))
        for execution_id in executions
        for reader in readers * 3
    ]
    await asyncio.sleep(0.05)
    for step in range(1, len(progress(5))):  # the executions advance together, interleaved
        for execution_id, events in executions.items():
            await publisher.publish(tenant_id, execution_id, events[step])
        await asyncio.sleep(0.001)
    for execution_id, following in followers:
        assert await following == executions[execution_id]


async def test_a_subscriber_that_leaves_does_not_disturb_the_others(space: Space) -> None:
    publisher, reader = space.bus(), space.bus()
    tenant_id, execution_id = ids()
    events = progress(2)
    await publisher.publish(tenant_id, execution_id, events[0])
    staying = asyncio.ensure_future(within(5, reader.subscribe(tenant_id, execution_id)))
    leaving = reader.subscribe(tenant_id, execution_id)
    assert await asyncio.wait_for(anext(leaving), 2) == events[0]
    await publisher.publish(tenant_id, execution_id, events[1])
    assert await asyncio.wait_for(anext(leaving), 2) == events[1]
    await leave(leaving)
    await publish_all(publisher, tenant_id, execution_id, events[2:])
    assert await staying == events
    assert await within(2, reader.subscribe(tenant_id, execution_id, after=4)) == events[4:]


# ----- what only a shared bus does (Redis) --------------------------------------------------------------
@pytest.fixture
async def shared(bus_redis_url: str) -> AsyncIterator[Space]:
    made = Space("redis", bus_redis_url)
    try:
        yield made
    finally:
        await made.close()


async def test_a_subscriber_in_another_process_sees_events_live(shared: Space) -> None:
    publisher = shared.bus()
    tenant_id, execution_id = ids()
    events = progress(3, status="success")
    await publisher.publish(tenant_id, execution_id, events[0])
    peer = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.services.event_bus_peer",
        shared.redis_url,
        shared.prefix,
        tenant_id,
        execution_id,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    assert peer.stdout is not None
    try:
        for index, event in enumerate(events):
            if index:
                await publisher.publish(tenant_id, execution_id, event)
            line = await asyncio.wait_for(peer.stdout.readline(), 20 if index == 0 else 2)
            received = json.loads(line)
            assert ProgressEvent(received["id"], received["type"], received["data"]) == event
        assert await asyncio.wait_for(peer.wait(), 5) == 0
    finally:
        if peer.returncode is None:
            peer.kill()
            await peer.wait()


async def test_streams_are_keyed_by_tenant_and_execution_and_expire(shared: Space) -> None:
    client = Redis.from_url(shared.redis_url)
    tenant_id, execution_id = ids()
    key = f"{PREFIX}{tenant_id}:{execution_id}"  # the default prefix: tenantflow:events:{tenant}:{execution}
    try:
        bus = RedisEventBus(client)
        await bus.publish(tenant_id, execution_id, progress(1)[0])
        entries: Any = await client.xrange(key)
        assert [entry_id for entry_id, _ in entries] == [b"0-1"]  # the event id is the entry id
        assert 23 * 3600_000 < await client.pttl(key) <= 24 * 3600_000  # running: abandon_seconds
    finally:
        await client.delete(key)
        await client.aclose()


async def test_an_id_published_twice_keeps_the_first_and_the_end_expires(shared: Space) -> None:
    publisher, admin = shared.bus(retain_seconds=30), Redis.from_url(shared.redis_url)
    tenant_id, execution_id = ids()
    key = f"{shared.prefix}{tenant_id}:{execution_id}"
    events = progress(1)
    try:
        await publisher.publish(tenant_id, execution_id, ProgressEvent(1, EXECUTION_STARTED, {"first": True}))
        await publish_all(publisher, tenant_id, execution_id, events)
        stored: Any = await admin.xrange(key)
        assert [entry_id for entry_id, _ in stored] == [f"0-{event.id}".encode() for event in events]
        assert json.loads(stored[0][1][b"d"]) == {"first": True}
        assert 0 < await admin.pttl(key) <= 30_000  # retain_seconds after execution.finished
        await publisher.publish(tenant_id, execution_id, events[1])
        await shared.flush()
        assert 0 < await admin.pttl(key) <= 30_000  # a late repeat does not keep it longer
    finally:
        await admin.aclose()


async def test_a_followed_stream_that_vanishes_ends_its_subscribers(shared: Space) -> None:
    publisher, reader = shared.bus(), shared.bus(block_seconds=0.2)
    tenant_id, execution_id = ids()
    await publisher.publish(tenant_id, execution_id, progress(1)[0])
    following = asyncio.ensure_future(within(3, reader.subscribe(tenant_id, execution_id)))
    await asyncio.sleep(0.05)
    admin = Redis.from_url(shared.redis_url)
    try:
        await admin.delete(f"{shared.prefix}{tenant_id}:{execution_id}")
    finally:
        await admin.aclose()
    assert await following == progress(1)[:1]  # then the caller replays from the store


async def test_a_waiter_registers_its_inbox_until_the_end_which_copies_itself_there(shared: Space) -> None:
    publisher, reader, admin = shared.bus(), shared.bus(), Redis.from_url(shared.redis_url)
    tenant_id, execution_id = ids()
    waiting_key = f"{shared.prefix}{tenant_id}:{execution_id}~waiting"
    events = progress(1, status="success")
    try:
        await publisher.publish(tenant_id, execution_id, events[0])
        waiting = asyncio.ensure_future(reader.ending(tenant_id, execution_id, 30))
        for _ in range(100):
            if await admin.exists(waiting_key):
                break
            await asyncio.sleep(0.01)
        inboxes: Any = await admin.smembers(waiting_key)
        assert len(inboxes) == 1
        assert 60_000 < await admin.pttl(waiting_key) <= 90_000  # the wait's 30 s and a minute more
        await publish_all(publisher, tenant_id, execution_id, events[1:])
        assert (await asyncio.wait_for(waiting, 2)) is not None
        assert not await admin.exists(waiting_key)  # the end dropped the registration
        (inbox,) = inboxes
        assert 0 < await admin.pttl(inbox) <= 90_000  # an inbox expires when its process is gone
        entries: Any = await admin.xrange(inbox)
        assert [json.loads(fields[b"d"]) for _, fields in entries] == [{"status": "success"}]
    finally:
        await admin.aclose()


async def test_a_waiter_hears_none_at_once_when_its_bus_closes(shared: Space) -> None:
    publisher, reader = shared.bus(), shared.bus()
    tenant_id, execution_id = ids()
    await publisher.publish(tenant_id, execution_id, progress(1)[0])
    waiting = asyncio.ensure_future(reader.ending(tenant_id, execution_id, 30))
    await asyncio.sleep(0.2)  # registered, its inbox read
    await reader.aclose()
    assert await asyncio.wait_for(waiting, 1) is None  # the caller reads the store


async def test_ending_is_none_at_once_when_redis_is_unreachable() -> None:
    client = Redis.from_url("redis://127.0.0.1:1/0")  # nothing listens there
    tenant_id, execution_id = ids()
    started = time.perf_counter()
    try:
        assert await RedisEventBus(client).ending(tenant_id, execution_id, 10) is None
    finally:
        await client.aclose()
    assert time.perf_counter() - started < 2


async def test_publishing_never_fails_when_redis_is_unreachable() -> None:
    client = Redis.from_url("redis://127.0.0.1:1/0")  # nothing listens there
    bus = RedisEventBus(client, publish_timeout=2)
    tenant_id, execution_id = ids()
    started = time.perf_counter()
    try:
        await publish_all(bus, tenant_id, execution_id, progress(2))
        assert await within(3, bus.subscribe(tenant_id, execution_id)) == []
    finally:
        await client.aclose()
    assert time.perf_counter() - started < 2


async def test_a_stop_request_reaches_every_listener_on_a_shared_bus(bus_redis_url: str) -> None:
    space = Space("redis", bus_redis_url)
    try:
        listening, asking = space.bus(), space.bus()
        heard = listening.stop_requests()
        first = asyncio.ensure_future(anext(heard))
        await asyncio.sleep(0.2)  # subscribed before the request, as a worker is before it runs anything
        tenant_id, execution_id = ids()
        await asking.request_stop(tenant_id, execution_id)
        assert await asyncio.wait_for(first, 2) == (tenant_id, execution_id)
        await leave_stops(heard)
    finally:
        await space.close()


async def test_an_in_process_bus_hears_no_stop_requests(bus_redis_url: str) -> None:
    bus = Space("memory", bus_redis_url).bus()
    heard = bus.stop_requests()
    await bus.request_stop(*ids())  # its executions run here: nobody else to tell
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(anext(heard), 0.2)


async def leave_stops(stream: AsyncIterator[tuple[str, str]]) -> None:
    assert isinstance(stream, AsyncGenerator)
    await stream.aclose()


# ----- the execution service on either bus (moved from test_executions.py) -------------------------------
@pytest.fixture
async def actor(store: Store) -> Actor:
    return await tenant(store, "a")


@pytest.fixture
async def service(store: Store, space: Space) -> AsyncIterator[ExecutionService]:
    running = ExecutionService(store, space.bus())
    await running.start()
    try:
        yield running
    finally:
        await running.shutdown()


async def test_events_replay_after_the_end_and_resume_after_an_id(
    store: Store, service: ExecutionService, actor: Actor
) -> None:
    workflow_id = await saved(store, actor, chain("events", node("One", "noOp"), node("Two", "noOp")))
    view = await run(service, actor, workflow_id)
    events = await collect(service.events(actor, view.id))
    assert [e.id for e in events] == list(range(1, len(events) + 1))
    assert events[0].type == "execution.started" and events[-1].type == EXECUTION_FINISHED
    finished = [e.data for e in events if e.type == NODE_FINISHED]
    assert [d["node"] for d in finished] == ["Start", "One", "Two"] and finished[1]["items"] == [1]
    assert "output" not in finished[1]
    assert events[-1].data == view.to_dict()
    resumed = await collect(service.events(actor, view.id, after=events[-3].id))
    assert resumed == events[-2:]


async def test_events_of_an_execution_the_bus_no_longer_holds_come_from_the_store(
    store: Store, space: Space, actor: Actor
) -> None:
    service = ExecutionService(store, space.bus(retain_seconds=0))
    await service.start()
    try:
        view = await run(service, actor, await saved(store, actor, chain("gone", node("One", "noOp"))))
        events = await collect(service.events(actor, view.id))
        assert [e.type for e in events] == [NODE_FINISHED, NODE_FINISHED, EXECUTION_FINISHED]
        assert events[-1].data["status"] == "success"
        late = await collect(service.events(actor, view.id, after=10))
        assert [(e.id, e.type) for e in late] == [(11, EXECUTION_FINISHED)]
    finally:
        await service.shutdown()


async def test_live_subscribers_see_every_event(
    store: Store, service: ExecutionService, actor: Actor
) -> None:
    summary = await service.submit(
        actor, await saved(store, actor, chain("live", wait(0.3), node("After", "noOp")))
    )
    events = await asyncio.wait_for(collect(service.events(actor, summary.id)), 5)
    assert [e.type for e in events][-1] == EXECUTION_FINISHED and events[-1].data["status"] == "success"
    assert [e.data["node"] for e in events if e.type == NODE_FINISHED] == ["Start", "Wait", "After"]


async def test_an_api_process_streams_live_what_another_one_runs(
    store: Store, shared: Space, actor: Actor
) -> None:
    runner, watcher = ExecutionService(store, shared.bus()), ExecutionService(store, shared.bus())
    await runner.start()
    await watcher.start()
    try:
        workflow_id = await saved(store, actor, chain("elsewhere", wait(0.3), node("After", "noOp")))
        summary = await runner.submit(actor, workflow_id)
        stream = watcher.events(actor, summary.id)
        first = await asyncio.wait_for(anext(stream), 2)
        assert first.type == EXECUTION_STARTED  # live: the run has not finished yet
        assert await runner.wait(actor.tenant_id, summary.id, 0) is None
        rest = await asyncio.wait_for(collect(stream), 5)
        assert [e.id for e in [first, *rest]] == list(range(1, len(rest) + 2))
        assert [e.data["node"] for e in rest if e.type == NODE_STARTED] == ["Start", "Wait", "After"]
        assert rest[-1].type == EXECUTION_FINISHED and rest[-1].data["status"] == "success"
    finally:
        await watcher.shutdown()
        await runner.shutdown()
