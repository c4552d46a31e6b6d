"""``/api/v1/{tenant}/secrets``: admin+ (seed 003) sets, lists and deletes secrets; no route returns a value.

A name that breaks the store's rule is a 422 pointing at ``path.name``; it is checked by the service, not
by a path pattern, which would answer 400 as for any malformed URL.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from tenantflow.api.deps import Caller, admit
from tenantflow.api.schemas.common import ERROR_RESPONSES
from tenantflow.api.schemas.secrets import Secret, SecretList, SecretPut
from tenantflow.services import secrets as service
from tenantflow.store.identity import Level
from tenantflow.store.secrets import SECRET_NAME, SecretInfo

router = APIRouter(prefix="/api/v1/{tenant}/secrets", tags=["secrets"], responses=ERROR_RESPONSES)

Setter = Annotated[Caller, admit(Level.ADMIN, "mutation", "secret.set")]
Lister = Annotated[Caller, admit(Level.ADMIN, "list", "secret.list")]
Deleter = Annotated[Caller, admit(Level.ADMIN, "mutation", "secret.delete")]


def metadata(info: SecretInfo) -> dict[str, Any]:
    return {
        "name": info.name,
        "description": info.description,
        "keyId": info.key_id,
        "createdAt": info.created_at.isoformat(),
        "updatedAt": info.updated_at.isoformat(),
    }


@router.put("/{name}", response_model=Secret, summary="Create or replace a secret (its value is write-only)")
async def put_secret(caller: Setter, name: str, body: SecretPut) -> dict[str, Any]:
    async with caller.unit() as unit:
        info = await service.put(unit, name, body.value.get_secret_value(), body.description)
    return metadata(info)


@router.get("", response_model=SecretList, summary="Secret names and metadata, by name")
async def list_secrets(
    caller: Lister,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    after: Annotated[
        str | None, Query(pattern=SECRET_NAME.pattern, description="The previous page's `nextAfter`.")
    ] = None,
) -> dict[str, Any]:
    async with caller.unit(read_only=True) as unit:
        page = await service.listing(unit, limit=limit, after=after)
    return {
        "secrets": [metadata(info) for info in page.items],
        "nextAfter": page.next_cursor,
        "hasMore": page.has_more,
    }


@router.delete("/{name}", status_code=204, response_class=Response, summary="Delete a secret")
async def delete_secret(caller: Deleter, name: str) -> None:
    async with caller.unit() as unit:
        await service.delete(unit, name)
