"""Test webhooks (n8n's ``/webhook-test/``): ``POST …/workflows/{id}/webhook-test`` makes a workflow, enabled
or not, listen for one call for 120 s; the first call runs it (``executionMode: test``) and closes the
window, on whichever API process it arrives. Tenants never reach each other's windows. SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx2
import pytest

from tenantflow.api.app import create_app
from tenantflow.services import webhooks
from tenantflow.store.audit import Actor
from tests.api import test_webhooks as served
from tests.api.conftest import expect_error, workflow_body
from tests.api.test_webhooks import BASE_URL, Site, greet, hook, path

pytestmark = pytest.mark.anyio
# test_webhooks.py's fixtures: its app on SQLite and on PostgreSQL, with tenants A and B.
anyio_backend, database_url, site = served.anyio_backend, served.database_url, served.site


async def listening(site: Site, where: str, *, tenant: str | None = None, enabled: bool = False) -> str:
    """A workflow (disabled unless ``enabled``) greeting ``who`` at ``where``, listening for a test call."""
    owner = tenant or site.a
    workflow_id = await site.create(hook(where, mode="lastNode", after=[greet()], enabled=enabled), owner)
    opened = await site.api("POST", owner, f"/workflows/{workflow_id}/webhook-test")
    assert opened.status_code == 201, opened.text
    return workflow_id


async def test_a_listening_workflow_answers_one_test_call_enabled_or_not(site: Site) -> None:
    where = path()
    url = f"/webhook-test/{site.a}/{where}"
    workflow_id = await site.create(hook(where, mode="lastNode", after=[greet()], enabled=False))
    expect_error(await site.client.post(url, json={}), 404, "WEBHOOK_NOT_FOUND")
    opened = await site.api("POST", site.a, f"/workflows/{workflow_id}/webhook-test")
    assert opened.status_code == 201, opened.text
    window = opened.json()
    assert window["webhooks"] == [{"method": "POST", "path": where, "url": f"{BASE_URL}{url}"}]
    expires = datetime.fromisoformat(window["expiresAt"]) - datetime.now(UTC)
    assert timedelta(seconds=110) < expires <= timedelta(seconds=120)
    answered = await site.client.post(url, json={"who": "ada"})
    assert answered.status_code == 200 and answered.json()["greeting"] == "hello ada", answered.text
    async with site.store.unit(Actor(site.a), read_only=True) as unit:
        view = await unit.executions.get(answered.headers["x-execution-id"])
    assert view.state["Webhook"].output[0][0]["json"]["executionMode"] == "test"
    assert view.input["trigger"] == {"kind": "webhook", "metadata": {"test": True}}
    expect_error(await site.client.post(url, json={}), 404, "WEBHOOK_NOT_FOUND")  # one call only
    production = await site.client.post(f"/webhook/{site.a}/{where}", json={})
    expect_error(production, 404, "WEBHOOK_NOT_FOUND")  # the workflow is still disabled


async def test_of_two_calls_at_once_one_runs(site: Site) -> None:
    where = path()
    await listening(site, where)
    calls = [site.client.post(f"/webhook-test/{site.a}/{where}", json={}) for _ in range(2)]
    statuses = sorted(response.status_code for response in await asyncio.gather(*calls))
    assert statuses == [200, 404]


async def test_a_window_opened_on_one_process_is_served_by_another(site: Site) -> None:
    where = path()
    await listening(site, where)
    other = create_app(site.app.state.runtime.settings)
    async with other.router.lifespan_context(other):
        transport = httpx2.ASGITransport(app=other)
        async with httpx2.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            answered = await client.post(f"/webhook-test/{site.a}/{where}", json={"who": "bob"})
    assert answered.status_code == 200 and answered.json()["greeting"] == "hello bob", answered.text
    expect_error(await site.client.post(f"/webhook-test/{site.a}/{where}"), 404, "WEBHOOK_NOT_FOUND")


async def test_tenants_do_not_reach_each_others_windows(site: Site) -> None:
    where = path()
    in_a = await listening(site, where)
    expect_error(await site.client.post(f"/webhook-test/{site.b}/{where}"), 404, "WEBHOOK_NOT_FOUND")
    foreign = await site.client.post(
        f"/api/v1/{site.a}/workflows/{in_a}/webhook-test",
        headers={"Authorization": f"Bearer {site.keys[site.b]}"},
    )
    expect_error(foreign, 403, "TENANT_MISMATCH")
    under_own = await site.api("POST", site.b, f"/workflows/{in_a}/webhook-test")
    expect_error(under_own, 403, "CROSS_TENANT_ACCESS_DENIED")
    # B may listen on the same path: its own window, its own workflow.
    await listening(site, where, tenant=site.b)
    answered_b = await site.client.post(f"/webhook-test/{site.b}/{where}", json={"who": "bob"})
    answered_a = await site.client.post(f"/webhook-test/{site.a}/{where}", json={"who": "ada"})
    assert [answered_b.json()["greeting"], answered_a.json()["greeting"]] == ["hello bob", "hello ada"]


async def test_a_window_closes_when_it_expires_or_the_workflow_changes(site: Site) -> None:
    expiring, changed = path(), path()
    workflow_id = await site.create(hook(expiring, mode="lastNode", enabled=False))
    async with site.store.unit(Actor(site.a)) as unit:
        await webhooks.open_test(unit, workflow_id, seconds=0.05)
    await asyncio.sleep(0.1)
    expect_error(await site.client.post(f"/webhook-test/{site.a}/{expiring}"), 404, "WEBHOOK_NOT_FOUND")
    edited = await listening(site, changed)
    assert (await site.api("PATCH", site.a, f"/workflows/{edited}", {"description": "v2"})).is_success
    expect_error(await site.client.post(f"/webhook-test/{site.a}/{changed}"), 404, "WEBHOOK_NOT_FOUND")


async def test_one_workflow_listens_on_a_path_and_a_workflow_needs_a_webhook(site: Site) -> None:
    where = path()
    first = await listening(site, where)
    second = await site.create(hook(where, mode="lastNode", enabled=False))
    taken = await site.api("POST", site.a, f"/workflows/{second}/webhook-test")
    assert expect_error(taken, 409, "WEBHOOK_PATH_CONFLICT")["details"]["workflowId"] == first
    again = await site.api("POST", site.a, f"/workflows/{first}/webhook-test")  # listening anew is fine
    assert again.status_code == 201, again.text
    plain = await site.create(workflow_body())
    expect_error(
        await site.api("POST", site.a, f"/workflows/{plain}/webhook-test"), 422, "WEBHOOK_PATH_INVALID"
    )
