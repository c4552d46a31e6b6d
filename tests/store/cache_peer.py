"""The cache tests' second process: its own WorkflowCache on the test's Redis, driven one JSON line at a time.

Usage: ``python cache_peer.py REDIS_URL PREFIX``. Each stdin line is ``[method, *args]`` for one of the
cache's read/fill methods, answered by one stdout line holding the JSON result. Stdin is read with blocking
calls on purpose: the event loop gets no turn to pull invalidations off the socket before a read arrives,
the worst case for the drain that get_workflow does first.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import sys

from tenantflow.store.cache import HotCache, RedisInvalidation, RedisWarmCache, WorkflowCache

METHODS = frozenset({"get_workflow", "put_workflow", "get_list", "put_list"})


async def open_cache(redis_url: str, prefix: str) -> WorkflowCache:
    """WorkflowCache.connect's tiers, with a hot TTL so long that only an invalidation removes an entry."""
    return WorkflowCache(
        RedisWarmCache(redis_url, prefix=prefix),
        hot=HotCache(ttl=60.0),
        invalidation=await RedisInvalidation.connect(redis_url, channel=f"{prefix}invalidate"),
    )


async def serve(redis_url: str, prefix: str) -> None:
    cache = await open_cache(redis_url, prefix)
    try:
        print("ready", flush=True)
        for line in sys.stdin:
            method, *args = json.loads(line)
            if method not in METHODS:
                raise ValueError(f"unknown method {method!r}")
            result = getattr(cache, method)(*args)
            if inspect.isawaitable(result):
                result = await result
            print(json.dumps(result), flush=True)
    finally:
        await cache.close()


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1], sys.argv[2]))
