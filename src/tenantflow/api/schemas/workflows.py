"""Workflow bodies. A create body is the seed's (name, category, nodes, connections, …) and also takes
the top-level fields of an n8n export or a MetaBuilder v3 document, so a definition can be posted as is;
``POST /workflows/import`` takes any export unchanged."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tenantflow.api.schemas.common import Pagination, Strict

# Seed 000's categories and seed 003's: stored workflows may carry either vocabulary.
Category = Literal[
    "automation",
    "integration",
    "business-logic",
    "data-transformation",
    "notification",
    "approval",
    "other",
    "system",
    "user",
    "package",
    "template",
]
Tag = str | dict[str, Any]


class _Definition(Strict):
    description: str | None = Field(default=None, max_length=10_000)
    nodes: list[dict[str, Any]] | None = None
    connections: dict[str, Any] | None = None
    settings: dict[str, Any] | None = None
    variables: dict[str, Any] | list[Any] | None = None
    tags: list[Tag] | None = None
    triggers: list[dict[str, Any]] | None = Field(default=None, description="MetaBuilder trigger list; kept.")
    metadata: dict[str, Any] | None = Field(default=None, description="Free-form; kept with the workflow.")
    # n8n export and MetaBuilder v3 fields, kept with the workflow as they came.
    pinData: dict[str, Any] | None = None
    staticData: dict[str, Any] | None = None
    meta: dict[str, Any] | None = None
    retryPolicy: dict[str, Any] | None = None
    executionLimits: dict[str, Any] | None = None
    versionId: str | None = None
    id: str | int | None = Field(default=None, description="Ignored: the service assigns ids.")
    createdAt: str | None = Field(default=None, description="Ignored.")
    updatedAt: str | None = Field(default=None, description="Ignored.")
    triggerCount: int | None = None
    isArchived: bool | None = None


class WorkflowCreate(_Definition):
    """POST /workflows (seed 000): ``name`` and ``category`` are required; ``active`` defaults to true."""

    name: str = Field(min_length=1, max_length=255)
    category: Category
    active: bool = True


class WorkflowReplace(WorkflowCreate):
    """PUT /workflows/{id}: the whole definition; ``expectedVersion`` (or If-Match) guards the write."""

    expectedVersion: int | None = Field(default=None, ge=1)


class WorkflowPatch(_Definition):
    """PATCH /workflows/{id}: only the fields given change."""

    name: str | None = Field(default=None, min_length=1, max_length=255)
    category: Category | None = None
    active: bool | None = None
    expectedVersion: int | None = Field(default=None, ge=1)


class WorkflowSummary(BaseModel):
    """The seed's 201 body for a created workflow, plus its validation status."""

    id: str
    name: str
    description: str | None
    category: str | None
    version: int
    createdAt: str
    updatedAt: str
    active: bool
    validationStatus: str


class Workflow(BaseModel):
    """A stored workflow: seed 003's entity fields in camelCase."""

    model_config = ConfigDict(extra="allow")

    id: str
    tenantId: str
    name: str
    description: str | None
    nodes: Any
    connections: Any
    enabled: bool
    version: int
    executionCount: int
    lastExecutedAt: str | None
    lastExecutionStatus: str | None
    averageExecutionTime: float | None
    createdAt: str
    updatedAt: str
    createdBy: str | None
    updatedBy: str | None
    variables: Any
    settings: dict[str, Any]
    meta: dict[str, Any]
    tags: list[str]
    category: str | None
    validationStatus: str
    validationErrors: Any
    isLocked: bool
    lockedBy: str | None
    lockedAt: str | None
    lockExpiresAt: str | None


class WorkflowList(BaseModel):
    workflows: list[Workflow]
    pagination: Pagination


class CloneBody(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=255)


class LockBody(Strict):
    timeout: float = Field(default=30.0, gt=0, le=86_400, description="Seconds until the lock expires.")


class Lock(BaseModel):
    acquired: bool = Field(description="False when someone else holds the lock (then 423).")
    lockedBy: str | None
    lockedAt: str | None
    expiresAt: str | None


class RestoreBody(Strict):
    message: str | None = Field(default=None, max_length=500)


class Version(BaseModel):
    workflowId: str
    version: int
    definition: dict[str, Any]
    author: str | None
    message: str | None
    createdAt: str


class VersionList(BaseModel):
    versions: list[Version]


class BulkCreate(Strict):
    operation: Literal["createMany"]
    items: list[WorkflowCreate] = Field(min_length=1, max_length=100)
    draft: bool = False


class BulkUpdate(Strict):
    operation: Literal["updateMany"]
    filter: dict[str, Any] = Field(default_factory=dict)
    patch: WorkflowPatch


class BulkDelete(Strict):
    operation: Literal["deleteMany"]
    filter: dict[str, Any] = Field(default_factory=dict)


class BulkResult(BaseModel):
    operation: str
    count: int
    workflows: list[WorkflowSummary] | None = None


class ValidationIssue(BaseModel):
    model_config = ConfigDict(extra="allow")

    path: str
    code: str
    message: str


class ValidationReport(BaseModel):
    model_config = ConfigDict(extra="allow")

    valid: bool
    errors: list[ValidationIssue]
    warnings: list[ValidationIssue]


class ImportOptions(BaseModel):
    name: str | None = None
    onConflict: Literal["error", "rename", "replace"] = "error"
    draft: bool = False


class Stats(BaseModel):
    model_config = ConfigDict(extra="allow")

    window: str
    total: int
    byStatus: dict[str, int]
    successRate: float | None
    averageDuration: float | None
    maxDuration: float | None
