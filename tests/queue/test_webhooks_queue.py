"""``responseMode: responseNode`` in the queue mode: a worker runs the execution and its Respond to Webhook
node's answer reaches the API process over Redis (a ``webhook.response`` event), as soon as the node ran;
the events stream shows that it answered, never the body. Without Redis such a webhook is refused before
it runs."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tenantflow.api.app import create_app
from tenantflow.engine.errors import ErrorCode
from tenantflow.settings import Settings
from tests.api.conftest import expect_error
from tests.queue.conftest import Api, CountingServer, Workers, chain, create_workflow, poll
from tests.served import admin_client

pytestmark = pytest.mark.anyio

ORIGIN = "http://tenantflow.test"


def hooked(path: str, after: list[dict[str, Any]]) -> dict[str, Any]:
    """An enabled workflow whose ``responseNode`` Webhook node at ``path`` feeds the ``after`` nodes."""
    document = chain(f"hook {path}", after)
    document["nodes"][0] = {
        "id": "w1",
        "name": "Start",
        "type": "n8n-nodes-base.webhook",
        "typeVersion": 2,
        "position": [0, 0],
        "parameters": {"httpMethod": "POST", "path": path, "responseMode": "responseNode"},
    }
    return {**document, "active": True}


def respond(**parameters: Any) -> dict[str, Any]:
    return {
        "id": "r1",
        "name": "Respond",
        "type": "n8n-nodes-base.respondToWebhook",
        "typeVersion": 1.1,
        "parameters": parameters,
    }


def stalled_call(port: int) -> dict[str, Any]:
    """An HTTP Request to the counting server's stalled path: the run waits there until the test lets go."""
    return {
        "id": "h1",
        "name": "Call",
        "type": "n8n-nodes-base.httpRequest",
        "typeVersion": 4.2,
        "parameters": {"url": f"http://127.0.0.1:{port}/slow"},
    }


def unique_path() -> str:
    return f"in/{uuid.uuid4().hex[:10]}"


async def test_a_workers_respond_node_answers_while_the_run_goes_on(
    api: Api, workers: Workers, counting_server: CountingServer
) -> None:
    workers.start()
    where, marker = unique_path(), uuid.uuid4().hex
    counting_server.stall = "/slow"
    body = f'={{{{ JSON.stringify({{"got": $json.body.who, "marker": "{marker}"}}) }}}}'
    headers = {"entries": [{"name": "X-Made-By", "value": "a worker"}]}
    answer = respond(
        respondWith="json", responseBody=body, options={"responseCode": 201, "responseHeaders": headers}
    )
    await create_workflow(api.client, hooked(where, [answer, stalled_call(counting_server.port)]))
    response = await api.client.post(f"{ORIGIN}/webhook/{api.tenant}/{where}", json={"who": "ada"})
    assert response.status_code == 201, response.text + workers.logs()
    assert response.json() == {"got": "ada", "marker": marker}
    assert response.headers["x-made-by"] == "a worker"
    execution_id = response.headers["x-execution-id"]
    running = (await api.client.get(f"/executions/{execution_id}")).json()
    assert running["status"] == "running", running  # answered before the stalled node let the run end
    counting_server.released.set()
    await poll(api.client, execution_id, lambda execution: execution["status"] == "success", 20)
    events = await api.client.get(f"/executions/{execution_id}/events")
    assert "event: webhook.response" in events.text and '"statusCode": 201' in events.text, events.text
    assert marker not in events.text  # the body crossed sealed


async def test_a_file_crosses_from_the_worker(api: Api, workers: Workers) -> None:
    workers.start()
    where = unique_path()
    await create_workflow(api.client, hooked(where, [respond(respondWith="binary")]))
    data = bytes(range(256)) * 8
    response = await api.client.post(
        f"{ORIGIN}/webhook/{api.tenant}/{where}", content=data, headers={"Content-Type": "image/png"}
    )
    assert response.status_code == 200, response.text + workers.logs()
    assert response.content == data and response.headers["content-type"] == "image/png"


async def test_a_run_that_ends_without_answering_is_webhook_no_response(api: Api, workers: Workers) -> None:
    workers.start()
    where = unique_path()
    noop = {"id": "n1", "name": "Pass", "type": "n8n-nodes-base.noOp", "typeVersion": 1}
    await create_workflow(api.client, hooked(where, [noop]))
    response = await api.client.post(f"{ORIGIN}/webhook/{api.tenant}/{where}", json={})
    error = expect_error(response, 500, ErrorCode.WEBHOOK_NO_RESPONSE)
    assert error["message"] == "No Respond to Webhook node answered the call", error
    assert error["details"]["status"] == "success"


async def test_without_redis_a_response_node_webhook_is_refused_before_it_runs(
    queue_settings: Settings,
) -> None:
    app = create_app(queue_settings.model_copy(update={"redis_url": None}))
    async with app.router.lifespan_context(app), admin_client(app, "queue") as (client, tenant):
        where = unique_path()
        await create_workflow(client, hooked(where, [respond(respondWith="text", responseBody="hi")]))
        response = await client.post(f"{ORIGIN}/webhook/{tenant}/{where}", json={})
        error = expect_error(response, 503, ErrorCode.SERVICE_UNAVAILABLE)
        assert "TENANTFLOW_REDIS_URL" in error["message"]
        listed = await client.get("/executions")
        assert listed.status_code == 200 and listed.json()["items"] == [], listed.text
