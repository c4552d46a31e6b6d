"""The node SDK: what a node type declares and what it may ask of the executor while it runs.

A node receives one list of items per input and returns one list per output. An item is a plain dict
``{"json": {...}}`` (optionally ``binary`` and ``pairedItem``), so outputs can be checkpointed as JSON.
Nodes raise :class:`~tenantflow.engine.errors.NodeError` to fail; the executor applies retries and the
node's ``onError`` policy, so nodes never implement either themselves.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, ClassVar, Literal, Protocol

from tenantflow.engine.definition import NodeDefinition, WorkflowDefinition

Item = dict[str, Any]
Items = list[Item]
LogLevel = Literal["debug", "info", "warn", "error"]
ENTRY_POINT_GROUP = "tenantflow.nodes"
# What a script calls for the workflow's static data (also matches $getWorkflowStaticData): a workflow whose
# nodes mention it keeps static data between executions, and only scripts that mention it are given it.
STATIC_DATA_CALL = "getWorkflowStaticData"


class NodeContext(Protocol):
    """What a running node can see and do. The executor provides the implementation."""

    @property
    def node(self) -> NodeDefinition: ...
    @property
    def workflow(self) -> WorkflowDefinition: ...
    @property
    def execution_id(self) -> str: ...
    @property
    def run_index(self) -> int: ...
    @property
    def timezone(self) -> str: ...
    @property
    def node_state(self) -> dict[str, Any]:
        """State kept across runs of this node within one execution (n8n's node context)."""
        ...

    @property
    def variables(self) -> dict[str, Any]:
        """The execution's variable scope; writes are visible to later nodes."""
        ...

    @property
    def allow_private_network(self) -> bool: ...
    @property
    def allow_host_commands(self) -> bool: ...
    def static_data(self, scope: str) -> dict[str, Any]:
        """n8n's workflow static data, ``global`` or this ``node``'s: kept across executions by the host;
        change it in place."""
        ...

    @property
    def files_root(self) -> str | None:
        """The host directory file nodes may read and write (None: the host allows no disk access)."""
        ...

    def param(self, path: str, item_index: int = 0, default: Any = None) -> Any:
        """The parameter at a dotted ``path``, expressions evaluated against input item ``item_index``.

        A parameter without expressions comes back as written, not copied: treat it as read-only.
        """
        ...

    def raw_param(self, path: str, default: Any = None) -> Any:
        """The parameter as written, expressions unevaluated."""
        ...

    def evaluate(self, value: Any, item_index: int = 0) -> Any:
        """Resolve any value (templates included) against input item ``item_index``."""
        ...

    def evaluate_with(self, source: str, names: Mapping[str, Any], item_index: int = 0) -> Any:
        """Evaluate an expression with extra names (``item``, ``index``, ``acc`` ...) over item
        ``item_index``'s scope: what callback parameters such as a filter condition need.

        Returns the raw expression value (it may be ``UNDEFINED`` or a date); ``to_json`` makes it data.
        """
        ...

    def log(self, level: LogLevel, message: str, **data: Any) -> None: ...

    def input_source(self, input_index: int = 0) -> dict[str, Any] | None:
        """Where this run's input ``input_index`` came from, as n8n's ``getInputSourceData`` gives it
        (``previousNode``, ``previousNodeOutput``, ``previousNodeRun``); None for the execution's own input.
        A node that hands out those items again on a later run (a loop) puts it in their
        ``pairedItem.sourceOverwrite``, so ``$('Name').item`` still finds where they came from."""
        ...

    def count_api_call(self) -> None:
        """Count one outbound call in the execution's ``apiCallsMade`` metric."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Sleep, ending early (with cancellation) when the execution is aborted or times out."""
        ...

    async def execute_workflow(self, source: Any, items: Items) -> list[Items]:
        """Run another workflow (a definition or a reference the host's loader resolves) on ``items``."""
        ...

    async def start_workflow(self, source: Any, items: Items) -> str | None:
        """Start a referenced workflow on ``items`` without waiting, as an execution of its own that the
        host records and runs (returns its id); None when the host starts none (no starter, or an inline
        definition), and the caller runs it beside this execution instead."""
        ...


@dataclass(frozen=True)
class Port:
    """A named input or output of a node type."""

    name: str
    required: bool = False


class NodeType(ABC):
    """Base class of every node type. Subclasses set the class attributes and implement :meth:`run`."""

    type: ClassVar[str]
    versions: ClassVar[tuple[float, ...]] = (1,)
    display_name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    aliases: ClassVar[tuple[str, ...]] = ()
    parameters_schema: ClassVar[Mapping[str, Any]] = {"type": "object"}
    is_trigger: ClassVar[bool] = False
    is_loop: ClassVar[bool] = False
    cpu_only: ClassVar[bool] = False
    """True when ``run`` never awaits I/O: the executor may run it in its own task, skipping a Task."""

    def input_count(self, node: NodeDefinition) -> int:
        """How many main inputs this node has (Merge: 2 or more)."""
        return 0 if self.is_trigger else 1

    def output_count(self, node: NodeDefinition) -> int | None:
        """How many main outputs, or ``None`` when it cannot be known before running."""
        return 1

    def loop_outputs(self, node: NodeDefinition) -> frozenset[int]:
        """For loop nodes: outputs that lead back into the loop body (their runs are not final)."""
        return frozenset()

    def keeps_static_data(self, node: NodeDefinition) -> bool:
        """Whether ``node`` reads or writes the workflow's static data, so the host must load it before
        the run and save it after (scripts are found by :data:`STATIC_DATA_CALL` in their text instead)."""
        return False

    def schema_for(self, version: float) -> Mapping[str, Any]:
        """The JSON Schema that ``parameters`` must satisfy at ``version``."""
        return self.parameters_schema

    def describe(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "versions": list(self.versions),
            "displayName": self.display_name or self.type,
            "description": self.description,
            "aliases": list(self.aliases),
            "trigger": self.is_trigger,
            "loop": self.is_loop,
            "parameters": {str(v): self.schema_for(v) for v in self.versions},
        }

    @abstractmethod
    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        """Turn input item lists (one per input) into output item lists (one per output)."""


@dataclass
class NodeRegistry:
    """Node types by type name and alias. Plugins register through the ``tenantflow.nodes`` entry points."""

    _types: dict[str, NodeType] = field(default_factory=dict)
    _aliases: dict[str, str] = field(default_factory=dict)
    _fingerprint: str | None = None

    def register(self, node_type: NodeType | type[NodeType]) -> None:
        instance = node_type() if isinstance(node_type, type) else node_type
        self._types[instance.type] = instance
        for alias in instance.aliases:
            self._aliases[alias] = instance.type
        self._fingerprint = None

    def fingerprint(self) -> str:
        """A digest of every type, version and parameter schema: stored validation results name the
        registry they were checked against, so a node-type change marks them stale."""
        if self._fingerprint is None:
            described = json.dumps([t.describe() for t in self], sort_keys=True, default=str)
            self._fingerprint = hashlib.sha256(described.encode()).hexdigest()[:32]
        return self._fingerprint

    def get(self, type_name: str) -> NodeType | None:
        found = self._types.get(type_name)
        if found is None and type_name in self._aliases:
            found = self._types[self._aliases[type_name]]
        return found

    def __iter__(self) -> Iterator[NodeType]:
        return iter(sorted(self._types.values(), key=lambda t: t.type))

    def __len__(self) -> int:
        return len(self._types)

    def load_plugins(self) -> None:
        """Register every node type (or iterable of types) published under the entry-point group."""
        for entry in entry_points(group=ENTRY_POINT_GROUP):
            loaded = entry.load()
            items = loaded if isinstance(loaded, list | tuple) else [loaded]
            for item in items:
                self.register(item)


WorkflowLoader = Callable[[Any], Awaitable[WorkflowDefinition]]
WorkflowStarter = Callable[[Any, "Items"], Awaitable[str]]  # a reference and items -> the new execution's id
