"""Expressions inside parameters: syntax, node references, and workflow-variable references.

Parameters are walked iteratively (no recursion limit on deep documents) and each template is compiled
through the expression engine's cache, so identical expressions across thousands of nodes compile once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from functools import cache
from typing import Any

from tenantflow.engine.errors import ErrorCode
from tenantflow.engine.expressions import ExpressionSyntaxError, compile_template, follows_n8n, is_template
from tenantflow.engine.validation.nodes import STICKY_NOTE
from tenantflow.engine.validation.report import IssueLog, node_path
from tenantflow.engine.validation.structure import NodeSite

# $vars.X, $vars["X"], $workflow.variables.X, $workflow.variables['X']. The engine's Template reports node
# references only, so variable references are read from the source text.
_VARIABLE_REFERENCE = re.compile(
    r"""\$(?:vars|workflow\.variables)(?:\.([A-Za-z_$][\w$]*)|\[\s*(["'])(.*?)\2\s*\])"""
)

# Source text of the Code/Function nodes: JavaScript or Python, never a template, though it may well contain
# ``{{`` (real exports do: `const s = "{{ x }}"`). The script names are code in every node that has them;
# ``code`` is code in the LangChain Code node only.
_SCRIPT_PARAMETERS = frozenset({"jsCode", "pythonCode", "functionCode"})
_LANGCHAIN_CODE = "@n8n/n8n-nodes-langchain.code"


def is_code(node_type: str, name: str) -> bool:
    return name in _SCRIPT_PARAMETERS or (name == "code" and node_type == _LANGCHAIN_CODE)


def check_expressions(sites: Sequence[NodeSite], declared: frozenset[str], log: IssueLog) -> None:
    # Built on first need: expressions that reference no other node (most, in many workflows) never ask.
    names = cache(lambda: {site.name for site in sites})
    found: dict[str, list[tuple[ErrorCode, str]]] = {}  # by text: a repeated expression is checked once
    for site in sites:
        parameters = site.node.parameters
        if not parameters or site.type == STICKY_NOTE:
            continue
        for parts, text in templates(parameters, site.type):
            problems = found.get(text)
            if problems is None:
                problems = found[text] = list(_problems(text, names, declared))
            for code, message in problems:
                log.error(node_path(site.index, "parameters", *parts), code, message)


def _problems(
    text: str, names: Callable[[], set[str]], declared: frozenset[str]
) -> Iterator[tuple[ErrorCode, str]]:
    """``names()`` gives the workflow's node names. Variable references are checked only when the workflow
    declares variables: a workflow that declares none takes whatever the caller supplies."""
    try:
        template = compile_template(text)
    except ExpressionSyntaxError as exc:
        yield ErrorCode.EXPRESSION_SYNTAX, f"expression syntax error at column {exc.column}: {exc.message}"
        return
    if template.node_references:
        for name in sorted(template.node_references - names()):
            message = f"expression references node {name!r}, which does not exist"
            yield ErrorCode.UNKNOWN_NODE_REFERENCE, message
    if declared:
        for name in sorted(_variables(text) - declared):
            yield ErrorCode.MISSING_VARIABLE, f"expression uses variable {name!r}, which is not declared"


def _variables(text: str) -> set[str]:
    return {match[1] or match[3] for match in _VARIABLE_REFERENCE.finditer(text)}


def templates(parameters: dict[str, Any], node_type: str) -> Iterator[tuple[tuple[Any, ...], str]]:
    """(path inside parameters, text) for every template string (in the node type's dialect) outside code,
    depth-first. Containers already seen are skipped, since parameters built in Python (not parsed from
    JSON) may contain themselves."""
    n8n = follows_n8n(node_type)
    seen: set[int] = {id(parameters)}
    stack: list[tuple[tuple[Any, ...], Any]] = [
        ((name,), value) for name, value in reversed(parameters.items()) if not is_code(node_type, name)
    ]
    while stack:
        parts, value = stack.pop()
        if isinstance(value, str):
            if is_template(value, n8n):
                yield parts, value
        elif isinstance(value, dict | list) and id(value) not in seen:
            seen.add(id(value))
            items = value.items() if isinstance(value, dict) else enumerate(value)
            stack.extend(((*parts, key), child) for key, child in reversed(list(items)))
