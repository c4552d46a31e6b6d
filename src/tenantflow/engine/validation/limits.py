"""What one workflow document may hold, checked before any other validation work.

Validation time grows with the document (the normaliser, the schema checks, and above all compiling each
expression: about 90 µs per expression plus 8 µs per character of dense expression text on the reference
machine), so a document under the API's request limit could still take minutes to validate (a Set node
holding 600,000 expressions took 104 s). :func:`check_limits` measures the document in one bounded walk
(it stops at the first limit passed) and refuses it, each refusal with ``LIMIT_EXCEEDED`` and a JSON
path, before the normaliser sees it; every document within the defaults validates in about a second.
``docs/limits.md`` lists the limits and their defaults.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from tenantflow.engine.definition import DEFAULT_MAX_NODES, WorkflowDefinition
from tenantflow.engine.errors import ErrorCode
from tenantflow.engine.validation.report import IssueLog, node_path
from tenantflow.engine.validation.templates import templates

KIB = 1024
MIB = 1024 * KIB


@dataclass(frozen=True, slots=True)
class DocumentLimits:
    """The defaults fit the API's default request limit (8 MiB) and leave real n8n exports far inside
    (the largest of 217 real and conformance workflows: 427 KB, 80 nodes, 12 levels deep, 4,887 values, an
    expression of 10.5 KB, 16 expressions in one node, 86 and 23 KB of expression text in one workflow)."""

    document_bytes: int = 8 * MIB
    """The document's JSON text (a parsed document: the text it would be, strings and keys by length)."""
    nodes: int = DEFAULT_MAX_NODES
    values: int = 250_000
    """JSON values in the document (objects, arrays, strings, numbers, booleans, nulls)."""
    depth: int = 64
    """Nesting of objects and arrays, the document itself being level 1."""
    parameter_bytes: int = 1 * MIB
    """One node's ``parameters``, measured as the document is."""
    expression_bytes: int = 16 * KIB
    """One expression (a parameter string that is a template in the node's dialect), in characters."""
    expressions_per_node: int = 500
    expressions: int = 2_000
    expression_text: int = 64 * KIB
    """The characters of all the document's distinct expressions together."""


DEFAULT_LIMITS = DocumentLimits()

_NUMBER_BYTES = 8  # what a number, boolean or null counts for in a parsed document: a fair JSON length


