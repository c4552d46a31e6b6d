"""n8n's legacy scripting helpers in the Function, Function Item and Code nodes, mostly with the code of n8n's
own regression workflows (n8n-io/test-workflows 90, 93, 97, 108, 216): ``$node["X"]``, reassigned ``items``
and ``item``, the binary helpers, static data, ``Buffer``, ``$('X').all(branch, run)`` and pairing."""

from __future__ import annotations

from typing import Any

import pytest

from tenantflow.engine.executor import execute
from tests.nodes.harness import NODE, REGISTRY, NodeRun, run_node, run_with_items

FUNCTION = "n8n-nodes-base.function"
FUNCTION_ITEM = "n8n-nodes-base.functionItem"
CODE = "n8n-nodes-base.code"
ROWS = [{"value": 1}, {"value": 2}]


async def _function(code: str, rows: list[Any] = ROWS) -> NodeRun:
    return await run_node(FUNCTION, {"functionCode": code}, rows)


# --- $node["X"] ---------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_legacy_node_reads_first_item_json_and_parameters() -> None:
    # workflow 90's check, on the harness's test-data node
    code = """
      if ($node["Input 0"].json["value"] !== 1) throw new Error("Error reading $node json");
      return [{ json: { data: $node['Input 0'].data.value, rows: $node["Input 0"].parameter["data"].length,
                        run: $node["Input 0"].runIndex, binary: $node["Input 0"].binary } }];
    """
    run = await _function(code)
    assert run.json() == [[{"data": 1, "rows": 2, "run": 0, "binary": {}}]]


@pytest.mark.anyio
async def test_legacy_node_with_a_computed_name() -> None:
    # workflow 97: for (let i=0; i<4; i++) $node[`Crypto${i}`].json['data']
    code = "const names = []; for (let i = 0; i < 1; i++) names.push($node[`Input ${i}`].json.value);"
    run = await _function(code + "return [{ json: { names } }];")
    assert run.json() == [[{"names": [1]}]]


@pytest.mark.anyio
async def test_legacy_node_in_function_item_reads_the_item_at_the_same_index() -> None:
    run = await run_node(
        FUNCTION_ITEM, {"functionCode": 'item.seen = $node["Input 0"].json.value; return item;'}, ROWS
    )
    assert run.json() == [[{"value": 1, "seen": 1}, {"value": 2, "seen": 2}]]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("code", "message"),
    [
        ('return [{ json: $node["Nope"].json }];', "Referenced node doesn't exist"),
        (
            'return [{ json: { run: $node["Node"].runIndex, v: $node["Node"].json } }];',
            "Node 'Node' hasn't been executed",
        ),
    ],
)
async def test_legacy_node_errors_as_n8n_words_them(code: str, message: str) -> None:
    assert (await _function(code)).error["message"] == message


# --- reassignment and pairing -------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_function_may_reassign_items_and_new_items_pair_with_the_single_input() -> None:
    # workflow 108's Function11
    code = "items = [{ json: { title: 'Input1item1' } }, { json: { title: 'Input1item2' } }]\nreturn items;"
    run = await _function(code, [{}])
    assert run.outputs == [
        [
            {"json": {"title": "Input1item1"}, "pairedItem": {"item": 0}},
            {"json": {"title": "Input1item2"}, "pairedItem": {"item": 0}},
        ]
    ]


@pytest.mark.anyio
async def test_function_items_keep_their_pairing_and_index_as_n8n_records_them() -> None:
    run = await _function("return items;")
    assert run.outputs == [
        [
            {"json": {"value": 1}, "pairedItem": {"item": 0}, "index": 0},
            {"json": {"value": 2}, "pairedItem": {"item": 1}, "index": 1},
        ]
    ]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("count", "paired"),
    [(2, [{"item": 0}, {"item": 1}]), (3, [None, None, None])],
)
async def test_new_function_items_pair_by_position_only_when_counts_match(
    count: int, paired: list[Any]
) -> None:
    run = await _function(f"return Array.from({{ length: {count} }}, (_, i) => ({{ json: {{ i }} }}));")
    assert [item.get("pairedItem") for item in run.outputs[0]] == paired


@pytest.mark.anyio
async def test_function_item_may_reassign_item() -> None:
    # workflow 93's FunctionItem
    code = "item = { name: 'test', indexes: [1, 2, 3], subobj: { name: 'subtest' } };\nreturn item;"
    run = await run_node(FUNCTION_ITEM, {"functionCode": code}, [{}])
    assert run.outputs == [
        [
            {
                "json": {"name": "test", "indexes": [1, 2, 3], "subobj": {"name": "subtest"}},
                "pairedItem": {"item": 0},
            }
        ]
    ]


# --- binary helpers and static data (workflow 216) ----------------------------------------------------------


