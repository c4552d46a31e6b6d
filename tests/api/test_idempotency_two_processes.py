"""Issue 11, done-when (e): two ``tenantflow serve`` processes on one PostgreSQL database receive the same
``Idempotency-Key`` at the same moment, and the key makes exactly one execution, which both answers name.

Each round sends one key to both processes at once, over connections opened beforehand, so the two inserts
race in the database (a group commit in either process may also carry the other round's work). Inline, the
rounds alternate ``wait=true`` (the default: the record, after the run) and ``wait=false`` (202 at once); in
the queue mode both answer 202 and no worker is needed, the rows staying queued.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import httpx2
import pytest

from tests.conftest import migrated_postgres
from tests.queue.conftest import BROKER_URL, _delete_queue
from tests.served import provision, served_settings
from tests.test_serve import TWO_NODES, Server, service_env, serving

pytestmark = pytest.mark.anyio

ROUNDS: Final = 20


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass(frozen=True)
class Tenant:
    """A tenant with an admin's API key, on a database of its own that both modes' processes share."""

    database_url: str
    keyring: str
    tenant_id: str
    api_key: str


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    yield from migrated_postgres("tenantflow_idempotency")


@pytest.fixture(scope="module")
def tenant(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Tenant:
    settings = served_settings(database_url, tmp_path_factory.mktemp("provisioning"))
    assert settings.secret_keys is not None
    tenant_id, api_key = asyncio.run(provision(settings, "idem"))
    return Tenant(database_url, settings.secret_keys.get_secret_value(), tenant_id, api_key)


@dataclass(frozen=True)
class TwoProcesses:
    servers: tuple[Server, Server]
    tenant: Tenant
    queued: bool  # the queue mode: executions go to RabbitMQ, nobody waits for them here


@pytest.fixture(params=["inline", "queue"])
def two_processes(request: pytest.FixtureRequest, tenant: Tenant, tmp_path: Path) -> Iterator[TwoProcesses]:
    """Two ``serve`` processes on the tenant's database, inline or in the queue mode."""
    queued = request.param == "queue"
    queue = f"tenantflow.test.{uuid.uuid4().hex[:10]}"
    broker = {"TENANTFLOW_BROKER_URL": BROKER_URL, "TENANTFLOW_BROKER_QUEUE": queue} if queued else {}
    env = service_env(
        tmp_path / "data",
        TENANTFLOW_DATABASE_URL=tenant.database_url,
        TENANTFLOW_SECRET_KEYS=tenant.keyring,
        TENANTFLOW_BOOTSTRAP="false",
        TENANTFLOW_SCHEDULES_ENABLED="false",
        TENANTFLOW_RATE_LIMITS_ENABLED="false",
        **broker,
    )
    try:
        with serving(tmp_path, env) as first, serving(tmp_path, env) as second:
            yield TwoProcesses((first, second), tenant, queued)
    finally:
        if queued:
            asyncio.run(_delete_queue(queue))


@asynccontextmanager
async def clients(processes: TwoProcesses) -> AsyncIterator[tuple[httpx2.AsyncClient, httpx2.AsyncClient]]:
    """One client per process, each with its connection already open (a first request went through)."""
    headers = {"Authorization": f"Bearer {processes.tenant.api_key}"}
    base = f"/api/v1/{processes.tenant.tenant_id}"
    first, second = (
        httpx2.AsyncClient(base_url=server.base + base, headers=headers, timeout=30)
        for server in processes.servers
    )
    async with first, second:
        for client in (first, second):
            assert (await client.get("/workflows")).status_code == 200
        yield first, second


async def test_one_key_sent_to_two_processes_at_once_makes_one_execution(
    two_processes: TwoProcesses,
) -> None:
    async with clients(two_processes) as (first, second):
        document = {**TWO_NODES, "name": f"raced {uuid.uuid4().hex[:8]}"}  # both modes share the tenant
        created = await first.post("/workflows", json=document)
        assert created.status_code == 201, created.text
        workflow_id = created.json()["id"]
        made: dict[str, str] = {}  # idempotency key -> the execution both answers named
        for round_number in range(ROUNDS):
            key = f"race-{uuid.uuid4().hex}"
            waits = not two_processes.queued and round_number % 2 == 0
            answers = await asyncio.gather(
                *(execute(client, workflow_id, key, waits=waits) for client in (first, second))
            )
            for answer in answers:
                assert answer.status_code == (200 if waits else 202), answer.text
            named = {answer.json()["executionId"] for answer in answers}
            assert len(named) == 1, (key, [answer.json() for answer in answers])
            made[key] = named.pop()
            if waits:  # the process whose insert lost waited for the other one's run and answers its record
                assert [answer.json()["status"] for answer in answers] == ["success", "success"]

        listed = await second.get("/executions", params={"workflowId": workflow_id, "limit": 100})
        assert listed.status_code == 200, listed.text
        assert sorted(item["id"] for item in listed.json()["items"]) == sorted(made.values())
        for key, execution_id in made.items():
            stored = (await first.get(f"/executions/{execution_id}")).json()
            assert (stored["idempotencyKey"], stored["input"]["triggerData"]) == (key, {"who": key})


async def execute(client: httpx2.AsyncClient, workflow_id: str, key: str, *, waits: bool) -> httpx2.Response:
    """POST …/execute with ``key`` as the Idempotency-Key (and as the trigger data, to tell runs apart)."""
    return await client.post(
        f"/workflows/{workflow_id}/execute",
        params={"wait": "true" if waits else "false"},
        json={"triggerData": {"who": key}},
        headers={"Idempotency-Key": key},
    )
