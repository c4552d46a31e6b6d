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


SEED_NUMBERS: dict[ErrorCode, int] = {
    ErrorCode.INVALID_NODES: 4220,
    ErrorCode.INVALID_EDGES: 4221,
    ErrorCode.CIRCULAR_DEPENDENCY: 4222,
    ErrorCode.ORPHANED_NODE: 4223,
    ErrorCode.MISSING_VARIABLE: 4224,
    ErrorCode.INVALID_VARIABLE_TYPE: 4225,
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
