"""Replays n8n's own node-test workflows the way n8n's harness does, and says which ones we match.

Harness rules (n8n ``NodeTestHarness``): ``pinData`` is the *expected* output of each named node and is
removed before running; the run must end in success; every checked node must have run exactly once; its
first output, with ``pairedItem`` and ``binary`` stripped, must deep-equal the pinned items (list order
matters, key order does not, ``1`` and ``"1"`` differ, and so do ``true`` and ``1``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from tenantflow.engine.definition import DefinitionError, WorkflowDefinition, parse_workflow
from tenantflow.engine.executor import execute
from tenantflow.engine.sdk import NodeRegistry

Outcome = Literal["pass", "fail", "unsupported"]
NEVER_EXECUTED = {"n8n-nodes-base.stickyNote"}
# n8n's instance default (GENERIC_TIMEZONE) applies to workflows that set none; the fixtures assume it.
N8N_DEFAULT_TIMEZONE = "America/New_York"


@dataclass(frozen=True)
class FixtureResult:
    path: str
    status: Outcome
    reason: str = ""
    checked: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def fixture_files(root: Path) -> Iterator[Path]:
    """Every workflow fixture under ``root`` (``_expressions`` holds expression contexts, not tests)."""
    for path in sorted(root.rglob("*.json")):
        if "_expressions" not in path.relative_to(root).parts:
            yield path


async def run_fixture(path: Path, registry: NodeRegistry, root: Path | None = None) -> FixtureResult:
    name = str(path.relative_to(root)) if root is not None else str(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        return FixtureResult(name, "fail", f"unreadable: {exc}")
    expected = document.pop("pinData", None)
    if not isinstance(expected, dict) or "nodes" not in document:
        return FixtureResult(name, "unsupported", "not a harness workflow (no pinData)")
    missing = missing_node_types(document, registry)
    if missing:
        return FixtureResult(name, "unsupported", "node types not implemented: " + ", ".join(missing))
    try:
        definition = as_n8n_instance_would(document)
    except DefinitionError as exc:
        return FixtureResult(name, "fail", f"definition rejected: {exc}")
    record = await execute(definition, registry=registry)
    if record.status != "success":
        error = record.error or {}
        return FixtureResult(
            name, "fail", f"run ended {record.status}: {error.get('node')}: {error.get('message')}"
        )
    for node, pinned in expected.items():
        state = record.state.get(node)
        if state is None:
            return FixtureResult(name, "fail", f"Data for node {node} is missing")
        if state.runs != 1:
            return FixtureResult(name, "fail", f"node {node} ran {state.runs} times, expected once")
        actual = _comparable(state.output[0] if state.output else [])
        wanted = _comparable(pinned)
        if not same(actual, wanted):
            return FixtureResult(name, "fail", f"node {node}: expected {short(wanted)}, got {short(actual)}")
    return FixtureResult(name, "pass", checked=len(expected))


def missing_node_types(document: dict[str, Any], registry: NodeRegistry) -> list[str]:
    """Node types the workflow uses that ``registry`` lacks (sticky notes never run, so they do not count)."""
    return sorted(
        {n.get("type", "?") for n in document["nodes"] if registry.get(n.get("type", "")) is None}
        - NEVER_EXECUTED
    )


def as_n8n_instance_would(document: dict[str, Any]) -> WorkflowDefinition:
    """Parse ``document`` with n8n's instance default time zone filled in, as n8n runs a workflow that sets
    none (raises :class:`DefinitionError`)."""
    settings = document.get("settings")
    settings = settings if isinstance(settings, dict) else {}
    return parse_workflow({**document, "settings": {"timezone": N8N_DEFAULT_TIMEZONE, **settings}})


def _comparable(items: list[Any]) -> list[Any]:
    return [{k: v for k, v in item.items() if k not in ("pairedItem", "binary")} for item in items]


def same(a: Any, b: Any) -> bool:
    """JavaScript ``toEqual``: bools are not numbers, ints equal floats of the same value."""
    return first_difference(b, a) is None


def first_difference(expected: Any, actual: Any, path: str = "$") -> str | None:
    """Where ``actual`` first departs from ``expected`` under :func:`same`'s rules, as a JSON path and what
    differs there; ``None`` when they are equal. Dict keys are visited in ``expected``'s order."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        equal = type(expected) is type(actual) and expected == actual
    elif isinstance(expected, int | float) and isinstance(actual, int | float):
        equal = expected == actual
    elif isinstance(expected, dict) and isinstance(actual, dict):
        for key, value in expected.items():
            if key not in actual:
                return f"{path_step(path, key)}: missing (expected {short(value)})"
            found = first_difference(value, actual[key], path_step(path, key))
            if found is not None:
                return found
        extra = [key for key in actual if key not in expected]
        return f"{path_step(path, extra[0])}: unexpected (got {short(actual[extra[0]])})" if extra else None
    elif isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return f"{path}: expected {len(expected)} entries, got {len(actual)}"
        for index, (want, got) in enumerate(zip(expected, actual, strict=True)):
            found = first_difference(want, got, f"{path}[{index}]")
            if found is not None:
                return found
        return None
    else:
        equal = type(expected) is type(actual) and expected == actual
    return None if equal else f"{path}: expected {short(expected)}, got {short(actual)}"


def path_step(path: str, key: Any) -> str:
    """``path.key``, or ``path["key"]`` when the key is not a plain identifier."""
    text = str(key)
    return f"{path}.{text}" if text.isidentifier() else f"{path}[{json.dumps(text)}]"


def short(value: Any, limit: int = 300) -> str:
    """``value`` as JSON, cut at ``limit`` characters for a one-line report."""
    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[:limit] + "…"
