"""Paired items: which item of an earlier node an item derives from, as ``$('Name').item`` needs it.

n8n's rule, run over this executor's own record of where every node run's input came from. Before a node
runs, each of its input items is stamped with its own place (``pairedItem: {item, input}``), so an output
item a node passes through or builds from an input item points at that input item; a node that combines
items lists several. Following those pointers back, connection by connection, ends at the named node's item.
A pointer may also name an upstream output directly (n8n's ``sourceOverwrite``, which a loop uses for the
batches it hands out on later runs). Where a node left its items unpaired, n8n's fallback applies: a single
input item pairs every output item with it, and one output as long as the only input pairs them by position.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeGuard

from tenantflow.engine.expressions import ExpressionError
from tenantflow.engine.graph import MAIN, Edge
from tenantflow.engine.pacing import Pacer, chunks
from tenantflow.engine.sdk import Item, Items

Source = tuple[Edge, int]
"""One connection a run's input items arrived through, and the run of its source node that sent them."""

MAX_HOPS = 100_000
"""More hops than any workflow within the node limits takes; a guard against malformed pairing data."""


class RunHistory(Protocol):
    """The part of an execution the resolver reads."""

    def runs_of(self, name: str) -> list[list[Items]]:
        """Outputs of every run of ``name`` so far, oldest first."""
        ...

    def sources_of(self, name: str, run: int) -> Sequence[Source]:
        """Where run ``run`` of ``name`` got its input items, in the order they were concatenated."""
        ...


def stamp_inputs(inputs: list[Items]) -> list[Items]:
    """Each input item knowing its place, as n8n hands items to a node: a copy with ``pairedItem`` set, or
    the item itself when it already says so (and the inputs as they are when every item does, as in a chain
    of nodes that pass their items on)."""
    for slot, items in enumerate(inputs):
        for index, item in enumerate(items):
            paired = item.get("pairedItem")
            if slot or paired.__class__ is not dict or len(paired) != 1 or paired.get("item") != index:
                if _in_place(item, index, slot):  # the first input's test is inline: every node runs this
                    continue
                return [
                    [
                        item if _in_place(item, i, n) else {**item, "pairedItem": _place(i, n)}
                        for i, item in enumerate(items)
                    ]
                    for n, items in enumerate(inputs)
                ]
    return inputs


async def stamp_inputs_paced(inputs: list[Items]) -> list[Items]:
    """:func:`stamp_inputs` for large inputs, a chunk of items at a time, yielding to the event loop
    between slices; an input list whose items all say where they are is kept as it is."""
    pacer, stamped = Pacer(), list(inputs)
    for slot, items in enumerate(inputs):
        copy: Items | None = None
        for start, stop in chunks(len(items)):
            for index in range(start, stop):
                item = items[index]
                if not _in_place(item, index, slot):
                    if copy is None:
                        copy = items[:]
                    copy[index] = {**item, "pairedItem": _place(index, slot)}
            await pacer.step()
        if copy is not None:
            stamped[slot] = copy
    return stamped if any(new is not old for new, old in zip(stamped, inputs, strict=True)) else inputs


def _in_place(item: Item, index: int, slot: int) -> bool:
    paired = item.get("pairedItem")
    return (
        paired.__class__ is dict
        and paired.get("item") == index
        and len(paired) == (2 if slot else 1)
        and (not slot or paired.get("input") == slot)
    )


def _place(index: int, slot: int) -> dict[str, int]:
    return {"item": index, "input": slot} if slot else {"item": index}


def input_source(history: RunHistory, name: str, run: int, input_index: int = 0) -> dict[str, Any] | None:
    """Where input ``input_index`` of a run came from, in n8n's ``ISourceData`` shape (the first connection
    when several fed it): what a node stores to point at these items again on a later run."""
    for edge, source_run in history.sources_of(name, run):
        if edge.input == input_index and edge.port == MAIN:
            return {
                "previousNode": edge.source,
                "previousNodeOutput": edge.output,
                "previousNodeRun": source_run,
            }
    return None


@dataclass(frozen=True, slots=True)
class _Link:
    """Where an item came from: item ``index`` of input ``slot`` of ``node``'s run ``run``, or with
    ``direct``, item ``index`` of that run's output ``slot`` itself."""

    node: str
    run: int
    slot: int
    index: int
    direct: bool = False


@dataclass(frozen=True, slots=True)
class _Spot:
    """An output item: item ``index`` of output ``output`` of run ``run`` of ``node``."""

    node: str
    run: int
    output: int
    index: int
    item: Item


