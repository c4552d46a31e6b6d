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
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError
from typing_extensions import TypedDict  # pydantic needs this one on Python < 3.12

from tenantflow.engine.errors import ErrorCode

OnError = Literal["stopWorkflow", "continueRegularOutput", "continueErrorOutput"]
Backoff = Literal["fixed", "exponential", "linear", "fibonacci"]
ExecutionOrder = Literal["v0", "v1"]

DEFAULT_MAX_CONCURRENCY = 16
MAX_CONCURRENCY = 64  # nodes of one execution running at once; each may hold a sandbox process or a socket
DEFAULT_MAX_NODE_EXECUTIONS = 10_000
DEFAULT_MAX_NODES = 10_000
DEFAULT_MAX_MEMORY_MB = 512  # the seed's executionLimits: item data one execution may hold...
DEFAULT_MAX_DATA_MB = 100  # ...and one node run may output (serialised, every shared reference counted)
MAX_LIMIT_MB = 2048  # the most a workflow may ask for (the seed's resource-limit rule for maxMemoryMb)
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


# A plain dict rather than a model: a large workflow has tens of thousands of targets, and the normaliser
# builds them from values it has already checked.
class ConnectionTarget(TypedDict):
    """Where one connection leads, as n8n writes it: the node, the connection type and the input index."""

    node: Annotated[str, Field(description="Target node name.")]
    type: Annotated[str, Field(description="Connection type: main, error or one of n8n's ai_* types.")]
    index: Annotated[int, Field(ge=0, description="Target input index.")]


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
    max_concurrency: int = Field(DEFAULT_MAX_CONCURRENCY, ge=1, le=MAX_CONCURRENCY, alias="maxConcurrency")
    execution_order: ExecutionOrder = Field(
        "v0", alias="executionOrder", description="n8n scheduling rule for multi-input nodes (absent = v0)."
    )
    max_concurrent_executions: int | None = Field(
        None,
        ge=1,
        alias="maxConcurrentExecutions",
        description="Executions of this workflow running at once on workers; more wait queued.",
    )


class ExecutionLimits(_Model):
    max_node_executions: int = Field(DEFAULT_MAX_NODE_EXECUTIONS, ge=1, alias="maxNodeExecutions")
    max_nodes: int = Field(DEFAULT_MAX_NODES, ge=1, alias="maxNodes")
    max_memory_mb: int = Field(
        DEFAULT_MAX_MEMORY_MB,
        ge=1,
        le=MAX_LIMIT_MB,
        alias="maxMemoryMb",
        validation_alias=AliasChoices("maxMemoryMb", "maxMemoryMB"),
        description="Item data (MiB, serialised) the execution's node outputs may hold together.",
    )
    max_data_mb: int = Field(
        DEFAULT_MAX_DATA_MB,
        ge=1,
        le=MAX_LIMIT_MB,
        alias="maxDataSizeMb",
        validation_alias=AliasChoices("maxDataSizeMb", "maxDataMB", "maxDataMb"),
        description="Item data (MiB, serialised) one node run may output.",
    )


