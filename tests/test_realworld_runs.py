"""Real n8n exports that need no outside service run to success (issue 10: "The real exports in that folder
that start from a manual, webhook or schedule trigger and need no outside service run to success").

Selected from ``../shared/n8n-realworld/workflows``: the exports that validate, start from a manual, webhook
or schedule trigger, and whose every node is one of n8n's core nodes that reach nothing outside the machine
(:data:`LOCAL_NODES`; no ``credentials`` block anywhere). Each runs as ``tenantflow run`` runs it: a manual or
schedule trigger with no input, a webhook with the request item a host hands it (n8n's ``{headers, params,
query, body}`` and the body's bytes as ``rawBody``) for an empty JSON body, or for the representative request
in :data:`REQUESTS` when the workflow reads what the caller sends.

``realworld_runs_expected.txt`` lists, one ``name.json: reason`` a line, the selected exports that do not
run to success, each for a reason that holds in n8n too, or marked ``gap:`` with the module that has to
close it. Any other failure fails this test, and so does a listed export that succeeds now (take it off).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from tenantflow.engine.executor import Execution, RunLimits
from tenantflow.engine.sdk import Item
from tenantflow.engine.validation import validate
from tenantflow.nodes import default_registry
from tenantflow.regressions import realworld_report

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "n8n-realworld" / "workflows"
EXPECTED = ROOT / "tests" / "realworld_runs_expected.txt"
REGISTRY = default_registry(plugins=False)
BASE = "n8n-nodes-base."

TRIGGERS = frozenset({"manualTrigger", "start", "webhook", "scheduleTrigger", "cron", "interval"})
# n8n's core, flow and data nodes that work on items alone. Left out: HTTP Request and every integration,
# Execute Workflow (it calls a stored workflow the export does not hold), Execute Command and the disk nodes.
LOCAL_NODES = TRIGGERS | {
    "aggregate",
    "code",
    "compareDatasets",
    "compression",
    "convertToFile",
    "crypto",
    "dateTime",
    "editImage",
    "executionData",
    "extractFromFile",
    "filter",
    "function",
    "functionItem",
    "html",
    "htmlExtract",
    "if",
    "itemLists",
    "limit",
    "markdown",
    "merge",
    "moveBinaryData",
    "n8nTrainingCustomerDatastore",
    "noOp",
    "readPDF",
    "removeDuplicates",
    "renameKeys",
    "respondToWebhook",
    "set",
    "sort",
    "splitInBatches",
    "splitOut",
    "spreadsheetFile",
    "stickyNote",
    "stopAndError",
    "summarize",
    "switch",
    "wait",
    "xml",
}

# What the caller of a webhook sends, for the exports that read it (an empty JSON body otherwise).
REQUESTS: dict[str, dict[str, Any]] = {
    # Adobe Sign's agreement event: the client id header is echoed back, the agreement's fields are read.
    "Zie619__n8n-workflows__0194_Respondtowebhook_Webhook_Import_Webhook.json": {
        "headers": {"x-adobesign-clientid": "client-1"},
        "body": {"agreement": {"id": "agreement-1", "participantSetsInfo": [], "status": "SIGNED"}},
    },
    # SeaTable signs its calls; the workflow checks the signature header against the body's HMAC.
    "Zie619__n8n-workflows__1740_Webhook_Respondtowebhook_Automation_Webhook.json": {
        "headers": {"x-seatable-signature": "sha256=0000"},
        "body": {"event": "row_created", "data": {"row_id": "r1"}},
    },
}


def selected(corpus: Path) -> list[Path]:
    """The exports under ``corpus`` this test runs, by file name."""
    accepted = realworld_report(corpus, REGISTRY).accepted
    return [path for path in sorted(corpus.glob("*.json")) if path.name in accepted and _runs_here(path)]


def _runs_here(path: Path) -> bool:
    nodes = json.loads(path.read_text(encoding="utf-8")).get("nodes", [])
    local = all(
        node.get("type", "").startswith(BASE)
        and node["type"].removeprefix(BASE) in LOCAL_NODES
        and "credentials" not in node
        for node in nodes
    )
    return local and any(node["type"].removeprefix(BASE) in TRIGGERS for node in nodes)


def request_item(trigger: dict[str, Any], request: dict[str, Any]) -> Item:
    """The item a host hands the Webhook node for a JSON request: n8n's ``{headers, params, query, body}``
    and the body's bytes as ``rawBody`` (base64), which the node turns into binary data as n8n does."""
    body = request.get("body", {})
    raw = json.dumps(body).encode()
    headers = {"host": "localhost:5678", "content-type": "application/json", "content-length": str(len(raw))}
    item: Item = {
        "json": {
            "headers": {**headers, **request.get("headers", {})},
            "params": {},
            "query": request.get("query", {}),
            "body": body,
            "rawBody": base64.b64encode(raw).decode(),
        }
    }
    if float(trigger.get("typeVersion", 1)) >= 2:
        item["json"]["webhookUrl"] = f"http://localhost:5678/webhook/{trigger['parameters'].get('path', '')}"
        item["json"]["executionMode"] = "production"
    return item


