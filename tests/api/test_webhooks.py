"""Webhooks served: routes follow the workflow writes, two workflows cannot claim one method and path, a
call runs the tenant's enabled workflow and answers per ``responseMode``; on SQLite and PostgreSQL.

The app is the real one (``create_app``), spoken to in-process. Tenants A and B each have an admin API key.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from tenantflow.api.app import create_app
from tenantflow.engine.errors import ErrorCode
from tenantflow.services import provisioning
from tenantflow.settings import Settings
from tenantflow.store.audit import Actor
from tenantflow.store.errors import ConflictError
from tenantflow.store.models import WebhookRoute, Workflow
from tenantflow.store.unit import Store
from tenantflow.store.webhooks import WebhookRepository
from tests.api.conftest import expect_error, unique
from tests.conftest import REDIS_VAR, required_env
from tests.served import served_settings

pytestmark = pytest.mark.anyio
BASE_URL = "http://tenantflow.test"


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@dataclass
class Site:
    app: FastAPI
    client: httpx2.AsyncClient
    a: str
    b: str
    keys: dict[str, str]

    @property
    def store(self) -> Store:
        store: Store = self.app.state.runtime.store
        return store

    async def api(self, method: str, tenant: str, suffix: str, body: Any = None) -> httpx2.Response:
        headers = {"Authorization": f"Bearer {self.keys[tenant]}"}
        extra = {} if body is None else {"json": body}
        return await self.client.request(method, f"/api/v1/{tenant}{suffix}", headers=headers, **extra)

    async def create(self, body: dict[str, Any], tenant: str | None = None) -> str:
        response = await self.api("POST", tenant or self.a, "/workflows", body)
        assert response.status_code == 201, response.text
        workflow_id: str = response.json()["id"]
        return workflow_id

    async def routes(self, workflow_id: str, tenant: str | None = None) -> list[tuple[str, str]]:
        async with self.store.unit(Actor(tenant or self.a), read_only=True) as unit:
            return await WebhookRepository(unit).list(workflow_id)

    async def count(self, model: Any, tenant: str | None = None) -> int:
        async with self.store.unit(Actor(tenant or self.a), read_only=True) as unit:
            return int(await unit.session.scalar(select(func.count()).select_from(model)) or 0)


async def _site(settings: Settings) -> AsyncIterator[Site]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        store: Store = app.state.runtime.store
        keys: dict[str, str] = {}
        tenants = unique("hook-a"), unique("hook-b")
        for tenant in tenants:
            await provisioning.create_tenant(store, tenant, tenant)
            await provisioning.create_user(store, tenant, "admin@example.com", 3)
            _, keys[tenant] = await provisioning.create_api_key(store, tenant, "admin@example.com", "admin")
        transport = httpx2.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx2.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            yield Site(app, client, *tenants, keys)


@pytest.fixture(scope="module")
async def site(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> AsyncIterator[Site]:
    postgres = database_url.startswith("postgres")
    settings = served_settings(
        database_url,
        tmp_path_factory.mktemp("webhooks"),
        redis_url=required_env(REDIS_VAR) if postgres else None,
    )
    async for site in _site(settings):
        yield site


def hook(
    path: str,
    *,
    method: str | list[str] = "POST",
    mode: str = "onReceived",
    after: list[dict[str, Any]] | None = None,
    enabled: bool = True,
    **parameters: Any,
) -> dict[str, Any]:
    """A workflow whose Webhook node feeds the ``after`` nodes in a chain (a No Op by default)."""
    webhook = {
        "id": "w1",
        "name": "Webhook",
        "type": "n8n-nodes-base.webhook",
        "typeVersion": 2,
        "position": [0, 0],
        "parameters": {"httpMethod": method, "path": path, "responseMode": mode, **parameters},
    }
    chain = after if after is not None else [noop()]
    names = ["Webhook", *(node["name"] for node in chain)]
    connections = {
        source: {"main": [[{"node": target, "type": "main", "index": 0}]]}
        for source, target in itertools.pairwise(names)
    }
    return {
        "name": unique("hook"),
        "category": "automation",
        "active": enabled,
        "nodes": [webhook, *chain],
        "connections": connections,
    }


def noop(name: str = "Pass") -> dict[str, Any]:
    return {"id": name, "name": name, "type": "n8n-nodes-base.noOp", "typeVersion": 1, "position": [200, 0]}


def greet() -> dict[str, Any]:
    """Set: ``greeting`` from the request body's ``who``."""
    value = "=hello {{ $json.body.who }}"
    return {
        "id": "set",
        "name": "Greet",
        "type": "n8n-nodes-base.set",
        "typeVersion": 3.4,
        "position": [200, 0],
        "parameters": {
            "assignments": {
                "assignments": [{"id": "a", "name": "greeting", "value": value, "type": "string"}]
            }
        },
    }


