"""Which Taskiq broker ``TENANTFLOW_BROKER_URL`` makes: RabbitMQ for amqp://, a Redis list for redis://,
and a clear refusal for anything else."""

from __future__ import annotations

import pytest
from taskiq_aio_pika import AioPikaBroker
from taskiq_redis import ListQueueBroker

from tenantflow.queue.broker import TASK_NAME, make_broker
from tenantflow.settings import ConfigurationError, Settings


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
