"""The app as tests serve it in-process: its settings on a test database, and an admin's client for a new
tenant, spoken to through ``httpx2.ASGITransport`` inside the app's own lifespan."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
from fastapi import FastAPI
from pydantic import SecretStr

from tenantflow.services import provisioning
from tenantflow.services.runtime import open_store
from tenantflow.settings import Settings
from tenantflow.store.secrets import Keyring


def served_settings(database_url: str, data_dir: Path, **changes: Any) -> Settings:
    """Settings for an app under test: a fresh keyring, no bootstrap tenant, no rate limits unless asked."""
    fields: dict[str, Any] = {
        "database_url": database_url,
        "data_dir": data_dir,
        "secret_keys": SecretStr(Keyring.generate().spec()),
        "rate_limits_enabled": False,
        "bootstrap": False,
    }
    return Settings(**(fields | changes))


@asynccontextmanager
async def admin_client(app: FastAPI, label: str) -> AsyncIterator[tuple[httpx2.AsyncClient, str]]:
    """A new tenant ``label-…`` with an admin and an API key, and a client for its routes (``/workflows``
    and so on, relative to ``/api/v1/{tenant}``); the app's lifespan must be running."""
    store = app.state.runtime.store
    tenant = f"{label}-{uuid.uuid4().hex[:8]}"
    await provisioning.create_tenant(store, tenant, tenant)
    await provisioning.create_user(store, tenant, "ops@example.com", 3)
    _, key = await provisioning.create_api_key(store, tenant, "ops@example.com", "ops")
    transport = httpx2.ASGITransport(app=app)
    base = f"http://tenantflow.test/api/v1/{tenant}"
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx2.AsyncClient(transport=transport, base_url=base, headers=headers) as client:
        yield client, tenant


async def provision(settings: Settings, label: str) -> tuple[str, str]:
    """A new tenant ``label-…``, its admin and an API key (as ``tenantflow tenant/user/key create`` make
    them), on the database of ``settings``: for servers started as their own processes."""
    store = await open_store(settings)
    try:
        tenant_id = f"{label}-{uuid.uuid4().hex[:8]}"
        await provisioning.create_tenant(store, tenant_id, tenant_id)
        await provisioning.create_user(store, tenant_id, "ops@example.com", 3)
        _, api_key = await provisioning.create_api_key(store, tenant_id, "ops@example.com", "ops")
    finally:
        await store.close()
    return tenant_id, api_key
