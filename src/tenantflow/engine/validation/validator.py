"""``validate``: the whole document in, every problem out, never an exception.

Order of work: load (JSON text, dict or an already normalised definition) → the normaliser, whose one pass
also does the raw structural checks and collects the links → semantic checks on the nodes (normalised, or
skeletons when normalisation failed).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tenantflow.engine.definition import (
    DEFAULT_MAX_NODES,
    WorkflowDefinition,
    node_id_scope,
    normalise,
    paused_gc,
)
from tenantflow.engine.errors import ErrorCode
from tenantflow.engine.sdk import NodeRegistry
from tenantflow.engine.validation.connections import Link, check_ai_links, links_of
from tenantflow.engine.validation.limits import DocumentLimits, check_limits, check_text_size
from tenantflow.engine.validation.nodes import check_nodes
from tenantflow.engine.validation.report import IssueLog, ValidationReport
from tenantflow.engine.validation.structure import (
    NodeSite,
    check_identity,
    log_issues,
    log_normaliser_issues,
    scan_variables,
    skeleton,
    variables_of,
)
from tenantflow.engine.validation.templates import check_expressions
from tenantflow.engine.validation.topology import Resolver, check_graph, check_links


@dataclass
class _Document:
    """What the semantic checks read. ``definition`` is None when the source could not be normalised."""

    definition: WorkflowDefinition | None
    sites: list[NodeSite] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    variables: frozenset[str] = frozenset()


def validate(
    source: Any,
    registry: NodeRegistry,
    *,
    max_nodes: int = DEFAULT_MAX_NODES,
    limits: DocumentLimits | None = None,
) -> ValidationReport:
    """Validate a workflow given as JSON text, a parsed document or a :class:`WorkflowDefinition`.

    Problems with the input itself (bad JSON, not an object) are errors in the report like any other. A
    document past ``limits`` (default: :class:`DocumentLimits` with ``max_nodes`` nodes) gets only its
    ``LIMIT_EXCEEDED`` errors: bounding the work is what the limits are for.
    """
    with paused_gc():
        return _validate(source, registry, limits or DocumentLimits(nodes=max_nodes))


def _validate(source: Any, registry: NodeRegistry, limits: DocumentLimits) -> ValidationReport:
    log = IssueLog()
    document = _document(source, log, limits)
    if document is None:
        return log.report(None)
    if document.sites:
        resolve = Resolver(document.sites)
        check_nodes(document.sites, registry, log, resolve.unique)
        pairs = check_links(document.links, resolve, registry, log)
        check_ai_links(document.links, resolve, registry, log)
        if document.definition is not None:  # cycles and reachability need the normalised graph
            check_graph(document.definition, document.sites, pairs, resolve, registry, log)
        check_expressions(document.sites, document.variables, log)
    return log.report(document.definition)


def _document(source: Any, log: IssueLog, limits: DocumentLimits) -> _Document | None:
    if isinstance(source, WorkflowDefinition):
        return _from_definition(source, log, limits)
    raw = _load(source, log, limits)
    return None if raw is None else _from_raw(raw, log, limits)


def _load(source: Any, log: IssueLog, limits: DocumentLimits) -> dict[str, Any] | None:
    if isinstance(source, str | bytes | bytearray):
        size = len(source)
        if isinstance(source, str) and size <= limits.document_bytes:  # characters never outnumber bytes
            size = len(source.encode("utf-8", "surrogatepass"))
        if not check_text_size(size, log, limits):
            return None
        try:
            source = json.loads(source)
        except json.JSONDecodeError as exc:
            log.error(
                "$",
                ErrorCode.INVALID_JSON,
                f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}",
            )
            return None
        except (ValueError, RecursionError) as exc:  # undecodable bytes; nesting too deep for the parser
            log.error("$", ErrorCode.INVALID_JSON, f"invalid JSON: {exc}")
            return None
    if not isinstance(source, dict):
        log.error(
            "$", ErrorCode.INVALID_WORKFLOW_FORMAT, f"workflow must be an object, not {type(source).__name__}"
        )
        return None
    return source


def _too_many(count: int, max_nodes: int, log: IssueLog) -> bool:
    """Past the limit nothing else is checked: bounding the work is what the limit is for."""
    if count <= max_nodes:
        return False
    log.error("nodes", ErrorCode.LIMIT_EXCEEDED, f"workflow has {count} nodes; the limit is {max_nodes}")
    return True


def _from_raw(raw: dict[str, Any], log: IssueLog, limits: DocumentLimits) -> _Document | None:
    raw_nodes = raw.get("nodes")
    if not isinstance(raw_nodes, list) or not raw_nodes:
        log.error("nodes", ErrorCode.INVALID_NODES, "nodes must be a non-empty array")
        raw_nodes = []
    if _too_many(len(raw_nodes), limits.nodes, log) or not check_limits(raw, log, limits):
        return None
    result = normalise(raw, scan=True)
    log_issues(result.source_issues, log)
    variables = scan_variables(raw.get("variables"), log)
    log_normaliser_issues(result.issues, result.type_fields, log)
    definition = result.definition
    if definition is not None:
        sites = [NodeSite(i, node) for i, node in enumerate(definition.nodes)]
        for i, type_field in result.type_fields.items():
            sites[i].type_field = type_field
    else:
        scope = node_id_scope(raw)
        sites = [
            site
            for i, node in enumerate(raw_nodes)
            if isinstance(node, dict) and (site := skeleton(i, node, scope))
        ]
    return _Document(definition, sites, result.links, variables)


def _from_definition(definition: WorkflowDefinition, log: IssueLog, limits: DocumentLimits) -> _Document:
    if _too_many(len(definition.nodes), limits.nodes, log) or not check_limits(definition, log, limits):
        return _Document(definition)
    for index, node in enumerate(definition.nodes):
        if not (node.id.strip() and node.name.strip() and node.type.strip()):
            check_identity(index, node.id, node.name, node.type, "type", log)
    sites = [NodeSite(index, node) for index, node in enumerate(definition.nodes)]
    return _Document(definition, sites, links_of(definition), variables_of(definition.variables, log))
