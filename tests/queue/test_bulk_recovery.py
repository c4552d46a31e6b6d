"""Issue 11, done-when (b): a thousand executions on two ``tenantflow worker`` processes, one of them killed
with SIGKILL midway and started again. None is lost, none is left queued or running, all end within 30 s of
the restart, and every one stored exactly the node runs a normal run stores: the node a dead worker was
in the middle of runs again on the next worker and is stored once, as in a run nobody interrupted.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections import Counter
from contextlib import AbstractAsyncContextManager
from typing import Any, Final

import pytest
from sqlalchemy import func, select

from tenantflow.engine.record import utc_now
from tenantflow.store.audit import Actor
from tenantflow.store.models import AuditEntry, Execution, ExecutionNode
from tenantflow.store.unit import Unit
from tests.queue.conftest import Api, Workers, chain, create_workflow

pytestmark = pytest.mark.anyio

EXECUTIONS: Final = 1_000
KILL_AFTER: Final = EXECUTIONS // 3  # finished executions when the first worker dies
PROGRESS_SECONDS: Final = 30.0  # for the first third, before the kill
RECOVERY_SECONDS: Final = 30.0  # for all of them, from the restart
SUBMITTED_AT_ONCE: Final = 100  # requests in flight while submitting
CONCURRENCY: Final = 16  # per worker
PAUSE_SECONDS: Final = 0.05  # keeps a worker's executions in flight, so the kill interrupts some


def set_node(name: str, field: str, kind: str, value: str) -> dict[str, Any]:
    assignment = {"id": field, "name": field, "type": kind, "value": value}
    return {
        "id": name.lower(),
        "name": name,
        "type": "n8n-nodes-base.set",
        "typeVersion": 3.4,
        "parameters": {"assignments": {"assignments": [assignment]}, "options": {}},
    }


NODES: Final = [
    set_node("Double", "double", "number", "={{ $json.n * 2 }}"),
    {
        "id": "pause",
        "name": "Pause",
        "type": "n8n-nodes-base.wait",
        "typeVersion": 1.1,
        "parameters": {"resume": "timeInterval", "amount": PAUSE_SECONDS, "unit": "seconds"},
    },
    set_node("Label", "label", "string", "={{ 'double ' + $json.double }}"),
]


def expected_outputs(n: int) -> dict[str, Any]:
    """What each node of a run with trigger data ``{"n": n}`` outputs (one item on its one output)."""
    double = {"double": n * 2}
    outputs = {"Start": {"n": n}, "Double": double, "Pause": double, "Label": {"label": f"double {n * 2}"}}
    return {name: [[{"json": item, "pairedItem": {"item": 0}}]] for name, item in outputs.items()}


async def test_a_thousand_executions_survive_a_worker_killed_midway(api: Api, workers: Workers) -> None:
    workflow_id = await create_workflow(api.client, chain("bulk", NODES))
    both = [workers.start(CONCURRENCY), workers.start(CONCURRENCY)]
    numbers = await submit_all(api, workflow_id)

    at_kill = await finished_within(api, KILL_AFTER, timeout=PROGRESS_SECONDS)
    assert at_kill.total() - active(at_kill) >= KILL_AFTER, await explain(api, workers, at_kill, "too slow")
    doomed = await busiest(api, both)
    doomed.send_signal(signal.SIGKILL)
    doomed.wait()
    interrupted = await leased_by(api, doomed.pid)
    assert interrupted, await explain(api, workers, at_kill, f"worker {doomed.pid} ran nothing when killed")
    workers.start(CONCURRENCY)
    counts = await finished_within(api, EXECUTIONS, timeout=RECOVERY_SECONDS)

    assert counts == {"success": EXECUTIONS}, await explain(api, workers, counts, "not all ended in success")
    attempts = await stored_attempts(api)
    assert attempts.keys() == numbers.keys(), "an execution was lost, or one appeared"
    assert all(
        attempts[execution_id] > 1 for execution_id in interrupted
    )  # taken over: the dead one is fenced
    runs = await node_runs(api)
    for execution_id, n in numbers.items():
        expected = {(name, 0): output for name, output in expected_outputs(n).items()}
        assert runs.get(execution_id) == expected, await history(api, workers, execution_id)
    for execution_id in interrupted:  # the record the API shows of a resumed run is a normal run's
        record = (await api.client.get(f"/executions/{execution_id}")).json()
        assert record["status"] == "success", record
        shown = {name: (node["runs"], node["output"]) for name, node in record["state"].items()}
        expected_shown = {
            name: (1, output) for name, output in expected_outputs(numbers[execution_id]).items()
        }
        assert shown == expected_shown, record


async def submit_all(api: Api, workflow_id: str) -> dict[str, int]:
    """Queue EXECUTIONS runs through the API, ``SUBMITTED_AT_ONCE`` requests at a time: id -> its ``n``."""

    async def submit(n: int) -> tuple[str, int]:
        answer = await api.client.post(
            f"/workflows/{workflow_id}/execute", params={"wait": "false"}, json={"triggerData": {"n": n}}
        )
        assert answer.status_code == 202, answer.text
        return answer.json()["executionId"], n

    numbers: dict[str, int] = {}
    for first in range(0, EXECUTIONS, SUBMITTED_AT_ONCE):
        batch = range(first, min(first + SUBMITTED_AT_ONCE, EXECUTIONS))
        numbers.update(await asyncio.gather(*(submit(n) for n in batch)))
    assert len(numbers) == EXECUTIONS
    return numbers


async def finished_within(api: Api, at_least: int, *, timeout: float) -> Counter[str]:
    """The tenant's executions by status, once ``at_least`` of them have finished or ``timeout`` passed."""
    deadline = time.perf_counter() + timeout
    while (counts := await status_counts(api)).total() - active(counts) < at_least:
        if time.perf_counter() > deadline:
            break
        await asyncio.sleep(0.05)
    return counts


