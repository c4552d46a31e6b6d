"""``$('Name').item``: paired items followed back through real executions, as n8n resolves them."""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from tenantflow.engine.executor import execute
from tenantflow.engine.pairing import stamp_inputs
from tenantflow.engine.record import ExecutionRecord
from tenantflow.engine.sdk import Items, NodeContext, NodeRegistry, NodeType
from tenantflow.nodes import default_registry

pytestmark = pytest.mark.anyio

PROXY_FIXTURES = (
    Path(__file__).resolve().parents[3] / "shared" / "n8n-conformance" / "_expressions" / "WorkflowDataProxy"
)


class Probe(NodeType):
    """Evaluates ``expression`` for every input item: one output item per input item, ``{"value": …}``, or
    ``{"error": …}`` when the expression fails."""

    type = "test.probe"

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        out: Items = []
        for index in range(len(inputs[0]) if inputs else 0):
            try:
                out.append({"json": {"value": ctx.param("expression", index)}, "pairedItem": {"item": index}})
            except Exception as exc:  # the probe reports failures instead of failing the node
                out.append({"json": {"error": str(exc)}, "pairedItem": {"item": index}})
        return [out]


class KeepOdd(NodeType):
    """Keeps the items whose ``n`` is odd, as new items paired to their input item (like n8n's Filter)."""

    type = "test.keepOdd"

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        return [
            [
                {"json": dict(item["json"]), "pairedItem": {"item": i}}
                for i, item in enumerate(inputs[0])
                if item["json"]["n"] % 2
            ]
        ]


class Unpaired(NodeType):
    """Emits ``count`` fresh items without any pairing (``count`` 0: one per input item)."""

    type = "test.unpaired"

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        count = int(ctx.raw_param("count", 0)) or len(inputs[0])
        return [[{"json": {"k": k}} for k in range(count)]]


class Places(NodeType):
    """Reports the ``pairedItem`` each input item arrived with."""

    type = "test.places"

    def input_count(self, node: Any) -> int:
        return 2

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        return [[{"json": {"places": [[item.get("pairedItem") for item in items] for items in inputs]}}]]


def _registry() -> NodeRegistry:
    registry = default_registry(plugins=False)
    for node_type in (Probe, KeepOdd, Unpaired, Places):
        registry.register(node_type)
    return registry


def _node(name: str, type_: str, version: float = 1, **parameters: Any) -> dict[str, Any]:
    return {"id": name, "name": name, "type": type_, "typeVersion": version, "parameters": parameters}


def _chain(*nodes: dict[str, Any]) -> dict[str, Any]:
    names = [n["name"] for n in nodes]
    connections = {a: {"main": [[{"node": b, "type": "main", "index": 0}]]} for a, b in pairwise(names)}
    return {"nodes": list(nodes), "connections": connections}


def _values(record: ExecutionRecord, name: str) -> list[Any]:
    return [item["json"].get("value", item["json"].get("error")) for item in record.state[name].output[0]]


NUMBERS = [{"json": {"n": n}} for n in range(5)]


async def test_item_follows_pairing_back_through_a_filter_and_a_node_that_passes_items_on() -> None:
    probe = _node("Probe", "test.probe", expression="={{ [$('Trigger').item.json.n, $('Odd').item.json.n] }}")
    document = _chain(
        _node("Trigger", "n8n-nodes-base.manualTrigger"),
        _node("Odd", "test.keepOdd"),
        _node("Pass", "n8n-nodes-base.noOp"),
        probe,
    )
    record = await execute(document, registry=_registry(), input_items=NUMBERS)
    assert record.status == "success", record.error
    assert _values(record, "Probe") == [[1, 1], [3, 3]]


async def test_items_reach_a_node_knowing_their_place_on_each_input() -> None:
    document = {
        "nodes": [_node("Trigger", "n8n-nodes-base.manualTrigger"), _node("Places", "test.places")],
        "connections": {
            "Trigger": {
                "main": [
                    [
                        {"node": "Places", "type": "main", "index": 0},
                        {"node": "Places", "type": "main", "index": 1},
                    ]
                ]
            }
        },
    }
    record = await execute(document, registry=_registry(), input_items=NUMBERS[:2])
    places = record.state["Places"].output[0][0]["json"]["places"]
    assert places == [[{"item": 0}, {"item": 1}], [{"item": 0, "input": 1}, {"item": 1, "input": 1}]]
    assert NUMBERS[0] == {"json": {"n": 0}}  # the host's items are never written to


