"""The Taskiq broker both sides share, and its one task: run the execution ``(tenant_id, execution_id)``.

RabbitMQ through taskiq-aio-pika; the queue (and exchange) is named by ``TENANTFLOW_BROKER_QUEUE``. The
task acknowledges by hand (``ack_type="manual"``): right after the worker's claim on the row commits, so a
worker killed before that leaves the message to RabbitMQ to deliver again, and a long run never meets a
broker's acknowledgement deadline. The message carries ids only; the worker reads everything else from
the row.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from taskiq import AsyncBroker, Context, TaskiqDepends
from taskiq.acks import AcknowledgeType
from taskiq_aio_pika import AioPikaBroker, Exchange, Queue

from tenantflow.settings import ConfigurationError, Settings

if TYPE_CHECKING:
    from tenantflow.services.executions import Dispatch

TASK_NAME: Final = "tenantflow.run_execution"
WORKER_STATE: Final = "tenantflow_worker"  # the broker state's attribute that holds the process's Worker

__all__ = ["TASK_NAME", "dispatcher", "make_broker"]


def make_broker(settings: Settings) -> AsyncBroker:
    """The broker ``TENANTFLOW_BROKER_URL`` names, with :func:`run_execution` registered on it."""
    url = settings.broker_url
    if url is None or not url.startswith(("amqp://", "amqps://")):
        raise ConfigurationError(f"TENANTFLOW_BROKER_URL must be an amqp:// URL (RabbitMQ), not {url!r}")
    name = settings.broker_queue
    broker = AioPikaBroker(
        url,
        exchange=Exchange(name=name),
        task_queues=[Queue(name=name)],
        dead_letter_queue=Queue(name=f"{name}.dead_letter"),
        qos=settings.worker_concurrency,
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
    """The task: hand the message to this process's worker, which acknowledges it once it claimed."""
    worker: Any = getattr(context.state, WORKER_STATE)
    await worker.handle(tenant_id, execution_id, context.ack)
