"""Opening the store the way every entry point does: the same settings, migrations, keyring and registry."""

from __future__ import annotations

from sqlalchemy import text

from tenantflow.nodes import default_registry
from tenantflow.settings import Settings
from tenantflow.store.database import Database
from tenantflow.store.migrate import upgrade
from tenantflow.store.unit import Store

MIGRATION_LOCK_KEY = 0x74666D6967  # "tfmig": one advisory lock id for schema migrations


async def migrate(settings: Settings) -> None:
    """Bring the schema to the newest migration (a no-op when it is there): serve and operators run it.

    On PostgreSQL several API processes may start at once: an advisory lock lets one migrate while the
    others wait and then find nothing to do. SQLite's migration transaction takes the write lock at BEGIN.
    """
    if settings.is_embedded:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    database = Database(settings.resolved_database_url)
    try:
        if database.dialect != "postgresql":
            await upgrade(database)
            return
        async with database.engine.connect() as holder:
            await holder.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            try:
                await upgrade(database)
            finally:
                await holder.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
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
