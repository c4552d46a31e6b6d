"""Long CPU-bound node work shares the event loop: it steps aside every few milliseconds.

One service process runs many tenants' executions on one event loop. A node that evaluates expressions over
200,000 items, or parses a large document item by item, would hold the loop for seconds and stall every other
execution; instead it checks the clock between items and yields (``await asyncio.sleep(0)``) once a slice of
:data:`SLICE_SECONDS` has run, so others wait milliseconds. The check is one ``perf_counter`` call, and small
inputs never reach a slice's end: the common case costs nothing measurable. Work that is one big native call
(decoding a spreadsheet) cannot be sliced and goes to a thread instead (``asyncio.to_thread``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from time import perf_counter
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

SLICE_SECONDS = 0.005
"""How long node work may hold the event loop before it yields."""
CHECK_EVERY = 16


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


async def paced_map(function: Callable[[int, T], R], values: Iterable[T]) -> list[R]:
    """``[function(index, value) for index, value in enumerate(values)]``, yielding between slices."""
    pacer = Pacer()
    results: list[R] = []
    for index, value in enumerate(values):
        if pacer.due():
            await pacer.pause()
        results.append(function(index, value))
    return results


THREAD_SIZE = 1 << 20
"""Documents at least this large (bytes or characters) are parsed in a worker thread."""


async def off_loop(size: int, function: Callable[..., R], *args: Any) -> R:
    """``function(*args)``: one parse or conversion too long to slice, run in a worker thread when its input
    is ``size`` >= :data:`THREAD_SIZE` (small ones run here: a thread hop costs more than they do)."""
    if size >= THREAD_SIZE:
        return await asyncio.to_thread(function, *args)
    return function(*args)
