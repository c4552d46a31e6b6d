"""``tenantflow serve``: prepare the database once, then hand the app to uvicorn.

Migrations, the embedded keyring and the first-run bootstrap happen here, before uvicorn starts any
worker process, so ``--workers N`` never races N processes through them.
"""

from __future__ import annotations

import asyncio
import sys

import uvicorn
from fastapi import FastAPI

from tenantflow.api.app import create_app
from tenantflow.services import provisioning
from tenantflow.services.runtime import migrate, open_store
from tenantflow.settings import Settings


def build_app() -> FastAPI:
    """uvicorn's factory (``tenantflow.api.server:build_app``): each worker reads the same settings."""
    return create_app(Settings())


async def prepare(settings: Settings) -> provisioning.Bootstrapped | None:
    """Migrate, load or create the keyring, and bootstrap an empty database when allowed."""
    await migrate(settings)
    store = await open_store(settings)
    try:
        return await provisioning.bootstrap(store) if settings.bootstrap else None
    finally:
        await store.close()


def announce(made: provisioning.Bootstrapped, settings: Settings) -> None:
    """Printed once, on the first start: the only time the password and key are shown."""
    base = f"http://{settings.host}:{settings.port}"
    lines = [
        "",
        "tenantflow: first start on an empty database; created (shown once, store them now):",
        f"  tenant   {made.tenant_id}",
        f"  admin    {made.email}  password {made.password}",
        f"  API key  {made.api_key}",
        f"  try      curl -H 'Authorization: Bearer {made.api_key}' {base}/api/v1/{made.tenant_id}/workflows",
        "",
    ]
    print("\n".join(lines), file=sys.stderr, flush=True)


def run_server(settings: Settings, *, workers: int = 1) -> None:
    made = asyncio.run(prepare(settings))
    if made is not None:
        announce(made, settings)
    uvicorn.run(
        "tenantflow.api.server:build_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
        log_level=settings.log_level,
        proxy_headers=True,
        server_header=False,
        access_log=False,
        timeout_graceful_shutdown=10,
    )