class _OverLimit(Exception):
    """The survey passed the value or depth limit: nothing more is measured."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _survey(roots: list[Any], depth: int, limits: DocumentLimits, candidates: list[str]) -> tuple[int, int]:
    """The JSON size and the longest string of the objects ``roots`` (found ``depth`` levels down);
    strings that may be expressions in some dialect (``=``-prefixed, or holding ``{{``) go to
    ``candidates``. Level by level, each level's values sorted by comprehensions rather than one Python
    step each (a 10,000-node workflow has 160,000 values), with a stop at the first level past the depth or
    value limit. A container met twice (a document built in code may share one) is measured twice, as the
    work after would be; a cyclic one passes the value limit."""
    size, longest, values = 0, 0, len(roots)
    level = roots
    while level:
        depth += 1
        if depth > limits.depth:
            raise _OverLimit(f"the document nests deeper than {limits.depth} levels")
        keys: list[Any] = []
        children: list[Any] = []
        for container in level:
            if type(container) is dict:
                keys.extend(container)
                children.extend(container.values())
            else:
                children.extend(container)
        values += len(children)
        if values > limits.values:
            raise _OverLimit(f"the document holds more than {limits.values} JSON values")
        texts = [child for child in children if type(child) is str]
        level = [child for child in children if type(child) in _CONTAINERS]
        size += (
            2 * len(level)  # brackets
            + len(children)  # separators
            + 3 * len(keys)  # quotes and colon
            + _length(keys)
            + 2 * len(texts)
            + _length(texts)
            + _NUMBER_BYTES * (len(children) - len(texts) - len(level))
        )
        longest = max(longest, max(map(len, texts), default=0))
        candidates += filter(_MAY_BE_EXPRESSION, texts)
    return size + 2 * len(roots), longest


_CONTAINERS = frozenset({dict, list, tuple})
_MAY_BE_EXPRESSION = re.compile(r"\A=|\{\{").search  # a template in some dialect: ``=``-prefixed or ``{{``


def _length(texts: list[Any]) -> int:
    """Characters of ``texts`` together (keys are strings but for rare documents built in code)."""
    try:
        return len("".join(texts))
    except TypeError:
        return sum(map(len, map(str, texts)))


def check_limits(source: Any, log: IssueLog, limits: DocumentLimits = DEFAULT_LIMITS) -> bool:
    """Whether a parsed document (or a :class:`WorkflowDefinition`) is within ``limits``; each limit passed
    is logged as ``LIMIT_EXCEEDED`` at the part of the document it concerns.

    One survey of the whole document bounds its size, values and depth, and finds every string that may be
    an expression; only when those could break a per-node or expression limit (never, for the workflows
    people write) is each node looked at on its own, in its own dialect, with paths."""
    before = len(log.errors)
    if isinstance(source, WorkflowDefinition):
        nodes: list[tuple[str, Any]] = [(node.type, node.parameters) for node in source.nodes]
        roots, depth = [parameters for _, parameters in nodes if parameters], 3
    else:
        raw_nodes = source.get("nodes")
        nodes = [_type_and_parameters(node) for node in raw_nodes] if isinstance(raw_nodes, list) else []
        roots, depth = [source], 0
    candidates: list[str] = []
    try:
        size, longest = _survey(roots, depth, limits, candidates)
    except _OverLimit as over:
        log.error("$", ErrorCode.LIMIT_EXCEEDED, over.message)
        return False
    if size > limits.document_bytes and depth == 0:
        log.error("$", ErrorCode.LIMIT_EXCEEDED, _too_big("the document is", size, limits.document_bytes))
    parameters_over = size > limits.parameter_bytes
    if parameters_over and _parameters_size(nodes, depth, size, limits) > limits.parameter_bytes:
        _check_parameter_sizes(nodes, limits, log)
    if (
        longest > limits.expression_bytes
        or len(candidates) > min(limits.expressions_per_node, limits.expressions)
        or sum(map(len, set(candidates))) > limits.expression_text
    ):
        _check_expressions(nodes, limits, log)
    return len(log.errors) == before


def check_text_size(size: int, log: IssueLog, limits: DocumentLimits = DEFAULT_LIMITS) -> bool:
    """Whether JSON text of ``size`` bytes may be parsed at all."""
    if size <= limits.document_bytes:
        return True
    log.error("$", ErrorCode.LIMIT_EXCEEDED, _too_big("the document is", size, limits.document_bytes))
    return False


def _type_and_parameters(node: Any) -> tuple[str, Any]:
    if not isinstance(node, dict):
        return "", None
    type_name = node.get("nodeType", node.get("type"))
    return (type_name if isinstance(type_name, str) else ""), node.get("parameters")


def _parameters_size(nodes: list[tuple[str, Any]], depth: int, size: int, limits: DocumentLimits) -> int:
    """All nodes' parameters together: what the survey measured when it started from them, else one more
    survey of only them (a big document is mostly node names, ids and positions, so this one usually
    shows that no node can be over its limit, without a survey per node)."""
    if depth:
        return size
    parameters = [parameters for _, parameters in nodes if isinstance(parameters, dict) and parameters]
    return _survey(parameters, 3, limits, [])[0] if parameters else 0


def _check_parameter_sizes(nodes: list[tuple[str, Any]], limits: DocumentLimits, log: IssueLog) -> None:
    for index, (_, parameters) in enumerate(nodes):
        if isinstance(parameters, dict) and parameters:
            size, _ = _survey([parameters], 3, limits, [])
            if size > limits.parameter_bytes:
                message = _too_big("the node's parameters are", size, limits.parameter_bytes)
                log.error(node_path(index, "parameters"), ErrorCode.LIMIT_EXCEEDED, message)


def _check_expressions(nodes: list[tuple[str, Any]], limits: DocumentLimits, log: IssueLog) -> None:
    """Each node's expressions, in its own dialect, against the per-node and per-workflow limits."""
    count, distinct = 0, set[str]()
    for index, (type_name, parameters) in enumerate(nodes):
        if not parameters or not isinstance(parameters, dict):
            continue
        expressions = list(templates(parameters, type_name))
        if len(expressions) > limits.expressions_per_node:
            message = (
                f"the node has {len(expressions)} expressions; the limit is {limits.expressions_per_node}"
            )
            log.error(node_path(index, "parameters"), ErrorCode.LIMIT_EXCEEDED, message)
        for parts, text in expressions:
            if len(text) > limits.expression_bytes:
                message = _too_big("the expression is", len(text), limits.expression_bytes, "characters")
                log.error(node_path(index, "parameters", *parts), ErrorCode.LIMIT_EXCEEDED, message)
        count += len(expressions)
        distinct.update(text for _, text in expressions)
    if count > limits.expressions:
        message = f"the workflow has {count} expressions; the limit is {limits.expressions}"
        log.error("nodes", ErrorCode.LIMIT_EXCEEDED, message)
    total = sum(map(len, distinct))
    if total > limits.expression_text:
        message = _too_big(
            "the workflow's distinct expressions total", total, limits.expression_text, "characters"
        )
        log.error("nodes", ErrorCode.LIMIT_EXCEEDED, message)


def _too_big(what: str, size: int, limit: int, unit: str = "bytes") -> str:
    return f"{what} {size:,} {unit}; the limit is {limit:,}"
