"""The Code node's fork server: one process per job, shared across event loops, restarted when it dies."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tenantflow.engine.errors import NodeError
from tenantflow.nodes.n8n.code import SandboxJob, SandboxLimits, run_sandbox
from tenantflow.nodes.n8n.code.server import SERVER

pytestmark = pytest.mark.anyio

LIMITS = SandboxLimits(timeout=5.0)


def _job(code: str) -> SandboxJob:
    return SandboxJob("runOnceForAllItems", code, {"items": [], "nodeOutputs": {}, "pairedItems": {}})


def _server_pid() -> int:
    pid = SERVER.pid
    assert pid is not None
    return pid


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.update(int(child) for child in (task / "children").read_text().split())
    return found


async def test_each_job_runs_in_its_own_process_and_jobs_run_side_by_side() -> None:
    code = "await new Promise((resolve) => setTimeout(resolve, 1000)); return [{ process: typeof process }];"
    started = time.monotonic()
    replies = await asyncio.gather(*(run_sandbox(_job(code), LIMITS) for _ in range(4)))
    assert [reply["ok"] for reply in replies] == [[{"process": "undefined"}]] * 4
    assert time.monotonic() - started < 3  # four one-second waits side by side, not one after another


async def _runaway_job() -> tuple[int, int, asyncio.Future[dict[str, Any]]]:
    """A job that never ends on its own: (server pid, job pid, the running job)."""
    await run_sandbox(_job("return [];"), LIMITS)  # the server is up
    server = _server_pid()
    task = asyncio.ensure_future(run_sandbox(_job("while (true) {}"), SandboxLimits(timeout=30.0)))
    for _ in range(100):
        await asyncio.sleep(0.02)
        if _children(server):
            return server, next(iter(_children(server))), task
    raise AssertionError("the job's process never started")


async def test_a_cancelled_job_has_its_process_killed() -> None:
    server, _, task = await _runaway_job()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(100):
        if not _children(server):
            break
        await asyncio.sleep(0.02)
    assert not _children(server)


async def test_the_server_is_started_again_after_it_dies() -> None:
    await run_sandbox(_job("return [];"), LIMITS)
    os.kill(_server_pid(), signal.SIGKILL)
    for _ in range(100):  # its reader thread notices and forgets it
        if SERVER.pid is None:
            break
        await asyncio.sleep(0.02)
    reply = await run_sandbox(_job("return [{ again: true }];"), LIMITS)
    assert reply["ok"] == [{"again": True}]


async def test_the_server_has_an_empty_environment() -> None:
    await run_sandbox(_job("return [];"), LIMITS)
    environ = Path(f"/proc/{_server_pid()}/environ").read_bytes()
    assert environ == b""


async def test_jobs_in_flight_when_the_server_dies_fail_as_retryable() -> None:
    server, job, task = await _runaway_job()
    os.kill(server, signal.SIGKILL)
    with pytest.raises(NodeError) as failed:
        await asyncio.wait_for(task, 10)
    assert failed.value.retryable and "stopped before the script finished" in failed.value.message
    for _ in range(100):  # the runaway script went with its server
        if not Path(f"/proc/{job}").exists() or "Z" in Path(f"/proc/{job}/stat").read_text().split()[2]:
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError("the job's process outlived its server")
