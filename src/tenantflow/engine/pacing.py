"""Long CPU-bound work shares the event loop: it steps aside every few milliseconds.

One service process runs many tenants' executions on one event loop. Work over 200,000 items (a node
evaluating expressions, or the executor stamping, checking and sizing a node's output) would hold the loop
for hundreds of milliseconds and stall every other execution; instead it checks the clock between items or
chunks of items and yields (``await asyncio.sleep(0)``) once a slice of :data:`SLICE_SECONDS` has run, so
others wait milliseconds. The executor walks outputs of fewer than :data:`PACED_ITEMS` items in one go,
without a coroutine or a clock read: the common case costs nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from time import perf_counter
from typing import Any

SLICE_SECONDS = 0.003
"""How long work may hold the event loop before it yields."""
CHECK_EVERY = 16
"""Items between two clock reads of :meth:`Pacer.due`."""
CHUNK = 1024
"""Items an executor pass walks between two clock reads (microseconds each: a chunk is a few ms at most)."""
PACED_ITEMS = 4 * CHUNK
"""Outputs and inputs with at least this many items are walked a chunk at a time by the executor."""


class Pacer:
    """Tells a loop over items when its slice is used up; ``await pacer.pause()`` then yields."""

    __slots__ = ("_calls", "_until")

    def __init__(self) -> None:
        self._until = perf_counter() + SLICE_SECONDS
        self._calls = 0

    def due(self) -> bool:
        """Whether the slice is used up; the clock is read every :data:`CHECK_EVERY` calls (items cost
        microseconds, so the slice overruns by little, and reading it per item cost a tenth of a Set)."""
        self._calls += 1
        return not self._calls % CHECK_EVERY and perf_counter() >= self._until

    async def pause(self) -> None:
        await asyncio.sleep(0)
        self._until = perf_counter() + SLICE_SECONDS

    async def step(self) -> None:
        """Between two chunks: yield if the slice is used up."""
        if perf_counter() >= self._until:
            await self.pause()


def chunks(length: int) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` of each chunk of :data:`CHUNK` items in a sequence of ``length`` items."""
    return ((start, min(start + CHUNK, length)) for start in range(0, length, CHUNK))


def is_large(lists: Any) -> bool:
    """Whether a list of item lists (as nodes return them) holds :data:`PACED_ITEMS` items or more
    together: then the executor walks it paced."""
    if type(lists) is not list:
        return False
    total = 0
    for items in lists:
        if type(items) is list:
            total += len(items)
    return total >= PACED_ITEMS
