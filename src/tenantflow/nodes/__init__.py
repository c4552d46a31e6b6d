"""Built-in node types, one module per family. Each module exports ``NODE_TYPES``."""

from __future__ import annotations

from importlib import import_module

from tenantflow.engine.sdk import NodeRegistry, NodeType

FAMILIES = (
    "core",
    "branching",
    "transform",
    "merge",
    "loops",
    "http",
    "subworkflow",
    "training",
    "lists",
    "metabuilder_ops",
    "metabuilder_actions",
    "dates",
    "crypto",
    "compare",
    "trigger_defs",
    "markup",
    "code",
)


def builtin_node_types() -> list[type[NodeType]]:
    types: list[type[NodeType]] = []
    for family in FAMILIES:
        types.extend(import_module(f"tenantflow.nodes.{family}").NODE_TYPES)
    return types


def default_registry(*, plugins: bool = True) -> NodeRegistry:
    """Built-ins plus, unless disabled, the plugins published under the ``tenantflow.nodes`` group."""
    registry = NodeRegistry()
    for node_type in builtin_node_types():
        registry.register(node_type)
    if plugins:
        registry.load_plugins()
    return registry