def active(counts: Counter[str]) -> int:
    return counts["queued"] + counts["running"]


def reading(api: Api) -> AbstractAsyncContextManager[Unit]:
    """A read of the test tenant's rows, straight from the store the app uses."""
    unit: AbstractAsyncContextManager[Unit] = api.app.state.runtime.store.unit(
        Actor(api.tenant), read_only=True
    )
    return unit


async def explain(api: Api, workers: Workers, counts: Counter[str], what: str) -> str:
    """Why ``what`` went wrong: the counts, each worker's claims and leases, a few executions still queued or
    running, and each worker's log."""
    async with reading(api) as unit:
        claimed = await unit.session.execute(
            select(AuditEntry.details).where(AuditEntry.operation == "execution.claim")
        )
        claims = Counter(details["leaseOwner"] for details in claimed.scalars())
        leased = await unit.session.execute(
            select(Execution.lease_owner).where(Execution.status == "running")
        )
        leases = Counter(leased.scalars())
        rows = await unit.session.execute(
            select(
                Execution.id,
                Execution.status,
                Execution.attempt,
                Execution.lease_owner,
                Execution.lease_expires_at,
                Execution.created_at,
            )
            .where(Execution.status.in_(("queued", "running")))
            .order_by(Execution.status.desc())
            .limit(8)
        )
        shown = "\n".join(str(row._asdict()) for row in rows.all())
    return (
        f"{what}: {dict(counts)} at {utc_now().isoformat()}; claims by worker {dict(claims)}, "
        f"running by worker {dict(leases)}\n{shown}\n{worker_logs(workers)}"
    )


async def history(api: Api, workers: Workers, execution_id: str) -> str:
    """One execution's story, for a failure: its row, its stored node runs, its audit trail, its log lines."""
    async with reading(api) as unit:
        summary = await unit.session.execute(
            select(Execution.status, Execution.attempt, Execution.started_at, Execution.finished_at).where(
                Execution.id == execution_id
            )
        )
        nodes = await unit.session.execute(
            select(
                ExecutionNode.id, ExecutionNode.node_name, ExecutionNode.run_index, ExecutionNode.finished_at
            ).where(ExecutionNode.execution_id == execution_id)
        )
        trail = await unit.session.execute(
            select(AuditEntry.created_at, AuditEntry.operation, AuditEntry.outcome, AuditEntry.details)
            .where(AuditEntry.target_id == execution_id)
            .order_by(AuditEntry.id)
        )
        lines = [
            *(str(row._asdict()) for row in summary.all()),
            *(f"node {node._asdict()}" for node in nodes.all()),
            *(f"audit {entry._asdict()}" for entry in trail.all()),
        ]
    return f"execution {execution_id}:\n" + "\n".join(lines) + "\n" + worker_logs(workers)


def worker_logs(workers: Workers) -> str:
    """Each worker's log without the receiver's line per message: its last warnings and errors."""
    logs = []
    for log in sorted(workers.log_dir.iterdir()):
        lines = [
            line for line in log.read_text(errors="replace").splitlines() if "Executing task" not in line
        ]
        logs.append(f"--- {log.name}\n" + "\n".join(lines)[-3000:])
    return "\n".join(logs)


async def status_counts(api: Api) -> Counter[str]:
    async with reading(api) as unit:
        rows = await unit.session.execute(select(Execution.status, func.count()).group_by(Execution.status))
    return Counter({status: count for status, count in rows.all()})


async def busiest(api: Api, processes: list[subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    """The worker process that runs the most executions now. Either may briefly run none: one tenant's
    claimers take turns under its advisory lock, and all of a worker's may be waiting for it at once."""
    async with reading(api) as unit:
        owners = await unit.session.execute(
            select(Execution.lease_owner).where(Execution.status == "running")
        )
        pids = Counter(int(owner.split(":")[-2]) for owner in owners.scalars() if owner)
    return max(processes, key=lambda process: pids[process.pid])


async def leased_by(api: Api, pid: int) -> list[str]:
    """The executions running under a lease of the worker process ``pid`` (owners are host:pid:random)."""
    async with reading(api) as unit:
        rows = await unit.session.execute(
            select(Execution.id).where(
                Execution.status == "running", Execution.lease_owner.like(f"%:{pid}:%")
            )
        )
    return list(rows.scalars())


async def stored_attempts(api: Api) -> dict[str, int]:
    """Every execution of the tenant, with the attempt that finished it."""
    async with reading(api) as unit:
        rows = await unit.session.execute(select(Execution.id, Execution.attempt))
    return {execution_id: attempt for execution_id, attempt in rows}


async def node_runs(api: Api) -> dict[str, dict[tuple[str, int], Any]]:
    """Every stored node run of the tenant's executions: execution id -> (node, run index) -> output."""
    found: dict[str, dict[tuple[str, int], Any]] = {}
    async with reading(api) as unit:
        rows = await unit.session.execute(
            select(
                ExecutionNode.execution_id,
                ExecutionNode.node_name,
                ExecutionNode.run_index,
                ExecutionNode.status,
                ExecutionNode.output,
            )
        )
        for execution_id, name, run_index, status, output in rows.all():
            assert status == "success", (execution_id, name, status)
            found.setdefault(execution_id, {})[(name, run_index)] = output
    return found
