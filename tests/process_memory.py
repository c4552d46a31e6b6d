"""The memory a process tree holds, measured as one figure at each instant and sampled for its peak.

A tree's memory is the sum of its processes' PSS (proportional set size, ``/proc/PID/smaps_rollup``): a
page shared by n processes counts 1/n in each, so the sum counts every page once. RSS would count a shared
page in every process that maps it, and the Code sandboxes are forked from a fork server (or a zygote) whose
pages they share copy-on-write: summing their RSS counts the server's interpreter and V8 once per sandbox.
Peaks of different moments are never added: the sampler sums the tree at one instant and keeps the largest
sum.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

MB = 2**20
SAMPLE_SECONDS = 0.015


def pss(pid: int) -> int:
    """The process's proportional set size in bytes; 0 once it has exited (or was never there)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024  # kB
    except (OSError, ValueError):
        pass
    return 0


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (children of all its threads, their children, and so on)."""
    found, queue = [], [pid]
    while queue:
        parent = queue.pop()
        try:
            tasks = list(Path(f"/proc/{parent}/task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                children = [int(child) for child in (task / "children").read_text().split()]
            except OSError:
                continue
            found += children
            queue += children
    return found


def tree(*roots: int) -> list[int]:
    """The roots and all their descendants, each once."""
    return list(dict.fromkeys([*roots, *(pid for root in roots for pid in descendants(root))]))


@dataclass
class Peak:
    """The largest PSS sum seen so far, in bytes."""

    bytes: int = 0

    @property
    def mb(self) -> int:
        return self.bytes // MB


@contextmanager
def peak_pss(pids: Callable[[], Iterable[int]], every: float = SAMPLE_SECONDS) -> Iterator[Peak]:
    """Sum the PSS of the processes ``pids()`` names, every ``every`` seconds from a thread, for the
    ``with`` block; the largest sum lands in the yielded :class:`Peak` (sampled once more on the way out)."""
    peak = Peak()
    done = threading.Event()

    def sample() -> None:
        peak.bytes = max(peak.bytes, sum(pss(pid) for pid in pids()))

    def keep_sampling() -> None:
        while not done.is_set():
            sample()
            done.wait(every)

    sampler = threading.Thread(target=keep_sampling, name="pss-sampler", daemon=True)
    sampler.start()
    try:
        yield peak
    finally:
        done.set()
        sampler.join()
        sample()
