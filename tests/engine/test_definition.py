"""The normaliser: both dialects onto the canonical model, and every bad document a DefinitionError."""

from __future__ import annotations

import gc
import uuid
from typing import Any

import pytest

from tenantflow.engine.definition import (
    SEED_RETRYABLE_ERRORS,
    SEED_RETRYABLE_STATUS_CODES,
    ConnectionTarget,
    DefinitionError,
    WorkflowDefinition,
    canonical_json_schema,
    generated_node_id,
    normalise,
    parse_workflow,
)


def node(name: str, **fields: Any) -> dict[str, Any]:
    return {"id": f"id-{name}", "name": name, "type": "n8n-nodes-base.noOp", **fields}


def doc(*nodes: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"nodes": list(nodes), **extra}


def target(name: str, index: int = 0) -> ConnectionTarget:
    return ConnectionTarget(node=name, type="main", index=index)


def paths(raw: Any) -> list[tuple[str, str]]:
    with pytest.raises(DefinitionError) as caught:
        parse_workflow(raw)
    return [(issue.code, issue.path) for issue in caught.value.issues]


def test_n8n_connections_are_arrays_of_arrays_keyed_by_name() -> None:
    connections = {
        "IF": {"main": [[{"node": "A", "type": "main", "index": 0}], [], [{"node": "B", "index": 1}]]},
        "A": {"error": [["B"]]},  # a bare name is a target on input 0
    }
    definition = parse_workflow(doc(node("IF"), node("A"), node("B"), connections=connections))
    assert definition.dialect == "n8n"
    assert definition.connections == {
        "IF": {"main": [[target("A")], [], [target("B", 1)]]},
        "A": {"error": [[target("B")]]},
    }


def test_metabuilder_node_type_and_index_maps_keyed_by_id() -> None:
    nodes = [
        {"id": "n1", "name": "Start", "type": "trigger", "nodeType": "n8n-nodes-base.manualTrigger"},
        {"id": "n2", "name": "Read", "type": "operation", "nodeType": "dbal-read", "onError": "skipNode"},
        {"id": 3, "type": "operation", "nodeType": "dbal-write"},  # numeric id, no name
    ]
    connections = {"n1": {"main": {"0": [{"node": "n2"}], "2": [{"node": 3, "index": 0}]}}}
    definition = parse_workflow(doc(*nodes, connections=connections))
    assert definition.dialect == "metabuilder"
    start, read, write = definition.nodes
    assert (start.type, start.category) == ("n8n-nodes-base.manualTrigger", "trigger")
    assert read.on_error == "continueRegularOutput"
    assert (write.id, write.name) == ("3", "3")
    assert definition.connections == {"Start": {"main": [[target("Read")], [], [target("3")]]}}


def test_a_node_without_id_gets_one_from_the_workflow_and_its_name() -> None:
    """n8n's import gives such nodes an id; ours is a UUID5, so two parses (or re-imports) agree."""
    raw = doc({"name": "A", "type": "x"}, {"id": "", "name": "B", "type": "x"}, node("C"), name="wf")
    first, second = parse_workflow(raw), parse_workflow(raw)
    assert [n.id for n in first.nodes] == [n.id for n in second.nodes]
    assert [n.id for n in first.nodes] == [generated_node_id("wf", "A"), generated_node_id("wf", "B"), "id-C"]
    assert str(uuid.UUID(first.nodes[0].id)) == first.nodes[0].id
    assert parse_workflow({**raw, "id": "w1"}).nodes[0].id == generated_node_id("w1", "A")  # id beats name
    assert parse_workflow({**raw, "name": "other"}).nodes[0].id != first.nodes[0].id


def test_a_missing_or_malformed_position_defaults_to_the_origin() -> None:
    raw = doc(node("A"), node("B", position=[5]), node("C", position=[1, 2]))
    assert [n.position for n in parse_workflow(raw).nodes] == [(0, 0), (0, 0), (1, 2)]


