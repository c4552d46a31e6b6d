"""The canonical workflow model, and the normaliser that maps n8n exports and MetaBuilder v3 onto it.

Two dialects arrive from users: n8n exports (``type`` is the executor id, connections are arrays of arrays
keyed by node name) and MetaBuilder v3 (``type`` is a coarse category, ``nodeType`` the executor id,
connections are ``{"0": [...]}`` maps often keyed by node id). Everything downstream sees only
:class:`WorkflowDefinition`: connections keyed by node *name*, outputs as lists indexed by output number.

Units: ``settings.executionTimeout`` is in **seconds**; node ``timeout`` and every retry delay are in
**milliseconds**.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tenantflow.engine.errors import ErrorCode

OnError = Literal["stopWorkflow", "continueRegularOutput", "continueErrorOutput"]
Backoff = Literal["fixed", "exponential", "linear", "fibonacci"]
ExecutionOrder = Literal["v0", "v1"]

DEFAULT_MAX_CONCURRENCY = 16
DEFAULT_MAX_NODE_EXECUTIONS = 10_000
DEFAULT_MAX_NODES = 10_000
MAX_OUTPUTS = 1024  # outputs one node may have (Switch rules included)

# The retry defaults MetaBuilder's schema gives a retryPolicy that leaves these out.
SEED_RETRYABLE_ERRORS = ("TIMEOUT", "TEMPORARY_FAILURE")
SEED_RETRYABLE_STATUS_CODES = (408, 429, 500, 502, 503, 504)


class _Model(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)


class RetryPolicy(_Model):
    """When and how often a failed node runs again. ``None`` lists mean "every error is retryable"."""

    max_attempts: int = Field(
        1, ge=1, le=100, alias="maxAttempts", description="Total attempts, first included."
    )
    backoff: Backoff = Field("fixed", description="Delay growth between attempts.")
    initial_delay_ms: int = Field(
        1000, ge=0, alias="initialDelay", description="Milliseconds before retry 1."
    )
    max_delay_ms: int = Field(
        60_000, ge=0, alias="maxDelay", description="Cap on any one delay, milliseconds."
    )
    jitter: float = Field(0.0, ge=0.0, le=1.0, description="Random +/- fraction applied to each delay.")
    retryable_errors: tuple[str, ...] | None = Field(None, alias="retryableErrors")
    retryable_status_codes: tuple[int, ...] | None = Field(None, alias="retryableStatusCodes")


class ConnectionTarget(_Model):
    node: str = Field(description="Target node name.")
    type: str = "main"
    index: int = Field(0, ge=0, description="Target input index.")


PortConnections = list[list[ConnectionTarget]]


class NodeDefinition(_Model):
    id: str
    name: str
    type: str = Field(description="Executor id, e.g. n8n-nodes-base.set or math.add.")
    type_version: float = Field(1, alias="typeVersion")
    position: tuple[float, float] = (0.0, 0.0)
    parameters: dict[str, Any] = Field(default_factory=dict)
    disabled: bool = False
    notes: str | None = None
    category: str | None = Field(None, description="MetaBuilder's coarse node kind (trigger, action, ...).")
    retry: RetryPolicy | None = Field(None, description="Node retry policy; beats the workflow's.")
    timeout_ms: int | None = Field(
        None, ge=1, alias="timeout", description="Per-attempt timeout, milliseconds."
    )
    on_error: OnError = Field("stopWorkflow", alias="onError")
    continue_on_fail: bool = Field(
        False,
        alias="continueOnFail",
        description="n8n's legacy flag: on failure, pass the input items through.",
    )
    always_output_data: bool = Field(False, alias="alwaysOutputData")
    execute_once: bool = Field(False, alias="executeOnce")
    skip_on_fail: bool = Field(False, alias="skipOnFail")
    credentials: dict[str, Any] = Field(default_factory=dict)


class VariableDefinition(_Model):
    name: str
    type: Literal["string", "number", "boolean", "array", "object", "date", "any"] = "any"
    default_value: Any = Field(None, alias="defaultValue")
    required: bool = False
    description: str | None = None


class WorkflowSettings(_Model):
    timezone: str = "UTC"
    execution_timeout_s: float | None = Field(
        None, gt=0, alias="executionTimeout", description="Whole-execution timeout in seconds."
    )
    max_concurrency: int = Field(DEFAULT_MAX_CONCURRENCY, ge=1, le=1024, alias="maxConcurrency")
    execution_order: ExecutionOrder = Field(
        "v0", alias="executionOrder", description="n8n scheduling rule for multi-input nodes (absent = v0)."
    )


class ExecutionLimits(_Model):
    max_node_executions: int = Field(DEFAULT_MAX_NODE_EXECUTIONS, ge=1, alias="maxNodeExecutions")
    max_nodes: int = Field(DEFAULT_MAX_NODES, ge=1, alias="maxNodes")


class WorkflowDefinition(_Model):
    """A normalised workflow. Node order is the order of the source document (paths index into it)."""

    id: str | None = None
    name: str = "workflow"
    description: str | None = None
    active: bool = False
    nodes: tuple[NodeDefinition, ...]
    connections: dict[str, dict[str, PortConnections]] = Field(
        default_factory=dict, description="source node name -> port (main|error) -> output index -> targets"
    )
    settings: WorkflowSettings = Field(default_factory=WorkflowSettings)
    variables: dict[str, VariableDefinition] = Field(default_factory=dict)
    retry: RetryPolicy | None = Field(None, description="Workflow-level retry policy.")
    limits: ExecutionLimits = Field(default_factory=ExecutionLimits, alias="executionLimits")
    tags: tuple[str, ...] = ()
    category: str | None = None
    pin_data: dict[str, list[dict[str, Any]]] = Field(default_factory=dict, alias="pinData")
    dialect: Literal["n8n", "metabuilder"] = "n8n"

    def node(self, name: str) -> NodeDefinition:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)


class DefinitionIssue(_Model):
    path: str
    code: str
    message: str


class DefinitionError(Exception):
    """The document cannot be normalised; ``issues`` lists every problem found, each with a JSON path."""

    def __init__(self, issues: list[DefinitionIssue]) -> None:
        super().__init__("; ".join(f"{i.path}: {i.message}" for i in issues[:5]))
        self.issues = issues


def json_path(parts: tuple[int | str, ...] | list[int | str]) -> str:
    """Render ``("nodes", 3, "parameters", "url")`` as ``nodes[3].parameters.url``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.isidentifier():
            out += f".{part}" if out else part
        else:
            out += f"[{part!r}]"
    return out or "$"


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector for one parse or validation, then restore it.

    Both allocate tens of thousands of containers, none of them cyclic; each allocation burst triggers
    collections that re-walk them and, in generation 2, the whole heap including the source document.
    That was ~40% of validating a 10,000-node workflow. A collector someone else disabled stays disabled.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def parse_workflow(raw: Any) -> WorkflowDefinition:
    """Normalise either dialect into a :class:`WorkflowDefinition`, or raise :class:`DefinitionError`."""
    with paused_gc():
        return _parse(raw)


