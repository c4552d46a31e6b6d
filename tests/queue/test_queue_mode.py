"""The queue mode end to end: the app queues, ``tenantflow worker`` processes run, PostgreSQL and RabbitMQ
(or a Redis list, where marked ``BOTH_BROKERS``) are the machine's own. A worker killed with SIGKILL mid-run
costs only the node it was running; a message lost on the Redis list costs a delay, not the execution; an
abort reaches a node that sleeps on a worker; a worker whose lease was taken over stops writing."""

from __future__ import annotations

import asyncio
import signal
import time
from datetime import datetime, timedelta
from typing import Any

import pytest
import redis

from tenantflow.engine.errors import ErrorCode
from tenantflow.engine.record import utc_now
from tenantflow.services.events import EXECUTION_FINISHED, EXECUTION_STARTED, NODE_FINISHED
from tenantflow.settings import Settings
from tenantflow.store.audit import Actor
from tests.queue.conftest import (
    LEASE_SECONDS,
    Api,
    CountingServer,
    Workers,
    chain,
    create_workflow,
    poll,
)

pytestmark = pytest.mark.anyio

HTTP_NODES = 10
BOTH_BROKERS = pytest.mark.parametrize("queue_settings", ["amqp", "redis"], indirect=True)


def http_node(index: int, port: int) -> dict[str, Any]:
    return {
        "id": f"h{index}",
        "name": f"Call {index}",
        "type": "n8n-nodes-base.httpRequest",
        "typeVersion": 4.2,
        "parameters": {"url": f"http://127.0.0.1:{port}/node/{index}"},
    }


WAIT_NODE: dict[str, Any] = {
    "id": "wait",
    "name": "Wait",
    "type": "n8n-nodes-base.wait",
    "typeVersion": 1.1,
    "parameters": {"resume": "timeInterval", "amount": 60, "unit": "seconds"},
}


@BOTH_BROKERS
async def test_execute_and_wait_returns_the_record_a_worker_ran_and_stored(
    api: Api, workers: Workers, counting_server: CountingServer
) -> None:
    workers.start()
    nodes = [http_node(index, counting_server.port) for index in (1, 2)]
    workflow_id = await create_workflow(api.client, chain("queued", nodes))
    answered = await api.client.post(f"/workflows/{workflow_id}/execute", params={"wait": "true"})
    assert answered.status_code == 200, answered.text + workers.logs()
    record = answered.json()
    assert record["status"] == "success", record
    assert record["state"]["Call 2"]["output"][0][0]["json"] == {"ok": True}
    stored = (await api.client.get(f"/executions/{record['executionId']}")).json()
    assert stored["status"] == "success" and stored["attempt"] == 1
    assert set(stored["state"]) == {"Start", "Call 1", "Call 2"}
    assert stored["state"] == record["state"]
    assert [counting_server.count(f"/node/{index}") for index in (1, 2)] == [1, 1]


@BOTH_BROKERS
async def test_a_killed_worker_costs_only_the_node_it_was_running(
    api: Api, workers: Workers, counting_server: CountingServer
) -> None:
    interrupted = 6
    counting_server.stall = f"/node/{interrupted}"
    nodes = [http_node(index, counting_server.port) for index in range(1, HTTP_NODES + 1)]
    workflow_id = await create_workflow(api.client, chain("ten calls", nodes))
    first = workers.start()
    accepted = await api.client.post(f"/workflows/{workflow_id}/execute", params={"wait": "false"})
    assert accepted.status_code == 202, accepted.text
    execution_id = accepted.json()["executionId"]
    # Nodes 1-5 are stored and node 6 is in flight on the first worker: kill it there.
    before = await poll(api.client, execution_id, lambda run: len(run["state"]) == interrupted, 20)
    assert counting_server.count(f"/node/{interrupted}") == 1
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert before["status"] == "running" and before["attempt"] == 1
    workers.start()
    # Taken over, the row is queued again until the second worker claims it: wait for its end.
    after = await poll(api.client, execution_id, lambda run: run["status"] not in ("queued", "running"), 30)
    assert after["status"] == "success", (after, workers.logs())
    assert after["attempt"] == 2  # taken over: the dead worker's lease is fenced
    assert set(after["state"]) == {"Start", *(f"Call {index}" for index in range(1, HTTP_NODES + 1))}
    counts = [counting_server.count(f"/node/{index}") for index in range(1, HTTP_NODES + 1)]
    assert counts == [1] * (interrupted - 1) + [2] + [1] * (HTTP_NODES - interrupted), counts
    for index in range(1, interrupted):  # the stored checkpoints were reused, not rewritten
        name = f"Call {index}"
        assert after["state"][name]["startTime"] == before["state"][name]["startTime"]
    # A follower (on the API process) saw both workers' progress, the second's numbered past the first's.
    events = [
        event async for event in api.app.state.runtime.executions.events(Actor(api.tenant), execution_id)
    ]
    ids = [event.id for event in events]
    assert ids == sorted(set(ids)), ids
    finished = {event.data["node"] for event in events if event.type == NODE_FINISHED}
    assert finished == set(after["state"]), finished
    assert events[0].type == EXECUTION_STARTED and events[-1].type == EXECUTION_FINISHED


