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

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from tenantflow.engine.definition import DEFAULT_MAX_NODES, WorkflowDefinition
from tenantflow.engine.errors import ErrorCode
from tenantflow.engine.expressions import follows_n8n, is_template
from tenantflow.engine.validation.report import IssueLog, node_path
from tenantflow.engine.validation.templates import is_code, templates

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
    """The walk passed the document-wide value or depth limit: nothing more is measured."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class _Walk:
    """One bounded walk: sizes per part of the document, values and depth across the whole of it. A
    container met twice (a document built in Python may share one) is measured twice, as the work after
    would be; a cyclic one passes the value limit."""

    def __init__(self, limits: DocumentLimits) -> None:
        self.limits = limits
        self.values = 0

    def measure(self, value: Any, depth: int, expressions: list[str] | None = None, n8n: bool = True) -> int:
        """The JSON size of ``value`` found ``depth`` levels down; template strings go to ``expressions``
        when it is given (``n8n``: the node's dialect)."""
        size, count = 0, 0
        max_values, max_depth = self.limits.values - self.values, self.limits.depth
        stack: list[tuple[Any, int]] = [(value, depth)]
        pop, push = stack.pop, stack.append
        while stack:
            item, level = pop()
            count += 1
            kind = type(item)
            if kind is str:
                size += len(item) + 2
                if expressions is not None and is_template(item, n8n):
                    expressions.append(item)
            elif kind is dict or kind is list or isinstance(item, dict | list | tuple):
                level += 1
                if level > max_depth:
                    raise _OverLimit(f"the document nests deeper than {max_depth} levels")
                if isinstance(item, dict):
                    size += 2 + sum(len(str(key)) + 4 for key in item)
                    children: Iterable[Any] = item.values()
                else:
                    size += 2 + len(item)
                    children = item
                for child in children:
                    push((child, level))
                if count + len(stack) > max_values:
                    raise _OverLimit(f"the document holds more than {self.limits.values} JSON values")
            else:
                size += _NUMBER_BYTES
        self.values += count
        return size


def check_limits(source: Any, log: IssueLog, limits: DocumentLimits = DEFAULT_LIMITS) -> bool:
    """Whether a parsed document (or a :class:`WorkflowDefinition`) is within ``limits``; each limit passed
    is logged as ``LIMIT_EXCEEDED`` at the part of the document it concerns."""
    walk = _Walk(limits)
    before = len(log.errors)
    try:
        if isinstance(source, WorkflowDefinition):
            _check_nodes(((node.type, node.parameters) for node in source.nodes), walk, log, 3)
        else:
            rest = {key: value for key, value in source.items() if key != "nodes"}
            size = walk.measure(rest, 0)
            nodes = source.get("nodes")
            if isinstance(nodes, list):
                size += _check_nodes(_raw_nodes(nodes, walk), walk, log, 3)
            if size > limits.document_bytes:
                log.error(
                    "$", ErrorCode.LIMIT_EXCEEDED, _too_big("the document is", size, limits.document_bytes)
                )
    except _OverLimit as over:
        log.error("$", ErrorCode.LIMIT_EXCEEDED, over.message)
    return len(log.errors) == before


def check_text_size(size: int, log: IssueLog, limits: DocumentLimits = DEFAULT_LIMITS) -> bool:
    """Whether JSON text of ``size`` bytes may be parsed at all."""
    if size <= limits.document_bytes:
        return True
    log.error("$", ErrorCode.LIMIT_EXCEEDED, _too_big("the document is", size, limits.document_bytes))
    return False


def _raw_nodes(nodes: list[Any], walk: _Walk) -> Iterator[tuple[str, Any]]:
    """(type, parameters) of each raw node; everything else in the node is measured here."""
    for node in nodes:
        if not isinstance(node, dict):
            walk.measure(node, 2)
            continue
        walk.measure({key: value for key, value in node.items() if key != "parameters"}, 1)
        type_name = node.get("nodeType", node.get("type"))
        yield (type_name if isinstance(type_name, str) else ""), node.get("parameters")


def _check_nodes(nodes: Iterable[tuple[str, Any]], walk: _Walk, log: IssueLog, depth: int) -> int:
    """Each node's parameters against the per-node limits, and the expressions of all together; the
    parameters' total size."""
    limits, total, count = walk.limits, 0, 0
    distinct: set[str] = set()
    for index, (type_name, parameters) in enumerate(nodes):
        if not isinstance(parameters, dict):
            total += walk.measure(parameters, depth - 1)
            continue
        n8n, expressions = follows_n8n(type_name), list[str]()
        size = 2
        for name, value in parameters.items():
            found = None if is_code(type_name, str(name)) else expressions
            size += len(str(name)) + 4 + walk.measure(value, depth, found, n8n)
        total += size
        path = node_path(index, "parameters")
        if size > limits.parameter_bytes:
            log.error(
                path,
                ErrorCode.LIMIT_EXCEEDED,
                _too_big("the node's parameters are", size, limits.parameter_bytes),
            )
        if len(expressions) > limits.expressions_per_node:
            message = (
                f"the node has {len(expressions)} expressions; the limit is {limits.expressions_per_node}"
            )
            log.error(path, ErrorCode.LIMIT_EXCEEDED, message)
        if any(len(text) > limits.expression_bytes for text in expressions):
            _long_expressions(index, type_name, parameters, limits, log)
        count += len(expressions)
        distinct.update(expressions)
    if count > limits.expressions:
        message = f"the workflow has {count} expressions; the limit is {limits.expressions}"
        log.error("nodes", ErrorCode.LIMIT_EXCEEDED, message)
    text = sum(map(len, distinct))
    if text > limits.expression_text:
        log.error(
            "nodes",
            ErrorCode.LIMIT_EXCEEDED,
            _too_big("the workflow's distinct expressions total", text, limits.expression_text, "characters"),
        )
    return total


def _long_expressions(
    index: int, type_name: str, parameters: dict[str, Any], limits: DocumentLimits, log: IssueLog
) -> None:
    """Each over-long expression at its own path (found again with paths: only when there is one)."""
    for parts, text in templates(parameters, type_name):
        if len(text) > limits.expression_bytes:
            message = _too_big("the expression is", len(text), limits.expression_bytes, "characters")
            log.error(node_path(index, "parameters", *parts), ErrorCode.LIMIT_EXCEEDED, message)


def _too_big(what: str, size: int, limit: int, unit: str = "bytes") -> str:
    return f"{what} {size:,} {unit}; the limit is {limit:,}"
