"""The executor's passes over large outputs, a chunk at a time (issue 12, item 3): they must give exactly
what the passes in one go give, and yield to the event loop while they run."""

from __future__ import annotations

import asyncio
import gc
from typing import Any, ClassVar

import pytest

from tenantflow.engine.executor import execute
from tenantflow.engine.outputs import DataMeter, normalise_outputs, normalise_outputs_paced
from tenantflow.engine.pacing import PACED_ITEMS, is_large
from tenantflow.engine.pairing import stamp_inputs, stamp_inputs_paced
from tenantflow.engine.sdk import Items, NodeContext, NodeRegistry

from .conftest import Trigger, wf

pytestmark = pytest.mark.anyio

COUNT = 3 * PACED_ITEMS + 17


def _outputs() -> list[Items]:
    shared = "s" * 1000  # counted at full size wherever it is referenced, measured once
    items: Items = [{"json": {"n": n, "text": shared, "tags": [n, "x"]}} for n in range(COUNT)]
    items[5] = {"json": {"n": 5}, "pairedItem": {"item": 5}}  # already in place
    return [items, items[:10], []]


async def _yields(work: Any) -> tuple[Any, int]:
    """Run ``work`` and count the loop turns another task got meanwhile."""
    turns = 0
    done = False

    async def other() -> None:
        nonlocal turns
        while not done:
            turns += 1
            await asyncio.sleep(0)

    spinner = asyncio.ensure_future(other())
    await asyncio.sleep(0)
    result = await work
    done = True
    await spinner
    return result, turns


async def test_the_paced_meter_counts_what_the_meter_counts() -> None:
    outputs = _outputs()
    whole, paced = DataMeter(), DataMeter()
    expected = whole.measure(outputs, 10**12)
    size, _ = await _yields(paced.measure_paced(outputs, 10**12))
    assert size == expected and paced.new == whole.new
    paced.keep()
    again = list(outputs)  # the branches known now; the outer list is new with every run
    assert await paced.measure_paced(again, 10**12) == expected and paced.new == len(outputs) + 1
    assert await DataMeter().measure_paced(outputs, 1000) > 1000  # stops once over


async def test_paced_stamping_and_checking_give_what_the_passes_in_one_go_give() -> None:
    inputs = [_outputs()[0], [{"json": {}}] * 3]
    assert is_large(inputs)
    stamped = await stamp_inputs_paced(inputs)
    assert stamped == stamp_inputs(inputs) and stamped[0][5] is inputs[0][5]
    assert await stamp_inputs_paced(stamped) is stamped  # every item in place: kept as it is
    malformed: list[Any] = [[{"n": n} for n in range(COUNT)], None]
    expected = normalise_outputs([list(malformed[0]), None])
    assert (
        await normalise_outputs_paced(malformed)
        == expected
        == [[{"json": {"n": n}} for n in range(COUNT)], []]
    )


async def test_a_large_pass_yields_to_the_loop() -> None:
    outputs = [[{"json": {"n": n, "text": "t" * 300}} for n in range(50 * PACED_ITEMS)]]
    _, turns = await _yields(DataMeter().measure_paced(outputs, 10**12))
    assert turns >= 2


class Many(Trigger):
    """60,000 new items, noting the collector's thresholds when it runs."""

    type = "test.many"
    seen: ClassVar[list[tuple[int, int, int]]] = []

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        self.seen.append(gc.get_threshold())
        return [[{"json": {"n": n}} for n in range(60_000)]]


async def test_full_collections_are_held_off_while_many_items_are_held_and_restored_after() -> None:
    seen = Many.seen
    registry = NodeRegistry()
    registry.register(Many)
    before = gc.get_threshold()
    nodes = [{"name": f"M{i}", "type": "test.many"} for i in range(2)]
    connections = {"M0": {"main": [[{"node": "M1", "type": "main", "index": 0}]]}}
    record = await execute(wf(nodes, connections), registry=registry)
    assert record.status == "success", record.error
    assert seen[0] == before and seen[1][2] > 10**9  # held off once 60,000 items were output
    assert gc.get_threshold() == before
