"""Fair share and concurrency limits on real workers: one tenant's burst does not starve another tenant's
single run, and a workflow's ``maxConcurrentExecutions`` holds across worker processes."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import httpx2
import pytest

from tests.queue.conftest import Api, Workers, chain, create_workflow
from tests.served import admin_client

pytestmark = pytest.mark.anyio

BURST = 2_000


def wait_node(seconds: float) -> dict[str, Any]:
    return {
        "id": "wait",
        "name": "Wait",
        "type": "n8n-nodes-base.wait",
        "typeVersion": 1.1,
        "parameters": {"resume": "timeInterval", "amount": seconds, "unit": "seconds"},
    }


async def submit(client: httpx2.AsyncClient, workflow_id: str, count: int) -> list[str]:
    """``count`` executions queued through the API, 50 requests in flight at a time."""
    ids: list[str] = []
    for start in range(0, count, 50):
        answers = await asyncio.gather(
            *(
                client.post(f"/workflows/{workflow_id}/execute", params={"wait": "false"})
                for _ in range(min(50, count - start))
            )
        )
        for answer in answers:
            assert answer.status_code == 202, answer.text
            ids.append(answer.json()["executionId"])
    return ids


async def all_finished(client: httpx2.AsyncClient, expected: int, timeout: float) -> list[dict[str, Any]]:
    """The tenant's executions once ``expected`` of them are terminal (fails after ``timeout`` seconds)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        found = await executions(client)
        done = [item for item in found if item["status"] not in ("queued", "running")]
        if len(done) >= expected:
            return found
        assert loop.time() < deadline, f"{len(done)} of {expected} finished in {timeout} s"
        await asyncio.sleep(0.25)


async def executions(client: httpx2.AsyncClient) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        page = await client.get("/executions", params=params)
        assert page.status_code == 200, page.text
        body = page.json()
        found.extend(body["items"])
        cursor = body.get("nextCursor")
        if not cursor:
            return found


def moment(item: dict[str, Any], name: str) -> datetime:
    return datetime.fromisoformat(item[name])


async def test_a_single_run_is_not_starved_by_another_tenants_burst(api: Api, workers: Workers) -> None:
    burst_workflow = await create_workflow(api.client, chain("burst", [wait_node(0.02)]))
    await submit(api.client, burst_workflow, BURST)
    workers.start(concurrency=8)
    workers.start(concurrency=8)
    async with admin_client(api.app, "single") as (single, _):
        single_workflow = await create_workflow(single, chain("single", [wait_node(0.02)]))
        while not any(item["status"] != "queued" for item in await executions(api.client)):
            await asyncio.sleep(0.05)  # the workers serve the burst: only now does the other tenant ask
        [single_id] = await submit(single, single_workflow, 1)
        [single_run] = await all_finished(single, 1, timeout=30)

    burst = await all_finished(api.client, BURST, timeout=90)

    assert single_run["id"] == single_id and single_run["status"] == "success", single_run
    assert len(burst) == BURST and all(item["status"] == "success" for item in burst), workers.logs()
    ends = sorted(moment(item, "endTime") for item in burst)
    assert moment(single_run, "endTime") < ends[199], (single_run["endTime"], ends[199].isoformat())


async def test_a_workflows_limit_holds_across_workers(api: Api, workers: Workers) -> None:
    document = chain("limited", [wait_node(0.3)])
    document["settings"] = {"maxConcurrentExecutions": 2}
    workflow_id = await create_workflow(api.client, document)
    workers.start(concurrency=4)
    workers.start(concurrency=4)

    await submit(api.client, workflow_id, 8)
    finished = await all_finished(api.client, 8, timeout=30)

    assert all(item["status"] == "success" for item in finished), workers.logs()
    spans = [(moment(item, "startTime"), moment(item, "endTime")) for item in finished]
    most_at_once = max(sum(start <= at < end for start, end in spans) for at, _ in spans)
    assert most_at_once == 2, [(str(start.time()), str(end.time())) for start, end in sorted(spans)]
