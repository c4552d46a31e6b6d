"""Validation results, and the log the checks write into.

Every issue carries a JSON path into the *source document* so an editor can highlight the offending field;
the log keeps errors and warnings apart and hands the report out sorted by path, as the original did.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tenantflow.engine.definition import WorkflowDefinition, extend
from tenantflow.engine.errors import ErrorCode, error_number, seed_class


class SeedClass(BaseModel):
    """The seed's validation class an issue falls in (INVALID_NODES 4220 … INVALID_VARIABLE_TYPE 4225)."""

    model_config = ConfigDict(frozen=True)

    code: str
    number: int


class ValidationIssue(BaseModel):
    """One problem: its precise code and number, and the seed class that code belongs to."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    path: str
    code: str
    number: int
    message: str
    seed_class: SeedClass | None = Field(None, alias="seedClass")

    @classmethod
    def of(cls, path: str, code: ErrorCode, message: str) -> ValidationIssue:
        group = seed_class(code)
        return cls(
            path=path,
            code=code.value,
            number=error_number(code),
            message=message,
            seed_class=None if group is None else SeedClass(code=group.value, number=error_number(group)),
        )

    def to_dict(self) -> dict[str, Any]:
        """The wire shape: ``{path, code, number, message, seedClass: {code, number}}``."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class ValidationReport(BaseModel):
    """``valid`` means no errors; warnings never invalidate. ``definition`` is the normalised workflow."""

    model_config = ConfigDict(frozen=True)

    valid: bool
    errors: list[ValidationIssue]
    warnings: list[ValidationIssue]
    definition: WorkflowDefinition | None = Field(None, exclude=True)

    def to_dict(self) -> dict[str, Any]:
        """The wire shape: camelCase keys, issues as :meth:`ValidationIssue.to_dict` writes them."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def node_path(index: int, *parts: Any) -> str:
    return extend(f"nodes[{index}]", *parts)


class IssueLog:
    """Collects issues from every check; nothing here stops validation early."""

    def __init__(self) -> None:
        self.errors: list[ValidationIssue] = []
        self.warnings: list[ValidationIssue] = []
        self._seen: set[tuple[str, str]] = set()

    def error(self, path: str, code: ErrorCode, message: str) -> None:
        self.errors.append(ValidationIssue.of(path, code, message))
        self._seen.add((path, code.value))

    def warning(self, path: str, code: ErrorCode, message: str) -> None:
        self.warnings.append(ValidationIssue.of(path, code, message))

    def error_once(self, path: str, code: ErrorCode, message: str) -> None:
        """Add unless an error with this path and code is already logged (the normaliser re-finds some)."""
        if (path, code.value) not in self._seen:
            self.error(path, code, message)

    def report(self, definition: WorkflowDefinition | None) -> ValidationReport:
        def by_path(issue: ValidationIssue) -> str:
            return issue.path

        return ValidationReport(
            valid=not self.errors,
            errors=sorted(self.errors, key=by_path),
            warnings=sorted(self.warnings, key=by_path),
            definition=definition,
        )
