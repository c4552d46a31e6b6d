"""Small node types for the validator tests (imported explicitly; tests/engine/conftest.py is not ours)."""

from __future__ import annotations

from typing import Any, ClassVar

from tenantflow.engine.definition import NodeDefinition
from tenantflow.engine.sdk import Items, NodeContext, NodeRegistry, NodeType


class _Passthrough(NodeType):
    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        return inputs


class ManualTrigger(_Passthrough):
    type = "n8n-nodes-base.manualTrigger"
    is_trigger = True


class NoOp(_Passthrough):
    type = "n8n-nodes-base.noOp"


class SetNode(_Passthrough):
    type = "n8n-nodes-base.set"
    versions = (1, 2, 3.4)
    parameters_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {"value": {"type": "string"}, "count": {"type": "integer", "minimum": 0}},
    }


class HttpRequest(_Passthrough):
    type = "n8n-nodes-base.httpRequest"
    versions = (4, 4.2)
    parameters_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {
            "url": {"type": "string", "pattern": "^(https?://|=)"},
            "method": {"enum": ["GET", "POST"]},
        },
        "required": ["url"],
    }


class If(_Passthrough):
    type = "n8n-nodes-base.if"

    def output_count(self, node: NodeDefinition) -> int | None:
        return 2


class Switch(_Passthrough):
    """Outputs = number of rules; unknown when the rules are themselves an expression."""

    type = "n8n-nodes-base.switch"

    def output_count(self, node: NodeDefinition) -> int | None:
        rules = node.parameters.get("rules", [])
        return len(rules) if isinstance(rules, list) else None


class Merge(_Passthrough):
    type = "n8n-nodes-base.merge"

    def input_count(self, node: NodeDefinition) -> int:
        return int(node.parameters.get("inputs", 2))


class SplitInBatches(_Passthrough):
    type = "n8n-nodes-base.splitInBatches"
    versions = (1, 2, 3)
    is_loop = True

    def output_count(self, node: NodeDefinition) -> int | None:
        return 2


class DbalRead(_Passthrough):
    type = "dbal-read"


class BrokenSchema(_Passthrough):
    type = "test.brokenSchema"
    parameters_schema: ClassVar[dict[str, Any]] = {"type": 12}


ALL_TYPES: tuple[type[NodeType], ...] = (
    ManualTrigger,
    NoOp,
    SetNode,
    HttpRequest,
    If,
    Switch,
    Merge,
    SplitInBatches,
    DbalRead,
    BrokenSchema,
)


def make_registry() -> NodeRegistry:
    registry = NodeRegistry()
    for node_type in ALL_TYPES:
        registry.register(node_type)
    return registry