def respond(**parameters: Any) -> dict[str, Any]:
    return {
        "id": "respond",
        "name": "Respond",
        "type": "n8n-nodes-base.respondToWebhook",
        "typeVersion": 1.1,
        "position": [400, 0],
        "parameters": parameters,
    }


def stop(message: str) -> dict[str, Any]:
    """Stop and Error: the run fails here."""
    parameters = {"errorMessage": message}
    return {
        "id": "stop",
        "name": "Stop",
        "type": "n8n-nodes-base.stopAndError",
        "typeVersion": 1,
        "position": [600, 0],
        "parameters": parameters,
    }


def path() -> str:
    return f"in/{uuid.uuid4().hex[:10]}"


# ----- registration -------------------------------------------------------------------------------------


async def test_routes_follow_enable_disable_update_and_delete(site: Site) -> None:
    first, second = path(), path()
    workflow_id = await site.create(hook(first, method=["GET", "POST"], enabled=False))
    assert await site.routes(workflow_id) == []
    assert (await site.api("POST", site.a, f"/workflows/{workflow_id}/enable")).status_code == 200
    assert await site.routes(workflow_id) == [("GET", first), ("POST", first)]
    changed = hook(second, method="PUT")
    replaced = await site.api("PATCH", site.a, f"/workflows/{workflow_id}", {"nodes": changed["nodes"]})
    assert replaced.status_code == 200, replaced.text
    assert await site.routes(workflow_id) == [("PUT", second)]
    called = await site.client.put(f"/webhook/{site.a}/{second}")
    assert called.status_code == 200, called.text
    await site.app.state.runtime.executions.wait(site.a, called.headers["x-execution-id"], 10)
    expect_error(await site.client.post(f"/webhook/{site.a}/{first}"), 404, "WEBHOOK_NOT_FOUND")
    assert (await site.api("POST", site.a, f"/workflows/{workflow_id}/disable")).status_code == 200
    assert await site.routes(workflow_id) == []
    expect_error(await site.client.put(f"/webhook/{site.a}/{second}"), 404, "WEBHOOK_NOT_FOUND")
    assert (await site.api("POST", site.a, f"/workflows/{workflow_id}/enable")).status_code == 200
    assert (await site.api("DELETE", site.a, f"/workflows/{workflow_id}")).status_code == 204
    assert await site.routes(workflow_id) == []
    expect_error(await site.client.put(f"/webhook/{site.a}/{second}"), 404, "WEBHOOK_NOT_FOUND")


async def test_an_import_registers_its_webhooks(site: Site) -> None:
    where = path()
    response = await site.api("POST", site.a, "/workflows/import", hook(where))
    assert response.status_code == 201, response.text
    assert await site.routes(response.json()["id"]) == [("POST", where)]