async def test_unpaired_items_fall_back_on_n8ns_rules() -> None:
    """One output as long as the only input pairs by position; one input item pairs with everything; else
    the expression fails and says which node left its items unpaired."""
    expression = "={{ $('Trigger').item.json.n }}"

    async def run(items: Items, count: int) -> list[Any]:
        document = _chain(
            _node("Trigger", "n8n-nodes-base.manualTrigger"),
            _node("Fresh", "test.unpaired", count=count),
            _node("Probe", "test.probe", expression=expression),
        )
        record = await execute(document, registry=_registry(), input_items=items)
        return _values(record, "Probe")

    assert await run(NUMBERS[:3], 0) == [0, 1, 2]
    assert await run(NUMBERS[4:], 3) == [4, 4, 4]
    unavailable = await run(NUMBERS[:3], 2)
    assert all("Paired item data for item" in v and "'Fresh'" in v for v in unavailable)


async def test_item_across_a_merge_with_several_inputs() -> None:
    """n8n's own fixture (data-proxy row 156): the Merge's third input is the only one fed."""
    document = json.loads((PROXY_FIXTURES / "multiple_inputs_workflow.json").read_text())
    expected = json.loads((PROXY_FIXTURES / "multiple_inputs_run.json").read_text())
    record = await execute(document, registry=_registry())
    assert record.status == "success", record.error
    want = expected["data"]["resultData"]["runData"]["Output"][0]["data"]["main"][0][0]["json"]
    assert record.state["Output"].output[0][0]["json"] == want == {"final_variable_2": "3456", "main": "2"}


async def test_item_errors_match_n8ns_cases() -> None:
    """n8n's error fixture (data-proxy rows 157-160): missing, impossible and ambiguous pairing."""
    document = json.loads((PROXY_FIXTURES / "errors_workflow.json").read_text())
    document.pop("pinData", None)
    for node in document["nodes"]:
        node["onError"] = "continueRegularOutput"
    record = await execute(document, registry=_registry())
    assert record.status == "success", record.error

    def message(name: str) -> str:
        error = record.state[name].error
        assert error is not None and error["code"] == "INVALID_EXPRESSION", name
        return str(error["message"])

    assert "Paired item data for item 0 of node 'Break pairedItem chain' is unavailable" in message(
        "PairedItemInfoMissing"
    )
    assert "input item 99, which does not exist" in message("IncorrectPairedItem")
    assert "'Aggregate' derives from several different items of node 'Edit Fields'" in message(
        "PairedItemMultipleMatches"
    )
    assert "derives from several different items" in message("PairedItemMultipleMatches2")
    assert "doesn't exist" in message("Reference non-existent node")


async def test_item_inside_a_loop_and_after_it() -> None:
    """Loop Over Items hands out later batches from its first run's input, and its done output from the
    loop body's: both still pair back to the items that entered the loop."""
    body = _node("Body", "test.probe", expression="={{ $('Trigger').item.json.n * 10 }}")
    after = _node("After", "test.probe", expression="={{ [$('Trigger').item.json.n, $json.value] }}")
    document = {
        "nodes": [
            _node("Trigger", "n8n-nodes-base.manualTrigger"),
            _node("Loop", "n8n-nodes-base.splitInBatches", 3, batchSize=2, options={}),
            body,
            after,
        ],
        "connections": {
            "Trigger": {"main": [[{"node": "Loop", "type": "main", "index": 0}]]},
            "Loop": {
                "main": [
                    [{"node": "After", "type": "main", "index": 0}],
                    [{"node": "Body", "type": "main", "index": 0}],
                ]
            },
            "Body": {"main": [[{"node": "Loop", "type": "main", "index": 0}]]},
        },
    }
    record = await execute(document, registry=_registry(), input_items=NUMBERS)
    assert record.status == "success", record.error
    assert _values(record, "After") == [[0, 0], [1, 10], [2, 20], [3, 30], [4, 40]]


