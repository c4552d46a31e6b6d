"""No full garbage collection while an execution holds many items: one would pause every tenant's work.

CPython's cyclic collector walks every tracked container in its oldest generation on each full collection:
with 200,000 items held that is 600,000 dicts and 200-250 ms during which the event loop serves nobody,
several times while the items are built. Item data (JSON values) holds no reference cycles, so reference
counting frees it without the collector's help; only the process's own cyclic garbage (tracebacks, frames)
waits for a full collection. So while any execution holds :data:`HELD_ITEMS` items or more in large outputs,
automatic full collections are off (generation 2's threshold raised); the young generations are still
collected, and when the last such execution ends the threshold is restored and the collector catches up
once. A process that always has such an execution running still collects fully every :data:`MAX_WINDOW_S`.

``gc.freeze()`` after large outputs was measured too (a full collection then takes microseconds), but it is
not sound in a shared process: it freezes every object of every execution, so their cycles would never be
collected until ``gc.unfreeze()``, which also undoes the host's own start-up freeze.
"""

from __future__ import annotations

import gc
import time

HELD_ITEMS = 50_000
"""Items in an execution's large outputs from which full collections are held off."""
MAX_WINDOW_S = 60.0
"""Longest time full collections stay off while such executions keep overlapping."""
_OFF = 2**31 - 1  # generation 2's threshold while held off: never reached


class _FullCollections:
    """How many executions hold full collections off, and the threshold to restore after them."""

    __slots__ = ("_holders", "_saved", "_since")

    def __init__(self) -> None:
        self._holders = 0
        self._saved: tuple[int, int, int] | None = None
        self._since = 0.0

    def hold(self) -> None:
        """One more execution holds many items."""
        self._holders += 1
        if self._saved is None:
            self._saved = gc.get_threshold()
            gc.set_threshold(self._saved[0], self._saved[1], _OFF)
            self._since = time.monotonic()
        self._catch_up()

    def release(self) -> None:
        """An execution that held many items ended."""
        self._holders -= 1
        if self._holders == 0 and self._saved is not None:
            gc.set_threshold(*self._saved)
            self._saved = None
        else:
            self._catch_up()

    def _catch_up(self) -> None:
        """Held off for :data:`MAX_WINDOW_S` already: one full collection now, then off again."""
        if self._saved is not None and time.monotonic() - self._since > MAX_WINDOW_S:
            gc.collect()
            self._since = time.monotonic()


FULL_COLLECTIONS = _FullCollections()
