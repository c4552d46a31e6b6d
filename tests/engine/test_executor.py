"""The executor's rules, one test per rule: scheduling, fan-in, pruning, errors, retries, time, record."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tenantflow.engine.definition import RetryPolicy
from tenantflow.engine.executor import Execution, ExecutionEvent, RunLimits, execute
from tenantflow.engine.retry import retry_delay
from tenantflow.engine.sdk import NodeRegistry

from .conftest import Concurrency, Echo, chain, wf

pytestmark = pytest.mark.anyio

E = "test.echo"


def edge(node: str, index: int = 0) -> dict[str, Any]:
    return {"node": node, "type": "main", "index": index}


async def test_linear_chain_passes_items_and_fills_the_record(registry: NodeRegistry) -> None:
    doc = wf(
        [{"name": "A", "type": "test.trigger"}, {"name": "B", "type": E, "parameters": {"tag": "b"}}],
        chain("A", "B"),
    )
    record = await execute(doc, registry=registry, input_items=[{"json": {"n": 1}}, {"json": {"n": 2}}])
    assert record.status == "success"
    assert record.state["B"].output == [
        [{"json": {"n": 1, "path": ["b"]}}, {"json": {"n": 2, "path": ["b"]}}]
    ]
    data = record.to_dict()
    assert set(data) == {
        "id",
        "workflowId",
        "status",
        "startTime",
        "endTime",
        "duration",
        "state",
        "metrics",
        "logs",
        "error",
    }
    assert data["metrics"]["nodesExecuted"] == 2 and data["metrics"]["successNodes"] == 2
    assert data["metrics"]["dataProcessed"] > 0 and data["metrics"]["peakMemory"] > 0
    assert set(data["state"]["B"]) == {
        "status",
        "runs",
        "output",
        "error",
        "attempts",
        "startTime",
        "endTime",
        "duration",
    }


async def test_fan_in_runs_once_with_items_in_connection_order(registry: NodeRegistry) -> None:
    doc = wf(
        [
            {"name": "T", "type": "test.trigger"},
            {"name": "L", "type": E, "parameters": {"tag": "l", "delay": 0.03}},
            {"name": "R", "type": E, "parameters": {"tag": "r"}},
            {"name": "J", "type": E},
        ],
        {"T": {"main": [[edge("L"), edge("R")]]}, "R": {"main": [[edge("J")]]}, "L": {"main": [[edge("J")]]}},
    )
    record = await execute(doc, registry=registry)
    assert Echo.calls.count("J") == 1
    # R's connection is listed first in the document, so its items come first even though L finished last.
    assert [i["json"]["path"] for i in record.state["J"].output[0]] == [["r"], ["l"]]


async def test_empty_output_prunes_and_unreached_nodes_have_no_state(registry: NodeRegistry) -> None:
    doc = wf(
        [
            {"name": "T", "type": "test.trigger"},
            {"name": "IF", "type": "test.branch", "parameters": {"route": 1}},
            {"name": "Yes", "type": E},
            {"name": "After yes", "type": E},
            {"name": "No", "type": E},
        ],
        {
            "T": {"main": [[edge("IF")]]},
            "IF": {"main": [[edge("Yes")], [edge("No")]]},
            **chain("Yes", "After yes"),
        },
    )
    record = await execute(doc, registry=registry)
    assert record.status == "success"
    assert "Yes" not in record.state and "After yes" not in record.state
    assert record.state["No"].output == [[{"json": {}}]]


async def test_fan_in_with_one_pruned_branch_still_runs_once(registry: NodeRegistry) -> None:
    doc = wf(
        [
            {"name": "T", "type": "test.trigger"},
            {"name": "IF", "type": "test.branch", "parameters": {"route": 0}},
            {"name": "J", "type": E},
        ],
        {"T": {"main": [[edge("IF")]]}, "IF": {"main": [[edge("J")], [edge("J")]]}},
        settings={"executionOrder": "v1"},
    )
    record = await execute(doc, registry=registry)
    assert Echo.calls == ["J"]
    assert record.state["J"].output == [[{"json": {}}]]


async def test_independent_nodes_run_concurrently_up_to_max_concurrency(registry: NodeRegistry) -> None:
    names = [f"N{i}" for i in range(10)]
    nodes = [{"name": "T", "type": "test.trigger"}] + [{"name": n, "type": "test.concurrency"} for n in names]
    doc = wf(nodes, {"T": {"main": [[edge(n) for n in names]]}}, settings={"maxConcurrency": 4})
    started = time.perf_counter()
    record = await execute(doc, registry=registry)
    assert record.status == "success"
    assert Concurrency.peak == 4
    assert time.perf_counter() - started < 10 * 0.02  # not sequential


async def test_record_is_the_same_whatever_the_finishing_order(registry: NodeRegistry) -> None:
    async def run(delays: list[float]) -> dict[str, Any]:
        nodes = [{"name": "T", "type": "test.trigger"}, {"name": "J", "type": E}] + [
            {"name": f"N{i}", "type": E, "parameters": {"tag": i, "delay": d}} for i, d in enumerate(delays)
        ]
        conns = {"T": {"main": [[edge(f"N{i}") for i in range(len(delays))]]}}
        conns.update({f"N{i}": {"main": [[edge("J")]]} for i in range(len(delays))})
        record = await execute(wf(nodes, conns), registry=registry)
        return {k: v["output"] for k, v in record.to_dict()["state"].items()}

    assert await run([0.03, 0.0, 0.015]) == await run([0.0, 0.03, 0.01])


def test_retry_delays_follow_the_backoff_curves() -> None:
    def delays(backoff: str) -> list[float]:
        policy = RetryPolicy(backoff=backoff, initialDelay=100, maxDelay=450)  # type: ignore[arg-type]
        return [retry_delay(policy, n) for n in range(1, 6)]

    assert delays("fixed") == [0.1] * 5
    assert delays("exponential") == [0.1, 0.2, 0.4, 0.45, 0.45]
    assert delays("linear") == [0.1, 0.2, 0.3, 0.4, 0.45]
    assert delays("fibonacci") == [0.1, 0.1, 0.2, 0.3, 0.45]  # 1, 1, 2, 3, 5 (capped)


async def test_n8n_retry_on_fail_retries_then_succeeds(registry: NodeRegistry) -> None:
    doc = wf(
        [
            {"name": "T", "type": "test.trigger"},
            {
                "name": "F",
                "type": "test.fail",
                "parameters": {"times": 2},
                "retryOnFail": True,
                "maxTries": 3,
                "waitBetweenTries": 0,
            },
        ],
        chain("T", "F"),
    )
    record = await execute(doc, registry=registry)
    assert record.status == "success"
    assert record.state["F"].attempts == 3
    assert record.metrics.retried_nodes == 1 and record.metrics.total_retries == 2


async def test_metabuilder_retry_policy_retries_only_retryable_errors(registry: NodeRegistry) -> None:
    policy = {"maxAttempts": 4, "backoff": "fixed", "initialDelay": 0}
    doc = {
        "id": "w",
        "name": "mb",
        "version": "3.0.0",
        "nodes": [
            {
                "id": "t",
                "name": "T",
                "type": "trigger",
                "nodeType": "test.trigger",
                "typeVersion": 1,
                "position": [0, 0],
            },
            {
                "id": "a",
                "name": "A",
                "type": "action",
                "nodeType": "test.fail",
                "typeVersion": 1,
                "position": [0, 0],
                "parameters": {"times": 1, "code": "TEMPORARY_FAILURE"},
                "retryPolicy": policy,
            },
            {
                "id": "b",
                "name": "B",
                "type": "action",
                "nodeType": "test.fail",
                "typeVersion": 1,
                "position": [0, 0],
                "parameters": {"times": 1, "status": 503},
                "retryPolicy": policy,
            },
            {
                "id": "c",
                "name": "C",
                "type": "action",
                "nodeType": "test.fail",
                "typeVersion": 1,
                "position": [0, 0],
                "parameters": {"times": 1, "code": "BAD_INPUT"},
                "retryPolicy": policy,
                "onError": "continueRegularOutput",
            },
        ],
        "connections": {
            "t": {"main": {"0": [{"node": "a", "type": "main", "index": 0}]}},
            "a": {"main": {"0": [{"node": "b", "type": "main", "index": 0}]}},
            "b": {"main": {"0": [{"node": "c", "type": "main", "index": 0}]}},
        },
    }
    record = await execute(doc, registry=registry)
    assert record.state["A"].attempts == 2 and record.state["A"].status == "success"
    assert record.state["B"].attempts == 2 and record.state["B"].status == "success"
    assert record.state["C"].attempts == 1 and record.state["C"].status == "error"


async def test_stop_workflow_cancels_running_nodes(registry: NodeRegistry) -> None:
    doc = wf(
        [
            {"name": "T", "type": "test.trigger"},
            {"name": "Slow", "type": E, "parameters": {"delay": 5}},
            {"name": "F", "type": "test.fail", "parameters": {"message": "bad thing"}},
            {"name": "After", "type": E},
        ],
        {"T": {"main": [[edge("Slow"), edge("F")]]}, **chain("Slow", "After")},
    )
    started = time.perf_counter()
    record = await execute(doc, registry=registry)
    assert time.perf_counter() - started < 1
    assert record.status == "error"
    assert record.error == {"message": "bad thing", "code": "NODE_EXECUTION_FAILED", "node": "F"}
    assert "After" not in record.state


async def test_continue_on_fail_passes_the_input_through_like_n8n(registry: NodeRegistry) -> None:
    doc = wf(
        [
            {"name": "T", "type": "test.trigger"},
            {"name": "F", "type": "test.fail", "continueOnFail": True},
            {"name": "Next", "type": E},
        ],
        chain("T", "F", "Next"),
    )
    record = await execute(doc, registry=registry, input_items=[{"json": {"a": 1}}])
    assert record.status == "success"
    assert record.state["F"].status == "error" and record.state["F"].error is not None
    assert record.state["Next"].output == [[{"json": {"a": 1}}]]


async def test_continue_regular_output_carries_the_error(registry: NodeRegistry) -> None:
    doc = wf(
        [
            {"name": "T", "type": "test.trigger"},
            {"name": "F", "type": "test.fail", "onError": "continueRegularOutput"},
            {"name": "Next", "type": E},
        ],
        chain("T", "F", "Next"),
    )
    record = await execute(doc, registry=registry, input_items=[{"json": {"a": 1}}])
    assert record.status == "success"
    assert record.state["Next"].output == [[{"json": {"a": 1, "error": "boom"}}]]
    assert record.metrics.failed_nodes == 1


async def test_continue_error_output_routes_to_the_error_output(registry: NodeRegistry) -> None:
    doc = wf(
        [
            {"name": "T", "type": "test.trigger"},
            {"name": "F", "type": "test.fail", "onError": "continueErrorOutput"},
            {"name": "Ok", "type": E},
            {"name": "Handler", "type": E},
        ],
        {"T": {"main": [[edge("F")]]}, "F": {"main": [[edge("Ok")], [edge("Handler")]]}},
    )
    record = await execute(doc, registry=registry)
    assert "Ok" not in record.state
    assert record.state["Handler"].output == [[{"json": {"error": "boom"}}]]


async def test_metabuilder_error_port_receives_failed_items(registry: NodeRegistry) -> None:
    doc = wf(
        [
            {"name": "T", "type": "test.trigger"},
            {"name": "F", "type": "test.fail", "onError": "continueErrorOutput"},
            {"name": "Ok", "type": E},
            {"name": "Handler", "type": E},
        ],
        {"T": {"main": [[edge("F")]]}, "F": {"main": [[edge("Ok")]], "error": [[edge("Handler")]]}},
    )
    record = await execute(doc, registry=registry)
    assert "Ok" not in record.state
    assert record.state["Handler"].output == [[{"json": {"error": "boom"}}]]


async def test_disabled_node_passes_its_input_through(registry: NodeRegistry) -> None:
    doc = wf(
        [
            {"name": "T", "type": "test.trigger"},
            {"name": "F", "type": "test.fail", "disabled": True},
            {"name": "Next", "type": E, "parameters": {"tag": "n"}},
        ],
        chain("T", "F", "Next"),
    )
    record = await execute(doc, registry=registry, input_items=[{"json": {"x": 1}}])
    assert record.status == "success"
    assert record.state["F"].status == "disabled"
    assert record.state["Next"].output == [[{"json": {"x": 1, "path": ["n"]}}]]


async def test_always_output_data_and_execute_once(registry: NodeRegistry) -> None:
    doc = wf(
        [
            {"name": "T", "type": "test.trigger"},
            {"name": "Empty", "type": "test.branch", "parameters": {"route": 9}, "alwaysOutputData": True},
            {"name": "Once", "type": E, "executeOnce": True},
        ],
        {"T": {"main": [[edge("Empty"), edge("Once")]]}},
    )
    record = await execute(doc, registry=registry, input_items=[{"json": {"i": 1}}, {"json": {"i": 2}}])
    assert record.state["Empty"].output[0] == [{"json": {}}]
    assert record.state["Once"].output == [[{"json": {"i": 1}}]]


async def test_node_timeout_fails_with_timeout_code_and_is_retried(registry: NodeRegistry) -> None:
    doc = wf(
        [
            {"name": "T", "type": "test.trigger"},
            {
                "name": "Slow",
                "type": E,
                "parameters": {"delay": 5},
                "timeout": 50,
                "retryOnFail": True,
                "maxTries": 2,
                "waitBetweenTries": 0,
            },
        ],
        chain("T", "Slow"),
    )
    record = await execute(doc, registry=registry)
    assert record.status == "error"
    assert record.state["Slow"].attempts == 2
    assert record.error is not None and record.error["code"] == "TIMEOUT"


async def test_execution_timeout_ends_with_status_timeout(registry: NodeRegistry) -> None:
    doc = wf(
        [{"name": "T", "type": "test.trigger"}, {"name": "Slow", "type": E, "parameters": {"delay": 5}}],
        chain("T", "Slow"),
        settings={"executionTimeout": 0.1},
    )
    started = time.perf_counter()
    record = await execute(doc, registry=registry)
    assert record.status == "timeout"
    assert record.error is not None and record.error["code"] == "EXECUTION_TIMEOUT"
    assert time.perf_counter() - started < 1


async def test_abort_ends_a_sleeping_execution_within_a_second(registry: NodeRegistry) -> None:
    doc = wf(
        [{"name": "T", "type": "test.trigger"}, {"name": "Slow", "type": E, "parameters": {"delay": 30}}],
        chain("T", "Slow"),
    )
    execution = Execution(doc, registry=registry)
    task = asyncio.create_task(execution.run())
    await asyncio.sleep(0.05)
    started = time.perf_counter()
    execution.abort()
    record = await task
    assert time.perf_counter() - started < 1
    assert record.status == "aborted"
    assert record.error is not None and record.error["code"] == "ABORTED"


async def test_runaway_loop_stops_with_execution_limit(registry: NodeRegistry) -> None:
    items = [{"json": {"i": i}} for i in range(50)]
    doc = wf(
        [
            {"name": "T", "type": "test.trigger"},
            {"name": "Loop", "type": "test.loop"},
            {"name": "Body", "type": E},
        ],
        {
            "T": {"main": [[edge("Loop")]]},
            "Loop": {"main": [[], [edge("Body")]]},
            "Body": {"main": [[edge("Loop")]]},
        },
        executionLimits={"maxNodeExecutions": 20},
    )
    record = await execute(doc, registry=registry, input_items=items)
    assert record.status == "error"
    assert record.error is not None and record.error["code"] == "EXECUTION_LIMIT"


async def test_loop_node_reruns_its_body_and_then_exits(registry: NodeRegistry) -> None:
    doc = wf(
        [
            {"name": "T", "type": "test.trigger"},
            {"name": "Loop", "type": "test.loop"},
            {"name": "Body", "type": E, "parameters": {"tag": "={{ $runIndex }}"}},
            {"name": "Done", "type": E},
        ],
        {
            "T": {"main": [[edge("Loop")]]},
            "Loop": {"main": [[edge("Done")], [edge("Body")]]},
            "Body": {"main": [[edge("Loop")]]},
        },
    )
    record = await execute(doc, registry=registry, input_items=[{"json": {"i": i}} for i in range(3)])
    assert record.status == "success"
    assert record.state["Body"].runs == 3 and record.state["Loop"].runs == 4
    assert record.state["Done"].runs == 1
    assert [i["json"] for i in record.state["Done"].output[0]] == [
        {"i": 0, "path": [0]},
        {"i": 1, "path": [1]},
        {"i": 2, "path": [2]},
    ]


async def test_resume_skips_finished_nodes_and_retries_the_failed_one(registry: NodeRegistry) -> None:
    doc = wf(
        [
            {"name": "T", "type": "test.trigger"},
            {"name": "A", "type": E, "parameters": {"tag": "a"}},
            {"name": "F", "type": "test.fail", "parameters": {"times": "={{ $vars.failures }}"}},
            {"name": "Z", "type": E, "parameters": {"tag": "z"}},
        ],
        chain("T", "A", "F", "Z"),
    )
    first = await execute(doc, registry=registry, variables={"failures": 1})
    assert first.status == "error" and Echo.calls == ["A"]
    finished = {k: v for k, v in first.to_dict()["state"].items() if v["status"] == "success"}
    second = await execute(doc, registry=registry, resume=finished, variables={"failures": 0})
    assert second.status == "success"
    assert Echo.calls == ["A", "Z"]  # A was not run again
    assert second.state["Z"].output == [[{"json": {"path": ["a", "z"]}}]]
    assert second.metrics.nodes_executed == 2


async def test_events_arrive_in_lifecycle_order_with_outputs(registry: NodeRegistry) -> None:
    seen: list[ExecutionEvent] = []

    async def sink(event: ExecutionEvent) -> None:
        seen.append(event)

    doc = wf([{"name": "T", "type": "test.trigger"}, {"name": "A", "type": E}], chain("T", "A"))
    await execute(doc, registry=registry, events=sink)
    assert [(e.type, e.node) for e in seen] == [
        ("execution.started", None),
        ("node.started", "T"),
        ("node.finished", "T"),
        ("node.started", "A"),
        ("node.finished", "A"),
        ("execution.finished", None),
    ]
    assert seen[4].data["output"] == [[{"json": {}}]]


async def test_secret_values_never_reach_the_record_logs_or_events(registry: NodeRegistry) -> None:
    events: list[ExecutionEvent] = []

    async def sink(event: ExecutionEvent) -> None:
        events.append(event)

    doc = wf(
        [
            {"name": "T", "type": "test.trigger"},
            {"name": "Call", "type": "test.api", "parameters": {"token": "={{ $secrets.API_TOKEN }}"}},
        ],
        chain("T", "Call"),
    )
    record = await execute(doc, registry=registry, secrets={"API_TOKEN": "s3cr3t-value"}, events=sink)
    dumped = str(record.to_dict()) + str([e.data for e in events])
    assert "s3cr3t-value" not in dumped
    assert record.state["Call"].output == [[{"json": {"token": "***"}}]]
    assert record.metrics.api_calls_made == 1


async def test_required_variable_missing_fails_with_missing_variable(registry: NodeRegistry) -> None:
    doc = wf(
        [{"name": "T", "type": "test.trigger"}], {}, variables={"limit": {"type": "number", "required": True}}
    )
    record = await execute(doc, registry=registry)
    assert record.status == "error"
    assert record.error is not None and record.error["code"] == "MISSING_VARIABLE"
    ok = await execute(doc, registry=registry, variables={"limit": 5})
    assert ok.status == "success"


async def test_expression_error_fails_the_node_with_invalid_expression(registry: NodeRegistry) -> None:
    doc = wf(
        [
            {"name": "T", "type": "test.trigger"},
            {"name": "A", "type": E, "parameters": {"tag": "={{ JSON.parse('{not json') }}"}},
        ],
        chain("T", "A"),
    )
    record = await execute(doc, registry=registry)
    assert record.status == "error"
    assert record.error is not None and record.error["code"] == "INVALID_EXPRESSION"


async def test_variables_and_context_reach_expressions(registry: NodeRegistry) -> None:
    doc = wf(
        [
            {"name": "T", "type": "test.trigger"},
            {"name": "A", "type": E, "parameters": {"tag": "={{ $vars.greeting + ' ' + $context.user }}"}},
        ],
        chain("T", "A"),
    )
    record = await execute(doc, registry=registry, variables={"greeting": "hi"}, context={"user": "ann"})
    assert record.state["A"].output == [[{"json": {"path": ["hi ann"]}}]]


async def test_subworkflow_runs_inline_definitions(registry: NodeRegistry) -> None:
    child = wf(
        [{"name": "S", "type": "test.trigger"}, {"name": "C", "type": E, "parameters": {"tag": "child"}}],
        chain("S", "C"),
    )
    execution = Execution(wf([{"name": "T", "type": "test.trigger"}], {}), registry=registry)
    outputs = await execution.run_subworkflow(child, [{"json": {"x": 1}}])
    # paired with the item passed in, which came out of the sub-run's start node as its item 0
    assert outputs == [[{"json": {"x": 1, "path": ["child"]}, "pairedItem": {"item": 0}}]]


async def test_run_limits_override_workflow_concurrency(registry: NodeRegistry) -> None:
    names = [f"N{i}" for i in range(6)]
    nodes = [{"name": "T", "type": "test.trigger"}] + [{"name": n, "type": "test.concurrency"} for n in names]
    doc = wf(nodes, {"T": {"main": [[edge(n) for n in names]]}})
    await execute(doc, registry=registry, limits=RunLimits(max_concurrency=2))
    assert Concurrency.peak == 2


@pytest.mark.parametrize("order", ["v0", "v1"])
async def test_execution_order_decides_whether_starved_parents_are_forced(
    registry: NodeRegistry, order: str
) -> None:
    doc = wf(
        [
            {"name": "T", "type": "test.trigger"},
            {"name": "IF", "type": "test.branch", "parameters": {"route": 1}},
            {"name": "A", "type": E, "parameters": {"tag": "a"}},
            {"name": "B", "type": E, "parameters": {"tag": "b"}},
            {"name": "M", "type": "test.merge"},
        ],
        {
            "T": {"main": [[edge("IF")]]},
            "IF": {"main": [[edge("A")], [edge("B")]]},
            "A": {"main": [[edge("M", 0)]]},
            "B": {"main": [[edge("M", 1)]]},
        },
        settings={"executionOrder": order},
    )
    record = await execute(doc, registry=registry, input_items=[{"json": {"x": 1}}])
    merged = [item["json"] for item in record.state["M"].output[0]]
    if order == "v0":  # n8n legacy: A runs anyway, with one empty item, so both inputs have data
        assert merged == [{"path": ["a"], "input": 0}, {"x": 1, "path": ["b"], "input": 1}]
    else:
        assert "A" not in record.state
        assert merged == [{"x": 1, "path": ["b"], "input": 1}]
