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

from tenantflow.engine.definition import DefinitionError, parse_workflow
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
    missing = sorted(
        {n.get("type", "?") for n in document["nodes"] if registry.get(n.get("type", "")) is None}
        - NEVER_EXECUTED
    )
    if missing:
        return FixtureResult(name, "unsupported", "node types not implemented: " + ", ".join(missing))
    settings = document.get("settings") if isinstance(document.get("settings"), dict) else {}
    document["settings"] = {"timezone": N8N_DEFAULT_TIMEZONE, **settings}
    try:
        definition = parse_workflow(document)
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
            return FixtureResult(
                name, "fail", f"node {node}: expected {_short(wanted)}, got {_short(actual)}"
            )
    return FixtureResult(name, "pass", checked=len(expected))


def _comparable(items: list[Any]) -> list[Any]:
    return [{k: v for k, v in item.items() if k not in ("pairedItem", "binary")} for item in items]


def same(a: Any, b: Any) -> bool:
    """JavaScript ``toEqual``: bools are not numbers, ints equal floats of the same value."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _short(value: Any, limit: int = 300) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[:limit] + "…"