def _parse(raw: Any) -> WorkflowDefinition:
    if not isinstance(raw, dict):
        raise DefinitionError(
            [
                DefinitionIssue(
                    path="$", code=ErrorCode.INVALID_WORKFLOW_FORMAT, message="workflow must be an object"
                )
            ]
        )
    issues: list[DefinitionIssue] = []
    raw_nodes = raw.get("nodes")
    if not isinstance(raw_nodes, list) or not raw_nodes:
        issues.append(
            DefinitionIssue(
                path="nodes", code=ErrorCode.INVALID_NODES, message="nodes must be a non-empty array"
            )
        )
        raise DefinitionError(issues)
    nodes: list[dict[str, Any]] = []
    for index, raw_node in enumerate(raw_nodes):
        if not isinstance(raw_node, dict):
            issues.append(
                DefinitionIssue(
                    path=f"nodes[{index}]", code=ErrorCode.INVALID_NODES, message="node must be an object"
                )
            )
            continue
        nodes.append(_normalise_node(raw_node, index, issues))
    if issues:
        raise DefinitionError(issues)
    names_by_id: dict[str, Any] = {}
    names: set[str] = set()
    for node in nodes:
        node_id, name = node.get("id"), node.get("name")
        if node_id is not None:
            names_by_id[str(node_id)] = name
        if isinstance(name, str):  # other names are rejected by the model; they cannot be looked up
            names.add(name)
    connections = _normalise_connections(raw.get("connections", {}), names, names_by_id, issues)
    document = {
        "id": None if raw.get("id") is None else str(raw.get("id")),
        "name": raw.get("name") or "workflow",
        "description": raw.get("description"),
        "active": bool(raw.get("active", False)),
        "nodes": nodes,
        "settings": _normalise_settings(raw.get("settings")),
        "variables": _normalise_variables(raw.get("variables")),
        "retry": _retry_from_metabuilder(raw.get("retryPolicy")),
        "executionLimits": raw.get("executionLimits") or {},
        "tags": _normalise_tags(raw.get("tags")),
        "category": raw.get("category"),
        "pinData": raw.get("pinData") or {},
        "dialect": "metabuilder" if _is_metabuilder(raw) else "n8n",
    }
    try:
        # The connections are left out: _normalise_connections builds them canonical, and validating them
        # again would cost a third of the whole parse on a large workflow.
        definition = WorkflowDefinition.model_validate(document)
    except ValidationError as exc:
        issues.extend(_pydantic_issues(exc, raw))
    if issues:
        raise DefinitionError(issues)
    return _construct(WorkflowDefinition, definition.__dict__ | {"connections": connections})