class WorkflowDefinition(_Model):
    """A normalised workflow. Node order is the order of the source document (paths index into it)."""

    id: str | None = None
    name: str = "workflow"
    description: str | None = None
    active: bool = False
    nodes: tuple[NodeDefinition, ...]
    connections: dict[str, dict[str, PortConnections]] = Field(
        default_factory=dict,
        description="source node name -> port (main|error|ai_*) -> output index -> targets",
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


def extend(head: str, *parts: Any) -> str:
    """``head`` followed by ``parts`` rendered the way :func:`json_path` renders them.

    The ``"_"`` anchor makes json_path emit a leading separator for the first part; it is then dropped.
    Keys that are neither int nor str (possible in dicts built in Python) are rendered via ``str``.
    """
    return head + json_path(("_", *(p if isinstance(p, int | str) else str(p) for p in parts)))[1:]


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
        result = normalise(raw)
    if result.definition is None:
        raise DefinitionError(result.issues)
    return result.definition


class Link(NamedTuple):
    """One connection target as written: ``source``/``target`` a node name or id, ``output_key`` and
    ``slot`` where it sits in the source, ``bare`` when the target was written as a plain string. Links
    keep the source's own keys so every later issue can point at the exact spot in the document
    (``connections['IF'].main[1][0].node``). A named tuple: a large workflow has tens of thousands."""

    source: Any
    port: str
    output: int
    output_key: int | str
    slot: int
    target: str | int
    kind: str
    input: int
    bare: bool = False

    def source_path(self) -> str:
        return f"connections[{self.source!r}]"

    def output_path(self) -> str:
        return extend(self.source_path(), self.port, self.output_key)

    def path(self, field: str | None = None) -> str:
        """The target's path, or one of its fields' (a bare target has no fields to point into)."""
        target = extend(self.output_path(), self.slot)
        return target if field is None or self.bare else extend(target, field)


PORTS = frozenset({"main", "error"})
"""The connection types that carry items."""

AI_PORTS = frozenset(
    {
        "ai_agent",
        "ai_chain",
        "ai_document",
        "ai_embedding",
        "ai_languageModel",
        "ai_memory",
        "ai_outputParser",
        "ai_reranker",
        "ai_retriever",
        "ai_textSplitter",
        "ai_tool",
        "ai_vectorStore",
    }
)
"""n8n's LangChain connection types (``NodeConnectionTypes``): they attach a sub-node (a model, a tool) to
the node that uses it, and carry no items."""

CONNECTION_TYPES = PORTS | AI_PORTS
"""The connection types the validator accepts; the normaliser keeps any other as written."""

NODE_ID_NAMESPACE = uuid.UUID("5b0e3a52-6c1f-4f0e-9d3a-8f2c7e4b1a90")
"""Fixed, so a node's generated id depends on its workflow and name alone."""


def generated_node_id(scope: str, name: str) -> str:
    """The id a node written without one gets. n8n's import gives such nodes a random UUID; deriving it from
    the workflow (``scope``, see :func:`node_id_scope`) and the node's name makes every parse and re-import
    of one document agree."""
    return str(uuid.uuid5(NODE_ID_NAMESPACE, json.dumps([scope, name])))


def node_id_scope(raw: dict[str, Any]) -> str:
    """The workflow's part in its generated node ids: its id when present, else its name."""
    workflow_id = raw.get("id")
    if workflow_id is not None and workflow_id != "":
        return str(workflow_id)
    return str(raw.get("name") or "workflow")


def missing_id(node_id: Any) -> bool:
    """Absent or empty: what n8n's import (``if (!node.id)``) replaces with a generated id."""
    return node_id is None or node_id == ""


@dataclass(slots=True)
class Normalised:
    """What one pass over a raw document found.

    ``definition`` is None when the document cannot be normalised, and ``issues`` says why, on canonical
    paths (what :class:`DefinitionError` carries). With ``scan``, the pass also does the validator's raw
    work: ``links`` holds every well-formed connection target as written (even when normalisation
    failed), ``source_issues`` every structural problem on the source's own paths and terms, and
    ``type_fields`` the nodes whose executor id sits in ``nodeType`` (MetaBuilder v3).
    """

    definition: WorkflowDefinition | None = None
    issues: list[DefinitionIssue] = field(default_factory=list)
    source_issues: list[DefinitionIssue] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    type_fields: dict[int, str] = field(default_factory=dict)


def normalise(raw: Any, *, scan: bool = False) -> Normalised:
    """The single pass behind :func:`parse_workflow` and the validator (which sets ``scan``)."""
    result = Normalised()
    issues = result.issues
    if not isinstance(raw, dict):
        issues.append(_issue("$", ErrorCode.INVALID_WORKFLOW_FORMAT, "workflow must be an object"))
        return result
    source = result.source_issues if scan else None
    raw_nodes = raw.get("nodes")
    nodes: list[dict[str, Any]] = []
    names: set[str] = set()
    names_by_id: dict[str, Any] = {}
    if not isinstance(raw_nodes, list) or not raw_nodes:
        issues.append(_issue("nodes", ErrorCode.INVALID_NODES, "nodes must be a non-empty array"))
    else:
        nodes = _normalise_nodes(
            raw_nodes, node_id_scope(raw), issues, source, result.type_fields, names, names_by_id
        )
    if issues and not scan:
        return result
    build = not issues  # past a node problem, only the scan goes on
    walk = _ConnectionWalk(names, names_by_id, build, issues, source, result.links if scan else None)
    connections = walk.connections(raw.get("connections"))
    if not build:
        return result
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
        "dialect": "metabuilder" if result.type_fields or "triggers" in raw else "n8n",
    }
    try:
        # The connections are left out: the walk builds them canonical, and validating them again would
        # cost a third of the whole parse on a large workflow.
        definition = WorkflowDefinition.model_validate(document)
    except ValidationError as exc:
        issues.extend(_pydantic_issues(exc, raw))
    if issues:  # the connections' own, or the model's
        return result
    result.definition = definition.model_copy(update={"connections": connections})
    return result


