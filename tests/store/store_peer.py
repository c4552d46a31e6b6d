"""The store tests' second process: its own Store on the test's database and Redis, one JSON line at a time.

Usage: ``python store_peer.py DATABASE_URL REDIS_URL``. Each stdin line is ``[tenant, workflow id]``; the
answer is one line ``{"get": …, "list": …}`` with the description the process reads through its hot
cache (single workflow) and its warm cache (the tenant's list). The hot tier's TTL is a minute here, so
only the cross-process invalidation can make a read fresh.
"""

from __future__ import annotations

import asyncio
import json
import sys

from tenantflow.nodes import default_registry
from tenantflow.store.audit import Actor
from tenantflow.store.cache import HotCache, RedisInvalidation, RedisWarmCache, WorkflowCache
from tenantflow.store.database import Database
from tenantflow.store.secrets import Keyring
from tenantflow.store.unit import Store


async def serve(database_url: str, redis_url: str) -> None:
    cache = WorkflowCache(
        RedisWarmCache(redis_url),
        hot=HotCache(ttl=60.0),
        invalidation=await RedisInvalidation.connect(redis_url),
    )
    store = Store(Database(database_url), cache, Keyring.generate(), default_registry(plugins=False))
    try:
        print("ready", flush=True)
        for line in sys.stdin:
            tenant_id, workflow_id = json.loads(line)
            async with store.unit(Actor(tenant_id), read_only=True) as unit:
                single = await unit.workflows.get(workflow_id)
                listed = await unit.workflows.list()
            answer = {"get": single.data["description"], "list": listed.items[0].data["description"]}
            print(json.dumps(answer), flush=True)
    finally:
        await store.close()


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1], sys.argv[2]))