_M = TypeVar("_M", bound=BaseModel)


def _construct(cls: type[_M], values: dict[str, Any]) -> _M:
    """A model from values already known to be valid, complete and canonical, skipping pydantic.

    ``model_construct`` skips validation too, but walks every field and alias per call, which costs more
    than validating; this fills the four slots a validated instance has. Worth it only for small models
    built in bulk (connection targets): pydantic-core validates a list of nodes faster than Python can
    check and build them one by one.
    """
    model = object.__new__(cls)
    object.__setattr__(model, "__dict__", values)
    _set_fields_set(model, set(values))
    _set_extra(model, None)
    _set_private(model, None)
    return model


_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__


def _is_metabuilder(raw: dict[str, Any]) -> bool:
    nodes = raw.get("nodes") or []
    return any(isinstance(n, dict) and "nodeType" in n for n in nodes) or "triggers" in raw


def _normalise_node(raw: dict[str, Any], index: int, issues: list[DefinitionIssue]) -> dict[str, Any]:
    """The node as the model's aliases expect it. Each rewrite is guarded by a membership test: this runs
    for every node of every workflow, and most nodes need none of them."""
    node = dict(raw)
    if "nodeType" in node:  # MetaBuilder v3: type is a coarse category, nodeType the executor id
        node["category"] = node.get("type")
        node["type"] = node.pop("nodeType")
    node_id, name = node.get("id"), node.get("name")
    if node_id is None:
        if name is not None:
            node["id"] = str(name)
    else:
        if type(node_id) is not str:
            node["id"] = str(node_id)
        if name is None:
            node["name"] = str(node_id)
    if node.get("onError") == "skipNode":  # MetaBuilder: swallow the failure, emit nothing
        node["onError"] = "continueRegularOutput"
    has_retry = "retryPolicy" in node or "retryOnFail" in node or "errorRecoveryStrategy" in node
    node["retry"] = _node_retry(node, index, issues) if has_retry else None
    if node.get("parameters") is None:
        node["parameters"] = {}
    if "position" in node and not (isinstance(node["position"], list | tuple) and len(node["position"]) == 2):
        node.pop("position")
    return node


def _node_retry(node: dict[str, Any], index: int, issues: list[DefinitionIssue]) -> dict[str, Any] | None:
    """n8n's retryOnFail/maxTries/waitBetweenTries, MetaBuilder's retryPolicy (+ maxTries override), or
    MetaBuilder's errorRecoveryStrategy (maxRetries counts retries, so attempts are one more)."""
    policy = _retry_from_metabuilder(node.get("retryPolicy"))
    if policy is not None:
        if isinstance(node.get("maxTries"), int):
            policy["maxAttempts"] = node["maxTries"]
        return policy
    if node.get("retryOnFail"):
        tries = node.get("maxTries", 3)
        wait = node.get("waitBetweenTries", 1000)
        return {
            "maxAttempts": tries if isinstance(tries, int) and tries >= 1 else 3,
            "backoff": "fixed",
            "initialDelay": wait if isinstance(wait, int) and wait >= 0 else 1000,
        }
    recovery = node.get("errorRecoveryStrategy")
    if isinstance(recovery, dict) and recovery.get("strategy") == "retry":
        retries, delay = recovery.get("maxRetries", 3), recovery.get("retryDelay", 1000)
        for key, value in (("maxRetries", retries), ("retryDelay", delay)):
            if not _is_count(value):
                issues.append(
                    DefinitionIssue(
                        path=f"nodes[{index}].errorRecoveryStrategy.{key}",
                        code=ErrorCode.INVALID_NODES,
                        message=f"{key} must be a non-negative integer",
                    )
                )
        if _is_count(retries) and _is_count(delay):
            return {"maxAttempts": int(retries) + 1, "backoff": "fixed", "initialDelay": int(delay)}
    return None


