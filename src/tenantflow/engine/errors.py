"""Error codes and exception types shared by the engine and every layer above it.

Every user-facing code lives in :class:`ErrorCode`; ``docs/errors.md`` documents each one. Layers above the
engine (store, HTTP) map these to statuses at their own boundary; the engine never knows about HTTP.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    """Stable, documented error codes. Numeric seed codes are kept in :data:`SEED_NUMBERS`."""

    # Validation (seed codes 4220-4225)
    INVALID_NODES = "INVALID_NODES"
    INVALID_EDGES = "INVALID_EDGES"
    CIRCULAR_DEPENDENCY = "CIRCULAR_DEPENDENCY"
    ORPHANED_NODE = "ORPHANED_NODE"
    MISSING_VARIABLE = "MISSING_VARIABLE"
    INVALID_VARIABLE_TYPE = "INVALID_VARIABLE_TYPE"
    # Validation (named codes of our own)
    INVALID_JSON = "INVALID_JSON"
    INVALID_WORKFLOW_FORMAT = "INVALID_WORKFLOW_FORMAT"
    INVALID_FIELD = "INVALID_FIELD"
    UNKNOWN_NODE_TYPE = "UNKNOWN_NODE_TYPE"
    UNSUPPORTED_TYPE_VERSION = "UNSUPPORTED_TYPE_VERSION"
    INVALID_PARAMETER = "INVALID_PARAMETER"
    DUPLICATE_NODE_NAME = "DUPLICATE_NODE_NAME"
    DUPLICATE_NODE_ID = "DUPLICATE_NODE_ID"
    UNKNOWN_CONNECTION_SOURCE = "UNKNOWN_CONNECTION_SOURCE"
    UNKNOWN_CONNECTION_TARGET = "UNKNOWN_CONNECTION_TARGET"
    INVALID_OUTPUT_INDEX = "INVALID_OUTPUT_INDEX"
    INVALID_INPUT_INDEX = "INVALID_INPUT_INDEX"
    EXPRESSION_SYNTAX = "EXPRESSION_SYNTAX"
    UNKNOWN_NODE_REFERENCE = "UNKNOWN_NODE_REFERENCE"
    LIMIT_EXCEEDED = "LIMIT_EXCEEDED"
    # Execution
    INVALID_EXPRESSION = "INVALID_EXPRESSION"
    EXPRESSION_LIMIT = "EXPRESSION_LIMIT"
    NODE_EXECUTION_FAILED = "NODE_EXECUTION_FAILED"
    TIMEOUT = "TIMEOUT"
    EXECUTION_TIMEOUT = "EXECUTION_TIMEOUT"
    EXECUTION_LIMIT = "EXECUTION_LIMIT"
    ABORTED = "ABORTED"
    STOPPED_BY_NODE = "STOPPED_BY_NODE"
    HTTP_ERROR = "HTTP_ERROR"
    BLOCKED_ADDRESS = "BLOCKED_ADDRESS"
    SUBWORKFLOW_FAILED = "SUBWORKFLOW_FAILED"
    WORKFLOW_INVALID = "WORKFLOW_INVALID"
    # Execution, raised by particular node families
    CODE_ERROR = "CODE_ERROR"
    DIVISION_BY_ZERO = "DIVISION_BY_ZERO"
    NEGATIVE_SQRT = "NEGATIVE_SQRT"
    PROTOTYPE_POLLUTION = "PROTOTYPE_POLLUTION"
    EMAIL_SEND_ERROR = "EMAIL_SEND_ERROR"
    DBAL_READ_ERROR = "DBAL_READ_ERROR"
    DBAL_WRITE_ERROR = "DBAL_WRITE_ERROR"
    DATA_STORE_UNAVAILABLE = "DATA_STORE_UNAVAILABLE"
    # Store (seed WorkflowErrorCode numbers in SEED_NUMBERS)
    CROSS_TENANT_ACCESS_DENIED = "CROSS_TENANT_ACCESS_DENIED"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    WORKFLOW_NOT_FOUND = "WORKFLOW_NOT_FOUND"
    EXECUTION_NOT_FOUND = "EXECUTION_NOT_FOUND"
    DUPLICATE_WORKFLOW_NAME = "DUPLICATE_WORKFLOW_NAME"
    VERSION_CONFLICT = "VERSION_CONFLICT"
    WORKFLOW_LOCKED = "WORKFLOW_LOCKED"
    LOCK_NOT_HELD = "LOCK_NOT_HELD"
    INVALID_FILTER = "INVALID_FILTER"
    INVALID_SORT = "INVALID_SORT"
    INVALID_PAGINATION = "INVALID_PAGINATION"
    FIELD_NOT_SEARCHABLE = "FIELD_NOT_SEARCHABLE"
    INVALID_SEARCH_QUERY = "INVALID_SEARCH_QUERY"
    INVALID_IMPORT = "INVALID_IMPORT"
    IDEMPOTENCY_CONFLICT = "IDEMPOTENCY_CONFLICT"
    EXECUTION_FINISHED = "EXECUTION_FINISHED"
    SECRET_NOT_FOUND = "SECRET_NOT_FOUND"
    VERSION_NOT_FOUND = "VERSION_NOT_FOUND"
    TENANT_NOT_FOUND = "TENANT_NOT_FOUND"
    SECRET_KEY_UNAVAILABLE = "SECRET_KEY_UNAVAILABLE"
    BULK_LIMIT_EXCEEDED = "BULK_LIMIT_EXCEEDED"
    INVALID_RETENTION_POLICY = "INVALID_RETENTION_POLICY"
    DUPLICATE_USER = "DUPLICATE_USER"
    USER_NOT_FOUND = "USER_NOT_FOUND"
    INVALID_CURSOR = "INVALID_CURSOR"
    INVALID_VALUE = "INVALID_VALUE"


SEED_NUMBERS: dict[ErrorCode, int] = {
    ErrorCode.INVALID_NODES: 4220,
    ErrorCode.INVALID_EDGES: 4221,
    ErrorCode.CIRCULAR_DEPENDENCY: 4222,
    ErrorCode.ORPHANED_NODE: 4223,
    ErrorCode.MISSING_VARIABLE: 4224,
    ErrorCode.INVALID_VARIABLE_TYPE: 4225,
    ErrorCode.WORKFLOW_INVALID: 4226,
    ErrorCode.DUPLICATE_WORKFLOW_NAME: 4230,
    ErrorCode.VERSION_CONFLICT: 4231,
    ErrorCode.WORKFLOW_LOCKED: 4232,
    ErrorCode.LOCK_NOT_HELD: 4233,
    ErrorCode.INVALID_FILTER: 4234,
    ErrorCode.INVALID_SORT: 4235,
    ErrorCode.INVALID_PAGINATION: 4236,
    ErrorCode.FIELD_NOT_SEARCHABLE: 4237,
    ErrorCode.INVALID_SEARCH_QUERY: 4238,
    ErrorCode.INVALID_IMPORT: 4239,
    ErrorCode.IDEMPOTENCY_CONFLICT: 4240,
    ErrorCode.EXECUTION_FINISHED: 4241,
    ErrorCode.SECRET_NOT_FOUND: 4242,
    ErrorCode.VERSION_NOT_FOUND: 4243,
    ErrorCode.TENANT_NOT_FOUND: 4244,
    ErrorCode.SECRET_KEY_UNAVAILABLE: 4245,
    ErrorCode.BULK_LIMIT_EXCEEDED: 4246,
    ErrorCode.INVALID_RETENTION_POLICY: 4247,
    ErrorCode.DUPLICATE_USER: 4248,
    ErrorCode.USER_NOT_FOUND: 4249,
    ErrorCode.INVALID_CURSOR: 4250,
    ErrorCode.INVALID_VALUE: 4251,
    ErrorCode.CROSS_TENANT_ACCESS_DENIED: 4034,
    ErrorCode.PERMISSION_DENIED: 4035,
    ErrorCode.WORKFLOW_NOT_FOUND: 4041,
    ErrorCode.EXECUTION_NOT_FOUND: 4042,
}


class NodeError(Exception):
    """A node failed. Raised by node implementations; the executor records it and applies the policy.

    ``retryable`` overrides the retry policy's own judgement when set; ``status_code`` lets an HTTP
    failure match ``retryableStatusCodes``.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str = ErrorCode.NODE_EXECUTION_FAILED,
        status_code: int | None = None,
        retryable: bool | None = None,
        description: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = str(code)
        self.status_code = status_code
        self.retryable = retryable
        self.description = description
        self.details = details or {}

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.status_code is not None:
            data["statusCode"] = self.status_code
        if self.description:
            data["description"] = self.description
        if self.details:
            data["details"] = self.details
        return data


class WorkflowInvalidError(Exception):
    """The definition did not pass validation; carries the report so callers can show every error."""

    def __init__(self, report: Any) -> None:
        super().__init__("workflow definition is invalid")
        self.report = report
