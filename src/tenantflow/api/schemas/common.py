"""Shapes every resource shares: the error body, pagination, the strict base model."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# Ids the service makes (uuid4) and every id a path may carry: checked before any query, since PostgreSQL
# refuses a NUL in text outright (an unchecked one was a 500 there and a 404 on SQLite).
ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"


class Strict(BaseModel):
    """Request bodies refuse unknown fields: a typo must not be silently ignored."""

    model_config = ConfigDict(extra="forbid")


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable error code; docs/errors.md lists every one.")
    number: int = Field(description="Numeric code: the seed's WorkflowErrorCode where it names one.")
    message: str
    path: str | None = Field(default=None, description="JSON path into the request: `$.nodes[0].type`.")
    details: dict[str, Any] | None = None
    requestId: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


class Pagination(BaseModel):
    total: int
    limit: int
    offset: int
    hasMore: bool


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in {
        400: "Malformed JSON or a bad query parameter",
        401: "Missing or invalid credentials",
        403: "Level too low, or another tenant's route",
        404: "Not found in this tenant",
        409: "Conflicts with the current state",
        413: "Body too large",
        415: "The body is not declared as JSON (Content-Type: application/json)",
        422: "Body does not match the schema, or the workflow is invalid",
        423: "Locked by someone else",
        429: "Rate limit exceeded",
    }.items()
}
