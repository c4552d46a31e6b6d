"""The variables an expression sees (``$json``, ``$input``, ``$('Name')``, ``$steps`` …), built lazily.

A node evaluating a parameter for item *i* gets a :class:`ExpressionScope`: a read-only mapping that computes
each ``$`` variable only when the expression asks for it, so a plain ``$json.x`` costs one dict lookup.
Everything handed to the interpreter is a JSON value, a :class:`HostObject` or a :class:`NativeFunction`;
no Python object is reachable from an expression.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from tenantflow.engine.definition import NodeDefinition, WorkflowDefinition
from tenantflow.engine.expressions import (
    UNDEFINED,
    ExpressionError,
    HostObject,
    NativeFunction,
    js_string,
    make_date,
)
from tenantflow.engine.pairing import PairedItems, Source
from tenantflow.engine.sdk import Item, Items


class RunData(Protocol):
    """What the executor knows about nodes that already ran (read-only view for expressions)."""

    @property
    def workflow(self) -> WorkflowDefinition: ...

    def runs_of(self, name: str) -> list[list[Items]]:
        """Outputs of every run of ``name`` so far, oldest first (empty if it never ran)."""
        ...

    def sources_of(self, name: str, run: int) -> Sequence[Source]:
        """Where run ``run`` of ``name`` got its input items (see :mod:`tenantflow.engine.pairing`)."""
        ...

    def status_of(self, name: str) -> str | None: ...
    def error_of(self, name: str) -> dict[str, Any] | None: ...
    def node_state(self, name: str) -> dict[str, Any]: ...


@dataclass
class ScopeInputs:
    """Everything about the evaluating node that does not depend on the item index."""

    run_data: RunData
    node: NodeDefinition
    inputs: list[Items]
    run_index: int
    execution_id: str
    variables: dict[str, Any]
    context: Mapping[str, Any]
    secrets: Mapping[str, str]
    env: Mapping[str, str]
    timezone: str
    previous_node: str | None


def _as_json(item: Item | None) -> Any:
    return UNDEFINED if item is None else item.get("json", {})


class ItemView(HostObject):
    """One item as n8n shows it: ``.json``, ``.binary``, ``.pairedItem``."""

    def __init__(self, item: Item) -> None:
        self._item = item

    def get_member(self, key: str) -> Any:
        if key == "json":
            return self._item.get("json", {})
        if key == "binary":
            return self._item.get("binary", {})
        if key == "pairedItem":
            return self._item.get("pairedItem", UNDEFINED)
        return UNDEFINED

    def to_json(self) -> Any:
        return {k: v for k, v in self._item.items() if k in ("json", "binary", "pairedItem")}


def _views(items: Items) -> list[Any]:
    return [ItemView(item) for item in items]


def _at(items: list[Any], index: Any) -> Any:
    if isinstance(index, int | float) and -len(items) <= int(index) < len(items):
        return items[int(index)]
    return UNDEFINED


class NodeAccessor(HostObject):
    """``$('Name')``: another node's output, as ``.item``, ``.all()``, ``.first()``, ``.last()`` …"""

    def __init__(self, scope: ExpressionScope, name: str) -> None:
        self._scope = scope
        self._name = name
        self._base = scope.base

    def _output(self, branch: Any = None, run: Any = None) -> Items:
        runs = self._base.run_data.runs_of(self._name)
        if not runs:
            raise ExpressionError(
                f"Node '{self._name}' hasn't been executed", expression=f"$('{self._name}')"
            )
        run_index = -1 if run is None or run is UNDEFINED else int(run)
        if not -len(runs) <= run_index < len(runs):
            raise ExpressionError(
                f"Run {run_index} of node '{self._name}' does not exist", expression=self._name
            )
        outputs = runs[run_index]
        if branch is None or branch is UNDEFINED:
            branch = self._connected_branch(outputs)
        index = int(branch)
        return outputs[index] if 0 <= index < len(outputs) else []

    def _connected_branch(self, outputs: list[Items]) -> int:
        """Default to the output this node feeds the evaluating node from, else the first non-empty one."""
        for edge_targets_index, targets in enumerate(
            self._base.run_data.workflow.connections.get(self._name, {}).get("main", [])
        ):
            if any(t["node"] == self._base.node.name for t in targets):
                return edge_targets_index
        for index, items in enumerate(outputs):
            if items:
                return index
        return 0

    def _paired(self, item_index: Any = None) -> ItemView:
        """The item of this node that the evaluating node's input item derives from (n8n's ``.item``)."""
        self._output()  # the node must have run: the same error as .all() otherwise
        index = self._scope.item_index if item_index is None or item_index is UNDEFINED else item_index
        whole = isinstance(index, int) or (isinstance(index, float) and index.is_integer())
        if isinstance(index, bool) or not whole or not 0 <= index < len(self._scope.input_items):
            raise ExpressionError(
                f"Item {js_string(index)} is not an input item of node '{self._base.node.name}'",
                expression=f"$('{self._name}').item",
            )
        base = self._base
        item = PairedItems(base.run_data).resolve(self._name, base.node.name, base.run_index, int(index))
        return ItemView(item)

    def get_member(self, key: str) -> Any:
        if key == "item":
            return self._paired()
        if key in ("itemMatching", "pairedItem"):
            return NativeFunction(key, lambda args: self._paired(args[0] if args else None))
        if key == "isExecuted":
            return bool(self._base.run_data.runs_of(self._name))
        if key == "params":
            return self._base.run_data.workflow.node(self._name).parameters
        if key == "context":
            return self._base.run_data.node_state(self._name)
        if key == "all":
            return NativeFunction("all", lambda args: _views(self._output(*args[:2])))
        if key == "first":
            return NativeFunction("first", lambda args: _at(_views(self._output(*args[:2])), 0))
        if key == "last":
            return NativeFunction("last", lambda args: _at(_views(self._output(*args[:2])), -1))
        return UNDEFINED


