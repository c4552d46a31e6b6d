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
from itertools import chain
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


def _survey(
    roots: list[Any], depth: int, limits: DocumentLimits, candidates: list[str], values: int = 0
) -> tuple[int, int, int]:
    """The JSON size, the longest string and the running count of values (``values`` counted before) of
    the objects ``roots`` (found ``depth`` levels down);
    strings that may be expressions in some dialect (``=``-prefixed, or holding ``{{``) go to
    ``candidates``. Level by level, each level's values sorted by comprehensions rather than one Python
    step each (a 10,000-node workflow has 160,000 values), with a stop at the first level past the depth or
    value limit. A container met twice (a document built in code may share one) is measured twice, as the
    work after would be; a cyclic one passes the value limit."""
    size, longest, values = 0, 0, values + len(roots)
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
    return size + 2 * len(roots), longest, values


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

    One survey of the document's free-form data bounds its size, values and depth, and finds every string
    that may be an expression: the nodes' parameters and the workflow's other parts (settings, pinData,
    meta, …). The nodes and connections themselves are not surveyed: their number is bounded
    (``nodes``), their shape is checked as they are normalised, which walks only that shape, and a node's
    unknown fields are never read; surveying them cost a 10,000-node document 40% of its validation. Only
    when the survey shows a per-node or expression limit could be passed (never, for the workflows people
    write) is each node looked at on its own, in its own dialect, with paths."""
    before = len(log.errors)
    others: list[Any] = []
    if isinstance(source, WorkflowDefinition):
        every: list[Any] = [node.parameters for node in source.nodes]
    else:
        raw_nodes = source.get("nodes")
        listed = raw_nodes if isinstance(raw_nodes, list) else []
        every = [node.get("parameters") for node in listed if type(node) is dict]
        others = [value for key, value in source.items() if key not in _SHAPED and type(value) in _CONTAINERS]
    candidates: list[str] = []
    try:
        parameters = [parameters for parameters in every if parameters and type(parameters) is dict]
        shaped = 0 if isinstance(source, WorkflowDefinition) else _shaped_values(source, limits)
        size, longest, values = _survey(parameters, 3, limits, candidates, shaped)
        parameters_size = size
        if others:
            more, longest_other, _ = _survey(others, 1, limits, candidates, values)
            size, longest = size + more, max(longest, longest_other)
    except _OverLimit as over:
        log.error("$", ErrorCode.LIMIT_EXCEEDED, over.message)
        return False
    if size > limits.document_bytes and not isinstance(source, WorkflowDefinition):
        log.error("$", ErrorCode.LIMIT_EXCEEDED, _too_big("the document is", size, limits.document_bytes))
    if parameters_size > limits.parameter_bytes:
        _check_parameter_sizes(_typed(source), limits, log)
    if (
        longest > limits.expression_bytes
        or len(candidates) > limits.expressions
        or (
            len(candidates) > limits.expressions_per_node
            and _may_hold_many(parameters, limits.expressions_per_node)
        )
        or sum(map(len, set(candidates))) > limits.expression_text
    ):
        _check_expressions(_typed(source), limits, log)
    return len(log.errors) == before


def _may_hold_many(parameters: list[dict[str, Any]], count: int) -> bool:
    """Whether one node's parameters could hold more than ``count`` strings: not when each is a flat object
    of at most ``count`` entries (a workflow of many small nodes need not be looked at node by node)."""
    for values in parameters:
        if len(values) > count or not _CONTAINERS.isdisjoint(map(type, values.values())):
            return True
    return False


def _typed(source: Any) -> list[tuple[str, Any]]:
    """Each node's type and parameters, for the checks node by node."""
    if isinstance(source, WorkflowDefinition):
        return [(node.type, node.parameters) for node in source.nodes]
    raw_nodes = source.get("nodes")
    return [_type_and_parameters(node) for node in raw_nodes] if isinstance(raw_nodes, list) else []


_SHAPED = frozenset({"nodes", "connections"})  # walked by the normaliser's shape, not surveyed as data
_EDGE_VALUES = 4  # a connection target: an object of node, type and index


def _shaped_values(source: dict[str, Any], limits: DocumentLimits) -> int:
    """The values of the nodes' own fields and of the connections, counted by their shape (a target is an
    object of three values) rather than walked: what the normaliser will walk, held to the value limit
    with the rest of the document before it does (150,000 duplicate targets, 6 MB of JSON, took it 3 s)."""
    nodes, connections = source.get("nodes"), source.get("connections")
    count = sum(map(len, (node for node in nodes if type(node) is dict))) if type(nodes) is list else 0
    if type(connections) is dict:
        try:  # the usual shape, flattened without a Python step per source (a 10,000-node workflow)
            ports = list(connections.values())
            outputs = list(chain.from_iterable(map(dict.values, ports)))
            targets = list(chain.from_iterable(outputs))
            count += len(ports) + len(outputs) + len(targets) + _EDGE_VALUES * sum(map(len, targets))
        except TypeError:  # another shape somewhere: counted as far as it goes (the normaliser says why)
            count += _connection_values(connections)
    if count > limits.values:
        raise _OverLimit(f"the document holds more than {limits.values} JSON values")
    return count


def _connection_values(connections: dict[str, Any]) -> int:
    count = len(connections)
    for ports in connections.values():
        if type(ports) is dict:
            count += len(ports)
            for outputs in ports.values():
                if type(outputs) is list:
                    targets = [target for target in outputs if type(target) is list]
                    count += len(outputs) + _EDGE_VALUES * sum(map(len, targets))
    return count


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


def _check_parameter_sizes(nodes: list[tuple[str, Any]], limits: DocumentLimits, log: IssueLog) -> None:
    for index, (_, parameters) in enumerate(nodes):
        if isinstance(parameters, dict) and parameters:
            size, _, _ = _survey([parameters], 3, limits, [])
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
