"""Opening the store the way every entry point does: the same settings, migrations, keyring and registry."""

from __future__ import annotations

from tenantflow.nodes import default_registry
from tenantflow.settings import Settings
from tenantflow.store.database import Database
from tenantflow.store.migrate import upgrade
from tenantflow.store.unit import Store


async def migrate(settings: Settings) -> None:
    """Bring the schema to the newest migration (a no-op when it is there): serve and operators run it."""
    if settings.is_embedded:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    database = Database(settings.resolved_database_url)
    try:
        await upgrade(database)
    finally:
        await database.dispose()


async def open_store(settings: Settings) -> Store:
    """The store for ``settings``; the caller closes it. Raises ConfigurationError for unusable settings."""
    return await Store.open(
        settings.resolved_database_url,
        keyring=settings.keyring(),
        registry=default_registry(),
        redis_url=settings.redis_url,
    )