def _is_count(value: Any) -> bool:
    """A non-negative whole number (``3`` or ``3.0``; not ``True``, ``"3"`` or ``2.5``)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return value >= 0 and (isinstance(value, int) or value.is_integer())


def _retry_from_metabuilder(raw: Any) -> dict[str, Any] | None:
    if not isinstance(raw, dict) or raw.get("enabled") is False:
        return None
    return {
        "maxAttempts": raw.get("maxAttempts", 3),
        "backoff": raw.get("backoff", raw.get("backoffType", "exponential")),
        "initialDelay": raw.get("initialDelay", 1000),
        "maxDelay": raw.get("maxDelay", 60_000),
        "jitter": 0.2 if raw.get("jitter") is True else (raw.get("jitter") or 0.0),
        "retryableErrors": raw.get("retryableErrors", list(SEED_RETRYABLE_ERRORS)),
        "retryableStatusCodes": raw.get("retryableStatusCodes", list(SEED_RETRYABLE_STATUS_CODES)),
    }


def _normalise_connections(
    raw: Any,
    names: set[str],
    names_by_id: dict[str, Any],
    issues: list[DefinitionIssue],
) -> dict[str, dict[str, list[list[ConnectionTarget]]]]:
    """Resolve keys and targets by node name first, then by id; accept array and index-map outputs."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        issues.append(
            DefinitionIssue(path="connections", code=ErrorCode.INVALID_EDGES, message="must be an object")
        )
        return {}

    def resolve(ref: str | int) -> Any:
        if ref in names:
            return ref
        return names_by_id.get(str(ref), ref)

    result: dict[str, dict[str, list[list[ConnectionTarget]]]] = {}
    for source, ports in raw.items():
        if not isinstance(ports, dict):
            issues.append(
                DefinitionIssue(
                    path=_edge_path(source), code=ErrorCode.INVALID_EDGES, message="must be an object"
                )
            )
            continue
        resolved_ports: dict[str, list[list[ConnectionTarget]]] = {}
        for port, outputs in ports.items():
            outputs_list = _outputs_as_list(outputs, (source, port), issues)
            normal: list[list[ConnectionTarget]] = []
            for out_index, targets in enumerate(outputs_list):
                where = (source, port, out_index)
                if targets is None:
                    normal.append([])
                    continue
                if not isinstance(targets, list):
                    issues.append(
                        DefinitionIssue(
                            path=_edge_path(*where), code=ErrorCode.INVALID_EDGES, message="must be an array"
                        )
                    )
                    normal.append([])
                    continue
                normal.append(_targets(targets, where, resolve, issues))
            resolved_ports[str(port)] = normal
        key = str(resolve(source))
        if key in result:  # the same node listed by name and by id: merge output by output
            for port, outputs in resolved_ports.items():
                existing = result[key].setdefault(port, [])
                for i, targets in enumerate(outputs):
                    while len(existing) <= i:
                        existing.append([])
                    existing[i].extend(targets)
        else:
            result[key] = resolved_ports
    return result


def _edge_path(source: Any, *parts: Any) -> str:
    """``connections['IF'].main[1]`` from (source, port, output), rendered only for an issue: a large
    workflow has one per link."""
    port, *output = parts or ("",)
    return f"connections[{source!r}]" + (f".{port}" if parts else "") + "".join(f"[{i}]" for i in output)


def _outputs_as_list(outputs: Any, where: tuple[Any, Any], issues: list[DefinitionIssue]) -> list[Any]:
    if isinstance(outputs, list):
        return outputs
    if isinstance(outputs, dict):  # MetaBuilder {"0": [...], "1": [...]}
        indexed: dict[int, Any] = {}
        for key, value in outputs.items():
            index = output_index(key)
            if index is None:
                issues.append(
                    DefinitionIssue(
                        path=f"{_edge_path(*where)}[{key!r}]",
                        code=ErrorCode.INVALID_OUTPUT_INDEX,
                        message=f"output index {key!r} is not an integer from 0 to {MAX_OUTPUTS - 1}",
                    )
                )
                continue
            indexed[index] = value
        size = max(indexed) + 1 if indexed else 0
        return [indexed.get(i) for i in range(size)]
    issues.append(
        DefinitionIssue(
            path=_edge_path(*where), code=ErrorCode.INVALID_EDGES, message="outputs must be an array"
        )
    )
    return []


