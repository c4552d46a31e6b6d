"""Error codes and exception types shared by the engine and every layer above it.

Every user-facing code lives in :class:`ErrorCode`; ``docs/errors.md`` documents each one. Layers above the
engine (store, HTTP) map these to statuses at their own boundary; the engine never knows about HTTP.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final


class ErrorCode(StrEnum):
    """Stable, documented error codes; each has a number in :data:`ERROR_NUMBERS`."""

    # Validation: the seed's six classes (WorkflowErrorCode 4220-4225)
    INVALID_NODES = "INVALID_NODES"
    INVALID_EDGES = "INVALID_EDGES"
    CIRCULAR_DEPENDENCY = "CIRCULAR_DEPENDENCY"
    ORPHANED_NODE = "ORPHANED_NODE"
    MISSING_VARIABLE = "MISSING_VARIABLE"
    INVALID_VARIABLE_TYPE = "INVALID_VARIABLE_TYPE"
    # Validation: precise codes of our own, each inside one seed class (VALIDATION_CLASSES)
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
    HOST_ACCESS_DENIED = "HOST_ACCESS_DENIED"
    BINARY_LIMIT = "BINARY_LIMIT"
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
    # The seed's locks, runs, tenancy, import/export and state codes
    WORKFLOW_LOCKED = "WORKFLOW_LOCKED"
    LOCK_ACQUISITION_FAILED = "LOCK_ACQUISITION_FAILED"
    LOCK_NOT_OWNED = "LOCK_NOT_OWNED"
    WORKFLOW_NOT_EXECUTABLE = "WORKFLOW_NOT_EXECUTABLE"
    EXECUTION_IN_PROGRESS = "EXECUTION_IN_PROGRESS"
    VALIDATION_STATUS_INVALID = "VALIDATION_STATUS_INVALID"
    TENANT_MISMATCH = "TENANT_MISMATCH"
    CROSS_TENANT_ACCESS_DENIED = "CROSS_TENANT_ACCESS_DENIED"
    INVALID_EXPORT_FORMAT = "INVALID_EXPORT_FORMAT"
    IMPORT_VALIDATION_FAILED = "IMPORT_VALIDATION_FAILED"
    WORKFLOW_NOT_FOUND = "WORKFLOW_NOT_FOUND"
    WORKFLOW_DISABLED = "WORKFLOW_DISABLED"
    # Store: codes of our own
    EXECUTION_NOT_FOUND = "EXECUTION_NOT_FOUND"
    DUPLICATE_WORKFLOW_NAME = "DUPLICATE_WORKFLOW_NAME"
    VERSION_CONFLICT = "VERSION_CONFLICT"
    INVALID_FILTER = "INVALID_FILTER"
    INVALID_SORT = "INVALID_SORT"
    INVALID_PAGINATION = "INVALID_PAGINATION"
    FIELD_NOT_SEARCHABLE = "FIELD_NOT_SEARCHABLE"
    INVALID_SEARCH_QUERY = "INVALID_SEARCH_QUERY"
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
    LEASE_LOST = "LEASE_LOST"
    WEBHOOK_PATH_CONFLICT = "WEBHOOK_PATH_CONFLICT"
    WEBHOOK_PATH_INVALID = "WEBHOOK_PATH_INVALID"
    WEBHOOK_AUTH_UNSUPPORTED = "WEBHOOK_AUTH_UNSUPPORTED"
    # HTTP and authentication (raised by the API layer; PERMISSION_DENIED by the store too)
    UNAUTHENTICATED = "UNAUTHENTICATED"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    RATE_LIMITED = "RATE_LIMITED"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    INVALID_REQUEST = "INVALID_REQUEST"
    MALFORMED_JSON = "MALFORMED_JSON"
    ROUTE_NOT_FOUND = "ROUTE_NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    BOOTSTRAP_DONE = "BOOTSTRAP_DONE"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    WEBHOOK_NOT_FOUND = "WEBHOOK_NOT_FOUND"
    WEBHOOK_UNAUTHORIZED = "WEBHOOK_UNAUTHORIZED"
    WEBHOOK_NO_RESPONSE = "WEBHOOK_NO_RESPONSE"


ERROR_NUMBERS: Final[Mapping[ErrorCode, int]] = MappingProxyType(
    {
        # The seed's WorkflowErrorCode, name for name and number for number.
        ErrorCode.INVALID_NODES: 4220,
        ErrorCode.INVALID_EDGES: 4221,
        ErrorCode.CIRCULAR_DEPENDENCY: 4222,
        ErrorCode.ORPHANED_NODE: 4223,
        ErrorCode.MISSING_VARIABLE: 4224,
        ErrorCode.INVALID_VARIABLE_TYPE: 4225,
        ErrorCode.WORKFLOW_LOCKED: 4231,
        ErrorCode.LOCK_ACQUISITION_FAILED: 4232,
        ErrorCode.LOCK_NOT_OWNED: 4233,
        ErrorCode.WORKFLOW_NOT_EXECUTABLE: 4241,
        ErrorCode.EXECUTION_IN_PROGRESS: 4242,
        ErrorCode.VALIDATION_STATUS_INVALID: 4243,
        ErrorCode.TENANT_MISMATCH: 4034,
        ErrorCode.CROSS_TENANT_ACCESS_DENIED: 4035,
        ErrorCode.INVALID_EXPORT_FORMAT: 4251,
        ErrorCode.IMPORT_VALIDATION_FAILED: 4252,
        ErrorCode.WORKFLOW_NOT_FOUND: 4041,
        ErrorCode.WORKFLOW_DISABLED: 4042,
        # 46xx: validation codes of our own, and the verdict that carries them.
        ErrorCode.WORKFLOW_INVALID: 4600,
        ErrorCode.INVALID_JSON: 4601,
        ErrorCode.INVALID_WORKFLOW_FORMAT: 4602,
        ErrorCode.INVALID_FIELD: 4603,
        ErrorCode.UNKNOWN_NODE_TYPE: 4604,
        ErrorCode.UNSUPPORTED_TYPE_VERSION: 4605,
        ErrorCode.INVALID_PARAMETER: 4606,
        ErrorCode.DUPLICATE_NODE_NAME: 4607,
        ErrorCode.DUPLICATE_NODE_ID: 4608,
        ErrorCode.UNKNOWN_CONNECTION_SOURCE: 4609,
        ErrorCode.UNKNOWN_CONNECTION_TARGET: 4610,
        ErrorCode.INVALID_OUTPUT_INDEX: 4611,
        ErrorCode.INVALID_INPUT_INDEX: 4612,
        ErrorCode.EXPRESSION_SYNTAX: 4613,
        ErrorCode.UNKNOWN_NODE_REFERENCE: 4614,
        ErrorCode.LIMIT_EXCEEDED: 4615,
        # 47xx: the store's codes of our own.
        ErrorCode.EXECUTION_NOT_FOUND: 4700,
        ErrorCode.DUPLICATE_WORKFLOW_NAME: 4701,
        ErrorCode.VERSION_CONFLICT: 4702,
        ErrorCode.INVALID_FILTER: 4703,
        ErrorCode.INVALID_SORT: 4704,
        ErrorCode.INVALID_PAGINATION: 4705,
        ErrorCode.FIELD_NOT_SEARCHABLE: 4706,
        ErrorCode.INVALID_SEARCH_QUERY: 4707,
        ErrorCode.IDEMPOTENCY_CONFLICT: 4708,
        ErrorCode.EXECUTION_FINISHED: 4709,
        ErrorCode.SECRET_NOT_FOUND: 4710,
        ErrorCode.VERSION_NOT_FOUND: 4711,
        ErrorCode.TENANT_NOT_FOUND: 4712,
        ErrorCode.SECRET_KEY_UNAVAILABLE: 4713,
        ErrorCode.BULK_LIMIT_EXCEEDED: 4714,
        ErrorCode.INVALID_RETENTION_POLICY: 4715,
        ErrorCode.DUPLICATE_USER: 4716,
        ErrorCode.USER_NOT_FOUND: 4717,
        ErrorCode.INVALID_CURSOR: 4718,
        ErrorCode.INVALID_VALUE: 4719,
        ErrorCode.LEASE_LOST: 4720,
        ErrorCode.WEBHOOK_PATH_CONFLICT: 4721,
        ErrorCode.WEBHOOK_PATH_INVALID: 4722,
        ErrorCode.WEBHOOK_AUTH_UNSUPPORTED: 4723,
        # 48xx: HTTP and authentication.
        ErrorCode.UNAUTHENTICATED: 4800,
        ErrorCode.INVALID_CREDENTIALS: 4801,
        ErrorCode.PERMISSION_DENIED: 4802,
        ErrorCode.RATE_LIMITED: 4803,
        ErrorCode.PAYLOAD_TOO_LARGE: 4804,
        ErrorCode.INVALID_REQUEST: 4805,
        ErrorCode.MALFORMED_JSON: 4806,
        ErrorCode.ROUTE_NOT_FOUND: 4807,
        ErrorCode.METHOD_NOT_ALLOWED: 4808,
        ErrorCode.UNSUPPORTED_MEDIA_TYPE: 4809,
        ErrorCode.BOOTSTRAP_DONE: 4810,
        ErrorCode.SERVICE_UNAVAILABLE: 4811,
        ErrorCode.INTERNAL_ERROR: 4812,
        ErrorCode.WEBHOOK_NOT_FOUND: 4813,
        ErrorCode.WEBHOOK_UNAUTHORIZED: 4814,
        ErrorCode.WEBHOOK_NO_RESPONSE: 4815,
        # 50xx: execution.
        ErrorCode.INVALID_EXPRESSION: 5000,
        ErrorCode.EXPRESSION_LIMIT: 5001,
        ErrorCode.NODE_EXECUTION_FAILED: 5002,
        ErrorCode.TIMEOUT: 5003,
        ErrorCode.EXECUTION_TIMEOUT: 5004,
        ErrorCode.EXECUTION_LIMIT: 5005,
        ErrorCode.ABORTED: 5006,
        ErrorCode.STOPPED_BY_NODE: 5007,
        ErrorCode.HTTP_ERROR: 5008,
        ErrorCode.BLOCKED_ADDRESS: 5009,
        ErrorCode.SUBWORKFLOW_FAILED: 5010,
        ErrorCode.HOST_ACCESS_DENIED: 5011,
        ErrorCode.BINARY_LIMIT: 5012,
        # 51xx: node families.
        ErrorCode.CODE_ERROR: 5100,
        ErrorCode.DIVISION_BY_ZERO: 5101,
        ErrorCode.NEGATIVE_SQRT: 5102,
        ErrorCode.PROTOTYPE_POLLUTION: 5103,
        ErrorCode.EMAIL_SEND_ERROR: 5104,
        ErrorCode.DBAL_READ_ERROR: 5105,
        ErrorCode.DBAL_WRITE_ERROR: 5106,
        ErrorCode.DATA_STORE_UNAVAILABLE: 5107,
    }
)
"""Every code's number: the seed's own where the seed names the code, otherwise one in a block of ours
(46xx validation, 47xx store, 48xx HTTP, 50xx execution, 51xx node families). Numbers never change."""

VALIDATION_CLASSES: Final[Mapping[ErrorCode, ErrorCode]] = MappingProxyType(
    {
        # The seed's six classes are their own class.
        ErrorCode.INVALID_NODES: ErrorCode.INVALID_NODES,
        ErrorCode.INVALID_EDGES: ErrorCode.INVALID_EDGES,
        ErrorCode.CIRCULAR_DEPENDENCY: ErrorCode.CIRCULAR_DEPENDENCY,
        ErrorCode.ORPHANED_NODE: ErrorCode.ORPHANED_NODE,
        ErrorCode.MISSING_VARIABLE: ErrorCode.MISSING_VARIABLE,
        ErrorCode.INVALID_VARIABLE_TYPE: ErrorCode.INVALID_VARIABLE_TYPE,
        # The document or a workflow-level field: the seed's class for a malformed definition.
        ErrorCode.INVALID_JSON: ErrorCode.INVALID_NODES,
        ErrorCode.INVALID_WORKFLOW_FORMAT: ErrorCode.INVALID_NODES,
        ErrorCode.INVALID_FIELD: ErrorCode.INVALID_NODES,
        ErrorCode.LIMIT_EXCEEDED: ErrorCode.INVALID_NODES,
        # One node: its type, version, parameters, name or id, or an expression in its parameters.
        ErrorCode.UNKNOWN_NODE_TYPE: ErrorCode.INVALID_NODES,
        ErrorCode.UNSUPPORTED_TYPE_VERSION: ErrorCode.INVALID_NODES,
        ErrorCode.INVALID_PARAMETER: ErrorCode.INVALID_NODES,
        ErrorCode.DUPLICATE_NODE_NAME: ErrorCode.INVALID_NODES,
        ErrorCode.DUPLICATE_NODE_ID: ErrorCode.INVALID_NODES,
        ErrorCode.EXPRESSION_SYNTAX: ErrorCode.INVALID_NODES,
        ErrorCode.UNKNOWN_NODE_REFERENCE: ErrorCode.INVALID_NODES,
        # One connection.
        ErrorCode.UNKNOWN_CONNECTION_SOURCE: ErrorCode.INVALID_EDGES,
        ErrorCode.UNKNOWN_CONNECTION_TARGET: ErrorCode.INVALID_EDGES,
        ErrorCode.INVALID_OUTPUT_INDEX: ErrorCode.INVALID_EDGES,
        ErrorCode.INVALID_INPUT_INDEX: ErrorCode.INVALID_EDGES,
    }
)
"""Every validation code's seed class (one of the seed's six), so a client that knows only the seed's
codes can still group precise issues such as UNKNOWN_CONNECTION_TARGET (an INVALID_EDGES problem)."""


def error_number(code: ErrorCode) -> int:
    """The code's stable number (see :data:`ERROR_NUMBERS`)."""
    return ERROR_NUMBERS[code]


def seed_class(code: ErrorCode) -> ErrorCode | None:
    """The seed validation class a validation code belongs to; None for codes that are not validation's."""
    return VALIDATION_CLASSES.get(code)


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
