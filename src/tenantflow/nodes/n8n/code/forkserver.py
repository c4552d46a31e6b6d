"""The Code node sandboxes' fork server: one long-lived process that starts a new process for every job.

Started as ``python -I forkserver.py <runner.py>`` with an empty environment. The runner (the JavaScript
``sandbox.py`` or ``python_sandbox.py``) is loaded once, so its imports are paid once; it either offers
``child(job) -> reply``, run in a process forked per job, or ``start_spawner()``, which returns its own way of
starting a job's process (``spawn(job) -> (pid, reply_fd)``; the process must be a child of this one).

Protocol on the server's stdin and stdout: frames of a 4-byte big-endian length and a JSON object. In:
``{"id", "job"}`` runs a job, ``{"id", "kill": true}`` kills its process. Out, once per job: the header
``{"id", "status", "size", "oversize"}`` framed the same way, then ``size`` bytes of the child's reply (none
if it died first): the child's exit status (negative: the signal that ended it), and whether its reply grew
past the job's ``maxReplyBytes`` (then the process is killed there and nothing of it is sent). What a job
writes is only ever the body of a frame this server made: it cannot pose as the server.

Kept free of ``tenantflow`` imports: it runs next to user code with nothing but the standard library.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import json
import os
import selectors
import signal
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

Spawn = Callable[[dict[str, Any]], tuple[int, int]]
"""Starts a job's process: the job in, its pid and the read end of its reply pipe out."""
Child = Callable[[dict[str, Any]], dict[str, Any]]
"""Runs one job in a forked process and returns its reply."""


@dataclass
class _Job:
    """A running job: its request id, process and reply pipe, the reply read so far and its cap."""

    id: int
    pid: int
    fd: int
    max_reply: int
    reply: bytearray = field(default_factory=bytearray)
    pidfd: int = -1
    oversize: bool = False


def serve(spawn: Spawn) -> None:
    """The fork server's loop: start jobs, collect replies, reap children; exit when the service is gone.

    A job whose reply pipe closes is reaped when its process exits (watched through a pidfd), never by a
    blocking wait: a process that closed its pipe early must not stall the other jobs or their kills."""
    selector = selectors.DefaultSelector()
    os.set_blocking(0, False)
    selector.register(0, selectors.EVENT_READ)
    inbox = bytearray()
    by_fd: dict[int, _Job] = {}
    by_id: dict[int, _Job] = {}
    while True:
        for key, _ in selector.select():
            if key.fd == 0:
                chunk = os.read(0, 1 << 16)
                if not chunk:
                    for job in by_id.values():
                        os.kill(job.pid, signal.SIGKILL)
                    os._exit(0)
                inbox += chunk
                for message in _frames(inbox):
                    if message.get("kill"):
                        running = by_id.get(message["id"])
                        if running is not None:  # not reaped yet, so the pid is still this job's
                            os.kill(running.pid, signal.SIGKILL)
                        continue
                    pid, fd = spawn(message["job"])
                    os.set_blocking(fd, False)
                    selector.register(fd, selectors.EVENT_READ)
                    job = _Job(int(message["id"]), pid, fd, int(message["job"]["maxReplyBytes"]))
                    by_fd[fd] = by_id[job.id] = job
                continue
            job = by_fd.pop(key.fd)
            if key.fd == job.pidfd:  # the process has exited
                _finish(selector, job)
                del by_id[job.id]
                continue
            chunk = os.read(key.fd, 1 << 16)
            if chunk and len(job.reply) + len(chunk) > job.max_reply:
                os.kill(job.pid, signal.SIGKILL)
                job.reply, job.oversize = bytearray(), True
                chunk = b""
            if chunk:
                job.reply += chunk
                by_fd[key.fd] = job
                continue
            selector.unregister(key.fd)
            os.close(key.fd)
            job.pidfd = os.pidfd_open(job.pid)
            selector.register(job.pidfd, selectors.EVENT_READ)
            by_fd[job.pidfd] = job


def _finish(selector: selectors.BaseSelector, job: _Job) -> None:
    selector.unregister(job.pidfd)
    os.close(job.pidfd)
    _, status = os.waitpid(job.pid, 0)
    header = {"id": job.id, "status": os.waitstatus_to_exitcode(status), "size": len(job.reply)}
    _write_all(1, _frame({**header, "oversize": job.oversize}) + job.reply)


def fork_spawner(child: Child) -> Spawn:
    """Run each job in a process forked from this one, keeping only its reply pipe (as fd 3) and stderr; the
    process ends once its reply is written."""

    def spawn(job: dict[str, Any]) -> tuple[int, int]:
        read_fd, write_fd = os.pipe()
        server = os.getpid()
        pid = os.fork()
        if pid == 0:
            try:
                _die_with(server)
                os.dup2(write_fd, 3)
                os.closerange(0, 2)
                os.closerange(4, os.sysconf("SC_OPEN_MAX"))
                _write_all(3, json.dumps(child(job), ensure_ascii=False).encode())
            finally:
                os._exit(0)  # no interpreter teardown (V8's can hang after a terminated script)
        os.close(write_fd)
        return pid, read_fd

    return spawn


def _die_with(server: int) -> None:
    """End this job's process when the server ends, even when the server is killed outright (Linux's
    parent-death signal): a runaway script must not outlive the server that was to stop it."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != server:  # the server was gone before the signal was armed
        os._exit(1)


_PR_SET_PDEATHSIG = 1


def _frame(message: dict[str, Any]) -> bytes:
    body = json.dumps(message).encode()
    return len(body).to_bytes(4, "big") + body


def _frames(inbox: bytearray) -> Iterator[dict[str, Any]]:
    """Complete frames off the front of ``inbox``, leaving a partial one for the next read."""
    while len(inbox) >= 4:
        size = int.from_bytes(inbox[:4], "big")
        if len(inbox) < 4 + size:
            return
        body = bytes(inbox[4 : 4 + size])
        del inbox[: 4 + size]
        yield json.loads(body)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def load_runner(path: Path) -> ModuleType:
    """The runner script as a module, loaded by path: ``-I`` keeps the script's folder off ``sys.path``."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the sandbox runner {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(runner_path: str) -> None:
    runner = load_runner(Path(runner_path))
    start = getattr(runner, "start_spawner", None)
    spawn: Spawn = start() if start is not None else fork_spawner(runner.child)
    serve(spawn)


if __name__ == "__main__":
    main(sys.argv[1])
