"""Workflow documents in and out of the store: what a caller sends, what a row holds, what export writes.

A stored workflow keeps the document the user sent (n8n export or MetaBuilder v3) field by field, so an
export gives back what was imported; the validator reads the same document. Top-level fields the store
has no column for (``pinData``, ``staticData``, ``triggers``, ``meta``…) travel in ``meta``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tenantflow.engine.errors import ErrorCode
from tenantflow.engine.record import iso
from tenantflow.store.errors import InvalidRequestError
from tenantflow.store.models import Workflow
from tenantflow.store.text import unstorable

EXPORT_FORMAT = "tenantflow.workflow-export/1"
NAME_MAX = 255
# Top-level document keys that map onto columns; everything else is kept in ``meta``.
COLUMN_KEYS = frozenset(
    {
        "id",
        "name",
        "description",
        "nodes",
        "connections",
        "settings",
        "variables",
        "tags",
        "category",
        "active",
    }
)
# Keys an export or a stored document never carries over (ids and bookkeeping belong to the row).
DROPPED_KEYS = frozenset({"id", "versionId", "createdAt", "updatedAt", "tenantId", "enabled", "version"})


@dataclass(frozen=True, slots=True)
class WorkflowInput:
    """A workflow as a caller submits it, before validation. Build one with :meth:`from_document`."""

    name: str
    nodes: list[Any]
    connections: Any
    description: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    variables: Any = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    category: str | None = None
    enabled: bool = False
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_document(cls, document: Mapping[str, Any], **overrides: Any) -> WorkflowInput:
        """Read an n8n export or a MetaBuilder v3 document; keyword arguments win over its fields."""
        if not isinstance(document, Mapping):
            raise InvalidRequestError(
                ErrorCode.INVALID_WORKFLOW_FORMAT, "a workflow must be a JSON object", path="$"
            )
        values: dict[str, Any] = {
            "name": document.get("name"),
            "nodes": document.get("nodes"),
            "connections": document.get("connections", {}),
            "description": document.get("description"),
            "settings": document.get("settings") or {},
            "variables": document.get("variables") or {},
            "tags": tag_names(document.get("tags")),
            "category": document.get("category"),
            "enabled": bool(document.get("active", document.get("enabled", False))),
            "meta": {k: v for k, v in document.items() if k not in COLUMN_KEYS and k not in DROPPED_KEYS},
        }
        values.update({key: value for key, value in overrides.items() if value is not None})
        return cls(**values).checked()

    def checked(self) -> WorkflowInput:
        """Field checks the validator does not make (it reads documents, not rows)."""
        if not isinstance(self.name, str) or not self.name.strip():
            raise InvalidRequestError(ErrorCode.INVALID_VALUE, "name is required", path="$.name")
        if len(self.name) > NAME_MAX:
            raise InvalidRequestError(
                ErrorCode.INVALID_VALUE, f"name is longer than {NAME_MAX} characters", path="$.name"
            )
        if self.description is not None and not isinstance(self.description, str):
            raise InvalidRequestError(
                ErrorCode.INVALID_VALUE, "description must be a string", path="$.description"
            )
        if self.category is not None and (not isinstance(self.category, str) or len(self.category) > 64):
            raise InvalidRequestError(
                ErrorCode.INVALID_VALUE,
                "category must be a string of at most 64 characters",
                path="$.category",
            )
        found = unstorable(self.document())
        if found is not None:
            where, why = found
            raise InvalidRequestError(ErrorCode.INVALID_VALUE, why, path=where)
        if not isinstance(self.settings, dict):
            raise InvalidRequestError(
                ErrorCode.INVALID_VALUE, "settings must be an object", path="$.settings"
            )
        return self

    def document(self) -> dict[str, Any]:
        """The document the validator and the executor read."""
        return {
            **self.meta,
            "name": self.name,
            "description": self.description,
            "nodes": self.nodes,
            "connections": self.connections,
            "settings": self.settings,
            "variables": self.variables,
            "tags": self.tags,
            "category": self.category,
            "active": self.enabled,
        }


def tag_names(raw: Any) -> list[str]:
    """n8n exports tags as ``[{"id", "name"}]``, MetaBuilder as strings; the store keeps unique names."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise InvalidRequestError(ErrorCode.INVALID_VALUE, "tags must be a list", path="$.tags")
    names: list[str] = []
    for index, tag in enumerate(raw):
        name = tag.get("name") if isinstance(tag, Mapping) else tag
        if not isinstance(name, str) or not name or len(name) > 64:
            raise InvalidRequestError(
                ErrorCode.INVALID_VALUE, "a tag is a name of 1-64 characters", path=f"$.tags[{index}]"
            )
        if name not in names:
            names.append(name)
    return names


def input_of(row: Workflow) -> WorkflowInput:
    return WorkflowInput(
        name=row.name,
        nodes=row.nodes,
        connections=row.connections,
        description=row.description,
        settings=row.settings,
        variables=row.variables,
        tags=row.tags,
        category=row.category,
        enabled=row.enabled,
        meta=row.meta,
    )


def apply_input(row: Workflow, data: WorkflowInput) -> None:
    row.name = data.name
    row.description = data.description
    row.nodes = data.nodes
    row.connections = data.connections
    row.settings = data.settings
    row.variables = data.variables
    row.tags = data.tags
    row.category = data.category
    row.enabled = data.enabled
    row.meta = data.meta


@dataclass(frozen=True, slots=True)
class WorkflowView:
    """A stored workflow as callers see it: the seed entity's fields in camelCase."""

    data: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.data["id"])

    @property
    def name(self) -> str:
        return str(self.data["name"])

    @property
    def version(self) -> int:
        return int(self.data["version"])

    @property
    def tenant_id(self) -> str:
        return str(self.data["tenantId"])

    def to_dict(self) -> dict[str, Any]:
        return dict(self.data)

    def document(self) -> dict[str, Any]:
        """The workflow document (what export writes and the executor runs)."""
        data = self.data
        return {
            **data["meta"],
            "name": data["name"],
            "description": data["description"],
            "nodes": data["nodes"],
            "connections": data["connections"],
            "settings": data["settings"],
            "variables": data["variables"],
            "tags": data["tags"],
            "category": data["category"],
            "active": data["enabled"],
        }


def view_of(row: Workflow, *, validation_status: str) -> WorkflowView:
    return WorkflowView(
        {
            "id": row.id,
            "tenantId": row.tenant_id,
            "name": row.name,
            "description": row.description,
            "nodes": row.nodes,
            "connections": row.connections,
            "enabled": row.enabled,
            "version": row.version,
            "executionCount": row.execution_count,
            "lastExecutedAt": iso(row.last_executed_at),
            "lastExecutionStatus": row.last_execution_status,
            "averageExecutionTime": row.average_execution_time,
            "createdAt": iso(row.created_at),
            "updatedAt": iso(row.updated_at),
            "createdBy": row.created_by,
            "updatedBy": row.updated_by,
            "variables": row.variables,
            "settings": row.settings,
            "meta": row.meta,
            "tags": row.tags,
            "category": row.category,
            "validationStatus": validation_status,
            "validationErrors": row.validation_errors,
            "isLocked": row.is_locked,
            "lockedBy": row.locked_by,
            "lockedAt": iso(row.locked_at),
            "lockExpiresAt": iso(row.lock_expires_at),
        }
    )