@pytest.mark.parametrize("queue_settings", ["redis"], indirect=True)
async def test_a_message_lost_from_the_redis_list_is_sent_again_and_runs(
    api: Api, workers: Workers, queue_settings: Settings
) -> None:
    instant = WAIT_NODE | {"parameters": {"resume": "timeInterval", "amount": 0, "unit": "seconds"}}
    workflow_id = await create_workflow(api.client, chain("lost", [instant]))
    accepted = await api.client.post(f"/workflows/{workflow_id}/execute", params={"wait": "false"})
    assert accepted.status_code == 202, accepted.text
    execution_id = accepted.json()["executionId"]
    with redis.Redis.from_url(str(queue_settings.broker_url)) as client:  # as if a killed worker had taken it
        assert client.delete(queue_settings.broker_queue) == 1
    workers.start()
    done = await poll(api.client, execution_id, lambda run: run["status"] not in ("queued", "running"), 20)
    assert done["status"] == "success", (done, workers.logs())


async def test_a_retry_on_a_worker_reuses_the_nodes_that_succeeded(
    api: Api, workers: Workers, counting_server: CountingServer
) -> None:
    counting_server.fail_once = "/node/2"
    workers.start()
    nodes = [http_node(index, counting_server.port) for index in (1, 2, 3)]
    workflow_id = await create_workflow(api.client, chain("retried", nodes))
    failed = (await api.client.post(f"/workflows/{workflow_id}/execute", params={"wait": "true"})).json()
    assert failed["status"] == "error", failed
    retried = await api.client.post(f"/executions/{failed['executionId']}/retry")
    assert retried.status_code == 202, retried.text
    execution_id = retried.json()["executionId"]
    done = await poll(api.client, execution_id, lambda run: run["status"] not in ("queued", "running"), 20)
    assert done["status"] == "success", (done, workers.logs())
    assert [counting_server.count(f"/node/{index}") for index in (1, 2, 3)] == [1, 2, 1]
    assert done["state"]["Call 1"] == failed["state"]["Call 1"]


async def test_abort_reaches_a_wait_node_on_a_worker_within_a_second(api: Api, workers: Workers) -> None:
    workers.start()
    execution_id = await start_waiting(api)
    await asyncio.sleep(0.3)  # the Wait node is asleep by now
    began = time.perf_counter()
    aborted = await api.client.post(f"/executions/{execution_id}/abort")
    assert aborted.status_code == 200, aborted.text
    stored = await poll(api.client, execution_id, lambda run: run["status"] != "running", 2)
    took = time.perf_counter() - began
    assert stored["status"] == "aborted", stored
    assert stored["error"]["code"] == ErrorCode.ABORTED
    assert took < 1.0, took
    assert aborted.json()["status"] == "aborted"  # the API's answer already says so


async def test_a_worker_whose_lease_was_taken_over_writes_nothing_more(api: Api, workers: Workers) -> None:
    workers.start()
    execution_id = await start_waiting(api)
    store = api.app.state.runtime.store
    later = _utc_in(LEASE_SECONDS * 10)  # as if the worker's lease had expired long ago
    async with store.unit(Actor(api.tenant)) as unit:
        thief = await unit.executions.claim(execution_id, owner="thief", lease_seconds=60, now=later)
    assert thief is not None and thief.attempt == 2
    await asyncio.sleep(LEASE_SECONDS / 3 + 0.5)  # the worker's next heartbeat finds the lease gone
    aborted = await api.client.post(f"/executions/{execution_id}/abort")  # the worker no longer listens
    assert aborted.status_code == 200, aborted.text
    await asyncio.sleep(1.0)
    stored = (await api.client.get(f"/executions/{execution_id}")).json()
    assert (stored["status"], stored["attempt"]) == ("running", 2), stored
    assert "lease lost" in workers.logs()


async def start_waiting(api: Api) -> str:
    """Queue a run of Start -> Wait (a minute) and return its id once a worker runs the Wait node."""
    workflow_id = await create_workflow(api.client, chain("waits", [WAIT_NODE]))
    accepted = await api.client.post(f"/workflows/{workflow_id}/execute", params={"wait": "false"})
    assert accepted.status_code == 202, accepted.text
    execution_id: str = accepted.json()["executionId"]
    await poll(
        api.client, execution_id, lambda run: run["status"] == "running" and "Start" in run["state"], 20
    )
    return execution_id


def _utc_in(seconds: float) -> datetime:
    return utc_now() + timedelta(seconds=seconds)
