"""The principal cache under a clock that moves between reads: an entry that expires while a request looks
it up is a miss, never an error (the request would answer 500)."""

from __future__ import annotations

import uuid

import pytest

from tenantflow.services import provisioning
from tenantflow.services.access import PRINCIPAL_CACHE_SECONDS, Authenticator
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


async def test_an_entry_that_expires_during_its_lookup_is_looked_up_again(store: Store) -> None:
    tenant = await provisioning.create_tenant(store, f"c-{uuid.uuid4().hex[:12]}")
    user = await provisioning.create_user(store, tenant.id, "ada@example.com", level=3)
    _, key = await provisioning.create_api_key(store, tenant.id, user.email, "cache")
    # every reading of the clock passes 60% of an entry's life: alive at one reading, gone at the next
    authenticator = Authenticator(
        store, jwt_key=b"k" * 32, jwt_ttl_seconds=60, clock=Clock(0.6 * PRINCIPAL_CACHE_SECONDS)
    )

    for _ in range(3):  # a miss that reads the key, then lookups that meet the entry on its way out
        principal = await authenticator.principal(key)
        assert principal is not None
        assert (principal.tenant_id, principal.user_id, principal.level) == (tenant.id, user.id, 3)
