"""Typed store errors, each with a documented :class:`ErrorCode`; the HTTP layer maps classes to statuses."""

from __future__ import annotations

from typing import Any

from tenantflow.engine.errors import ErrorCode, error_number


class StoreError(Exception):
    """A request the store refused. ``path`` points into the caller's input where that makes sense."""

    def __init__(
        self, code: ErrorCode, message: str, *, path: str | None = None, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.path = path
        self.details = details or {}
        self.audited = False
        """Set once an audit row records this failure, so nested operations do not record it twice."""

    @property
    def number(self) -> int:
        return error_number(self.code)

    def to_dict(self) -> dict[str, Any]:
        """The wire shape: ``{code, number, message, path?, details?}``."""
        data: dict[str, Any] = {"code": self.code.value, "number": self.number, "message": self.message}
        if self.path is not None:
            data["path"] = self.path
        if self.details:
            data["details"] = self.details
        return data


class NotFoundError(StoreError):
    """Absent, or owned by another tenant: the two are indistinguishable to the caller on purpose."""


class AccessDeniedError(StoreError):
    """A write aimed at another tenant's row, or an actor below the level an operation needs."""


class ConflictError(StoreError):
    """The request is well-formed but collides with current state (names, versions, locks, keys)."""


class InvalidRequestError(StoreError):
    """Malformed arguments: unknown filter fields, bad cursors, out-of-range values."""


class WorkflowValidationError(StoreError):
    """The workflow did not pass validation; ``details["errors"]`` lists every issue with its JSON path."""


def not_found(code: ErrorCode, kind: str, ident: str) -> NotFoundError:
    return NotFoundError(code, f"{kind} {ident!r} not found", details={"id": ident})
