"""Rate limits: the seed's presets, each its own counter keyed by tenant + principal + client address.

MetaBuilder keyed one in-memory counter by IP alone, so one noisy tenant behind a proxy throttled everyone
and two processes each allowed the full rate. Here ``limits`` keeps the counters: in Redis when one is
configured (a moving window, exact across every API process), in memory otherwise.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from tenantflow.settings import Settings


@dataclass(frozen=True, slots=True)
class Verdict:
    """One request's standing against its preset: what the ``RateLimit-*`` headers report."""

    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int

    def headers(self) -> dict[str, str]:
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
        }
        if not self.allowed:
            headers["Retry-After"] = str(max(self.reset_seconds, 1))
        return headers


class RateLimiter:
    """Counts hits per preset and identity; ``enabled=False`` (benchmarks, trusted setups) lets all pass."""

    def __init__(self, storage: Storage, presets: dict[str, str], *, enabled: bool = True) -> None:
        self._storage = storage
        self._strategy = MovingWindowRateLimiter(storage)
        self._items: dict[str, RateLimitItem] = {name: parse(rule) for name, rule in presets.items()}
        self.enabled = enabled

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimiter:
        storage: Storage
        if settings.redis_url:
            uri = "async+" + settings.redis_url
            storage = RedisStorage(uri, implementation="redispy", key_prefix="tenantflow:ratelimit")
        else:
            storage = MemoryStorage()
        return cls(storage, settings.rate_limits, enabled=settings.rate_limits_enabled)

    async def hit(self, preset: str, *identity: str) -> Verdict | None:
        """Count one request; None when limits are off."""
        if not self.enabled:
            return None
        item = self._items[preset]
        allowed = await self._strategy.hit(item, preset, *identity)
        reset_at, remaining = await self._strategy.get_window_stats(item, preset, *identity)
        reset = max(0, math.ceil(reset_at - time.time()))
        return Verdict(allowed, item.amount, remaining, reset)

    async def close(self) -> None:
        if isinstance(self._storage, MemoryStorage):
            await self._storage.reset()  # also stops its expiry timer task
