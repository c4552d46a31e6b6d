"""Execution store contract: lifecycle, checkpoints, idempotency, keyset lists, tenancy and audit.

A mixin, composed per backend in ``test_store_contract.py`` (which provides ``database_url``).
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import func, select

from tenantflow.engine.errors import ErrorCode
from tenantflow.engine.executor import execute
from tenantflow.engine.record import ExecutionRecord, LogEntry, Metrics, NodeState
from tenantflow.store.audit import Actor
from tenantflow.store.errors import (
    AccessDeniedError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    StoreError,
)
from tenantflow.store.executions import (
    ExecutionProgress,
    ExecutionRepository,
    ExecutionSummary,
    FinishedRun,
    QueuedExecution,
)
from tenantflow.store.models import AuditEntry, Execution, ExecutionLog, ExecutionNode, Workflow
from tenantflow.store.secrets import Keyring
from tenantflow.store.unit import Store, Unit
from tests.store.contract_binaries import BinaryStoreContract
from tests.store.factories import chain_document, engine_events, insert_workflow_row, walk

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


async def new_workflow(store: Store, actor: Actor) -> str:
    async with store.unit(actor) as unit:
        return await insert_workflow_row(unit)


async def insert_executions(store: Store, actor: Actor, rows: list[dict[str, Any]]) -> list[str]:
    """Execution rows written straight through the ORM (explicit times, statuses), ids returned in order."""
    ids = []
    async with store.unit(actor) as unit:
        for row in rows:
            execution = Execution(
                **{"id": str(uuid.uuid4()), "status": "success", "trigger_kind": "manual", **row}
            )
            unit.session.add(execution)
            ids.append(execution.id)
    return ids


async def audit_entries(store: Store, tenant_id: str, target_id: str) -> list[AuditEntry]:
    """``tenant_id``'s audit rows about one target, read through a unit of that tenant."""
    async with store.unit(Actor(tenant_id), read_only=True) as unit:
        rows = await unit.session.scalars(
            select(AuditEntry).where(AuditEntry.target_id == target_id).order_by(AuditEntry.id)
        )
        return list(rows)


async def count_rows(store: Store, actor: Actor, model: Any, execution_id: str) -> int:
    async with store.unit(actor, read_only=True) as unit:
        column = model.execution_id if model is not Execution else model.id
        return int(await unit.session.scalar(select(func.count()).where(column == execution_id)) or 0)


async def raises(
    store: Store, actor: Actor, call: Callable[[Unit], Awaitable[Any]], kind: type[StoreError]
) -> StoreError:
    """Run ``call`` in its own unit and return the error it must raise."""
    with pytest.raises(kind) as caught:
        async with store.unit(actor) as unit:
            await call(unit)
    return caught.value


def unsigned_cursor(created_at: datetime, ident: str) -> str:
    """A cursor as lists once handed them out: the base64 JSON of a position, with no signature."""
    payload = json.dumps({"c": created_at.isoformat(), "i": ident}).encode()
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def node(output: list[dict[str, Any]], *, status: str = "success", seconds: float = 0.0) -> dict[str, Any]:
    """A ``node.finished`` event's state dict, with the record's ISO times."""
    start = T0 + timedelta(seconds=seconds)
    return {
        "status": status,
        "output": [output],
        "attempts": 1,
        "error": None,
        "startTime": start.isoformat(),
        "endTime": (start + timedelta(milliseconds=250)).isoformat(),
    }


