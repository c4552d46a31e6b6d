"""How many Code sandboxes run at once: per execution and per service process.

Each sandbox is a process holding up to its memory limit, so a workflow running many Code nodes side by
side (``maxConcurrency``) could otherwise hold gigabytes. A job beyond a cap waits its turn, first come first
served; it is not refused unless it waited longer than it may. The process-wide cap is shared by every
event loop of the process (a test run has many), so it is kept with a thread lock, not an asyncio primitive.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")


@dataclass(eq=False)
class _Turn:
    """A job waiting for a slot; ``granted`` (under the lock) once a finishing job handed it its slot."""

    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[None]
    granted: bool = False


@dataclass(eq=False)
class Slots:
    """A counting semaphore usable from any event loop, handing slots over in arrival order."""

    capacity: int
    _used: int = 0
    _waiting: deque[_Turn] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def used(self) -> int:
        return self._used

    async def acquire(self, timeout: float) -> None:
        """Take a slot, waiting at most ``timeout`` seconds (then ``TimeoutError``)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._used < self.capacity and not self._waiting:
                self._used += 1
                return
            turn = _Turn(loop, loop.create_future())
            self._waiting.append(turn)
        try:
            await asyncio.wait_for(turn.future, timeout)
        except BaseException:
            with self._lock:
                if not turn.granted:
                    self._waiting.remove(turn)
                    raise
            self.release()  # handed over just as the wait ended: give it on
            raise

    def release(self) -> None:
        """Give the slot to the first waiter whose loop still runs, else free it."""
        with self._lock:
            while self._waiting:
                turn = self._waiting.popleft()
                turn.granted = True
                try:
                    turn.loop.call_soon_threadsafe(resolve, turn.future, None)
                except RuntimeError:  # its loop is closed: nobody waits there any more
                    continue
                return
            self._used -= 1


def resolve(future: asyncio.Future[T], value: T) -> None:
    """Settle ``future`` unless it already ended (its waiter gave up); called on its own loop."""
    if not future.done():
        future.set_result(value)


@dataclass(eq=False)
class SandboxSlots:
    """The process-wide cap and one cap per execution (made when its first job comes, dropped when idle)."""

    per_process: int
    per_execution: int
    process: Slots = field(init=False)
    _executions: dict[str, tuple[Slots, int]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.process = Slots(self.per_process)

    @contextlib.asynccontextmanager
    async def slot(self, execution: str | None, wait: float) -> AsyncIterator[None]:
        """Hold one sandbox slot of ``execution`` (None: the process cap only) for the ``with`` block;
        ``TimeoutError`` when none came within ``wait`` seconds. The execution's own cap is taken first, so
        one execution's queue never stands in front of another's in the process queue."""
        deadline = time.monotonic() + wait
        own = self._join(execution)
        try:
            if own is not None:
                await own.acquire(wait)
            try:
                await self.process.acquire(max(deadline - time.monotonic(), 0.0))
                try:
                    yield
                finally:
                    self.process.release()
            finally:
                if own is not None:
                    own.release()
        finally:
            self._leave(execution)

    def _join(self, execution: str | None) -> Slots | None:
        if execution is None:
            return None
        with self._lock:
            slots, users = self._executions.get(execution) or (Slots(self.per_execution), 0)
            self._executions[execution] = (slots, users + 1)
            return slots

    def _leave(self, execution: str | None) -> None:
        if execution is None:
            return
        with self._lock:
            slots, users = self._executions[execution]
            if users == 1:
                del self._executions[execution]
            else:
                self._executions[execution] = (slots, users - 1)
