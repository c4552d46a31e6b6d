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

The message carries ids only; the worker reads everything else from the row.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from taskiq import AsyncBroker, Context, TaskiqDepends
from taskiq.acks import AcknowledgeType
from taskiq_aio_pika import AioPikaBroker, Exchange, Queue
from taskiq_redis import ListQueueBroker

from tenantflow.settings import ConfigurationError, Settings

if TYPE_CHECKING:
    from tenantflow.services.executions import Dispatch

TASK_NAME: Final = "tenantflow.run_execution"
WORKER_STATE: Final = "tenantflow_worker"  # the broker state's attribute that holds the process's Worker

__all__ = ["TASK_NAME", "dispatcher", "make_broker"]


def make_broker(settings: Settings) -> AsyncBroker:
    """The broker ``TENANTFLOW_BROKER_URL`` names, with :func:`run_execution` registered on it."""
    url = settings.broker_url
    name = settings.broker_queue
    broker: AsyncBroker
    if url is not None and url.startswith(("redis://", "rediss://", "unix://")):
        broker = ListQueueBroker(url, queue_name=name)
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


def dispatcher(broker: AsyncBroker) -> Dispatch:
    """What :class:`~tenantflow.services.executions.ExecutionService` calls to send an execution."""
    task = broker.find_task(TASK_NAME)
    if task is None:
        raise ConfigurationError("the broker was not made by make_broker")

    async def dispatch(tenant_id: str, execution_id: str) -> None:
        await task.kiq(tenant_id, execution_id)

    return dispatch


_CONTEXT: Final[Any] = TaskiqDepends()  # Taskiq fills the parameter with the message's Context


async def run_execution(tenant_id: str, execution_id: str, context: Context = _CONTEXT) -> None:
    """The task: hand the message to this process's worker, which acknowledges it once it claimed (a
    Redis list's message has nothing to acknowledge)."""
    worker: Any = getattr(context.state, WORKER_STATE)
    await worker.handle(tenant_id, execution_id, context.ack if context.is_ackable else _nothing)


async def _nothing() -> None:
    """What acknowledging a message of a broker without acknowledgements does."""
