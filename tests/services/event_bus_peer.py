"""Another process following one execution on Redis, for the cross-process test of the event bus.

``python -m tests.services.event_bus_peer URL PREFIX TENANT EXECUTION`` prints each event as one JSON line
the moment it arrives (with ``at``, the wall-clock time of arrival), and exits after the last.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from redis.asyncio import Redis

from tenantflow.services.events_redis import RedisEventBus


async def follow(url: str, prefix: str, tenant_id: str, execution_id: str) -> None:
    client = Redis.from_url(url)
    try:
        async for event in RedisEventBus(client, prefix=prefix).subscribe(tenant_id, execution_id):
            print(json.dumps({**event.to_dict(), "at": time.time()}), flush=True)
    finally:
        await client.aclose()


if __name__ == "__main__":
    asyncio.run(follow(*sys.argv[1:5]))
