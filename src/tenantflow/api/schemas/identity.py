"""User, API key and audit-log bodies. No response schema has a field for a password, a key's hash, or
(outside :class:`CreatedApiKey`, shown once) a key."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field, SecretStr

from tenantflow.api.schemas.common import Strict
from tenantflow.store.audit import Outcome

Level = Annotated[
    int, Field(ge=0, le=5, description="0 public, 1 user, 2 moderator, 3 admin, 4 god, 5 supergod.")
]
ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"


class UserCreate(Strict):
    email: str = Field(min_length=3, max_length=320)
    level: Level
    password: SecretStr | None = Field(
        default=None, min_length=12, max_length=1024, description="Without one, API keys only."
    )
    displayName: str | None = Field(default=None, max_length=255)


class UserPatch(Strict):
    level: Level | None = None
    disabled: bool | None = None


class User(BaseModel):
    id: str
    email: str
    displayName: str | None
    level: int
    disabled: bool
    createdAt: str


class _Page(BaseModel):
    nextCursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last one.")
    hasMore: bool


class UserList(_Page):
    users: list[User]


class ApiKeyCreate(Strict):
    name: str = Field(min_length=1, max_length=255)
    userId: str | None = Field(default=None, pattern=ID_PATTERN, description="Default: the caller's user.")
    levelCap: Level | None = Field(
        default=None, description="Default: the lower of the user's level and the caller's."
    )


class ApiKey(BaseModel):
    id: str
    userId: str
    name: str
    prefix: str = Field(description="The key's public part, to recognise it by.")
    levelCap: int
    createdAt: str
    lastUsedAt: str | None
    revokedAt: str | None


class CreatedApiKey(ApiKey):
    key: str = Field(description="The key itself: shown in this response only, stored nowhere.")


class ApiKeyList(_Page):
    apiKeys: list[ApiKey]


class AuditEntry(BaseModel):
    id: int
    at: str
    userId: str | None
    requestId: str | None
    ip: str | None
    operation: str
    targetType: str | None
    targetId: str | None
    outcome: Outcome
    errorCode: str | None
    details: dict[str, Any] | None


class AuditList(_Page):
    entries: list[AuditEntry]