def _issue(path: str, code: ErrorCode, message: str) -> DefinitionIssue:
    return DefinitionIssue(path=path, code=code, message=message)


def _normalise_nodes(
    raw_nodes: list[Any],
    scope: str,
    issues: list[DefinitionIssue],
    source: list[DefinitionIssue] | None,
    type_fields: dict[int, str],
    names: set[str],
    names_by_id: dict[str, Any],
) -> list[dict[str, Any]]:
    """Each node as the model expects it; with ``source``, also the raw structural check of each.

    Fills in ``names`` (string names: the model rejects others) and ``names_by_id`` (the last node with an id
    wins), which connections resolve against, while each node is at hand. A node without an id gets one
    generated in ``scope`` (:func:`generated_node_id`).
    """
    nodes: list[dict[str, Any]] = []
    for index, raw_node in enumerate(raw_nodes):
        if not isinstance(raw_node, dict):
            issue = _issue(f"nodes[{index}]", ErrorCode.INVALID_NODES, "node must be an object")
            issues.append(issue)
            if source is not None:
                source.append(issue)
            continue
        metabuilder = "nodeType" in raw_node
        if metabuilder:
            type_fields[index] = "nodeType"
        node_id: Any = raw_node.get("id")
        name: Any = raw_node.get("name")
        parameters = raw_node.get("parameters")
        plain_identity = type(node_id) is str and node_id != "" and type(name) is str
        if source is not None:
            # The usual node, ruled out at a glance; anything else gets the full check, which may still
            # find nothing (a numeric id, a str subclass).
            type_name = raw_node["nodeType"] if metabuilder else raw_node.get("type")
            if not (
                plain_identity
                and type(type_name) is str
                and node_id.strip()
                and name.strip()
                and type_name.strip()
                and (parameters is None or type(parameters) is dict)
            ):
                source.extend(raw_node_issues(index, raw_node))
        if (  # nothing for _normalise_node to change, as in an n8n node as exported (inline: one per node)
            plain_identity
            and parameters is not None
            and raw_node.get("onError") != "skipNode"
            and _REWRITTEN.isdisjoint(raw_node)
            and (
                (position := raw_node.get("position", _ABSENT)) is _ABSENT
                or (isinstance(position, _LIST_OR_TUPLE) and len(position) == 2)
            )
        ):
            nodes.append(raw_node)  # the model reads it as it is: no copy to make, nor to free
            names_by_id[node_id] = name
            names.add(name)
            continue
        node = _normalise_node(raw_node, index, scope, issues)
        nodes.append(node)
        node_id, name = node.get("id"), node.get("name")
        if node_id is not None:
            names_by_id[str(node_id)] = name
        if isinstance(name, str):
            names.add(name)
    return nodes


_REWRITTEN = frozenset({"nodeType", "retry", "retryPolicy", "retryOnFail", "errorRecoveryStrategy"})
"""Keys :func:`_normalise_node` rewrites (or, for ``retry``, overrides) whenever they are present."""


_LIST_OR_TUPLE = (list, tuple)
"""Spelled out once: ``list | tuple`` in a hot loop builds a new union object on every pass."""


_ABSENT: Any = object()


def type_field_of(raw_node: dict[str, Any]) -> str:
    """MetaBuilder v3 nodes keep the executor id in ``nodeType`` (``type`` is a coarse category)."""
    return "nodeType" if "nodeType" in raw_node else "type"