async def test_a_second_workflow_cannot_claim_a_served_method_and_path(site: Site) -> None:
    where = path()
    holder = await site.create(hook(where, method=["GET", "POST"]))
    routes, workflows = await site.count(WebhookRoute), await site.count(Workflow)
    refused = await site.api("POST", site.a, "/workflows", hook(f"/{where}/", method="POST"))
    error = expect_error(refused, 409, "WEBHOOK_PATH_CONFLICT")
    assert error["details"] == {"method": "POST", "path": where, "workflowId": holder}
    assert (await site.count(WebhookRoute), await site.count(Workflow)) == (routes, workflows)
    # Created disabled it is kept, and enabling it is refused with nothing written.
    other = await site.create(hook(where, method="POST", enabled=False))
    before = await site.api("GET", site.a, f"/workflows/{other}")
    expect_error(await site.api("POST", site.a, f"/workflows/{other}/enable"), 409, "WEBHOOK_PATH_CONFLICT")
    after = await site.api("GET", site.a, f"/workflows/{other}")
    assert after.json()["version"] == before.json()["version"] and after.json()["enabled"] is False
    assert await site.routes(other) == [] and await site.routes(holder) == [("GET", where), ("POST", where)]
    # Another method on the same path is free; once the holder is disabled the path is too.
    assert (await site.api("POST", site.a, "/workflows", hook(where, method="PUT"))).status_code == 201
    assert (await site.api("POST", site.a, f"/workflows/{holder}/disable")).status_code == 200
    assert (await site.api("POST", site.a, f"/workflows/{other}/enable")).status_code == 200
    assert await site.routes(other) == [("POST", where)]


async def test_two_enables_at_once_leave_one_holder(site: Site) -> None:
    where = path()
    first, second = [await site.create(hook(where, enabled=False)) for _ in range(2)]
    answers = await asyncio.gather(
        *(site.api("POST", site.a, f"/workflows/{ident}/enable") for ident in (first, second))
    )
    assert sorted(answer.status_code for answer in answers) == [200, 409], [a.text for a in answers]
    refused = next(answer for answer in answers if answer.status_code == 409)
    expect_error(refused, 409, "WEBHOOK_PATH_CONFLICT")
    held = [await site.routes(ident) for ident in (first, second)]
    assert sorted(held) == [[], [("POST", where)]]
    enabled = [
        (await site.api("GET", site.a, f"/workflows/{ident}")).json()["enabled"] for ident in (first, second)
    ]
    assert enabled == [routes != [] for routes in held]


async def test_an_enable_that_loses_the_race_at_the_key_is_a_conflict(site: Site) -> None:
    """The second unit checks before the first commits: on PostgreSQL its insert then waits on the key
    and fails once the first commits (on SQLite units write one at a time, so its check finds the holder)."""
    where = path()
    first, second = [await site.create(hook(where, enabled=False)) for _ in range(2)]

    async def enable(workflow_id: str) -> None:
        async with site.store.unit(Actor(site.a)) as unit:
            await unit.workflows.set_enabled(workflow_id, True)

    async with site.store.unit(Actor(site.a)) as unit:
        await unit.workflows.set_enabled(first, True)
        loser = asyncio.create_task(enable(second))
        await asyncio.sleep(0.3)
    with pytest.raises(ConflictError) as caught:
        await loser
    assert caught.value.code == ErrorCode.WEBHOOK_PATH_CONFLICT
    assert await site.routes(first) == [("POST", where)] and await site.routes(second) == []
    assert (await site.api("GET", site.a, f"/workflows/{second}")).json()["enabled"] is False


async def test_two_nodes_of_one_workflow_cannot_share_a_method_and_path(site: Site) -> None:
    where = path()
    body = hook(where)
    body["nodes"].append({**body["nodes"][0], "id": "w2", "name": "Webhook 2"})
    refused = await site.api("POST", site.a, "/workflows", body)
    error = expect_error(refused, 409, "WEBHOOK_PATH_CONFLICT")
    assert "this workflow" in error["message"]


