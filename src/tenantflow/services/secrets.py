"""Secret use cases on an explicit unit: a value goes in and only metadata comes out.

A value travels from the request body to :meth:`SecretRepository.set` and nowhere else: no return value,
log line or audit detail carries it (the store audits the name and whether the secret was new).
"""

from __future__ import annotations

from tenantflow.store.errors import InvalidRequestError
from tenantflow.store.keyset import KeysetPage
from tenantflow.store.secrets import SecretInfo, check_name
from tenantflow.store.text import checked_text
from tenantflow.store.unit import Unit

MAX_DESCRIPTION = 10_000


def _named(name: str) -> str:
    """The store's name rule, with the error pointing at the URL segment the name came from."""
    try:
        return check_name(name)
    except InvalidRequestError as error:
        error.path = "path.name"
        raise


async def put(unit: Unit, name: str, value: str, description: str | None) -> SecretInfo:
    """Create or replace; the description is checked here because PostgreSQL refuses NUL in text."""
    if description is not None:
        checked_text(description, MAX_DESCRIPTION, "$.description")
    return await unit.secrets.set(_named(name), value, description=description)


async def listing(unit: Unit, *, limit: int, after: str | None) -> KeysetPage[SecretInfo]:
    """A page of metadata by name; one extra row tells whether more follow, its cursor is the last name."""
    found = await unit.secrets.list(limit=limit + 1, after=after)
    kept = found[:limit]
    has_more = len(found) > limit
    return KeysetPage(kept, kept[-1].name if has_more else None, has_more)


async def delete(unit: Unit, name: str) -> None:
    await unit.secrets.delete(_named(name))
