"""No stale read after a write, across two processes that share PostgreSQL and Redis.

The peer process reads a workflow (filling its hot tier, whose TTL is a minute there) and the tenant's list
(filling the warm tier); this process then updates the workflow through its own store; the peer's next
read must show the update. Repeated, so that a lucky race cannot pass it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tenantflow.store.audit import Actor
from tenantflow.store.secrets import Keyring
from tests.store.conftest import REDIS_VAR, new_tenant, open_store, required_env
from tests.store.factories import chain_document

pytestmark = pytest.mark.anyio

ROUNDS = 40


@pytest.fixture
def peer(postgres_url: str) -> Iterator[subprocess.Popen[str]]:
    redis_url = required_env(REDIS_VAR)
    script = Path(__file__).with_name("store_peer.py")
    process = subprocess.Popen(
        [sys.executable, str(script), postgres_url, redis_url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    try:
        yield process
    finally:
        if process.stdin is not None:
            process.stdin.close()
        process.wait(timeout=10)


def ask(process: subprocess.Popen[str], tenant_id: str, workflow_id: str) -> dict[str, str]:
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(json.dumps([tenant_id, workflow_id]) + "\n")
    process.stdin.flush()
    answer: dict[str, str] = json.loads(process.stdout.readline())
    return answer


async def test_store_two_processes_never_read_stale_after_a_write(
    postgres_url: str, keyring: Keyring, peer: subprocess.Popen[str]
) -> None:
    store = await open_store(postgres_url, keyring, redis_url=required_env(REDIS_VAR))
    try:
        tenant_id = await new_tenant(store, "p")
        actor = Actor(tenant_id, user_id="writer")
        async with store.unit(actor) as unit:
            workflow = await unit.workflows.create(chain_document("shared") | {"description": "v0"})
        stale = 0
        for round_number in range(1, ROUNDS + 1):
            before = ask(peer, tenant_id, workflow.id)
            assert before == ask(peer, tenant_id, workflow.id)  # the second read is served from the caches
            async with store.unit(actor) as unit:
                await unit.workflows.update(workflow.id, {"description": f"v{round_number}"})
            after = ask(peer, tenant_id, workflow.id)
            stale += after != {"get": f"v{round_number}", "list": f"v{round_number}"}
        assert stale == 0
    finally:
        await store.close()
