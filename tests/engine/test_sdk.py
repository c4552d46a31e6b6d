"""The node SDK: registry look-ups, aliases, and plugin discovery through real entry points."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tenantflow.engine.sdk import ENTRY_POINT_GROUP, NodeRegistry
from tenantflow.nodes import default_registry

PLUGIN = """
from tenantflow.engine.sdk import NodeType


class Shout(NodeType):
    type = "acme.shout"
    aliases = ("shout",)
    description = "Upper-cases the text field."

    async def run(self, ctx, inputs):
        return [[{"json": {"text": str(i["json"].get("text", "")).upper()}} for i in inputs[0]]]
"""


@pytest.fixture
def installed_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A real (if tiny) installed distribution on sys.path publishing one node type."""
    (tmp_path / "acme_nodes.py").write_text(PLUGIN)
    dist = tmp_path / "acme_nodes-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-nodes\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\nshout = acme_nodes:Shout\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop("acme_nodes", None)


def test_plugins_are_discovered_through_the_entry_point_group(installed_plugin: None) -> None:
    registry = default_registry()
    found = registry.get("acme.shout")
    assert found is not None and found.description == "Upper-cases the text field."
    assert registry.get("shout") is found
    assert default_registry(plugins=False).get("acme.shout") is None


def test_registry_resolves_aliases_and_lists_types_sorted() -> None:
    registry = default_registry(plugins=False)
    assert registry.get("set") is registry.get("n8n-nodes-base.set")
    names = [t.type for t in registry]
    assert names == sorted(names)
    assert len(registry) == len(names)
    assert NodeRegistry().get("n8n-nodes-base.set") is None


def test_every_builtin_describes_itself_with_schemas_per_version() -> None:
    for node_type in default_registry(plugins=False):
        described = node_type.describe()
        assert described["type"] == node_type.type
        assert set(described["parameters"]) == {str(v) for v in node_type.versions}