async def test_paths_that_cannot_be_served_are_refused_at_enable(site: Site) -> None:
    refused = await site.api("POST", site.a, "/workflows", hook("={{ $json.x }}"))
    expect_error(refused, 422, "WEBHOOK_PATH_INVALID", path="$.nodes[0].parameters.path")
    jwt = await site.api("POST", site.a, "/workflows", hook(path(), authentication="jwtAuth"))
    expect_error(jwt, 422, "WEBHOOK_AUTH_UNSUPPORTED")


# ----- calls --------------------------------------------------------------------------------------------


async def test_on_received_answers_at_once_and_the_run_gets_the_request_item(site: Site) -> None:
    where = path()
    workflow_id = await site.create(hook(where))
    response = await site.client.post(
        f"/webhook/{site.a}/{where}?tag=x&tag=y&one=1", json={"who": "ada"}, headers={"X-Trace": "t1"}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"message": "Workflow was started"}
    execution_id = response.headers["x-execution-id"]
    view = await site.app.state.runtime.executions.wait(site.a, execution_id, 10)
    assert view is not None and view.status == "success", view
    assert view.trigger_kind == "webhook" and view.workflow_id == workflow_id
    item = view.state["Webhook"].output[0][0]["json"]
    assert item["body"] == {"who": "ada"} and item["params"] == {}
    assert item["query"] == {"tag": ["x", "y"], "one": "1"}
    assert item["headers"]["x-trace"] == "t1" and item["executionMode"] == "production"
    assert item["webhookUrl"] == f"{BASE_URL}/webhook/{site.a}/{where}"


async def test_last_node_answers_with_its_first_items_json(site: Site) -> None:
    where = path()
    await site.create(hook(where, mode="lastNode", after=[greet()], responseCode=201))
    response = await site.client.post(f"/webhook/{site.a}/{where}", json={"who": "ada"})
    assert response.status_code == 201, response.text
    assert response.json()["greeting"] == "hello ada"


async def test_a_call_starts_the_run_at_its_webhook_node_not_the_first_trigger(site: Site) -> None:
    where = path()
    document = hook(where, mode="lastNode", after=[greet()])
    manual = {"id": "m1", "name": "By hand", "type": "n8n-nodes-base.manualTrigger", "typeVersion": 1}
    document["nodes"] = [{**manual, "position": [0, 200]}, *document["nodes"]]  # the first trigger now
    await site.create(document)
    response = await site.client.post(f"/webhook/{site.a}/{where}", json={"who": "ada"})
    assert response.status_code == 200 and response.json()["greeting"] == "hello ada", response.text
    async with site.store.unit(Actor(site.a), read_only=True) as unit:
        view = await unit.executions.get(response.headers["x-execution-id"])
    assert set(view.state) == {"Webhook", "Greet"}


async def test_last_node_all_entries_and_no_data(site: Site) -> None:
    where, quiet = path(), path()
    await site.create(hook(where, mode="lastNode", responseData="allEntries"))
    await site.create(hook(quiet, mode="lastNode", responseData="noData"))
    everything = await site.client.post(f"/webhook/{site.a}/{where}", json={"n": 1})
    assert everything.status_code == 200 and [item["body"] for item in everything.json()] == [{"n": 1}]
    nothing = await site.client.post(f"/webhook/{site.a}/{quiet}", json={"n": 1})
    assert nothing.status_code == 200 and nothing.content == b""


async def test_a_failed_run_answers_500_with_the_execution(site: Site) -> None:
    where = path()
    await site.create(hook(where, mode="lastNode", after=[stop("no")]))
    response = await site.client.post(f"/webhook/{site.a}/{where}", json={})
    error = expect_error(response, 500, "WEBHOOK_NO_RESPONSE")
    assert error["message"] == "Error in workflow" and error["details"]["status"] == "error"


