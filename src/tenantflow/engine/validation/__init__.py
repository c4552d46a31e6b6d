"""Workflow validation: every problem in a workflow document, each with a JSON path into the source.

``validate(source, registry)`` accepts JSON text, a parsed n8n or MetaBuilder v3 document, or a normalised
:class:`~tenantflow.engine.definition.WorkflowDefinition`, and never raises: unreadable input is an error
in the report. Codes are :class:`~tenantflow.engine.errors.ErrorCode` values; ``docs/errors.md`` lists them.
"""

from tenantflow.engine.validation.report import ValidationIssue, ValidationReport
from tenantflow.engine.validation.validator import validate

__all__ = ["ValidationIssue", "ValidationReport", "validate"]