def test_ai_connections_are_kept_and_scanned_as_links() -> None:
    connections = {"M": {"ai_languageModel": [[{"node": "A", "type": "ai_languageModel", "index": 0}]]}}
    raw = doc(node("A"), node("M"), connections=connections)
    result = normalise(raw, scan=True)
    assert result.definition is not None and not result.source_issues
    assert result.definition.connections == {
        "M": {"ai_languageModel": [[{"node": "A", "type": "ai_languageModel", "index": 0}]]}
    }
    assert [(link.port, link.kind) for link in result.links] == [("ai_languageModel", "ai_languageModel")]


def test_references_resolve_by_name_first_then_by_id() -> None:
    # "B" is node 2's name and node 1's id: the name wins; "id-C" is only an id.
    nodes = [node("A"), {"id": "B", "name": "Other", "type": "x"}, node("B"), node("C")]
    connections = {"A": {"main": [["B", "id-C"]]}, "B": {"main": [["A"]]}, "id-C": {"main": [["Other"]]}}
    definition = parse_workflow(doc(*nodes, connections=connections))
    assert definition.connections == {
        "A": {"main": [[target("B"), target("C")]]},
        "B": {"main": [[target("A")]]},
        "C": {"main": [[target("Other")]]},
    }


def test_one_node_listed_by_name_and_by_id_is_merged() -> None:
    connections = {"A": {"main": [["B"]]}, "id-A": {"main": [["C"], ["B"]]}}
    definition = parse_workflow(doc(node("A"), node("B"), node("C"), connections=connections))
    assert definition.connections == {"A": {"main": [[target("B"), target("C")], [target("B")]]}}


def test_n8n_retry_on_fail() -> None:
    retry = parse_workflow(doc(node("A", retryOnFail=True, maxTries=5, waitBetweenTries=250))).nodes[0].retry
    assert retry is not None
    assert (retry.max_attempts, retry.backoff, retry.initial_delay_ms) == (5, "fixed", 250)
    fallback = parse_workflow(doc(node("A", retryOnFail=True, maxTries=0, waitBetweenTries=-1))).nodes[0]
    assert fallback.retry is not None and (fallback.retry.max_attempts, fallback.retry.initial_delay_ms) == (
        3,
        1000,
    )
    assert parse_workflow(doc(node("A", retryOnFail=False, maxTries=5))).nodes[0].retry is None


def test_metabuilder_retry_policy_gets_the_seed_defaults() -> None:
    policy = {"maxAttempts": 4, "backoffType": "linear", "jitter": True}
    retry = parse_workflow(doc(node("A", retryPolicy=policy))).nodes[0].retry
    assert retry is not None
    assert (retry.max_attempts, retry.backoff, retry.initial_delay_ms, retry.max_delay_ms) == (
        4,
        "linear",
        1000,
        60_000,
    )
    assert retry.jitter == 0.2
    assert retry.retryable_errors == SEED_RETRYABLE_ERRORS
    assert retry.retryable_status_codes == SEED_RETRYABLE_STATUS_CODES
    overridden = parse_workflow(doc(node("A", retryPolicy=policy, maxTries=7))).nodes[0].retry
    assert overridden is not None and overridden.max_attempts == 7
    disabled = parse_workflow(doc(node("A", retryPolicy={"enabled": False})))
    assert disabled.nodes[0].retry is None


def test_workflow_retry_policy() -> None:
    definition = parse_workflow(doc(node("A"), retryPolicy={"maxAttempts": 2, "backoff": "fibonacci"}))
    assert definition.retry is not None and (definition.retry.max_attempts, definition.retry.backoff) == (
        2,
        "fibonacci",
    )


def test_error_recovery_strategy_counts_retries() -> None:
    strategy = {"strategy": "retry", "maxRetries": 2, "retryDelay": 500}
    retry = parse_workflow(doc(node("A", errorRecoveryStrategy=strategy))).nodes[0].retry
    assert retry is not None and (retry.max_attempts, retry.initial_delay_ms) == (3, 500)


def test_continue_on_fail_and_on_error() -> None:
    a, b = parse_workflow(doc(node("A", continueOnFail=True), node("B", onError="continueErrorOutput"))).nodes
    assert (a.continue_on_fail, a.on_error) == (True, "stopWorkflow")
    assert (b.continue_on_fail, b.on_error) == (False, "continueErrorOutput")