@pytest.mark.anyio
async def test_function_item_binary_helpers() -> None:
    code = """
      item.binaryData = getBinaryData() ?? 'NIL';
      binaryData = {
        data: { data: 'SGVsbG8=', mimeType: 'text', fileExtension: 'text', fileName: 'testfile' },
      };
      setBinaryData(binaryData);
      return item;
    """
    run = await run_node(FUNCTION_ITEM, {"functionCode": code}, [{"n": 1}])
    assert run.outputs == [
        [
            {
                "json": {"n": 1, "binaryData": "NIL"},
                "pairedItem": {"item": 0},
                "binary": {
                    "data": {
                        "data": "SGVsbG8=",
                        "mimeType": "text",
                        "fileExtension": "text",
                        "fileName": "testfile",
                    }
                },
            }
        ]
    ]


@pytest.mark.anyio
async def test_function_item_reads_the_binary_it_was_given() -> None:
    binary = {"file": {"data": "aGk=", "mimeType": "text/plain"}}
    code = "item.names = Object.keys(getBinaryData()); return item;"
    [output] = await run_with_items(FUNCTION_ITEM, {"functionCode": code}, [[{"json": {}, "binary": binary}]])
    assert output == [{"json": {"names": ["file"]}, "pairedItem": {"item": 0}, "binary": binary}]


@pytest.mark.anyio
async def test_workflow_static_data_starts_empty_and_is_shared_within_the_run() -> None:
    code = """
      const GSD = getWorkflowStaticData('global');
      if (!GSD.message) GSD.message = 'Hello, Global Static Data';
      const LSD = getWorkflowStaticData('node');
      LSD.count = (LSD.count || 0) + 1;
      item.globalStaticMessage = GSD.message; item.count = LSD.count;
      return item;
    """
    run = await run_node(FUNCTION_ITEM, {"functionCode": code}, ROWS)
    assert run.json() == [
        [
            {"value": 1, "globalStaticMessage": "Hello, Global Static Data", "count": 1},
            {"value": 2, "globalStaticMessage": "Hello, Global Static Data", "count": 2},
        ]
    ]


# --- Buffer -------------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_code_node_has_nodes_buffer() -> None:
    code = """
      const text = Buffer.from('héllo', 'utf8');
      return [{ json: {
        base64: text.toString('base64'), back: Buffer.from('aMOpbGxv', 'base64').toString('utf8'),
        hex: Buffer.from('6869', 'hex').toString(), bytes: Buffer.byteLength('héllo'), length: text.length,
        joined: Buffer.concat([Buffer.from('a'), Buffer.from('b')]).toString(),
        isBuffer: [Buffer.isBuffer(text), Buffer.isBuffer('x')],
      } }];
    """
    run = await run_node(CODE, {"jsCode": code}, ROWS, version=2)
    assert run.json() == [
        [
            {
                "base64": "aMOpbGxv",
                "back": "héllo",
                "hex": "hi",
                "bytes": 6,
                "length": 6,
                "joined": "ab",
                "isBuffer": [True, False],
            }
        ]
    ]


# --- $('X').all(branch, run) --------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_all_of_a_run_that_never_happened_throws_n8ns_error() -> None:
    code = "$('Input 0').all(0, 0); return $('Input 0').all(0, 1);"
    error = (await run_node(CODE, {"jsCode": code}, ROWS, version=2)).error
    assert error["message"] == 'Run 1 of node "Input 0" not found'


def _merge_loop_workflow(merge_code: str) -> dict[str, Any]:
    """n8n's documented pattern: Loop Over Items hands out one row per run to Each, and once done a Code
    node gathers every run of Each with ``$('Each').all(0, i)`` until the run that never happened."""

    def node(name: str, node_type: str, parameters: dict[str, Any], version: float = 1) -> dict[str, Any]:
        return {"id": name, "name": name, "type": node_type, "typeVersion": version, "parameters": parameters}

    return {
        "nodes": [
            node("Trigger", "n8n-nodes-base.manualTrigger", {}),
            node("Rows", "n8n-nodes-testing.testData", {"data": [{"n": 1}, {"n": 2}, {"n": 3}]}),
            node("Loop", "n8n-nodes-base.splitInBatches", {"batchSize": 1}, 3),
            node(
                "Each",
                CODE,
                {"jsCode": "return $input.all().map(i => ({ json: { twice: i.json.n * 2 } }));"},
                2,
            ),
            node(NODE, CODE, {"jsCode": merge_code}, 2),
        ],
        "connections": {
            "Trigger": {"main": [[{"node": "Rows", "type": "main", "index": 0}]]},
            "Rows": {"main": [[{"node": "Loop", "type": "main", "index": 0}]]},
            "Loop": {
                "main": [
                    [{"node": NODE, "type": "main", "index": 0}],
                    [{"node": "Each", "type": "main", "index": 0}],
                ]
            },
            "Each": {"main": [[{"node": "Loop", "type": "main", "index": 0}]]},
        },
    }


@pytest.mark.anyio
async def test_merge_loop_items_pattern_ends() -> None:
    code = """
      let results = [];
      let i = 0;
      do {
        try { results = results.concat($('Each').all(0, i)); } catch (error) { return results; }
        i++;
      } while (true);
    """
    run = NodeRun(await execute(_merge_loop_workflow(code), registry=REGISTRY))
    assert run.json() == [[{"twice": 2}, {"twice": 4}, {"twice": 6}]]