def raw_node_issues(index: int, raw_node: dict[str, Any]) -> list[DefinitionIssue]:
    """The structural problems of one source node, on its own keys."""
    type_field = type_field_of(raw_node)
    node_id, name = raw_node.get("id"), raw_node.get("name")
    issues = identity_issues(
        index,
        node_id,
        name,
        raw_node.get(type_field),
        type_field,
        id_optional=missing_id(node_id) and isinstance(name, str),
    )
    parameters = raw_node.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        issues.append(
            _issue(f"nodes[{index}].parameters", ErrorCode.INVALID_NODES, "parameters must be an object")
        )
    return issues


def identity_issues(
    index: int, node_id: Any, name: Any, type_name: Any, type_field: str, *, id_optional: bool = False
) -> list[DefinitionIssue]:
    """Every node needs a non-blank id, name and executor type; the model alone accepts blank strings.

    ``id_optional``: the id is missing but will be generated from the name (a raw node's case)."""
    issues = []
    fields = (("name", name), (type_field, type_name))
    for key, value in fields if id_optional else (("id", node_id), *fields):
        problem = identity_problem(value, number_ok=key == "id")
        if problem:
            issues.append(_issue(f"nodes[{index}].{key}", ErrorCode.INVALID_NODES, f"node {key} {problem}"))
    return issues


def identity_problem(value: Any, *, number_ok: bool) -> str | None:
    if isinstance(value, str):
        return None if value.strip() else "is blank"
    if value is None:
        return "is missing"
    if number_ok and isinstance(value, int) and not isinstance(value, bool):
        return None  # n8n ids may be numbers; the normaliser turns them into strings
    return "must be a string"


_new_link = tuple.__new__
"""Builds a :class:`Link` from a tuple of its fields without the generated ``__new__``'s Python frame."""


def _normalise_node(
    raw: dict[str, Any], index: int, scope: str, issues: list[DefinitionIssue]
) -> dict[str, Any]:
    """The node as the model's aliases expect it. Each rewrite is guarded by a membership test: this runs
    for every node of every workflow, and most nodes need none of them."""
    node = dict(raw)
    if "nodeType" in node:  # MetaBuilder v3: type is a coarse category, nodeType the executor id
        node["category"] = node.get("type")
        node["type"] = node.pop("nodeType")
    node_id, name = node.get("id"), node.get("name")
    if missing_id(node_id):
        if isinstance(name, str):
            node["id"] = generated_node_id(scope, name)
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


