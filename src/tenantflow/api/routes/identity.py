"""``/api/v1/{tenant}``: users, API keys and the audit log, all admin+ (seed 003's ACL for everything that
is not a workflow). The store decides who may act on whom: nobody grants, or acts on someone, above their
own level, which is a 403 PERMISSION_DENIED the store has already audited."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from pydantic import AwareDatetime

from tenantflow.api.deps import Caller, admit
from tenantflow.api.schemas.common import ERROR_RESPONSES
from tenantflow.api.schemas.identity import (
    ID_PATTERN,
    ApiKeyCreate,
    ApiKeyList,
    AuditList,
    CreatedApiKey,
    User,
    UserCreate,
    UserList,
    UserPatch,
)
from tenantflow.services import identity as service
from tenantflow.store.audit import MAX_AUDIT_LIMIT, Outcome
from tenantflow.store.identity import DEFAULT_PAGE, MAX_PAGE, Level
from tenantflow.store.keyset import MAX_CURSOR_LENGTH, KeysetPage

router = APIRouter(prefix="/api/v1/{tenant}", responses=ERROR_RESPONSES)

Id = Annotated[str, Path(pattern=ID_PATTERN)]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]
Cursor = Annotated[
    str | None, Query(max_length=MAX_CURSOR_LENGTH, description="The previous page's `nextCursor`.")
]
Filter = Annotated[str | None, Query(max_length=255)]

UserCreator = Annotated[Caller, admit(Level.ADMIN, "mutation", "user.create")]
UserLister = Annotated[Caller, admit(Level.ADMIN, "list", "user.list")]
UserReader = Annotated[Caller, admit(Level.ADMIN, "list", "user.get")]
UserEditor = Annotated[Caller, admit(Level.ADMIN, "mutation", "user.update")]
KeyCreator = Annotated[Caller, admit(Level.ADMIN, "mutation", "api_key.create")]
KeyLister = Annotated[Caller, admit(Level.ADMIN, "list", "api_key.list")]
KeyRevoker = Annotated[Caller, admit(Level.ADMIN, "mutation", "api_key.revoke")]
AuditReader = Annotated[Caller, admit(Level.ADMIN, "list", "audit.list")]


@router.post("/users", status_code=201, response_model=User, tags=["users"], summary="Create a user")
async def create_user(caller: UserCreator, body: UserCreate, response: Response) -> dict[str, Any]:
    password = body.password.get_secret_value() if body.password else None
    async with caller.unit() as unit:
        user = await unit.users.create(
            body.email, level=body.level, password=password, display_name=body.displayName
        )
    response.headers["Location"] = f"/api/v1/{caller.actor.tenant_id}/users/{user.id}"
    return user.to_dict()


@router.get("/users", response_model=UserList, tags=["users"], summary="Users, newest first")
async def list_users(
    caller: UserLister, limit: Limit = DEFAULT_PAGE, cursor: Cursor = None
) -> dict[str, Any]:
    async with caller.unit(read_only=True, query=True) as unit:
        page = await unit.users.page(limit=limit, cursor=cursor)
    return {"users": [user.to_dict() for user in page.items], **_continuation(page)}


@router.get("/users/{user_id}", response_model=User, tags=["users"], summary="One user")
async def get_user(caller: UserReader, user_id: Id) -> dict[str, Any]:
    async with caller.unit(read_only=True) as unit:
        return (await unit.users.get(user_id)).to_dict()


@router.patch("/users/{user_id}", response_model=User, tags=["users"], summary="Change a level, (re)enable")
async def patch_user(caller: UserEditor, user_id: Id, body: UserPatch) -> dict[str, Any]:
    async with caller.unit() as unit:
        user = await service.update_user(
            unit, user_id, caller.runtime.authenticator, level=body.level, disabled=body.disabled
        )
    return user.to_dict()


@router.post(
    "/api-keys",
    status_code=201,
    response_model=CreatedApiKey,
    tags=["api-keys"],
    summary="Mint an API key; the key is in this response only",
)
async def create_api_key(caller: KeyCreator, body: ApiKeyCreate) -> dict[str, Any]:
    async with caller.unit() as unit:
        view, key = await service.create_api_key(
            unit, body.name, user_id=body.userId, level_cap=body.levelCap
        )
    return {**view.to_dict(), "key": key}


@router.get("/api-keys", response_model=ApiKeyList, tags=["api-keys"], summary="API keys (metadata only)")
async def list_api_keys(
    caller: KeyLister,
    userId: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    limit: Limit = DEFAULT_PAGE,
    cursor: Cursor = None,
) -> dict[str, Any]:
    async with caller.unit(read_only=True, query=True) as unit:
        page = await unit.api_keys.page(user_id=userId, limit=limit, cursor=cursor)
    return {"apiKeys": [key.to_dict() for key in page.items], **_continuation(page)}


@router.delete(
    "/api-keys/{key_id}",
    status_code=204,
    response_class=Response,
    tags=["api-keys"],
    summary="Revoke an API key (idempotent); refused at once here, within 2 s by other processes",
)
async def revoke_api_key(caller: KeyRevoker, key_id: Id) -> None:
    async with caller.unit() as unit:
        await service.revoke_api_key(unit, key_id, caller.runtime.authenticator)


@router.get("/audit", response_model=AuditList, tags=["audit"], summary="The audit log, newest first")
async def audit_log(
    caller: AuditReader,
    userId: Filter = None,
    operation: Filter = None,
    targetType: Filter = None,
    targetId: Filter = None,
    outcome: Outcome | None = None,
    since: Annotated[AwareDatetime | None, Query(description="ISO 8601 with a zone; at or after.")] = None,
    until: Annotated[AwareDatetime | None, Query(description="ISO 8601 with a zone; before.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_AUDIT_LIMIT)] = DEFAULT_PAGE,
    cursor: Cursor = None,
) -> dict[str, Any]:
    given = {
        "userId": userId,
        "operation": operation,
        "targetType": targetType,
        "targetId": targetId,
        "outcome": outcome,
        "since": since,
        "until": until,
    }
    filter = {key: value for key, value in given.items() if value is not None}
    async with caller.unit(read_only=True, query=True) as unit:
        page = await unit.audit_log.list(filter, limit=limit, cursor=cursor)
    return {"entries": page.items, **_continuation(page)}


def _continuation(page: KeysetPage[Any]) -> dict[str, Any]:
    return {"nextCursor": page.next_cursor, "hasMore": page.has_more}