def output_index(key: Any) -> int | None:
    """An index-map output key as a number: ASCII digits (``"²"`` passes ``isdigit`` but is no index), or an
    int in documents built in Python."""
    if isinstance(key, str):
        index = int(key) if key.isascii() and key.isdigit() and len(key) <= 6 else None
    elif isinstance(key, int) and not isinstance(key, bool) and key >= 0:
        index = key
    else:
        return None
    # Outputs become a list as long as the largest index: "99999999999" must not allocate billions.
    return index if index is not None and index < MAX_OUTPUTS else None


def _targets(
    targets: list[Any],
    where: tuple[Any, Any, int],
    resolve: Callable[[str | int], Any],
    issues: list[DefinitionIssue],
) -> list[ConnectionTarget]:
    out: list[ConnectionTarget] = []
    for t_index, target in enumerate(targets):
        if isinstance(target, dict) and "node" in target:
            node, kind, index = target["node"], target.get("type", "main"), target.get("index", 0)
        elif isinstance(target, str):
            node, kind, index = target, "main", 0
        else:
            issues.append(
                DefinitionIssue(
                    path=f"{_edge_path(*where)}[{t_index}]",
                    code=ErrorCode.INVALID_EDGES,
                    message="connection target must be an object with a node",
                )
            )
            continue
        if not isinstance(node, str | int) or isinstance(node, bool):
            issues.append(
                DefinitionIssue(
                    path=f"{_edge_path(*where)}[{t_index}].node",
                    code=ErrorCode.INVALID_EDGES,
                    message="target node must be a node name or id",
                )
            )
        elif not isinstance(index, int) or isinstance(index, bool) or index < 0:
            issues.append(
                DefinitionIssue(
                    path=f"{_edge_path(*where)}[{t_index}].index",
                    code=ErrorCode.INVALID_INPUT_INDEX,
                    message="target index must be a non-negative integer",
                )
            )
        else:
            out.append(
                _construct(
                    ConnectionTarget, {"node": str(resolve(node)), "type": str(kind), "index": int(index)}
                )
            )
    return out


def _normalise_settings(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        return {}
    settings = dict(raw)
    if settings.get("executionTimeout") in (-1, 0):  # n8n uses -1 for "no timeout"
        settings.pop("executionTimeout")
    if "maxConcurrency" not in settings and isinstance(settings.get("maxConcurrentNodes"), int):
        settings["maxConcurrency"] = settings["maxConcurrentNodes"]
    if settings.get("executionOrder") not in ("v0", "v1"):
        settings.pop("executionOrder", None)
    return settings


def _normalise_variables(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        return {}
    out: dict[str, Any] = {}
    for name, definition in raw.items():
        if isinstance(definition, dict):
            out[str(name)] = {"name": str(name), **{k: v for k, v in definition.items() if k != "name"}}
        else:  # a bare value is a variable with that default
            out[str(name)] = {"name": str(name), "defaultValue": definition}
    return out


def _normalise_tags(raw: Any) -> list[str]:
    if not isinstance(raw, list):
        return []
    return [str(t.get("name")) if isinstance(t, dict) else str(t) for t in raw if t is not None]


def _pydantic_issues(exc: ValidationError, raw: dict[str, Any]) -> list[DefinitionIssue]:
    issues = []
    for error in exc.errors():
        loc = list(error["loc"])
        code = ErrorCode.INVALID_NODES if loc[:1] == ["nodes"] else ErrorCode.INVALID_FIELD
        if loc[:1] == ["variables"]:
            code = ErrorCode.INVALID_VARIABLE_TYPE if loc[-1:] == ["type"] else ErrorCode.INVALID_FIELD
        if loc[:1] == ["connections"]:
            code = ErrorCode.INVALID_EDGES
        loc = [_raw_key(part) for part in loc]
        issues.append(DefinitionIssue(path=json_path(loc), code=code, message=error["msg"]))
    return issues


_RAW_KEYS = {
    "type_version": "typeVersion",
    "timeout_ms": "timeout",
    "on_error": "onError",
    "always_output_data": "alwaysOutputData",
    "execute_once": "executeOnce",
    "skip_on_fail": "skipOnFail",
    "retry": "retryPolicy",
    "execution_timeout_s": "executionTimeout",
    "max_concurrency": "maxConcurrency",
    "limits": "executionLimits",
    "default_value": "defaultValue",
}


def _raw_key(part: int | str) -> int | str:
    return _RAW_KEYS.get(part, part) if isinstance(part, str) else part


def canonical_json_schema() -> dict[str, Any]:
    """The JSON Schema of the canonical model (what ``tenantflow schema`` prints)."""
    schema = WorkflowDefinition.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "tenantflow workflow (canonical)"
    return schema