def test_settings_units_and_n8n_spellings() -> None:
    settings = {"executionTimeout": 90, "maxConcurrentNodes": 4, "executionOrder": "v1"}
    parsed = parse_workflow(doc(node("A"), settings=settings, executionLimits={"maxNodes": 50}))
    assert (parsed.settings.execution_timeout_s, parsed.settings.max_concurrency) == (90, 4)
    assert parsed.settings.execution_order == "v1"
    assert parsed.limits.max_nodes == 50
    no_timeout = parse_workflow(doc(node("A"), settings={"executionTimeout": -1, "executionOrder": "v9"}))
    assert (no_timeout.settings.execution_timeout_s, no_timeout.settings.execution_order) == (None, "v0")


def test_node_timeout_is_milliseconds_and_type_version_a_float() -> None:
    parsed = parse_workflow(doc(node("A", timeout=1500, typeVersion=2, position=[1, 2]))).nodes[0]
    assert (parsed.timeout_ms, parsed.type_version, parsed.position) == (1500, 2.0, (1.0, 2.0))


def test_the_parsed_definition_is_what_pydantic_builds_from_it() -> None:
    """The walk builds the connections without pydantic: the definition must compare, dump and copy exactly
    like one pydantic validated whole."""
    connections = {"A": {"main": [["B"], [{"node": "id-C", "type": "main", "index": 1}]]}}
    definition = parse_workflow(doc(node("A"), node("B"), node("C"), connections=connections))
    again = WorkflowDefinition.model_validate(definition.model_dump(by_alias=True))
    assert again == definition and again.model_dump() == definition.model_dump()
    built = definition.connections["A"]["main"][1][0]
    assert built == target("C", 1) == {"node": "C", "type": "main", "index": 1}
    assert "connections" in definition.model_fields_set
    copied = definition.model_copy(update={"name": "copy"})
    assert copied.name == "copy" and copied.connections == definition.connections


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ([], [("INVALID_WORKFLOW_FORMAT", "$")]),
        (doc(), [("INVALID_NODES", "nodes")]),
        (doc(node("A"), 5), [("INVALID_NODES", "nodes[1]")]),
        # unhashable names and targets (were TypeError)
        (doc(node("A"), {"id": "b", "name": ["B"], "type": "x"}), [("INVALID_NODES", "nodes[1].name")]),
        (
            doc(node("A"), connections={"A": {"main": [[{"node": ["A"]}]]}}),
            [("INVALID_EDGES", "connections['A'].main[0][0].node")],
        ),
        (
            doc(node("A"), connections={"A": {"main": [[{"node": {"a": 1}}, {"node": True}]]}}),
            [
                ("INVALID_EDGES", "connections['A'].main[0][0].node"),
                ("INVALID_EDGES", "connections['A'].main[0][1].node"),
            ],
        ),
        # "²" passes str.isdigit() but is no output index (was ValueError)
        (
            doc(node("A"), connections={"A": {"main": {"²": ["A"], "0": ["A"]}}}),
            [("INVALID_OUTPUT_INDEX", "connections['A'].main['²']")],
        ),
        (
            doc(node("A"), connections={"A": {"main": [[{"node": "A", "index": -1}]]}}),
            [("INVALID_INPUT_INDEX", "connections['A'].main[0][0].index")],
        ),
        (doc(node("A", typeVersion="two")), [("INVALID_NODES", "nodes[0].typeVersion")]),
        (doc(node("A"), connections=[]), [("INVALID_EDGES", "connections")]),
    ],
)
def test_bad_documents_raise_definition_error_with_paths(raw: Any, expected: list[tuple[str, str]]) -> None:
    assert paths(raw) == expected


@pytest.mark.parametrize("value", ["x", "3", [1], None, -1, 2.5, True, float("inf")])
@pytest.mark.parametrize("key", ["maxRetries", "retryDelay"])
def test_error_recovery_numbers_must_be_counts(key: str, value: Any) -> None:
    # int("x"), int([1]), int(None) used to escape as ValueError/TypeError
    strategy = {"strategy": "retry", key: value}
    assert paths(doc(node("A"), node("B", errorRecoveryStrategy=strategy))) == [
        ("INVALID_NODES", f"nodes[1].errorRecoveryStrategy.{key}")
    ]


