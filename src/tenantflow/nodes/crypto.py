"""Node family `crypto` (being built)."""

from __future__ import annotations

from tenantflow.engine.sdk import NodeType

NODE_TYPES: list[type[NodeType]] = []