async def test_respond_to_webhook_answers_what_it_recorded(site: Site) -> None:
    where, text = path(), path()
    headers = {"entries": [{"name": "X-Made-By", "value": "tenantflow"}]}
    body = '={{ JSON.stringify({"got": $json.body.who}) }}'
    await site.create(
        hook(
            where,
            mode="responseNode",
            after=[
                respond(
                    respondWith="json",
                    responseBody=body,
                    options={"responseCode": 418, "responseHeaders": headers},
                )
            ],
        )
    )
    response = await site.client.post(f"/webhook/{site.a}/{where}", json={"who": "ada"})
    assert response.status_code == 418, response.text
    assert response.json() == {"got": "ada"} and response.headers["x-made-by"] == "tenantflow"
    await site.create(
        hook(text, mode="responseNode", after=[respond(respondWith="text", responseBody="plain")])
    )
    answered = await site.client.post(f"/webhook/{site.a}/{text}")
    assert answered.status_code == 200 and answered.text == "plain"
    assert answered.headers["content-type"].startswith("text/plain")


async def test_a_binary_body_reaches_the_item_as_a_file(site: Site) -> None:
    where, raw = path(), path()
    await site.create(hook(where, mode="lastNode", responseData="allEntries"))
    data = bytes(range(256)) * 4
    sent = await site.client.post(
        f"/webhook/{site.a}/{where}", content=data, headers={"Content-Type": "application/octet-stream"}
    )
    assert sent.status_code == 200, sent.text
    execution_id = sent.headers["x-execution-id"]
    async with site.store.unit(Actor(site.a), read_only=True) as unit:
        view = await unit.executions.get(execution_id)
    item = view.state["Webhook"].output[0][0]
    assert item["json"]["body"] == {} and "rawBody" not in item["json"]
    assert item["binary"]["data"]["mimeType"] == "application/octet-stream"
    download = await site.api(
        "GET", site.a, f"/executions/{execution_id}/binary/{item['binary']['data']['id']}"
    )
    assert download.status_code == 200 and download.content == data
    # The rawBody option keeps a text body as the item's body and as a file.
    await site.create(hook(raw, mode="lastNode", responseData="allEntries", options={"rawBody": True}))
    texted = await site.client.post(
        f"/webhook/{site.a}/{raw}", content=b"a,b\n1,2", headers={"Content-Type": "text/csv"}
    )
    assert texted.status_code == 200, texted.text
    assert texted.json()[0]["body"] == "a,b\n1,2"


async def test_first_entry_binary_answers_with_the_first_items_file(site: Site) -> None:
    echo, named, missing = path(), path(), path()
    await site.create(hook(echo, mode="lastNode", responseData="firstEntryBinary"))
    options = {"responseBinaryPropertyName": "upload", "binaryPropertyName": "upload"}
    await site.create(hook(named, mode="lastNode", responseData="firstEntryBinary", options=options))
    await site.create(hook(missing, mode="lastNode", responseData="firstEntryBinary"))
    image = b"\x89PNG\r\n\x1a\n" + bytes(range(256))

    for where in (echo, named):
        sent = await site.client.post(
            f"/webhook/{site.a}/{where}", content=image, headers={"Content-Type": "image/png"}
        )
        assert sent.status_code == 200 and sent.content == image, sent.text
        assert sent.headers["content-type"] == "image/png"
        assert sent.headers["x-content-type-options"] == "nosniff"
    error = expect_error(
        await site.client.post(f"/webhook/{site.a}/{missing}", json={"a": 1}), 500, "WEBHOOK_NO_RESPONSE"
    )
    assert error["message"] == "The first item has no binary property 'data'"


async def test_a_form_body_is_parsed(site: Site) -> None:
    where = path()
    await site.create(hook(where, mode="lastNode"))
    response = await site.client.post(f"/webhook/{site.a}/{where}", data={"a": "1", "b": "two"})
    assert response.status_code == 200, response.text
    assert response.json()["body"] == {"a": "1", "b": "two"}