async def test_item_after_resuming_from_finished_nodes() -> None:
    """Retrying from a failed node: the finished nodes' outputs come from the first run's record."""
    document = _chain(
        _node("Trigger", "n8n-nodes-base.manualTrigger"),
        _node("Odd", "test.keepOdd"),
        _node("Pass", "n8n-nodes-base.noOp"),
        _node("Probe", "test.probe", expression="={{ $('Trigger').item.json.n }}"),
    )
    first = await execute(document, registry=_registry(), input_items=NUMBERS)
    finished = {name: json.loads(json.dumps(first.state[name].to_dict())) for name in ("Trigger", "Odd")}
    again = await execute(document, registry=_registry(), input_items=NUMBERS, resume=finished)
    assert again.status == "success", again.error
    assert _values(again, "Probe") == _values(first, "Probe") == [1, 3]


async def test_item_across_a_sub_workflow_pairs_with_the_item_passed_in() -> None:
    """The sub-run drops and reorders items: each returned item still pairs with the one passed in that it
    came from, not with whatever its pointer means inside the sub-workflow."""
    sort = {"sortFieldsUi": {"sortField": [{"fieldName": "n", "order": "descending"}]}}
    child = _chain(
        _node("Start", "n8n-nodes-base.executeWorkflowTrigger"),
        _node("Odd", "test.keepOdd"),
        _node("Sort", "n8n-nodes-base.sort", **sort),
    )
    call = _node("Call", "n8n-nodes-base.executeWorkflow", source="parameter", workflowJson=child)
    probe = _node("Probe", "test.probe", expression="={{ [$json.n, $('Trigger').item.json.n] }}")
    document = _chain(_node("Trigger", "n8n-nodes-base.manualTrigger"), call, probe)
    record = await execute(document, registry=_registry(), input_items=NUMBERS[:4])
    assert record.status == "success", record.error
    assert _values(record, "Probe") == [[3, 3], [1, 1]]


async def test_code_node_item_and_item_matching_follow_paired_items() -> None:
    """The Code node's sandbox sees the engine's resolution: per item in each-item mode, by index with
    ``itemMatching`` in all-items mode."""
    each = _node(
        "Each",
        "n8n-nodes-base.code",
        2,
        mode="runOnceForEachItem",
        jsCode="return {json: {n: $json.n, trigger: $('Trigger').item.json.n}};",
    )
    whole = _node(
        "Whole",
        "n8n-nodes-base.code",
        2,
        jsCode="return $input.all().map((_, i) => ({json: {trigger: $('Trigger').itemMatching(i).json.n}}));",
    )
    trigger, odd = _node("Trigger", "n8n-nodes-base.manualTrigger"), _node("Odd", "test.keepOdd")
    record = await execute(_chain(trigger, odd, each, whole), registry=_registry(), input_items=NUMBERS)
    assert record.status == "success", record.error
    assert [item["json"] for item in record.state["Each"].output[0]] == [
        {"n": 1, "trigger": 1},
        {"n": 3, "trigger": 3},
    ]
    assert [item["json"] for item in record.state["Whole"].output[0]] == [{"trigger": 1}, {"trigger": 3}]


def test_stamping_copies_only_items_out_of_place_and_never_writes_to_them() -> None:
    in_place = [[{"json": {"a": 1}, "pairedItem": {"item": 0}}]]
    assert stamp_inputs(in_place) is in_place  # a chain of pass-through nodes costs no copies
    moved = {"json": {"a": 1}, "pairedItem": {"item": 3}}
    second = {"json": {"b": 2}}
    stamped = stamp_inputs([[moved], [second]])
    assert stamped == [
        [{"json": {"a": 1}, "pairedItem": {"item": 0}}],
        [{"json": {"b": 2}, "pairedItem": {"item": 0, "input": 1}}],
    ]
    assert moved["pairedItem"] == {"item": 3} and "pairedItem" not in second
    assert stamped[0][0]["json"] is moved["json"]  # shallow: the data itself is shared, not copied


@pytest.mark.parametrize("argument", ["0/0", "1/0", "true", "1.5", "9"])
async def test_item_matching_refuses_what_is_not_an_input_item_index(argument: str) -> None:
    probe = _node(
        "Probe", "test.probe", expression=f"={{{{ $('Trigger').itemMatching({argument}).json.n }}}}"
    )
    document = _chain(_node("Trigger", "n8n-nodes-base.manualTrigger"), probe)
    record = await execute(document, registry=_registry(), input_items=NUMBERS[:2])
    assert "is not an input item of node 'Probe'" in _values(record, "Probe")[0]
