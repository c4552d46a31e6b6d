"""Built-in node types, grouped as ``tenantflow nodes`` lists them: ``n8n`` (core, flow, data, code, HTTP,
triggers) and ``metabuilder`` (operations, executors).

Each family in :data:`FAMILIES` is a module (or a package, whose ``__init__`` holds the nodes and whose other
modules are that family's helpers) exporting ``NODE_TYPES``. They register in this order.
"""

from __future__ import annotations

from importlib import import_module

from tenantflow.engine.sdk import NodeRegistry, NodeType

FAMILIES = (
    "n8n.core",
    "n8n.flow.branching",
    "n8n.data.set",
    "n8n.flow.merge",
    "n8n.flow.loops",
    "n8n.http",
    "n8n.host",
    "n8n.flow.subworkflow",
    "n8n.training",
    "n8n.data.lists",
    "metabuilder.operations",
    "metabuilder.executors",
    "n8n.data.dates",
    "n8n.data.crypto",
    "n8n.data.compare",
    "n8n.triggers",
    "n8n.data.markup",
    "n8n.code",
    "n8n.files",
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
