"""Node work over many items shares the event loop (see :mod:`tenantflow.engine.pacing`, whose
:class:`Pacer` the nodes use): a loop over items yields once a slice of ``SLICE_SECONDS`` has run. Work that
is one big native call (decoding a spreadsheet) cannot be sliced and goes to a thread instead
(``asyncio.to_thread``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from tenantflow.engine.pacing import Pacer

__all__ = ["THREAD_SIZE", "Pacer", "off_loop", "paced_map"]

T = TypeVar("T")
R = TypeVar("R")


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
