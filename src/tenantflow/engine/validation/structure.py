"""Node sites, the raw pass's leftovers, and skeletons for documents that cannot be normalised.

The raw structural pass itself runs inside the normaliser (:func:`~tenantflow.engine.definition.normalise`
with ``scan``), so nodes and connections are walked once. ``parse_workflow`` reports in canonical terms;
:func:`log_normaliser_issues` moves its findings (field types, ranges) onto source paths, unless the raw
pass already reported them. When the document cannot be normalised, each node that is still recognisable
becomes a *skeleton* so the semantic checks can run anyway: a user fixing a workflow should see all of its
problems at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, get_args

from pydantic import ValidationError

from tenantflow.engine.definition import (
    DefinitionIssue,
    NodeDefinition,
    OnError,
    VariableDefinition,
    extend,
    generated_node_id,
    identity_issues,
    identity_problem,
    type_field_of,
)
from tenantflow.engine.errors import ErrorCode
from tenantflow.engine.validation.report import IssueLog


@dataclass(slots=True, init=False)
class NodeSite:
    """A node to check and where it sits: ``index`` into the source ``nodes`` array, ``type_field`` the key
    holding its executor id (``nodeType`` in MetaBuilder v3). ``partial`` marks a skeleton whose
    typeVersion or parameters were unusable, so version and schema checks would only repeat that error.
    """

    index: int
    node: NodeDefinition
    type_field: str
    partial: bool
    name: str
    id: str
    type: str

    def __init__(
        self, index: int, node: NodeDefinition, type_field: str = "type", partial: bool = False
    ) -> None:
        # Written out rather than generated with a __post_init__: one frame per node instead of two.
        self.index, self.node, self.type_field, self.partial = index, node, type_field, partial
        # Read once: each read on the model goes through pydantic's __getattr__ hook, and the checks read
        # these for every node and every link.
        self.name, self.id, self.type = node.name, node.id, node.type


def check_identity(
    index: int, node_id: Any, name: Any, type_name: Any, type_field: str, log: IssueLog
) -> None:
    """Every node needs a non-blank id, name and executor type; the model alone accepts blank strings."""
    log_issues(identity_issues(index, node_id, name, type_name, type_field), log)


def log_issues(issues: Iterable[DefinitionIssue], log: IssueLog) -> None:
    for issue in issues:
        log.error(issue.path, ErrorCode(issue.code), issue.message)


def log_normaliser_issues(
    issues: Iterable[DefinitionIssue], type_fields: dict[int, str], log: IssueLog
) -> None:
    """The normaliser's issues, moved onto source paths; those the raw pass already reported are skipped."""
    for issue in issues:
        if issue.path.startswith("connections"):
            continue  # the scan reports these on the source's own keys (e.g. main['0'])
        log.error_once(_source_path(issue.path, type_fields), ErrorCode(issue.code), issue.message)


_CANONICAL_NODE_FIELD = re.compile(r"nodes\[(\d+)\]\.(type|category)\b")


def _source_path(path: str, type_fields: dict[int, str]) -> str:
    """The normaliser names MetaBuilder's ``nodeType`` "type" and its ``type`` "category"; map them back."""
    match = _CANONICAL_NODE_FIELD.match(path)
    if match is None or type_fields.get(int(match[1])) != "nodeType":
        return path
    source = "nodeType" if match[2] == "type" else "type"
    return path[: match.start(2)] + source + path[match.end(2) :]


_ON_ERROR = frozenset(get_args(OnError))


def skeleton(index: int, raw_node: dict[str, Any], scope: str) -> NodeSite | None:
    """A node built from the fields that passed the raw checks, or None when it has no usable name or type.

    Ids and names fall back on each other as in the normaliser (a missing id is generated in ``scope``), so
    links resolve the same way.
    """
    type_field = type_field_of(raw_node)
    node_id, name = (
        _usable(raw_node.get("id"), number_ok=True),
        _usable(raw_node.get("name"), number_ok=False),
    )
    type_name = raw_node.get(type_field)
    name = name or node_id
    if name is None or not isinstance(type_name, str):
        return None
    node_id = node_id or generated_node_id(scope, name)
    fields: dict[str, Any] = {"id": node_id, "name": name, "type": type_name}
    version, parameters = raw_node.get("typeVersion", 1), raw_node.get("parameters") or {}
    usable_version = _is_number(version)
    if usable_version:
        fields["typeVersion"] = version
    if isinstance(parameters, dict) and all(isinstance(key, str) for key in parameters):
        fields["parameters"] = parameters
    if raw_node.get("disabled") is True:
        fields["disabled"] = True
    on_error = raw_node.get("onError")
    if isinstance(on_error, str) and on_error in _ON_ERROR:
        fields["onError"] = on_error
    try:
        node = NodeDefinition.model_validate(fields)
    except ValidationError:  # only a typeVersion too large for a float is left to fail here
        return None
    partial = not (usable_version and "parameters" in fields)
    return NodeSite(index, node, type_field, partial)


def _usable(value: Any, *, number_ok: bool) -> str | None:
    return None if identity_problem(value, number_ok=number_ok) else str(value)


def scan_variables(raw: Any, log: IssueLog) -> frozenset[str]:
    """Check the declarations as written; the declared names, for ``$vars`` references."""
    if raw is None:
        return frozenset()
    if not isinstance(raw, dict):
        log.error(
            "variables", ErrorCode.INVALID_FIELD, "variables must be an object mapping name to definition"
        )
        return frozenset()
    for name, spec in raw.items():
        if isinstance(spec, dict):  # a bare value is an untyped default, which always fits
            check_variable(str(name), spec.get("type", "any"), spec.get("defaultValue"), log)
    return frozenset(str(name) for name in raw)


def variables_of(variables: dict[str, VariableDefinition], log: IssueLog) -> frozenset[str]:
    for name, variable in variables.items():
        check_variable(name, variable.type, variable.default_value, log)
    return frozenset(variables)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_date(value: Any) -> bool:
    if isinstance(value, date):
        return True
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


_DEFAULT_FITS: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "number": _is_number,
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list | tuple),
    "object": lambda v: isinstance(v, dict),
    "date": _is_date,
    "any": lambda v: True,
}


def check_variable(name: str, declared: Any, default: Any, log: IssueLog) -> None:
    """The declared type must be one of the seven; a default (null = none) must be of that type."""
    if not isinstance(declared, str) or declared not in _DEFAULT_FITS:
        log.error(
            extend("variables", name, "type"),
            ErrorCode.INVALID_VARIABLE_TYPE,
            f"variable type {declared!r} is not one of {', '.join(_DEFAULT_FITS)}",
        )
    elif default is not None and not _DEFAULT_FITS[declared](default):
        log.error(
            extend("variables", name, "defaultValue"),
            ErrorCode.INVALID_VARIABLE_TYPE,
            f"default value is {type(default).__name__}, which does not fit declared type {declared}",
        )
