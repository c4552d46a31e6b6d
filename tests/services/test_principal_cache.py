"""The principal cache under a clock that moves between reads: an entry that expires while a request looks
it up is a miss, never an error (the request would answer 500)."""

from __future__ import annotations

import pytest
from cachetools import TTLCache

from tenantflow.services.access import PRINCIPAL_CACHE_SECONDS, Authenticator, Principal
from tenantflow.store.unit import Store

pytestmark = pytest.mark.anyio


class Clock:
    """Each reading is ``step`` seconds after the one before."""

    def __init__(self, step: float) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


async def test_an_entry_that_expires_during_its_lookup_is_looked_up_again(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    authenticator = Authenticator(store, jwt_key=b"k" * 32, jwt_ttl_seconds=60)
    cached = Principal("a-tenant", "someone", 3, "key-1")
    # every reading of the clock passes 60% of the entry's life: alive at one reading, gone at the next
    clock = Clock(0.6 * PRINCIPAL_CACHE_SECONDS)
    cache: TTLCache[str, Principal | None] = TTLCache(8, PRINCIPAL_CACHE_SECONDS, timer=clock)
    monkeypatch.setattr(authenticator, "_cache", cache)
    resolved: list[str] = []

    async def resolve(credentials: str) -> Principal | None:
        resolved.append(credentials)
        return cached

    monkeypatch.setattr(authenticator, "_resolve", resolve)
    assert await authenticator.principal("tf_key") is cached  # a miss: resolved and cached
    assert await authenticator.principal("tf_key") is cached  # a hit, or a miss: never a KeyError
    assert 1 <= len(resolved) <= 2
