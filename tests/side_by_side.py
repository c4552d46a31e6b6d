"""Run one hostile workflow and benign ones side by side in this process, and report on both.

Used by tests/test_hardening_side_by_side.py, one fresh process per case so that memory peaks do not mix:
``python -m tests.side_by_side`` reads ``{"document", "input_items", "limits"}`` (the hostile run) as JSON
on stdin and writes a JSON report on stdout: how the hostile run ended and how long it took, how many benign
runs (Set over 100 items, repeated while the hostile one lasts) gave their exact output and the slowest's
time, and the peak memory of this process tree: the largest sum of PSS over this process, the Code sandboxes'
fork servers and every process below them, sampled at one instant (:mod:`tests.process_memory`).

The hostile document is validated first, as the service does before a workflow may run: a document refused
there ends as ``refused`` with the validator's codes, its validation time being all it cost.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Any

from tenantflow.engine.executor import RunLimits, execute
from tenantflow.engine.validation import validate
from tenantflow.nodes import default_registry
from tenantflow.nodes.n8n.code.server import PYTHON_SERVER, SERVER
from tests.process_memory import peak_pss, tree

REGISTRY = default_registry(plugins=False)
BENIGN_ITEMS = 100


def benign_document() -> dict[str, Any]:
    """Manual trigger -> Set with one expression, run over ``BENIGN_ITEMS`` items."""
    assignment = {"id": "a", "name": "double", "type": "number", "value": "={{ $json.n * 2 }}"}
    set_node = {
        "name": "Set",
        "type": "n8n-nodes-base.set",
        "typeVersion": 3.4,
        "parameters": {"assignments": {"assignments": [assignment]}, "options": {}},
    }
    trigger = {"name": "Trigger", "type": "n8n-nodes-base.manualTrigger", "parameters": {}}
    return {
        "nodes": [trigger, set_node],
        "connections": {"Trigger": {"main": [[{"node": "Set", "type": "main", "index": 0}]]}},
    }


async def _hostile(case: dict[str, Any]) -> dict[str, Any]:
    started = time.monotonic()
    report = validate(case["document"], REGISTRY)
    if report.definition is None or not report.valid:  # refused before any node ran
        codes = sorted({issue.code for issue in report.errors})
        message = "; ".join(f"{issue.path}: {issue.message}" for issue in report.errors[:3])
        return {"status": "refused", "code": codes, "message": message, "seconds": _since(started)}
    record = await execute(
        report.definition,
        registry=REGISTRY,
        input_items=case.get("input_items"),
        limits=RunLimits(**case.get("limits", {})),
    )
    error = record.error or {}
    return {
        "status": record.status,
        "code": error.get("code"),
        "message": error.get("message"),
        "seconds": _since(started),
    }


async def _benign_once() -> tuple[bool, float]:
    """One benign run: whether it gave exactly its expected output, and how long it took."""
    started = time.monotonic()
    items = [{"json": {"n": n}} for n in range(BENIGN_ITEMS)]
    record = await execute(benign_document(), registry=REGISTRY, input_items=items)
    output = [item["json"] for item in record.state["Set"].output[0]] if record.status == "success" else None
    return output == [{"double": 2 * n} for n in range(BENIGN_ITEMS)], time.monotonic() - started


async def _benign(hostile: asyncio.Future[dict[str, Any]]) -> dict[str, Any]:
    """Benign runs one after another for as long as the hostile one lasts (at least one)."""
    results = [await _benign_once()]
    while not hostile.done():
        await asyncio.sleep(0.01)
        results.append(await _benign_once())
    return {
        "runs": len(results),
        "correct": sum(ok for ok, _ in results),
        "slowest_s": round(max(seconds for _, seconds in results), 3),
    }


def _since(started: float) -> float:
    return round(time.monotonic() - started, 3)


def _case_tree() -> list[int]:
    """This process and everything below it; the fork servers are named too, so that they count even if
    they were not started from here (they are, on first use: then they are in the tree once)."""
    servers = [pid for pid in (SERVER.pid, PYTHON_SERVER.pid) if pid is not None]
    return tree(os.getpid(), *servers)


async def main(case: dict[str, Any]) -> dict[str, Any]:
    """Both runs in one event loop, the tree's PSS sampled throughout."""
    with peak_pss(_case_tree) as peak:
        hostile_run = asyncio.ensure_future(_hostile(case))
        hostile, benign = await asyncio.gather(hostile_run, _benign(hostile_run))
    return {"hostile": hostile, "benign": benign, "peak_pss": peak.bytes}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(json.load(sys.stdin)))))
