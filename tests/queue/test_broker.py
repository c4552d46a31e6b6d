"""Which Taskiq broker ``TENANTFLOW_BROKER_URL`` makes: RabbitMQ for amqp://, a Redis list for redis://,
and a clear refusal for anything else; and the one message the executions queued together share."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from redis.asyncio import Redis
from taskiq import BrokerMessage
from taskiq_aio_pika import AioPikaBroker
from taskiq_redis import ListQueueBroker

from tenantflow.queue.broker import TASK_NAME, Coalescer, RedisListBroker, dispatcher, make_broker
from tenantflow.settings import ConfigurationError, Settings
from tests.conftest import REDIS_VAR, required_env


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("amqp://guest:guest@127.0.0.1:5672/", AioPikaBroker),
        ("amqps://guest:guest@rabbit.example:5671/", AioPikaBroker),
        ("redis://127.0.0.1:6379/1", ListQueueBroker),
        ("rediss://redis.example:6380/0", ListQueueBroker),
    ],
)
def test_the_url_chooses_the_broker_and_the_task_is_registered(url: str, kind: type) -> None:
    broker = make_broker(Settings(broker_url=url, broker_queue="tenantflow.jobs"))
    assert isinstance(broker, kind)
    assert broker.find_task(TASK_NAME) is not None
    if isinstance(broker, ListQueueBroker):
        assert broker.queue_name == "tenantflow.jobs"  # the list the API pushes to and workers pop


@pytest.mark.parametrize("url", ["http://127.0.0.1:5672/", "nats://127.0.0.1:4222", None])
def test_another_url_is_refused_with_the_setting_named(url: str | None) -> None:
    with pytest.raises(ConfigurationError, match="TENANTFLOW_BROKER_URL must be an amqp://"):
        make_broker(Settings(broker_url=url))


# ----- one message for the executions queued together ---------------------------------------------------
class Sent:
    """A send that records its messages; ``hold`` keeps each send waiting until released, ``refuse``
    makes the next one fail."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, str, int]] = []
        self.hold: asyncio.Event | None = None
        self.refuse = False

    async def __call__(self, tenant_id: str, execution_id: str, covers: int) -> None:
        self.messages.append((tenant_id, execution_id, covers))
        if self.hold is not None:
            await self.hold.wait()
        if self.refuse:
            self.refuse = False
            raise ConnectionError("the broker went away")


@pytest.mark.anyio
async def test_executions_dispatched_together_share_one_message_per_tenant() -> None:
    sent = Sent()
    coalescer = Coalescer(sent)
    await asyncio.gather(
        *(coalescer.dispatch("acme", f"e{n}") for n in range(5)),
        coalescer.dispatch("other", "o1"),
    )
    assert sorted(sent.messages) == [("acme", "e4", 5), ("other", "o1", 1)]


@pytest.mark.anyio
async def test_what_comes_while_a_message_is_sent_goes_in_the_next_one() -> None:
    sent = Sent()
    sent.hold = asyncio.Event()
    coalescer = Coalescer(sent)
    first = asyncio.create_task(coalescer.dispatch("acme", "e1"))
    await asyncio.sleep(0)
    await asyncio.sleep(0)  # e1's message is on its way
    later = [asyncio.create_task(coalescer.dispatch("acme", f"e{n}")) for n in (2, 3)]
    await asyncio.sleep(0)
    assert sent.messages == [("acme", "e1", 1)] and not first.done()
    sent.hold.set()
    await asyncio.gather(first, *later)
    assert sent.messages == [("acme", "e1", 1), ("acme", "e3", 2)]


@pytest.mark.anyio
async def test_a_refused_message_fails_each_of_its_dispatches_and_the_next_goes_on() -> None:
    sent = Sent()
    sent.refuse = True
    coalescer = Coalescer(sent)
    refused = await asyncio.gather(
        coalescer.dispatch("acme", "e1"), coalescer.dispatch("acme", "e2"), return_exceptions=True
    )
    assert [type(outcome) for outcome in refused] == [ConnectionError, ConnectionError]
    await coalescer.dispatch("acme", "e3")
    assert sent.messages == [("acme", "e2", 2), ("acme", "e3", 1)]


@pytest.mark.anyio
async def test_the_dispatcher_sends_one_message_on_the_real_broker() -> None:
    url = required_env(REDIS_VAR)
    queue = f"tftest.coalesce.{uuid.uuid4().hex[:8]}"
    broker = make_broker(Settings(broker_url=url, broker_queue=queue))
    await broker.startup()
    redis = Redis.from_url(url)
    try:
        dispatch = dispatcher(broker)
        await asyncio.gather(*(dispatch("acme", f"e{n}") for n in range(4)))
        messages = await redis.lrange(queue, 0, -1)
        assert len(messages) == 1
        assert json.loads(messages[0])["args"] == ["acme", "e3", 4]
    finally:
        await redis.delete(queue)
        await redis.aclose()
        await broker.shutdown()


def message(body: bytes) -> BrokerMessage:
    return BrokerMessage(task_id=uuid.uuid4().hex, task_name=TASK_NAME, message=body, labels={})


@pytest.mark.anyio
async def test_the_redis_list_broker_hands_on_what_is_pushed_and_outlives_a_lost_connection() -> None:
    """One client for the broker's life: a BRPOP whose connection Redis cut is logged and made again."""
    url, name = required_env(REDIS_VAR), f"tenantflow.test.{uuid.uuid4().hex[:10]}"
    broker = RedisListBroker(url, queue_name=name)
    received = broker.listen()
    try:
        await broker.kick(message(b"one"))
        assert await asyncio.wait_for(anext(received), 5) == b"one"
        waiting = asyncio.ensure_future(anext(received))
        async with Redis.from_url(url) as admin:
            for _ in range(50):  # until its BRPOP blocks
                blocked = [c for c in await admin.client_list() if c["cmd"] == "brpop"]
                if blocked:
                    break
                await asyncio.sleep(0.05)
            assert blocked
            for client in blocked:
                await admin.client_kill_filter(_id=client["id"])
            await broker.kick(message(b"two"))
            assert await asyncio.wait_for(waiting, 10) == b"two"
            await admin.delete(name)
    finally:
        await received.aclose()
        await broker.shutdown()
