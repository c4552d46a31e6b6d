"""An address-space cap for tests that try to allocate past a budget: a missing check then fails the test
with MemoryError instead of taking the machine's memory."""

from __future__ import annotations

import resource
from collections.abc import Iterator
from contextlib import contextmanager

_PAGE = resource.getpagesize()


def _mapped_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[0]) * _PAGE


@contextmanager
def address_space_cap(extra_bytes: int) -> Iterator[None]:
    """Let the process map at most ``extra_bytes`` more than it has mapped now (the soft limit goes back
    after, which an unprivileged process may do up to its hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = _mapped_bytes() + extra_bytes
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