class LegacyNode(HostObject):
    """``$node["Name"]``: the item at the current index of the node's first output, its context and params."""

    def __init__(self, scope: ExpressionScope, name: str) -> None:
        self._scope = scope
        self._name = name

    def get_member(self, key: str) -> Any:
        run_data = self._scope.base.run_data
        if key == "context":
            return run_data.node_state(self._name)
        if key in ("parameter", "params"):
            return run_data.workflow.node(self._name).parameters
        if key == "runIndex":
            return max(len(run_data.runs_of(self._name)) - 1, 0)
        runs = run_data.runs_of(self._name)
        items = runs[-1][0] if runs and runs[-1] else []
        item = _pick(items, self._scope.item_index)
        if key == "json":
            return _as_json(item)
        if key == "binary":
            return {} if item is None else item.get("binary", {})
        return UNDEFINED


def _pick(items: Items, index: int) -> Item | None:
    if not items:
        return None
    return items[index] if 0 <= index < len(items) else items[0]


class NodesByName(HostObject):
    """A lazy ``{name: view}`` object (``$node``, ``$steps``, ``$nodes``) over the workflow's nodes."""

    def __init__(self, scope: ExpressionScope, view: Callable[[str], Any]) -> None:
        self._scope = scope
        self._view = view

    def get_member(self, key: str) -> Any:
        workflow = self._scope.base.run_data.workflow
        for node in workflow.nodes:
            if key in (node.name, node.id):
                return self._view(node.name)
        return UNDEFINED


class InputView(HostObject):
    """``$input``: the evaluating node's main input 0."""

    def __init__(self, scope: ExpressionScope) -> None:
        self._scope = scope

    def get_member(self, key: str) -> Any:
        items = self._scope.input_items
        if key == "item":
            item = self._scope.current_item
            return UNDEFINED if item is None else ItemView(item)
        if key == "all":
            return NativeFunction("all", lambda args: _views(items))
        if key == "first":
            return NativeFunction("first", lambda args: _at(_views(items), 0))
        if key == "last":
            return NativeFunction("last", lambda args: _at(_views(items), -1))
        if key == "main":  # MetaBuilder: $input.main.items
            return {"items": [i.get("json", {}) for i in items]}
        if key == "params":
            return self._scope.base.node.parameters
        if key == "context":
            return self._scope.base.run_data.node_state(self._scope.base.node.name)
        return UNDEFINED


class ExpressionScope(Mapping[str, Any]):
    """The lazily built variables for one (node, item index) evaluation."""

    def __init__(self, base: ScopeInputs, item_index: int) -> None:
        self.base = base
        self.item_index = item_index
        self.input_items: Items = base.inputs[0] if base.inputs else []
        self.current_item: Item | None = (
            self.input_items[item_index] if 0 <= item_index < len(self.input_items) else None
        )
        self._cache: dict[str, Any] = {}

    def __getitem__(self, key: str) -> Any:
        if key in self._cache:
            return self._cache[key]
        builder = _BUILDERS.get(key)
        if builder is None:
            raise KeyError(key)
        value = builder(self)
        self._cache[key] = value
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(_BUILDERS)

    def __len__(self) -> int:
        return len(_BUILDERS)

    def now(self) -> datetime:
        return datetime.now(ZoneInfo(self.base.timezone))

    def step(self, name: str) -> dict[str, Any]:
        """MetaBuilder's ``$steps.X``: the node's result with its first output item as ``output``."""
        run_data = self.base.run_data
        status = run_data.status_of(name)
        runs = run_data.runs_of(name)
        first = runs[-1][0][0]["json"] if runs and runs[-1] and runs[-1][0] else None
        return {
            "status": status,
            "success": status == "success",
            "output": first,
            "error": run_data.error_of(name),
        }

    def first_output(self, name: str) -> Any:
        runs = self.base.run_data.runs_of(name)
        return runs[-1][0][0]["json"] if runs and runs[-1] and runs[-1][0] else UNDEFINED

    def items_of(self, args: list[Any]) -> list[Any]:
        if not args:
            return _views(self.input_items)
        return _views(NodeAccessor(self, str(args[0]))._output(*args[1:3]))

    def item_at(self, args: list[Any]) -> Any:
        index = int(args[0]) if args and isinstance(args[0], int | float) else self.item_index
        return ExpressionScope(self.base, index)

    def workflow_view(self) -> dict[str, Any]:
        workflow = self.base.run_data.workflow
        return {
            "id": workflow.id,
            "name": workflow.name,
            "active": workflow.active,
            "variables": self.base.variables,
        }