async def test_path_parameters(site: Site) -> None:
    base = uuid.uuid4().hex[:8]
    await site.create(hook(f"{base}/users/:id/orders/:order", mode="lastNode", method="GET"))
    await site.create(hook(f"{base}/users/me/orders/:order", mode="lastNode", method="GET"))
    dynamic = await site.client.get(f"/webhook/{site.a}/{base}/users/42/orders/7")
    assert dynamic.status_code == 200 and dynamic.json()["params"] == {"id": "42", "order": "7"}
    literal = await site.client.get(f"/webhook/{site.a}/{base}/users/me/orders/7")
    assert literal.status_code == 200 and literal.json()["params"] == {"order": "7"}
    clash = await site.api("POST", site.a, "/workflows", hook(f"{base}/users/:name/orders/:x", method="GET"))
    expect_error(clash, 409, "WEBHOOK_PATH_CONFLICT")


async def test_tenants_do_not_share_webhooks(site: Site) -> None:
    where = path()
    in_a = await site.create(hook(where, mode="lastNode", after=[greet()]))
    # B cannot reach A's webhook under B's id, nor under A's id with a method A does not serve.
    expect_error(await site.client.post(f"/webhook/{site.b}/{where}", json={}), 404, "WEBHOOK_NOT_FOUND")
    expect_error(await site.client.get(f"/webhook/{site.a}/{where}"), 404, "WEBHOOK_NOT_FOUND")
    # The same method and path in B is B's own route, running B's workflow.
    in_b = await site.create(hook(where, mode="lastNode"), tenant=site.b)
    answered_b = await site.client.post(f"/webhook/{site.b}/{where}", json={"who": "bob"})
    assert answered_b.status_code == 200 and "greeting" not in answered_b.json()
    answered_a = await site.client.post(f"/webhook/{site.a}/{where}", json={"who": "ada"})
    assert answered_a.json()["greeting"] == "hello ada"
    assert await site.routes(in_a) == [("POST", where)] == await site.routes(in_b, site.b)
    assert await site.routes(in_b) == []  # B's workflow is not A's


async def test_unknown_paths_and_tenants_are_404(site: Site) -> None:
    expect_error(await site.client.post(f"/webhook/{site.a}/nothing/here"), 404, "WEBHOOK_NOT_FOUND")
    expect_error(await site.client.get("/webhook/no%00tenant/x"), 404, "WEBHOOK_NOT_FOUND")


async def test_header_and_basic_authentication_against_a_tenant_secret(site: Site) -> None:
    token, basic = path(), path()
    secret = {"name": "X-Hook-Token", "value": "s3cret"}
    stored = await site.api("PUT", site.a, "/secrets/hook_token", {"value": json.dumps(secret)})
    assert stored.status_code in (200, 201), stored.text
    login = {"user": "ada", "password": "pw"}
    assert (await site.api("PUT", site.a, "/secrets/hook_basic", {"value": json.dumps(login)})).is_success
    guarded = hook(token, authentication="headerAuth")
    guarded["nodes"][0]["credentials"] = {"httpHeaderAuth": {"id": "1", "name": "hook_token"}}
    await site.create(guarded)
    url = f"/webhook/{site.a}/{token}"
    expect_error(await site.client.post(url), 401, "WEBHOOK_UNAUTHORIZED")
    expect_error(await site.client.post(url, headers={"X-Hook-Token": "wrong"}), 401, "WEBHOOK_UNAUTHORIZED")
    admitted = await site.client.post(url, headers={"X-Hook-Token": "s3cret"})
    assert admitted.status_code == 200, admitted.text
    view = await site.app.state.runtime.executions.wait(site.a, admitted.headers["x-execution-id"], 10)
    assert view is not None and "x-hook-token" not in view.state["Webhook"].output[0][0]["json"]["headers"]
    gated = hook(basic, authentication="basicAuth")
    gated["nodes"][0]["credentials"] = {"httpBasicAuth": {"name": "hook_basic"}}
    await site.create(gated)
    refused = await site.client.post(f"/webhook/{site.a}/{basic}", auth=("ada", "nope"))
    expect_error(refused, 401, "WEBHOOK_UNAUTHORIZED")
    assert refused.headers["www-authenticate"].startswith("Basic")
    good = base64.b64encode(b"ada:pw").decode()
    ok = await site.client.post(f"/webhook/{site.a}/{basic}", headers={"Authorization": f"Basic {good}"})
    assert ok.status_code == 200, ok.text


