"""Execution bodies: seed 000's execute request and response, the stored record, lists and events."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tenantflow.api.schemas.common import Strict


class RequestInfo(Strict):
    """The HTTP request a caller relays to the workflow (``$context.request``)."""

    method: str | None = Field(default=None, max_length=16)
    headers: dict[str, Any] | None = None
    query: dict[str, Any] | None = None
    body: Any = None


class ExecuteBody(Strict):
    """Seed 000's execute body: the trigger's data, ``$vars`` and the relayed request."""

    triggerData: dict[str, Any] | list[Any] | None = Field(
        default=None, description="An object becomes one start item; a list, one item each."
    )
    variables: dict[str, Any] | None = None
    request: RequestInfo | None = None


class RetryBody(Strict):
    useCurrentVersion: bool = Field(
        default=False,
        description="n8n's 'retry with the currently saved workflow' (else the version the original ran).",
    )


class Metrics(BaseModel):
    nodesExecuted: int
    successNodes: int
    failedNodes: int
    retriedNodes: int
    totalRetries: int
    peakMemory: int
    dataProcessed: int
    apiCallsMade: int


class ExecutionResult(BaseModel):
    """Seed 000's 200 body for ``execute``; ``error`` only when the execution failed."""

    model_config = ConfigDict(extra="allow")

    executionId: str
    workflowId: str | None
    status: str
    state: dict[str, Any]
    metrics: Metrics
    startTime: str | None
    endTime: str | None
    duration: float | None
    error: dict[str, Any] | None = None


class Accepted(BaseModel):
    """202: the execution runs on; follow ``Location`` (or its events) for the outcome."""

    executionId: str
    workflowId: str | None
    status: str


class ExecutionSummary(BaseModel):
    id: str
    workflowId: str | None
    workflowVersion: int | None
    status: str
    triggerKind: str
    attempt: int
    abortRequested: bool
    createdBy: str | None
    createdAt: str | None
    startTime: str | None
    endTime: str | None
    duration: float | None
    error: dict[str, Any] | None


class Execution(ExecutionSummary):
    """The stored ExecutionRecord: each node's latest run in ``state``, logs in order."""

    idempotencyKey: str | None
    input: Any
    state: dict[str, Any]
    metrics: dict[str, int]
    logs: list[dict[str, Any]]


class ExecutionPage(BaseModel):
    items: list[ExecutionSummary]
    nextCursor: str | None
    hasMore: bool