class LayeredScope(Mapping[str, Any]):
    """Extra names (a callback's ``item``, ``$key`` ...) over an item's normal scope."""

    def __init__(self, names: Mapping[str, Any], base: Mapping[str, Any]) -> None:
        self._names = names
        self._base = base

    def __getitem__(self, key: str) -> Any:
        return self._names[key] if key in self._names else self._base[key]

    def __iter__(self) -> Iterator[str]:
        yield from self._names
        yield from (key for key in self._base if key not in self._names)

    def __len__(self) -> int:
        return sum(1 for _ in self)


class _ScopeObject(HostObject):
    """``$item(i)``: the old-style accessor whose members are ``$json``, ``$node`` … for item i."""

    def __init__(self, scope: ExpressionScope) -> None:
        self._scope = scope

    def get_member(self, key: str) -> Any:
        return self._scope.get(key, UNDEFINED)


def _json(scope: ExpressionScope) -> Any:
    if scope.current_item is None:
        if not scope.base.inputs or not scope.input_items:
            return {}
        return scope.input_items[0].get("json", {})
    return scope.current_item.get("json", {})


def _require_node(scope: ExpressionScope, name: Any) -> NodeAccessor:
    name = str(name)
    if not any(n.name == name for n in scope.base.run_data.workflow.nodes):
        raise ExpressionError(f"Referenced node doesn't exist: '{name}'", expression=f"$('{name}')")
    return NodeAccessor(scope, name)


_BUILDERS: dict[str, Callable[[ExpressionScope], Any]] = {
    "$json": _json,
    "$binary": lambda s: {} if s.current_item is None else s.current_item.get("binary", {}),
    "$input": InputView,
    "$thisItem": lambda s: UNDEFINED if s.current_item is None else ItemView(s.current_item),
    "$": lambda s: NativeFunction("$", lambda args: _require_node(s, args[0] if args else "")),
    "$node": lambda s: NodesByName(s, lambda name: LegacyNode(s, name)),
    "$steps": lambda s: NodesByName(s, s.step),
    "$nodes": lambda s: NodesByName(s, s.first_output),
    "$items": lambda s: NativeFunction("$items", s.items_of),
    "$item": lambda s: NativeFunction("$item", lambda args: _ScopeObject(s.item_at(args))),
    "$context": lambda s: dict(s.base.context),
    "$vars": lambda s: s.base.variables,
    "$workflow": lambda s: s.workflow_view(),
    "$execution": lambda s: {"id": s.base.execution_id, "mode": execution_mode(s.base.context)},
    "$runIndex": lambda s: s.base.run_index,
    "$itemIndex": lambda s: s.item_index,
    "$now": lambda s: make_date(s.now()),
    "$today": lambda s: make_date(s.now().replace(hour=0, minute=0, second=0, microsecond=0)),
    "$secrets": lambda s: dict(s.base.secrets),
    "$env": lambda s: dict(s.base.env),
    "$prevNode": lambda s: {"name": s.base.previous_node, "outputIndex": 0, "runIndex": 0},
    "$parameter": lambda s: s.base.node.parameters,
    "$nodeVersion": lambda s: s.base.node.type_version,
    "$nodeId": lambda s: s.base.node.id,
    "$position": lambda s: s.item_index,
    "$index": lambda s: s.item_index,
}


def execution_mode(context: Mapping[str, Any]) -> str:
    """n8n's ``$execution.mode``: ``test`` for a run someone started by hand (no trigger in the host's
    context, a manual one, or a test webhook), ``production`` for one a trigger started."""
    trigger = context.get("trigger")
    if not isinstance(trigger, Mapping):
        return "test"
    metadata = trigger.get("metadata")
    tested = isinstance(metadata, Mapping) and metadata.get("test") is True
    return "test" if tested or trigger.get("kind") in (None, "manual") else "production"
