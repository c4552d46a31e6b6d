"""Run one node through the real executor, fed by n8n's own test-data nodes.

``run_node`` builds ``manualTrigger -> testData k -> node input k`` for each input, executes it and hands
back the record, so node tests see exactly what a workflow run would: real expression evaluation, real
parameter lookup, the executor's error handling. ``run_with_items`` is for the few tests whose input items
need ``binary`` or ``pairedItem`` (testData emits ``{"json": element}`` only): it calls the node's ``run``
on the executor's own :class:`NodeRunContext`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tenantflow.engine.context import NodeRunContext
from tenantflow.engine.executor import Execution, execute
from tenantflow.engine.record import ExecutionRecord, NodeState
from tenantflow.engine.sdk import Items
from tenantflow.nodes import default_registry

NODE = "Node"
REGISTRY = default_registry(plugins=False)


@dataclass(frozen=True)
class NodeRun:
    """One execution of the workflow around the node under test."""

    record: ExecutionRecord

    @property
    def state(self) -> NodeState:
        assert NODE in self.record.state, f"{NODE} never ran: {self.record.state}"
        return self.record.state[NODE]

    @property
    def outputs(self) -> list[Items]:
        """The node's output item lists; the run must have succeeded."""
        assert self.record.status == "success", self.record.error
        return self.state.output

    def json(self) -> list[list[Any]]:
        """Each output's item json."""
        return [[item["json"] for item in output] for output in self.outputs]

    @property
    def error(self) -> dict[str, Any]:
        """The node's recorded error (``message``, ``code``, ``description``); the run must have failed."""
        assert self.record.status == "error", f"expected a failure, got {self.record.status}"
        assert self.record.error is not None and self.record.error["node"] == NODE, self.record.error
        error = self.state.error
        assert error is not None
        return error


def workflow(
    node_type: str,
    parameters: dict[str, Any],
    inputs: list[list[Any]] | list[Any],
    *,
    version: float = 1,
    **node_fields: Any,
) -> dict[str, Any]:
    """``inputs`` is one list of item json per input, or a single list of item json for input 0."""
    per_input = inputs if inputs and all(isinstance(rows, list) for rows in inputs) else [inputs]
    tested = {"id": "node", "name": NODE, "type": node_type, "typeVersion": version, "parameters": parameters}
    nodes: list[dict[str, Any]] = [
        {"id": "trigger", "name": "Trigger", "type": "n8n-nodes-base.manualTrigger", "parameters": {}},
        {**tested, **node_fields},
    ]
    connections: dict[str, Any] = {"Trigger": {"main": [[]]}}
    for index, rows in enumerate(per_input):
        name = f"Input {index}"
        nodes.append(
            {
                "id": f"input{index}",
                "name": name,
                "type": "n8n-nodes-testing.testData",
                "parameters": {"data": rows},
            }
        )
        connections["Trigger"]["main"][0].append({"node": name, "type": "main", "index": 0})
        connections[name] = {"main": [[{"node": NODE, "type": "main", "index": index}]]}
    return {"nodes": nodes, "connections": connections}


async def run_node(
    node_type: str,
    parameters: dict[str, Any],
    inputs: list[list[Any]] | list[Any],
    *,
    version: float = 1,
    **node_fields: Any,
) -> NodeRun:
    """Execute ``node_type`` on ``inputs`` (item json; keep ``=`` and ``{{`` out of it: testData evaluates
    its ``data`` parameter). ``node_fields`` go on the node itself, e.g. ``onError="continueErrorOutput"``."""
    document = workflow(node_type, parameters, inputs, version=version, **node_fields)
    return NodeRun(await execute(document, registry=REGISTRY))


async def run_with_items(
    node_type: str, parameters: dict[str, Any], inputs: list[Items], *, version: float = 1
) -> list[Items]:
    """Call the node's ``run`` with whole items (``binary``, ``pairedItem`` ...) on the executor's context
    for the node in ``run_node``'s workflow."""
    implementation = REGISTRY.get(node_type)
    assert implementation is not None, node_type
    execution = Execution(workflow(node_type, parameters, [], version=version), registry=REGISTRY)
    ctx = NodeRunContext(execution, execution.nodes[NODE], inputs, 0)
    return await implementation.run(ctx, inputs)
