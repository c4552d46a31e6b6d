"""The Taskiq broker both sides share, and its one task: run the execution ``(tenant_id, execution_id)``.

``TENANTFLOW_BROKER_URL`` chooses it:

- ``amqp://`` (the production default): RabbitMQ through taskiq-aio-pika; the queue (and exchange) is named
  by ``TENANTFLOW_BROKER_QUEUE``. The task acknowledges by hand (``ack_type="manual"``): right after the
  worker's claim on the row commits, so a worker killed before that leaves the message to RabbitMQ to
  deliver again, and a long run never meets a broker's acknowledgement deadline.
- ``redis://``: a Redis list of that name (taskiq-redis's ``ListQueueBroker``: LPUSH, BRPOP), for a
  deployment that runs Redis anyway and not RabbitMQ. It has no acknowledgements: a message popped by a
  worker killed before its claim is gone. Nothing depends on it, though: the row stays ``queued``, any
  worker's next round of claims takes it (a round takes the oldest rows in turn, whichever message woke
  it), and the reapers send it again after ``TENANTFLOW_REQUEUE_AFTER_SECONDS``. It saves running
  RabbitMQ, not time: on the webhook path the two measured alike (README, queue mode).

The message carries ids only; the worker reads everything else from the row. As a message only says
that a tenant's work waits, and a worker's round of claims takes every queued row its free slots hold, the
executions a process queues while its last message to the tenant is on its way share the next message
(:func:`dispatcher`): at 16 concurrent webhooks, about one message per five executions.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from taskiq import AsyncBroker, BrokerMessage, Context, TaskiqDepends
from taskiq.acks import AcknowledgeType
from taskiq_aio_pika import AioPikaBroker, Exchange, Queue
from taskiq_redis import ListQueueBroker

from tenantflow.settings import ConfigurationError, Settings

if TYPE_CHECKING:
    from tenantflow.services.executions import Dispatch

TASK_NAME: Final = "tenantflow.run_execution"
RECONNECT_SECONDS: Final = 1.0
WORKER_STATE: Final = "tenantflow_worker"  # the broker state's attribute that holds the process's Worker

__all__ = ["TASK_NAME", "Coalescer", "RedisListBroker", "dispatcher", "make_broker"]

log = logging.getLogger("tenantflow.queue")


def make_broker(settings: Settings) -> AsyncBroker:
    """The broker ``TENANTFLOW_BROKER_URL`` names, with :func:`run_execution` registered on it."""
    url = settings.broker_url
    name = settings.broker_queue
    broker: AsyncBroker
    if url is not None and url.startswith(("redis://", "rediss://", "unix://")):
        broker = RedisListBroker(url, queue_name=name)
    elif url is not None and url.startswith(("amqp://", "amqps://")):
        broker = AioPikaBroker(
            url,
            exchange=Exchange(name=name),
            task_queues=[Queue(name=name)],
            dead_letter_queue=Queue(name=f"{name}.dead_letter"),
            qos=settings.worker_concurrency,
        )
    else:
        raise ConfigurationError(
            f"TENANTFLOW_BROKER_URL must be an amqp:// (RabbitMQ) or redis:// URL, not {url!r}"
        )
    broker.register_task(run_execution, task_name=TASK_NAME, ack_type=AcknowledgeType.MANUAL.value)
    return broker


class RedisListBroker(ListQueueBroker):
    """taskiq-redis's list broker with one Redis client for its life: the library makes a client for every
    LPUSH and every BRPOP, which cost about as much as sending the command (py-spy, webhooks at c=16)."""

    def __init__(self, url: str, *, queue_name: str) -> None:
        super().__init__(url, queue_name=queue_name)
        self._redis = Redis(connection_pool=self.connection_pool)

    async def kick(self, message: BrokerMessage) -> None:
        await self._redis.lpush(message.labels.get("queue_name") or self.queue_name, message.message)

    async def listen(self) -> AsyncGenerator[bytes, None]:
        while True:
            try:
                popped = await self._redis.brpop([self.queue_name])
            except (RedisConnectionError, OSError) as error:  # Redis restarts: wait for it, as the reapers do
                log.warning("the Redis list broker lost its connection: %s", error)
                await asyncio.sleep(RECONNECT_SECONDS)
                continue
            if popped is not None:
                yield popped[1]  # type: ignore[misc]  # bytes: the pool does not decode responses

    async def shutdown(self) -> None:
        await self._redis.aclose()
        await super().shutdown()


def dispatcher(broker: AsyncBroker) -> Dispatch:
    """What :class:`~tenantflow.services.executions.ExecutionService` calls to send an execution: a
    :class:`Coalescer` of the broker's task."""
    task = broker.find_task(TASK_NAME)
    if task is None:
        raise ConfigurationError("the broker was not made by make_broker")

    async def send(tenant_id: str, execution_id: str, covers: int) -> None:
        await task.kiq(tenant_id, execution_id, covers)

    return Coalescer(send).dispatch


@dataclass
class _Message:
    """The next message to a tenant: the executions it covers, and who waits for it to be sent."""

    execution_ids: list[str] = field(default_factory=list)
    sent: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class Coalescer:
    """One message at a time per tenant: executions dispatched while the tenant's last message is being
    sent (or in the same turn of the event loop) share the next one, which names the last of them and
    how many it covers. Each dispatch returns once its message is sent, or raises what sending raised."""

    def __init__(self, send: Callable[[str, str, int], Awaitable[None]]) -> None:
        self._send = send
        self._next: dict[str, _Message] = {}  # tenant -> the message still collecting executions
        self._senders: dict[str, asyncio.Task[None]] = {}  # tenant -> the task sending its messages

    async def dispatch(self, tenant_id: str, execution_id: str) -> None:
        message = self._next.get(tenant_id)
        if message is None:
            message = self._next[tenant_id] = _Message()
        message.execution_ids.append(execution_id)
        if tenant_id not in self._senders:
            self._senders[tenant_id] = asyncio.create_task(self._send_all(tenant_id))
        await asyncio.shield(message.sent)

    async def _send_all(self, tenant_id: str) -> None:
        try:
            while (message := self._next.pop(tenant_id, None)) is not None:
                try:
                    await self._send(tenant_id, message.execution_ids[-1], len(message.execution_ids))
                except Exception as error:  # each dispatch of the message hears it
                    message.sent.set_exception(error)
                except BaseException:  # cancelled (the process stops): so are its dispatches
                    message.sent.cancel()
                    raise
                else:
                    message.sent.set_result(None)
        finally:
            del self._senders[tenant_id]


_CONTEXT: Final[Any] = TaskiqDepends()  # Taskiq fills the parameter with the message's Context


async def run_execution(
    tenant_id: str, execution_id: str, covers: int = 1, context: Context = _CONTEXT
) -> None:
    """The task: hand the message to this process's worker, which acknowledges it once it claimed (a
    Redis list's message has nothing to acknowledge). ``covers``: how many executions the message stands
    for (:class:`Coalescer`); ``execution_id`` is the last of them."""
    worker: Any = getattr(context.state, WORKER_STATE)
    await worker.handle(
        tenant_id, execution_id, context.ack if context.is_ackable else _nothing, covers=covers
    )


async def _nothing() -> None:
    """What acknowledging a message of a broker without acknowledgements does."""
