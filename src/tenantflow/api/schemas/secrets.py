"""Secret bodies. A value is accepted and never returned: no response schema has a field for it."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr

from tenantflow.api.schemas.common import Strict
from tenantflow.services.secrets import MAX_DESCRIPTION

MAX_SECRET_LENGTH = 65_536


class SecretPut(Strict):
    """PUT /secrets/{name}: create or replace. ``SecretStr`` keeps the value out of reprs and tracebacks."""

    value: SecretStr = Field(min_length=1, max_length=MAX_SECRET_LENGTH, description="Write-only.")
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION)


class Secret(BaseModel):
    """A secret's metadata."""

    name: str
    description: str | None
    keyId: str = Field(description="The keyring key that sealed the value (rotation progress).")
    createdAt: str
    updatedAt: str


class SecretList(BaseModel):
    secrets: list[Secret]
    nextAfter: str | None = Field(description="Pass as `after` for the next page; null on the last one.")
    hasMore: bool