class PairedItems:
    """Resolves paired items within one execution."""

    def __init__(self, history: RunHistory) -> None:
        self._history = history

    def resolve(self, destination: str, node: str, run: int, item_index: int) -> Item:
        """The item of ``destination`` that input item ``item_index`` (main input 0) of ``node``'s run
        ``run`` derives from."""
        return self._follow(destination, _Link(node, run, 0, item_index))

    def origin(self, destination: str, node: str, run: int, output: int, index: int) -> Item:
        """The item of ``destination`` that item ``index`` of ``node``'s run ``run``, output ``output``,
        derives from (``destination`` may be ``node`` itself)."""
        return self._follow(destination, _Link(node, run, output, index, direct=True))

    def _follow(self, destination: str, link: _Link) -> Item:
        for _ in range(MAX_HOPS):
            spot = self._spot(link)
            if spot is None:
                message = f"Node '{link.node}' says an item came from its input item {link.index}"
                raise _error(destination, f"{message}, which does not exist")
            if spot.node == destination:
                return spot.item
            if not self._history.sources_of(spot.node, spot.run):  # a start node: nothing before it
                raise _no_path(destination, link)
            links = self._links(spot, destination)
            if len(links) != 1:
                return self._follow_each(destination, spot, links)
            link = links[0]
        raise _error(destination, f"Paired items form no path back to node '{destination}'")

    def _spot(self, link: _Link) -> _Spot | None:
        """The upstream output item a link points at."""
        if link.direct:
            items = self._output(link.node, link.run, link.slot)
            if link.index < len(items):
                return _Spot(link.node, link.run, link.slot, link.index, items[link.index])
            return None
        index = link.index
        for edge, source_run in self._history.sources_of(link.node, link.run):
            if edge.input != link.slot:
                continue
            output = edge.output if edge.port == MAIN else -1  # a failed node's items: its last output
            items = self._output(edge.source, source_run, output)
            if index < len(items):
                return _Spot(edge.source, source_run, output, index, items[index])
            index -= len(items)
        return None

    def _output(self, node: str, run: int, output: int) -> Items:
        runs = self._history.runs_of(node)
        if not 0 <= run < len(runs) or not -len(runs[run]) <= output < len(runs[run]):
            return []
        return runs[run][output]

    def _links(self, spot: _Spot, destination: str) -> list[_Link]:
        declared = spot.item.get("pairedItem")
        entries = declared if isinstance(declared, list) else [] if declared is None else [declared]
        links = [link for entry in entries if (link := _declared(spot, entry)) is not None]
        if links:
            return links
        fallback = self._fallback(spot)
        if fallback is None:
            message = f"Paired item data for item {spot.index} of node '{spot.node}' is unavailable"
            raise _error(destination, f"{message}: the node did not say which input item it came from")
        return [fallback]

    def _fallback(self, spot: _Spot) -> _Link | None:
        """n8n's rule for unpaired items: a single input item, or one output as long as the only input."""
        sizes: dict[int, int] = {}
        for edge, source_run in self._history.sources_of(spot.node, spot.run):
            output = edge.output if edge.port == MAIN else -1
            sizes[edge.input] = sizes.get(edge.input, 0) + len(self._output(edge.source, source_run, output))
        if set(sizes) != {0}:
            return None
        if sizes[0] == 1:
            return _Link(spot.node, spot.run, 0, 0)
        outputs = self._history.runs_of(spot.node)[spot.run]
        if len(outputs) == 1 and len(outputs[0]) == sizes[0]:
            return _Link(spot.node, spot.run, 0, spot.index)
        return None

    def _follow_each(self, destination: str, spot: _Spot, links: list[_Link]) -> Item:
        """Several input items went into one output item: they must all lead to the same item."""
        found: list[Item] = []
        for link in links:
            try:
                item = self._follow(destination, link)
            except ExpressionError:
                continue
            if not any(item is seen for seen in found):
                found.append(item)
                if len(found) > 1:  # already ambiguous: no need to follow the rest
                    break
        if len(found) == 1:
            return found[0]
        if not found:
            raise _no_path(destination, _Link(spot.node, spot.run, 0, spot.index))
        message = f"Item {spot.index} of node '{spot.node}' derives from several different items"
        raise _error(destination, f"{message} of node '{destination}'; use .all() or .first() to choose")


def _no_path(destination: str, link: _Link) -> ExpressionError:
    return _error(
        destination, f"No path back to node '{destination}' from item {link.index} of '{link.node}'"
    )


def _error(destination: str, message: str) -> ExpressionError:
    return ExpressionError(message, expression=f"$('{destination}').item")


def _declared(spot: _Spot, entry: Any) -> _Link | None:
    """One ``pairedItem`` entry as a node wrote it: a number, ``{item, input}``, or with ``sourceOverwrite``
    naming the upstream output directly."""
    if _is_index(entry):
        return _Link(spot.node, spot.run, 0, entry)
    if not isinstance(entry, dict) or not _is_index(item := entry.get("item")):
        return None
    overwrite = entry.get("sourceOverwrite")
    if isinstance(overwrite, dict) and isinstance(node := overwrite.get("previousNode"), str):
        output, run = overwrite.get("previousNodeOutput") or 0, overwrite.get("previousNodeRun") or 0
        return _Link(node, run, output, item, direct=True) if _is_index(output) and _is_index(run) else None
    slot = entry.get("input") or 0
    return _Link(spot.node, spot.run, slot, item) if _is_index(slot) else None


def _is_index(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