async def run_export(path: Path) -> dict[str, Any] | None:
    """Run one export as ``tenantflow run`` does; the execution's error, or None when it succeeded."""
    document = json.loads(path.read_text(encoding="utf-8"))
    report = validate(document, REGISTRY)
    assert report.definition is not None, path.name
    trigger = _first_trigger(document)
    webhook = trigger["type"] == BASE + "webhook"
    execution = Execution(
        report.definition,
        registry=REGISTRY,
        input_items=[request_item(trigger, REQUESTS.get(path.name, {}))] if webhook else None,
        limits=RunLimits(execution_timeout_s=10),
    )
    record = await execution.run()
    return None if record.status == "success" else {"status": record.status, **(record.error or {})}


def _first_trigger(document: dict[str, Any]) -> dict[str, Any]:
    return next(
        node
        for node in document["nodes"]
        if not node.get("disabled") and node.get("type", "").removeprefix(BASE) in TRIGGERS
    )


def _expected() -> dict[str, str]:
    listed: dict[str, str] = {}
    for line in EXPECTED.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, reason = line.partition(".json: ")
            listed[name + ".json"] = reason
    return listed


def test_local_real_exports_run_to_success() -> None:
    assert CORPUS.is_dir(), f"the real-export corpus is missing at {CORPUS}"
    paths = selected(CORPUS)

    async def run_all() -> dict[str, dict[str, Any] | None]:
        return {path.name: await run_export(path) for path in paths}

    results = asyncio.run(run_all())
    listed = _expected()
    succeeded = sorted(name for name, error in results.items() if error is None)
    print(f"\nreal exports with local nodes only: {len(results)} selected, {len(succeeded)} succeeded")
    for name, error in results.items():
        if error is not None:
            print(f"  {name}: {error.get('code')} at {error.get('node')}: {error.get('message')}")
    assert listed.keys() <= results.keys(), (
        f"listed but not selected: {sorted(listed.keys() - results.keys())}"
    )
    unexpected = [f"{n}: {e}" for n, e in results.items() if e is not None and n not in listed]
    assert not unexpected, "these fail:\n" + "\n".join(unexpected)
    now_pass = sorted(listed.keys() & set(succeeded))
    assert not now_pass, "these succeed now; take them off realworld_runs_expected.txt:\n" + "\n".join(
        now_pass
    )


def _export(folder: Path, name: str, *nodes: dict[str, Any]) -> None:
    named = [
        {"name": f"n{i}", "typeVersion": 1, "position": [0, 0], "parameters": {}, **n}
        for i, n in enumerate(nodes)
    ]
    chain = {a["name"]: {"main": [[{"node": b["name"], "index": 0}]]} for a, b in itertools.pairwise(named)}
    (folder / name).write_text(json.dumps({"nodes": named, "connections": chain}))


def test_only_exports_with_a_trigger_and_local_nodes_are_selected(tmp_path: Path) -> None:
    manual, noop = {"type": BASE + "manualTrigger"}, {"type": BASE + "noOp"}
    _export(tmp_path, "local.json", manual, noop)
    _export(tmp_path, "webhook.json", {"type": BASE + "webhook", "parameters": {"path": "p"}}, noop)
    _export(tmp_path, "http.json", manual, {"type": BASE + "httpRequest", "parameters": {"url": "https://x"}})
    _export(tmp_path, "credentials.json", manual, {**noop, "credentials": {"x": {"id": "1", "name": "x"}}})
    _export(tmp_path, "no-trigger.json", noop)
    _export(tmp_path, "integration.json", manual, {"type": BASE + "slack"})
    _export(tmp_path, "invalid.json", manual, {"type": BASE + "set", "parameters": {"values": 3}})
    assert [path.name for path in selected(tmp_path)] == ["local.json", "webhook.json"]


@pytest.mark.anyio
async def test_the_webhook_node_makes_the_raw_body_a_file_as_n8n_does() -> None:
    trigger = {
        "type": BASE + "webhook",
        "typeVersion": 2,
        "parameters": {"path": "p", "options": {"rawBody": True}},
    }
    request = request_item(trigger, {"headers": {"x-sig": "s"}, "body": {"a": 1}})
    assert request["json"]["webhookUrl"] == "http://localhost:5678/webhook/p"
    document = {"nodes": [{"name": "Hook", "position": [0, 0], **trigger}], "connections": {}}
    report = validate(document, REGISTRY)
    assert report.definition is not None
    record = await Execution(report.definition, registry=REGISTRY, input_items=[request]).run()
    [[item]] = record.state["Hook"].output
    assert item["json"]["body"] == {"a": 1} and item["json"]["headers"]["x-sig"] == "s"
    assert "rawBody" not in item["json"]
    assert base64.b64decode(item["binary"]["data"]["data"]) == b'{"a": 1}'