async def test_the_public_preset_limits_calls_per_tenant_path_and_address(
    database_url: str, tmp_path: Path
) -> None:
    settings = served_settings(
        database_url,
        tmp_path,
        rate_limits_enabled=True,
        rate_limits={**Settings().rate_limits, "public": "3/minute", "mutation": "1000/minute"},
    )
    async for site in _site(settings):
        where, other = path(), path()
        await site.create(hook(where))
        for _ in range(3):
            assert (await site.client.post(f"/webhook/{site.a}/{where}")).status_code == 200
        limited = await site.client.post(f"/webhook/{site.a}/{where}")
        expect_error(limited, 429, "RATE_LIMITED")
        assert int(limited.headers["retry-after"]) >= 1
        # Another path has its own count (and an unknown one is counted too, then 404).
        assert (await site.client.post(f"/webhook/{site.a}/{other}")).status_code == 404


# ----- responseNode: the answer as soon as Respond to Webhook ran ----------------------------------------


def sleep(seconds: float) -> dict[str, Any]:
    return {
        "id": "wait",
        "name": "Wait",
        "type": "n8n-nodes-base.wait",
        "typeVersion": 1.1,
        "position": [600, 0],
        "parameters": {"resume": "timeInterval", "amount": seconds, "unit": "seconds"},
    }


async def test_respond_to_webhook_answers_before_the_run_ends(site: Site) -> None:
    where = path()
    await site.create(
        hook(where, mode="responseNode", after=[respond(respondWith="text", responseBody="early"), sleep(2)])
    )
    response = await site.client.post(f"/webhook/{site.a}/{where}")
    assert response.status_code == 200 and response.text == "early", response.text
    execution_id = response.headers["x-execution-id"]
    async with site.store.unit(Actor(site.a), read_only=True) as unit:
        assert (await unit.executions.get(execution_id)).status in ("queued", "running")  # not ended
    view = await site.app.state.runtime.executions.wait(site.a, execution_id, 10)
    assert view is not None and view.status == "success"


async def test_a_run_that_fails_after_answering_keeps_its_answer(site: Site) -> None:
    where = path()
    await site.create(hook(where, mode="responseNode", after=[respond(respondWith="noData"), stop("later")]))
    response = await site.client.post(f"/webhook/{site.a}/{where}")
    assert response.status_code == 200 and response.content == b"", response.text


async def test_a_run_without_a_respond_node_answers_500(site: Site) -> None:
    where = path()
    await site.create(hook(where, mode="responseNode"))
    error = expect_error(await site.client.post(f"/webhook/{site.a}/{where}"), 500, "WEBHOOK_NO_RESPONSE")
    assert error["message"] == "No Respond to Webhook node answered the call"


async def test_the_events_stream_shows_the_answer_sealed(site: Site) -> None:
    where, token = path(), uuid.uuid4().hex
    stored = await site.api("PUT", site.a, "/secrets/respond_token", {"value": token})
    assert stored.status_code in (200, 201), stored.text
    await site.create(
        hook(
            where,
            mode="responseNode",
            after=[respond(respondWith="text", responseBody="={{ $secrets.respond_token }}")],
        )
    )
    response = await site.client.post(f"/webhook/{site.a}/{where}")
    assert response.status_code == 200 and response.text == token, response.text
    events = await site.api("GET", site.a, f"/executions/{response.headers['x-execution-id']}/events")
    assert events.status_code == 200, events.text
    assert "event: webhook.response" in events.text and '"node": "Respond"' in events.text
    assert token not in events.text