class ExecutionStoreContract(BinaryStoreContract):
    # ----- create, idempotency --------------------------------------------------------------------
    async def test_execution_create_queues_with_workflow_version_and_audit(
        self, store: Store, actor_a: Actor
    ) -> None:
        workflow_id = await new_workflow(store, actor_a)
        async with store.unit(actor_a) as unit:
            created = await unit.executions.create(workflow_id, trigger_kind="webhook", input={"order": 7})
        assert (created.status, created.workflow_id, created.workflow_version) == ("queued", workflow_id, 1)
        assert (created.trigger_kind, created.created_by, created.started_at) == ("webhook", "user-a", None)
        async with store.unit(actor_a) as unit:
            view = await unit.executions.get(created.id)
        shown = view.to_dict()
        assert shown["input"] == {"order": 7}
        assert (shown["status"], shown["state"], shown["logs"], shown["startTime"]) == (
            "queued",
            {},
            [],
            None,
        )
        assert shown["metrics"] == Metrics().to_dict()
        [entry] = await audit_entries(store, actor_a.tenant_id, created.id)
        assert (entry.operation, entry.outcome, entry.user_id) == ("execution.create", "ok", "user-a")

    async def test_execution_create_without_workflow_and_unknown_workflow(
        self, store: Store, actor_a: Actor
    ) -> None:
        async with store.unit(actor_a) as unit:
            adhoc = await unit.executions.create(None, workflow_version=3)
        assert (adhoc.workflow_id, adhoc.workflow_version) == (None, 3)
        error = await raises(
            store, actor_a, lambda unit: unit.executions.create("no-such-workflow"), NotFoundError
        )
        assert error.code == ErrorCode.WORKFLOW_NOT_FOUND

    async def test_execution_idempotency_key_returns_existing_and_refuses_other_workflow(
        self, store: Store, actor_a: Actor, actor_b: Actor
    ) -> None:
        first_wf, second_wf = await new_workflow(store, actor_a), await new_workflow(store, actor_a)
        async with store.unit(actor_a) as unit:
            first = await unit.executions.create(first_wf, idempotency_key="order-7")
        async with store.unit(actor_a) as unit:
            again = await unit.executions.create(first_wf, idempotency_key="order-7")
        assert again.id == first.id
        error = await raises(
            store,
            actor_a,
            lambda unit: unit.executions.create(second_wf, idempotency_key="order-7"),
            ConflictError,
        )
        assert (error.code, error.path) == (ErrorCode.IDEMPOTENCY_CONFLICT, "$.idempotencyKey")
        async with store.unit(actor_b) as unit:  # keys are per tenant
            other = await unit.executions.create(None, idempotency_key="order-7")
        assert other.id != first.id
        async with store.unit(actor_a, read_only=True) as unit:
            page = await unit.executions.list()
        assert [item.id for item in page.items] == [first.id]

    async def test_execution_idempotency_race_makes_one_row(self, store: Store, actor_a: Actor) -> None:
        workflow_id = await new_workflow(store, actor_a)

        async def create() -> str:
            async with store.unit(actor_a) as unit:
                return (await unit.executions.create(workflow_id, idempotency_key="race")).id

        ids = await asyncio.gather(*(create() for _ in range(20)))
        assert len(set(ids)) == 1
        async with store.unit(actor_a, read_only=True) as unit:
            count = await unit.session.scalar(
                select(func.count()).select_from(Execution).where(Execution.idempotency_key == "race")
            )
        assert count == 1
        creations = [e for e in await audit_entries(store, actor_a.tenant_id, ids[0]) if e.outcome == "ok"]
        assert len(creations) == 1

    async def test_execution_ids_are_the_stores_to_make(
        self, store: Store, actor_a: Actor, actor_b: Actor
    ) -> None:
        """No caller names an execution id, so none can learn that another tenant uses one by reusing it."""
        for method in (ExecutionRepository.create, ExecutionRepository.save_record):
            assert not {"id", "execution_id"} & set(inspect.signature(method).parameters)
        async with store.unit(actor_a) as unit:
            theirs = await unit.executions.create()
        assert uuid.UUID(theirs.id).version == 4
        record = ExecutionRecord(theirs.id, None, "success", T0, T0 + timedelta(seconds=1))
        async with store.unit(actor_b) as unit:  # B's record claims A's id: stored under a new one
            mine = await unit.executions.save_record(record)
            again = await unit.executions.save_record(record)
        assert len({theirs.id, mine.id, again.id}) == 3 and uuid.UUID(mine.id).version == 4
        async with store.unit(actor_a, read_only=True) as unit:
            assert (await unit.executions.get(theirs.id)).status == "queued"
        assert await audit_entries(store, actor_a.tenant_id, mine.id) == []

    # ----- lifecycle ------------------------------------------------------------------------------
    async def test_execution_lifecycle_checkpoints_logs_and_finish(
        self, store: Store, actor_a: Actor
    ) -> None:
        workflow_id = await new_workflow(store, actor_a)
        async with store.unit(actor_a) as unit:
            created = await unit.executions.create(workflow_id)
            started = await unit.executions.start(created.id, lease_owner="worker-1", lease_seconds=30)
        assert started.status == "running" and started.started_at is not None
        async with store.unit(actor_a) as unit:
            executions = unit.executions
            await executions.append_node(created.id, "Start", node([{"json": {"a": 1}}]), run_index=0)
            for run in range(3):  # a loop body, checkpointed per run
                await executions.append_node(
                    created.id, "Loop", node([{"json": {"run": run}}], seconds=run), run_index=run
                )
            retried = NodeState("error", [[{"json": {"first": True}}]], error={"message": "boom"})
            await executions.append_node(created.id, "Last", retried, run_index=0)
            fixed = NodeState("success", [[{"json": {"n": 1}}, {"json": {"n": 2}}]], attempts=2)
            await executions.append_node(created.id, "Last", fixed, run_index=0)  # a retried checkpoint
            written = await executions.append_logs(
                created.id,
                [
                    LogEntry(T0, "info", "first"),
                    {"timestamp": T0.isoformat(), "level": "warn", "message": "second", "node": "Loop"},
                    LogEntry(T0, "debug", "third", data={"k": 1}),
                ],
            )
        assert written == 3
        finished_at = started.started_at + timedelta(seconds=2)
        async with store.unit(actor_a) as unit:
            done = await unit.executions.finish(
                created.id,
                status="success",
                metrics=Metrics(nodes_executed=5, success_nodes=5),
                finished_at=finished_at,
            )
        assert (done.status, done.duration_ms, done.finished_at) == ("success", 2000.0, finished_at)
        async with store.unit(actor_a, read_only=True) as unit:
            shown = (await unit.executions.get(created.id)).to_dict()
            workflow = await unit.session.get(Workflow, workflow_id)
        assert list(shown["state"]) == ["Start", "Loop", "Last"]
        assert shown["state"]["Loop"]["runs"] == 3
        assert shown["state"]["Loop"]["output"] == [[{"json": {"run": 2}}]]
        assert shown["state"]["Loop"]["duration"] == 250.0
        assert shown["state"]["Last"] == {
            "status": "success",
            "runs": 1,
            "output": [[{"json": {"n": 1}}, {"json": {"n": 2}}]],
            "error": None,
            "attempts": 2,
            "startTime": None,
            "endTime": None,
            "duration": None,
        }
        assert [entry["message"] for entry in shown["logs"]] == ["first", "second", "third"]
        assert shown["logs"][1] == {
            "timestamp": "2026-01-01T12:00:00.000Z",
            "level": "warn",
            "message": "second",
            "node": "Loop",
        }
        assert shown["metrics"]["nodesExecuted"] == 5 and shown["duration"] == 2000.0
        assert await count_rows(store, actor_a, ExecutionNode, created.id) == 5
        assert workflow is not None
        assert (workflow.execution_count, workflow.last_execution_status) == (1, "success")
        assert workflow.average_execution_time == 2000.0
        operations = [e.operation for e in await audit_entries(store, actor_a.tenant_id, created.id)]
        assert operations == ["execution.create", "execution.start", "execution.finish"]

    # ----- group commit --------------------------------------------------------------------------
    async def test_execution_write_batch_stores_runs_that_ended_with_their_rows(
        self, store: Store, actor_a: Actor
    ) -> None:
        """A run that ended before its row was written is inserted finished; beside it in one batch, a
        row still running and progress of a row written before; results come back in request order."""
        workflow_id = await new_workflow(store, actor_a)
        async with store.unit(actor_a) as unit:
            earlier = await unit.executions.create(workflow_id)
        ended = QueuedExecution(actor_a, workflow_id, 1, "api", {"n": 1})
        running = QueuedExecution(actor_a, workflow_id, 1)
        finish = FinishedRun("success", None, Metrics(nodes_executed=1), T0 + timedelta(seconds=2))
        progress = [
            ExecutionProgress(earlier.id, started_at=T0),
            ExecutionProgress(
                ended.id, T0, [("Start", 0, node([{"json": {"a": 1}}]))], [LogEntry(T0, "info", "hi")], finish
            ),
            ExecutionProgress(running.id, started_at=T0),
        ]
        async with store.unit(actor_a) as unit:
            made, done = await unit.executions.write_batch([ended, running], progress)
        assert [(summary.id, new) for summary, new in made] == [(ended.id, True), (running.id, True)]
        assert [(summary.id, summary.status) for summary in done] == [
            (earlier.id, "running"),
            (ended.id, "success"),
            (running.id, "running"),
        ]
        assert done[1] == made[0][0] and done[1].duration_ms == 2000.0
        async with store.unit(actor_a, read_only=True) as unit:
            shown = (await unit.executions.get(ended.id)).to_dict()
            workflow = await unit.session.get(Workflow, workflow_id)
        assert (shown["status"], shown["triggerKind"], shown["input"]) == ("success", "api", {"n": 1})
        assert shown["state"]["Start"]["output"] == [[{"json": {"a": 1}}]]
        assert [entry["message"] for entry in shown["logs"]] == ["hi"]
        assert shown["metrics"]["nodesExecuted"] == 1
        assert workflow is not None and (workflow.execution_count, workflow.last_execution_status) == (
            1,
            "success",
        )
        operations = [e.operation for e in await audit_entries(store, actor_a.tenant_id, ended.id)]
        assert operations == ["execution.create", "execution.start", "execution.finish"]

    async def test_execution_write_batch_clears_cached_stats_once(
        self, store: Store, actor_a: Actor, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Creating, starting, finishing and counting runs of two workflows in one unit clear their cached
        stats in one call (with Redis: one round trip), after the commit."""
        first, second = await new_workflow(store, actor_a), await new_workflow(store, actor_a)
        tenant = actor_a.tenant_id
        for workflow_id in (first, second):  # cached stats the batch must clear
            assert await store.cache.get_stats(tenant, workflow_id, "24h") is None
            await store.cache.put_stats(tenant, workflow_id, "24h", {"total": 0})
            assert await store.cache.get_stats(tenant, workflow_id, "24h") == {"total": 0}
        calls: list[tuple[str, ...]] = []
        clear = store.cache.executions_changed

        async def counted(tenant_id: str, *workflow_ids: str) -> None:  # counts, then clears for real
            calls.append((tenant_id, *workflow_ids))
            await clear(tenant_id, *workflow_ids)

        monkeypatch.setattr(store.cache, "executions_changed", counted)
        requests = [QueuedExecution(actor_a, first, 1), QueuedExecution(actor_a, second, 1)]
        finish = FinishedRun("success", None, Metrics(), T0)
        progress = [ExecutionProgress(request.id, T0, finish=finish) for request in requests]
        async with store.unit(actor_a) as unit:
            await unit.executions.write_batch(requests, progress)
            assert calls == []
        assert calls == [(tenant, *sorted([first, second]))]
        for workflow_id in (first, second):
            assert await store.cache.get_stats(tenant, workflow_id, "24h") is None

    async def test_execution_write_batch_of_ended_runs_refuses_a_missing_workflow(
        self, store: Store, actor_a: Actor, actor_b: Actor
    ) -> None:
        """Without the workflow lookup (every run ended, every version known), counting the runs on the
        workflow still refuses an absent or foreign workflow, and nothing is written."""
        foreign = await new_workflow(store, actor_b)
        for workflow_id, kind in (("no-such-workflow", NotFoundError), (foreign, AccessDeniedError)):
            request = QueuedExecution(actor_a, workflow_id, 1)
            progress = ExecutionProgress(request.id, T0, finish=FinishedRun("success", None, Metrics(), T0))

            async def write(
                unit: Unit, request: QueuedExecution = request, progress: ExecutionProgress = progress
            ) -> Any:
                return await unit.executions.write_batch([request], [progress])

            error = await raises(store, actor_a, write, kind)
            assert error.code in (ErrorCode.WORKFLOW_NOT_FOUND, ErrorCode.CROSS_TENANT_ACCESS_DENIED)
            assert await count_rows(store, actor_a, Execution, request.id) == 0
        async with store.unit(actor_a, read_only=True) as unit:
            outcomes = await unit.session.scalars(
                select(AuditEntry.outcome)
                .where(AuditEntry.operation == "execution.create")
                .order_by(AuditEntry.id)
            )
            assert list(outcomes) == ["error", "denied"]

    async def test_execution_write_batch_of_ended_runs_writes_all_or_nothing(
        self, store: Store, actor_a: Actor
    ) -> None:
        """A batch of runs that all ended (on PostgreSQL, one statement): every run's row, its node runs
        (a node checkpointed twice keeps its last state), logs, audit rows and counts land; when one
        workflow of the batch is missing, nothing does, not even the other workflow's count."""
        first, second = await new_workflow(store, actor_a), await new_workflow(store, actor_a)
        finish = FinishedRun("error", {"message": "bad \x00 value"}, Metrics(nodes_executed=2), T0)
        requests = [QueuedExecution(actor_a, first, 1), QueuedExecution(actor_a, second, 1)]
        progress = [
            ExecutionProgress(
                request.id,
                T0,
                [("A", 0, node([{"json": {"try": 1}}])), ("A", 0, node([{"json": {"n": float("nan")}}]))],
                [LogEntry(T0, "warn", f"log {index}", node="A")],
                finish,
            )
            for index, request in enumerate(requests)
        ]
        async with store.unit(actor_a) as unit:
            made, done = await unit.executions.write_batch(requests, progress)
        assert [summary.status for summary, _ in made] == ["error", "error"] and done == [s for s, _ in made]
        async with store.unit(actor_a, read_only=True) as unit:
            shown = [(await unit.executions.get(request.id)).to_dict() for request in requests]
            counts = [(await unit.session.get(Workflow, w)).execution_count for w in (first, second)]  # type: ignore[union-attr]
        assert [view["state"]["A"]["output"] for view in shown] == [[[{"json": {"n": None}}]]] * 2
        assert [[entry["message"] for entry in view["logs"]] for view in shown] == [["log 0"], ["log 1"]]
        assert shown[0]["error"]["message"] == "bad \ufffd value" and counts == [1, 1]
        for request in requests:
            operations = [e.operation for e in await audit_entries(store, actor_a.tenant_id, request.id)]
            assert operations == ["execution.create", "execution.start", "execution.finish"]

        again = [QueuedExecution(actor_a, first, 1), QueuedExecution(actor_a, "no-such-workflow", 1)]
        ended = [ExecutionProgress(request.id, T0, finish=finish) for request in again]

        async def write(unit: Unit) -> Any:
            return await unit.executions.write_batch(again, ended)

        await raises(store, actor_a, write, NotFoundError)
        for request in again:
            assert await count_rows(store, actor_a, Execution, request.id) == 0
        async with store.unit(actor_a, read_only=True) as unit:
            assert (await unit.session.get(Workflow, first)).execution_count == 1  # type: ignore[union-attr]

    async def test_execution_get_can_skip_nodes_and_logs(self, store: Store, actor_a: Actor) -> None:
        async with store.unit(actor_a) as unit:
            created = await unit.executions.create()
            await unit.executions.append_node(created.id, "A", node([{"json": {}}]), run_index=0)
            await unit.executions.append_logs(created.id, [LogEntry(T0, "info", "hello")])
        with engine_events(store, "before_cursor_execute", "FROM execution_") as seen:
            async with store.unit(actor_a, read_only=True) as unit:
                bare = await unit.executions.get(created.id, include_nodes=False, include_logs=False)
        assert (bare.state, bare.logs, seen) == ({}, [], [])

    async def test_execution_finish_from_queued_times_from_creation(
        self, store: Store, actor_a: Actor
    ) -> None:
        async with store.unit(actor_a) as unit:
            created = await unit.executions.create()
            done = await unit.executions.finish(
                created.id,
                status="aborted",
                error={"message": "cancelled"},
                finished_at=created.created_at + timedelta(milliseconds=1500),
            )
        assert (done.status, done.duration_ms, done.error) == ("aborted", 1500.0, {"message": "cancelled"})

    async def test_execution_finished_refuses_every_write(self, store: Store, actor_a: Actor) -> None:
        async with store.unit(actor_a) as unit:
            created = await unit.executions.create()
            await unit.executions.start(created.id)
            await unit.executions.finish(created.id, status="error", error={"message": "x"})
        ident = created.id
        calls: list[Callable[[Unit], Awaitable[Any]]] = [
            lambda unit: unit.executions.start(ident),
            lambda unit: unit.executions.append_node(ident, "A", node([]), run_index=0),
            lambda unit: unit.executions.append_logs(ident, [LogEntry(T0, "info", "late")]),
            lambda unit: unit.executions.finish(ident, status="success"),
            lambda unit: unit.executions.request_abort(ident),
        ]
        for call in calls:
            error = await raises(store, actor_a, call, ConflictError)
            assert error.code == ErrorCode.EXECUTION_FINISHED
        assert await count_rows(store, actor_a, ExecutionNode, ident) == 0
        assert await count_rows(store, actor_a, ExecutionLog, ident) == 0
        refusals = [e for e in await audit_entries(store, actor_a.tenant_id, ident) if e.outcome == "error"]
        assert [(e.operation, e.error_code) for e in refusals] == [
            (operation, "EXECUTION_FINISHED")
            for operation in (
                "execution.start",
                "execution.append_node",
                "execution.append_logs",
                "execution.finish",
                "execution.abort",
            )
        ]

    async def test_execution_start_twice_and_bad_arguments_are_refused(
        self, store: Store, actor_a: Actor
    ) -> None:
        async with store.unit(actor_a) as unit:
            created = await unit.executions.create()
            await unit.executions.start(created.id)
        ident = created.id
        bad: list[tuple[Callable[[Unit], Awaitable[Any]], type[StoreError], str]] = [
            (lambda unit: unit.executions.start(ident), ConflictError, "$.status"),
            (lambda unit: unit.executions.finish(ident, status="running"), InvalidRequestError, "$.status"),
            (
                lambda unit: unit.executions.finish(
                    ident, status="success", finished_at=datetime(2026, 1, 1)
                ),
                InvalidRequestError,
                "$.finishedAt",
            ),
            (
                lambda unit: unit.executions.append_node(ident, "A", node([]), run_index=-1),
                InvalidRequestError,
                "$.runIndex",
            ),
            (
                lambda unit: unit.executions.append_node(ident, "A", {"startTime": "yesterday"}, run_index=0),
                InvalidRequestError,
                "$.startTime",
            ),
            (
                lambda unit: unit.executions.append_logs(ident, [{"level": "info"}]),
                InvalidRequestError,
                "$.logs[0]",
            ),
            (
                lambda unit: unit.executions.create(trigger_kind="x" * 33),
                InvalidRequestError,
                "$.triggerKind",
            ),
        ]
        for call, kind, path in bad:
            assert (await raises(store, actor_a, call, kind)).path == path

    async def test_execution_abort_flag(self, store: Store, actor_a: Actor, actor_b: Actor) -> None:
        async with store.unit(actor_a) as unit:
            created, other = await unit.executions.create(), await unit.executions.create()
            assert await unit.executions.aborts_requested([created.id, other.id]) == set()
        async with store.unit(actor_a) as unit:
            assert (await unit.executions.request_abort(created.id)).abort_requested is True
        async with store.unit(actor_a, read_only=True) as unit:
            assert await unit.executions.aborts_requested([created.id, other.id]) == {created.id}
            assert await unit.executions.aborts_requested([]) == set()
        async with store.unit(actor_b, read_only=True) as unit:  # another tenant's flag reads as unset
            assert await unit.executions.aborts_requested([created.id]) == set()
        operations = [e.operation for e in await audit_entries(store, actor_a.tenant_id, created.id)]
        assert operations == ["execution.create", "execution.abort"]

    async def test_execution_unknown_id_is_not_found_everywhere(self, store: Store, actor_a: Actor) -> None:
        ident = str(uuid.uuid4())
        for call in _every_call(ident):
            error = await raises(store, actor_a, call, NotFoundError)
            assert error.code == ErrorCode.EXECUTION_NOT_FOUND
        writes = await audit_entries(store, actor_a.tenant_id, ident)
        assert {(e.outcome, e.error_code) for e in writes} == {("error", "EXECUTION_NOT_FOUND")}
        assert len(writes) == 5  # writes are audited, reads of a missing id are not

    # ----- save_record ----------------------------------------------------------------------------
    async def test_execution_save_record_round_trips_the_record(self, store: Store, actor_a: Actor) -> None:
        workflow_id = await new_workflow(store, actor_a)
        record = await execute(chain_document("saved", length=3), registry=store.registry)
        record.logs.append(LogEntry(record.start_time, "info", "ran", node="Step 1", data={"items": 1}))
        record.state["Step 2"].runs = 4  # as after a loop: only the latest run is in the record
        assert record.status == "success" and len(record.state) == 3
        async with store.unit(actor_a) as unit:
            saved = await unit.executions.save_record(record, workflow_id=workflow_id, input=[{"json": {}}])
        async with store.unit(actor_a, read_only=True) as unit:
            reread = await unit.executions.get(saved.id)
        assert saved.id != record.id  # the store makes execution ids
        expected = record.to_dict()
        for shown in (saved.to_dict(), reread.to_dict()):
            for key in expected.keys() - {"id", "workflowId"}:
                assert shown[key] == expected[key], key
            assert shown["workflowId"] == workflow_id
        async with store.unit(actor_a) as unit:  # saved twice without a key: two executions
            assert (await unit.executions.save_record(record)).id != saved.id
        keyed: list[str] = []
        for _ in range(2):  # with a key, saving again replays the first save
            async with store.unit(actor_a) as unit:
                keyed.append((await unit.executions.save_record(record, idempotency_key="cli-run")).id)
        assert keyed[0] == keyed[1]
        assert await count_rows(store, actor_a, ExecutionNode, keyed[0]) == 3
        failed = ExecutionRecord(str(uuid.uuid4()), None, "error", T0, T0 + timedelta(seconds=1))
        failed.error = {"message": "boom", "code": "NODE_EXECUTION_FAILED"}
        async with store.unit(actor_a) as unit:
            shown = (await unit.executions.save_record(failed)).to_dict()
        assert (shown["status"], shown["error"], shown["duration"]) == ("error", failed.error, 1000.0)

    # ----- list -----------------------------------------------------------------------------------
    async def test_execution_list_keyset_walks_every_row_once_in_order(
        self, store: Store, actor_a: Actor
    ) -> None:
        # Groups of three share a created_at, so the id tie-break decides order inside each.
        rows = [{"created_at": T0 + timedelta(seconds=index // 3)} for index in range(23)]
        await insert_executions(store, actor_a, rows)
        async with store.unit(actor_a, read_only=True) as unit:
            everything = await unit.session.execute(
                select(Execution.created_at, Execution.id).order_by(
                    Execution.created_at.desc(), Execution.id.desc()
                )
            )
            expected = [ident for _, ident in everything]
            seen, pages = await walk(lambda cursor: unit.executions.list(limit=5, cursor=cursor))
        assert [item.id for item in seen] == expected and len(seen) == 23 and pages == 5

    async def test_execution_list_filters(self, store: Store, actor_a: Actor) -> None:
        first_wf, second_wf = await new_workflow(store, actor_a), await new_workflow(store, actor_a)
        plan = [
            (first_wf, "success"),
            (first_wf, "error"),
            (second_wf, "error"),
            (first_wf, "running"),
            (None, "error"),
            (first_wf, "error"),
        ]
        ids = await insert_executions(
            store,
            actor_a,
            [
                {"workflow_id": wf, "status": status, "created_at": T0 + timedelta(minutes=index)}
                for index, (wf, status) in enumerate(plan)
            ],
        )
        newest_first = list(reversed(ids))

        async def listed(**filters: Any) -> list[str]:
            async with store.unit(actor_a, read_only=True) as unit:
                return [item.id for item in (await unit.executions.list(**filters)).items]

        def expect(keep: Callable[[int], bool]) -> list[str]:
            return [ident for ident in newest_first if keep(ids.index(ident))]

        assert await listed(workflow_id=first_wf) == expect(lambda i: plan[i][0] == first_wf)
        assert await listed(status="error") == expect(lambda i: plan[i][1] == "error")
        assert await listed(status=["running", "success"]) == expect(lambda i: plan[i][1] != "error")
        assert await listed(workflow_id=first_wf, status="error") == [ids[5], ids[1]]
        window = {"created_after": T0, "created_before": T0 + timedelta(minutes=4)}
        assert await listed(**window) == [ids[3], ids[2], ids[1]]
        async with store.unit(actor_a, read_only=True) as unit:
            page = await unit.executions.list(workflow_id=first_wf, status="error", limit=1)
            rest = await unit.executions.list(workflow_id=first_wf, status="error", cursor=page.next_cursor)
        assert ([i.id for i in page.items], [i.id for i in rest.items]) == ([ids[5]], [ids[1]])
        assert isinstance(page.items[0], ExecutionSummary)
        assert set(page.to_dict()) == {"items", "nextCursor", "hasMore"}
        assert "state" not in page.to_dict()["items"][0] and "input" not in page.to_dict()["items"][0]

    async def test_execution_list_takes_one_query_per_page(self, store: Store, actor_a: Actor) -> None:
        await insert_executions(
            store, actor_a, [{"created_at": T0 + timedelta(seconds=i)} for i in range(12)]
        )
        async with store.unit(actor_a) as unit:
            created = await unit.executions.create()
            await unit.executions.append_node(
                created.id, "A", node([{"json": {"big": "x" * 100}}]), run_index=0
            )
        with engine_events(store, "before_cursor_execute", "FROM execution") as seen:
            async with store.unit(actor_a, read_only=True) as unit:
                page = await unit.executions.list(limit=10)
                await unit.executions.list(limit=10, cursor=page.next_cursor)
        assert len(seen) == 2
        assert all("execution_nodes" not in statement and "input" not in statement for statement in seen)

    async def test_execution_list_refuses_bad_cursor_limit_and_filters(
        self, store: Store, actor_a: Actor
    ) -> None:
        bad: list[tuple[dict[str, Any], ErrorCode, str]] = [
            ({"cursor": "not a cursor"}, ErrorCode.INVALID_CURSOR, "$.cursor"),
            ({"cursor": "e30"}, ErrorCode.INVALID_CURSOR, "$.cursor"),  # "{}"
            ({"cursor": "x" * 10_000}, ErrorCode.INVALID_CURSOR, "$.cursor"),
            ({"cursor": unsigned_cursor(T0, "x")}, ErrorCode.INVALID_CURSOR, "$.cursor"),
            ({"limit": 0}, ErrorCode.INVALID_PAGINATION, "$.limit"),
            ({"limit": 501}, ErrorCode.INVALID_PAGINATION, "$.limit"),
            ({"status": "finished"}, ErrorCode.INVALID_FILTER, "$.status"),
            ({"status": ["error", "nope"]}, ErrorCode.INVALID_FILTER, "$.status[1]"),
            ({"created_after": datetime(2026, 1, 1)}, ErrorCode.INVALID_FILTER, "$.createdAfter"),
        ]
        for arguments, code, path in bad:
            with pytest.raises(InvalidRequestError) as caught:
                async with store.unit(actor_a, read_only=True) as unit:
                    await unit.executions.list(**arguments)
            assert (caught.value.code, caught.value.path) == (code, path), arguments
        async with store.unit(actor_a, read_only=True) as unit:
            assert (await unit.executions.list(limit=500)).items == []

    async def test_execution_cursor_is_signed_and_bound_to_tenant_and_filter(
        self, store: Store, actor_a: Actor, actor_b: Actor
    ) -> None:
        workflow_id = await new_workflow(store, actor_a)
        await insert_executions(
            store,
            actor_a,
            [
                {"workflow_id": workflow_id, "status": "error", "created_at": T0 + timedelta(seconds=i)}
                for i in range(4)
            ],
        )
        filters: dict[str, Any] = {
            "workflow_id": workflow_id,
            "status": ["error", "success"],
            "created_after": T0 - timedelta(days=1),
        }
        async with store.unit(actor_a, read_only=True) as unit:
            page = await unit.executions.list(limit=1, **filters)
            # The same filter written another way (status order and repeats, time zone) continues the list.
            same = {
                **filters,
                "status": ["success", "error", "error"],
                "created_after": (T0 - timedelta(days=1)).astimezone(timezone(timedelta(hours=5))),
            }
            rest = await unit.executions.list(cursor=page.next_cursor, **same)
        assert page.next_cursor is not None and len(rest.items) == 3
        cursor = page.next_cursor
        body, mac = cursor.split(".")
        created, ident = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        moved = base64.urlsafe_b64encode(json.dumps([created, "~"]).encode()).decode().rstrip("=")
        other_key = Store(store.database, store.cache, Keyring.generate(), store.registry)
        async with other_key.unit(actor_a, read_only=True) as unit:
            foreign_signature = (await unit.executions.list(limit=1, **filters)).next_cursor
        refused: list[tuple[Actor, dict[str, Any]]] = [
            (actor_a, {**filters, "cursor": f"{moved}.{mac}"}),  # another position, the old signature
            (actor_a, {**filters, "cursor": cursor[:-1] + ("B" if cursor.endswith("A") else "A")}),
            (actor_a, {**filters, "cursor": cursor + "A"}),
            (actor_a, {**filters, "cursor": body}),
            (actor_a, {**filters, "cursor": unsigned_cursor(created_at=T0, ident=ident)}),
            (actor_a, {**filters, "cursor": foreign_signature}),  # another deployment's key
            (actor_b, {**filters, "cursor": cursor}),  # another tenant
            (actor_a, {"cursor": cursor}),  # the list without its filter
            (actor_a, {**filters, "status": "error", "cursor": cursor}),
            (actor_a, {**filters, "workflow_id": str(uuid.uuid4()), "cursor": cursor}),
            (actor_a, {**filters, "created_after": T0, "cursor": cursor}),
            (actor_a, {**filters, "created_before": T0 + timedelta(days=1), "cursor": cursor}),
        ]
        for actor, arguments in refused:
            with pytest.raises(InvalidRequestError) as caught:
                async with store.unit(actor, read_only=True) as unit:
                    await unit.executions.list(**arguments)
            assert (caught.value.code, caught.value.path) == (ErrorCode.INVALID_CURSOR, "$.cursor"), arguments

    # ----- tenancy --------------------------------------------------------------------------------
    async def test_execution_list_stays_in_tenant(self, store: Store, actor_a: Actor, actor_b: Actor) -> None:
        workflow_id = await new_workflow(store, actor_a)
        await insert_executions(
            store,
            actor_a,
            [{"workflow_id": workflow_id, "created_at": T0 + timedelta(seconds=i)} for i in range(3)],
        )
        async with store.unit(actor_a, read_only=True) as unit:
            page = await unit.executions.list(limit=1)
        async with store.unit(actor_b, read_only=True) as unit:
            assert (await unit.executions.list()).items == []
            with pytest.raises(InvalidRequestError) as borrowed:  # A's cursor serves A only
                await unit.executions.list(cursor=page.next_cursor)
            assert borrowed.value.code is ErrorCode.INVALID_CURSOR
            assert (await unit.executions.list(workflow_id=workflow_id)).items == []

    async def test_execution_cross_tenant_every_method_is_refused_and_audited(
        self, store: Store, actor_a: Actor, actor_b: Actor
    ) -> None:
        workflow_id = await new_workflow(store, actor_a)
        async with store.unit(actor_a) as unit:
            created = await unit.executions.create(workflow_id)
        ident = created.id
        calls = _every_call(ident)
        reads, writes = calls[:1], calls[1:]
        for call in reads:
            assert (await raises(store, actor_b, call, NotFoundError)).code == ErrorCode.EXECUTION_NOT_FOUND
        for call in writes:
            error = await raises(store, actor_b, call, AccessDeniedError)
            assert error.code == ErrorCode.CROSS_TENANT_ACCESS_DENIED
        async with store.unit(actor_a, read_only=True) as unit:
            untouched = (await unit.executions.get(ident)).to_dict()
        assert (untouched["status"], untouched["state"], untouched["logs"]) == ("queued", {}, [])
        assert untouched["abortRequested"] is False
        expected = [
            "execution.get",
            "execution.start",
            "execution.append_node",
            "execution.append_logs",
            "execution.finish",
            "execution.abort",
        ]
        actor_side = await audit_entries(store, actor_b.tenant_id, ident)
        owner_side = [e for e in await audit_entries(store, actor_a.tenant_id, ident) if e.outcome != "ok"]
        assert [e.operation for e in actor_side] == expected[1:]  # a foreign read leaves no trace here
        assert [e.operation for e in owner_side] == expected
        assert {e.outcome for e in actor_side + owner_side} == {"denied"}
        assert {e.error_code for e in actor_side + owner_side} == {"CROSS_TENANT_ACCESS_DENIED"}
        assert {e.user_id for e in actor_side} == {"user-b"} and {e.user_id for e in owner_side} == {None}
        for call in (
            lambda unit: unit.executions.create(workflow_id),
            lambda unit: unit.executions.save_record(
                ExecutionRecord(str(uuid.uuid4()), None, "success", T0), workflow_id=workflow_id
            ),
        ):
            error = await raises(store, actor_b, call, AccessDeniedError)
            assert error.code == ErrorCode.CROSS_TENANT_ACCESS_DENIED
        workflow_side = await audit_entries(store, actor_a.tenant_id, workflow_id)
        assert [(e.operation, e.outcome) for e in workflow_side][-2:] == [("execution.create", "denied")] * 2


def _every_call(ident: str) -> list[Callable[[Unit], Awaitable[Any]]]:
    """Every method that takes an execution id: the read first, then the five writes."""
    return [
        lambda unit: unit.executions.get(ident),
        lambda unit: unit.executions.start(ident),
        lambda unit: unit.executions.append_node(ident, "A", node([{"json": {}}]), run_index=0),
        lambda unit: unit.executions.append_logs(ident, [LogEntry(T0, "info", "x")]),
        lambda unit: unit.executions.finish(ident, status="success"),
        lambda unit: unit.executions.request_abort(ident),
    ]
