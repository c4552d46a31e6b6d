"""The Code node's fork servers (:mod:`tenantflow.nodes.n8n.code.forkserver`), seen from the service.

One server process per runner (JavaScript, Python) per service process, started on first use and again if
it dies, and shared by every event loop (a test run has many): a reader thread takes the server's replies and
hands each to the loop that asked for it.

Bounded as a group (:func:`bounds`, from the settings): how many sandboxes run at once per execution and per
process (:mod:`tenantflow.nodes.n8n.code.slots`), and how large a reply may be. The reply's size comes in its
frame's header, which the fork server writes on a pipe no job can reach: a reply over the cap is skipped
unread, never decoded.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import itertools
import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, NamedTuple

from tenantflow.nodes.n8n.code.slots import SandboxSlots, resolve


class Outcome(NamedTuple):
    """How a job ended, as the fork server reported it."""

    reply: bytes | None
    """The job's reply (None when its process died first, or when it was larger than allowed)."""
    status: int | None
    """Its exit status (None when the server died)."""
    oversize: bool = False
    """The reply was larger than the job's ``maxReplyBytes``: it was skipped unread."""


@dataclass(frozen=True)
class _Waiter:
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Outcome]
    process: subprocess.Popen[bytes]
    max_reply_bytes: int


class SandboxServer:
    """Runs sandbox jobs through one fork server, started when first needed."""

    def __init__(self, script: Path, fork_server: Path | None = None) -> None:
        self._script = script
        self._fork_server = fork_server or _FORK_SERVER
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._waiting: dict[int, _Waiter] = {}
        self._ids = itertools.count()

    @property
    def pid(self) -> int | None:
        """The server process's id; None before the first job and after the server died."""
        process = self._process
        return None if process is None else process.pid

    async def run(self, job: dict[str, Any], timeout: float) -> Outcome:
        """Run ``job`` in a new sandbox process. ``TimeoutError`` after ``timeout`` seconds; on that or on
        cancellation the job's process is killed. A reply longer than ``job["maxReplyBytes"]`` is not read."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Outcome] = loop.create_future()
        request = next(self._ids)
        frame = _frame({"id": request, "job": job})
        process = self._wait_for(request, loop, future, int(job["maxReplyBytes"]))
        try:
            with contextlib.suppress(OSError):  # the server is gone: its reader settles every job it had
                await loop.run_in_executor(None, self._send, process, frame)
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        finally:
            if not future.done():
                with self._lock:
                    self._waiting.pop(request, None)
                with contextlib.suppress(OSError):
                    self._send(process, _frame({"id": request, "kill": True}))

    def close(self) -> None:
        """Stop the server: closing its input makes it kill its jobs and exit."""
        with self._lock:
            process, self._process = self._process, None
        if process is not None and process.stdin is not None:
            process.stdin.close()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()

    def _wait_for(
        self, request: int, loop: asyncio.AbstractEventLoop, future: asyncio.Future[Outcome], max_reply: int
    ) -> subprocess.Popen[bytes]:
        with self._lock:
            if self._process is None or self._process.poll() is not None:
                self._process = self._start()
            self._waiting[request] = _Waiter(loop, future, self._process, max_reply)
            return self._process

    def _start(self) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [sys.executable, "-I", str(self._fork_server), str(self._script)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={},
        )
        threading.Thread(target=self._read, args=(process,), name="code-sandbox-replies", daemon=True).start()
        return process

    def _send(self, process: subprocess.Popen[bytes], frame: bytes) -> None:
        stream = process.stdin
        if stream is None:
            raise BrokenPipeError("the sandbox server has no input")
        with self._write_lock:
            stream.write(frame)
            stream.flush()

    def _read(self, process: subprocess.Popen[bytes]) -> None:
        """The reader thread: settle each job as its reply comes, and every job left when the server ends.

        A reply's size is in its frame's header: one larger than its job allows is skipped unread, so what
        a script returns costs the service at most that much memory."""
        stream: IO[bytes] | None = process.stdout
        while stream is not None:
            message = _read_header(stream)
            if message is None:  # the server ended, maybe halfway through a frame
                break
            size = int(message["size"])
            with self._lock:
                waiter = self._waiting.pop(message["id"], None)
            if waiter is None or message.get("oversize") or size > waiter.max_reply_bytes:
                if not _skip(stream, size):
                    break
                outcome = Outcome(None, message["status"], oversize=waiter is not None)
            else:
                body = stream.read(size)
                if len(body) < size:
                    break
                outcome = Outcome(body or None, message["status"])
            if waiter is not None:
                _settle(waiter, outcome)
        with self._lock:
            orphans = [key for key, waiter in self._waiting.items() if waiter.process is process]
            waiters = [self._waiting.pop(key) for key in orphans]
            if self._process is process:
                self._process = None
        for waiter in waiters:
            _settle(waiter, Outcome(None, None))
        process.wait()


def _read_header(stream: IO[bytes]) -> dict[str, Any] | None:
    """The next frame's header (``id``, ``status``, ``size`` of the reply that follows, ``oversize``)."""
    prefix = stream.read(4)
    size = int.from_bytes(prefix, "big")
    if len(prefix) < 4 or size > _MAX_HEADER_BYTES:
        return None
    header = stream.read(size)
    if len(header) < size:
        return None
    message: dict[str, Any] = json.loads(header)
    return message


def _skip(stream: IO[bytes], size: int) -> bool:
    """Read past ``size`` bytes a chunk at a time, keeping none; False when the stream ended first."""
    while size > 0:
        chunk = stream.read(min(size, 1 << 20))
        if not chunk:
            return False
        size -= len(chunk)
    return True


def _frame(message: dict[str, Any]) -> bytes:
    body = json.dumps(message, default=str).encode()
    return len(body).to_bytes(4, "big") + body


def _settle(waiter: _Waiter, outcome: Outcome) -> None:
    with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
        waiter.loop.call_soon_threadsafe(resolve, waiter.future, outcome)


@dataclass(frozen=True)
class Bounds:
    """The service's bounds on Code sandboxes as a group (:mod:`tenantflow.settings`)."""

    slots: SandboxSlots
    max_reply_bytes: int


@functools.cache
def bounds() -> Bounds:
    """Read once from the settings: how many sandboxes run at once, and how large a reply may be."""
    from tenantflow.settings import Settings  # settings read the environment: only when a sandbox runs

    settings = Settings()
    per_process = settings.code_sandboxes_per_process or 2 * (os.cpu_count() or 1)
    slots = SandboxSlots(per_process, settings.code_sandboxes_per_execution)
    return Bounds(slots, settings.code_reply_max_mb * 2**20)


_MAX_HEADER_BYTES = 4096
_FORK_SERVER = Path(__file__).with_name("forkserver.py")
SERVER = SandboxServer(Path(__file__).with_name("sandbox.py"))
PYTHON_SERVER = SandboxServer(Path(__file__).with_name("python_sandbox.py"))
atexit.register(SERVER.close)
atexit.register(PYTHON_SERVER.close)