class _ConnectionWalk:
    """One walk over the raw connections that both normalises them and, when ``links`` is given, scans
    them for the validator.

    The two readings differ at the edges, and each keeps its own: the normaliser keeps connection types
    outside :data:`CONNECTION_TYPES` and, in an index map, the last of two keys naming one output ("0",
    "00"); the scan rejects the former and links both of the latter. Each problem is reported on canonical
    paths into ``issues`` and, when scanning, on the source's own paths and terms into ``source``.
    """

    def __init__(
        self,
        names: set[str],
        names_by_id: dict[str, Any],
        build: bool,
        issues: list[DefinitionIssue],
        source: list[DefinitionIssue] | None,
        links: list[Link] | None,
    ) -> None:
        self.names, self.names_by_id, self.build = names, names_by_id, build
        self.issues, self.source, self.links = issues, source, links

    def resolve(self, ref: str | int) -> str:
        """Keys and targets name a node by name first, then by id."""
        if ref in self.names:
            return str(ref)
        return str(self.names_by_id.get(str(ref), ref))

    def connections(self, raw: Any) -> dict[str, dict[str, PortConnections]]:
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            self.issues.append(_issue("connections", ErrorCode.INVALID_EDGES, "must be an object"))
            self._source("connections", ErrorCode.INVALID_EDGES, "connections must be an object")
            return {}
        result: dict[str, dict[str, PortConnections]] = {}
        scan, build, names = self.links is not None, self.build, self.names
        for source, ports in raw.items():
            if not isinstance(ports, dict):
                path = _edge_path(source)
                self.issues.append(_issue(path, ErrorCode.INVALID_EDGES, "must be an object"))
                self._source(path, ErrorCode.INVALID_EDGES, "must be an object mapping main/error to outputs")
                continue
            resolved: dict[str, PortConnections] = {}
            for port, outputs in ports.items():
                if type(outputs) is list and port in CONNECTION_TYPES:  # the usual port, no _port frame
                    resolved[str(port)] = self._outputs(source, port, outputs, scan, build)
                else:
                    resolved[str(port)] = self._port(source, port, outputs)
            if not build:
                continue
            key = source if type(source) is str and source in names else self.resolve(source)
            merged = result.setdefault(key, resolved)
            if merged is not resolved:  # the same node listed by name and by id: merge output by output
                for port, outputs in resolved.items():
                    existing = merged.setdefault(port, [])
                    for i, targets in enumerate(outputs):
                        while len(existing) <= i:
                            existing.append([])
                        for slot, target in enumerate(targets):
                            if target in existing[i]:
                                spot = (target["node"], target["type"], target["index"])
                                self._duplicate((source, port, i, i, slot), spot, scan)
                            else:
                                existing[i].append(target)
        return result

    def _source(self, path: str, code: ErrorCode, message: str) -> None:
        if self.source is not None:
            self.source.append(_issue(path, code, message))

    def _port(self, source: Any, port: Any, outputs: Any) -> PortConnections:
        scan = self.links is not None
        if scan and port not in CONNECTION_TYPES:
            self._source(
                extend(f"connections[{source!r}]", port),
                ErrorCode.INVALID_EDGES,
                f"unknown connection type {port!r}: use main, error or one of n8n's ai_* types",
            )
            scan = False  # the scan reports nothing more under an unknown type
        if isinstance(outputs, list):
            return self._outputs(source, port, outputs, scan, self.build)
        if isinstance(outputs, dict):  # MetaBuilder {"0": [...], "1": [...]}
            return self._index_map(source, port, outputs, scan)
        self.issues.append(
            _issue(_edge_path(source, port), ErrorCode.INVALID_EDGES, "outputs must be an array")
        )
        if scan:
            self._source(
                extend(f"connections[{source!r}]", port),
                ErrorCode.INVALID_EDGES,
                "outputs must be an array (or a map of output index to targets)",
            )
        return []

    def _index_map(self, source: Any, port: Any, outputs: dict[Any, Any], scan: bool) -> PortConnections:
        """The scan reads the map as written; the normaliser as a list (the last key for an index wins)."""
        if scan:
            for key, targets in outputs.items():
                index = output_index(key)
                if index is None:
                    self._source(
                        f"{extend(f'connections[{source!r}]', port)}[{key!r}]",
                        ErrorCode.INVALID_OUTPUT_INDEX,
                        f"output index {key!r} is not a non-negative integer",
                    )
                else:
                    self._outputs(source, port, [targets], True, False, [(index, key)])
        indexed: dict[int, Any] = {}
        for key, value in outputs.items():
            index = output_index(key)
            if index is None:
                self.issues.append(
                    _issue(
                        f"{_edge_path(source, port)}[{key!r}]",
                        ErrorCode.INVALID_OUTPUT_INDEX,
                        f"output index {key!r} is not an integer from 0 to {MAX_OUTPUTS - 1}",
                    )
                )
                continue
            indexed[index] = value
        size = max(indexed) + 1 if indexed else 0
        return self._outputs(source, port, [indexed.get(i) for i in range(size)], False, self.build)

    def _outputs(
        self,
        source: Any,
        port: Any,
        outputs: list[Any],
        scan: bool,
        build: bool,
        keys: list[tuple[int, int | str]] | None = None,
    ) -> PortConnections:
        """The targets of each output: normalised when ``build``, linked when ``scan``. With neither (an
        index map's normalising pass once nodes failed), only the normaliser's issues are wanted.

        ``keys`` gives each output's (index, key as written) when they are not its position (index maps).
        One frame for a port's outputs and their targets: a large workflow has one port per node.
        """
        result: PortConnections = []
        links = self.links if scan else None
        names = self.names
        key: int | str
        for position, targets in enumerate(outputs):
            if keys is None:
                output = key = position
            else:
                output, key = keys[position]
            out: list[ConnectionTarget] = []
            result.append(out)
            if type(targets) is not list:
                if targets is not None and not isinstance(targets, list):
                    self.issues.append(
                        _issue(_edge_path(source, port, output), ErrorCode.INVALID_EDGES, "must be an array")
                    )
                    if scan:
                        self._source(
                            extend(f"connections[{source!r}]", port, key),
                            ErrorCode.INVALID_EDGES,
                            "targets must be an array",
                        )
                    continue
                if targets is None:
                    continue
            seen: set[tuple[str, str, int]] | None = set() if len(targets) > 1 else None
            for slot, target in enumerate(targets):
                if type(target) is dict and type(node := target.get("node")) is str:  # the usual target
                    index, kind = target.get("index", 0), target.get("type", "main")
                    if type(index) is int and index >= 0 and type(kind) is str:
                        resolved = node if node in names else self.resolve(node)
                        if seen is not None:
                            spot = (resolved, kind, index)
                            if spot in seen:
                                self._duplicate((source, port, output, key, slot), spot, scan)
                                continue
                            seen.add(spot)
                        if links is not None:
                            links.append(
                                _new_link(Link, (source, port, output, key, slot, node, kind, index, False))
                            )
                        if build:
                            out.append({"node": resolved, "type": kind, "index": index})
                        continue
                self._odd_target(source, port, output, key, slot, target, out if build else None, scan)
        return result

    def _duplicate(
        self, where: tuple[Any, Any, int, int | str, int], spot: tuple[str, str, int], scan: bool
    ) -> None:
        """A second identical connection (``where``: source, port, output, key, slot). n8n runs the target
        once per connection entry (its executor enqueues the target for each), so each copy multiplies the
        runs after it: refused, not collapsed, since collapsing would change what the workflow does in n8n.
        n8n's editor cannot draw one."""
        node, kind, index = spot
        message = (
            f"duplicate connection: output {where[2]} of {where[0]!r} already leads to {node!r} ({kind} input"
            f" {index}); n8n would run the target once per copy"
        )
        self._target_issue(*where, (), ErrorCode.INVALID_EDGES, message, scan)

    def _odd_target(
        self,
        source: Any,
        port: Any,
        output: int,
        key: int | str,
        slot: int,
        target: Any,
        out: list[ConnectionTarget] | None,
        scan: bool,
    ) -> None:
        """Anything but an object with a string node, a non-negative int index and a string type."""
        bare = isinstance(target, str)
        if bare:
            node, kind, index = target, "main", 0
        elif isinstance(target, dict) and "node" in target:
            node, kind, index = target["node"], target.get("type", "main"), target.get("index", 0)
        else:
            self._target_issue(
                source,
                port,
                output,
                key,
                slot,
                (),
                ErrorCode.INVALID_EDGES,
                "connection target must be an object with a node",
                scan,
            )
            return
        if not isinstance(node, str | int) or isinstance(node, bool):
            self._target_issue(
                source,
                port,
                output,
                key,
                slot,
                ("node",),
                ErrorCode.INVALID_EDGES,
                "target node must be a node name or id",
                scan,
            )
        elif not isinstance(index, int) or isinstance(index, bool) or index < 0:
            self._target_issue(
                source,
                port,
                output,
                key,
                slot,
                ("index",),
                ErrorCode.INVALID_INPUT_INDEX,
                "target index must be a non-negative integer",
                scan,
            )
        else:
            if scan and self.links is not None:
                self.links.append(Link(source, port, output, key, slot, node, str(kind), index, bare))
            if out is not None:
                out.append({"node": self.resolve(node), "type": str(kind), "index": int(index)})

    def _target_issue(
        self,
        source: Any,
        port: Any,
        output: int,
        key: int | str,
        slot: int,
        field: tuple[str, ...],
        code: ErrorCode,
        message: str,
        scan: bool,
    ) -> None:
        suffix = "".join(f".{name}" for name in field)
        self.issues.append(_issue(f"{_edge_path(source, port, output)}[{slot}]{suffix}", code, message))
        if scan:
            self._source(extend(f"connections[{source!r}]", port, key, slot, *field), code, message)


def _edge_path(source: Any, *parts: Any) -> str:
    """``connections['IF'].main[1]`` from (source, port, output), rendered only for an issue: a large
    workflow has one per link."""
    port, *output = parts or ("",)
    return f"connections[{source!r}]" + (f".{port}" if parts else "") + "".join(f"[{i}]" for i in output)


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
