"""The garbage collector in a long-running process (``serve``'s app, a worker), set once it has started.

Everything loaded by then (modules, node schemas, the registry, SQLAlchemy's and pydantic's machinery)
lives as long as the process. Left in the collector's oldest generation, it was scanned by every full
collection: in a worker that never froze it, a full pass took about 120 ms, twice in ten seconds of
webhook load, and every run in flight waited for it. :func:`gc.freeze` moves it out of reach.

Requests and runs free what they allocate by reference counting (no reference cycles: see
``Unit.release``), so what a young collection finds is the work in flight, which it can only promote. At
c=16 the default threshold of 700 allocations ran one every few requests, 112-168 µs of collections per
webhook call between the API and the worker; at :data:`YOUNG_THRESHOLD` there were none in the ten seconds.
"""

from __future__ import annotations

import gc
from typing import Final

YOUNG_THRESHOLD: Final = 10_000


def settle() -> None:
    """Freeze what start-up loaded and collect the young generation less often."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