def test_a_whole_float_count_is_accepted() -> None:
    strategy = {"strategy": "retry", "maxRetries": 2.0, "retryDelay": 10}
    retry = parse_workflow(doc(node("A", errorRecoveryStrategy=strategy))).nodes[0].retry
    assert retry is not None and retry.max_attempts == 3


def test_the_garbage_collector_is_restored_even_after_an_error() -> None:
    assert gc.isenabled()
    parse_workflow(doc(node("A")))
    with pytest.raises(DefinitionError):
        parse_workflow(doc())
    assert gc.isenabled()
    gc.disable()
    try:
        parse_workflow(doc(node("A")))
        assert not gc.isenabled()  # a collector someone else paused stays paused
    finally:
        gc.enable()


def test_huge_output_index_is_refused_without_allocating() -> None:
    document = {
        "nodes": [{"id": "a", "name": "A", "type": "x"}, {"id": "b", "name": "B", "type": "x"}],
        "connections": {"A": {"main": {"99999999999": [{"node": "B", "type": "main", "index": 0}]}}},
    }
    with pytest.raises(DefinitionError) as info:
        parse_workflow(document)
    assert [issue.code for issue in info.value.issues] == ["INVALID_OUTPUT_INDEX"]


def test_the_validators_scan_shares_the_normalisers_walk() -> None:
    """``normalise(scan=True)`` builds the same definition as ``parse_workflow`` and, in the same pass, one
    link per target as written; an unknown connection type is kept by the one and reported by the other."""
    connections = {
        "A": {"main": [["B"], [{"node": "id-C", "type": "main", "index": 1}]], "custom": [[{"node": "C"}]]},
        "id-B": {"main": {"0": [{"node": "C"}]}},
    }
    raw = doc(node("A", position=[1, 2]), node("B", retryOnFail=True), node("C"), connections=connections)
    result = normalise(raw, scan=True)
    assert result.definition == parse_workflow(raw) and not result.issues
    assert result.definition.connections["A"]["custom"] == [[target("C")]]
    assert [(link.source, link.output_key, link.slot, link.target, link.bare) for link in result.links] == [
        ("A", 0, 0, "B", True),
        ("A", 1, 0, "id-C", False),
        ("id-B", "0", 0, "C", False),
    ]
    assert [(issue.path, issue.code) for issue in result.source_issues] == [
        ("connections['A'].custom", "INVALID_EDGES")
    ]


def test_an_index_map_is_linked_as_written_and_normalised_last_key_wins() -> None:
    """Two keys naming one output ("0", "00"): the scan links both, at their own keys; the normaliser keeps
    the last. Outputs missing from the map become empty ones."""
    connections = {
        "A": {"main": {"0": [{"node": "B"}], "00": [{"node": "C"}], "2": [{"node": "B", "index": 1}]}}
    }
    result = normalise(doc(node("A"), node("B"), node("C"), connections=connections), scan=True)
    assert result.definition is not None
    assert result.definition.connections["A"]["main"] == [[target("C")], [], [target("B", 1)]]
    assert [(link.output, link.output_key, link.target, link.input) for link in result.links] == [
        (0, "0", "B", 0),
        (0, "00", "C", 0),
        (2, "2", "B", 1),
    ]


def test_canonical_targets_are_described_in_the_schema() -> None:
    """Targets are plain dicts in n8n's own shape; the published schema says what each field holds."""
    target_schema = canonical_json_schema()["$defs"]["ConnectionTarget"]
    assert target_schema["required"] == ["node", "type", "index"]
    assert target_schema["properties"]["index"]["minimum"] == 0


def test_the_scan_goes_on_past_a_node_the_normaliser_rejects() -> None:
    raw = doc(node("A"), 5, {"id": "c", "name": " ", "type": "x"}, connections={"A": {"main": [[7.5]]}})
    result = normalise(raw, scan=True)
    assert result.definition is None and [issue.path for issue in result.source_issues] == [
        "nodes[1]",
        "nodes[2].name",
        "connections['A'].main[0][0]",
    ]
    assert paths(raw) == [("INVALID_NODES", "nodes[1]")]
