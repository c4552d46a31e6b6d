"""The Code node's fork servers (:mod:`tenantflow.nodes.n8n.code.forkserver`), seen from the service.

One server process per runner (JavaScript, Python) per service process, started on first use and again if
it dies, and shared by every event loop (a test run has many): a reader thread takes the server's replies and
hands each to the loop that asked for it.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import itertools
import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

Outcome = tuple[str | None, int | None]
"""A job's reply text (None when its process died first) and exit status (None when the server died)."""

_Waiter = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Outcome]", "subprocess.Popen[bytes]"]


class SandboxServer:
    """Runs sandbox jobs through one fork server, started when first needed."""

    def __init__(self, script: Path) -> None:
        self._script = script
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
        cancellation the job's process is killed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Outcome] = loop.create_future()
        request = next(self._ids)
        frame = _frame({"id": request, "job": job})
        process = self._wait_for(request, loop, future)
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
        self, request: int, loop: asyncio.AbstractEventLoop, future: asyncio.Future[Outcome]
    ) -> subprocess.Popen[bytes]:
        with self._lock:
            if self._process is None or self._process.poll() is not None:
                self._process = self._start()
            self._waiting[request] = (loop, future, self._process)
            return self._process

    def _start(self) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [sys.executable, "-I", str(_FORK_SERVER), str(self._script)],
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
        """The reader thread: settle each job as its reply comes, and every job left when the server ends."""
        stream: IO[bytes] | None = process.stdout
        while stream is not None:
            header = stream.read(4)
            size = int.from_bytes(header, "big")
            body = stream.read(size) if len(header) == 4 else b""
            if len(body) < size or not body:  # the server ended, maybe halfway through a frame
                break
            message = json.loads(body)
            with self._lock:
                waiter = self._waiting.pop(message["id"], None)
            if waiter is not None:
                _settle(waiter, (message["reply"], message["status"]))
        with self._lock:
            orphans = [key for key, waiter in self._waiting.items() if waiter[2] is process]
            waiters = [self._waiting.pop(key) for key in orphans]
            if self._process is process:
                self._process = None
        for waiter in waiters:
            _settle(waiter, (None, None))
        process.wait()


def _frame(message: dict[str, Any]) -> bytes:
    body = json.dumps(message, default=str).encode()
    return len(body).to_bytes(4, "big") + body


def _settle(waiter: _Waiter, outcome: Outcome) -> None:
    loop, future, _ = waiter
    with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
        loop.call_soon_threadsafe(_resolve, future, outcome)


def _resolve(future: asyncio.Future[Outcome], outcome: Outcome) -> None:
    if not future.done():
        future.set_result(outcome)


_FORK_SERVER = Path(__file__).with_name("forkserver.py")
SERVER = SandboxServer(Path(__file__).with_name("sandbox.py"))
PYTHON_SERVER = SandboxServer(Path(__file__).with_name("python_sandbox.py"))
atexit.register(SERVER.close)
atexit.register(PYTHON_SERVER.close)
