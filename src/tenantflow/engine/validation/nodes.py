"""Per-node semantic checks: unique names and ids, known type and typeVersion, parameters vs. the schema.

Each node type's JSON Schema is compiled once per (node type, version) and cached; schemas that accept any
object are not run at all, since validating 10,000 nodes against ``{"type": "object"}`` is pure overhead.
"""

from __future__ import annotations

from collections.abc import Container, Iterator, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, NamedTuple
from weakref import WeakKeyDictionary

import jsonschema_rs

from tenantflow.engine.errors import ErrorCode
from tenantflow.engine.expressions import is_template
from tenantflow.engine.sdk import NodeRegistry, NodeType
from tenantflow.engine.validation.report import IssueLog, node_path
from tenantflow.engine.validation.structure import NodeSite

STICKY_NOTE = "n8n-nodes-base.stickyNote"
"""Canvas notes: known to every registry, never executed, so never type-checked nor orphans."""

_ANY_OBJECT: tuple[dict[str, Any], ...] = ({"type": "object"}, {})


@dataclass(frozen=True, slots=True)
class _Compiled:
    validator: Any = None  # None: every object passes
    problem: str | None = None  # the node type's schema itself is broken


# Keyed by node-type instance: schema_for is an instance method, and a weak key lets registries come and go.
_COMPILED: WeakKeyDictionary[NodeType, dict[float, _Compiled]] = WeakKeyDictionary()


def _compiled(node_type: NodeType, version: float) -> _Compiled:
    per_version = _COMPILED.get(node_type)
    if per_version is None:
        per_version = _COMPILED[node_type] = {}
    found = per_version.get(version)
    if found is None:
        found = per_version[version] = _compile(node_type, version)
    return found


def _compile(node_type: NodeType, version: float) -> _Compiled:
    try:
        schema = dict(node_type.schema_for(version))
        if schema in _ANY_OBJECT:
            return _Compiled()
        return _Compiled(validator=jsonschema_rs.validator_for(schema))
    except Exception as exc:  # a plugin's broken schema is reported on its nodes, not raised
        return _Compiled(problem=f"node type {node_type.type!r} has an invalid parameter schema: {exc}")


class _Kind(NamedTuple):
    """What every node of one (type, typeVersion) gets, worked out once per validation."""

    error: tuple[ErrorCode, str] | None = None  # unknown type or unsupported version
    schema: _Compiled | None = None  # None: the parameters need no check


def check_nodes(
    sites: Sequence[NodeSite], registry: NodeRegistry, log: IssueLog, unique: Container[str] = ()
) -> None:
    """Identity, type, version and parameters of each node; ``unique`` names the identity fields (name, id)
    already known to be distinct."""
    _check_unique(sites, unique, log)
    kinds: dict[tuple[str, float], _Kind] = {}
    for site in sites:
        node = site.node
        version = node.type_version
        kind = kinds.get((site.type, version))
        if kind is None:
            kind = kinds[site.type, version] = _kind(registry, site.type, version)
        if kind.error is not None:
            code, message = kind.error
            if code is ErrorCode.UNKNOWN_NODE_TYPE:
                log.error(node_path(site.index, site.type_field), code, message)
            elif not site.partial:  # a skeleton's version may just be the default
                log.error(node_path(site.index, "typeVersion"), code, message)
        elif kind.schema is not None and not site.partial:
            for parts, message in _schema_errors(kind.schema, node.parameters):
                log.error(node_path(site.index, "parameters", *parts), ErrorCode.INVALID_PARAMETER, message)


def _kind(registry: NodeRegistry, type_name: str, version: float) -> _Kind:
    if type_name == STICKY_NOTE or not type_name.strip():  # blank: already reported as structural
        return _Kind()
    node_type = registry.get(type_name)
    if node_type is None:
        return _Kind(error=(ErrorCode.UNKNOWN_NODE_TYPE, f"unknown node type {type_name!r}"))
    if version not in node_type.versions:
        supported = ", ".join(f"{v:g}" for v in node_type.versions)
        message = f"{type_name} has no typeVersion {version:g}; supported: {supported}"
        return _Kind(error=(ErrorCode.UNSUPPORTED_TYPE_VERSION, message))
    compiled = _compiled(node_type, version)
    return _Kind(schema=compiled if compiled.validator is not None or compiled.problem is not None else None)


def _check_unique(sites: Sequence[NodeSite], unique: Container[str], log: IssueLog) -> None:
    """Names address nodes in connections and expressions, ids in MetaBuilder connections: both must be
    unique. Blank ones are skipped: the structural pass has already reported them.
    """
    for field, code in (("name", ErrorCode.DUPLICATE_NODE_NAME), ("id", ErrorCode.DUPLICATE_NODE_ID)):
        if field in unique:
            continue
        values = list(map(attrgetter(field), sites))
        if len(set(values)) == len(values):  # the usual case, found at C speed
            continue
        first: dict[str, int] = {}
        for site, value in zip(sites, values, strict=True):
            index = first.setdefault(value, site.index)
            if index != site.index and value.strip():
                log.error(
                    node_path(site.index, field),
                    code,
                    f"node {field} {value!r} is already used by nodes[{index}]",
                )


def _schema_errors(compiled: _Compiled, parameters: dict[str, Any]) -> Iterator[tuple[list[Any], str]]:
    """(path inside parameters, message) per violation. A value that is an expression is only known at run
    time, so a violation whose instance is a template is not one."""
    if compiled.problem is not None:
        yield [], compiled.problem
        return
    try:
        if compiled.validator.is_valid(parameters):  # the usual case: no error objects to build
            return
        errors = list(compiled.validator.iter_errors(parameters))
    except ValueError as exc:  # non-JSON values (sets, cyclic dicts) in parameters built in Python
        yield [], f"parameters are not JSON: {exc}"
        return
    for error in errors:
        if not (isinstance(error.instance, str) and is_template(error.instance)):
            yield list(error.instance_path), error.message
