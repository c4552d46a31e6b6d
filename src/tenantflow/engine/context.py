"""What a running node sees: the executor's implementation of :class:`~tenantflow.engine.sdk.NodeContext`."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tenantflow.engine.definition import NodeDefinition, WorkflowDefinition
from tenantflow.engine.expressions import compile_template, follows_n8n, resolve_value
from tenantflow.engine.pairing import input_source
from tenantflow.engine.proxy import ExpressionScope, LayeredScope, ScopeInputs
from tenantflow.engine.sdk import Items, LogLevel

if TYPE_CHECKING:
    from tenantflow.engine.executor import Execution

_MISSING = object()


def _holds_template(value: Any, seen: dict[int, bool], n8n: bool) -> bool:
    """Whether ``value`` may contain an expression (in n8n's dialect only ``=``-prefixed strings are);
    containers are checked once per node run (by identity), so a node asking for the same static parameter
    for each of 10,000 items pays for one walk."""
    if isinstance(value, str):
        return value.startswith("=") or (not n8n and "{{" in value)
    if not isinstance(value, dict | list):
        return False
    known = seen.get(id(value))
    if known is None:
        children = value.values() if isinstance(value, dict) else value
        known = seen[id(value)] = any(_holds_template(child, seen, n8n) for child in children)
    return known


class NodeRunContext:
    """The executor's implementation of :class:`~tenantflow.engine.sdk.NodeContext` for one node run."""

    __slots__ = ("_execution", "_inputs", "_n8n", "_node", "_run_index", "_scope_inputs", "_static")

    def __init__(
        self, execution: Execution, node: NodeDefinition, inputs: list[Items], run_index: int
    ) -> None:
        self._execution = execution
        self._node = node
        self._run_index = run_index
        self._inputs = inputs
        self._scope_inputs: ScopeInputs | None = None
        self._static: dict[int, bool] | None = None  # created when a container parameter is first asked for
        self._n8n: bool | None = None  # the node's template dialect, found when an expression may be near

    @property
    def node(self) -> NodeDefinition:
        return self._node

    @property
    def workflow(self) -> WorkflowDefinition:
        return self._execution.definition

    @property
    def execution_id(self) -> str:
        return self._execution.id

    @property
    def run_index(self) -> int:
        return self._run_index

    @property
    def timezone(self) -> str:
        return self._execution.definition.settings.timezone

    @property
    def node_state(self) -> dict[str, Any]:
        return self._execution.node_state(self._node.name)

    @property
    def variables(self) -> dict[str, Any]:
        return self._execution.variables

    @property
    def allow_private_network(self) -> bool:
        return self._execution.limits.allow_private_network

    @property
    def allow_host_commands(self) -> bool:
        return self._execution.limits.allow_host_commands

    @property
    def files_root(self) -> str | None:
        return self._execution.limits.files_root

    def static_data(self, scope: str) -> dict[str, Any]:
        key = "global" if scope == "global" else f"node:{self._node.name}"  # n8n's keys
        data: dict[str, Any] = self._execution.static_scopes.setdefault(key, {})
        return data

    def raw_param(self, path: str, default: Any = None) -> Any:
        value: Any = self._node.parameters
        for part in path.split("."):
            if not isinstance(value, dict) or part not in value:
                return default
            value = value[part]
        return value

    def param(self, path: str, item_index: int = 0, default: Any = None) -> Any:
        value = self.raw_param(path, _MISSING)
        if value is _MISSING:
            return default
        return self.evaluate(value, item_index)

    def evaluate(self, value: Any, item_index: int = 0) -> Any:
        if isinstance(value, str):
            if not (value.startswith("=") or ("{{" in value and not self._n8n_dialect())):
                return value
        elif isinstance(value, dict | list):
            if self._static is None:
                self._static = {}
            if not _holds_template(value, self._static, self._n8n_dialect()):
                return value
        else:
            return value
        n8n = self._n8n if self._n8n is not None else self._n8n_dialect()
        return resolve_value(value, self._scope(item_index), self._execution.limits.expressions, n8n)

    def _n8n_dialect(self) -> bool:
        """Whether the node takes n8n's template rule (only ``=``-prefixed strings); found once per run, and
        only by nodes that evaluate something (a chain of no-ops never pays for it)."""
        if self._n8n is None:
            self._n8n = follows_n8n(self._node.type)
        return self._n8n

    def evaluate_with(self, source: str, names: Mapping[str, Any], item_index: int = 0) -> Any:
        scope = LayeredScope(names, self._scope(item_index))
        return compile_template(source).render(scope, self._execution.limits.expressions)

    def _scope(self, item_index: int) -> ExpressionScope:
        if self._scope_inputs is None:  # built on first use: most parameters hold no expression
            self._scope_inputs = self._execution.scope_inputs(self._node, self._inputs, self._run_index)
        return ExpressionScope(self._scope_inputs, item_index)

    def log(self, level: LogLevel, message: str, **data: Any) -> None:
        self._execution._log(level, message, self._node.name, data or None)

    def input_source(self, input_index: int = 0) -> dict[str, Any] | None:
        return input_source(self._execution, self._node.name, self._run_index, input_index)

    def count_api_call(self) -> None:
        self._execution.record.metrics.api_calls_made += 1

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def execute_workflow(self, source: Any, items: Items) -> list[Items]:
        return await self._execution.run_subworkflow(source, items)

    async def start_workflow(self, source: Any, items: Items) -> str | None:
        starter = self._execution.workflow_starter
        if starter is None or not isinstance(source, Mapping) or "nodes" in source:
            return None
        return await starter(source, items)
