"""Single flight: concurrent callers asking for the same key share one call instead of each making it.

When a short-lived cache entry expires under load, every request in flight misses at once; without this
each would read the database (the hot workflow cache, the principal cache), and the burst shows as tail
latency.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SingleFlight(Generic[K, V]):
    """Calls in flight by key. With ``share_failures=False`` a failed call is its caller's alone: the
    others then make the call themselves (for refusals that must be audited per caller)."""

    def __init__(self) -> None:
        self._calls: dict[K, asyncio.Future[V]] = {}

    async def run(self, key: K, call: Callable[[], Awaitable[V]], *, share_failures: bool = True) -> V:
        pending = self._calls.get(key)
        if pending is not None:
            if share_failures:
                return await asyncio.shield(pending)
            with contextlib.suppress(Exception):
                return await asyncio.shield(pending)
            return await call()
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._calls[key] = future
        try:
            value = await call()
        except BaseException as error:
            future.set_exception(
                error if isinstance(error, Exception) else RuntimeError("the call was cancelled")
            )
            future.exception()  # a failure nobody waited for must not be reported as never retrieved
            raise
        finally:
            self._calls.pop(key, None)
        future.set_result(value)
        return value
